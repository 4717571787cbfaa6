/* Redis error replies by meaning: READONLY, LOADING, MASTERDOWN, NOREPLICAS
 * say the node is not (or no longer, or not yet) a writable master — a
 * connection problem (core's redis_err_node_unavailable()); BUSY, TRYAGAIN,
 * CLUSTERDOWN, OOM are transient failures of the command; everything else
 * (WRONGTYPE, NOPERM, non-integer INCR, MOVED, unknown errors) is about
 * the job and permanent. */
#include "errclass.h"

#include <string.h>

#include "redis_sync.h"

typedef struct rule {
    const char *prefix;
    bool transient;
    const char *code;
} rule;

static const rule rules[] = {
    { "LOADING", true, "loading" },
    { "READONLY", true, "readonly" },
    { "MASTERDOWN", true, "masterdown" },
    { "NOREPLICAS", true, "noreplicas" },
    { "BUSY", true, "busy" },
    { "TRYAGAIN", true, "tryagain" },
    { "CLUSTERDOWN", true, "clusterdown" },
    { "OOM", true, "oom" },
    { "WRONGTYPE", false, "wrong_type" },
    { "NOPERM", false, "noperm" },
    { "MOVED", false, "moved" },
    { "ASK", false, "moved" },
    { "ERR value is not an integer", false, "not_integer" },
    { "ERR increment or decrement would overflow", false, "not_integer" },
    { "NOAUTH", false, "noauth" },
};

errclass errclass_of(const char *msg, size_t len)
{
    bool reconnect = redis_err_node_unavailable(msg, len) != 0;
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        size_t n = strlen(rules[i].prefix);
        if (len >= n && memcmp(msg, rules[i].prefix, n) == 0 &&
            (len == n || msg[n] == ' ' || strchr(rules[i].prefix, ' ') != NULL))
            return (errclass){ rules[i].transient, reconnect, rules[i].code };
    }
    return (errclass){ false, false, "redis_error" };
}
