/* libinvq: hand cache-invalidation jobs to invq from a writer service, over a
 * synchronous hiredis connection or asynchronously on the caller's libuv loop,
 * and read through the cache with the lease protocol (cache-aside reader).
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
 * at once. A reader (invq_reader) is the exception: one reader may be shared
 * by many threads (see its section). invq_strerror() is safe from any thread.
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
    INVQ_EJOB = -10,          /* the job is invalid (no ops, empty key list, bad field value, a key reserved for the queue) */
    INVQ_ESPOOL = -11,        /* spool file I/O failed */
    INVQ_ESPOOLFULL = -12,    /* the spool reached spool_max_bytes; the job was NOT stored */
    INVQ_ECLOSED = -13,       /* the async producer is closing or closed */
    INVQ_EQUEUEFULL = -14,    /* async: too many jobs waiting in memory for a connection */
    INVQ_EPROTO = -15,        /* Redis sent a reply of an unexpected shape */
    INVQ_EFAMILY = -16,       /* a key outside its family (families file), or an op its family does not allow; NOT sent */
    INVQ_ETLS = -17,          /* TLS failed: the server's certificate does not verify (the message names
                                 why), the handshake failed, or a TLS file (ssl_*) cannot be used */
    INVQ_NOTFOUND = 2,        /* reader: the source of truth has no such row (loaded, or a negative cache entry) */
    INVQ_EWAIT = -18,         /* reader: another reader's lease outlived the wait and on_wait_timeout is INVQ_WAIT_FAIL */
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

/* How a producer of a sharded queue (invq_options.queue_shards > 1) picks
 * the shard of a job. Within one shard jobs are taken in the order they
 * were sent; across shards there is no order. */
typedef enum invq_shard_pick {
    INVQ_SHARD_ROUND_ROBIN = 0, /* each send (each invq_send_many call) to the next shard */
    INVQ_SHARD_BY_KEY = 1,      /* by the hash of the job's first key: one key's jobs stay in one
                                   shard, in order */
} invq_shard_pick;

/* Producer options. Initialise with invq_options_init(), then set fields.
 * All strings are borrowed for the duration of invq_producer_new() /
 * invq_async_new() only (they are copied). */
typedef struct invq_options {
    const char *url;              /* redis://[[user]:password@]host[:port][/db], rediss://... (TLS),
                                     unix:///path/to/sock[?db=N] or
                                     redis-sentinel://host:port[,host:port...][/db]#MASTER,
                                     redis-cluster://host:port[,host:port...] (the master of the
                                     queue's slot; forms and parameters: producer/README.md);
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
    const char *families;         /* path of a families file (schemas/families-v1.md), NULL (default): none.
                                     When set, every send checks each job's keys and ops against it first
                                     (invq_families_check_job) and refuses a job with INVQ_EFAMILY. The
                                     file's reserved namespace is `ns`. */
    unsigned queue_shards;        /* shards of the queue, 1..1024 (default 1: the unsharded queue);
                                     S > 1: the jobs go to the queues "<queue>.0" .. "<queue>.S-1",
                                     each its own hash tag (both producers: a connection, or for
                                     invq_async a link and a waiting list, per shard) */
    invq_shard_pick shard_pick;   /* default INVQ_SHARD_ROUND_ROBIN */
} invq_options;

/* Fills o with the defaults above. */
INVQ_API void invq_options_init(invq_options *o);

/* Checks a job against the limits in o (NULL: spec defaults) and refuses a
 * job that names a key reserved for the queue (any key under "<o->ns>:",
 * default "invq:"; the sends refuse it the same way). On failure returns
 * INVQ_ELIMIT or INVQ_EJOB and writes a message naming the limit, field or
 * key into err (errlen bytes, may be 0). */
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
    uint64_t skipped_files;   /* entries named like spool files left alone: not a regular
                                 file, another user's, unreadable, not a spool file, or of a
                                 newer format; nothing of them replayed */
    uint64_t damaged_headers; /* spool files whose header failed its checksum: replayed from
                                 their first record (some jobs may arrive twice) */
    uint64_t unremovable_files; /* replayed files that could not be deleted: emptied instead */
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
 * jobs, HINCRBY stats enqueued n, EXEC): all are queued or none (a sharded
 * queue with INVQ_SHARD_BY_KEY: one round trip per shard the jobs go to,
 * each atomic on its own). Jobs are
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

