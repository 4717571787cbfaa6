/* libFuzzer harness for the codec: decodes arbitrary bytes as a job and as a
 * dead-letter record, and checks that whatever decodes re-encodes, decodes
 * again to the same thing, and survives job_rewrite_meta(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dead.h"
#include "job.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip_job(const uint8_t *data, size_t size, const invq_job *job)
{
    static const char *const errs[] = {"timeout: cache", "LOADING: cache"};
    job_meta meta = {.attempt = job->attempt + 1, .first_failed_ms = 1700000000000ull,
                     .redo_done = true, .errs = errs, .nerrs = 2};
    uint8_t *enc = NULL, *enc2 = NULL, *with = NULL, *stripped = NULL, *stripped2 = NULL;
    size_t enclen, enclen2, withlen, slen, slen2;
    invq_job *back = NULL, *meta_job = NULL;
    job_error err;

    /* A decoded job is valid, so it encodes, no larger than the input. */
    CHECK(job_encode(job, NULL, &enc, &enclen, &err) == 0);
    CHECK(enclen <= size);
    CHECK(job_decode(enc, enclen, NULL, &back, &err) == 0);
    CHECK(job_encode(back, NULL, &enc2, &enclen2, &err) == 0);
    CHECK(enclen == enclen2 && memcmp(enc, enc2, enclen) == 0);
    CHECK(back->nops == job->nops && back->ts == job->ts && strcmp(back->id, job->id) == 0);

    /* Worker fields: add them, read them back, strip them again. */
    CHECK(job_rewrite_meta(data, size, &meta, &with, &withlen) == 0);
    if (job_decode(with, withlen, NULL, &meta_job, &err) == 0) {
        CHECK(meta_job->attempt == meta.attempt && meta_job->redo_done && meta_job->nerrs == 2);
        job_free(meta_job);
    } else {
        /* Only the size limit may refuse the grown job. */
        CHECK(err.code == JOB_ETOOLARGE);
    }
    CHECK(job_rewrite_meta(data, size, NULL, &stripped, &slen) == 0);
    CHECK(job_rewrite_meta(with, withlen, NULL, &stripped2, &slen2) == 0);
    CHECK(slen == slen2 && memcmp(stripped, stripped2, slen) == 0);

    free(enc);
    free(enc2);
    free(with);
    free(stripped);
    free(stripped2);
    job_free(back);
}

static void round_trip_dead(const dead_record *rec)
{
    dead_record *back = NULL;
    uint8_t *enc = NULL;
    size_t enclen;
    job_error err;

    CHECK(dead_encode(rec, &enc, &enclen) == 0);
    CHECK(dead_decode(enc, enclen, NULL, &back, &err) == 0);
    CHECK(back->job_len == rec->job_len && memcmp(back->job, rec->job, rec->job_len) == 0);
    CHECK(back->attempts == rec->attempts && back->nerrs == rec->nerrs);
    CHECK(strcmp(back->reason, rec->reason) == 0);
    dead_free(back);
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    invq_job *job = NULL;
    dead_record *rec = NULL;
    job_error err;
    int rc;

    rc = job_decode(data, size, NULL, &job, &err);
    if (rc == 0) {
        CHECK(job != NULL);
        round_trip_job(data, size, job);
        job_free(job);
    } else {
        CHECK(job == NULL && err.code == rc && strcmp(job_err_code(rc), "unknown") != 0);
    }
    if (dead_decode(data, size, NULL, &rec, &err) == 0) {
        round_trip_dead(rec);
        dead_free(rec);
    }
    return 0;
}
