/* A bounded msgpack reader over a byte buffer: reads one header at a time and
 * checks every declared length and count against the bytes that remain. */
#ifndef INVQ_CODEC_MP_READER_H
#define INVQ_CODEC_MP_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum mp_type {
    MP_NIL,
    MP_BOOL,
    MP_UINT,  /* any integer format holding a value >= 0 */
    MP_INT,   /* any integer format holding a value < 0 */
    MP_FLOAT,
    MP_STR,
    MP_BIN,
    MP_ARRAY,
    MP_MAP,
    MP_EXT,
} mp_type;

typedef struct mp_obj {
    mp_type type;
    uint64_t u;         /* MP_UINT value, MP_BOOL 0/1, MP_ARRAY/MP_MAP count */
    int64_t i;          /* MP_INT value */
    const uint8_t *ptr; /* MP_STR/MP_BIN/MP_EXT body (borrowed from the buffer) */
    uint32_t len;       /* body length */
} mp_obj;

typedef struct mp_reader {
    const uint8_t *p;
    const uint8_t *end;
} mp_reader;

static inline void mp_reader_init(mp_reader *r, const uint8_t *buf, size_t len)
{
    r->p = buf;
    r->end = buf + len;
}

/* Reads one object header (and the body of str/bin/ext/scalars). Arrays and
 * maps leave the reader at their first element. Returns 0, JOB_ETRUNCATED,
 * JOB_EBADLENGTH (a length or count the remaining bytes cannot hold: an
 * array of N needs N bytes, a map 2N) or JOB_EMALFORMED (0xc1). */
int mp_read(mp_reader *r, mp_obj *o);

/* Skips one whole object, failing with JOB_ETOODEEP when containers nest
 * deeper than max_depth (<= JOB_MAX_DEPTH; the object itself is level 1). */
int mp_skip(mp_reader *r, unsigned max_depth);

/* Checks that buf holds exactly one msgpack object nested at most
 * JOB_MAX_DEPTH deep with every length in bounds: 0 or a JOB_E* code. */
int mp_prescan(const uint8_t *buf, size_t len);

/* True when the str/bin body equals the NUL-terminated name. */
static inline bool mp_obj_is(const mp_obj *o, const char *name, size_t name_len)
{
    size_t i;

    if (o->len != name_len)
        return false;
    for (i = 0; i < name_len; i++)
        if (o->ptr[i] != (uint8_t)name[i])
            return false;
    return true;
}

#endif
