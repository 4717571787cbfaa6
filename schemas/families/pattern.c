/* Key patterns (families-v1.md §5, §6): parsing into segments, binary-safe
 * matching of plain and data keys, building keys from named values, and
 * the Redis glob of a pattern (§10). */
#include <stdio.h>
#include <string.h>

#include "fam_internal.h"

static const char lit_punct[] = "!#$%&+-./<=>@^_`|~";

static bool lit_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80 ||
           (c != 0 && strchr(lit_punct, c) != NULL);
}

static bool name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

int pattern_parse(arena *a, const char *text, size_t len, fam_pattern *p, char *err, size_t errlen)
{
    char shown[96];
    memset(p, 0, sizeof(*p));
    families_render_key(text, len, shown, sizeof(shown));
    if (len == 0) {
        snprintf(err, errlen, "empty pattern");
        return -1;
    }
    size_t nsegs = 1;
    for (size_t i = 0; i < len; i++)
        nsegs += text[i] == ':';
    fam_seg *segs = arena_alloc(a, nsegs * sizeof(*segs));
    uint8_t *dec = arena_alloc(a, len + 1);
    if (!segs || !dec) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t dl = 0, si = 0, seg_start = 0, ph_at = 0, ph_param = 0, np = 0;
    bool has_ph = false;
    for (size_t i = 0;;) {
        if (i == len || text[i] == ':') {
            fam_seg *s = &segs[si++];
            s->pre = dec + seg_start;
            if (has_ph) {
                s->kind = SEG_PH;
                s->prelen = ph_at - seg_start;
                s->suf = dec + ph_at;
                s->suflen = dl - ph_at;
                s->param = ph_param;
            } else {
                s->kind = SEG_LIT;
                s->prelen = dl - seg_start;
            }
            if (i == len)
                break;
            i++;
            seg_start = dl;
            has_ph = false;
            continue;
        }
        unsigned char c = (unsigned char)text[i];
        if (c == '{' && i + 1 < len && text[i + 1] == '{') {
            dec[dl++] = '{';
            i += 2;
        } else if (c == '{') {
            size_t j = i + 1;
            while (j < len && name_char(text[j]))
                j++;
            if (j == i + 1 || !name_start(text[i + 1]) || j >= len || text[j] != '}') {
                snprintf(err, errlen,
                         "pattern '%s': '{' at byte %zu starts no placeholder {name} (a letter or '_', then "
                         "letters, digits, '_'; '{{' is a literal '{')",
                         shown, i + 1);
                return -1;
            }
            size_t nlen = j - i - 1;
            if (nlen > 32) {
                snprintf(err, errlen, "pattern '%s': placeholder name '%.*s' is over 32 bytes", shown, (int)nlen,
                         text + i + 1);
                return -1;
            }
            if (has_ph) {
                snprintf(err, errlen, "pattern '%s': two placeholders in one segment (at most one between colons)",
                         shown);
                return -1;
            }
            for (size_t k = 0; k < np; k++)
                if (strlen(p->params[k]) == nlen && memcmp(p->params[k], text + i + 1, nlen) == 0) {
                    snprintf(err, errlen, "pattern '%s': placeholder {%.*s} appears twice", shown, (int)nlen,
                             text + i + 1);
                    return -1;
                }
            if (np == FAM_MAX_PARAMS) {
                snprintf(err, errlen, "pattern '%s': more than %d placeholders", shown, FAM_MAX_PARAMS);
                return -1;
            }
            if (!(p->params[np] = arena_strndup(a, text + i + 1, nlen))) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            has_ph = true;
            ph_at = dl;
            ph_param = np++;
            i = j + 1;
        } else if (c == '}' && i + 1 < len && text[i + 1] == '}') {
            dec[dl++] = '}';
            i += 2;
        } else if (c == '}') {
            snprintf(err, errlen, "pattern '%s': '}' at byte %zu closes no placeholder (write '}}' for a literal '}')",
                     shown, i + 1);
            return -1;
        } else if (!lit_ok(c)) {
            char ch[8];
            families_render_key(&c, 1, ch, sizeof(ch));
            snprintf(err, errlen,
                     "pattern '%s': '%s' is not allowed in a pattern (letters, digits, UTF-8 and %s; '{{' and '}}' "
                     "for braces)",
                     shown, ch, lit_punct);
            return -1;
        } else {
            dec[dl++] = c;
            i++;
        }
    }
    if (dl + nsegs - 1 > FAM_MAX_PATTERN_LEN) {
        snprintf(err, errlen, "pattern '%s' is over %d bytes", shown, FAM_MAX_PATTERN_LEN);
        return -1;
    }
    p->text = arena_strndup(a, text, len);
    p->segs = segs;
    p->nsegs = nsegs;
    p->nparams = np;
    return p->text ? 0 : -1;
}

