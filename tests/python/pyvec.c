/* pyvec: the C side of the Python package's golden-vector test. It builds
 * jobs through libinvq's C API and decodes queued jobs with the codec, so the
 * test can compare a job built in Python with one built in C from the same
 * content, both decoded by the one decoder.
 *
 *   pyvec build URL QUEUE SPEC    one job per line of SPEC (JSON: name, ops
 *                                 [{op, keys: [hex...], ttl_ms, jitter_pct}],
 *                                 src, fam, after_ms, redo_ms), each sent with
 *                                 invq_send to QUEUE; prints "NAME 0" or
 *                                 "NAME <negative code>" per job
 *   pyvec decode URL QUEUE        every job on QUEUE's pending list, oldest
 *                                 first, decoded by job_decode, as one JSON
 *                                 line each (keys as hex with their bin flag) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <invq/invq.h>
#include <jansson.h>

#include "job.h"
#include "redis_sync.h"
#include "redis_url.h"

static int die(const char *what)
{
    fprintf(stderr, "pyvec: %s\n", what);
    return 70;
}

static unsigned char *unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    unsigned char *out = malloc(n + 1);
    for (size_t i = 0; out && i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (unsigned char)v;
    }
    *len = n;
    return out;
}

static int add_op(invq_job *job, json_t *op)
{
    const char *kind = json_string_value(json_object_get(op, "op"));
    json_t *keys = json_object_get(op, "keys");
    size_t n = json_array_size(keys);
    const void **k = calloc(n ? n : 1, sizeof(*k));
    size_t *lens = calloc(n ? n : 1, sizeof(*lens));
    int rc = INVQ_ENOMEM;
    for (size_t i = 0; k && lens && i < n; i++)
        k[i] = unhex(json_string_value(json_array_get(keys, i)), &lens[i]);
    if (k && lens) {
        if (strcmp(kind, "del") == 0)
            rc = invq_job_del(job, k, lens, n);
        else if (strcmp(kind, "bump") == 0)
            rc = invq_job_bump(job, k, lens, n);
        else
            rc = invq_job_expire(job, k, lens, n, (uint64_t)json_integer_value(json_object_get(op, "ttl_ms")),
                                 json_is_integer(json_object_get(op, "jitter_pct"))
                                     ? (int)json_integer_value(json_object_get(op, "jitter_pct"))
                                     : -1);
    }
    for (size_t i = 0; k && i < n; i++)
        free((void *)k[i]);
    free(k);
    free(lens);
    return rc;
}

static int build_one(invq_producer *p, json_t *spec)
{
    invq_job *job = invq_job_new();
    int rc = job ? 0 : INVQ_ENOMEM;
    json_t *ops = json_object_get(spec, "ops");
    for (size_t i = 0; rc == 0 && i < json_array_size(ops); i++)
        rc = add_op(job, json_array_get(ops, i));
    json_t *v;
    if (rc == 0 && json_is_string(v = json_object_get(spec, "fam")))
        rc = invq_job_set_family(job, json_string_value(v));
    if (rc == 0 && json_is_string(v = json_object_get(spec, "src")))
        rc = invq_job_set_source(job, json_string_value(v));
    if (rc == 0 && json_is_integer(v = json_object_get(spec, "after_ms")))
        rc = invq_job_set_after_ms(job, (uint64_t)json_integer_value(v));
    if (rc == 0 && json_is_integer(v = json_object_get(spec, "redo_ms")))
        rc = invq_job_set_redo_ms(job, (uint64_t)json_integer_value(v));
    if (rc == 0)
        rc = invq_send(p, job);
    invq_job_free(job);
    return rc;
}

static int build(const char *url, const char *queue, const char *spec_path)
{
    invq_options o;
    invq_producer *p;
    char err[512];
    invq_options_init(&o);
    o.url = url;
    o.queue = queue;
    if (invq_producer_new(&o, &p, err, sizeof(err)) < 0)
        return die(err);
    FILE *f = fopen(spec_path, "r");
    if (!f)
        return die("cannot open the spec");
    json_error_t jerr;
    int status = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *spec = json_loads(line, 0, &jerr);
        if (!spec) {
            fprintf(stderr, "pyvec: spec line %d: %s\n", jerr.line, jerr.text);
            status = 70;
            break;
        }
        int rc = build_one(p, spec);
        printf("%s %d\n", json_string_value(json_object_get(spec, "name")), rc);
        json_decref(spec);
    }
    free(line);
    fclose(f);
    invq_producer_free(p);
    return status;
}

static json_t *hex_key(const job_key *k)
{
    char *hex = malloc(2 * k->len + 1);
    for (size_t i = 0; i < k->len; i++)
        sprintf(hex + 2 * i, "%02x", k->data[i]);
    hex[2 * k->len] = '\0';
    json_t *o = json_pack("{s:s, s:b}", "hex", hex, "bin", k->bin);
    free(hex);
    return o;
}

static json_t *job_json(const invq_job *j)
{
    json_t *o = json_pack("{s:I, s:s, s:I}", "v", (json_int_t)j->v, "id", j->id, "ts", (json_int_t)j->ts);
    if (j->src)
        json_object_set_new(o, "src", json_string(j->src));
    if (j->fam)
        json_object_set_new(o, "fam", json_string(j->fam));
    if (j->has_after_ms)
        json_object_set_new(o, "after_ms", json_integer((json_int_t)j->after_ms));
    if (j->has_redo_ms)
        json_object_set_new(o, "redo_ms", json_integer((json_int_t)j->redo_ms));
    json_t *ops = json_array();
    for (size_t i = 0; i < j->nops; i++) {
        const job_op *op = &j->ops[i];
        json_t *jo = json_pack("{s:s}", "op", job_op_name(op->kind));
        json_t *keys = json_array();
        for (size_t k = 0; k < op->nkeys; k++)
            json_array_append_new(keys, hex_key(&op->keys[k]));
        json_object_set_new(jo, "keys", keys);
        if (op->kind == JOB_OP_EXPIRE)
            json_object_set_new(jo, "ttl_ms", json_integer((json_int_t)op->ttl_ms));
        if (op->has_jitter)
            json_object_set_new(jo, "jitter_pct", json_integer(op->jitter_pct));
        json_array_append_new(ops, jo);
    }
    json_object_set_new(o, "ops", ops);
    return o;
}

static int decode(const char *url, const char *queue)
{
    redis_url u;
    char err[512], key[300];
    if (redis_url_parse(url, &u, err, sizeof(err)) < 0)
        return die(err);
    redisContext *c = NULL;
    if (redis_sync_connect(&u, 5000, 5000, &c, err, sizeof(err)) < 0)
        return die(err);
    snprintf(key, sizeof(key), "invq:{%s}:pending", queue);
    redisReply *r = redisCommand(c, "LRANGE %s 0 -1", key);
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return die("LRANGE failed");
    job_limits lim;
    job_limits_default(&lim);
    for (size_t i = r->elements; i-- > 0;) { /* oldest (tail) first */
        invq_job *j;
        job_error jerr;
        const redisReply *e = r->element[i];
        if (job_decode((const uint8_t *)e->str, e->len, &lim, &j, &jerr) < 0) {
            job_error_format(&jerr, err, sizeof(err));
            printf("{\"error\": \"%s\"}\n", err);
            continue;
        }
        json_t *o = job_json(j);
        char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        printf("%s\n", s);
        free(s);
        json_decref(o);
        job_free(j);
    }
    freeReplyObject(r);
    redisFree(c);
    redis_url_deinit(&u);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "build") == 0)
        return build(argv[2], argv[3], argv[4]);
    if (argc == 4 && strcmp(argv[1], "decode") == 0)
        return decode(argv[2], argv[3]);
    fprintf(stderr, "usage: pyvec build URL QUEUE SPEC | pyvec decode URL QUEUE\n");
    return 64;
}
