/* The fault proxy itself: replies pass through unchanged, the next N replies
 * to a named command are answered with errors (in a pipeline, only those), replies are
 * delayed, connections dropped and refused on request. */
#include <stdlib.h>
#include <string.h>

#include "faultproxy.h"
#include "wtest.h"

static redisContext *proxy_connect(const faultproxy *p)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", faultproxy_port(p), tv);
    WT_CHECK(c != NULL && c->err == 0, "connect to proxy: %s", c ? c->errstr : "oom");
    redisSetTimeout(c, tv);
    return c;
}

static redisReply *get_reply(redisContext *c)
{
    void *r = NULL;
    WT_CHECK(redisGetReply(c, &r) == REDIS_OK && r != NULL, "no reply: %s", c->errstr);
    return r;
}

int main(void)
{
    rfix *srv = wt_server(NULL);
    redisContext *direct = wt_connect(srv);
    faultproxy *p = NULL;
    redisContext *c;
    redisReply *r;

    WT_CHECK(faultproxy_new(&p, rfix_socket(srv), NULL, 0) == 0, "faultproxy_new");
    WT_CHECK(faultproxy_port(p) > 0, "no port");
    c = proxy_connect(p);

    /* Pass-through, including a large bulk reply split over many reads. */
    {
        size_t big = 300000;
        char *val = malloc(big);
        WT_CHECK(val != NULL, "malloc");
        memset(val, 'x', big);
        r = redisCommand(c, "SET big %b", val, big);
        WT_CHECK(r && r->type == REDIS_REPLY_STATUS, "SET via proxy");
        freeReplyObject(r);
        r = redisCommand(c, "GET big");
        WT_CHECK(r && r->type == REDIS_REPLY_STRING && r->len == big && memcmp(r->str, val, big) == 0,
                 "GET big via proxy");
        freeReplyObject(r);
        free(val);
    }

    /* The next 2 DELs are answered LOADING without reaching the server; the rest pass. */
    wt_cmd(direct, "MSET a 1 b 1 c 1");
    WT_CHECK(faultproxy_fail_next(p, "del", 2, "LOADING Redis is loading the dataset in memory") == 0,
             "fail_next");
    redisAppendCommand(c, "DEL a");
    redisAppendCommand(c, "INCR n");
    redisAppendCommand(c, "DEL b");
    redisAppendCommand(c, "DEL c");
    r = get_reply(c);
    WT_CHECK(r->type == REDIS_REPLY_ERROR && strncmp(r->str, "LOADING", 7) == 0, "1st DEL not LOADING");
    freeReplyObject(r);
    r = get_reply(c);
    WT_CHECK(r->type == REDIS_REPLY_INTEGER && r->integer == 1, "INCR reply altered");
    freeReplyObject(r);
    r = get_reply(c);
    WT_CHECK(r->type == REDIS_REPLY_ERROR && strncmp(r->str, "LOADING", 7) == 0, "2nd DEL not LOADING");
    freeReplyObject(r);
    r = get_reply(c);
    WT_CHECK(r->type == REDIS_REPLY_INTEGER && r->integer == 1, "3rd DEL should pass through");
    freeReplyObject(r);
    WT_CHECK(faultproxy_injected(p) == 2, "injected=%ld", faultproxy_injected(p));
    WT_CHECK(faultproxy_count(p, "DEL") == 3, "DEL count=%ld", faultproxy_count(p, "DEL"));
    WT_CHECK(wt_exists(direct, "a") == 1 && wt_exists(direct, "b") == 1 && wt_exists(direct, "c") == 0,
             "a faulted DEL reached the server, or the passing one did not");

    /* A permanent rule, then clear. */
    faultproxy_fail_next(p, "PING", -1, "BUSY Redis is busy running a script");
    for (int i = 0; i < 3; i++) {
        r = redisCommand(c, "PING");
        WT_CHECK(r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSY", 4) == 0, "PING not BUSY");
        freeReplyObject(r);
    }
    faultproxy_clear(p);
    r = redisCommand(c, "PING");
    WT_CHECK(r && r->type == REDIS_REPLY_STATUS, "PING after clear");
    freeReplyObject(r);

    /* Delay. */
    faultproxy_set_delay(p, 300);
    {
        uint64_t t0 = wt_mono_ms();
        r = redisCommand(c, "PING");
        WT_CHECK(r && r->type == REDIS_REPLY_STATUS, "delayed PING");
        freeReplyObject(r);
        WT_CHECK(wt_mono_ms() - t0 >= 280, "reply came after %llu ms only",
                 (unsigned long long)(wt_mono_ms() - t0));
    }
    faultproxy_set_delay(p, 0);

    /* Drop all connections. */
    faultproxy_drop_all(p);
    r = redisCommand(c, "PING");
    WT_CHECK(r == NULL, "connection survived drop_all");
    redisFree(c);

    /* Refuse new connections, then accept again. */
    faultproxy_set_refuse(p, true);
    c = redisConnect("127.0.0.1", faultproxy_port(p));
    if (c != NULL && c->err == 0) {
        r = redisCommand(c, "PING");
        WT_CHECK(r == NULL, "refused connection answered");
    }
    redisFree(c);
    faultproxy_set_refuse(p, false);
    c = proxy_connect(p);
    r = redisCommand(c, "PING");
    WT_CHECK(r && r->type == REDIS_REPLY_STATUS, "PING after refuse off");
    freeReplyObject(r);
    redisFree(c);

    faultproxy_free(p);
    redisFree(direct);
    wt_server_free(srv);
    wt_note("ok faultproxy");
    return 0;
}
