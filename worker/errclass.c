/* Redis error replies → transient or permanent, by their leading word:
 * LOADING, BUSY, TRYAGAIN, MASTERDOWN, CLUSTERDOWN, OOM are transient;
 * everything else (WRONGTYPE, NOPERM, READONLY, non-integer INCR, unknown
 * errors) is permanent. */
#include "errclass.h"

#include <string.h>

typedef struct rule {
    const char *prefix;
    bool transient;
    const char *code;
} rule;

static const rule rules[] = {
    { "LOADING", true, "loading" },
    { "BUSY", true, "busy" },
    { "TRYAGAIN", true, "tryagain" },
    { "MASTERDOWN", true, "masterdown" },
    { "CLUSTERDOWN", true, "clusterdown" },
    { "OOM", true, "oom" },
    { "WRONGTYPE", false, "wrong_type" },
    { "NOPERM", false, "noperm" },
    { "READONLY", false, "readonly" },
    { "MOVED", false, "moved" },
    { "ASK", false, "moved" },
    { "ERR value is not an integer", false, "not_integer" },
    { "ERR increment or decrement would overflow", false, "not_integer" },
    { "NOAUTH", false, "noauth" },
};

errclass errclass_of(const char *msg, size_t len)
{
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        size_t n = strlen(rules[i].prefix);
        if (len >= n && memcmp(msg, rules[i].prefix, n) == 0 &&
            (len == n || msg[n] == ' ' || strchr(rules[i].prefix, ' ') != NULL))
            return (errclass){ rules[i].transient, rules[i].code };
    }
    return (errclass){ false, "redis_error" };
}
