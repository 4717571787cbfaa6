/* Finds RESP message boundaries in a byte stream (for the fault proxy):
 * whole replies of any RESP2 type, and whole commands with their name. */
#ifndef INVQ_TESTS_RESP_SCAN_H
#define INVQ_TESTS_RESP_SCAN_H

#include <stddef.h>

/* Length of the complete RESP2 value at the start of buf; 0 when buf holds
 * only part of it; -1 when the bytes are not RESP. */
long resp_scan_reply(const char *buf, size_t len);

/* Length of the complete command at the start of buf (a multi-bulk array or
 * an inline line); 0 when incomplete; -1 when malformed. On success the
 * command name (first argument), upper-cased and cut to namelen-1 bytes, is
 * written to name. */
long resp_scan_command(const char *buf, size_t len, char *name, size_t namelen);

#endif
