/* libinvq: hand cache-invalidation jobs to invq from a writer service, over a
 * synchronous hiredis connection or asynchronously on the caller's libuv loop.
 * This is the only installed header of the library. */
#ifndef INVQ_INVQ_H
#define INVQ_INVQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define INVQ_API __attribute__((visibility("default")))
#else
#define INVQ_API
#endif

/* Contracts that hold for the whole API
 *
 * Thread-safety: there are no hidden globals. A producer (sync or async) and
 * a job belong to one thread at a time: use one producer per thread, or lock
 * around it yourself. Different producers may be used from different threads
 * at once. invq_strerror() is safe from any thread.
 *
 * Ownership: every `const` pointer argument is borrowed for the duration of
 * the call (strings and keys are copied). Objects returned through `**out`
 * belong to the caller and are released with the matching _free/_close.
 * Strings returned by the library are borrowed and stay valid as documented.
 *
 * The library never prints, never exits and never aborts. */

/* Status codes. Every function that can fail returns 0 (or a documented small
 * positive outcome) on success and one of the negative codes on failure. */
enum {
    INVQ_OK = 0,
    INVQ_SENT = 0,            /* Redis confirmed the job(s) are on the queue */
    INVQ_SPOOLED = 1,         /* Redis was unreachable; the job(s) are in the local spool and will be replayed */
    INVQ_EINVAL = -1,         /* invalid argument or option */
    INVQ_ENOMEM = -2,         /* out of memory */
    INVQ_EURL = -3,           /* the Redis URL could not be parsed */
    INVQ_ECONNECT = -4,       /* could not connect to Redis (refused, no such socket, ...) */
    INVQ_ETIMEOUT = -5,       /* connect or command timed out; a timed-out send is NOT confirmed */
    INVQ_EAUTH = -6,          /* AUTH failed or Redis demands authentication */
    INVQ_EREPLY = -7,         /* Redis answered with an error (NOPERM, OOM, READONLY, ...) */
    INVQ_EIO = -8,            /* the connection broke; the job(s) are NOT confirmed (they may or may not be queued) */
    INVQ_ELIMIT = -9,         /* the job exceeds a limit (payload size, keys per job, key length) */
    INVQ_EJOB = -10,          /* the job is invalid (no ops, empty key list, bad field value) */
    INVQ_ESPOOL = -11,        /* spool file I/O failed */
    INVQ_ESPOOLFULL = -12,    /* the spool reached spool_max_bytes; the job was NOT stored */
    INVQ_ECLOSED = -13,       /* the async producer is closing or closed */
    INVQ_EQUEUEFULL = -14,    /* async: too many jobs waiting in memory for a connection */
    INVQ_EPROTO = -15,        /* Redis sent a reply of an unexpected shape */
    INVQ_ETLS = -17,          /* TLS failed: the server's certificate does not verify (the message names
                                 why), the handshake failed, or a TLS file (ssl_*) cannot be used */
};

/* A one-line English explanation of any status code above; never NULL, the
 * string is static. Unknown codes give "unknown invq status". */
INVQ_API const char *invq_strerror(int code);

/* ---------------------------------------------------------------- jobs */

/* An invalidation job under construction: one or more ops, each over a list
 * of keys. Opaque; create with invq_job_new(), release with invq_job_free().
 *
 * Job ids are ULIDs: 26 characters of Crockford base32 encoding a 48-bit
 * millisecond timestamp followed by 80 random bits from getrandom(2). Ids are
 * unique without coordination between processes or hosts, and sort by
 * creation time (to the millisecond). */
typedef struct invq_job invq_job;

/* Creates an empty job with a fresh id and ts = now. Returns NULL when out of
 * memory or when the kernel has no randomness to give. Free with
 * invq_job_free(). */
INVQ_API invq_job *invq_job_new(void);

/* Frees a job; NULL is fine. */
INVQ_API void invq_job_free(invq_job *job);

/* The job's id (26 chars, NUL-terminated), borrowed until the job is freed. */
INVQ_API const char *invq_job_id(const invq_job *job);

/* Adds one op over n keys. keys[i] points to lens[i] bytes (binary safe; the
 * bytes are copied). lens may be NULL: then every key is a NUL-terminated
 * string. Keys that are valid UTF-8 travel as msgpack str, others as bin.
 * Returns 0, INVQ_EINVAL (n == 0, NULL key, bad ttl/jitter) or INVQ_ENOMEM. */
