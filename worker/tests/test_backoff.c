/* Unit tests of worker/backoff.c: exponential caps, full-jitter bounds and
 * TTL jitter bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backoff.h"

static void test_cap(void **state)
{
    assert_int_equal(backoff_cap(200, 60000, 1), 200);
    assert_int_equal(backoff_cap(200, 60000, 2), 400);
    assert_int_equal(backoff_cap(200, 60000, 5), 3200);
    assert_int_equal(backoff_cap(200, 60000, 9), 51200);
    assert_int_equal(backoff_cap(200, 60000, 10), 60000);
    assert_int_equal(backoff_cap(200, 60000, 1000), 60000);
}

static void test_full_jitter(void **state)
{
    rng r;
    rng_seed(&r, 42);
    uint64_t max_seen = 0, min_seen = UINT64_MAX;
    for (int i = 0; i < 10000; i++) {
        uint64_t d = backoff_full_jitter(&r, 200, 60000, 3);
        assert_true(d <= 800);
        if (d > max_seen)
            max_seen = d;
        if (d < min_seen)
            min_seen = d;
    }
    assert_true(max_seen > 700); /* spread over the whole range */
    assert_true(min_seen < 100);
}

static void test_reconnect(void **state)
{
    rng r;
    rng_seed(&r, 7);
    for (unsigned f = 1; f < 20; f++) {
        uint64_t d = backoff_reconnect(&r, 100, 5000, f);
        uint64_t cap = backoff_cap(100, 5000, f);
        assert_true(d >= cap / 2 && d <= cap);
    }
}

static void test_ttl_jitter(void **state)
{
    rng r;
    rng_seed(&r, 1);
    for (int i = 0; i < 1000; i++) {
        uint64_t t = backoff_ttl_jitter(&r, 10000, 20);
        assert_true(t >= 8000 && t <= 10000);
    }
    assert_int_equal(backoff_ttl_jitter(&r, 10000, 0), 10000);
    assert_true(backoff_ttl_jitter(&r, 1, 100) >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_full_jitter),
        cmocka_unit_test(test_reconnect),
        cmocka_unit_test(test_ttl_jitter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
