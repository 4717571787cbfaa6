/* libFuzzer harness for the families parser: loads arbitrary bytes as a
 * families file. Whatever loads must be unambiguous (no two families'
 * patterns overlap), every pattern must give a glob, and keys looked up
 * (the input's own lines, and keys built from its patterns) must match back:
 * a key built from a pattern and the values a look-up extracted is the key. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "families.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A key looked up: its match must rebuild it exactly. */
static void check_key(const families *f, const uint8_t *key, size_t len)
{
    fam_match m;
    uint8_t buf[2048];
    size_t out = 0;
    const fam_family *fm = families_lookup(f, key, len, &m);
    if (!fm)
        return;
    CHECK(m.family == fm && m.nparams == m.pattern->nparams);
    fam_param p[FAM_MAX_PARAMS];
    for (size_t i = 0; i < m.nparams; i++) {
        CHECK(m.params[i].len > 0 && !memchr(m.params[i].data, ':', m.params[i].len));
        p[i] = (fam_param){m.pattern->params[i], m.params[i].data, m.params[i].len};
    }
    CHECK(families_build(m.pattern, p, m.nparams, buf, sizeof(buf), &out, NULL, 0) == 0);
    if (m.kind == FAM_KEY_VERSIONED) {
        uint8_t dk[2100];
        size_t dl = 0;
        CHECK(families_data_key(buf, out, m.version, dk, sizeof(dk), &dl) == 0);
        CHECK(dl == len && memcmp(dk, key, len) == 0);
    } else {
        CHECK(out == len && memcmp(buf, key, len) == 0);
    }
    if (fm->version_key && m.kind != FAM_KEY_VERSION) {
        fam_match vm;
        CHECK(families_version_key(&m, buf, sizeof(buf), &out) == 0);
        CHECK(families_lookup(f, buf, out, &vm) == fm && vm.kind == FAM_KEY_VERSION);
    }
}

static void check_loaded(const families *f, const uint8_t *data, size_t size)
{
    char glob[2048], w[512];
    for (size_t i = 0; i < families_count(f); i++) {
        const fam_family *a = families_get(f, i);
        CHECK(a->nkeys > 0 && a->cls != NULL);
        for (size_t k = 0; k < a->nkeys; k++) {
            CHECK(families_pattern_glob(&a->keys[k], false, glob, sizeof(glob)) >= 0);
            /* a key built from the pattern with "x" for every value is the family's */
            fam_param p[FAM_MAX_PARAMS];
            uint8_t key[1024];
            size_t len = 0;
            for (size_t j = 0; j < a->keys[k].nparams; j++)
                p[j] = (fam_param){a->keys[k].params[j], "x", 1};
            CHECK(families_build(&a->keys[k], p, a->keys[k].nparams, key, sizeof(key), &len, NULL, 0) == 0);
            CHECK(families_lookup(f, key, len, NULL) == a);
            check_key(f, key, len);
            /* no other family's pattern overlaps it */
            for (size_t o = 0; o < i; o++) {
                const fam_family *b = families_get(f, o);
                for (size_t q = 0; q < b->nkeys; q++)
                    CHECK(!families_patterns_overlap(&a->keys[k], a->version_key != NULL, &b->keys[q],
                                                     b->version_key != NULL, w, sizeof(w)) &&
                          !families_patterns_overlap(&a->keys[k], false, &b->keys[q], false, w, sizeof(w)));
            }
        }
    }
    /* every line of the input as a key */
    for (size_t b = 0; b < size;) {
        const uint8_t *nl = memchr(data + b, '\n', size - b);
        size_t e = nl ? (size_t)(nl - data) : size;
        check_key(f, data + b, e - b);
        b = e + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fam_problems p;
    families *f = NULL;
    char line[1024];
    fam_problems_init(&p);
    int rc = families_load_buffer((const char *)data, size, "fuzz.ini", NULL, &f, &p);
    CHECK((rc == 0) == (f != NULL));
    CHECK(rc != 0 || p.n == 0);
    CHECK(rc == 0 || rc == FAM_EINVALID || rc == FAM_ENOMEM);
    for (size_t i = 0; i < p.n; i++) {
        CHECK(p.v[i].line >= 0 && (i == 0 || p.v[i].line >= p.v[i - 1].line));
        fam_problem_format(&p, i, line, sizeof(line));
    }
    if (f)
        check_loaded(f, data, size);
    families_free(f);
    fam_problems_deinit(&p);
    return 0;
}
