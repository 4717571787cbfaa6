/* Unit tests of worker/config.c: defaults, flags over environment, and the
 * one-line errors a user sees for bad values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

static int parse(worker_config *c, char *err, size_t errlen, int argc, ...)
{
    char *argv[32];
    va_list ap;
    va_start(ap, argc);
    static char prog[] = "invq-worker";
    argv[0] = prog;
    for (int i = 1; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    config_defaults(c);
    err[0] = '\0';
    return config_parse(c, argc, argv, err, errlen);
}

static void clear_env(void **state)
{
    unsetenv("INVQ_QUEUE_URL");
    unsetenv("INVQ_BATCH");
    unsetenv("INVQ_CONSUMERS");
    unsetenv("INVQ_UNLINK");
}

static void test_defaults(void **state)
{
    clear_env(state);
    worker_config c;
    char err[256];
    assert_int_equal(parse(&c, err, sizeof err, 3, "--queue-url", "redis://127.0.0.1:6379"), CONFIG_RUN);
    assert_string_equal(c.queue_url, "redis://127.0.0.1:6379");
    assert_string_equal(c.cache_url, c.queue_url);
    assert_string_equal(c.ns, "invq");
    assert_string_equal(c.queue, "default");
    assert_int_equal(c.consumers, 4);
    assert_int_equal(c.batch, 512);
    assert_int_equal(c.max_attempts, 5);
    assert_int_equal(c.backoff_base_ms, 200);
    assert_int_equal(c.backoff_max_ms, 60000);
    assert_int_equal(c.heartbeat_ms, 1000);
    assert_int_equal(c.reap_after_ms, 15000);
    assert_int_equal(c.shutdown_grace_ms, 10000);
    assert_false(c.unlink);
    assert_string_equal(c.http_addr, "127.0.0.1:9464");
    assert_int_equal(c.limits.max_keys, 10000);
    assert_int_equal(c.cache_wait_replicas, 0);
    assert_int_equal(c.cache_wait_timeout_ms, 1000);
    assert_int_equal(c.dlq_max, 1000000);
}

/* --cache-wait-replicas, --cache-wait-timeout-ms, --dlq-max and their variables. */
static void test_wait_and_dlq(void **state)
{
    clear_env(state);
    worker_config c;
    char err[256];
    setenv("INVQ_CACHE_WAIT_REPLICAS", "2", 1);
    setenv("INVQ_DLQ_MAX", "0", 1);
    assert_int_equal(parse(&c, err, sizeof err, 5, "--queue-url", "redis://h", "--cache-wait-timeout-ms", "250"),
                     CONFIG_RUN);
    assert_int_equal(c.cache_wait_replicas, 2);
    assert_int_equal(c.cache_wait_timeout_ms, 250);
    assert_int_equal(c.dlq_max, 0);
    /* the WAIT must end before the command timeout calls the connection dead */
    assert_int_equal(parse(&c, err, sizeof err, 5, "--queue-url", "redis://h", "--cache-wait-timeout-ms", "5000"), -1);
    assert_non_null(strstr(err, "--cache-wait-timeout-ms"));
    assert_int_equal(parse(&c, err, sizeof err, 5, "--queue-url", "redis://h", "--cache-wait-replicas", "x"), -1);
    assert_non_null(strstr(err, "--cache-wait-replicas"));
    unsetenv("INVQ_CACHE_WAIT_REPLICAS");
    unsetenv("INVQ_DLQ_MAX");
}

static void test_flag_beats_env(void **state)
{
    clear_env(state);
    setenv("INVQ_QUEUE_URL", "unix:///tmp/q.sock", 1);
    setenv("INVQ_BATCH", "64", 1);
    setenv("INVQ_CONSUMERS", "3", 1);
    worker_config c;
    char err[256];
    assert_int_equal(parse(&c, err, sizeof err, 3, "--batch=128", "--unlink"), CONFIG_RUN);
    assert_string_equal(c.queue_url, "unix:///tmp/q.sock");
    assert_int_equal(c.batch, 128);
    assert_int_equal(c.consumers, 3);
    assert_true(c.unlink);
    clear_env(state);
}

