/* Unit test of the job builder: ids, str/bin keys, ops and fields as the
 * worker will decode them, limits named in errors, crc32c, strerror. */
#include <string.h>

#include <invq/invq.h>

#include "crc32c.h"
#include "job_limits.h"
#include "ptest.h"
#include "ulid.h"

static invq_job *roundtrip(const invq_job *job)
{
    job_limits lim;
    uint8_t *buf;
    size_t len;
    invq_job *out = NULL;
    job_error je;
    job_limits_default(&lim);
    CHECK_RC(job_encode_checked(job, &lim, "invq", &buf, &len, NULL, 0), 0);
    CHECK_RC(job_decode(buf, len, &lim, &out, &je), 0);
    free(buf);
    return out;
}

static void test_ids(void)
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    enum { N = 10000 };
    char (*ids)[ULID_LEN + 1] = calloc(N, sizeof(*ids));
    CHECK(ids);
    for (int i = 0; i < N; i++) {
        invq_job *j = invq_job_new();
        CHECK(j);
        CHECK(strlen(invq_job_id(j)) == ULID_LEN);
        CHECK(strspn(invq_job_id(j), alphabet) == ULID_LEN);
        memcpy(ids[i], invq_job_id(j), ULID_LEN + 1);
        invq_job_free(j);
    }
    for (int i = 1; i < N; i++) {
        CHECK(strncmp(ids[i - 1], ids[i], 10) <= 0); /* the time part never goes back */
        for (int k = 0; k < i && k < 50; k++)
            CHECK(strcmp(ids[i], ids[i - 1 - k % i]) != 0);
    }
    free(ids);

    /* Known encoding: all-zero and all-one inputs. */
    uint8_t zero[10] = { 0 }, ones[10];
    char out[ULID_LEN + 1];
    memset(ones, 0xff, sizeof(ones));
    ulid_encode(0, zero, out);
    CHECK(strcmp(out, "00000000000000000000000000") == 0);
    ulid_encode(0xffffffffffffull, ones, out);
    CHECK(strcmp(out, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ") == 0);
    ulid_encode(1469918176385ull, zero, out); /* the ULID spec's example timestamp */
    CHECK(strncmp(out, "01ARYZ6S41", 10) == 0);
}

static void test_builder(void)
{
    invq_job *j = invq_job_new();
    const char bin[] = { 'k', '\xff', '\0', 'x' };
    const void *keys[] = { "user:1", "caf\xc3\xa9", bin };
    size_t lens[] = { 6, 5, sizeof(bin) };
    const char *named[] = { "v:1", "v:2" };
    CHECK(j);
    CHECK_RC(invq_job_del(j, keys, lens, 3), 0);
    CHECK_RC(invq_job_bump(j, (const void *const *)named, NULL, 2), 0);
    CHECK_RC(invq_job_expire(j, keys, lens, 1, 30000, 10), 0);
    CHECK_RC(invq_job_expire(j, keys + 1, lens + 1, 1, 500, -1), 0);
    CHECK_RC(invq_job_set_family(j, "user"), 0);
    CHECK_RC(invq_job_set_source(j, "billing-api"), 0);
    CHECK_RC(invq_job_set_after_ms(j, 250), 0);
    CHECK_RC(invq_job_set_redo_ms(j, 1500), 0);

    invq_job *d = roundtrip(j);
    CHECK(strcmp(d->id, invq_job_id(j)) == 0);
    CHECK(d->ts == j->ts && d->ts > 1600000000000ull);
    CHECK(d->nops == 4);
    CHECK(d->ops[0].kind == JOB_OP_DEL && d->ops[0].nkeys == 3);
    CHECK(d->ops[0].keys[0].len == 6 && memcmp(d->ops[0].keys[0].data, "user:1", 6) == 0);
    CHECK(!d->ops[0].keys[0].bin && !d->ops[0].keys[1].bin); /* valid UTF-8 → str */
    CHECK(d->ops[0].keys[2].bin && d->ops[0].keys[2].len == 4); /* not UTF-8 → bin, NUL kept */
    CHECK(memcmp(d->ops[0].keys[2].data, bin, 4) == 0);
    CHECK(d->ops[1].kind == JOB_OP_BUMP && d->ops[1].nkeys == 2);
    CHECK(d->ops[2].kind == JOB_OP_EXPIRE && d->ops[2].ttl_ms == 30000 && d->ops[2].has_jitter &&
          d->ops[2].jitter_pct == 10);
    CHECK(d->ops[3].ttl_ms == 500 && !d->ops[3].has_jitter);
    CHECK(strcmp(d->fam, "user") == 0 && strcmp(d->src, "billing-api") == 0);
    CHECK(d->has_after_ms && d->after_ms == 250 && d->has_redo_ms && d->redo_ms == 1500);
    job_free(d);

    /* Invalid arguments fail without touching the job. */
    CHECK_RC(invq_job_del(j, keys, lens, 0), INVQ_EINVAL);
    CHECK_RC(invq_job_del(j, NULL, lens, 1), INVQ_EINVAL);
    CHECK_RC(invq_job_expire(j, keys, lens, 1, 0, -1), INVQ_EINVAL);
    CHECK_RC(invq_job_expire(j, keys, lens, 1, 10, 101), INVQ_EINVAL);
    CHECK(j->nops == 4);
    invq_job_free(j);
    invq_job_free(NULL);
}

static void test_limits(void)
{
    invq_options o;
    char err[512];
    invq_job *j = invq_job_new();
    invq_job *empty = invq_job_new();
    char longkey[2000];
    const void *k[] = { longkey };
    size_t kl[] = { 1025 };

    memset(longkey, 'a', sizeof(longkey));
    CHECK_RC(invq_job_validate(empty, NULL, err, sizeof(err)), INVQ_EJOB); /* no ops */
    CHECK(strstr(err, "ops") != NULL);

    CHECK_RC(invq_job_del(j, k, kl, 1), 0);
    CHECK_RC(invq_job_validate(j, NULL, err, sizeof(err)), INVQ_ELIMIT);
    CHECK(strstr(err, "1024") != NULL); /* names the key-length limit */

    invq_options_init(&o);
    o.max_key_len = 4096;
    CHECK_RC(invq_job_validate(j, &o, err, sizeof(err)), 0);

    o.max_keys = 3;
    const char *many[] = { "a", "b", "c", "d" };
    CHECK_RC(invq_job_bump(j, (const void *const *)many, NULL, 4), 0);
    CHECK_RC(invq_job_validate(j, &o, err, sizeof(err)), INVQ_ELIMIT);
    CHECK(strstr(err, "3") != NULL);

    o.max_keys = 0;
    o.max_payload = 100;
    CHECK_RC(invq_job_validate(j, &o, err, sizeof(err)), INVQ_ELIMIT);
    CHECK(strstr(err, "100") != NULL);
    invq_job_free(j);
    invq_job_free(empty);
}

/* A key under "<ns>:" is reserved for the queue: refused before anything
 * is encoded, with the op and the key in the message. */
static void test_reserved(void)
{
    invq_options o;
    char err[512];
    invq_job *j = invq_job_new();
    const char *ok[] = { "user:1", "invqx:1" };
    const char *bad[] = { "invq:{default}:dead" };
    CHECK(j);
    CHECK_RC(invq_job_del(j, (const void *const *)ok, NULL, 2), 0);
    CHECK_RC(invq_job_validate(j, NULL, err, sizeof(err)), 0);
    CHECK_RC(invq_job_bump(j, (const void *const *)bad, NULL, 1), 0);
    CHECK_RC(invq_job_validate(j, NULL, err, sizeof(err)), INVQ_EJOB);
    CHECK(strstr(err, "key_not_allowed: bump invq:{default}:dead: reserved for the queue") != NULL);
    CHECK(strstr(err, invq_job_id(j)) != NULL);
    /* the producer's own namespace decides */
    invq_options_init(&o);
    o.ns = "app";
    CHECK_RC(invq_job_validate(j, &o, err, sizeof(err)), 0);
    const char *app[] = { "app:{q}:pending" };
    CHECK_RC(invq_job_expire(j, (const void *const *)app, NULL, 1, 100, -1), 0);
    CHECK_RC(invq_job_validate(j, &o, err, sizeof(err)), INVQ_EJOB);
    CHECK(strstr(err, "key_not_allowed: expire app:{q}:pending: reserved for the queue") != NULL);
    invq_job_free(j);
}

static void test_misc(void)
{
    CHECK(crc32c("123456789", 9) == 0xe3069283u);
    CHECK(crc32c("", 0) == 0);
    for (int c = INVQ_SPOOLED; c >= INVQ_EPROTO; c--) {
        CHECK(strcmp(invq_strerror(c), "unknown invq status") != 0);
        for (int d = c - 1; d >= INVQ_EPROTO; d--)
            CHECK(strcmp(invq_strerror(c), invq_strerror(d)) != 0);
    }
    CHECK(strcmp(invq_strerror(-999), "unknown invq status") == 0);
}

int main(void)
{
    test_ids();
    test_builder();
    test_limits();
    test_reserved();
    test_misc();
    printf("job ok\n");
    return 0;
}
