/* Helpers shared by the cache-aside reader's tests: a fake source of truth
 * whose loader can be paused between reading its row and returning it (the
 * window of the delete/fill race), readers with test settings, gets run on
 * background threads, and reads of the raw cache keys. Checks use WT_CHECK
 * (tests/worker/wtest.h), which also stops servers and workers on failure. */
#ifndef INVQ_TESTS_PRODUCER_RTEST_H
#define INVQ_TESTS_PRODUCER_RTEST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <invq/invq.h>

#include "wtest.h"

/* How long a held load waits for its condition: well under the tests'
 * timeouts, so a lease that gathers no waiters fails the test clearly. */
#define RTEST_HOLD_MS 20000

/* A source of truth holding one row per test (the same for every key). */
typedef struct rsrc {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char row[256];
    bool missing;           /* the loader says INVQ_NOTFOUND */
    int fail_rc;            /* != 0: the loader returns this */
    atomic_int loads;
    bool pause_armed;       /* the next load pauses after reading the row */
    bool paused, released;
    /* When set, every load waits (bounded) until hold(hold_ctx) is true
     * before returning: lets a test gather waiters behind the lease. */
    bool (*hold)(void *ctx);
    void *hold_ctx;
} rsrc;

void rsrc_init(rsrc *s, const char *row);
void rsrc_deinit(rsrc *s);
/* The write: the row changes (the caller then invalidates). */
void rsrc_set(rsrc *s, const char *row);
void rsrc_set_missing(rsrc *s, bool missing);
void rsrc_set_fail(rsrc *s, int rc);
/* The next load reads the row, then blocks until rsrc_release(). */
void rsrc_arm_pause(rsrc *s);
/* Waits (bounded) until a load is paused. */
void rsrc_wait_paused(rsrc *s);
void rsrc_release(rsrc *s);
int rsrc_loads(rsrc *s);

/* The loader: user is an rsrc. */
int rsrc_load(void *user, const void *key, size_t keylen, invq_loaded *out);

/* A reader on url with test settings (wait_timeout 60 s, ttl 60 s, jitter
 * 0), then tweak(o) if not NULL. Fails the test when it cannot be made. */
invq_reader *rtest_reader(const char *url, void (*tweak)(invq_reader_options *o));

/* invq_reader_get of a C-string key with loader rsrc_load(s); requires the
 * status want and returns the value as a malloc'd C string ("" unless 0). */
char *rtest_get(invq_reader *r, const char *key, const invq_read_opts *ro, rsrc *s, int want);

invq_reader_stats rtest_stats(const invq_reader *r);

/* One get on its own thread. */
typedef struct rtest_bg {
    pthread_t th;
    invq_reader *r;
    const char *key;
    const invq_read_opts *ro;
    rsrc *src;
    int rc;
    char *val; /* malloc'd copy of the value, NULL unless rc == 0 */
} rtest_bg;

void rtest_bg_start(rtest_bg *b, invq_reader *r, const char *key, const invq_read_opts *ro, rsrc *s);
void rtest_bg_join(rtest_bg *b);

/* Hands invq one job through libinvq's sync producer on the queue server:
 * delete key, or (bump) increment it as a version key. Must be INVQ_SENT. */
void rtest_send(const rfix *queue, bool bump, const char *key);

/* GET key on c: a malloc'd copy (*len bytes, NUL-terminated) or NULL when absent. */
char *rtest_raw_get(redisContext *c, const char *key, size_t *len);

/* A lease marker as another reader would write it (LEASE_MARKER_LEN bytes). */
void rtest_foreign_marker(char out[64], size_t *len);

#endif
