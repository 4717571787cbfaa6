/* The cache target over one Redis connection: coalesced entries become
 * chunked DEL/UNLINK, INCR and PEXPIRE ... LT commands (EXISTS for a
 * shadow-mode family's keys, nothing for an off one), pipelined within a
 * window of keys in flight; every reply is read and its
 * result given to the entries it concerned. */
#include "cache_target.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache_cluster.h"
#include "errclass.h"
#include "reserve.h"

void cache_target_init(cache_target *t, rlink *conn, bool use_unlink)
{
    memset(t, 0, sizeof *t);
    t->conn = conn;
    t->unlink = use_unlink;
    t->window = CACHE_WINDOW_KEYS;
    argv_init(&t->argv);
}

void cache_target_set_wait(cache_target *t, unsigned replicas, uint64_t timeout_ms)
{
    t->wait_replicas = replicas;
    t->wait_timeout_ms = timeout_ms;
}

static void free_msgs(cache_target *t)
{
    for (size_t i = 0; i < t->nmsgs; i++)
        free(t->msgs[i]);
    t->nmsgs = 0;
}

void cache_target_deinit(cache_target *t)
{
    cache_cluster_free(t->cluster);
    free_msgs(t);
    free(t->msgs);
    free(t->results);
    free(t->cmds);
    free(t->idx);
    argv_deinit(&t->argv);
    memset(t, 0, sizeof *t);
}

const char *cache_target_keep_msg(cache_target *t, const char *s, size_t len)
{
    if (array_reserve((void **)&t->msgs, &t->cap_msgs, t->nmsgs + 1, sizeof *t->msgs, 256) < 0)
        return "(out of memory)";
    char *m = strndup(s, len);
    if (m == NULL)
        return "(out of memory)";
    t->msgs[t->nmsgs++] = m;
    return m;
}

static void set_results(cache_target *t, const cache_cmd *c, cache_status st, const char *code, const char *msg)
{
    for (uint32_t i = 0; i < c->count; i++)
        t->results[t->idx[c->first + i]] = (cache_result){ st, code, msg, false };
}

static void finish_one(cache_target *t)
{
    if (--t->outstanding == 0)
        t->cb(t, t->lost ? CACHE_LOST : t->wait_short ? CACHE_WAIT_SHORT : 0, t->data);
}

/* The batch's outcome is unknown because of what this node said. */
static void lose(cache_target *t, const char *what, const char *msg, size_t len)
{
    t->lost = true;
    if (t->lost_why[0] == '\0')
        snprintf(t->lost_why, sizeof t->lost_why, "%s: %.*s", what, (int)(len > 200 ? 200 : len), msg);
}

static const char *cmd_name(const cache_target *t, const cache_cmd *c)
{
    const cache_entry *e = &t->entries[t->idx[c->first]];
    if (e->action == ENTRY_PROBE)
        return "EXISTS";
    return e->op == JOB_OP_DEL ? (t->unlink ? "UNLINK" : "DEL") : e->op == JOB_OP_BUMP ? "INCR" : "PEXPIRE";
}

static void on_wait_reply(uvredis *r, int status, redisReply *reply, void *data)
{
    cache_cmd *c = data;
    cache_target *t = c->t;
    if (status < 0 || reply == NULL)
        t->lost = true;
    else if (reply->type == REDIS_REPLY_INTEGER)
        t->replicas = reply->integer;
    else if (reply->type == REDIS_REPLY_ERROR)
        lose(t, "WAIT", reply->str, reply->len); /* a replica, or WAIT refused: nothing is confirmed */
    else
        lose(t, "WAIT", "unexpected reply type", strlen("unexpected reply type"));
    if (!t->lost && t->replicas < (long long)t->wait_replicas)
        t->wait_short = true;
    finish_one(t);
}

static void send_window(cache_target *t);