INVQ_API int invq_job_del(invq_job *job, const void *const *keys, const size_t *lens, size_t n);
INVQ_API int invq_job_bump(invq_job *job, const void *const *keys, const size_t *lens, size_t n);
/* ttl_ms > 0. jitter_pct in 0..100 adds up to that percentage of random
 * extra TTL on the worker side; pass -1 for no jitter. */
INVQ_API int invq_job_expire(invq_job *job, const void *const *keys, const size_t *lens, size_t n,
                             uint64_t ttl_ms, int jitter_pct);

/* Optional fields. Strings are copied (at most 256 bytes, no NUL inside). */
INVQ_API int invq_job_set_family(invq_job *job, const char *family);
INVQ_API int invq_job_set_source(invq_job *job, const char *source);
/* Apply no sooner than after_ms after the job's creation. */
INVQ_API int invq_job_set_after_ms(invq_job *job, uint64_t after_ms);
/* Apply now and once more redo_ms later (delayed double delete). */
INVQ_API int invq_job_set_redo_ms(invq_job *job, uint64_t redo_ms);

/* ------------------------------------------------------------- options */

typedef enum invq_fsync_policy {
    INVQ_FSYNC_ALWAYS = 0,   /* fsync after every spool append (default) */
    INVQ_FSYNC_INTERVAL = 1, /* fsync when the last fsync is older than spool_fsync_interval_ms */
    INVQ_FSYNC_NEVER = 2,    /* leave it to the kernel */
} invq_fsync_policy;

/* Producer options. Initialise with invq_options_init(), then set fields.
 * All strings are borrowed for the duration of invq_producer_new() /
 * invq_async_new() only (they are copied). */
typedef struct invq_options {
    const char *url;              /* redis://[[user]:password@]host[:port][/db], rediss://... (TLS),
                                     unix:///path/to/sock[?db=N] or
                                     redis-sentinel://host:port[,host:port...][/db]#MASTER
                                     (forms and parameters: producer/README.md);
                                     default redis://127.0.0.1:6379 */
    const char *ns;               /* key namespace, default "invq" */
    const char *queue;            /* queue name, default "default" */
    int connect_timeout_ms;       /* default 2000 */
    int command_timeout_ms;       /* default 5000 */
    const char *spool_dir;        /* NULL (default): no spool, unreachable Redis is an error */
    uint64_t spool_max_bytes;     /* default 64 MiB */
    invq_fsync_policy spool_fsync;
    int spool_fsync_interval_ms;  /* for INVQ_FSYNC_INTERVAL, default 1000 */
    size_t max_payload;           /* bytes of one encoded job; 0 = spec default 1 MiB */
    size_t max_keys;              /* keys per job; 0 = spec default 10,000 */
    size_t max_key_len;           /* bytes per key; 0 = spec default 1 KiB */
    size_t async_queue_max;       /* async: jobs held in memory while disconnected (no spool); default 10,000 */
    int reconnect_min_ms;         /* async: first reconnect delay, default 100 */
    int reconnect_max_ms;         /* async: reconnect delay cap, default 5000 */
} invq_options;

/* Fills o with the defaults above. */
INVQ_API void invq_options_init(invq_options *o);

/* Checks a job against the limits in o (NULL: spec defaults). On failure
 * returns INVQ_ELIMIT or INVQ_EJOB and writes a message naming the limit or
 * field into err (errlen bytes, may be 0). */
INVQ_API int invq_job_validate(const invq_job *job, const invq_options *o, char *err, size_t errlen);

/* ------------------------------------------------------- sync producer */

/* A synchronous producer: one hiredis connection, reconnected on the next
 * call after it broke, plus an optional spool. */
typedef struct invq_producer invq_producer;

/* Counters of the spool (all zero without a spool). */
typedef struct invq_spool_stats {
    uint64_t pending_jobs;    /* jobs in the spool not yet confirmed by Redis */
    uint64_t pending_bytes;   /* bytes of those records */
    uint64_t replayed_jobs;   /* jobs replayed and confirmed since the producer started */
    uint64_t torn_records;    /* damaged records found (torn tails, bit rot), skipped */
    uint64_t adopted_files;   /* orphaned spool files of dead processes taken over */
    uint64_t skipped_bytes;   /* bytes of those damaged records, never replayed */
} invq_spool_stats;

/* Creates a producer. Validates the options and the URL (INVQ_EURL; the
 * URL's TLS files are loaded once: INVQ_ETLS when one cannot be used), opens
 * the spool (adopting orphaned spool files, see producer/README.md) and
 * tries to connect; an unreachable Redis is NOT an error here (sends will
 * report it; a certificate that does not verify is reported as INVQ_ETLS).
 * Returns 0 and sets *out (free with invq_producer_free()), or a negative
 * code with a message in err (errlen bytes, may be 0) and *out = NULL. */
