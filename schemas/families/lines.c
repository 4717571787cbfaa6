/* Reading a families file: a line checker in front of inih enforces the INI
 * subset that inih and Python's configparser read the same way
 * (families-v1.md §2.1), counts lines, and hands inih one checked line at a
 * time; inih splits names from values and joins continuation lines; the
 * handler collects raw field values per section. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "fam_internal.h"

static const char *const field_names[FLD_COUNT] = {
    [FLD_TTL] = "ttl", [FLD_JITTER] = "jitter", [FLD_NEGATIVE_TTL] = "negative_ttl",
    [FLD_LEASE_TTL] = "lease_ttl", [FLD_KEYS] = "keys", [FLD_VERSION_KEY] = "version_key",
    [FLD_CLASS] = "class", [FLD_OWNER] = "owner", [FLD_OPS] = "ops", [FLD_MODE] = "mode",
    [FLD_RATE] = "rate", [FLD_TRIGGERS] = "triggers", [FLD_SOURCE] = "source",
    [FLD_AUDIT_QUERY] = "audit_query", [FLD_DESCRIPTION] = "description",
};

static const int class_fields[] = {FLD_TTL, FLD_JITTER, FLD_NEGATIVE_TTL, FLD_LEASE_TTL, FLD_DESCRIPTION, -1};
static const int family_fields[] = {FLD_KEYS, FLD_VERSION_KEY, FLD_CLASS, FLD_OWNER, FLD_OPS, FLD_MODE,
                                    FLD_RATE, FLD_TRIGGERS, FLD_SOURCE, FLD_AUDIT_QUERY, FLD_DESCRIPTION, -1};

const char *raw_field_name(int fld)
{
    return fld >= 0 && fld < FLD_COUNT ? field_names[fld] : "?";
}

typedef enum line_kind { LK_BLANK, LK_COMMENT, LK_HEADER, LK_FIELD, LK_CONT, LK_REJECTED } line_kind;

typedef struct reader {
    const char *text;
    size_t len;
    size_t pos;
    int lineno;
    raw_file *rf;
    fam_problems *probs;
    line_kind kind;        /* of the line just handed to inih */
    raw_section *sec;      /* current section; NULL before any or in a refused one */
    bool any_header;       /* a header line was seen (valid or not) */
    bool field_open;       /* a field line came since the last header */
    int field_line;        /* its line */
    bool blank_after;      /* a blank line came after that field's last line */
    raw_value *cur;        /* the value continuation lines extend; NULL: ignore them */
    int cur_fld;
    bool oom;
} reader;

static bool is_blank(int c)
{
    return c == ' ' || c == '\t';
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const uint8_t *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* Byte-level checks of one line (n bytes, terminator excluded). Returns
 * false (problem recorded) when the line cannot be read as text. */
static bool check_bytes(reader *r, const uint8_t *s, size_t n, size_t limit)
{
    bool ok = true;
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        if (c == 0) {
            prob_add(r->probs, r->lineno, "NUL byte at column %zu", i + 1);
            return false;
        }
        if (c == '\r') {
            prob_add(r->probs, r->lineno, "carriage return at column %zu (only CR LF ends a line)", i + 1);
            return false;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            prob_add(r->probs, r->lineno, "control character 0x%02x at column %zu", c, i + 1);
            return false;
        }
        size_t k = utf8_seq(s + i, n - i);
        if (k == 0) {
            prob_add(r->probs, r->lineno, "not valid UTF-8 (byte 0x%02x at column %zu)", c, i + 1);
            return false;
        }
        i += k;
    }
    if (n > limit) {
        prob_add(r->probs, r->lineno, "line is %zu bytes, the limit is %zu (continue a long value on indented lines)",
                 n, limit);
        ok = false;
    }
    return ok;
}

/* A value must not hold ';' right after a blank (inih's inline comment).
 * s starts at column base + 1 of the line. */
static bool check_semicolon(reader *r, const char *s, size_t n, size_t base)
{
    for (size_t i = 1; i < n; i++)
        if (s[i] == ';' && is_blank(s[i - 1])) {
            prob_add(r->probs, r->lineno,
                     "';' after a blank at column %zu: inih reads it as a comment, configparser as text "
                     "(remove the blank or the ';')",
                     base + i + 1);
            return false;
        }
    return true;
}

static void damage_current(reader *r)
{
    if (r->cur)
        r->cur->damaged = true;
    r->cur = NULL;
}

static int field_index(int kind, const char *name);

/* A refused line that names a field of the current section (in any case,
 * before '=' or ':') damages that field, so it is not also reported as
 * missing or checked further. */
