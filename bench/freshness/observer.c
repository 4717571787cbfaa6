/* The invalidation observer (see observer.h): a subscriber thread and a
 * ticker thread, each with its own connection. */
#include "observer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "workload.h"

#define TICK_CHANNEL "invq-bench:freshness:tick"
#define TICK_US 500

struct observer {
    redisContext *sub, *pub;
    checker *ck;
    int rows;
    char del_channel[48], incr_channel[48];
    pthread_t sub_th, tick_th;
    atomic_bool stop;
    bool tick_failed, sub_failed;
    long long seen;
    char err[256];
};

int obs_enable(redisContext *c, char *err, size_t errlen)
{
    redisReply *r = redisCommand(c, "CONFIG SET notify-keyspace-events Eg$");
    bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    if (!ok)
        snprintf(err, errlen, "CONFIG SET notify-keyspace-events: %s",
                 r == NULL ? c->errstr : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* The row of "<prefix><id>" exactly, or -1. */
static int row_of(const char *s, size_t len, const char *prefix, int rows)
{
    char buf[48];
    int row, n = 0;
    if (len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    size_t pl = strlen(prefix);
    if (strncmp(buf, prefix, pl) != 0 || sscanf(buf + pl, "%d%n", &row, &n) != 1 || (size_t)n != len - pl)
        return -1;
    return row >= 0 && row < rows ? row : -1;
}

static void *sub_main(void *arg)
{
    observer *o = arg;
    int64_t after = 0; /* the send time of the last tick received: every later message executed after it */
    for (;;) {
        redisReply *r;
        if (redisGetReply(o->sub, (void **)&r) != REDIS_OK) {
            snprintf(o->err, sizeof(o->err), "subscriber: %s", o->sub->errstr);
            o->sub_failed = true;
            return NULL;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[1]->type != REDIS_REPLY_STRING ||
            r->element[2]->type != REDIS_REPLY_STRING) {
            freeReplyObject(r);
            continue;
        }
        const char *ch = r->element[1]->str;
        const char *msg = r->element[2]->str;
        size_t len = r->element[2]->len;
        int row = -1;
        if (strcmp(ch, TICK_CHANNEL) == 0) {
            if (strcmp(msg, "stop") == 0) {
                freeReplyObject(r);
                return NULL;
            }
            after = strtoll(msg, NULL, 10);
        } else if (strcmp(ch, o->del_channel) == 0) {
            row = row_of(msg, len, "item:", o->rows);
        } else if (strcmp(ch, o->incr_channel) == 0) {
            row = row_of(msg, len, "ver:item:", o->rows);
        }
        freeReplyObject(r);
        if (row >= 0) {
            if (ck_invalidated(o->ck, row, after) != 0) {
                snprintf(o->err, sizeof(o->err), "the checker's invalidation log of row %d is full", row);
                o->sub_failed = true;
                return NULL;
            }
            o->seen++;
        }
    }
}

static bool publish(observer *o, const char *payload)
{
    redisReply *r = redisCommand(o->pub, "PUBLISH %s %s", TICK_CHANNEL, payload);
    bool ok = r != NULL && r->type == REDIS_REPLY_INTEGER;
    freeReplyObject(r);
    return ok;
}

static void *tick_main(void *arg)
{
    observer *o = arg;
    char t[32];
    while (!atomic_load(&o->stop)) {
        snprintf(t, sizeof(t), "%lld", (long long)fw_now_ns()); /* taken before the tick is sent */
        if (!publish(o, t)) {
            o->tick_failed = true;
            return NULL;
        }
        fw_sleep_us(TICK_US);
    }
    o->tick_failed = !publish(o, "stop");
    return NULL;
}

static bool subscribe(observer *o, char *err, size_t errlen)
{
    redisReply *r = redisCommand(o->sub, "SUBSCRIBE %s %s %s", TICK_CHANNEL, o->del_channel, o->incr_channel);
    for (int i = 0; i < 3; i++) {
        bool ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 3;
        freeReplyObject(r);
        if (!ok) {
            snprintf(err, errlen, "SUBSCRIBE failed: %s", o->sub->errstr[0] ? o->sub->errstr : "unexpected reply");
            return false;
        }
        r = NULL;
        if (i < 2 && redisGetReply(o->sub, (void **)&r) != REDIS_OK)
            r = NULL;
    }
    return true;
}

int obs_start(const char *socket, int db, int rows, checker *ck, observer **out, char *err, size_t errlen)
{
    observer *o = calloc(1, sizeof(*o));
    *out = NULL;
    if (o == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    o->ck = ck;
    o->rows = rows;
    snprintf(o->del_channel, sizeof(o->del_channel), "__keyevent@%d__:del", db);
    snprintf(o->incr_channel, sizeof(o->incr_channel), "__keyevent@%d__:incrby", db);
    o->sub = redisConnectUnix(socket);
    o->pub = redisConnectUnix(socket);
    if (o->sub == NULL || o->sub->err || o->pub == NULL || o->pub->err) {
        snprintf(err, errlen, "observer: connect %s failed", socket);
    } else if (subscribe(o, err, errlen)) {
        if (pthread_create(&o->sub_th, NULL, sub_main, o) != 0) {
            snprintf(err, errlen, "observer: pthread_create failed");
        } else if (pthread_create(&o->tick_th, NULL, tick_main, o) != 0) {
            snprintf(err, errlen, "observer: pthread_create failed");
            shutdown(o->sub->fd, SHUT_RDWR);
            pthread_join(o->sub_th, NULL);
        } else {
            *out = o;
            return 0;
        }
    }
    redisFree(o->sub);
    redisFree(o->pub);
    free(o);
    return -1;
}

long long obs_stop(observer *o, char *err, size_t errlen)
{
    if (o == NULL)
        return 0;
    atomic_store(&o->stop, true);
    pthread_join(o->tick_th, NULL);
    if (o->tick_failed)
        shutdown(o->sub->fd, SHUT_RDWR); /* no "stop" will come: end the subscriber's read */
    pthread_join(o->sub_th, NULL);
    long long seen = o->seen;
    if (o->tick_failed || o->sub_failed) {
        snprintf(err, errlen, "observer: %s", o->sub_failed ? o->err : "PUBLISH of a tick failed");
        seen = -1;
    }
    redisFree(o->sub);
    redisFree(o->pub);
    free(o);
    return seen;
}