size_t view_nsegs(fam_view v)
{
    return v.pat->nsegs + (v.versioned ? 1 : 0);
}

fam_seg view_seg(fam_view v, size_t i)
{
    if (i < v.pat->nsegs)
        return v.pat->segs[i];
    fam_seg s = {.kind = SEG_VER};
    return s;
}

bool version_seg_parse(const uint8_t *s, size_t len, int64_t *out)
{
    if (len < 2 || s[0] != 'v')
        return false;
    size_t i = s[1] == '-' ? 2 : 1;
    size_t nd = len - i;
    /* canonical decimal: digits, no leading zero, no "-0", at most 19 digits */
    if (nd == 0 || nd > 19 || (s[i] == '0' && (nd > 1 || i == 2)))
        return false;
    uint64_t v = 0, max = i == 2 ? UINT64_C(9223372036854775808) : UINT64_C(9223372036854775807);
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = s[i] - '0';
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (out)
        *out = s[1] == '-' ? (v == UINT64_C(9223372036854775808) ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return true;
}

bool view_match(fam_view v, const uint8_t *key, size_t len, fam_span *params, int64_t *version)
{
    size_t n = view_nsegs(v), pos = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *s = key + pos;
        size_t rem = len - pos;
        const uint8_t *colon = memchr(s, ':', rem);
        size_t sl;
        if (i + 1 < n) {
            if (!colon)
                return false;
            sl = (size_t)(colon - s);
        } else {
            if (colon)
                return false;
            sl = rem;
        }
        const fam_seg *g = i < v.pat->nsegs ? &v.pat->segs[i] : NULL;
        if (!g) {
            if (!version_seg_parse(s, sl, version))
                return false;
        } else if (g->kind == SEG_LIT) {
            if (sl != g->prelen || memcmp(s, g->pre, sl) != 0)
                return false;
        } else {
            if (sl <= g->prelen + g->suflen || memcmp(s, g->pre, g->prelen) != 0 ||
                memcmp(s + sl - g->suflen, g->suf, g->suflen) != 0)
                return false;
            if (params) {
                params[g->param].data = s + g->prelen;
                params[g->param].len = sl - g->prelen - g->suflen;
            }
        }
        pos += sl + 1;
    }
    return true;
}

size_t view_literal_prefix(fam_view v, uint8_t *buf, size_t cap, bool *wild)
{
    size_t o = 0, n = view_nsegs(v);
    *wild = false;
#define PUT(p, l)                                          \
    do {                                                   \
        size_t l_ = (l) < cap - o ? (l) : cap - o;         \
        memcpy(buf + o, (p), l_);                          \
        o += l_;                                           \
    } while (0)
    for (size_t i = 0; i < n; i++) {
        fam_seg s = view_seg(v, i);
        if (s.kind == SEG_VER) {
            PUT("v", 1);
            *wild = true;
            break;
        }
        PUT(s.pre, s.prelen);
        if (s.kind == SEG_PH) {
            *wild = true;
            break;
        }
        if (i + 1 < n)
            PUT(":", 1);
    }
#undef PUT
    return o;
}

static int find_param(const fam_pattern *p, const char *name)
{
    for (size_t i = 0; i < p->nparams; i++)
        if (strcmp(p->params[i], name) == 0)
            return (int)i;
    return -1;
}

