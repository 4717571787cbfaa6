/* Unit tests of the families parser (schemas/families-v1.md): the example
 * file, every problem with its exact line, the INI subset both parsers read
 * the same way, overlaps and the reserved namespace, binary-safe matching,
 * look-up precedence, key building, ACL globs and audit fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "families.h"

static const char *example_path;

typedef struct want {
    int line;
    const char *sub; /* must appear in the message */
} want;

static void dump(const fam_problems *p)
{
    char buf[1024];
    for (size_t i = 0; i < p->n; i++) {
        fam_problem_format(p, i, buf, sizeof(buf));
        fprintf(stderr, "  got %s\n", buf);
    }
}

static families *load_ns(const char *text, const char *ns)
{
    fam_problems p;
    families *f = NULL;
    fam_load_opts o = {ns};
    fam_problems_init(&p);
    int rc = families_load_buffer(text, strlen(text), "t.ini", &o, &f, &p);
    if (rc != 0)
        dump(&p);
    assert_int_equal(rc, 0);
    assert_int_equal(p.n, 0);
    fam_problems_deinit(&p);
    return f;
}

static families *load(const char *text)
{
    return load_ns(text, NULL);
}

/* The file must fail with exactly these problems, in this order. */
static void expect_ns(const char *text, size_t len, const char *ns, const want *w, size_t n)
{
    fam_problems p;
    families *f = (families *)1;
    fam_load_opts o = {ns};
    fam_problems_init(&p);
    int rc = families_load_buffer(text, len, "t.ini", &o, &f, &p);
    bool ok = rc == FAM_EINVALID && f == NULL && p.n == n;
    for (size_t i = 0; ok && i < n; i++)
        ok = p.v[i].line == w[i].line && strstr(p.v[i].msg, w[i].sub) != NULL;
    if (!ok) {
        fprintf(stderr, "rc %d, %zu problems, expected:\n", rc, p.n);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "  want t.ini:%d: ...%s...\n", w[i].line, w[i].sub);
        dump(&p);
    }
    assert_true(ok);
    fam_problems_deinit(&p);
}

#define EXPECT(text, ...)                                                    \
    do {                                                                     \
        static const want w_[] = {__VA_ARGS__};                              \
        expect_ns(text, strlen(text), NULL, w_, sizeof(w_) / sizeof(w_[0])); \
    } while (0)

static const char *const base = "[class c]\nttl = 1m\n"; /* lines 1-2 */

static char *with_base(const char *rest)
{
    size_t n = strlen(base) + strlen(rest) + 1;
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, "%s%s", base, rest);
    return s;
}

static const fam_family *lookup(const families *f, const char *key, fam_match *m)
{
    return families_lookup(f, key, strlen(key), m);
}

/* ---------------------------------------------------------- the example */

static void test_example(void **state)
{
    (void)state;
    fam_problems p;
    families *f = NULL;
    fam_problems_init(&p);
    int rc = families_load(example_path, NULL, &f, &p);
    if (rc)
        dump(&p);
    assert_int_equal(rc, 0);
    fam_problems_deinit(&p);
    assert_int_equal(families_class_count(f), 3);
    assert_int_equal(families_count(f), 4);
    assert_string_equal(families_ns(f), "invq");

    const fam_class *crit = families_class_find(f, "critical");
    assert_non_null(crit);
    assert_int_equal(crit->ttl_ms, 30000);
    assert_int_equal(crit->jitter_pct, 10);
    assert_int_equal(crit->negative_ttl_ms, 2000);
    assert_int_equal(crit->lease_ttl_ms, 2000);
    const fam_class *rel = families_class_find(f, "relaxed");
    assert_int_equal(rel->ttl_ms, 3600000);
    assert_int_equal(rel->negative_ttl_ms, 0);
    assert_int_equal(rel->lease_ttl_ms, FAM_DEFAULT_LEASE_TTL_MS);

    const fam_family *u = families_find(f, "user");
    assert_non_null(u);
    assert_int_equal(u->index, 0);
    assert_int_equal(u->nkeys, 3);
    assert_string_equal(u->keys[1].text, "user:{id}:profile");
    assert_int_equal(u->keys[0].line, 44);
    assert_int_equal(u->keys[1].line, 45);
    assert_int_equal(u->keys[2].line, 46);
    assert_non_null(u->version_key);
    assert_string_equal(u->version_key->text, "ver:user:{id}");
    assert_string_equal(u->cls->name, "standard");
    assert_int_equal(u->ops, FAM_OP_BIT(FAM_OP_DEL) | FAM_OP_BIT(FAM_OP_BUMP));
    assert_int_equal(u->mode, FAM_MODE_ENFORCE);
    assert_int_equal(u->rate_keys, 50000);
    assert_int_equal(u->rate_period_ms, 1000);
    assert_int_equal(u->source_kind, FAM_SOURCE_POSTGRES);
    assert_int_equal(u->naudit_params, 1);
    assert_string_equal(u->audit_params[0].name, "id");
    assert_memory_equal(u->audit_query + u->audit_params[0].offset, ":id", 3);

    const fam_family *pr = families_find(f, "price");
    assert_int_equal(pr->source_kind, FAM_SOURCE_SQLITE);
    assert_string_equal(pr->source_path, "/var/lib/shop/prices.db");
    assert_string_equal(pr->audit_query, "SELECT amount FROM prices\nWHERE sku = :sku AND currency = :currency");
    assert_int_equal(pr->naudit_params, 2);
    assert_string_equal(pr->audit_params[1].name, "currency");
    assert_int_equal(pr->audit_params[1].placeholder, 1);
    assert_null(pr->version_key);
    assert_int_equal(families_find(f, "stock")->mode, FAM_MODE_SHADOW);
    assert_int_equal(families_find(f, "recs")->mode, FAM_MODE_OFF);
    assert_null(families_find(f, "nope"));

    fam_match m;
    assert_ptr_equal(lookup(f, "{price:SKU-1}:eur", &m), pr);
    assert_int_equal(m.nparams, 2);
    assert_memory_equal(m.params[0].data, "SKU-1", 5);
    assert_memory_equal(m.params[1].data, "eur", 3);
    assert_ptr_equal(lookup(f, "user:42:settings:v3", &m), u);
    assert_int_equal(m.kind, FAM_KEY_VERSIONED);
    assert_int_equal(m.pattern_index, 2);
    assert_int_equal(m.version, 3);
    families_free(f);
}