static void on_reply(uvredis *r, int status, redisReply *reply, void *data)
{
    cache_cmd *c = data;
    cache_target *t = c->t;
    t->window_keys -= c->count;
    if (status < 0 || reply == NULL) {
        t->lost = true;
    } else if (reply->type == REDIS_REPLY_ERROR) {
        errclass ec = errclass_of(reply->str, reply->len);
        if (ec.reconnect) { /* not a writable master: about the connection, not the job */
            lose(t, cmd_name(t, c), reply->str, reply->len);
            finish_one(t);
            return;
        }
        const char *msg = cache_target_keep_msg(t, reply->str, reply->len);
        set_results(t, c, ec.transient ? CACHE_TRANSIENT : CACHE_PERMANENT, ec.code, msg);
    } else if (reply->type == REDIS_REPLY_INTEGER) {
        set_results(t, c, CACHE_OK, NULL, NULL);
        if (c->count == 1 && t->entries[t->idx[c->first]].action == ENTRY_PROBE)
            t->results[t->idx[c->first]].hit = reply->integer > 0;
    } else {
        set_results(t, c, CACHE_PERMANENT, "bad_reply", "unexpected reply type from the cache");
    }
    if (!t->lost)
        send_window(t); /* this reply's count is still held */
    finish_one(t);
}

static bool is_del(const cache_entry *e)
{
    return e->op == JOB_OP_DEL && e->action == ENTRY_APPLY;
}

/* Groups entries into commands: DEL chunks first, then one command per
 * other entry (INCR, PEXPIRE, EXISTS) in entry order; counted-only entries
 * get none. */
static int plan_commands(cache_target *t)
{
    size_t n = t->nentries;
    size_t ndel = 0, ncount = 0;
    for (size_t i = 0; i < n; i++) {
        ndel += is_del(&t->entries[i]);
        ncount += t->entries[i].action == ENTRY_COUNT;
    }
    size_t ncmds = (ndel + CACHE_DEL_CHUNK - 1) / CACHE_DEL_CHUNK + (n - ndel - ncount);
    if (array_reserve((void **)&t->cmds, &t->cap_cmds, ncmds, sizeof *t->cmds, 256) < 0 ||
        array_reserve((void **)&t->idx, &t->cap_idx, n, sizeof *t->idx, 256) < 0 ||
        array_reserve((void **)&t->results, &t->cap_results, n, sizeof *t->results, 256) < 0)
        return -ENOMEM;
    size_t k = 0;
    t->ncmds = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_del(&t->entries[i]))
            continue;
        if (t->ncmds == 0 || t->cmds[t->ncmds - 1].count == CACHE_DEL_CHUNK)
            t->cmds[t->ncmds++] = (cache_cmd){ t, (uint32_t)k, 0 };
        t->idx[k++] = (uint32_t)i;
        t->cmds[t->ncmds - 1].count++;
    }
    for (size_t i = 0; i < n; i++) {
        if (is_del(&t->entries[i]) || t->entries[i].action == ENTRY_COUNT)
            continue;
        t->cmds[t->ncmds++] = (cache_cmd){ t, (uint32_t)k, 1 };
        t->idx[k++] = (uint32_t)i;
    }
    return 0;
}

/* Whether the batch sent a command that changes the cache (not only EXISTS). */
static bool writes(const cache_target *t)
{
    for (size_t i = 0; i < t->ncmds; i++)
        if (t->entries[t->idx[t->cmds[i].first]].action == ENTRY_APPLY)
            return true;
    return false;
}

