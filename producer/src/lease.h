/* The lease protocol's values and keys (schemas/lease-v1.md), without any
 * transport: what a stored value means, lease markers, the escape of data
 * that looks like a marker, versioned data keys and TTL jitter. reader.c
 * sends them with the scripts of schemas/lease/. */
#ifndef INVQ_PRODUCER_LEASE_H
#define INVQ_PRODUCER_LEASE_H

#include <stddef.h>
#include <stdint.h>

/* Every marker begins with these 6 bytes: NUL "invq:" (lease-v1 §2). */
#define LEASE_MAGIC_LEN 6
extern const char lease_magic[LEASE_MAGIC_LEN];

/* A lease marker: magic "L1:" and 32 lowercase hex digits (128 random bits). */
#define LEASE_TOKEN_BYTES 16
#define LEASE_MARKER_LEN (LEASE_MAGIC_LEN + 3 + 2 * LEASE_TOKEN_BYTES)

/* The negative entry ("the source has no such row"): magic "N1". */
#define LEASE_NEGATIVE_LEN (LEASE_MAGIC_LEN + 2)
extern const char lease_negative[LEASE_NEGATIVE_LEN];

/* Escaped data: magic "D1:" followed by data that itself begins with the magic. */
#define LEASE_ESCAPE_LEN (LEASE_MAGIC_LEN + 3)
extern const char lease_escape[LEASE_ESCAPE_LEN];

typedef enum lease_kind {
    LEASE_DATA = 0, /* a cached value */
    LEASE_HELD,     /* a lease marker: some reader is loading the value */
    LEASE_NEG,      /* a negative entry */
    LEASE_UNKNOWN,  /* a marker of a kind this version does not know: never overwrite it */
} lease_kind;

/* What the stored value v (n bytes, borrowed) is. For LEASE_DATA, *data and
 * *len give the cached bytes inside v (the escape prefix removed). */
lease_kind lease_classify(const char *v, size_t n, const char **data, size_t *len);

/* Writes the marker for 16 random bytes into out (LEASE_MARKER_LEN bytes,
 * no NUL terminator). */
void lease_marker_make(const uint8_t token[LEASE_TOKEN_BYTES], char out[LEASE_MARKER_LEN]);

/* Whether data (len bytes) must be stored escaped: it begins with the magic. */
int lease_needs_escape(const void *data, size_t len);

/* The data key of a versioned family: key, ":v", version in decimal
 * ("user:42:v17"). The result needs keylen + LEASE_VERSION_SUFFIX_MAX bytes. */
#define LEASE_VERSION_SUFFIX_MAX 22 /* ":v" and up to 20 characters of an int64 */
size_t lease_data_key(const void *key, size_t keylen, int64_t version, char *out);

/* Parses a version key's value: an integer as INCR writes it (optional '-',
 * decimal digits, no leading zeros other than "0", within int64). Returns 0
 * and sets *out, or -1 for anything else. */
int lease_parse_version(const char *s, size_t n, int64_t *out);

/* A TTL with jitter (lease-v1 §5): uniform in [ttl - floor(ttl * pct / 100),
 * ttl], at least 1, drawn from rnd (any 64 random bits). pct is capped at 100. */
uint64_t lease_ttl_jitter(uint64_t ttl_ms, uint32_t pct, uint64_t rnd);

#endif
