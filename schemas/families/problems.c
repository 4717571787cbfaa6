/* The problem list of a load, the arena that owns a loaded file, and the
 * safe rendering of key bytes in messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fam_internal.h"

/* ---------------------------------------------------------------- arena */

struct arena_chunk {
    arena_chunk *next;
    size_t used;
    size_t cap;
    max_align_t data[];
};

#define ARENA_CHUNK (16u * 1024u)

void arena_init(arena *a)
{
    a->head = NULL;
    a->oom = false;
}

void arena_deinit(arena *a)
{
    arena_chunk *c = a->head;
    while (c) {
        arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

void *arena_alloc(arena *a, size_t n)
{
    const size_t align = sizeof(max_align_t);
    n = (n + align - 1) / align * align;
    if (n == 0)
        n = align;
    arena_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        c = malloc(sizeof(*c) + cap);
        if (!c) {
            a->oom = true;
            return NULL;
        }
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* ------------------------------------------------------------- problems */

void fam_problems_init(fam_problems *p)
{
    memset(p, 0, sizeof(*p));
}

void fam_problems_deinit(fam_problems *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i].msg);
    free(p->v);
    free(p->file);
    memset(p, 0, sizeof(*p));
}

void prob_vadd(fam_problems *p, int line, const char *fmt, va_list ap)
{
    if (!p)
        return;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        fam_problem *v = realloc(p->v, cap * sizeof(*v));
        if (!v) {
            p->oom = true;
            return;
        }
        p->v = v;
        p->cap = cap;
    }
    char *msg = strdup(buf);
    if (!msg) {
        p->oom = true;
        return;
    }
    p->v[p->n].line = line;
    p->v[p->n].msg = msg;
    p->n++;
}

void prob_add(fam_problems *p, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    prob_vadd(p, line, fmt, ap);
    va_end(ap);
}

void prob_sort(fam_problems *p)
{
    /* insertion sort: stable, and problems arrive nearly in order */
    for (size_t i = 1; i < p->n; i++) {
        fam_problem x = p->v[i];
        size_t j = i;
        while (j > 0 && p->v[j - 1].line > x.line) {
            p->v[j] = p->v[j - 1];
            j--;
        }
        p->v[j] = x;
    }
}

int fam_problem_format(const fam_problems *p, size_t i, char *buf, size_t len)
{
    const char *file = p->file ? p->file : "<buffer>";
    if (i >= p->n)
        return snprintf(buf, len, "%s", "");
    if (p->v[i].line > 0)
        return snprintf(buf, len, "%s:%d: %s", file, p->v[i].line, p->v[i].msg);
    return snprintf(buf, len, "%s: %s", file, p->v[i].msg);
}

/* ------------------------------------------------------------ rendering */

void families_render_key(const void *data, size_t len, char *buf, size_t buflen)
{
    const uint8_t *s = data;
    size_t o = 0;
    if (buflen == 0)
        return;
    for (size_t i = 0; i < len; i++) {
        char tmp[8];
        size_t n;
        if (s[i] == '\\') {
            memcpy(tmp, "\\\\", 2);
            n = 2;
        } else if (s[i] >= 0x20 && s[i] < 0x7f) {
            tmp[0] = (char)s[i];
            n = 1;
        } else {
            snprintf(tmp, sizeof(tmp), "\\x%02x", s[i]);
            n = 4;
        }
        if (o + n + 4 > buflen) { /* room for "..." and the NUL */
            if (o + 4 <= buflen) {
                memcpy(buf + o, "...", 3);
                o += 3;
            }
            break;
        }
        memcpy(buf + o, tmp, n);
        o += n;
    }
    buf[o] = '\0';
}

uint64_t fam_hash(const uint8_t *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h;
}