int families_build(const fam_pattern *p, const fam_param *params, size_t n, void *buf, size_t cap,
                   size_t *outlen, char *err, size_t errlen)
{
    const fam_param *val[FAM_MAX_PARAMS] = {0};
    if (err && errlen)
        err[0] = '\0';
    for (size_t k = 0; k < n; k++) {
        const char *name = params[k].name ? params[k].name : "";
        int j = find_param(p, name);
        if (j < 0) {
            snprintf(err, errlen, "pattern '%s' has no placeholder {%.64s}", p->text, name);
            return FAM_EPARAM;
        }
        if (val[j]) {
            snprintf(err, errlen, "{%s} is given twice", name);
            return FAM_EPARAM;
        }
        if (params[k].len == 0 || !params[k].value) {
            snprintf(err, errlen, "the value of {%s} is empty", name);
            return FAM_EPARAM;
        }
        if (memchr(params[k].value, ':', params[k].len)) {
            snprintf(err, errlen, "the value of {%s} contains ':' (a placeholder fills one segment)", name);
            return FAM_EPARAM;
        }
        val[j] = &params[k];
    }
    size_t total = p->nsegs - 1;
    for (size_t j = 0; j < p->nparams; j++) {
        if (!val[j]) {
            snprintf(err, errlen, "no value for {%s} of pattern '%s'", p->params[j], p->text);
            return FAM_EPARAM;
        }
        total += val[j]->len;
    }
    for (size_t i = 0; i < p->nsegs; i++)
        total += p->segs[i].prelen + (p->segs[i].kind == SEG_PH ? p->segs[i].suflen : 0);
    *outlen = total;
    if (total > cap) {
        snprintf(err, errlen, "the key is %zu bytes, the buffer %zu", total, cap);
        return FAM_ESPACE;
    }
    uint8_t *o = buf;
    for (size_t i = 0; i < p->nsegs; i++) {
        const fam_seg *s = &p->segs[i];
        if (i > 0)
            *o++ = ':';
        memcpy(o, s->pre, s->prelen);
        o += s->prelen;
        if (s->kind == SEG_PH) {
            memcpy(o, val[s->param]->value, val[s->param]->len);
            o += val[s->param]->len;
            memcpy(o, s->suf, s->suflen);
            o += s->suflen;
        }
    }
    return 0;
}

int families_version_key(const fam_match *m, void *buf, size_t cap, size_t *outlen)
{
    const fam_pattern *vk = m && m->family ? m->family->version_key : NULL;
    if (!vk || m->kind == FAM_KEY_VERSION)
        return FAM_ENOTFOUND;
    fam_param vals[FAM_MAX_PARAMS];
    for (size_t j = 0; j < vk->nparams; j++) {
        int k = find_param(m->pattern, vk->params[j]);
        if (k < 0)
            return FAM_ENOTFOUND; /* excluded when the file loaded */
        vals[j].name = vk->params[j];
        vals[j].value = m->params[k].data;
        vals[j].len = m->params[k].len;
    }
    int rc = families_build(vk, vals, vk->nparams, buf, cap, outlen, NULL, 0);
    return rc == FAM_EPARAM ? FAM_ENOTFOUND : rc;
}

int families_data_key(const void *key, size_t len, int64_t version, void *buf, size_t cap, size_t *outlen)
{
    char num[24];
    int n = snprintf(num, sizeof(num), ":v%lld", (long long)version);
    *outlen = len + (size_t)n;
    if (*outlen > cap)
        return FAM_ESPACE;
    memcpy(buf, key, len);
    memcpy((uint8_t *)buf + len, num, (size_t)n);
    return 0;
}

int families_pattern_glob(const fam_pattern *p, bool versioned, char *buf, size_t len)
{
    fam_view v = {p, versioned};
    size_t o = 0, n = view_nsegs(v);
#define PUT(s, l)                              \
    do {                                       \
        if (o + (l) + 1 > len)                 \
            return FAM_ESPACE;                 \
        memcpy(buf + o, (s), (l));             \
        o += (l);                              \
    } while (0)
    for (size_t i = 0; i < n; i++) {
        fam_seg s = view_seg(v, i);
        if (i > 0)
            PUT(":", 1);
        if (s.kind == SEG_VER) {
            PUT("v*", 2);
            continue;
        }
        PUT(s.pre, s.prelen);
        if (s.kind == SEG_PH) {
            PUT("*", 1);
            PUT(s.suf, s.suflen);
        }
    }
#undef PUT
    buf[o] = '\0';
    return (int)o;
}
