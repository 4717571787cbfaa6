/* Tests of the metrics registry and its Prometheus exposition: values a
 * scrape shows after the worker's calls, bounded labels, readiness, and a
 * `promtool check metrics` pass over the rendered text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"
#include "promtool_check.h"

/* The sample line `series value` must appear whole in text. */
static void assert_sample(const char *text, const char *series, const char *value)
{
    char line[512];
    snprintf(line, sizeof line, "\n%s %s\n", series, value);
    if (!strstr(text, line))
        fail_msg("missing sample '%s %s' in:\n%s", series, value, text);
}

static char *render(const metrics *m)
{
    size_t len = 0;
    char *text = metrics_render(m, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

static void test_fresh_registry_renders_zeros(void **state)
{
    metrics *m = metrics_new("1.2.3");
    assert_non_null(m);
    char *text = render(m);
    assert_sample(text, "invq_jobs_finished_total{result=\"done\"}", "0");
    assert_sample(text, "invq_jobs_finished_total{result=\"dead\"}", "0");
    assert_sample(text, "invq_batches_total", "0");
    assert_sample(text, "invq_redis_connected{target=\"queue\"}", "0");
    assert_sample(text, "invq_redis_connected{target=\"cache\"}", "0");
    assert_sample(text, "invq_build_info{version=\"1.2.3\"}", "1");
    assert_sample(text, "invq_job_lag_seconds_bucket{le=\"+Inf\"}", "0");
    assert_non_null(strstr(text, "# TYPE invq_job_lag_seconds histogram\n"));
    assert_non_null(strstr(text, "# TYPE invq_jobs_finished_total counter\n"));
    assert_non_null(strstr(text, "# TYPE invq_queue_depth gauge\n"));
    assert_non_null(strstr(text, "\nprocess_start_time_seconds "));
    free(text);
    metrics_free(m);
}

static void test_counters_move(void **state)
{
    metrics *m = metrics_new("x");
    metrics_jobs_finished(m, "done", 5);
    metrics_jobs_finished(m, "done", 2);
    metrics_jobs_finished(m, "retried", 1);
    metrics_jobs_finished(m, "bogus", 100); /* not a result: ignored */
    metrics_keys(m, "del", 300);
    metrics_keys(m, "bump", 7);
    metrics_keys(m, "expire", 9);
    metrics_reconnect(m, "cache");
    metrics_reconnect(m, "cache");
    metrics_set_depths(m, 10, 20, 30, 40);
    metrics_set_consumers(m, 4);
    metrics_set_breaker_open(m, true);
    metrics_set_queue_total(m, "enqueued", 1000);
    metrics_set_queue_total(m, "done", 990);
    metrics_set_queue_total(m, "done", 995); /* a sample replaces */
    char *text = render(m);
    assert_sample(text, "invq_jobs_finished_total{result=\"done\"}", "7");
    assert_sample(text, "invq_jobs_finished_total{result=\"retried\"}", "1");
    assert_sample(text, "invq_jobs_finished_total{result=\"dead\"}", "0");
    assert_null(strstr(text, "bogus"));
    assert_sample(text, "invq_keys_invalidated_total{op=\"del\"}", "300");
    assert_sample(text, "invq_keys_invalidated_total{op=\"bump\"}", "7");
    assert_sample(text, "invq_keys_invalidated_total{op=\"expire\"}", "9");
    assert_sample(text, "invq_redis_reconnects_total{target=\"cache\"}", "2");
    assert_sample(text, "invq_redis_reconnects_total{target=\"queue\"}", "0");
    assert_sample(text, "invq_queue_depth{list=\"pending\"}", "10");
    assert_sample(text, "invq_queue_depth{list=\"delayed\"}", "20");
    assert_sample(text, "invq_queue_depth{list=\"dead\"}", "30");
    assert_sample(text, "invq_queue_depth{list=\"processing\"}", "40");
    assert_sample(text, "invq_consumers", "4");
    assert_sample(text, "invq_circuit_breaker_open", "1");
    assert_sample(text, "invq_queue_jobs_total{counter=\"enqueued\"}", "1000");
    assert_sample(text, "invq_queue_jobs_total{counter=\"done\"}", "995");
    free(text);
    metrics_free(m);
}

static void test_histograms(void **state)
{
    metrics *m = metrics_new("x");
    metrics_batch(m, 1, 0.0004);
    metrics_batch(m, 3, 0.003);
    metrics_batch(m, 5000, 20.0);
    metrics_batch(m, 6000, 0.001);
    metrics_lag(m, 0.0005); /* a bound is inclusive (le) */
    metrics_lag(m, 0.7);
    metrics_lag(m, 1000);
    metrics_lag(m, -3); /* clock skew counts as 0 */
    char *text = render(m);
    assert_sample(text, "invq_batches_total", "4");
    assert_sample(text, "invq_batch_size_jobs_bucket{le=\"1\"}", "1");
    assert_sample(text, "invq_batch_size_jobs_bucket{le=\"2\"}", "1");
    assert_sample(text, "invq_batch_size_jobs_bucket{le=\"5\"}", "2");
    assert_sample(text, "invq_batch_size_jobs_bucket{le=\"2000\"}", "2");
    assert_sample(text, "invq_batch_size_jobs_bucket{le=\"5000\"}", "3");
    assert_sample(text, "invq_batch_size_jobs_bucket{le=\"+Inf\"}", "4");
    assert_sample(text, "invq_batch_size_jobs_count", "4");
    assert_sample(text, "invq_batch_size_jobs_sum", "11004");
    assert_sample(text, "invq_batch_apply_seconds_bucket{le=\"0.0005\"}", "1");
    assert_sample(text, "invq_batch_apply_seconds_bucket{le=\"0.001\"}", "2");
    assert_sample(text, "invq_batch_apply_seconds_bucket{le=\"10\"}", "3");
    assert_sample(text, "invq_batch_apply_seconds_bucket{le=\"+Inf\"}", "4");
    assert_sample(text, "invq_job_lag_seconds_bucket{le=\"0.0005\"}", "2");
    assert_sample(text, "invq_job_lag_seconds_bucket{le=\"0.5\"}", "2");
    assert_sample(text, "invq_job_lag_seconds_bucket{le=\"1\"}", "3");
    assert_sample(text, "invq_job_lag_seconds_bucket{le=\"300\"}", "3");
    assert_sample(text, "invq_job_lag_seconds_bucket{le=\"+Inf\"}", "4");
    free(text);
    metrics_free(m);
}

static void test_dead_reasons_bounded(void **state)
{
    metrics *m = metrics_new("x");
    metrics_dead_letter(m, "wrong_type");
    metrics_dead_letter(m, "wrong_type");
    metrics_dead_letter(m, "Bad Reason\"\n"); /* not a plain code: other */
    char name[32];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "reason_%d", i);
        metrics_dead_letter(m, name);
    }
    char *text = render(m);
    assert_sample(text, "invq_dead_letters_total{reason=\"wrong_type\"}", "2");
    assert_sample(text, "invq_dead_letters_total{reason=\"reason_0\"}", "1");
    assert_sample(text, "invq_dead_letters_total{reason=\"reason_30\"}", "1");
    assert_null(strstr(text, "reason=\"reason_31\""));
    /* 32 slots: wrong_type + reason_0..30; the rest and the odd one: other. */
    assert_sample(text, "invq_dead_letters_total{reason=\"other\"}", "70");
    int series = 0;
    for (const char *p = text; (p = strstr(p, "\ninvq_dead_letters_total{")); p++)
        series++;
    assert_int_equal(series, 33);
    free(text);
    metrics_free(m);
}

