/* Coalescing: a hash set of (op, key) over the batch's entries, with the
 * job → entry edges that map results back. */
#include "coalesce.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reserve.h"

void coalesce_init(coalesce *c)
{
    memset(c, 0, sizeof *c);
}

void coalesce_deinit(coalesce *c)
{
    free(c->entries);
    free(c->slots);
    free(c->edges);
    memset(c, 0, sizeof *c);
}

void coalesce_reset(coalesce *c)
{
    c->nentries = 0;
    c->nedges = 0;
    if (c->slots != NULL)
        memset(c->slots, 0, c->nslots * sizeof *c->slots);
}

static uint64_t hash_key(job_op_kind op, const uint8_t *key, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)op;
    for (size_t i = 0; i < len; i++) {
        h ^= key[i];
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

static int grow_slots(coalesce *c)
{
    size_t n = c->nslots != 0 ? c->nslots * 2 : 1024;
    uint32_t *slots = calloc(n, sizeof *slots);
    if (slots == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < c->nentries; i++) {
        const cache_entry *e = &c->entries[i];
        size_t s = hash_key(e->op, e->key, e->len) & (n - 1);
        while (slots[s] != 0)
            s = (s + 1) & (n - 1);
        slots[s] = (uint32_t)i + 1;
    }
    free(c->slots);
    c->slots = slots;
    c->nslots = n;
    return 0;
}

static int push_edge(coalesce *c, uint32_t entry)
{
    if (array_reserve((void **)&c->edges, &c->cap_edges, c->nedges + 1, sizeof *c->edges, 1024) < 0)
        return -ENOMEM;
    c->edges[c->nedges++] = entry;
    return 0;
}

int coalesce_add(coalesce *c, job_op_kind op, const uint8_t *key, size_t len, uint64_t ttl_ms, int32_t fam,
                 uint8_t action)
{
    /* keep the load factor under one half */
    if ((c->nentries + 1) * 2 > c->nslots && grow_slots(c) < 0)
        return -ENOMEM;
    size_t mask = c->nslots - 1;
    size_t s = hash_key(op, key, len) & mask;
    while (c->slots[s] != 0) {
        uint32_t idx = c->slots[s] - 1;
        cache_entry *e = &c->entries[idx];
        if (e->op == op && e->len == len && memcmp(e->key, key, len) == 0) {
            if (op == JOB_OP_EXPIRE && ttl_ms < e->ttl_ms)
                e->ttl_ms = ttl_ms;
            if (push_edge(c, idx) < 0)
                return -ENOMEM;
            return (int)idx;
        }
        s = (s + 1) & mask;
    }
    if (array_reserve((void **)&c->entries, &c->cap_entries, c->nentries + 1, sizeof *c->entries, 1024) < 0)
        return -ENOMEM;
    uint32_t idx = (uint32_t)c->nentries;
    if (push_edge(c, idx) < 0)
        return -ENOMEM;
    c->entries[idx] = (cache_entry){ op, key, len, ttl_ms, fam, action };
    c->nentries++;
    c->slots[s] = idx + 1;
    return (int)idx;
}
