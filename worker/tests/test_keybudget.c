/* Unit tests of worker/keybudget.c: the token accounting of
 * --cache-max-keys-per-s, on a clock the test moves by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "keybudget.h"

#define MS 1000000ull

static void test_off_grants_everything(void **state)
{
    (void)state;
    keybudget kb;
    keybudget_init(&kb, 0, 0);
    assert_false(keybudget_on(&kb));
    assert_int_equal(keybudget_take(&kb, 1000000, 0), 0);
    assert_int_equal(keybudget_take(&kb, 1000000, 0), 0);
}

static void test_burst_then_wait(void **state)
{
    (void)state;
    keybudget kb;
    keybudget_init(&kb, 1000, 0); /* burst: 100 keys */
    assert_true(keybudget_on(&kb));
    assert_int_equal(keybudget_take(&kb, 60, 0), 0);
    assert_int_equal(keybudget_take(&kb, 40, 0), 0);
    /* empty: 50 keys need 50 ms at 1,000 keys/s */
    uint64_t w = keybudget_take(&kb, 50, 0);
    assert_true(w >= 50 * MS && w <= 50 * MS + 1000);
    /* refused asks take nothing: still 50 ms from t=0 */
    assert_true(keybudget_take(&kb, 50, 10 * MS) >= 40 * MS);
    assert_int_equal(keybudget_take(&kb, 50, 50 * MS), 0);
    assert_true(keybudget_take(&kb, 1, 50 * MS) > 0);
}

static void test_refill_is_capped(void **state)
{
    (void)state;
    keybudget kb;
    keybudget_init(&kb, 1000, 0);
    assert_int_equal(keybudget_take(&kb, 100, 0), 0);
    /* an hour idle still leaves only a tenth of a second's keys */
    uint64_t t = 3600ull * 1000 * MS;
    assert_int_equal(keybudget_take(&kb, 100, t), 0);
    assert_true(keybudget_take(&kb, 1, t) > 0);
}

static void test_batch_over_burst_goes_then_debt(void **state)
{
    (void)state;
    keybudget kb;
    keybudget_init(&kb, 1000, 0);
    /* 500 keys > burst: granted when the bucket is full, 400 keys of debt */
    assert_int_equal(keybudget_take(&kb, 500, 0), 0);
    /* the next key waits for the debt: 400 ms + 1 key */
    uint64_t w = keybudget_take(&kb, 1, 0);
    assert_true(w >= 401 * MS && w <= 401 * MS + 1000);
    assert_true(keybudget_take(&kb, 1, 400 * MS) > 0);
    assert_int_equal(keybudget_take(&kb, 1, 401 * MS), 0);
}

static void test_long_run_rate(void **state)
{
    (void)state;
    /* batches of 512 asked as soon as allowed for 10 s at 20,000 keys/s:
     * at most burst + rate × 10 s + one batch go */
    keybudget kb;
    keybudget_init(&kb, 20000, 0);
    uint64_t t = 0, sent = 0;
    while (t <= 10000 * MS) {
        uint64_t w = keybudget_take(&kb, 512, t);
        if (w == 0)
            sent += 512;
        else
            t += w;
    }
    assert_true(sent <= 2000 + 200000 + 512);
    assert_true(sent >= 200000 - 512);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_grants_everything),
        cmocka_unit_test(test_burst_then_wait),
        cmocka_unit_test(test_refill_is_capped),
        cmocka_unit_test(test_batch_over_burst_goes_then_debt),
        cmocka_unit_test(test_long_run_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