/* ------------------------------------------------- the INI subset (§2.1) */

static void test_line_rules(void **state)
{
    (void)state;
    /* CR LF, comments (also indented and inside a value), continuation lines */
    families *f = load("; comment\r\n# another\r\n[class c]\r\nttl = 1m\r\n\r\n[family a]\r\n"
                       "keys = a:{id},\r\n  # a comment between value lines\r\n\ta:{id}:x\r\nclass=c\r\n"
                       "description = one\r\n   two\r\n");
    const fam_family *a = families_find(f, "a");
    assert_int_equal(a->nkeys, 2);
    assert_int_equal(a->keys[1].line, 9);
    assert_string_equal(a->description, "one\ntwo");
    families_free(f);

    EXPECT("\xef\xbb\xbf[class c]\nttl = 1m\n[family a]\nkeys = a\nclass = c\n", {1, "byte order mark"});
    EXPECT("[class c]\nttl = 1m\r\r\n[family a]\nkeys = a\nclass = c\n", {2, "carriage return"});
    static const char nul[] = "[class c]\nttl = 1m\n[family a]\nkeys = a\0b\nclass = c\n";
    static const want wnul[] = {{4, "NUL byte"}};
    expect_ns(nul, sizeof(nul) - 1, NULL, wnul, 1);
    EXPECT("[class c]\nttl = 1m\x01\n[family a]\nkeys = a\nclass = c\n", {2, "control character 0x01"});
    EXPECT("[class c]\nttl = 1m\n[family a]\nkeys = a\xff\nclass = c\n", {4, "not valid UTF-8"});
    EXPECT("[class c]\nttl = 1m\n[family a]\nkeys = a\xc0\xaf\nclass = c\n", {4, "not valid UTF-8"});

    /* 198 bytes pass, 199 do not */
    char line[256], text[512];
    memset(line, 'x', sizeof(line));
    memcpy(line, "description = ", 14);
    line[198] = '\0';
    snprintf(text, sizeof(text), "[class c]\nttl = 1m\n%s\n[family a]\nkeys = a\nclass = c\n", line);
    families_free(load(text));
    line[198] = 'x';
    line[199] = '\0';
    snprintf(text, sizeof(text), "[class c]\nttl = 1m\n%s\n[family a]\nkeys = a\nclass = c\n", line);
    EXPECT(text, {3, "line is 199 bytes, the limit is 198"});

    char *t = with_base("[family a]\nkeys = a\nclass = c\nowner = x ; y\n");
    EXPECT(t, {6, "';' after a blank at column 11"});
    free(t);
    t = with_base("[family a]\nkeys = a\nclass = c\nowner = x;y\n"); /* no blank before ';': text */
    f = load(t);
    assert_string_equal(families_find(f, "a")->owner, "x;y");
    families_free(f);
    free(t);
    t = with_base("[family a]\nkeys: a\nclass = c\n");
    EXPECT(t, {4, "use '=' between"});
    free(t);
    t = with_base("[family a]\nKeys = a\nclass = c\n");
    EXPECT(t, {4, "field name 'Keys' must be lowercase"});
    free(t);
    t = with_base("[family a]\n  keys = a\nclass = c\n");
    EXPECT(t, {4, "indented line continues no field"});
    free(t);
    t = with_base("[family a]\nkeys = a,\n\n  b\nclass = c\n");
    EXPECT(t, {6, "a blank line separates this line from the field above it (line 4)"});
    free(t);
    t = with_base("[family a]\nkeys = a\nclass = c\nclass = c\n");
    EXPECT(t, {6, "field 'class' is given twice in [family a] (first on line 5)"});
    free(t);
    t = with_base("[family a]\nkeys = a\nclass = c\n[family a]\nkeys = b\n");
    EXPECT(t, {6, "[family a] is defined twice (first on line 3)"});
    free(t);
    t = with_base("[DEFAULT]\nttl = 1s\n[family a]\nkeys = a\nclass = c\n");
    EXPECT(t, {3, "[DEFAULT] is not allowed"});
    free(t);
    t = with_base("[group x]\n[family a] x\n[family a\n[family b c]\n[family -a]\n");
    EXPECT(t, {0, "defines no [family]"}, {3, "unknown section [group x]"},
           {4, "text after the section header's ']'"}, {5, "section header without ']'"},
           {6, "family name 'b c' must be"}, {7, "family name '-a' must be"});
    free(t);
    t = with_base("[family a]\nkeys = a\nclass = c\nowner =\nmode = shadow\nrate\n");
    EXPECT(t, {6, "field 'owner' has an empty value"}, {8, "expected 'name = value'"});
    free(t);
    EXPECT("ttl = 1s\n[class c]\nttl = 1m\n[family a]\nkeys = a\nclass = c\n",
           {1, "field 'ttl' comes before any [class] or [family] header"});
    EXPECT("# nothing\n", {0, "defines no [family]"});
    t = with_base("[family a]\nkeys = a\nclass = c\nkind = x\n");
    EXPECT(t, {6, "unknown field 'kind' in [family a] (known: keys, version_key, class"});
    free(t);
}

