/* Checking the records of a spool file on disk: which are intact, where
 * damage starts and ends, and where reading resynchronises after it
 * (producer/README.md, "Replay and crashes"). */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "spool_internal.h"

/* What a damaged frame still tells about where its record ends. */
enum extent {
    EXTENT_NONE,      /* nothing: the magic or the length is wrong */
    EXTENT_PLAUSIBLE, /* v1 (or a v2 file whose header is damaged): magic and a
                         length that fits, but nothing proves the length intact */
    EXTENT_TRUSTED,   /* v2: the frame crc proves the length field intact */
};

typedef struct frame_info {
    uint32_t len;
    enum extent extent;
    bool fits; /* the whole record lies inside the file */
    const char *why;
} frame_info;

typedef struct scan_buf {
    uint8_t *buf;
    size_t cap;
} scan_buf;

/* Checks the frame at off (file size `size`): 0 valid, 1 damaged (fi says
 * what is known), -1 I/O or memory error. */
static int check_frame(spool *s, spool_file *f, uint64_t off, uint64_t size, scan_buf *b, frame_info *fi)
{
    uint8_t hdr[SPOOL_RECORD_HEADER_MAX];
    uint32_t rh = f->fmt.rec_header;
    bool trusted;

    fi->extent = EXTENT_NONE;
    fi->fits = false;
    fi->len = 0;
    if (size - off < rh)
        return fi->why = "record header cut short", 1;
    if (spool_pread_all(f->fd, hdr, rh, off) != (ssize_t)rh)
        return -1;
    int rc = spool_frame_check(&f->fmt, off, hdr, s->o.max_record, &fi->len, &trusted, &fi->why);
    fi->fits = size - off - rh >= fi->len;
    if (trusted)
        fi->extent = EXTENT_TRUSTED;
    if (rc != 0)
        return 1;
    if (!fi->fits)
        return fi->why = "record cut short", 1;
    if (!trusted)
        fi->extent = EXTENT_PLAUSIBLE;
    if (fi->len > b->cap) {
        uint8_t *nb = realloc(b->buf, fi->len);
        if (!nb)
            return errno = ENOMEM, -1;
        b->buf = nb, b->cap = fi->len;
    }
    if (spool_pread_all(f->fd, b->buf, fi->len, off + rh) != (ssize_t)fi->len)
        return -1;
    if (!spool_payload_ok(hdr, b->buf, fi->len))
        return fi->why = "record checksum mismatch", 1;
    if (!f->fmt.keyed && spool_frame_keyed_ok(&f->fmt, off, hdr))
        f->salt_seen = true;
    return 0;
}

/* Whether a frame found while scanning past damage is where reading
 * resumes. With frame crcs, one that checks at its offset is enough (the
 * record itself may be damaged too; the main loop then skips exactly it).
 * Without, only a wholly intact record counts. */
static int is_resync_point(spool *s, spool_file *f, uint64_t off, uint64_t size, scan_buf *b)
{
    frame_info fi;
    int rc = check_frame(s, f, off, size, b, &fi);
    if (rc < 0)
        return -1;
    return rc == 0 || (f->fmt.keyed && fi.extent == EXTENT_TRUSTED);
}

/* Scans forward from `from` + 1, byte by byte, for the next resync point;
 * `size` when none follows. */
static int scan_forward(spool *s, spool_file *f, uint64_t from, uint64_t size, scan_buf *b, uint64_t *next)
{
    uint8_t win[4096];
    uint64_t base = from + 1;

    while (size - base >= f->fmt.rec_header) {
        size_t n = size - base > sizeof(win) ? sizeof(win) : (size_t)(size - base);
        if (spool_pread_all(f->fd, win, n, base) != (ssize_t)n)
            return -1;
        for (size_t i = 0; i + 4 <= n; i++) {
            uint32_t m = (uint32_t)win[i] | (uint32_t)win[i + 1] << 8 | (uint32_t)win[i + 2] << 16 |
                         (uint32_t)win[i + 3] << 24;
            int rc;
            if (m != f->fmt.magic)
                continue;
            if ((rc = is_resync_point(s, f, base + i, size, b)) < 0)
                return -1;
            if (rc) {
                *next = base + i;
                return 0;
            }
        }
        base += n - 3; /* a magic may straddle the window's end */
    }
    *next = size;
    return 0;
}

/* Where reading resumes after damage at off. A record whose length field is
 * proven intact is skipped exactly: nothing inside it is ever taken for a
 * frame (a job's keys may hold bytes that look like one). A v1 record whose
 * length merely looks right is skipped the same way when an intact record
 * (or the end of the file) follows it; otherwise the length itself was the
 * damage, and the scan goes byte by byte. */
static int resync(spool *s, spool_file *f, uint64_t off, uint64_t size, const frame_info *fi, scan_buf *b,
                  uint64_t *next)
{
    uint64_t end = off + f->fmt.rec_header + fi->len;
    if (fi->extent == EXTENT_TRUSTED) {
        *next = fi->fits ? end : size;
        return 0;
    }
    if (fi->extent == EXTENT_PLAUSIBLE) {
        frame_info after;
        int rc = end < size ? check_frame(s, f, end, size, b, &after) : 0;
        if (rc < 0)
            return -1;
        if (rc == 0) {
            *next = end;
            return 0;
        }
    }
    return scan_forward(s, f, off, size, b, next);
}

static int add_hole(spool_file *f, uint64_t start, uint64_t end)
{
    uint64_t (*nh)[2] = realloc(f->holes, (f->nholes + 1) * sizeof(*nh));
    if (!nh)
        return errno = ENOMEM, -1;
    f->holes = nh;
    f->holes[f->nholes][0] = start;
    f->holes[f->nholes][1] = end;
    f->nholes++;
    return 0;
}

int spool_scan_file(spool *s, spool_file *f, uint64_t size)
{
    uint64_t off = f->committed;
    scan_buf b = { 0 };
    int rc = 0;

    f->jobs = 0;
    f->nholes = 0;
    while (off < size) {
        frame_info fi;
        uint64_t next;
        int c = check_frame(s, f, off, size, &b, &fi);
        if (c < 0 || (c > 0 && resync(s, f, off, size, &fi, &b, &next) < 0)) {
            rc = -1;
            break;
        }
        if (c == 0) {
            off += f->fmt.rec_header + fi.len;
            f->jobs++;
            continue;
        }
        s->torn++;
        s->skipped_bytes += next - off;
        if (next < size) {
            spool_warn(s, "spool %s: damaged record at offset %llu (%s), %llu bytes skipped, "
                       "replay resumes at offset %llu", f->path, (unsigned long long)off, fi.why,
                       (unsigned long long)(next - off), (unsigned long long)next);
            if (add_hole(f, off, next) < 0) {
                rc = -1;
                break;
            }
            off = next;
            continue;
        }
        spool_warn(s, "spool %s: torn record at offset %llu (%s), %llu bytes skipped", f->path,
                   (unsigned long long)off, fi.why, (unsigned long long)(size - off));
        if (ftruncate(f->fd, (off_t)off) < 0)
            rc = -1;
        break;
    }
    free(b.buf);
    f->end = off;
    if (f->salt_seen)
        f->header_trusted = true;
    return rc;
}