/* A variable whose flag is given is not read, so not checked either. */
static void test_flag_hides_bad_env(void **state)
{
    clear_env(state);
    setenv("INVQ_BATCH", "0", 1);
    worker_config c;
    char err[256];
    assert_int_equal(parse(&c, err, sizeof err, 5, "--queue-url", "redis://h", "--batch", "5"), CONFIG_RUN);
    assert_int_equal(c.batch, 5);
    assert_int_equal(parse(&c, err, sizeof err, 3, "--queue-url", "redis://h"), -1);
    assert_string_equal(err, "invq-worker: --batch: expected an integer 1..100000, got \"0\" (from INVQ_BATCH)");
    /* the last of a repeated flag wins */
    assert_int_equal(parse(&c, err, sizeof err, 6, "--queue-url", "redis://h", "--batch", "5", "--batch=9"),
                     CONFIG_RUN);
    assert_int_equal(c.batch, 9);
    clear_env(state);
}

static void test_env_names(void **state)
{
    assert_true(config_env_known("INVQ_BATCH"));
    assert_true(config_env_known("INVQ_MAX_PAYLOAD"));
    assert_false(config_env_known("INVQ_BATCHES"));
    assert_false(config_env_known("INVQ_PROBE")); /* --probe has no variable */
    assert_string_equal(config_env_nearest("INVQ_BATCHES"), "INVQ_BATCH");
    assert_string_equal(config_env_nearest("INVQ_QUEUEURL"), "INVQ_QUEUE_URL");
    assert_string_equal(config_env_nearest("INVQ_CONSUMER"), "INVQ_CONSUMERS");
    assert_string_equal(config_env_nearest("INVQ_LOG_LEVLE"), "INVQ_LOG_LEVEL");
    assert_null(config_env_nearest("INVQ_SOMETHING_ELSE"));
    assert_null(config_env_nearest("INVQ_TEST_WORKER"));
}

static void test_bad_values(void **state)
{
    clear_env(state);
    worker_config c;
    char err[256];
    assert_int_equal(parse(&c, err, sizeof err, 5, "--queue-url", "redis://h", "--batch", "x"), -1);
    assert_string_equal(err, "invq-worker: --batch: expected an integer 1..100000, got \"x\"");
    assert_int_equal(parse(&c, err, sizeof err, 5, "--queue-url", "redis://h", "--batch", "0"), -1);
    assert_int_equal(parse(&c, err, sizeof err, 5, "--queue-url", "redis://h", "--consumers", "-1"), -1);
    assert_non_null(strstr(err, "--consumers"));
    assert_int_equal(parse(&c, err, sizeof err, 5, "--queue-url", "redis://h", "--log-level", "loud"), -1);
    assert_non_null(strstr(err, "--log-level"));
    assert_int_equal(parse(&c, err, sizeof err, 2, "--nope"), -1);
    assert_non_null(strstr(err, "--nope"));
    assert_int_equal(parse(&c, err, sizeof err, 1), -1);
    assert_non_null(strstr(err, "--queue-url"));
    assert_int_equal(parse(&c, err, sizeof err, 3, "--queue-url", "http://x"), -1);
    assert_non_null(strstr(err, "--queue-url"));
    assert_int_equal(parse(&c, err, sizeof err, 7, "--queue-url", "redis://h", "--heartbeat-ms", "1000",
                           "--reap-after-ms", "2000"),
                     -1);
    assert_non_null(strstr(err, "--reap-after-ms"));
    assert_int_equal(parse(&c, err, sizeof err, 5, "--queue-url", "redis://h", "--http-addr", "nonsense"), -1);
    assert_non_null(strstr(err, "--http-addr"));
    assert_int_equal(parse(&c, err, sizeof err, 4, "--queue-url", "redis://h", "--batch"), -1);
    assert_non_null(strstr(err, "missing value"));
    setenv("INVQ_BATCH", "lots", 1);
    assert_int_equal(parse(&c, err, sizeof err, 3, "--queue-url", "redis://h"), -1);
    assert_non_null(strstr(err, "INVQ_BATCH"));
    clear_env(state);
}

static void test_actions(void **state)
{
    clear_env(state);
    worker_config c;
    char err[256];
    assert_int_equal(parse(&c, err, sizeof err, 2, "--help"), CONFIG_HELP);
    assert_int_equal(parse(&c, err, sizeof err, 2, "--version"), CONFIG_VERSION);
    assert_int_equal(parse(&c, err, sizeof err, 3, "--probe", "http://127.0.0.1:9464/healthz"), CONFIG_PROBE);
    assert_int_equal(parse(&c, err, sizeof err, 5, "--queue-url", "redis://h", "--http-addr", "off"), CONFIG_RUN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_wait_and_dlq),
        cmocka_unit_test(test_flag_beats_env),
        cmocka_unit_test(test_flag_hides_bad_env),
        cmocka_unit_test(test_env_names),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_actions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
