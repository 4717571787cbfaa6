/* Redis URL parsing for every invq program (forms in redis_url.h);
 * percent-decodes user, password, paths and names, and rejects anything it
 * does not understand, or that is given twice, with a precise message. */
#include "redis_url.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"

#define DB_MAX INT_MAX

/* Where a part of the URL came from, to refuse one given twice. */
enum { FROM_NONE = 0, FROM_AUTHORITY, FROM_PATH, FROM_QUERY };

typedef struct parse_state {
    redis_url *u;
    char *err;
    size_t errlen;
    int user_from, password_from, db_from;
    unsigned seen; /* bit per query parameter */
    bool cert_reqs_given, check_hostname_given;
} parse_state;

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Copies [s, s+n) percent-decoded into a new string; NULL on a bad escape
 * (*bad = 1) or no memory (*bad = 0). */
static char *dup_decoded(const char *s, size_t n, int *bad)
{
    char *out = malloc(n + 1);
    size_t o = 0;
    *bad = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (n - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0 ||
                (hexval(s[i + 1]) == 0 && hexval(s[i + 2]) == 0)) {
                free(out);
                *bad = 1;
                return NULL;
            }
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* 0 and *out, -1 when [s, s+n) is not a decimal number, -2 when it is one
 * outside lo..hi. */
static int parse_int(const char *s, size_t n, long lo, long hi, int *out)
{
    long long v = 0;
    bool big = false;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (!big) {
            v = v * 10 + (s[i] - '0');
            big = v > hi;
        }
    }
    if (big || v < lo || v > hi)
        return -2;
    *out = (int)v;
    return 0;
}

static int oom(parse_state *st)
{
    return err_set(st->err, st->errlen, INVQ_ENOMEM, "out of memory parsing the Redis URL");
}

static int set_field(parse_state *st, char **field, const char *s, size_t n, const char *what)
{
    int bad;
    free(*field);
    *field = dup_decoded(s, n, &bad);
    if (*field)
        return 0;
    if (bad)
        return err_set(st->err, st->errlen, INVQ_EURL, "bad %%-escape in the %s of the Redis URL", what);
    return oom(st);
}

static int set_db(parse_state *st, const char *s, size_t n, int from)
{
    static const char *const where[] = { "", "", "path /db", "?db=" };
    if (st->db_from != FROM_NONE)
        return err_set(st->err, st->errlen, INVQ_EURL,
                       "Redis URL gives the database twice (in the %s and the %s): give it once",
                       where[st->db_from], where[from]);
    int rc = parse_int(s, n, 0, DB_MAX, &st->u->db);
    if (rc == -1)
        return err_set(st->err, st->errlen, INVQ_EURL, "Redis URL database '%.*s' is not a number",
                       (int)(n > 40 ? 40 : n), s);
    if (rc == -2)
        return err_set(st->err, st->errlen, INVQ_EURL, "Redis URL database '%.*s' is out of range 0..%d",
                       (int)(n > 40 ? 40 : n), s, DB_MAX);
    st->db_from = from;
    return 0;
}

/* Sets a credential (user or password), refusing it when already given. */
static int set_cred(parse_state *st, char **field, int *from, int now, const char *s, size_t n, const char *what)
{
    if (*from != FROM_NONE)
        return err_set(st->err, st->errlen, INVQ_EURL,
                       "Redis URL gives the %s twice (before '@' and as ?%s=): give it once", what, what);
    *from = now;
    return set_field(st, field, s, n, what);
}

