/* Spool file headers and record frames, versions 1 and 2 (spool_format.h). */
#include "spool_format.h"

#include <string.h>

#include "crc32c.h"

static const char header_magic[7] = { 'I', 'N', 'V', 'Q', 'S', 'P', 'L' };

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void format_v1(spool_format *f)
{
    memset(f, 0, sizeof(*f));
    f->version = 1;
    f->header_len = SPOOL_V1_HEADER_LEN;
    f->rec_header = SPOOL_V1_RECORD_HEADER;
    f->magic = SPOOL_V1_RECORD_MAGIC;
}

void spool_format_v2(spool_format *f, const uint8_t salt[SPOOL_SALT_LEN])
{
    memset(f, 0, sizeof(*f));
    f->version = 2;
    f->header_len = SPOOL_V2_HEADER_LEN;
    f->rec_header = SPOOL_V2_RECORD_HEADER;
    f->magic = SPOOL_V2_RECORD_MAGIC;
    memcpy(f->salt, salt, SPOOL_SALT_LEN);
    f->keyed = true;
}

enum spool_header_status spool_header_parse(const uint8_t *buf, size_t len, spool_format *f,
                                            uint64_t *committed, int *version)
{
    if (len < SPOOL_V1_HEADER_LEN || memcmp(buf, header_magic, sizeof(header_magic)) != 0 ||
        buf[7] < '1' || buf[7] > '9')
        return SPOOL_HDR_FOREIGN;
    *version = buf[7] - '0';
    if (*version == 1) {
        format_v1(f);
        *committed = get64(buf + 8);
        return SPOOL_HDR_OK;
    }
    if (*version > SPOOL_FORMAT_VERSION)
        return SPOOL_HDR_NEWER;
    if (len < SPOOL_V2_HEADER_LEN)
        return SPOOL_HDR_FOREIGN;
    spool_format_v2(f, buf + 8);
    *committed = get64(buf + 16);
    if (crc32c(buf, 24) != get32(buf + 24)) {
        f->keyed = false;
        return SPOOL_HDR_DAMAGED;
    }
    return SPOOL_HDR_OK;
}

void spool_header_encode(const spool_format *f, uint64_t committed, uint8_t *buf)
{
    memcpy(buf, header_magic, sizeof(header_magic));
    buf[7] = (uint8_t)('0' + f->version);
    if (f->version == 1) {
        put64(buf + 8, committed);
        return;
    }
    memcpy(buf + 8, f->salt, SPOOL_SALT_LEN);
    put64(buf + 16, committed);
    put32(buf + 24, crc32c(buf, 24));
}

void spool_commit_encode(const spool_format *f, uint64_t committed, bool with_crc, uint8_t *buf,
                         uint64_t *off, size_t *len)
{
    spool_header_encode(f, committed, buf);
    *off = 8 + (f->version == 1 ? 0 : SPOOL_SALT_LEN);
    *len = f->version == 1 || !with_crc ? 8 : 12;
    memmove(buf, buf + *off, *len);
}

/* crc32c(salt | offset | the first 12 bytes of the frame header). */
static uint32_t frame_crc(const spool_format *f, uint64_t off, const uint8_t *hdr)
{
    uint8_t b[SPOOL_SALT_LEN + 8 + 12];
    memcpy(b, f->salt, SPOOL_SALT_LEN);
    put64(b + SPOOL_SALT_LEN, off);
    memcpy(b + SPOOL_SALT_LEN + 8, hdr, 12);
    return crc32c(b, sizeof(b));
}

void spool_frame_encode(const spool_format *f, uint64_t off, const uint8_t *payload, uint32_t len,
                        uint8_t *hdr)
{
    put32(hdr, f->magic);
    put32(hdr + 4, len);
    put32(hdr + 8, crc32c(payload, len));
    if (f->version >= 2)
        put32(hdr + 12, frame_crc(f, off, hdr));
}

bool spool_frame_keyed_ok(const spool_format *f, uint64_t off, const uint8_t *hdr)
{
    return f->version >= 2 && get32(hdr) == f->magic && frame_crc(f, off, hdr) == get32(hdr + 12);
}

int spool_frame_check(const spool_format *f, uint64_t off, const uint8_t *hdr, size_t max_record,
                      uint32_t *len, bool *len_trusted, const char **why)
{
    *len = get32(hdr + 4);
    *len_trusted = false;
    if (get32(hdr) != f->magic)
        return *why = "bad record magic", 1;
    if (f->keyed) {
        if (frame_crc(f, off, hdr) != get32(hdr + 12))
            return *why = "record header checksum mismatch", 1;
        *len_trusted = true;
    }
    if (*len > max_record)
        return *why = "record length over the payload limit", 1;
    return 0;
}

bool spool_payload_ok(const uint8_t *hdr, const uint8_t *payload, uint32_t len)
{
    return crc32c(payload, len) == get32(hdr + 8);
}
