/* uvredis, the hiredis <-> libuv glue shared by producer and worker:
 * connect + commands, AUTH/SELECT failures, a refused TCP connect named as
 * such (not "poll error: bad file descriptor"), connect and command timeouts
 * against a stopped (SIGSTOP) server, a killed server, a burst of pipelined
 * commands and one larger than the socket buffer, a write to a dead server
 * with SIGPIPE at its default (the process survives), and close with
 * commands outstanding; the loop is empty after every close. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "error.h"
#include "ptest.h"
#include "redis_url.h"
#include "uvredis.h"

typedef struct ctx {
    int connect_status; /* 1: not yet */
    int lost_status;    /* 1: not yet */
    int reply_status;   /* 1: not yet */
    long long reply_int;
    char reply_str[64];
    int closed;
} ctx;

static void on_connect(uvredis *r, int status, void *data)
{
    ctx *c = data;
    CHECK(c->connect_status == 1);
    c->connect_status = status;
}

static void on_lost(uvredis *r, int status, void *data)
{
    ctx *c = data;
    CHECK(c->lost_status == 1);
    c->lost_status = status;
}

static void on_reply(uvredis *r, int status, redisReply *reply, void *data)
{
    ctx *c = data;
    c->reply_status = status;
    if (reply && reply->type == REDIS_REPLY_INTEGER)
        c->reply_int = reply->integer;
    if (reply && (reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_STRING))
        snprintf(c->reply_str, sizeof(c->reply_str), "%s", reply->str);
}

/* Counts replies to a burst; each INCR must answer one more than the last. */
typedef struct burst {
    int done;
    int bad;
    long long last;
} burst;

static void on_burst_reply(uvredis *r, int status, redisReply *reply, void *data)
{
    burst *b = data;
    if (status != 0 || !reply || reply->type != REDIS_REPLY_INTEGER || reply->integer != b->last + 1)
        b->bad++;
    else
        b->last = reply->integer;
    b->done++;
}

static void on_closed(uvredis *r, void *data)
{
    ((ctx *)data)->closed = 1;
}

static uvredis *open_conn(uv_loop_t *loop, const char *url, ctx *c, int cmd_timeout)
{
    redis_url u;
    uvredis *r;
    char err[256];
    uvredis_opts o = { .connect_timeout_ms = 2000, .command_timeout_ms = cmd_timeout,
                       .on_connect = on_connect, .on_lost = on_lost, .data = c };
    memset(c, 0, sizeof(*c));
    c->connect_status = c->lost_status = c->reply_status = 1;
    CHECK(redis_url_parse(url, &u, err, sizeof(err)) == 0);
    CHECK_RC(uvredis_new(loop, &u, &o, &r, err, sizeof(err)), 0);
    redis_url_deinit(&u);
    return r;
}

/* Runs the loop until *flag != 1 (bounded). */
static void run_until(uv_loop_t *loop, const int *flag)
{
    for (int i = 0; i < 100000 && *flag == 1; i++)
        uv_run(loop, UV_RUN_ONCE);
    CHECK(*flag != 1);
}

static void close_and_drain(uv_loop_t *loop, uvredis *r, ctx *c)
{
    uvredis_close(r, on_closed, c);
    CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0);
    CHECK(c->closed);
}