static int parse_bool(const char *s, size_t n, bool *out)
{
    static const char *const yes[] = { "true", "yes", "1", "on" };
    static const char *const no[] = { "false", "no", "0", "off" };
    for (size_t i = 0; i < 4; i++) {
        if (strlen(yes[i]) == n && strncasecmp(s, yes[i], n) == 0) {
            *out = true;
            return 0;
        }
        if (strlen(no[i]) == n && strncasecmp(s, no[i], n) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

enum {
    P_DB, P_USER, P_PASSWORD, P_CA, P_CERT, P_KEY, P_REQS, P_CHECK, P_SUSER, P_SPASS, P_COUNT
};

static const char *const param_names[P_COUNT] = {
    "db", "user", "password", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile",
    "ssl_cert_reqs", "ssl_check_hostname", "sentinel_user", "sentinel_password",
};

static int param_index(const char *k, size_t n)
{
    for (int i = 0; i < P_COUNT; i++)
        if (strlen(param_names[i]) == n && memcmp(k, param_names[i], n) == 0)
            return i;
    return -1;
}

static int set_param(parse_state *st, int p, const char *v, size_t vn)
{
    redis_url *u = st->u;
    switch (p) {
    case P_DB: return set_db(st, v, vn, FROM_QUERY);
    case P_USER: return set_cred(st, &u->user, &st->user_from, FROM_QUERY, v, vn, "user");
    case P_PASSWORD: return set_cred(st, &u->password, &st->password_from, FROM_QUERY, v, vn, "password");
    case P_CA: return set_field(st, &u->tls_ca_certs, v, vn, "ssl_ca_certs");
    case P_CERT: return set_field(st, &u->tls_certfile, v, vn, "ssl_certfile");
    case P_KEY: return set_field(st, &u->tls_keyfile, v, vn, "ssl_keyfile");
    case P_SUSER: return set_field(st, &u->sentinel_user, v, vn, "sentinel_user");
    case P_SPASS: return set_field(st, &u->sentinel_password, v, vn, "sentinel_password");
    case P_REQS:
        st->cert_reqs_given = true;
        if (vn == 8 && strncasecmp(v, "required", 8) == 0)
            u->tls_verify = true;
        else if (vn == 4 && strncasecmp(v, "none", 4) == 0)
            u->tls_verify = false;
        else
            return err_set(st->err, st->errlen, INVQ_EURL,
                           "Redis URL ssl_cert_reqs '%.*s' must be required or none", (int)(vn > 40 ? 40 : vn), v);
        return 0;
    case P_CHECK:
        st->check_hostname_given = true;
        if (parse_bool(v, vn, &u->tls_check_hostname) < 0)
            return err_set(st->err, st->errlen, INVQ_EURL,
                           "Redis URL ssl_check_hostname '%.*s' must be true or false", (int)(vn > 40 ? 40 : vn), v);
        return 0;
    default:
        return 0;
    }
}

/* Parses "k=v&k=v" (the part after '?', up to the end or '#'). */
static int parse_query(parse_state *st, const char *q, const char *end)
{
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        size_t n = amp ? (size_t)(amp - q) : (size_t)(end - q);
        const char *eq = memchr(q, '=', n);
        if (n == 0) {
            q++;
            continue;
        }
        if (!eq)
            return err_set(st->err, st->errlen, INVQ_EURL, "Redis URL query item '%.*s' has no '='",
                           (int)(n > 40 ? 40 : n), q);
        size_t kn = (size_t)(eq - q), vn = n - kn - 1;
        int p = param_index(q, kn);
        if (p < 0)
            return err_set(st->err, st->errlen, INVQ_EURL,
                           "unknown Redis URL parameter '%.*s' (known: db, user, password, ssl_ca_certs, "
                           "ssl_certfile, ssl_keyfile, ssl_cert_reqs, ssl_check_hostname, sentinel_user, "
                           "sentinel_password)", (int)(kn > 40 ? 40 : kn), q);
        if (st->seen & (1u << p))
            return err_set(st->err, st->errlen, INVQ_EURL, "Redis URL parameter '%s' is given twice: give it once",
                           param_names[p]);
        st->seen |= 1u << p;
        int rc = set_param(st, p, eq + 1, vn);
        if (rc < 0)
            return rc;
        q += n + (amp ? 1 : 0);
    }
    return 0;
}

/* Parses one "host[:port]" or "[v6][:port]" in [s, end). */
static int parse_hostport(parse_state *st, const char *s, const char *end, int defport, char **host, int *port)
{
    const char *hstart = s, *hend, *ps = NULL;
    int rc;
    if (*s == '[') {
        const char *rb = memchr(s, ']', (size_t)(end - s));
        if (!rb)
            return err_set(st->err, st->errlen, INVQ_EURL, "Redis URL has '[' without ']' around an IPv6 host");
        hstart = s + 1;
        hend = rb;
        if (rb + 1 < end) {
            if (rb[1] != ':')
                return err_set(st->err, st->errlen, INVQ_EURL, "unexpected text after ']' in the Redis URL");
            ps = rb + 2;
        }
    } else {
        const char *colon = memchr(s, ':', (size_t)(end - s));
        hend = colon ? colon : end;
        if (colon)
            ps = colon + 1;
    }
    if (hend == hstart)
        return err_set(st->err, st->errlen, INVQ_EURL, "Redis URL has no host");
    if ((rc = set_field(st, host, hstart, (size_t)(hend - hstart), "host")) < 0)
        return rc;
    *port = defport;
    if (ps && parse_int(ps, (size_t)(end - ps), 1, 65535, port) < 0)
        return err_set(st->err, st->errlen, INVQ_EURL, "Redis URL port '%.*s' is not a number in 1..65535",
                       (int)(end - ps > 40 ? 40 : end - ps), ps);
    return 0;
}

/* "h1:p1,h2:p2,..." of a Sentinel or cluster URL into *list. */
static int parse_addr_list(parse_state *st, const char *s, const char *end, int defport, redis_addr **list,
                           size_t *count)
{
    size_t n = 1;
    for (const char *c = s; c < end; c++)
        n += *c == ',';
    if (!(*list = calloc(n, sizeof **list)))
        return oom(st);
    while (s <= end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma ? comma : end;
        redis_addr *a = &(*list)[*count];
        int rc = parse_hostport(st, s, e, defport, &a->host, &a->port);
        if (a->host)
            (*count)++;
        if (rc < 0)
            return rc;
        if (!comma)
            break;
        s = comma + 1;
    }
    return 0;
}

/* The part after "scheme://" of a TCP or Sentinel URL, up to `end` (the
 * fragment's '#', or the end of the string). */
static int parse_tcp(parse_state *st, const char *rest, const char *end, bool sentinel, bool cluster)
{
    redis_url *u = st->u;
    const char *aend = rest + strcspn(rest, "/?#");
    const char *at = NULL;
    int rc;

    if (aend > end)
        aend = end;
    for (const char *c = rest; c < aend; c++)
        if (*c == '@')
            at = c; /* the last '@' ends the credentials */
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (!colon)
            return err_set(st->err, st->errlen, INVQ_EURL,
                           "Redis URL credentials must be ':password@' or 'user:password@'");
        if (colon > rest &&
            (rc = set_cred(st, &u->user, &st->user_from, FROM_AUTHORITY, rest, (size_t)(colon - rest), "user")) < 0)
            return rc;
        if ((rc = set_cred(st, &u->password, &st->password_from, FROM_AUTHORITY, colon + 1,
                           (size_t)(at - colon - 1), "password")) < 0)
            return rc;
        rest = at + 1;
    }
    if (rest == aend)
        return err_set(st->err, st->errlen, INVQ_EURL, "Redis URL has no host");
    if (sentinel) {
        rc = parse_addr_list(st, rest, aend, REDIS_URL_DEFAULT_SENTINEL_PORT, &u->sentinels, &u->nsentinels);
    } else if (cluster) {
        rc = parse_addr_list(st, rest, aend, REDIS_URL_DEFAULT_PORT, &u->nodes, &u->nnodes);
        /* the first startup node is the URL's direct address */
        if (rc == 0 && !(u->host = strdup(u->nodes[0].host)))
            rc = oom(st);
        u->port = u->nnodes > 0 ? u->nodes[0].port : 0;
    } else {
        if (memchr(rest, ',', (size_t)(aend - rest)))
            return err_set(st->err, st->errlen, INVQ_EURL,
                           "Redis URL lists several hosts: only redis-sentinel:// and redis-cluster:// URLs "
                           "take a list");
        rc = parse_hostport(st, rest, aend, REDIS_URL_DEFAULT_PORT, &u->host, &u->port);
    }
    if (rc < 0)
        return rc;

    const char *p = aend;
    if (p < end && *p == '/') {
        const char *dbs = p + 1;
        size_t dn = strcspn(dbs, "?#");
        if (dbs + dn > end)
            dn = (size_t)(end - dbs);
        if (dn > 0 && (rc = set_db(st, dbs, dn, FROM_PATH)) < 0)
            return rc;
        p = dbs + dn;
    }
    if (p < end && *p == '?')
        return parse_query(st, p + 1, end);
    return 0;
}

static int parse_unix(parse_state *st, const char *rest, const char *end)
{
    const char *q = memchr(rest, '?', (size_t)(end - rest));
    size_t n = q ? (size_t)(q - rest) : (size_t)(end - rest);
    if (n == 0 || rest[0] != '/')
        return err_set(st->err, st->errlen, INVQ_EURL, "unix URL needs an absolute socket path: unix:///path/to/sock");
    int rc = set_field(st, &st->u->path, rest, n, "socket path");
    if (rc < 0)
        return rc;
    return q ? parse_query(st, q + 1, end) : 0;
}

/* Rules between parts, checked once everything is read. */
static int check_parts(parse_state *st)
{
    redis_url *u = st->u;
    const unsigned tls_params = (1u << P_CA) | (1u << P_CERT) | (1u << P_KEY) | (1u << P_REQS) | (1u << P_CHECK);
    const unsigned sentinel_params = (1u << P_SUSER) | (1u << P_SPASS);

    if (!u->tls && (st->seen & tls_params)) {
        for (int p = 0; p < P_COUNT; p++)
            if (st->seen & tls_params & (1u << p))
                return err_set(st->err, st->errlen, INVQ_EURL,
                               "Redis URL parameter %s needs TLS: use rediss:// (or rediss-sentinel://, "
                               "rediss-cluster://)",
                               param_names[p]);
    }
    if (!u->master_name && (st->seen & sentinel_params))
        return err_set(st->err, st->errlen, INVQ_EURL,
                       "Redis URL parameters sentinel_user and sentinel_password need a redis-sentinel:// URL");
    if (u->cluster && u->db != 0)
        return err_set(st->err, st->errlen, INVQ_EURL,
                       "Redis URL database %d: a Redis Cluster has only database 0", u->db);
    if (!st->check_hostname_given)
        u->tls_check_hostname = u->tls_verify;
    else if (u->tls_check_hostname && !u->tls_verify)
        return err_set(st->err, st->errlen, INVQ_EURL,
                       "Redis URL ssl_check_hostname=true needs ssl_cert_reqs=required");
    if (u->tls_keyfile && !u->tls_certfile)
        return err_set(st->err, st->errlen, INVQ_EURL, "Redis URL ssl_keyfile needs ssl_certfile (the certificate)");
    if (u->password && !*u->password && !u->user) {
        free(u->password); /* "redis://:@host": no password at all */
        u->password = NULL;
    }
    if (u->user && !u->password)
        return err_set(st->err, st->errlen, INVQ_EURL, "Redis URL names user '%s' but no password", u->user);
    if (u->sentinel_user && !u->sentinel_password)
        return err_set(st->err, st->errlen, INVQ_EURL,
                       "Redis URL names sentinel_user '%s' but no sentinel_password", u->sentinel_user);
    return 0;
}

int redis_url_parse(const char *s, redis_url *u, char *err, size_t errlen)
{
    static const struct {
        const char *prefix;
        bool tls, sentinel, unix_path, cluster;
    } schemes[] = {
        { "unix://", false, false, true, false },
        { "redis://", false, false, false, false },
        { "rediss://", true, false, false, false },
        { "redis-sentinel://", false, true, false, false },
        { "rediss-sentinel://", true, true, false, false },
        { "redis-cluster://", false, false, false, true },
        { "rediss-cluster://", true, false, false, true },
    };
    parse_state st = { .u = u, .err = err, .errlen = errlen };
    int rc = INVQ_EURL;
    size_t i;

    memset(u, 0, sizeof(*u));
    u->tls_verify = true;
    if (!s || !*s)
        return err_set(err, errlen, INVQ_EURL, "Redis URL is empty");
    for (i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (strncmp(s, schemes[i].prefix, strlen(schemes[i].prefix)) == 0)
            break;
    if (i == sizeof schemes / sizeof schemes[0]) {
        rc = err_set(err, errlen, INVQ_EURL,
                     "Redis URL '%.40s' must start with redis://, rediss://, unix://, redis-sentinel://, "
                     "rediss-sentinel://, redis-cluster:// or rediss-cluster://", s);
        goto out;
    }
    const char *rest = s + strlen(schemes[i].prefix);
    const char *hash = strchr(rest, '#');
    const char *end = hash ? hash : rest + strlen(rest);
    u->tls = schemes[i].tls;
    u->cluster = schemes[i].cluster;
    if (schemes[i].sentinel) {
        if (!hash || !hash[1]) {
            rc = err_set(err, errlen, INVQ_EURL,
                         "Sentinel URL needs the master's name after '#': redis-sentinel://host:26379#mymaster");
            goto out;
        }
        if ((rc = set_field(&st, &u->master_name, hash + 1, strlen(hash + 1), "master name")) < 0)
            goto out;
    } else if (hash) {
        rc = err_set(err, errlen, INVQ_EURL,
                     "Redis URL has a '#' fragment: only Sentinel URLs take one (a '#' in a password is %%23)");
        goto out;
    }
    rc = schemes[i].unix_path ? parse_unix(&st, rest, end) : parse_tcp(&st, rest, end, schemes[i].sentinel, schemes[i].cluster);
    if (rc == 0)
        rc = check_parts(&st);
out:
    if (rc < 0)
        redis_url_deinit(u);
    return rc;
}

void redis_url_deinit(redis_url *u)
{
    free(u->host);
    free(u->path);
    free(u->user);
    free(u->password);
    free(u->tls_ca_certs);
    free(u->tls_certfile);
    free(u->tls_keyfile);
    free(u->master_name);
    for (size_t i = 0; i < u->nsentinels; i++)
        free(u->sentinels[i].host);
    free(u->sentinels);
    for (size_t i = 0; i < u->nnodes; i++)
        free(u->nodes[i].host);
    free(u->nodes);
    free(u->sentinel_user);
    free(u->sentinel_password);
    memset(u, 0, sizeof(*u));
}

bool redis_url_is_sentinel(const redis_url *u)
{
    return u->master_name != NULL;
}

bool redis_url_is_cluster(const redis_url *u)
{
    return u->cluster;
}

static int dup_opt(char **dst, const char *src)
{
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -1;
}

int redis_url_node(const redis_url *u, size_t i, const char *host, int port, redis_url *out)
{
    int bad = 0;
    memset(out, 0, sizeof(*out));
    out->tls = u->tls;
    out->tls_verify = u->tls_verify;
    out->tls_check_hostname = u->tls_check_hostname;
    bad |= dup_opt(&out->tls_ca_certs, u->tls_ca_certs);
    bad |= dup_opt(&out->tls_certfile, u->tls_certfile);
    bad |= dup_opt(&out->tls_keyfile, u->tls_keyfile);
    if (!host) {
        bad |= dup_opt(&out->host, u->sentinels[i].host);
        out->port = u->sentinels[i].port;
        bad |= dup_opt(&out->user, u->sentinel_user);
        bad |= dup_opt(&out->password, u->sentinel_password);
    } else {
        bad |= dup_opt(&out->host, host);
        out->port = port;
        bad |= dup_opt(&out->user, u->user);
        bad |= dup_opt(&out->password, u->password);
        out->db = u->db;
        out->require_master = true;
    }
    if (bad) {
        redis_url_deinit(out);
        return INVQ_ENOMEM;
    }
    return 0;
}

int redis_url_cluster_node(const redis_url *u, const char *host, int port, redis_url *out)
{
    int rc = redis_url_node(u, 0, host, port, out);
    if (rc == 0)
        out->require_master = false; /* a startup node may be a replica: CLUSTER SLOTS says who serves what */
    return rc;
}

static size_t put_hostport(char *buf, size_t len, size_t at, const char *host, int port)
{
    bool v6 = strchr(host, ':') != NULL;
    int n = snprintf(buf + at, at < len ? len - at : 0, "%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
    return at + (n > 0 ? (size_t)n : 0);
}

void redis_url_describe(const redis_url *u, char *buf, size_t len)
{
    size_t at = 0;
    if (len == 0)
        return;
    buf[0] = '\0';
    if (u->path) {
        snprintf(buf, len, "unix:%s/%d", u->path, u->db);
        return;
    }
    if (u->master_name) {
        at = (size_t)snprintf(buf, len, "%s", u->tls ? "rediss-sentinel://" : "redis-sentinel://");
        for (size_t i = 0; i < u->nsentinels; i++) {
            if (i > 0 && at + 1 < len) {
                buf[at++] = ',';
                buf[at] = '\0';
            }
            at = put_hostport(buf, len, at, u->sentinels[i].host, u->sentinels[i].port);
        }
        if (at < len)
            snprintf(buf + at, len - at, "/%d#%s", u->db, u->master_name);
        return;
    }
    if (u->cluster) {
        at = (size_t)snprintf(buf, len, "%s", u->tls ? "rediss-cluster://" : "redis-cluster://");
        for (size_t i = 0; i < u->nnodes; i++) {
            if (i > 0 && at + 1 < len) {
                buf[at++] = ',';
                buf[at] = '\0';
            }
            at = put_hostport(buf, len, at, u->nodes[i].host, u->nodes[i].port);
        }
        return;
    }
    if (u->tls)
        at = (size_t)snprintf(buf, len, "rediss://");
    at = put_hostport(buf, len, at, u->host ? u->host : "?", u->port);
    if (at < len)
        snprintf(buf + at, len - at, "/%d", u->db);
}
