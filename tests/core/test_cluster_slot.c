/* Unit test of the cluster slot code: CRC16 against the XMODEM check value,
 * key slots and hash tags as the cluster spec defines them (slots Redis's
 * CLUSTER KEYSLOT gives), MOVED / ASK parsing, and the slot map from
 * CLUSTER SLOTS replies built by hand (good, odd and malformed). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_map.h"
#include "cluster_slot.h"
#include "invq/invq.h"
#include "tcheck.h"

static unsigned slot_of(const char *k)
{
    return cluster_keyslot(k, strlen(k));
}

static void test_slots(void)
{
    CHECK(cluster_crc16("123456789", 9) == 0x31c3);
    /* CLUSTER KEYSLOT answers (Redis 7.0) */
    CHECK(slot_of("foo") == 12182);
    CHECK(slot_of("bar") == 5061);
    CHECK(slot_of("hello") == 866);
    CHECK(slot_of("") == 0);
    /* hash tags: the first {...} with at least one byte inside */
    CHECK(slot_of("{user1000}.following") == slot_of("user1000"));
    CHECK(slot_of("{user1000}.followers") == slot_of("user1000"));
    CHECK(slot_of("foo{}{bar}") == cluster_crc16("foo{}{bar}", 10) % 16384); /* empty first tag: whole key */
    CHECK(slot_of("foo{{bar}}zap") == slot_of("{bar")); /* the tag is "{bar" */
    CHECK(slot_of("foo{bar}{zap}") == slot_of("bar"));
    CHECK(slot_of("{") == cluster_crc16("{", 1) % 16384);
    CHECK(slot_of("a}b{c") == cluster_crc16("a}b{c", 5) % 16384); /* no '}' after the '{' */
    CHECK(slot_of("invq:{default}:pending") == slot_of("default"));
    /* binary keys: a NUL inside is part of the key */
    CHECK(cluster_keyslot("a\0b", 3) == cluster_crc16("a\0b", 3) % 16384);
    CHECK(cluster_keyslot("{a\0}x", 5) == cluster_crc16("a\0", 2) % 16384);
}

