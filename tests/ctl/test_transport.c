/* invqctl over TLS and Sentinel: `stats` and `enqueue` (libinvq's sync
 * producer) work on rediss:// with the CA and on redis-sentinel:// (the job
 * lands on the master); a certificate that does not verify exits 69 naming
 * the reason; a server that wants a client certificate without one exits
 * 69 naming ssl_certfile; a CA file that is not there exits 64; an unknown
 * Sentinel master name exits 69 naming it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "sentinel_fixture.h"
#include "tls_certs.h"
#include "ctltest.h"
#include "wtest.h"

int main(void)
{
    rfix_certs *certs;
    char url[2048], out[8192], key[128];
    int rc = rfix_certs_make(&certs);
    if (rc == 77)
        return 77;
    WT_CHECK(rc == 0, "certificates");
    (void)ctl_path();
    const char *stats[] = { "stats", NULL };
    const char *enqueue[] = { "enqueue", "del", "ctl:k1", NULL };

    /* TLS */
    rfix_tls t = { .cert = certs->server, .key = certs->server_key, .ca = certs->ca };
    rfix_opts o = { .tls = &t };
    rfix *srv = wt_server(&o);
    redisContext *c = wt_connect(srv);
    const char *dir = rfix_dir(srv);
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s", rfix_port(srv), certs->ca);
    WT_CHECK(ctl_run(dir, url, enqueue, out, sizeof out) == 0, "enqueue over TLS: %s", out);
    WT_CHECK(wt_llen(c, wt_qkey(key, sizeof key, "pending")) == 1, "the job is not on the queue");
    WT_CHECK(ctl_run(dir, url, stats, out, sizeof out) == 0 && strstr(out, "pending"), "stats over TLS: %s", out);
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s", rfix_port(srv), certs->wrong_ca);
    WT_CHECK(ctl_run(dir, url, stats, out, sizeof out) == 69 && strstr(out, "certificate verify failed"),
             "wrong CA: %s", out);
    WT_CHECK(ctl_run(dir, url, enqueue, out, sizeof out) == 69 && strstr(out, "certificate verify failed"),
             "enqueue with the wrong CA: %s", out);
    WT_CHECK(wt_llen(c, key) == 1, "a job went through an unverified connection");
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s/missing.pem", rfix_port(srv), certs->dir);
    WT_CHECK(ctl_run(dir, url, stats, out, sizeof out) == 64 && strstr(out, "ssl_ca_certs"), "missing CA: %s", out);
    redisFree(c);
    wt_server_free(srv);

    t.auth_clients = true;
    srv = wt_server(&o);
    dir = rfix_dir(srv);
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s", rfix_port(srv), certs->ca);
    WT_CHECK(ctl_run(dir, url, stats, out, sizeof out) == 69 && strstr(out, "ssl_certfile"), "no client cert: %s", out);
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?ssl_ca_certs=%s&ssl_certfile=%s&ssl_keyfile=%s", rfix_port(srv),
             certs->ca, certs->client, certs->client_key);
    WT_CHECK(ctl_run(dir, url, stats, out, sizeof out) == 0, "client cert: %s", out);
    wt_server_free(srv);

    /* Sentinel */
    sfix *s;
    rc = sfix_start(&s, NULL);
    if (rc == RFIX_SKIP)
        return 77;
    WT_CHECK(rc == 0, "sentinel set");
    c = rfix_connect(sfix_node(s, 0));
    dir = rfix_dir(sfix_node(s, 0));
    WT_CHECK(ctl_run(dir, sfix_url(s), enqueue, out, sizeof out) == 0, "enqueue through Sentinel: %s", out);
    WT_CHECK(wt_llen(c, key) == 1, "the job is not on the master");
    WT_CHECK(ctl_run(dir, sfix_url(s), stats, out, sizeof out) == 0 && strstr(out, "pending"), "stats: %s", out);
    snprintf(url, sizeof url, "redis-sentinel://%s#nosuchmaster", sfix_hosts(s));
    WT_CHECK(ctl_run(dir, url, stats, out, sizeof out) == 69 && strstr(out, "nosuchmaster"), "unknown master: %s", out);
    redisFree(c);
    sfix_free(s);
    rfix_certs_free(certs);
    printf("invqctl transport ok\n");
    return 0;
}