/* ------------------------------------------------------ values (§2.3-§4) */

static void test_values(void **state)
{
    (void)state;
    families *f = load("[class c]\nttl = 250ms\njitter = 0%\nnegative_ttl = 7d\nlease_ttl = 12h\n"
                       "[family a]\nkeys = a\nclass = c\nops = expire ,del\nmode = off\nrate = 600/m\n");
    const fam_class *c = families_class_find(f, "c");
    assert_int_equal(c->ttl_ms, 250);
    assert_int_equal(c->negative_ttl_ms, 7 * 86400000ull);
    assert_int_equal(c->lease_ttl_ms, 12 * 3600000ull);
    const fam_family *a = families_find(f, "a");
    assert_int_equal(a->ops, FAM_OP_BIT(FAM_OP_DEL) | FAM_OP_BIT(FAM_OP_EXPIRE));
    assert_int_equal(a->mode, FAM_MODE_OFF);
    assert_int_equal(a->rate_keys, 600);
    assert_int_equal(a->rate_period_ms, 60000);
    families_free(f);
    f = load("[class c]\nttl = 1m\n[family a]\nkeys = a\nclass = c\n");
    a = families_find(f, "a");
    assert_int_equal(a->ops, FAM_OPS_ALL);
    assert_int_equal(a->mode, FAM_MODE_ENFORCE);
    assert_int_equal(a->rate_keys, 0);
    assert_int_equal(families_class_find(f, "c")->jitter_pct, 0);
    families_free(f);

    EXPECT("[class c]\nttl = 5\njitter = 101%\nnegative_ttl = 0s\nlease_ttl = 1.5s\n"
           "[class d]\ndescription = no ttl\n"
           "[family a]\nkeys = a\nclass = nope\nops = del, del\nmode = Enforce\nrate = 0/s\n"
           "[family b]\nkeys = b\nops = del,,bump\nrate = 5/d\n",
           {2, "ttl: \"5\" is not a duration"}, {3, "jitter: \"101%\" is over 100%"},
           {4, "negative_ttl: \"0s\" is out of range"}, {5, "lease_ttl: \"1.5s\" is not a duration"},
           {6, "[class d] has no 'ttl'"}, {10, "class: there is no [class nope]"}, {11, "ops: 'del' is listed twice"},
           {12, "mode: \"Enforce\" is not a mode"}, {13, "rate: \"0/s\" is out of range"},
           {14, "[family b] has no 'class'"}, {16, "ops: empty item"}, {17, "rate: \"5/d\" is not a rate"});
    EXPECT("[class c]\nttl = 3651d\n[family a]\nkeys = a\nclass = c\nops = zap\n",
           {2, "out of range (1ms .. 3650d)"}, {6, "unknown op 'zap'"});
}

/* ---------------------------------------------------------- patterns (§5) */

