/* Unit tests of worker/coalesce.c: each distinct (op, key) once, the
 * smallest TTL kept, and every job's keys mapped to their entries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "coalesce.h"

static int add(coalesce *c, job_op_kind op, const char *key, uint64_t ttl)
{
    return coalesce_add(c, op, (const uint8_t *)key, strlen(key), ttl, -1, ENTRY_APPLY);
}

static void test_dedup_per_op(void **state)
{
    coalesce c;
    coalesce_init(&c);
    int a = add(&c, JOB_OP_DEL, "user:1", 0);
    int b = add(&c, JOB_OP_DEL, "user:1", 0);
    int d = add(&c, JOB_OP_BUMP, "user:1", 0);
    int e = add(&c, JOB_OP_DEL, "user:10", 0);
    assert_int_equal(a, b);
    assert_int_not_equal(a, d);
    assert_int_not_equal(a, e);
    assert_int_equal(c.nentries, 3);
    assert_int_equal(c.nedges, 4);
    assert_int_equal(c.edges[1], (uint32_t)a);
    coalesce_reset(&c);
    assert_int_equal(c.nentries, 0);
    assert_int_equal(add(&c, JOB_OP_DEL, "user:1", 0), 0);
    coalesce_deinit(&c);
}

static void test_expire_keeps_min(void **state)
{
    coalesce c;
    coalesce_init(&c);
    int a = add(&c, JOB_OP_EXPIRE, "k", 5000);
    add(&c, JOB_OP_EXPIRE, "k", 1000);
    add(&c, JOB_OP_EXPIRE, "k", 3000);
    assert_int_equal(c.entries[a].ttl_ms, 1000);
    assert_int_equal(c.nentries, 1);
    coalesce_deinit(&c);
}

static void test_binary_and_growth(void **state)
{
    coalesce c;
    coalesce_init(&c);
    const uint8_t k1[] = { 'a', 0, 'b' };
    const uint8_t k2[] = { 'a', 0, 'c' };
    assert_int_not_equal(coalesce_add(&c, JOB_OP_DEL, k1, 3, 0, -1, ENTRY_APPLY), coalesce_add(&c, JOB_OP_DEL, k2, 3, 0, -1, ENTRY_APPLY));
    static char keys[20000][16];
    for (int i = 0; i < 20000; i++) {
        snprintf(keys[i], sizeof keys[i], "key:%d", i % 5000);
        assert_true(add(&c, JOB_OP_DEL, keys[i], 0) >= 0);
    }
    assert_int_equal(c.nentries, 2 + 5000);
    assert_int_equal(c.nedges, 2 + 20000);
    for (int i = 0; i < 20000; i++) {
        const cache_entry *e = &c.entries[c.edges[2 + i]];
        assert_int_equal(e->len, strlen(keys[i]));
        assert_memory_equal(e->key, keys[i], e->len);
    }
    coalesce_deinit(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedup_per_op),
        cmocka_unit_test(test_expire_keeps_min),
        cmocka_unit_test(test_binary_and_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