static void damage_named(reader *r, const char *s, size_t n)
{
    char name[32];
    size_t b = 0, k = 0;
    if (!r->sec)
        return;
    while (b < n && is_blank(s[b]))
        b++;
    while (b < n && s[b] != '=' && s[b] != ':' && k + 1 < sizeof(name))
        name[k++] = (char)tolower((unsigned char)s[b++]);
    while (k > 0 && is_blank(name[k - 1]))
        k--;
    name[k] = '\0';
    int fld = field_index(r->sec->kind, name);
    if (fld >= 0 && !r->sec->f[fld].text) {
        r->sec->f[fld].damaged = true;
        if (!r->sec->f[fld].line)
            r->sec->f[fld].line = r->lineno;
    }
}

static raw_section *section_add(reader *r, int kind, const char *name, size_t nlen)
{
    raw_file *rf = r->rf;
    if (rf->n == rf->cap) {
        size_t cap = rf->cap ? rf->cap * 2 : 16;
        raw_section *v = realloc(rf->v, cap * sizeof(*v));
        if (!v) {
            r->oom = true;
            return NULL;
        }
        rf->v = v;
        rf->cap = cap;
    }
    raw_section *s = &rf->v[rf->n++];
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    memcpy(s->name, name, nlen);
    s->name[nlen] = '\0';
    s->line = r->lineno;
    return s;
}

/* "[class NAME]" / "[family NAME]" alone on the line. */
static void check_header(reader *r, const char *s, size_t n)
{
    r->sec = NULL;
    r->cur = NULL;
    r->any_header = true;
    r->field_open = false;
    r->blank_after = false;
    const char *close = memchr(s, ']', n);
    if (!close) {
        prob_add(r->probs, r->lineno, "section header without ']'");
        r->kind = LK_REJECTED;
        return;
    }
    for (const char *p = close + 1; p < s + n; p++)
        if (!is_blank(*p)) {
            prob_add(r->probs, r->lineno, "text after the section header's ']'");
            r->kind = LK_REJECTED;
            return;
        }
    const char *in = s + 1;
    size_t inlen = (size_t)(close - in);
    const char *sp = memchr(in, ' ', inlen);
    size_t klen = sp ? (size_t)(sp - in) : inlen;
    int kind = -1;
    if (klen == 5 && memcmp(in, "class", 5) == 0)
        kind = SEC_CLASS;
    else if (klen == 6 && memcmp(in, "family", 6) == 0)
        kind = SEC_FAMILY;
    if (kind < 0 || !sp) {
        char shown[64];
        families_render_key(in, inlen, shown, sizeof(shown));
        if (inlen == 7 && memcmp(in, "DEFAULT", 7) == 0)
            prob_add(r->probs, r->lineno, "[DEFAULT] is not allowed (configparser would copy its fields into every section)");
        else
            prob_add(r->probs, r->lineno, "unknown section [%s] (expected [class NAME] or [family NAME])", shown);
        r->kind = LK_REJECTED;
        return;
    }
    const char *name = sp + 1;
    size_t nlen = inlen - klen - 1;
    if (!value_name_ok(name, nlen)) {
        char shown[64];
        families_render_key(name, nlen, shown, sizeof(shown));
        prob_add(r->probs, r->lineno,
                 "%s name '%s' must be 1..%d letters, digits, '_', '-' or '.', starting with a letter or digit "
                 "(one space after '%s')",
                 kind == SEC_CLASS ? "class" : "family", shown, FAM_MAX_NAME_LEN, kind == SEC_CLASS ? "class" : "family");
        r->kind = LK_REJECTED;
        return;
    }
    for (size_t i = 0; i < r->rf->n; i++) {
        raw_section *o = &r->rf->v[i];
        if (o->kind == kind && strlen(o->name) == nlen && memcmp(o->name, name, nlen) == 0) {
            prob_add(r->probs, r->lineno, "[%s %s] is defined twice (first on line %d)",
                     kind == SEC_CLASS ? "class" : "family", o->name, o->line);
            r->kind = LK_REJECTED;
            return;
        }
    }
    r->sec = section_add(r, kind, name, nlen);
    r->kind = LK_HEADER;
}

