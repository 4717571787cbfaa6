/* The on-disk format of spool files, versions 1 and 2 (producer/README.md,
 * "File format"): file headers, record frames and their checks. Pure
 * functions over bytes; reading and writing files is spool.c's business. */
#ifndef INVQ_PRODUCER_SPOOL_FORMAT_H
#define INVQ_PRODUCER_SPOOL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_FORMAT_VERSION 2 /* what this library writes; it reads 1..2 */

#define SPOOL_V1_HEADER_LEN 16u    /* "INVQSPL1" | committed u64 */
#define SPOOL_V1_RECORD_HEADER 12u /* magic | len | crc32c(payload) */
#define SPOOL_V1_RECORD_MAGIC 0x31525149u /* bytes 'I' 'Q' 'R' '1' */

#define SPOOL_V2_HEADER_LEN 28u    /* "INVQSPL2" | salt[8] | committed u64 | crc32c(bytes 0..23) */
#define SPOOL_V2_RECORD_HEADER 16u /* magic | len | crc32c(payload) | frame crc */
#define SPOOL_V2_RECORD_MAGIC 0x32525149u /* bytes 'I' 'Q' 'R' '2' */

#define SPOOL_HEADER_MAX 28u
#define SPOOL_RECORD_HEADER_MAX 16u
#define SPOOL_SALT_LEN 8u

/* How one file is laid out and checked. Plain data, copied freely. */
typedef struct spool_format {
    int version;          /* 1 or 2 */
    uint32_t header_len;  /* offset of the first record */
    uint32_t rec_header;  /* bytes in front of each payload */
    uint32_t magic;       /* record magic */
    uint8_t salt[SPOOL_SALT_LEN]; /* v2: random per file, fixed for its life */
    bool keyed;           /* v2 with an intact header: frame crcs are checked */
} spool_format;

/* A fresh version-2 format with the given salt. */
void spool_format_v2(spool_format *f, const uint8_t salt[SPOOL_SALT_LEN]);

/* Outcomes of spool_header_parse(). */
enum spool_header_status {
    SPOOL_HDR_OK = 0,
    SPOOL_HDR_DAMAGED,  /* v2 with a header checksum mismatch: f is filled, keyed is
                           false, *committed is not to be trusted */
    SPOOL_HDR_FOREIGN,  /* not a spool file (magic, or too short) */
    SPOOL_HDR_NEWER,    /* a spool file of a version newer than this library reads */
};

/* Parses the first len bytes of a file (at least SPOOL_HEADER_MAX when the
 * file has them). On SPOOL_HDR_NEWER *version is the file's version. */
enum spool_header_status spool_header_parse(const uint8_t *buf, size_t len, spool_format *f,
                                            uint64_t *committed, int *version);

/* The whole header of a file with this format and committed offset, into
 * buf (f->header_len bytes). */
void spool_header_encode(const spool_format *f, uint64_t committed, uint8_t *buf);

/* The part of the header that changes with the committed offset: *off and
 * *len say where in the file buf (SPOOL_HEADER_MAX bytes) goes. with_crc
 * false (a v2 header that is not trusted) leaves the checksum out, so a
 * later reader still distrusts the header. */
void spool_commit_encode(const spool_format *f, uint64_t committed, bool with_crc, uint8_t *buf,
                         uint64_t *off, size_t *len);

/* Writes the frame header of a record at file offset off into hdr
 * (f->rec_header bytes). */
void spool_frame_encode(const spool_format *f, uint64_t off, const uint8_t *payload, uint32_t len,
                        uint8_t *hdr);

/* Checks a frame header (f->rec_header bytes) found at file offset off:
 * 0 when it may start a record, 1 when it cannot (*why set). *len is the
 * length field; *len_trusted is set, whatever the outcome, when the frame
 * crc proved that field intact (the record's extent is then known even if
 * the record is damaged). A length over max_record is damage. */
int spool_frame_check(const spool_format *f, uint64_t off, const uint8_t *hdr, size_t max_record,
                      uint32_t *len, bool *len_trusted, const char **why);

/* True when the frame crc of a v2 header at off checks with f's salt (used
 * to learn whether the salt of a damaged header can still be trusted). */
bool spool_frame_keyed_ok(const spool_format *f, uint64_t off, const uint8_t *hdr);

/* True when payload (len bytes) matches the payload crc in hdr. */
bool spool_payload_ok(const uint8_t *hdr, const uint8_t *payload, uint32_t len);

#endif