static void test_readiness(void **state)
{
    metrics *m = metrics_new("x");
    char reason[128];
    assert_int_equal(metrics_ready(m, reason, sizeof reason), 0);
    assert_string_equal(reason, "queue and cache redis not connected");
    metrics_set_connected(m, "queue", true);
    assert_int_equal(metrics_ready(m, reason, sizeof reason), 0);
    assert_string_equal(reason, "cache redis not connected");
    metrics_set_connected(m, "cache", true);
    assert_int_equal(metrics_ready(m, reason, sizeof reason), 1);
    char *ready_text = render(m);
    assert_sample(ready_text, "invq_ready", "1");
    free(ready_text);
    metrics_set_connected(m, "queue", false);
    assert_int_equal(metrics_ready(m, reason, sizeof reason), 0);
    assert_string_equal(reason, "queue redis not connected");
    /* a queue script that keeps failing: not ready, with its reason */
    metrics_set_connected(m, "queue", true);
    metrics_set_queue_blocked(m, "queue key invq:{default}:dead has type string, expected list");
    metrics_queue_script_error(m, "finish");
    metrics_queue_script_error(m, "finish");
    metrics_queue_script_error(m, "nonsense");
    assert_int_equal(metrics_ready(m, reason, sizeof reason), 0);
    assert_string_equal(reason, "queue key invq:{default}:dead has type string, expected list");
    char *blocked = render(m);
    assert_sample(blocked, "invq_queue_blocked", "1");
    assert_sample(blocked, "invq_ready", "0");
    assert_sample(blocked, "invq_queue_script_errors_total{script=\"finish\"}", "2");
    assert_sample(blocked, "invq_queue_script_errors_total{script=\"fetch\"}", "0");
    free(blocked);
    metrics_set_queue_blocked(m, NULL);
    assert_int_equal(metrics_ready(m, reason, sizeof reason), 1);
    metrics_set_queue_blocked(m, "queue redis out of memory: OOM");
    metrics_set_draining(m, true);
    assert_int_equal(metrics_ready(m, reason, sizeof reason), 0);
    assert_string_equal(reason, "draining");
    metrics_set_queue_blocked(m, NULL);
    char *text = render(m);
    assert_sample(text, "invq_draining", "1");
    assert_sample(text, "invq_ready", "0");
    assert_sample(text, "invq_redis_connected{target=\"queue\"}", "1");
    free(text);
    metrics_free(m);
}