static void test_pattern_syntax(void **state)
{
    (void)state;
    char *t = with_base("[family a]\nkeys = a:{id,\n  b:{1x},\n  c:{x}{y},\n  d:}x,\n  e:*,\n  f:{id}:{id},\n"
                        "  g:{{{n}}},\n  ,\n  g:{{{n}}}\nclass = c\n");
    EXPECT(t, {4, "pattern 'a:{id': '{' at byte 3 starts no placeholder"},
           {5, "pattern 'b:{1x}': '{' at byte 3 starts no placeholder"},
           {6, "pattern 'c:{x}{y}': two placeholders in one segment"},
           {7, "pattern 'd:}x': '}' at byte 3 closes no placeholder"}, {8, "pattern 'e:*': '*' is not allowed"},
           {9, "pattern 'f:{id}:{id}': placeholder {id} appears twice"}, {11, "keys: empty item"},
           {12, "pattern 'g:{{{n}}}' is listed twice (line 10)"});
    free(t);
    t = with_base("[family a]\nkeys = a:{x}\nversion_key = v:{y}\nclass = c\n");
    EXPECT(t, {5, "version_key: placeholder {y} is not in pattern 'a:{x}' (line 4)"});
    free(t);
    t = with_base("[family a]\nkeys = a:{x}, a:{x}:b\nversion_key = a:{x}:v{n}\nclass = c\n");
    EXPECT(t, {5, "version_key: placeholder {n} is not in pattern 'a:{x}'"},
           {5, "version_key: placeholder {n} is not in pattern 'a:{x}:b'"},
           {5, "version_key 'a:{x}:v{n}' claims keys that data keys 'a:{x}:v<N>' (line 4) also claims, e.g. 'a:x:v0'"});
    free(t);
}

static families *one(const char *keys, const char *version_key)
{
    char text[1024];
    snprintf(text, sizeof(text), "[class c]\nttl = 1m\n[family f]\nkeys = %s\nclass = c\n%s%s%s", keys,
             version_key ? "version_key = " : "", version_key ? version_key : "", version_key ? "\n" : "");
    return load(text);
}

static bool matches(const families *f, const void *key, size_t len)
{
    return families_lookup(f, key, len, NULL) != NULL;
}

