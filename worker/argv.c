/* A reusable argv for hiredis's *CommandArgv calls. */
#include "argv.h"
#include "reserve.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void argv_init(argv_buf *a)
{
    memset(a, 0, sizeof *a);
}

void argv_reset(argv_buf *a)
{
    for (size_t i = 0; i < a->nowned; i++)
        free(a->owned[i]);
    a->nowned = 0;
    a->n = 0;
    a->nnums = 0;
}

void argv_deinit(argv_buf *a)
{
    argv_reset(a);
    free(a->argv);
    free(a->lens);
    free(a->num_of);
    free(a->owned);
    free(a->nums);
    memset(a, 0, sizeof *a);
}

static int grow(argv_buf *a)
{
    size_t n = a->cap != 0 ? a->cap * 2 : 64;
    const char **argv = realloc(a->argv, n * sizeof *argv);
    if (argv == NULL)
        return -ENOMEM;
    a->argv = argv;
    size_t *lens = realloc(a->lens, n * sizeof *lens);
    if (lens == NULL)
        return -ENOMEM;
    a->lens = lens;
    size_t *num_of = realloc(a->num_of, n * sizeof *num_of);
    if (num_of == NULL)
        return -ENOMEM;
    a->num_of = num_of;
    a->cap = n;
    return 0;
}

int argv_push(argv_buf *a, const void *p, size_t len)
{
    if (a->n == a->cap && grow(a) < 0)
        return -ENOMEM;
    a->argv[a->n] = p;
    a->lens[a->n] = len;
    a->num_of[a->n] = 0;
    return (int)a->n++;
}

int argv_push_str(argv_buf *a, const char *s)
{
    return argv_push(a, s, strlen(s));
}

int argv_push_owned(argv_buf *a, void *p, size_t len)
{
    if (array_reserve((void **)&a->owned, &a->cap_owned, a->nowned + 1, sizeof *a->owned, 16) < 0) {
        free(p);
        return -ENOMEM;
    }
    a->owned[a->nowned++] = p;
    return argv_push(a, p, len);
}

int argv_push_u64(argv_buf *a, uint64_t v)
{
    if (array_reserve((void **)&a->nums, &a->cap_nums, a->nnums + 1, sizeof *a->nums, 32) < 0)
        return -ENOMEM;
    int idx = argv_push(a, NULL, 0);
    if (idx < 0)
        return idx;
    a->num_of[idx] = ++a->nnums;
    argv_set_u64(a, idx, v);
    return idx;
}

void argv_set_u64(argv_buf *a, int index, uint64_t v)
{
    size_t k = a->num_of[index] - 1;
    int len = snprintf(a->nums[k], sizeof a->nums[k], "%" PRIu64, v);
    a->lens[index] = (size_t)len;
}

void argv_finalize(argv_buf *a)
{
    for (size_t i = 0; i < a->n; i++) {
        if (a->num_of[i] != 0)
            a->argv[i] = a->nums[a->num_of[i] - 1];
    }
}