/* The last problem the spool met, "" when none (or no spool): a damaged
 * record skipped, an entry of the spool directory left alone, a damaged
 * file header, a replayed file that could not be deleted. Unlike
 * invq_producer_errstr() it is not cleared by later calls: it stays until
 * a newer spool problem replaces it, so it can be read at any time; the
 * counters of invq_producer_spool_stats() say how many there were. Owned
 * by p: valid until invq_producer_free(), its text may change during any
 * call on p. */
INVQ_API const char *invq_producer_spool_error(const invq_producer *p);

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

/* As invq_producer_spool_error(), for an async producer: valid until its
 * close callback has run. */
INVQ_API const char *invq_async_spool_error(const invq_async *a);

/* -------------------------------------------------- cache-aside reader */

/* A cache-aside reader: get a key from the cache Redis, and on a miss let
 * exactly one caller fleet-wide load it from the source of truth and fill
 * it, following the lease protocol of schemas/lease-v1.md:
 *
 * - a hit is one GET;
 * - on a miss the reader puts a lease marker into the key itself (SET only
 *   when the key is absent, with the lease lifetime), calls the loader, and
 *   stores the value with a compare-and-set script that succeeds only while
 *   the key still holds that exact marker. A DEL of the key in between (by
 *   invq-worker, or anyone) voids the lease, so a value read before an
 *   invalidation is never stored after it ("fill refused");
 * - readers that find another reader's lease poll the key (GET, with
 *   backoff from wait_poll_min_ms to wait_poll_max_ms; never a busy loop)
 *   for at most wait_timeout_ms, then act per on_wait_timeout;
 * - TTLs get jitter; negative caching remembers "no such row"; versioned
 *   families read the version key and use the data key "<key>:v<N>";
 * - if the cache Redis cannot be reached the loader answers (nothing is
 *   stored) and the failure is counted; after a connection failure the
 *   reader skips the cache for down_retry_ms instead of paying a timeout on
 *   every get. One get blocks on Redis for at most connect_timeout_ms plus
 *   command_timeout_ms per round trip it makes, plus its lease wait.
 *
 * Thread-safety: a reader may be shared by any number of threads. Each get
 * borrows one connection from the reader's pool for its round trips (none
 * while the loader runs) and gives it back; counters are atomic. A reader
 * must not be used across fork(): make a new one in the child.
 *
 * TTL, jitter, negative TTL, lease TTL and version key come, field by field,
 * from the call's invq_read_opts, else from the key's family (with a
 * families file: its class's ttl, jitter, negative_ttl and lease_ttl, and
 * for a versioned family its version key), else from the reader's options. */
typedef struct invq_reader invq_reader;

/* What a waiting reader does when another reader's lease outlives its wait. */
typedef enum invq_wait_policy {
    INVQ_WAIT_LOAD = 0, /* call the loader itself and return its value; store nothing (default) */
    INVQ_WAIT_FAIL = 1, /* return INVQ_EWAIT without calling the loader (protects the source) */
} invq_wait_policy;

/* Reader options. Initialise with invq_reader_options_init(), then set
 * fields. Strings are borrowed for the duration of invq_reader_new() only. */
typedef struct invq_reader_options {
    const char *url;              /* the cache Redis, same forms as invq_options.url (on
                                     redis-cluster:// each command goes to its key's master,
                                     following MOVED and ASK); default redis://127.0.0.1:6379 */
    int connect_timeout_ms;       /* connect + AUTH + SELECT; default 500 (0: none) */
    int command_timeout_ms;       /* one round trip; default 250 (0: none) */
    int down_retry_ms;            /* after a connection failure, answer from the loader without
                                     trying Redis for this long; default 1000 (0: retry every get) */
    size_t max_idle_connections;  /* connections kept open between gets; default 16 */
    /* Defaults of the cache policy (an invq_read_opts field overrides each). */
    uint64_t ttl_ms;              /* TTL of filled values; 0 (default): each get must give one */
    int jitter_pct;               /* 0..100: TTL drawn from [ttl * (1 - pct/100), ttl]; default 10 */
    uint64_t negative_ttl_ms;     /* TTL of "no such row" entries; 0 (default): no negative caching */
    uint64_t lease_ttl_ms;        /* lifetime of a fill lease: longer than a load takes; default 5000 */
    int wait_timeout_ms;          /* longest wait for another reader's fill; default 1000 (0: no wait) */
    int wait_poll_min_ms;         /* first poll delay while waiting, doubling per poll; default 1 */
    int wait_poll_max_ms;         /* poll delay cap; default 16 */
    invq_wait_policy on_wait_timeout; /* default INVQ_WAIT_LOAD */
    const char *families;         /* path of a families file (schemas/families-v1.md), NULL (default): none.
                                     When set, every get looks its key up: the family's class gives TTL,
                                     jitter, negative TTL and lease TTL, a versioned family its version key,
                                     and a key that no family claims (or a version or data key given as
                                     the key) is refused with INVQ_EFAMILY before any Redis traffic. A bad
                                     file fails invq_reader_new() with INVQ_EINVAL and every problem. The
                                     reserved namespace is the default, "invq". */
} invq_reader_options;

