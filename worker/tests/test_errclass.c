/* Unit tests of worker/errclass.c: which Redis errors are retried and which
 * go straight to the dead-letter queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "errclass.h"

static errclass of(const char *msg)
{
    return errclass_of(msg, strlen(msg));
}

static void test_transient(void **state)
{
    const char *msgs[] = { "LOADING Redis is loading the dataset in memory", "BUSY Redis is busy running a script",
                           "TRYAGAIN Multiple keys request during rehashing", "MASTERDOWN Link with MASTER is down",
                           "CLUSTERDOWN The cluster is down", "OOM command not allowed when used memory > 'maxmemory'" };
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++)
        assert_true(of(msgs[i]).transient);
    assert_string_equal(of(msgs[0]).code, "loading");
    assert_false(of(msgs[1]).reconnect); /* BUSY: the command, an attempt */
    assert_false(of(msgs[4]).reconnect);
}

/* A node that is not a writable master: a connection problem, no attempt. */
static void test_reconnect(void **state)
{
    const char *msgs[] = { "READONLY You can't write against a read only replica.",
                           "LOADING Redis is loading the dataset in memory",
                           "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
                           "NOREPLICAS Not enough good replicas to write.", "READONLY" };
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        assert_true(of(msgs[i]).transient);
        assert_true(of(msgs[i]).reconnect);
    }
    assert_string_equal(of(msgs[0]).code, "readonly");
    assert_string_equal(of(msgs[3]).code, "noreplicas");
    assert_false(of("READONLYX no").reconnect);
    assert_false(of("WRONGTYPE Operation against a key").reconnect);
}

static void test_permanent(void **state)
{
    errclass e = of("WRONGTYPE Operation against a key holding the wrong kind of value");
    assert_false(e.transient);
    assert_string_equal(e.code, "wrong_type");
    e = of("ERR value is not an integer or out of range");
    assert_false(e.transient);
    assert_string_equal(e.code, "not_integer");
    e = of("NOPERM this user has no permissions to run the 'del' command");
    assert_string_equal(e.code, "noperm");
    e = of("ERR something new");
    assert_false(e.transient);
    assert_string_equal(e.code, "redis_error");
    /* a word that merely starts like a transient one is not transient */
    assert_false(of("BUSYKEY Target key name already exists.").transient);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transient),
        cmocka_unit_test(test_permanent),
        cmocka_unit_test(test_reconnect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
