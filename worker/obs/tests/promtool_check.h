/* Test helper: pipes an exposition into `promtool check metrics` (the path
 * comes from $PROMTOOL, set by meson when promtool is installed). */
#ifndef INVQ_OBS_TEST_PROMTOOL_CHECK_H
#define INVQ_OBS_TEST_PROMTOOL_CHECK_H

#define PROMTOOL_ABSENT 77

/* 0 when promtool accepts text, PROMTOOL_ABSENT without promtool,
 * otherwise promtool's exit status (its complaints go to stderr). */
int promtool_check(const char *text);

#endif