INVQ_API int invq_producer_new(const invq_options *o, invq_producer **out, char *err, size_t errlen);

/* Closes the connection and the spool (the spool file stays on disk if it
 * still holds jobs; the next producer adopts it). NULL is fine. */
INVQ_API void invq_producer_free(invq_producer *p);

/* Sends one job: INVQ_SENT, INVQ_SPOOLED, or a negative code. */
INVQ_API int invq_send(invq_producer *p, const invq_job *job);

/* Sends n jobs in one pipelined round trip, atomically (MULTI, LPUSH of all
 * jobs, HINCRBY stats enqueued n, EXEC): all are queued or none. Jobs are
 * validated first; one invalid job fails the call before anything is sent.
 * Returns INVQ_SENT, INVQ_SPOOLED (all n spooled) or a negative code. */
INVQ_API int invq_send_many(invq_producer *p, const invq_job *const *jobs, size_t n);

/* Convenience: builds one job that deletes n keys (lens as in
 * invq_job_del()) and sends it. */
INVQ_API int invq_delete_keys(invq_producer *p, const void *const *keys, const size_t *lens, size_t n);

/* Replays the spool (own file and adopted orphans) now. Returns 0 when the
 * spool is empty afterwards, or the negative code that stopped the replay. */
INVQ_API int invq_flush_spool(invq_producer *p);

/* Detailed message of the last failure (or warning, such as a torn spool
 * record), "" when none. Borrowed until the next call on p. */
INVQ_API const char *invq_producer_errstr(const invq_producer *p);

/* Fills st with the spool counters. */
INVQ_API void invq_producer_spool_stats(const invq_producer *p, invq_spool_stats *st);

/* ------------------------------------------------------ async producer */

/* An asynchronous producer on the caller's uv_loop_t (pass it as void * so
 * this header does not need uv.h). It never blocks on the network and never
 * runs or closes the loop. Sends issued in the same loop iteration are
 * pipelined into one MULTI/LPUSH/EXEC round trip. Jobs wait in memory while
 * the first connect is under way; once Redis is known to be down they go to
 * the spool (when configured) or keep waiting in memory (at most
 * async_queue_max) until the connection is back. Jobs in flight when the
 * connection breaks are spooled, or completed with the error. Reconnects
 * back off, each delay drawn from [cap/2, cap] where cap doubles from
 * reconnect_min_ms up to reconnect_max_ms, for every kind of failure
 * (also one right after connecting); a Sentinel URL is rediscovered at
 * each reconnect and followed when Sentinel names another master. Spool
 * appends are plain file writes on the loop thread (fsync per the policy). */
typedef struct invq_async invq_async;

/* status: INVQ_SENT, INVQ_SPOOLED or a negative code. The job was copied at
 * send time; data is the pointer given to invq_async_send(). */
typedef void (*invq_send_cb)(invq_async *a, int status, void *data);
typedef void (*invq_close_cb)(invq_async *a, void *data);

/* Creates an async producer on loop (a uv_loop_t *, borrowed; it must
 * outlive the producer) and starts connecting. Returns 0 and *out, or a
 * negative code with err filled (INVQ_EURL, INVQ_ETLS as for
 * invq_producer_new()). */
INVQ_API int invq_async_new(void *loop, const invq_options *o, invq_async **out, char *err, size_t errlen);

/* Encodes job (copied; the caller may free it at once) and queues it. On 0
 * the callback runs exactly once, later, from the loop, with the definite
 * status (a full spool is reported there, as INVQ_ESPOOLFULL). On a negative
 * return (INVQ_EINVAL, INVQ_ELIMIT, INVQ_EJOB, INVQ_ENOMEM, INVQ_ECLOSED,
 * INVQ_EQUEUEFULL) the callback never runs. */
INVQ_API int invq_async_send(invq_async *a, const invq_job *job, invq_send_cb cb, void *data);

/* Stops accepting sends, waits for the jobs in flight (bounded by the
 * command timeout), spools or fails (INVQ_ECLOSED) what is still waiting,
 * closes every handle, then calls cb (may be NULL) and frees a. After cb the
 * loop holds nothing of the producer. */
INVQ_API void invq_async_close(invq_async *a, invq_close_cb cb, void *data);

/* Detailed message of the last failure, "" when none. Borrowed. */
INVQ_API const char *invq_async_errstr(const invq_async *a);

/* Fills st with the spool counters. */
INVQ_API void invq_async_spool_stats(const invq_async *a, invq_spool_stats *st);

#ifdef __cplusplus
}
#endif

#endif
