/* The audit's report: a table for people, or one JSON object per family
 * (and a totals object when several families were audited), and the same
 * results as Prometheus text for node_exporter's textfile collector. */
#ifndef INVQ_CTL_AUDIT_REPORT_H
#define INVQ_CTL_AUDIT_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "audit.h"

/* Prints the table, the skip reasons, the examples and the failures. */
void audit_report_table(const audit_result *r, size_t n, FILE *f);

/* Prints the JSON lines on stdout. Returns 0 or -ENOMEM / -EIO. */
int audit_report_json(const audit_result *r, size_t n);

/* Writes the Prometheus text of the results to path atomically (a
 * temporary file in the same directory, fsync'd, renamed over path), with
 * `now_s` (seconds since the epoch) as the run's time. Returns 0 or
 * CTL_CANTCREAT with a message in err. */
int audit_report_prom(const audit_result *r, size_t n, const char *path, double now_s, char *err, size_t errlen);

/* The Prometheus text itself, malloc'd (NULL on ENOMEM). */
char *audit_report_prom_text(const audit_result *r, size_t n, double now_s);

#endif