static void test_redirects(void)
{
    cluster_redirect r;
    const char *m = "MOVED 3999 127.0.0.1:6381";
    CHECK(cluster_parse_redirect(m, strlen(m), &r) && !r.ask && r.slot == 3999 && strcmp(r.host, "127.0.0.1") == 0 &&
          r.port == 6381);
    m = "ASK 16383 [::1]:7000";
    CHECK(cluster_parse_redirect(m, strlen(m), &r) && r.ask && r.slot == 16383 && strcmp(r.host, "::1") == 0 &&
          r.port == 7000);
    m = "MOVED 12 :7001"; /* a node that does not know its own address */
    CHECK(cluster_parse_redirect(m, strlen(m), &r) && r.host[0] == '\0' && r.port == 7001);
    const char *bad[] = { "MOVED", "MOVED 16384 h:1", "MOVED x h:1", "MOVED 1 h", "MOVED 1 h:0", "MOVED 1 h:70000",
                          "ASK 1 h:1x", "ERR MOVED 1 h:1", "TRYAGAIN Multiple keys request during rehashing of slot",
                          "MOVED 1 [::1:1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!cluster_parse_redirect(bad[i], strlen(bad[i]), &r));
}

/* hand-built replies */
static redisReply *r_int(long long v)
{
    redisReply *r = calloc(1, sizeof *r);
    r->type = REDIS_REPLY_INTEGER;
    r->integer = v;
    return r;
}

static redisReply *r_str(const char *s)
{
    redisReply *r = calloc(1, sizeof *r);
    r->type = REDIS_REPLY_STRING;
    r->str = strdup(s);
    r->len = strlen(s);
    return r;
}

static redisReply *r_arr(size_t n, ...)
{
    redisReply *r = calloc(1, sizeof *r);
    r->type = REDIS_REPLY_ARRAY;
    r->elements = n;
    r->element = calloc(n ? n : 1, sizeof *r->element);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        r->element[i] = va_arg(ap, redisReply *);
    va_end(ap);
    return r;
}

static redisReply *range(long long lo, long long hi, const char *host, long long port)
{
    /* [lo, hi, [host, port, id], [replica host, port, id]] */
    return r_arr(4, r_int(lo), r_int(hi), r_arr(3, r_str(host), r_int(port), r_str("id")),
                r_arr(3, r_str("127.0.0.9"), r_int(9999), r_str("rid")));
}

static void test_map(void)
{
    cluster_map m;
    char err[256];
    cmap_init(&m);
    CHECK(cmap_owner(&m, 0) == CMAP_NONE);
    redisReply *r = r_arr(3, range(0, 5460, "127.0.0.1", 7000), range(5461, 10922, "", 7001),
                         range(10923, 16383, "127.0.0.3", 7002));
    CHECK(cmap_load(&m, r, "127.0.0.2", err, sizeof err) == CLUSTER_SLOTS);
    CHECK(m.nnodes == 3 && m.loads == 1);
    unsigned a = cmap_owner(&m, 0), b = cmap_owner(&m, 5461), c = cmap_owner(&m, 16383);
    CHECK(strcmp(m.nodes[a].host, "127.0.0.1") == 0 && m.nodes[a].port == 7000);
    CHECK(strcmp(m.nodes[b].host, "127.0.0.2") == 0 && m.nodes[b].port == 7001); /* empty host: the node asked */
    CHECK(strcmp(m.nodes[c].host, "127.0.0.3") == 0);
    CHECK(cmap_owner(&m, 5460) == a && cmap_owner(&m, 10922) == b && cmap_owner(&m, 10923) == c);
    freeReplyObject(r);

    /* a MOVED patch, then a reload: indices stay stable, new nodes are appended */
    int d = cmap_add_node(&m, "127.0.0.4", 7003);
    CHECK(d == 3 && cmap_add_node(&m, "127.0.0.4", 7003) == 3);
    cmap_set(&m, 42, (unsigned)d);
    CHECK(cmap_owner(&m, 42) == 3 && cmap_owner(&m, 43) == a);
    r = r_arr(2, range(0, 99, "127.0.0.4", 7003), range(100, 16000, "127.0.0.1", 7000));
    CHECK(cmap_load(&m, r, "x", err, sizeof err) == 16001);
    CHECK(cmap_owner(&m, 42) == 3 && cmap_owner(&m, 100) == a && cmap_owner(&m, 16001) == CMAP_NONE);
    CHECK(m.nnodes == 4);
    freeReplyObject(r);

    /* malformed replies change nothing */
    r = r_arr(1, r_arr(2, r_int(0), r_int(1)));
    CHECK(cmap_load(&m, r, "x", err, sizeof err) == INVQ_EPROTO && strstr(err, "entry 0") != NULL);
    freeReplyObject(r);
    r = r_arr(2, range(0, 10, "h", 1), range(20, 16384, "h", 1));
    CHECK(cmap_load(&m, r, "x", err, sizeof err) == INVQ_EPROTO && strstr(err, "entry 1") != NULL);
    freeReplyObject(r);
    r = r_int(3);
    CHECK(cmap_load(&m, r, "x", err, sizeof err) == INVQ_EPROTO);
    freeReplyObject(r);
    CHECK(cmap_owner(&m, 42) == 3 && m.loads == 2);
    r = r_arr(0);
    CHECK(cmap_load(&m, r, "x", err, sizeof err) == 0 && cmap_owner(&m, 42) == CMAP_NONE);
    freeReplyObject(r);
    cmap_deinit(&m);
}

int main(void)
{
    test_slots();
    test_redirects();
    test_map();
    printf("cluster slot ok\n");
    return 0;
}