/* Fills o with the defaults above. */
INVQ_API void invq_reader_options_init(invq_reader_options *o);

/* Per-get overrides. invq_read_opts_init() sets every field to "inherit". */
typedef struct invq_read_opts {
    uint64_t ttl_ms;              /* 0: inherit */
    int jitter_pct;               /* -1: inherit */
    int64_t negative_ttl_ms;      /* -1: inherit; 0: no negative caching for this get */
    uint64_t lease_ttl_ms;        /* 0: inherit */
    int wait_timeout_ms;          /* -1: inherit */
    int on_wait_timeout;          /* -1: inherit, else an invq_wait_policy */
    const void *version_key;      /* NULL: not versioned. Else the family's version key
                                     ("ver:user:42"): its integer value N (absent: 0) selects the
                                     data key "<key>:v<N>". Borrowed for the call. */
    size_t version_key_len;       /* bytes of version_key; 0: it is NUL-terminated */
    const char *family;           /* NULL: any family. Else the key must belong to this family of the
                                     reader's families file (INVQ_EFAMILY otherwise; INVQ_EINVAL when the
                                     reader has no families file). Borrowed for the call. */
} invq_read_opts;

INVQ_API void invq_read_opts_init(invq_read_opts *o);

/* Where a loader puts the value it read; borrowed by the loader for the
 * duration of its call. */
typedef struct invq_loaded invq_loaded;

/* Copies len bytes of data as the loaded value (binary safe; len 0 is an
 * empty value). Call it at most once per load; a later call replaces the
 * value. Returns 0 or INVQ_ENOMEM. */
INVQ_API int invq_loaded_set(invq_loaded *out, const void *data, size_t len);

/* Reads key (keylen bytes, borrowed; the logical key, also for versioned
 * families) from the source of truth. Returns 0 after invq_loaded_set()
 * (no call: an empty value), INVQ_NOTFOUND when there is no such row, or a
 * negative code (an INVQ_* code or the service's own), which the get
 * returns unchanged: nothing is stored and the lease is given up. `user` is
 * the pointer given to invq_reader_get(). It runs in the calling thread,
 * with no reader lock held and no connection borrowed. */
typedef int (*invq_loader_cb)(void *user, const void *key, size_t keylen, invq_loaded *out);

/* Counters since the reader was made; every get reaching the cache is
 * either a hit or a miss. */
typedef struct invq_reader_stats {
    uint64_t hits;           /* the first read found a value or a negative entry */
    uint64_t negative_hits;  /* ... of which negative entries */
    uint64_t misses;         /* the first read found nothing usable (no key, a lease, an unknown marker) */
    uint64_t loads;          /* loader calls, for any reason */
    uint64_t lease_waits;    /* gets that found another reader's lease and waited */
    uint64_t wait_timeouts;  /* ... whose wait ran out (then on_wait_timeout applied) */
    uint64_t fills;          /* values and negative entries stored */
    uint64_t fills_refused;  /* fills refused because the key was deleted or re-leased since the
                                lease was taken: stale sets prevented */
    uint64_t errors;         /* cache Redis failures: connect, timeout, I/O, error replies */
    uint64_t fallbacks;      /* gets answered by the loader because the cache failed or was down */
    uint64_t load_errors;    /* loader calls that returned a negative code */
} invq_reader_stats;

/* Creates a reader. Validates the options and the URL; it does not connect
 * (the first get does, and an unreachable Redis is never an error for
 * invq_reader_new()). Returns 0 and *out (free with invq_reader_free()), or
 * INVQ_EINVAL / INVQ_EURL / INVQ_ENOMEM with a message in err (errlen bytes,
 * may be 0) and *out = NULL. */
INVQ_API int invq_reader_new(const invq_reader_options *o, invq_reader **out, char *err, size_t errlen);

/* Closes every connection and frees r; no get may be running. NULL is fine. */
INVQ_API void invq_reader_free(invq_reader *r);