static void test_build_info_escaped(void **state)
{
    metrics *m = metrics_new("v\"1\\2\n");
    char *text = render(m);
    assert_sample(text, "invq_build_info{version=\"v\\\"1\\\\2\\n\"}", "1");
    free(text);
    metrics_free(m);
}

/* Everything a busy worker sets, then promtool's linter over the result. */
static void test_promtool_accepts_exposition(void **state)
{
    metrics *m = metrics_new("0.1.0");
    metrics_jobs_finished(m, "done", 10);
    metrics_dead_letter(m, "max_attempts");
    metrics_dead_letter(m, "???");
    metrics_keys(m, "del", 3);
    metrics_batch(m, 12, 0.02);
    metrics_lag(m, 0.3);
    metrics_set_connected(m, "queue", true);
    metrics_reconnect(m, "queue");
    metrics_set_depths(m, 1, 2, 3, 4);
    metrics_set_queue_total(m, "enqueued", 10);
    metrics_set_queue_total(m, "done", 9);
    metrics_set_loop_lag(m, 0.002);
    metrics_set_queue_blocked(m, "queue key invq:{default}:dead has type string, expected list");
    metrics_queue_script_error(m, "fetch");
    char *text = render(m);
    int rc = promtool_check(text);
    free(text);
    metrics_free(m);
    if (rc == PROMTOOL_ABSENT)
        skip();
    assert_int_equal(rc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_registry_renders_zeros),
        cmocka_unit_test(test_counters_move),
        cmocka_unit_test(test_histograms),
        cmocka_unit_test(test_dead_reasons_bounded),
        cmocka_unit_test(test_readiness),
        cmocka_unit_test(test_build_info_escaped),
        cmocka_unit_test(test_promtool_accepts_exposition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
