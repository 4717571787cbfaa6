/* A reusable argv (pointer + length per argument) for building one Redis
 * command: arguments are borrowed, owned (freed on reset) or numbers kept in
 * an internal arena. */
#ifndef INVQ_WORKER_ARGV_H
#define INVQ_WORKER_ARGV_H

#include <stddef.h>
#include <stdint.h>

typedef struct argv_buf {
    const char **argv;
    size_t *lens;
    size_t n, cap;
    void **owned; /* malloc'd arguments freed by argv_reset */
    size_t nowned, cap_owned;
    char (*nums)[24]; /* arena for numbers; argv entries point here once finalized */
    size_t *num_of;   /* per argument: arena index + 1, 0 for none */
    size_t nnums, cap_nums;
} argv_buf;

void argv_init(argv_buf *a);
void argv_deinit(argv_buf *a);
/* Frees owned arguments and empties it, keeping the buffers. */
void argv_reset(argv_buf *a);

/* Each returns the argument's index (>= 0) or -ENOMEM. */
int argv_push(argv_buf *a, const void *p, size_t len);       /* borrowed */
int argv_push_str(argv_buf *a, const char *s);               /* borrowed */
int argv_push_owned(argv_buf *a, void *p, size_t len);       /* takes p (freed even on failure) */
int argv_push_u64(argv_buf *a, uint64_t v);
/* Replaces a number pushed earlier with argv_push_u64. */
void argv_set_u64(argv_buf *a, int index, uint64_t v);

/* Points the number arguments into the arena; call before handing
 * a->argv / a->lens to hiredis. */
void argv_finalize(argv_buf *a);

#endif