static void check_field(reader *r, const char *s, size_t n)
{
    r->cur = NULL;
    r->cur_fld = -1;
    const char *eq = NULL;
    for (size_t i = 0; i < n && !eq; i++)
        if (s[i] == '=' || s[i] == ':')
            eq = s + i;
    if (!eq) {
        prob_add(r->probs, r->lineno, "expected 'name = value', a [section] header or a comment");
        r->kind = LK_REJECTED;
        r->field_open = false;
        return;
    }
    r->field_open = true;
    r->field_line = r->lineno;
    r->blank_after = false;
    if (*eq == ':') {
        prob_add(r->probs, r->lineno, "use '=' between a field's name and its value");
        r->kind = LK_REJECTED;
        damage_named(r, s, n);
        return;
    }
    size_t nl = (size_t)(eq - s);
    while (nl > 0 && is_blank(s[nl - 1]))
        nl--;
    bool name_ok = nl > 0;
    for (size_t i = 0; i < nl; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
            name_ok = false;
    if (!name_ok) {
        char shown[64];
        families_render_key(s, nl, shown, sizeof(shown));
        prob_add(r->probs, r->lineno, "field name '%s' must be lowercase letters and '_'", shown);
        r->kind = LK_REJECTED;
        damage_named(r, s, n);
        return;
    }
    const char *val = eq + 1;
    size_t vlen = n - (size_t)(val - s);
    if (!check_semicolon(r, val, vlen, (size_t)(val - s))) {
        r->kind = LK_REJECTED;
        damage_named(r, s, n);
        return;
    }
    if (!r->any_header) {
        prob_add(r->probs, r->lineno, "field '%.*s' comes before any [class] or [family] header", (int)nl, s);
        r->kind = LK_REJECTED;
        return;
    }
    r->kind = r->sec ? LK_FIELD : LK_REJECTED; /* fields of a refused section are skipped */
}

/* Classifies one line (without its terminator) and records its problems. */
static void check_line(reader *r, const char *s, size_t n, size_t limit)
{
    if (r->lineno == 1 && n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
        prob_add(r->probs, r->lineno, "the file starts with a UTF-8 byte order mark (configparser does not skip it)");
        s += 3, n -= 3;
    }
    if (!check_bytes(r, (const uint8_t *)s, n, limit)) {
        r->kind = LK_REJECTED;
        if (n > 0 && is_blank(s[0])) {
            damage_current(r);
        } else {
            damage_named(r, s, n);
            r->cur = NULL; /* lines continuing the refused one are dropped with it */
            r->field_open = true;
            r->blank_after = false;
        }
        return;
    }
    size_t b = 0, e = n;
    while (b < e && is_blank(s[b]))
        b++;
    while (e > b && is_blank(s[e - 1]))
        e--;
    if (b == e) {
        r->kind = LK_BLANK;
        if (r->field_open)
            r->blank_after = true;
        return;
    }
    if (s[b] == '#' || s[b] == ';') {
        r->kind = LK_COMMENT;
        return;
    }
    if (b > 0) {
        if (!r->field_open) {
            prob_add(r->probs, r->lineno,
                     "indented line continues no field (fields and headers start in the first column)");
            r->kind = LK_REJECTED;
            damage_named(r, s, e);
            return;
        }
        if (r->blank_after) {
            prob_add(r->probs, r->lineno,
                     "a blank line separates this line from the field above it (line %d): a value continues "
                     "only on the lines right below it",
                     r->field_line);
            r->kind = LK_REJECTED;
            damage_current(r);
            return;
        }
        if (!check_semicolon(r, s + b, e - b, b)) {
            r->kind = LK_REJECTED;
            damage_current(r);
            return;
        }
        r->kind = LK_CONT;
        return;
    }
    if (s[0] == '[') {
        check_header(r, s, e);
        return;
    }
    check_field(r, s, e);
}

/* inih's fgets: one checked line at a time, "\n" for refused ones. */
static char *reader_line(char *str, int num, void *stream)
{
    reader *r = stream;
    if (r->pos >= r->len || num < 3)
        return NULL;
    const char *s = r->text + r->pos;
    size_t left = r->len - r->pos;
    const char *nl = memchr(s, '\n', left);
    size_t n = nl ? (size_t)(nl - s) : left;
    r->pos += nl ? n + 1 : n;
    if (n > 0 && s[n - 1] == '\r' && nl)
        n--;
    r->lineno++;
    size_t limit = (size_t)num - 2; /* the line, '\n' and the NUL */
    if (limit > FAM_MAX_LINE)
        limit = FAM_MAX_LINE;
    check_line(r, s, n, limit);
    size_t out = 0;
    if (r->kind != LK_REJECTED) {
        if (r->lineno == 1 && n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
            s += 3, n -= 3;
        out = n;
        memcpy(str, s, out);
    }
    str[out] = '\n';
    str[out + 1] = '\0';
    return str;
}

static int value_append(raw_value *v, const char *s, size_t n, int line, bool newline)
{
    size_t need = v->len + n + 2;
    if (need > v->cap) {
        size_t cap = v->cap ? v->cap : 64;
        while (cap < need)
            cap *= 2;
        char *t = realloc(v->text, cap);
        if (!t)
            return -1;
        v->text = t;
        v->cap = cap;
    }
    if (v->nmarks == v->capmarks) {
        size_t cap = v->capmarks ? v->capmarks * 2 : 4;
        size_t *o = realloc(v->mark_off, cap * sizeof(*o));
        if (o)
            v->mark_off = o;
        int *l = o ? realloc(v->mark_line, cap * sizeof(*l)) : NULL;
        if (!o || !l)
            return -1;
        v->mark_line = l;
        v->capmarks = cap;
    }
    if (newline)
        v->text[v->len++] = '\n';
    v->mark_off[v->nmarks] = v->len;
    v->mark_line[v->nmarks++] = line;
    memcpy(v->text + v->len, s, n);
    v->len += n;
    v->text[v->len] = '\0';
    return 0;
}

static int field_index(int kind, const char *name)
{
    const int *list = kind == SEC_CLASS ? class_fields : family_fields;
    for (size_t i = 0; list[i] >= 0; i++)
        if (strcmp(field_names[list[i]], name) == 0)
            return list[i];
    return -1;
}

static void unknown_field(reader *r, const char *name)
{
    const int *list = r->sec->kind == SEC_CLASS ? class_fields : family_fields;
    char known[256] = "";
    size_t o = 0;
    for (size_t i = 0; list[i] >= 0 && o < sizeof(known); i++)
        o += (size_t)snprintf(known + o, sizeof(known) - o, "%s%s", i ? ", " : "", field_names[list[i]]);
    prob_add(r->probs, r->lineno, "unknown field '%s' in [%s %s] (known: %s)", name,
             r->sec->kind == SEC_CLASS ? "class" : "family", r->sec->name, known);
}

static int on_value(void *user, const char *section, const char *name, const char *value)
{
    reader *r = user;
    (void)section; /* the reader tracks sections itself, with their lines */
    if (r->kind == LK_CONT) {
        if (r->cur && value_append(r->cur, value, strlen(value), r->lineno, true) < 0)
            r->oom = true;
        return 1;
    }
    if (r->kind != LK_FIELD || !r->sec)
        return 1;
    int fld = field_index(r->sec->kind, name);
    if (fld < 0) {
        unknown_field(r, name);
        return 1;
    }
    raw_value *v = &r->sec->f[fld];
    if (v->text || v->damaged) {
        prob_add(r->probs, r->lineno, "field '%s' is given twice in [%s %s] (first on line %d)", name,
                 r->sec->kind == SEC_CLASS ? "class" : "family", r->sec->name, v->line);
        return 1;
    }
    v->line = r->lineno;
    if (!*value) {
        prob_add(r->probs, r->lineno, "field '%s' has an empty value (leave the field out instead)", name);
        v->damaged = true;
        return 1;
    }
    if (value_append(v, value, strlen(value), r->lineno, false) < 0) {
        r->oom = true;
        return 1;
    }
    r->cur = v;
    r->cur_fld = fld;
    return 1;
}

int raw_read(const char *text, size_t len, raw_file *rf, fam_problems *probs)
{
    reader r;
    memset(&r, 0, sizeof(r));
    r.text = text;
    r.len = len;
    r.rf = rf;
    r.probs = probs;
    r.cur_fld = -1;
    int rc = ini_parse_stream(reader_line, &r, on_value, &r);
    if (r.oom || rc == -2)
        return FAM_ENOMEM;
    if (rc > 0 && probs) {
        bool seen = false;
        for (size_t i = 0; i < probs->n && !seen; i++)
            seen = probs->v[i].line == rc;
        if (!seen)
            prob_add(probs, rc, "inih could not parse this line");
    }
    return 0;
}

void raw_file_deinit(raw_file *rf)
{
    for (size_t i = 0; i < rf->n; i++)
        for (int k = 0; k < FLD_COUNT; k++) {
            free(rf->v[i].f[k].text);
            free(rf->v[i].f[k].mark_off);
            free(rf->v[i].f[k].mark_line);
        }
    free(rf->v);
    memset(rf, 0, sizeof(*rf));
}

int raw_value_line_at(const raw_value *v, size_t off)
{
    int line = v->line;
    for (size_t i = 0; i < v->nmarks && v->mark_off[i] <= off; i++)
        line = v->mark_line[i];
    return line;
}