int cache_target_build_argv(cache_target *t, const cache_cmd *c)
{
    argv_reset(&t->argv);
    const cache_entry *e = &t->entries[t->idx[c->first]];
    int rc = 0;
    if (e->action == ENTRY_PROBE) {
        if ((rc = argv_push_str(&t->argv, "EXISTS")) >= 0)
            rc = argv_push(&t->argv, e->key, e->len);
        argv_finalize(&t->argv);
        return rc < 0 ? rc : 0;
    }
    switch (e->op) {
    case JOB_OP_DEL:
        rc = argv_push_str(&t->argv, t->unlink ? "UNLINK" : "DEL");
        for (uint32_t i = 0; i < c->count && rc >= 0; i++) {
            const cache_entry *d = &t->entries[t->idx[c->first + i]];
            rc = argv_push(&t->argv, d->key, d->len);
        }
        break;
    case JOB_OP_BUMP:
        if ((rc = argv_push_str(&t->argv, "INCR")) >= 0)
            rc = argv_push(&t->argv, e->key, e->len);
        break;
    case JOB_OP_EXPIRE:
        if ((rc = argv_push_str(&t->argv, "PEXPIRE")) >= 0 && (rc = argv_push(&t->argv, e->key, e->len)) >= 0 &&
            (rc = argv_push_u64(&t->argv, e->ttl_ms)) >= 0)
            rc = argv_push_str(&t->argv, "LT");
        break;
    }
    argv_finalize(&t->argv);
    return rc < 0 ? rc : 0;
}

int cache_target_apply(cache_target *t, const cache_entry *entries, size_t n, cache_done_cb cb, void *data)
{
    free_msgs(t);
    t->entries = entries;
    t->nentries = n;
    t->cb = cb;
    t->data = data;
    t->lost = false;
    t->lost_why[0] = '\0';
    t->wait_short = false;
    t->replicas = -1;
    t->outstanding = 0;
    if (!t->conn->up)
        return CACHE_LOST;
    if (t->cluster != NULL)
        return cache_cluster_apply(t->cluster, t);
    int rc = plan_commands(t);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        t->results[i] = entries[i].action == ENTRY_COUNT ? (cache_result){ CACHE_OK, NULL, NULL, false }
                                                         : (cache_result){ CACHE_TRANSIENT, "lost", "no reply", false };
    t->next_cmd = 0;
    t->window_keys = 0;
    /* hold one count while sending so a synchronous failure cannot finish early */
    t->outstanding = 1;
    t->wait_sent = false;
    send_window(t);
    finish_one(t);
    return 0;
}

/* Sends the next commands while the window has room (always at least one
 * when nothing is in flight). A send that fails, or out of memory, marks
 * the apply lost: what was sent is waited for, the rest stays unsent and
 * the whole batch is applied again. The caller holds a count. */
static void send_window(cache_target *t)
{
    while (t->next_cmd < t->ncmds) {
        cache_cmd *c = &t->cmds[t->next_cmd];
        if (t->window_keys > 0 && t->window_keys + c->count > t->window)
            return;
        if (cache_target_build_argv(t, c) < 0 ||
            rlink_command(t->conn, (int)t->argv.n, t->argv.argv, t->argv.lens, on_reply, c) < 0) {
            t->lost = true;
            return;
        }
        t->next_cmd++;
        t->window_keys += c->count;
        t->outstanding++;
    }
    if (!t->lost && !t->wait_sent && t->wait_replicas > 0 && writes(t)) {
        /* after the batch's last command, on the same connection: WAIT
         * waits for this client's writes */
        char nrep[24], ms[24];
        snprintf(nrep, sizeof nrep, "%u", t->wait_replicas);
        snprintf(ms, sizeof ms, "%llu", (unsigned long long)t->wait_timeout_ms);
        const char *argv[] = { "WAIT", nrep, ms };
        size_t lens[] = { 4, strlen(nrep), strlen(ms) };
        t->wait_cmd = (cache_cmd){ t, 0, 0 };
        t->wait_sent = true;
        if (rlink_command(t->conn, 3, argv, lens, on_wait_reply, &t->wait_cmd) < 0)
            t->lost = true;
        else
            t->outstanding++;
    }
}

void cache_target_close(cache_target *t, void (*cb)(void *data), void *data)
{
    if (t->cluster != NULL)
        cache_cluster_close(t->cluster, cb, data);
    else
        cb(data);
}
