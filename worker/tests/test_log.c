/* Unit tests of worker/log.c: key=value quoting and escaping, JSON lines,
 * and the level filter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"

#define TS 1795672800123LL /* 2026-11-26T06:00:00.123Z */

static void test_text(void **state)
{
    char buf[512];
    log_field f[] = { LOG_S("job", "01J9"), LOG_S("reason", "wrong_type: del \"k\""), LOG_N("attempt", 3),
                      LOG_S("skipped", NULL), LOG_S("empty", "") };
    size_t n = log_format_event(buf, sizeof buf, LOG_TEXT, TS, LOG_WARN, "job dead-lettered", f, 5);
    assert_string_equal(buf, "ts=2026-11-26T06:00:00.123Z level=warn msg=\"job dead-lettered\" job=01J9 "
                             "reason=\"wrong_type: del \\\"k\\\"\" attempt=3 empty=\"\"\n");
    assert_int_equal(n, strlen(buf));
    log_field g[] = { LOG_S("k", "a\nb\x01") };
    log_format_event(buf, sizeof buf, LOG_TEXT, TS, LOG_INFO, "x", g, 1);
    assert_non_null(strstr(buf, "k=\"a\\nb\\x01\"\n"));
}

static void test_json(void **state)
{
    char buf[512];
    log_field f[] = { LOG_S("job", "01J9"), LOG_N("attempt", 2), LOG_S("reason", "a \"b\"") };
    log_format_event(buf, sizeof buf, LOG_JSON, TS, LOG_ERROR, "boom", f, 3);
    assert_int_equal(buf[strlen(buf) - 1], '\n');
    json_error_t e;
    json_t *o = json_loads(buf, 0, &e);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "error");
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "boom");
    assert_string_equal(json_string_value(json_object_get(o, "ts")), "2026-11-26T06:00:00.123Z");
    assert_int_equal(json_integer_value(json_object_get(o, "attempt")), 2);
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "a \"b\"");
    json_decref(o);
}

static void test_truncation_and_levels(void **state)
{
    char small[40];
    log_field f[] = { LOG_S("k", "a very long value that cannot fit in forty bytes at all") };
    size_t n = log_format_event(small, sizeof small, LOG_TEXT, TS, LOG_INFO, "m", f, 1);
    assert_true(n < sizeof small);
    assert_int_equal(small[n - 1], '\n');
    log_level l;
    assert_int_equal(log_level_parse("warn", &l), 0);
    assert_int_equal(l, LOG_WARN);
    assert_int_equal(log_level_parse("verbose", &l), -1);
    log_init(LOG_WARN, LOG_TEXT);
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_ERROR));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_truncation_and_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