int main(void)
{
    rfix *f;
    uv_loop_t loop;
    ctx c;
    uvredis *r;
    char url[512];
    const char *conf[] = { "user alice on >pw ~* &* +@all", NULL };
    rfix_opts fo = { .conf_lines = conf };
    f = ptest_server(&fo);
    CHECK(uv_loop_init(&loop) == 0);

    /* Connect with ACL user and SELECT, run a command, close. */
    snprintf(url, sizeof(url), "%s?db=2&user=alice&password=pw", rfix_url(f));
    r = open_conn(&loop, url, &c, 1000);
    const char *incr[] = { "INCR", "uvredis:n" };
    CHECK_RC(uvredis_command_argv(r, 2, incr, NULL, on_reply, &c), 0); /* queued while connecting */
    run_until(&loop, &c.connect_status);
    CHECK(c.connect_status == 0 && uvredis_is_ready(r));
    run_until(&loop, &c.reply_status);
    CHECK(c.reply_status == 0 && c.reply_int == 1);
    close_and_drain(&loop, r, &c);
    CHECK(c.lost_status == 1); /* an owner's close is not a loss */

    /* Wrong password: on_connect reports INVQ_EAUTH. */
    snprintf(url, sizeof(url), "%s?user=alice&password=nope", rfix_url(f));
    r = open_conn(&loop, url, &c, 1000);
    run_until(&loop, &c.connect_status);
    CHECK(c.connect_status == INVQ_EAUTH && strstr(uvredis_errstr(r), "WRONGPASS"));
    CHECK_RC(uvredis_command_argv(r, 2, incr, NULL, on_reply, &c), INVQ_ECLOSED);
    close_and_drain(&loop, r, &c);

    /* Command timeout: the server stops answering. */
    r = open_conn(&loop, rfix_url(f), &c, 200);
    run_until(&loop, &c.connect_status);
    CHECK(c.connect_status == 0);
    CHECK(rfix_pause(f) == 0);
    CHECK_RC(uvredis_command_argv(r, 2, incr, NULL, on_reply, &c), 0);
    run_until(&loop, &c.lost_status);
    CHECK(c.reply_status == INVQ_ETIMEOUT && c.lost_status == INVQ_ETIMEOUT);
    close_and_drain(&loop, r, &c);

    /* Connect timeout covers SELECT on a server that does not answer. */
    snprintf(url, sizeof(url), "%s?db=1", rfix_url(f));
    r = open_conn(&loop, url, &c, 0);
    run_until(&loop, &c.connect_status);
    CHECK(c.connect_status == INVQ_ETIMEOUT);
    close_and_drain(&loop, r, &c);
    CHECK(rfix_resume(f) == 0);

    /* The server dies: outstanding commands and on_lost report it. */
    r = open_conn(&loop, rfix_url(f), &c, 0);
    run_until(&loop, &c.connect_status);
    CHECK(c.connect_status == 0);
    const char *dbg[] = { "BLPOP", "uvredis:never", "5" };
    CHECK_RC(uvredis_command_argv(r, 3, dbg, NULL, on_reply, &c), 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(rfix_kill(f) == 0);
    run_until(&loop, &c.lost_status);
    CHECK(c.reply_status == INVQ_EIO && c.lost_status == INVQ_EIO);
    close_and_drain(&loop, r, &c);

    /* A burst of pipelined commands, issued between two loop turns, arrives
     * complete and in order; then one command of 8 MiB, more than the socket
     * takes at once, is written in pieces as the socket drains. */
    CHECK(rfix_restart(f) == 0);
    r = open_conn(&loop, rfix_url(f), &c, 5000);
    run_until(&loop, &c.connect_status);
    CHECK(c.connect_status == 0);
    burst b = { 0 };
    const char *bincr[] = { "INCR", "uvredis:burst" };
    for (int i = 0; i < 2000; i++)
        CHECK_RC(uvredis_command_argv(r, 2, bincr, NULL, on_burst_reply, &b), 0);
    for (int i = 0; i < 1000000 && b.done < 2000; i++)
        uv_run(&loop, UV_RUN_ONCE);
    CHECK(b.done == 2000 && b.bad == 0 && b.last == 2000);
    size_t big_len = 8u << 20;
    char *big = malloc(big_len);
    CHECK(big != NULL);
    memset(big, 'x', big_len);
    const char *set[] = { "SET", "uvredis:big", big };
    size_t set_lens[] = { 3, strlen("uvredis:big"), big_len };
    CHECK_RC(uvredis_command_argv(r, 3, set, set_lens, on_reply, &c), 0);
    free(big); /* hiredis copied it */
    run_until(&loop, &c.reply_status);
    CHECK(c.reply_status == 0 && strcmp(c.reply_str, "OK") == 0);
    const char *strlen_cmd[] = { "STRLEN", "uvredis:big" };
    c.reply_status = 1;
    CHECK_RC(uvredis_command_argv(r, 2, strlen_cmd, NULL, on_reply, &c), 0);
    run_until(&loop, &c.reply_status);
    CHECK(c.reply_status == 0 && c.reply_int == (long long)big_len);
    close_and_drain(&loop, r, &c);

    /* Writing to a dead server with SIGPIPE at its default disposition: the
     * command fails, the connection is reported lost, the process lives. */
    struct sigaction dfl = { .sa_handler = SIG_DFL }, old_pipe;
    CHECK(sigaction(SIGPIPE, &dfl, &old_pipe) == 0);
    r = open_conn(&loop, rfix_url(f), &c, 0);
    run_until(&loop, &c.connect_status);
    CHECK(c.connect_status == 0);
    CHECK(rfix_kill(f) == 0);
    for (int i = 0; i < 3 && c.lost_status == 1; i++) {
        c.reply_status = 1;
        if (uvredis_command_argv(r, 2, incr, NULL, on_reply, &c) == 0)
            run_until(&loop, &c.reply_status);
    }
    run_until(&loop, &c.lost_status);
    CHECK(c.lost_status == INVQ_EIO);
    close_and_drain(&loop, r, &c);
    CHECK(sigaction(SIGPIPE, &old_pipe, NULL) == 0);

    /* Nothing listening: a unix socket fails at once, no callback. */
    snprintf(url, sizeof(url), "unix://%s/none.sock", rfix_dir(f));
    redis_url u;
    char err[256];
    uvredis_opts o = { .on_connect = on_connect, .data = &c };
    CHECK(redis_url_parse(url, &u, err, sizeof(err)) == 0);
    CHECK_RC(uvredis_new(&loop, &u, &o, &r, err, sizeof(err)), INVQ_ECONNECT);
    CHECK(r == NULL && strstr(err, "none.sock"));
    redis_url_deinit(&u);

    /* Nothing listening on a TCP port: refused, and said so. */
    {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET };
        socklen_t alen = sizeof a;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        CHECK(bind(s, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(s, (struct sockaddr *)&a, &alen) == 0);
        close(s); /* bound, never listened: connects are refused */
        snprintf(url, sizeof(url), "redis://127.0.0.1:%d", ntohs(a.sin_port));
        r = open_conn(&loop, url, &c, 0);
        run_until(&loop, &c.connect_status);
        printf("# refused: %s\n", uvredis_errstr(r));
        CHECK(c.connect_status == INVQ_ECONNECT && strstr(uvredis_errstr(r), "refused") &&
              !strstr(uvredis_errstr(r), "bad file descriptor"));
        close_and_drain(&loop, r, &c);
    }

    /* Close with commands outstanding: they complete with INVQ_ECLOSED. */
    CHECK(rfix_restart(f) == 0);
    r = open_conn(&loop, rfix_url(f), &c, 0);
    CHECK_RC(uvredis_command_argv(r, 2, incr, NULL, on_reply, &c), 0);
    close_and_drain(&loop, r, &c);
    CHECK(c.reply_status == INVQ_ECLOSED && c.connect_status == 1);

    CHECK(uv_loop_close(&loop) == 0);
    rfix_free(f);
    printf("uvredis ok\n");
    return 0;
}