static void test_matching(void **state)
{
    (void)state;
    fam_match m;
    families *f = one("user:{id}, s:x{a}y:{b}, a::b, e:, {{h:{id}}}:p", NULL);
    /* placeholders take any bytes but ':', NUL and 0xff included */
    static const uint8_t bin[] = {'u', 's', 'e', 'r', ':', 0x00, 0xff, 0x7f, '{', '}'};
    assert_non_null(families_lookup(f, bin, sizeof(bin), &m));
    assert_int_equal(m.params[0].len, 5);
    assert_memory_equal(m.params[0].data, bin + 5, 5);
    assert_true(matches(f, "user:42", 7));
    assert_false(matches(f, "user:42:profile", 15)); /* an extra segment */
    assert_false(matches(f, "user", 4));             /* a missing one */
    assert_false(matches(f, "user:", 5));            /* an empty segment fills no placeholder */
    assert_false(matches(f, "User:42", 7));          /* bytes compare exactly */
    static const uint8_t nulkey[] = {'u', 's', 'e', 'r', 0x00, ':', '1'};
    assert_false(matches(f, nulkey, sizeof(nulkey)));
    /* a literal prefix and suffix around a placeholder */
    assert_non_null(families_lookup(f, "s:xQy:1", 7, &m));
    assert_int_equal(m.pattern_index, 1);
    assert_int_equal(m.params[0].len, 1);
    assert_memory_equal(m.params[0].data, "Q", 1);
    assert_false(matches(f, "s:xy:1", 6)); /* empty between prefix and suffix */
    assert_false(matches(f, "s:xQ:1", 6));
    assert_true(matches(f, "s:xyyy:1", 8)); /* "yy" between "x" and "y" */
    /* empty literal segments */
    assert_true(matches(f, "a::b", 4));
    assert_false(matches(f, "a:b", 3));
    assert_false(matches(f, "a:::b", 5));
    assert_true(matches(f, "e:", 2));
    assert_false(matches(f, "e", 1));
    /* hash tags */
    assert_non_null(families_lookup(f, "{h:9}:p", 7, &m));
    assert_int_equal(m.params[0].len, 1);
    assert_false(matches(f, "{h:}:p", 6));
    assert_false(matches(f, "h:9:p", 5));
    assert_false(matches(f, NULL, 0));
    assert_false(matches(f, "", 0));
    families_free(f);

    /* data keys of a versioned family */
    f = one("u:{id}, c", "ver");
    struct { const char *key; int kind; int64_t version; } cases[] = {
        {"u:1", FAM_KEY_PLAIN, 0},
        {"u:1:v0", FAM_KEY_VERSIONED, 0},
        {"u:1:v17", FAM_KEY_VERSIONED, 17},
        {"u:1:v9223372036854775807", FAM_KEY_VERSIONED, INT64_MAX},
        {"u:1:v-3", FAM_KEY_VERSIONED, -3},
        {"u:1:v-9223372036854775808", FAM_KEY_VERSIONED, INT64_MIN},
        {"u:1:v-9223372036854775809", -1, 0},
        {"u:1:v-0", -1, 0},
        {"u:1:v-", -1, 0},
        {"u:1:v-01", -1, 0},
        {"ver", FAM_KEY_VERSION, 0},
        {"ver:1", -1, 0},
        {"c", FAM_KEY_PLAIN, 0},
        {"c:v2", FAM_KEY_VERSIONED, 2},
        {"u:1:v01", -1, 0},
        {"u:1:v", -1, 0},
        {"u:1:v9223372036854775808", -1, 0},
        {"u:1:v1x", -1, 0},
        {"u:1:V1", -1, 0},
        {"u:1:v1:v1", -1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const fam_family *got = lookup(f, cases[i].key, &m);
        if ((got != NULL) != (cases[i].kind >= 0) || (got && (int)m.kind != cases[i].kind) ||
            (got && m.version != cases[i].version))
            fail_msg("%s: family %p kind %d version %lld", cases[i].key, (void *)got, got ? (int)m.kind : -1,
                     got ? (long long)m.version : 0ll);
    }
    families_free(f);
}

static void test_lookup_precedence(void **state)
{
    (void)state;
    fam_match m;
    /* within a family the first listed pattern wins; data keys come after */
    families *f = load("[class c]\nttl = 1m\n"
                       "[family a]\nkeys = a:{id}:{y}, a:{id}:v{n}, a:{id}\nversion_key = av:{id}\nclass = c\n"
                       "[family b]\nkeys = b{x}:z, bb:{y}\nclass = c\n"
                       "[family q]\nkeys = q{x}:{y}, qq:k\nclass = c\n");
    assert_non_null(lookup(f, "a:1:v2", &m));
    assert_int_equal(m.kind, FAM_KEY_PLAIN);
    assert_int_equal(m.pattern_index, 0);
    assert_non_null(lookup(f, "a:1:v2:v3", &m));
    assert_int_equal(m.kind, FAM_KEY_VERSIONED);
    assert_int_equal(m.pattern_index, 0);
    assert_int_equal(m.version, 3);
    assert_non_null(lookup(f, "a:1", &m));
    assert_int_equal(m.pattern_index, 2);
    /* first segments with a placeholder (the fallback list) and literal ones */
    assert_string_equal(lookup(f, "bQ:z", &m)->name, "b");
    assert_string_equal(lookup(f, "bb:z", &m)->name, "b"); /* b{x}:z with x = "b" */
    assert_int_equal(m.pattern_index, 0);
    assert_string_equal(lookup(f, "bb:y", &m)->name, "b");
    assert_int_equal(m.pattern_index, 1);
    assert_string_equal(lookup(f, "qq:k", &m)->name, "q");
    assert_int_equal(m.pattern_index, 0); /* q{x}:{y} is listed first */
    assert_null(lookup(f, "q:k", &m));
    families_free(f);
}

/* ------------------------------------------- overlap and reserved (§7) */

static void test_overlaps(void **state)
{
    (void)state;
    EXPECT("[class c]\nttl = 1m\n"
           "[family a]\nkeys = user:{id}, cart:{id}\nclass = c\n"
           "[family b]\nkeys = x:{k},\n  user:{name}\nclass = c\n",
           {8, "family 'b' pattern 'user:{name}' overlaps family 'a' pattern 'user:{id}' (line 4): both claim 'user:x'"});
    EXPECT("[class c]\nttl = 1m\n"
           "[family a]\nkeys = item:{id}\nversion_key = ver:{id}\nclass = c\n"
           "[family b]\nkeys = item:{id}:{f}\nclass = c\n"
           "[family d]\nkeys = ver:42\nclass = c\n"
           "[family e]\nkeys = it{x}:1:v9\nclass = c\n",
           {8, "family 'b' pattern 'item:{id}:{f}' overlaps family 'a' data keys 'item:{id}:v<N>' (line 4): both "
               "claim 'item:x:v1'"},
           {11, "family 'd' pattern 'ver:42' overlaps family 'a' version_key 'ver:{id}' (line 5): both claim 'ver:42'"},
           {14, "family 'e' pattern 'it{x}:1:v9' overlaps family 'a' data keys 'item:{id}:v<N>' (line 4): both claim "
                "'item:1:v9'"},
           {14, "family 'e' pattern 'it{x}:1:v9' overlaps family 'b' pattern 'item:{id}:{f}' (line 8)"});
    EXPECT("[class c]\nttl = 1m\n"
           "[family a]\nkeys = {{t:{id}}}:p\nclass = c\n"
           "[family b]\nkeys = {{t:1}}:{x}\nclass = c\n"
           "[family d]\nkeys = s:a{x}, s:{y}b\nclass = c\n"
           "[family e]\nkeys = s:ab\nclass = c\n",
           {7, "family 'b' pattern '{{t:1}}:{x}' overlaps family 'a' pattern '{{t:{id}}}:p' (line 4): both claim "
               "'{t:1}:p'"},
           {13, "family 'e' pattern 's:ab' overlaps family 'd' pattern 's:a{x}' (line 10)"},
           {13, "family 'e' pattern 's:ab' overlaps family 'd' pattern 's:{y}b' (line 10)"});
}

static void test_no_overlap(void **state)
{
    (void)state;
    /* near misses: segment counts, literals, affixes, empty placeholders, versions */
    families *f = load("[class c]\nttl = 1m\n"
                       "[family a]\nkeys = user:{id}\nversion_key = ver:user:{id}\nclass = c\n"
                       "[family b]\nkeys = user:{id}:{f}:{g}, users:{id}, s:y{a}\nclass = c\n"
                       "[family d]\nkeys = user:{id}:vx, user:{id}:v01, user:{id}:v, s:x\nclass = c\n"
                       "[family e]\nkeys = ver:user, ver:user:{a}:b, s:x{a}\nclass = c\n");
    assert_int_equal(families_count(f), 4);
    families_free(f);
}

static void test_overlap_function(void **state)
{
    (void)state;
    families *f = load("[class c]\nttl = 1m\n"
                       "[family a]\nkeys = p:{x}, p:q{y}, p:{z}:v{w}, p:{z}:v1, p:{z}:vv, p:{z}:{u}0, p:{z}:v-{n}, p:{z}:v-0\n"
                       "class = c\n");
    const fam_family *a = families_find(f, "a");
    char w[128];
    assert_true(families_patterns_overlap(&a->keys[0], false, &a->keys[1], false, w, sizeof(w)));
    assert_string_equal(w, "p:qx");
    assert_true(families_patterns_overlap(&a->keys[0], true, &a->keys[2], false, w, sizeof(w)));
    assert_true(families_patterns_overlap(&a->keys[0], true, &a->keys[3], false, w, sizeof(w)));
    assert_string_equal(w, "p:x:v1");
    assert_false(families_patterns_overlap(&a->keys[0], true, &a->keys[4], false, w, sizeof(w)));
    assert_true(families_patterns_overlap(&a->keys[0], true, &a->keys[5], false, w, sizeof(w)));
    assert_string_equal(w, "p:x:v0");
    assert_false(families_patterns_overlap(&a->keys[0], false, &a->keys[5], false, NULL, 0));
    assert_true(families_patterns_overlap(&a->keys[0], true, &a->keys[6], false, w, sizeof(w)));
    assert_string_equal(w, "p:x:v-1");
    assert_false(families_patterns_overlap(&a->keys[0], true, &a->keys[7], false, w, sizeof(w)));
    /* every witness is a key both sides claim */
    for (size_t i = 0; i < a->nkeys; i++)
        for (size_t j = 0; j < a->nkeys; j++)
            for (int vi = 0; vi < 2; vi++)
                for (int vj = 0; vj < 2; vj++)
                    if (families_patterns_overlap(&a->keys[i], vi, &a->keys[j], vj, w, sizeof(w))) {
                        char text[512];
                        snprintf(text, sizeof(text), "[class c]\nttl = 1m\n[family a]\nkeys = %s\nclass = c\n%s",
                                 a->keys[i].text, vi ? "version_key = zz\n" : "");
                        families *fi = load(text);
                        snprintf(text, sizeof(text), "[class c]\nttl = 1m\n[family a]\nkeys = %s\nclass = c\n%s",
                                 a->keys[j].text, vj ? "version_key = zz\n" : "");
                        families *fj = load(text);
                        fam_match mi, mj;
                        bool ok = families_lookup(fi, w, strlen(w), &mi) && families_lookup(fj, w, strlen(w), &mj) &&
                                  (mi.kind == FAM_KEY_VERSIONED) == (vi == 1) &&
                                  (mj.kind == FAM_KEY_VERSIONED) == (vj == 1);
                        if (!ok)
                            fail_msg("witness %s of %s/%d and %s/%d", w, a->keys[i].text, vi, a->keys[j].text, vj);
                        families_free(fi);
                        families_free(fj);
                    }
    families_free(f);
}

static void test_reserved(void **state)
{
    (void)state;
    EXPECT("[class c]\nttl = 1m\n"
           "[family a]\nkeys = invq:x, {t}:x, i{x}:y, invq{x}, invq:{q}\nclass = c\n"
           "[family b]\nkeys = invq\nversion_key = iv\nclass = c\n"
           "[family d]\nkeys = dd:{x}\nversion_key = inv{x}\nclass = c\n",
           {4, "pattern 'invq:x': keys under 'invq:' are reserved for the queue"},
           {4, "pattern '{t}:x' begins with a placeholder, which does not rule out keys under the queue's reserved "
               "'invq:'"},
           {4, "pattern 'i{x}:y' begins with 'i', which does not rule out"},
           {4, "pattern 'invq{x}' begins with 'invq', which does not rule out"},
           {4, "pattern 'invq:{q}': keys under 'invq:' are reserved"},
           {7, "data keys 'invq:v<N>': keys under 'invq:' are reserved"},
           {12, "version_key 'inv{x}' begins with 'inv', which"});
    /* what stays allowed: literals that diverge, and the bare word */
    families *f = load("[class c]\nttl = 1m\n[family a]\nkeys = invq, invqx{x}, inv, io{x}, invq_{x}:y\nclass = c\n");
    families_free(f);
    /* the namespace is the loader's */
    f = load_ns("[class c]\nttl = 1m\n[family a]\nkeys = invq:{x}\nclass = c\n", "ops");
    assert_string_equal(families_ns(f), "ops");
    families_free(f);
    static const want w[] = {{4, "keys under 'ops:' are reserved"}};
    static const char t[] = "[class c]\nttl = 1m\n[family a]\nkeys = ops:{x}\nclass = c\n";
    expect_ns(t, strlen(t), "ops", w, 1);
}

/* --------------------------------------------------------------- building */

static void test_build(void **state)
{
    (void)state;
    families *f = one("{{c:{id}}}:p:{lang}, u:{id}", "ver:{id}");
    const fam_family *fm = families_find(f, "f");
    char buf[64], err[256];
    size_t len = 0;
    static const uint8_t bin[] = {0x00, 0xff};
    fam_param p[] = {{"lang", "en", 2}, {"id", bin, 2}};
    assert_int_equal(families_build(&fm->keys[0], p, 2, buf, sizeof(buf), &len, err, sizeof(err)), 0);
    assert_int_equal(len, 11);
    assert_memory_equal(buf, "{c:\x00\xff}:p:en", 11);
    /* and the key built matches back with the same values */
    fam_match m;
    assert_ptr_equal(families_lookup(f, buf, len, &m), fm);
    assert_int_equal(m.params[0].len, 2);
    assert_memory_equal(m.params[0].data, bin, 2);
    /* the version key of a key (m's values point into buf: build elsewhere) */
    char vbuf[64];
    assert_int_equal(families_version_key(&m, vbuf, sizeof(vbuf), &len), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(vbuf, "ver:\x00\xff", 6);
    assert_int_equal(families_version_key(&m, vbuf, 3, &len), FAM_ESPACE);
    assert_int_equal(len, 6);
    assert_non_null(lookup(f, "ver:1", &m));
    assert_int_equal(families_version_key(&m, buf, sizeof(buf), &len), FAM_ENOTFOUND);
    assert_int_equal(families_data_key("u:1", 3, 17, buf, sizeof(buf), &len), 0);
    assert_int_equal(len, 7);
    assert_memory_equal(buf, "u:1:v17", 7);
    assert_int_equal(families_data_key("u:1", 3, 17, buf, 6, &len), FAM_ESPACE);
    assert_int_equal(families_data_key("u:1", 3, -2, buf, sizeof(buf), &len), 0);
    assert_int_equal(len, 7);
    assert_memory_equal(buf, "u:1:v-2", 7);

    struct { fam_param p[3]; size_t n; const char *msg; } bad[] = {
        {{{"id", "1", 1}}, 1, "no value for {lang}"},
        {{{"id", "1", 1}, {"lang", "en", 2}, {"x", "1", 1}}, 3, "has no placeholder {x}"},
        {{{"id", "1", 1}, {"id", "2", 1}}, 2, "{id} is given twice"},
        {{{"id", "", 0}, {"lang", "en", 2}}, 2, "the value of {id} is empty"},
        {{{"id", "1:2", 3}, {"lang", "en", 2}}, 2, "the value of {id} contains ':'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(families_build(&fm->keys[0], bad[i].p, bad[i].n, buf, sizeof(buf), &len, err, sizeof(err)),
                         FAM_EPARAM);
        if (!strstr(err, bad[i].msg))
            fail_msg("case %zu: %s", i, err);
    }
    assert_int_equal(families_build(&fm->keys[0], p, 2, buf, 5, &len, err, sizeof(err)), FAM_ESPACE);
    assert_int_equal(len, 11);
    families_free(f);
}

static void test_globs(void **state)
{
    (void)state;
    families *f = one("user:{id}:profile, s:x{a}y:z, lit:eral, {{t:{id}}}", "ver");
    const fam_family *fm = families_find(f, "f");
    char g[64];
    struct { size_t i; bool v; const char *glob; } cases[] = {
        {0, false, "user:*:profile"}, {0, true, "user:*:profile:v*"}, {1, false, "s:x*y:z"},
        {2, false, "lit:eral"},       {2, true, "lit:eral:v*"},       {3, false, "{t:*}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = families_pattern_glob(&fm->keys[cases[i].i], cases[i].v, g, sizeof(g));
        assert_int_equal(n, (int)strlen(cases[i].glob));
        assert_string_equal(g, cases[i].glob);
    }
    assert_int_equal(families_pattern_glob(&fm->keys[0], false, g, 5), FAM_ESPACE);
    families_free(f);
}

/* ------------------------------------------------------------- ops (§7) */

static void test_ops_allowed(void **state)
{
    (void)state;
    families *f = load("[class c]\nttl = 1m\n[family a]\nkeys = a:{id}\nversion_key = av:{id}\nclass = c\n"
                       "ops = del, bump\n");
    fam_match m;
    assert_non_null(lookup(f, "a:1", &m));
    assert_true(families_op_allowed(&m, FAM_OP_DEL));
    assert_true(families_op_allowed(&m, FAM_OP_BUMP));
    assert_false(families_op_allowed(&m, FAM_OP_EXPIRE));
    assert_false(families_op_allowed(&m, 9));
    assert_non_null(lookup(f, "av:1", &m));
    assert_false(families_op_allowed(&m, FAM_OP_DEL)); /* version keys: bump only */
    assert_true(families_op_allowed(&m, FAM_OP_BUMP));
    assert_int_equal(families_key_ops(&m), FAM_OP_BIT(FAM_OP_BUMP));
    assert_non_null(lookup(f, "a:1:v3", &m));
    assert_int_equal(families_key_ops(&m), FAM_OP_BIT(FAM_OP_DEL) | FAM_OP_BIT(FAM_OP_BUMP));
    char buf[64];
    assert_string_equal(families_ops_text(FAM_OPS_ALL, buf, sizeof(buf)), "del, bump, expire");
    assert_string_equal(families_ops_text(0, buf, sizeof(buf)), "none");
    assert_string_equal(families_duration_text(90000, buf, sizeof(buf)), "90s");
    assert_string_equal(families_duration_text(250, buf, sizeof(buf)), "250ms");
    assert_string_equal(families_duration_text(7200000, buf, sizeof(buf)), "2h");
    families_free(f);
}

/* ---------------------------------------------------------- audit (§9) */

static void test_audit(void **state)
{
    (void)state;
    families *f = load("[class c]\nttl = 1m\n[family a]\nkeys = a:{id}:{lang}, b:{lang}:{id}\nclass = c\n"
                       "source = host=/run/pg dbname='my db' user=audit\n"
                       "audit_query = SELECT x::text, ':no', \"c:no\" /* :no */ FROM t -- :no\n"
                       "    WHERE id = :id AND l = :lang AND a[1:2] = :id\n");
    const fam_family *a = families_find(f, "a");
    assert_int_equal(a->source_kind, FAM_SOURCE_POSTGRES);
    assert_null(a->source_path);
    assert_int_equal(a->naudit_params, 3);
    assert_string_equal(a->audit_params[0].name, "id");
    assert_string_equal(a->audit_params[1].name, "lang");
    assert_int_equal(a->audit_params[1].placeholder, 1);
    assert_string_equal(a->audit_params[2].name, "id");
    assert_memory_equal(a->audit_query + a->audit_params[1].offset, ":lang", a->audit_params[1].len);
    families_free(f);
    f = load("[class c]\nttl = 1m\n[family a]\nkeys = a:{id}\nclass = c\nsource = postgres://u@h/db?sslmode=require\n"
             "audit_query = SELECT v FROM t WHERE id=:id\n");
    families_free(f);

    EXPECT("[class c]\nttl = 1m\n"
           "[family a]\nkeys = a:{id}, b:{id}:{x}\nclass = c\nsource = sqlite://rel.db\naudit_query = SELECT 1\n"
           "[family b]\nkeys = b\nclass = c\nsource = mysql://h/db\n"
           "[family d]\nkeys = d:{id}\nclass = c\naudit_query = SELECT v FROM t WHERE id = :id\n"
           "[family e]\nkeys = e:{id}, e:{id}:{x}\nclass = c\nsource = sqlite:///x.db\n"
           "audit_query = SELECT v FROM t WHERE id = :id\n  AND x = :x\n"
           "[family g]\nkeys = g:{id}\nclass = c\nsource = host=\naudit_query = SELECT 'x WHERE :id\n",
           {6, "source: \"sqlite://rel.db\": write sqlite:///ABSOLUTE/PATH"}, {7, "audit_query uses no :parameter"},
           {11, "source without audit_query"}, {11, "the scheme must be sqlite:// or postgresql://"},
           {15, "audit_query without source"},
           {21, "audit_query: parameter :x is not a placeholder of pattern 'e:{id}' (line 17)"},
           {25, "source: \"host=\" 'host' has no value"},
           {26, "audit_query: the string literal starting at byte 8 is not closed"});
}

static void test_load_file_errors(void **state)
{
    (void)state;
    fam_problems p;
    families *f = (families *)1;
    fam_problems_init(&p);
    assert_int_equal(families_load("/nonexistent/families.ini", NULL, &f, &p), FAM_EIO);
    assert_null(f);
    assert_int_equal(p.n, 1);
    char buf[256];
    fam_problem_format(&p, 0, buf, sizeof(buf));
    assert_string_equal(buf, "/nonexistent/families.ini: cannot open: No such file or directory");
    fam_problems_deinit(&p);
    /* a check without keeping the object, and without the problems */
    assert_int_equal(families_load(example_path, NULL, NULL, NULL), 0);
    assert_int_equal(families_load_buffer("[x", 2, NULL, NULL, NULL, NULL), FAM_EINVALID);
}

int main(int argc, char **argv)
{
    example_path = argc > 1 ? argv[1] : "schemas/examples/families.ini";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_line_rules),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_pattern_syntax),
        cmocka_unit_test(test_matching),
        cmocka_unit_test(test_lookup_precedence),
        cmocka_unit_test(test_overlaps),
        cmocka_unit_test(test_no_overlap),
        cmocka_unit_test(test_overlap_function),
        cmocka_unit_test(test_reserved),
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_globs),
        cmocka_unit_test(test_ops_allowed),
        cmocka_unit_test(test_audit),
        cmocka_unit_test(test_load_file_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
