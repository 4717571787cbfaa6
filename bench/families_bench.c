/* families_bench: the time to load a families file of many families, and
 * the cost of looking a key up in it, the check made for every key of
 * every job, beside a baseline
 * measured in the same run: one FNV-1a hash of the key and a memchr for its
 * first ':' (the least any hash look-up of a key does). Prints ns per key
 * for both and their ratio.
 * Usage: families_bench [FAMILIES [KEYS [ROUNDS]]]   (defaults 200 1000000 5) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "families.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t baseline(const uint8_t *k, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    const uint8_t *c = memchr(k, ':', len);
    for (size_t i = 0; i < len; i++) {
        h ^= k[i];
        h *= 1099511628211ull;
    }
    return h + (uint64_t)(c ? c - k : 0);
}

int main(int argc, char **argv)
{
    size_t nfam = argc > 1 ? strtoul(argv[1], NULL, 10) : 200;
    size_t nkeys = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    if (nfam == 0 || nkeys == 0 || rounds <= 0)
        return 64;

    /* nfam families of the shapes a shop uses: plain, with a suffix, versioned, hash-tagged */
    size_t cap = 512 * nfam + 64, o = 0;
    char *text = malloc(cap);
    if (!text)
        return 70;
    o += (size_t)snprintf(text + o, cap - o, "[class c]\nttl = 10m\njitter = 10%%\n");
    for (size_t i = 0; i < nfam; i++) {
        o += (size_t)snprintf(text + o, cap - o,
                              "[family f%zu]\nkeys = t%zu:item:{id}, t%zu:item:{id}:meta, {{t%zu:{id}}}:cart\nclass = c\n",
                              i, i, i, i);
        if (i % 2 == 0) /* every other family is versioned */
            o += (size_t)snprintf(text + o, cap - o, "version_key = v%zu:{id}\n", i);
    }

    fam_problems probs;
    families *f = NULL;
    fam_problems_init(&probs);
    double tl = now_s();
    int lrc = families_load_buffer(text, o, "bench.ini", NULL, &f, &probs);
    tl = now_s() - tl;
    if (lrc != 0) {
        char line[512];
        for (size_t i = 0; i < probs.n && i < 5; i++) {
            fam_problem_format(&probs, i, line, sizeof(line));
            fprintf(stderr, "%s\n", line);
        }
        return 70;
    }
    fam_problems_deinit(&probs);
    free(text);

    /* keys: 90 % claimed (every shape, data keys of versioned families), 10 % of no family */
    char **keys = malloc(nkeys * sizeof(*keys));
    size_t *lens = malloc(nkeys * sizeof(*lens));
    if (!keys || !lens)
        return 70;
    uint64_t seed = 88172645463325252ull;
    for (size_t i = 0; i < nkeys; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        size_t fam = (size_t)(seed % nfam), id = (size_t)((seed >> 20) % 1000000);
        char buf[96];
        int n;
        switch ((seed >> 40) % 10) {
        case 0: n = snprintf(buf, sizeof(buf), "session:%zu:%zu", fam, id); break;
        case 1: n = snprintf(buf, sizeof(buf), "t%zu:item:%zu:meta", fam, id); break;
        case 2: n = snprintf(buf, sizeof(buf), "{t%zu:%zu}:cart", fam, id); break;
        case 3: n = snprintf(buf, sizeof(buf), "t%zu:item:%zu:v%zu", fam & ~(size_t)1, id, id % 50); break;
        default: n = snprintf(buf, sizeof(buf), "t%zu:item:%zu", fam, id); break;
        }
        keys[i] = strdup(buf);
        lens[i] = (size_t)n;
        if (!keys[i])
            return 70;
    }

    double best_l = 1e9, best_b = 1e9;
    size_t claimed = 0;
    uint64_t sink = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = now_s();
        size_t c = 0;
        for (size_t i = 0; i < nkeys; i++) {
            fam_match m;
            c += families_lookup(f, keys[i], lens[i], &m) != NULL;
        }
        double t1 = now_s();
        for (size_t i = 0; i < nkeys; i++)
            sink += baseline((const uint8_t *)keys[i], lens[i]);
        double t2 = now_s();
        claimed = c;
        if (t1 - t0 < best_l)
            best_l = t1 - t0;
        if (t2 - t1 < best_b)
            best_b = t2 - t1;
    }
    printf("families: %zu (%zu patterns, %zu versioned), keys: %zu (%.1f%% claimed), best of %d rounds\n", nfam,
           nfam * 3, (nfam + 1) / 2, nkeys, 100.0 * (double)claimed / (double)nkeys, rounds);
    printf("load and check   %7.1f ms (%zu bytes)\n", tl * 1e3, o);
    printf("families_lookup  %7.1f ns/key  %6.1f M keys/s\n", best_l * 1e9 / (double)nkeys,
           (double)nkeys / best_l / 1e6);
    printf("baseline (hash)  %7.1f ns/key  %6.1f M keys/s\n", best_b * 1e9 / (double)nkeys,
           (double)nkeys / best_b / 1e6);
    printf("ratio            %7.2f x the baseline%s\n", best_l / best_b, sink == 42 ? " " : "");
    for (size_t i = 0; i < nkeys; i++)
        free(keys[i]);
    free(keys);
    free(lens);
    families_free(f);
    return 0;
}