/* Get-or-load. Reads key (keylen > 0 bytes, binary safe, borrowed) from the
 * cache; on a miss, loads it through `load` under the lease protocol (see
 * above). `opts` may be NULL (every field inherited). Returns:
 *   0              *val is the value (*vallen bytes, followed by a NUL not
 *                  counted in *vallen), malloc'd: the caller frees it with
 *                  invq_value_free();
 *   INVQ_NOTFOUND  no such row (the loader said so, or a negative entry);
 *   INVQ_EWAIT     another reader's lease outlived the wait under
 *                  INVQ_WAIT_FAIL; the loader was not called;
 *   INVQ_EINVAL    bad arguments, or no TTL from any source (nothing sent);
 *   INVQ_EFAMILY   with a families file: no family claims the key, the key
 *                  is a version key or a versioned data key, or it is not
 *                  in invq_read_opts.family (nothing sent, loader not called);
 *   the loader's own negative code, unchanged.
 * Cache failures are not returned: the loader answers and they are counted
 * (see invq_reader_errstr()). Except on 0, *val is NULL and *vallen 0. */
INVQ_API int invq_reader_get(invq_reader *r, const void *key, size_t keylen, const invq_read_opts *opts,
                             invq_loader_cb load, void *user, void **val, size_t *vallen);

/* Frees a value returned by invq_reader_get(); NULL is fine. */
INVQ_API void invq_value_free(void *val);

/* Fills st with a snapshot of the counters (each read atomically). */
INVQ_API void invq_reader_stats_get(const invq_reader *r, invq_reader_stats *st);

/* Copies the message of the reader's latest cache failure ("" when none)
 * into buf (len bytes, NUL-terminated when len > 0). Thread-safe. */
INVQ_API void invq_reader_errstr(const invq_reader *r, char *buf, size_t len);

/* ------------------------------------------------------------ families */

/* The families file (schemas/families-v1.md): which keys belong to which
 * family, each family's freshness class (TTL, jitter), owner, allowed ops
 * and rollout mode. Load it once; a loaded invq_families is immutable and
 * may be used from any number of threads at once.
 *
 * Every string these functions return (names, patterns, texts) is borrowed
 * from the invq_families and valid until invq_families_free(). Values of
 * placeholders point into the key the caller passed. */
typedef struct invq_families invq_families;

#define INVQ_FAMILY_MAX_PARAMS 16

/* Ops masks (invq_family_info.ops). */
enum { INVQ_FAMILY_DEL = 1, INVQ_FAMILY_BUMP = 2, INVQ_FAMILY_EXPIRE = 4 };
/* Rollout modes (invq_family_info.mode). */
enum { INVQ_FAMILY_OFF = 0, INVQ_FAMILY_SHADOW = 1, INVQ_FAMILY_ENFORCE = 2 };
/* What a key is to its family (invq_key_info.kind). */
enum {
    INVQ_KEY_PLAIN = 0,     /* matches a pattern of the family's `keys` */
    INVQ_KEY_VERSION = 1,   /* the family's version key (only `bump` may touch it) */
    INVQ_KEY_VERSIONED = 2, /* a data key <key>:v<N> of a versioned family */
};

/* One family. Fields are only ever added at the end; pass sizeof(info). */
typedef struct invq_family_info {
    const char *name;
    const char *class_name;
    uint64_t ttl_ms;            /* the class's TTL */
    unsigned jitter_pct;        /* 0..100: fill TTLs are drawn from [ttl * (1 - jitter/100), ttl] */
    uint64_t negative_ttl_ms;   /* 0: no negative caching */
    uint64_t lease_ttl_ms;      /* the reader's fill lease */
    const char *owner;          /* NULL when absent (so are the texts below) */
    unsigned ops;               /* INVQ_FAMILY_DEL | INVQ_FAMILY_BUMP | INVQ_FAMILY_EXPIRE */
    int mode;                   /* INVQ_FAMILY_OFF, _SHADOW or _ENFORCE */
    uint64_t rate_keys;         /* 0: no rate limit; else keys per rate_period_ms */
    uint64_t rate_period_ms;
    size_t npatterns;           /* patterns of `keys`, see invq_families_pattern() */
    const char *version_key;    /* the version key pattern; NULL: not versioned */
    const char *triggers;
    const char *source;
    const char *audit_query;
    const char *description;
    int line;                   /* of the family's [family] header in the file */
} invq_family_info;

/* What invq_families_explain() says about a key. Fields are only ever
 * added at the end; pass sizeof(info). */
