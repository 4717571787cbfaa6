/* Unit tests (no server) of the audit's sample (worker/ctl/audit_sample.h):
 * it keeps min(k, distinct) distinct keys; the result depends on the seed
 * and the set of keys only, not on their order or how often each is
 * offered; and over many seeds every key is drawn equally often, also one
 * that the stream repeats 20 times (a reservoir that counted repeats would
 * draw it several times more often). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_sample.h"
#include "tcheck.h"

static void seed_of(unsigned i, uint8_t seed[AUDIT_SEED_BYTES])
{
    memset(seed, 0, AUDIT_SEED_BYTES);
    memcpy(seed, &i, sizeof(i));
}

static void key_of(unsigned i, char *buf, size_t len)
{
    snprintf(buf, len, "user:%u", i);
}

/* Simple deterministic shuffle (xorshift), so the test is reproducible. */
static unsigned rnd(unsigned *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* The sample of keys 0..n-1, offered as the list `order` (indices, repeats allowed). */
static audit_sampler *sample(size_t k, unsigned seed, const unsigned *order, size_t norder)
{
    uint8_t sd[AUDIT_SEED_BYTES];
    seed_of(seed, sd);
    audit_sampler *s = audit_sampler_new(k, sd);
    CHECK(s != NULL);
    char key[32];
    for (size_t i = 0; i < norder; i++) {
        key_of(order[i], key, sizeof(key));
        CHECK(audit_sampler_offer(s, key, strlen(key)) == 0);
    }
    return s;
}

static void test_distinct_and_bounded(void)
{
    unsigned order[300], st = 7;
    for (size_t i = 0; i < 300; i++)
        order[i] = rnd(&st) % 100; /* 100 possible keys, many repeats */
    audit_sampler *s = sample(10, 1, order, 300);
    size_t n;
    audit_key *const *keys = audit_sampler_keys(s, &n);
    CHECK(n == 10);
    for (size_t i = 0; i < n; i++) {
        CHECK(strncmp(keys[i]->key, "user:", 5) == 0 && keys[i]->len == strlen(keys[i]->key));
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(keys[i]->key, keys[j]->key) != 0);
        if (i)
            CHECK(keys[i - 1]->prio <= keys[i]->prio);
    }
    audit_sampler_free(s);

    /* fewer distinct keys than k: all of them, once */
    unsigned few[] = {3, 1, 3, 2, 1, 3};
    s = sample(10, 1, few, 6);
    audit_sampler_keys(s, &n);
    CHECK(n == 3);
    audit_sampler_free(s);
}

/* Same seed, same set of keys: same sample, whatever the order and repeats. */
static void test_order_independent(void)
{
    enum { N = 2000, K = 64 };
    static unsigned once[N], shuffled[5 * N];
    for (unsigned i = 0; i < N; i++)
        once[i] = i;
    unsigned st = 12345;
    for (size_t i = 0; i < 5 * N; i++)
        shuffled[i] = i < N ? (unsigned)i : rnd(&st) % N; /* every key at least once */
    for (size_t i = 5 * N - 1; i > 0; i--) {
        size_t j = rnd(&st) % (i + 1);
        unsigned t = shuffled[i];
        shuffled[i] = shuffled[j];
        shuffled[j] = t;
    }
    for (unsigned seed = 0; seed < 5; seed++) {
        audit_sampler *a = sample(K, seed, once, N), *b = sample(K, seed, shuffled, 5 * N);
        size_t na, nb;
        audit_key *const *ka = audit_sampler_keys(a, &na);
        audit_key *const *kb = audit_sampler_keys(b, &nb);
        CHECK(na == K && nb == K);
        for (size_t i = 0; i < K; i++)
            CHECK(ka[i]->len == kb[i]->len && memcmp(ka[i]->key, kb[i]->key, ka[i]->len) == 0);
        audit_sampler_free(a);
        audit_sampler_free(b);
    }
    /* another seed draws another sample */
    audit_sampler *a = sample(K, 1, once, N), *b = sample(K, 2, once, N);
    size_t na, nb;
    audit_key *const *ka = audit_sampler_keys(a, &na);
    audit_key *const *kb = audit_sampler_keys(b, &nb);
    size_t same = 0;
    for (size_t i = 0; i < K; i++)
        for (size_t j = 0; j < K; j++)
            same += strcmp(ka[i]->key, kb[j]->key) == 0;
    CHECK(same < K / 2);
    audit_sampler_free(a);
    audit_sampler_free(b);
}

/* 50 keys, key 0 offered 20 times (as a SCAN during rehashing may return
 * it), k = 5: over 3000 seeds each key should be drawn 300 times (sd 16). */
static void test_fair(void)
{
    enum { N = 50, K = 5, RUNS = 3000, REP = 20 };
    unsigned order[N + REP - 1];
    size_t m = 0;
    for (unsigned i = 0; i < N; i++) {
        order[m++] = i;
        if (i == 0)
            for (int r = 1; r < REP; r++)
                order[m++] = 0;
    }
    unsigned hits[N] = {0};
    for (unsigned seed = 0; seed < RUNS; seed++) {
        audit_sampler *s = sample(K, 1000 + seed, order, m);
        size_t n;
        audit_key *const *keys = audit_sampler_keys(s, &n);
        CHECK(n == K);
        for (size_t i = 0; i < n; i++)
            hits[atoi(keys[i]->key + 5)]++;
        audit_sampler_free(s);
    }
    unsigned lo = RUNS, hi = 0;
    for (unsigned i = 0; i < N; i++) {
        lo = hits[i] < lo ? hits[i] : lo;
        hi = hits[i] > hi ? hits[i] : hi;
    }
    printf("# fairness: key drawn %u..%u times of an expected %u; the repeated key %u times\n", lo, hi,
           RUNS * K / N, hits[0]);
    CHECK(lo >= 210 && hi <= 390);
    CHECK(hits[0] >= 230 && hits[0] <= 370);
}

int main(void)
{
    test_distinct_and_bounded();
    test_order_independent();
    test_fair();
    puts("audit_sample: ok");
    return 0;
}
