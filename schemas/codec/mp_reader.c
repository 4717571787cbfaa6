/* Bounded msgpack reading: header decoding, whole-object skipping and the
 * pre-scan that every decode runs before it trusts any declared length. */
#include "mp_reader.h"

#include "job.h"

static uint64_t load_be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    unsigned i;

    for (i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Reads an n-byte big-endian number that follows the type byte. */
static int take(mp_reader *r, unsigned n, uint64_t *v)
{
    if ((size_t)(r->end - r->p) < n)
        return JOB_ETRUNCATED;
    *v = load_be(r->p, n);
    r->p += n;
    return 0;
}

static int body(mp_reader *r, mp_obj *o, mp_type type, uint64_t len)
{
    o->type = type;
    if (len > (uint64_t)(r->end - r->p))
        return JOB_EBADLENGTH;
    o->ptr = r->p;
    o->len = (uint32_t)len;
    r->p += len;
    return 0;
}

static int container(mp_reader *r, mp_obj *o, mp_type type, uint64_t count)
{
    uint64_t need = type == MP_MAP ? count * 2 : count;

    o->type = type;
    o->u = count;
    if (need > (uint64_t)(r->end - r->p))
        return JOB_EBADLENGTH;
    return 0;
}

static int signed_int(mp_obj *o, uint64_t raw, unsigned bytes)
{
    int64_t v;

    switch (bytes) {
    case 1: v = (int8_t)(uint8_t)raw; break;
    case 2: v = (int16_t)(uint16_t)raw; break;
    case 4: v = (int32_t)(uint32_t)raw; break;
    default: v = (int64_t)raw; break;
    }
    if (v >= 0) {
        o->type = MP_UINT;
        o->u = (uint64_t)v;
    } else {
        o->type = MP_INT;
        o->i = v;
    }
    return 0;
}

static int ext(mp_reader *r, mp_obj *o, uint64_t len)
{
    uint64_t type_byte;
    int rc = take(r, 1, &type_byte);

    if (rc < 0)
        return rc;
    return body(r, o, MP_EXT, len);
}

int mp_read(mp_reader *r, mp_obj *o)
{
    uint64_t v;
    uint8_t b;
    int rc;

    if (r->p >= r->end)
        return JOB_ETRUNCATED;
    b = *r->p++;
    o->u = 0;
    o->i = 0;
    o->ptr = NULL;
    o->len = 0;

    if (b <= 0x7f) {
        o->type = MP_UINT;
        o->u = b;
        return 0;
    }
    if (b >= 0xe0) {
        o->type = MP_INT;
        o->i = (int8_t)b;
        return 0;
    }
    if (b >= 0x80 && b <= 0x8f)
        return container(r, o, MP_MAP, b & 0x0f);
    if (b >= 0x90 && b <= 0x9f)
        return container(r, o, MP_ARRAY, b & 0x0f);
    if (b >= 0xa0 && b <= 0xbf)
        return body(r, o, MP_STR, b & 0x1f);

    switch (b) {
    case 0xc0:
        o->type = MP_NIL;
        return 0;
    case 0xc2:
    case 0xc3:
        o->type = MP_BOOL;
        o->u = b == 0xc3;
        return 0;
    case 0xc4: case 0xc5: case 0xc6: {
        unsigned n = 1u << (b - 0xc4);
        if ((rc = take(r, n, &v)) < 0)
            return rc;
        return body(r, o, MP_BIN, v);
    }
    case 0xc7: case 0xc8: case 0xc9: {
        unsigned n = 1u << (b - 0xc7);
        if ((rc = take(r, n, &v)) < 0)
            return rc;
        return ext(r, o, v);
    }
    case 0xca:
    case 0xcb:
        o->type = MP_FLOAT;
        return take(r, b == 0xca ? 4 : 8, &v);
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
        o->type = MP_UINT;
        return take(r, 1u << (b - 0xcc), &o->u);
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        unsigned n = 1u << (b - 0xd0);
        if ((rc = take(r, n, &v)) < 0)
            return rc;
        return signed_int(o, v, n);
    }
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        return ext(r, o, 1u << (b - 0xd4));
    case 0xd9: case 0xda: case 0xdb: {
        unsigned n = 1u << (b - 0xd9);
        if ((rc = take(r, n, &v)) < 0)
            return rc;
        return body(r, o, MP_STR, v);
    }
    case 0xdc: case 0xdd:
        if ((rc = take(r, b == 0xdc ? 2 : 4, &v)) < 0)
            return rc;
        return container(r, o, MP_ARRAY, v);
    case 0xde: case 0xdf:
        if ((rc = take(r, b == 0xde ? 2 : 4, &v)) < 0)
            return rc;
        return container(r, o, MP_MAP, v);
    default: /* 0xc1: never used */
        return JOB_EMALFORMED;
    }
}

int mp_skip(mp_reader *r, unsigned max_depth)
{
    uint64_t left[JOB_MAX_DEPTH + 1];
    unsigned depth = 0;
    mp_obj o;
    int rc;

    if (max_depth > JOB_MAX_DEPTH)
        max_depth = JOB_MAX_DEPTH;
    left[0] = 1;
    for (;;) {
        while (depth > 0 && left[depth] == 0)
            depth--;
        if (left[depth] == 0)
            return 0;
        left[depth]--;
        if (r->p < r->end) {
            /* Fast path for the one-byte scalars and fixstr, as mp_read() would. */
            uint8_t b = *r->p;
            if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
                r->p++;
                continue;
            }
            if (b >= 0xa0 && b <= 0xbf) {
                if ((size_t)(b & 0x1f) > (size_t)(r->end - r->p - 1))
                    return JOB_EBADLENGTH;
                r->p += 1 + (b & 0x1f);
                continue;
            }
            if (b >= 0x80 && b <= 0x9f) {
                /* fixmap / fixarray: the count check of container() */
                uint64_t count = b & 0x0f, need = b <= 0x8f ? count * 2 : count;
                r->p++;
                if (need > (uint64_t)(r->end - r->p))
                    return JOB_EBADLENGTH;
                if (depth + 1 > max_depth)
                    return JOB_ETOODEEP;
                depth++;
                left[depth] = need;
                continue;
            }
        }
        if ((rc = mp_read(r, &o)) < 0)
            return rc;
        if (o.type == MP_ARRAY || o.type == MP_MAP) {
            if (depth + 1 > max_depth)
                return JOB_ETOODEEP;
            depth++;
            left[depth] = o.type == MP_MAP ? o.u * 2 : o.u;
        }
    }
}

int mp_prescan(const uint8_t *buf, size_t len)
{
    mp_reader r;
    int rc;

    mp_reader_init(&r, buf, len);
    if ((rc = mp_skip(&r, JOB_MAX_DEPTH)) < 0)
        return rc;
    if (r.p != r.end)
        return JOB_ETRAILING;
    return 0;
}