typedef struct invq_key_info {
    invq_family_info family;
    int kind;                   /* INVQ_KEY_* */
    int pattern;                /* index of the matching pattern of `keys`; -1 for the version key */
    const char *pattern_text;   /* the matching pattern (or the version key pattern) */
    int64_t version;            /* INVQ_KEY_VERSIONED: N of <key>:v<N> */
    size_t nparams;
    const char *param_names[INVQ_FAMILY_MAX_PARAMS];
    const void *param_values[INVQ_FAMILY_MAX_PARAMS]; /* into the key passed to explain */
    size_t param_lens[INVQ_FAMILY_MAX_PARAMS];
} invq_key_info;

/* Loads a families file; ns is the queue namespace whose keys no family may
 * claim (NULL: "invq"). Returns 0 and *out (free with invq_families_free()),
 * or INVQ_EINVAL (the file has problems or cannot be read; err holds every
 * problem as "FILE:LINE: message", one per line, as many as fit in errlen)
 * or INVQ_ENOMEM, with *out = NULL. */
INVQ_API int invq_families_load(const char *path, const char *ns, invq_families **out, char *err, size_t errlen);

/* NULL is fine. */
INVQ_API void invq_families_free(invq_families *f);

/* Number of families, in file order (index 0 .. count-1). */
INVQ_API size_t invq_families_count(const invq_families *f);

/* Index of the family named name, or INVQ_EFAMILY when there is none. */
INVQ_API int invq_families_find(const invq_families *f, const char *name);

/* Fills info (info_size = sizeof(invq_family_info)) with family `index`.
 * Returns 0, or INVQ_EINVAL for a bad index. */
INVQ_API int invq_families_family(const invq_families *f, size_t index, invq_family_info *info, size_t info_size);

/* Pattern `pattern` of family `family` (as written), or NULL. */
INVQ_API const char *invq_families_pattern(const invq_families *f, size_t family, size_t pattern);

/* Which family claims key (len bytes, binary safe) and why. Returns 1 and
 * fills info (info_size = sizeof(invq_key_info)), 0 when no family claims
 * it, or INVQ_EINVAL. Never allocates. */
INVQ_API int invq_families_explain(const invq_families *f, const void *key, size_t len, invq_key_info *info,
                                   size_t info_size);

/* Builds a key of family `family` from pattern `pattern` (index into its
 * `keys`; -1: its version key) and n named values (names[i] is a
 * placeholder name, values[i] points to lens[i] bytes; lens NULL: values
 * are NUL-terminated strings). Every placeholder needs exactly one value,
 * non-empty and without ':'. Writes the key (no NUL added) into buf when it
 * fits in cap bytes and sets *outlen to its length. Returns 0; INVQ_EFAMILY
 * when there is no such family or pattern; INVQ_EINVAL for a missing,
 * unknown, empty or ':'-holding value, or when buf is too small (then
 * *outlen is the size needed); err (errlen bytes, may be 0) says which. */
INVQ_API int invq_families_build_key(const invq_families *f, const char *family, int pattern,
                                     const char *const *names, const void *const *values, const size_t *lens,
                                     size_t n, void *buf, size_t cap, size_t *outlen, char *err, size_t errlen);

/* The version key of key (a key of a versioned family, say user:42 ->
 * ver:user:42), into buf as above. Returns 0, INVQ_EFAMILY when key has no
 * family, its family is not versioned or key is a version key, or
 * INVQ_EINVAL when buf is too small (*outlen: the size needed). */
INVQ_API int invq_families_version_key(const invq_families *f, const void *key, size_t len, void *buf, size_t cap,
                                       size_t *outlen);

/* The data key "<key>:v<version>" under which a versioned family's value of
 * key is stored (user:42, 17 -> user:42:v17). Returns 0, or INVQ_EINVAL
 * when buf is too small (*outlen: the size needed). */
INVQ_API int invq_families_data_key(const void *key, size_t len, int64_t version, void *buf, size_t cap,
                                    size_t *outlen);

/* Checks a job against the file: a job with a family (invq_job_set_family)
 * must have every key in that family; a job without one must have every key
 * in some family; and every op must be one the key's family allows (a
 * version key takes only bump). Returns 0, or INVQ_EFAMILY with a message
 * naming the key, the op and the family in err (errlen bytes, may be 0). */
INVQ_API int invq_families_check_job(const invq_families *f, const invq_job *job, char *err, size_t errlen);

/* The families file a producer loaded (invq_options.families), or NULL.
 * Borrowed: valid until the producer is freed or closed. */
INVQ_API const invq_families *invq_producer_families(const invq_producer *p);
INVQ_API const invq_families *invq_async_families(const invq_async *a);

#ifdef __cplusplus
}
#endif

#endif
