/* Unit test of the fault proxy's RESP scanner: whole, partial and pipelined
 * replies and commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp_scan.h"

static int failures;

#define EXPECT(cond)                                                   \
    do {                                                               \
        if (!(cond)) {                                                 \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                \
        }                                                              \
    } while (0)

static void test_replies(void)
{
    const char *simple = "+OK\r\n";
    const char *err = "-LOADING Redis is loading\r\n";
    const char *num = ":42\r\n";
    const char *bulk = "$5\r\nhello\r\n";
    const char *nil = "$-1\r\n";
    const char *arr = "*3\r\n:1\r\n$3\r\nabc\r\n*2\r\n+a\r\n$-1\r\n";
    const char *pipelined = ":1\r\n:2\r\n";
    EXPECT(resp_scan_reply(simple, strlen(simple)) == 5);
    EXPECT(resp_scan_reply(err, strlen(err)) == (long)strlen(err));
    EXPECT(resp_scan_reply(num, strlen(num)) == 5);
    EXPECT(resp_scan_reply(bulk, strlen(bulk)) == (long)strlen(bulk));
    EXPECT(resp_scan_reply(nil, strlen(nil)) == 5);
    EXPECT(resp_scan_reply(arr, strlen(arr)) == (long)strlen(arr));
    EXPECT(resp_scan_reply(pipelined, strlen(pipelined)) == 4);
    /* Every strict prefix is incomplete. */
    for (size_t i = 0; i < strlen(arr); i++) {
        EXPECT(resp_scan_reply(arr, i) == 0);
    }
    for (size_t i = 0; i < strlen(bulk); i++) {
        EXPECT(resp_scan_reply(bulk, i) == 0);
    }
    EXPECT(resp_scan_reply("?what\r\n", 7) == -1);
    EXPECT(resp_scan_reply("$x\r\n", 4) == -1);
}

static void test_commands(void)
{
    char name[32];
    const char *del = "*3\r\n$3\r\ndel\r\n$1\r\na\r\n$1\r\nb\r\n";
    const char *two = "*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n";
    const char *inl = "PING hello\r\n";
    EXPECT(resp_scan_command(del, strlen(del), name, sizeof(name)) == (long)strlen(del));
    EXPECT(strcmp(name, "DEL") == 0);
    EXPECT(resp_scan_command(two, strlen(two), name, sizeof(name)) == 21);
    EXPECT(strcmp(name, "INCR") == 0);
    EXPECT(resp_scan_command(two + 21, strlen(two) - 21, name, sizeof(name)) == 14);
    EXPECT(strcmp(name, "PING") == 0);
    for (size_t i = 0; i < strlen(del); i++) {
        EXPECT(resp_scan_command(del, i, name, sizeof(name)) == 0);
    }
    EXPECT(resp_scan_command(inl, strlen(inl), name, sizeof(name)) == (long)strlen(inl));
    EXPECT(strcmp(name, "PING") == 0);
    EXPECT(resp_scan_command("*1\r\n:1\r\n", 8, name, sizeof(name)) == -1);
    /* A long name is cut, not overflowed. */
    EXPECT(resp_scan_command(del, strlen(del), name, 3) == (long)strlen(del));
    EXPECT(strcmp(name, "DE") == 0);
}

int main(void)
{
    test_replies();
    test_commands();
    if (failures != 0) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("ok resp_scan\n");
    return 0;
}
