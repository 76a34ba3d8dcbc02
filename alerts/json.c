/* alerts/json.c: a JSON writer and a strict small reader for the alert layer (see json.h).
 *
 * Why not a library: Debian has several (json-c, jansson, cJSON) but the alert layer needs ~10
 * fields, exact control of number formatting (shortest round-trip, locale-proof) and a reader that
 * is cheap to fuzz; this file is that and nothing more (no generic DOM editing, no pretty printing).
 *
 * Locale: printf/strtod follow LC_NUMERIC, which a host program may have set to a locale with a
 * decimal comma. Both are run under a "C" locale_t made once (newlocale) and installed for the call
 * with uselocale(), which is per-thread, so other threads are not disturbed.
 */
#define _POSIX_C_SOURCE 200809L
#include "alerts/json.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/status_internal.h"

/* ---- the C locale ------------------------------------------------------------------------------ */

static locale_t g_c_locale = (locale_t)0;
static pthread_once_t g_c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
    g_c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static locale_t c_locale_enter(void)
{
    pthread_once(&g_c_locale_once, make_c_locale);
    return g_c_locale ? uselocale(g_c_locale) : (locale_t)0;
}

static void c_locale_leave(locale_t prev)
{
    if (prev)
        uselocale(prev);
}

int sso_json_fmt_double(double v, char *buf, size_t n)
{
    if (!isfinite(v))
        return snprintf(buf, n, "null");
    locale_t prev = c_locale_enter();
    int len = 0;
    for (int prec = 15; prec <= 17; prec++) {
        len = snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    c_locale_leave(prev);
    return len;
}

int sso_json_parse_double(const char *s, size_t n, double *out)
{
    char tmp[64];
    size_t i = 0;
    /* RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    if (n == 0 || n >= sizeof tmp)
        return -1;
    if (s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9')
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    else
        return -1;
    if (i < n && s[i] == '.') {
        size_t d = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return -1;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return -1;
    }
    if (i != n)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    locale_t prev = c_locale_enter();
    *out = strtod(tmp, NULL);
    c_locale_leave(prev);
    return 0;
}

/* ---- writer ------------------------------------------------------------------------------------ */

void sso_jw_init(sso_jw *w)
{
    memset(w, 0, sizeof *w);
}

void sso_jw_free(sso_jw *w)
{
    if (w) {
        free(w->p);
        w->p = NULL;
        w->n = w->cap = 0;
    }
}

static void put(sso_jw *w, const char *s, size_t k)
{
    if (w->err)
        return;
    if (w->n + k + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (w->n + k + 1 > cap)
            cap *= 2;
        char *p = realloc(w->p, cap);
        if (!p) {
            w->err = 1;
            return;
        }
        w->p = p;
        w->cap = cap;
    }
    memcpy(w->p + w->n, s, k);
    w->n += k;
    w->p[w->n] = 0;
}

static void puts_(sso_jw *w, const char *s)
{
    put(w, s, strlen(s));
}

/* Before any value: a comma when the open container already has a member. first[] is 1 for an
 * empty container, 2 right after a key (the value takes no comma), 0 otherwise. */
static void scalar_prefix(sso_jw *w)
{
    if (w->depth > 0) {
        unsigned char *f = &w->first[w->depth - 1];
        if (*f == 0)
            put(w, ",", 1);
        *f = 0;
    }
}

static void open_(sso_jw *w, const char *c)
{
    scalar_prefix(w);
    if (w->depth >= SSO_JSON_MAX_DEPTH) {
        w->err = 2;
        return;
    }
    put(w, c, 1);
    w->first[w->depth++] = 1;
}

static void close_(sso_jw *w, const char *c)
{
    if (w->depth <= 0) {
        w->err = 2;
        return;
    }
    w->depth--;
    put(w, c, 1);
}

void sso_jw_obj_begin(sso_jw *w) { open_(w, "{"); }
void sso_jw_obj_end(sso_jw *w) { close_(w, "}"); }
void sso_jw_arr_begin(sso_jw *w) { open_(w, "["); }
void sso_jw_arr_end(sso_jw *w) { close_(w, "]"); }

static void str_raw(sso_jw *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    put(w, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char e[8];
        switch (*c) {
        case '"': put(w, "\\\"", 2); break;
        case '\\': put(w, "\\\\", 2); break;
        case '\n': put(w, "\\n", 2); break;
        case '\r': put(w, "\\r", 2); break;
        case '\t': put(w, "\\t", 2); break;
        case '\b': put(w, "\\b", 2); break;
        case '\f': put(w, "\\f", 2); break;
        default:
            if (*c < 0x20 || *c >= 0x7f) {
                memcpy(e, "\\u00", 4);
                e[4] = hex[*c >> 4];
                e[5] = hex[*c & 15];
                put(w, e, 6);
            } else {
                put(w, (const char *)c, 1);
            }
        }
    }
    put(w, "\"", 1);
}

void sso_jw_key(sso_jw *w, const char *k)
{
    if (w->depth <= 0) {
        w->err = 2;
        return;
    }
    if (!w->first[w->depth - 1])
        put(w, ",", 1);
    str_raw(w, k);
    put(w, ":", 1);
    w->first[w->depth - 1] = 2; /* the value that follows takes no comma */
}

void sso_jw_str(sso_jw *w, const char *s)
{
    scalar_prefix(w);
    str_raw(w, s ? s : "");
}

void sso_jw_num(sso_jw *w, double v)
{
    char b[40];
    scalar_prefix(w);
    int k = sso_json_fmt_double(v, b, sizeof b);
    put(w, b, (size_t)k);
}

void sso_jw_u64(sso_jw *w, uint64_t v)
{
    char b[32];
    scalar_prefix(w);
    int k = snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    put(w, b, (size_t)k);
}

void sso_jw_int(sso_jw *w, long long v)
{
    char b[32];
    scalar_prefix(w);
    int k = snprintf(b, sizeof b, "%lld", v);
    put(w, b, (size_t)k);
}

void sso_jw_bool(sso_jw *w, int v)
{
    scalar_prefix(w);
    puts_(w, v ? "true" : "false");
}

sso_status sso_jw_finish(sso_jw *w, char **out, size_t *len)
{
    if (w->err == 1) {
        sso_jw_free(w);
        return sso_fail(SSO_ERR_NOMEM, "json writer: out of memory");
    }
    if (w->err || w->depth != 0 || !w->p) {
        sso_jw_free(w);
        return sso_fail(SSO_ERR_INTERNAL, "json writer: unbalanced or misused");
    }
    *out = w->p;
    if (len)
        *len = w->n;
    w->p = NULL;
    w->n = w->cap = 0;
    return SSO_OK;
}

/* ---- reader ------------------------------------------------------------------------------------ */

typedef struct parser {
    const char *s;
    size_t n, i;
    sso_jdoc *d;
    const char *err;
} parser;

static int new_node(parser *p, sso_jtype t)
{
    sso_jdoc *d = p->d;
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 64;
        sso_jnode *nn = realloc(d->nodes, (size_t)cap * sizeof *nn);
        if (!nn) {
            p->err = "out of memory";
            return -1;
        }
        d->nodes = nn;
        d->cap = cap;
    }
    sso_jnode *nd = &d->nodes[d->n];
    memset(nd, 0, sizeof *nd);
    nd->type = t;
    nd->first = nd->next = -1;
    return d->n++;
}

static void skip_ws(parser *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
                           p->s[p->i] == '\r'))
        p->i++;
}

static int hex4(const char *s, unsigned *v)
{
    *v = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        unsigned h;
        if (c >= '0' && c <= '9')
            h = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            h = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            h = (unsigned)(c - 'A' + 10);
        else
            return -1;
        *v = *v * 16 + h;
    }
    return 0;
}

/* Decodes the string at p->i (on the opening quote) into the arena; returns its start or NULL. */
static const char *parse_string(parser *p)
{
    sso_jdoc *d = p->d;
    char *out = d->arena + d->arena_used, *o = out;
    p->i++; /* opening quote */
    while (p->i < p->n) {
        unsigned char c = (unsigned char)p->s[p->i++];
        if (c == '"') {
            *o++ = 0;
            d->arena_used = (size_t)(o - d->arena);
            return out;
        }
        if (c < 0x20) {
            p->err = "control character in string";
            return NULL;
        }
        if (c != '\\') {
            *o++ = (char)c;
            continue;
        }
        if (p->i >= p->n)
            break;
        c = (unsigned char)p->s[p->i++];
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (p->i + 4 > p->n || hex4(p->s + p->i, &cp)) {
                p->err = "bad \\u escape";
                return NULL;
            }
            p->i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) { /* high surrogate: a low one must follow */
                if (p->i + 6 > p->n || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u' ||
                    hex4(p->s + p->i + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                    p->err = "unpaired surrogate";
                    return NULL;
                }
                p->i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                p->err = "unpaired surrogate";
                return NULL;
            }
            if (cp == 0) {
                p->err = "\\u0000 in string";
                return NULL;
            }
            /* UTF-8 of cp: at most 4 bytes, never longer than the 6+ byte escape it replaces */
            if (cp < 0x80) {
                *o++ = (char)cp;
            } else if (cp < 0x800) {
                *o++ = (char)(0xC0 | (cp >> 6));
                *o++ = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                *o++ = (char)(0xE0 | (cp >> 12));
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (char)(0x80 | (cp & 0x3F));
            } else {
                *o++ = (char)(0xF0 | (cp >> 18));
                *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default:
            p->err = "bad escape";
            return NULL;
        }
    }
    p->err = "unterminated string";
    return NULL;
}

static int parse_value(parser *p, int depth);

static int parse_container(parser *p, int depth, int is_obj)
{
    int self = new_node(p, is_obj ? SSO_JOBJ : SSO_JARR);
    int last = -1;
    if (self < 0)
        return -1;
    p->i++; /* '{' or '[' */
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == (is_obj ? '}' : ']')) {
        p->i++;
        return self;
    }
    for (;;) {
        const char *key = NULL;
        skip_ws(p);
        if (is_obj) {
            if (p->i >= p->n || p->s[p->i] != '"') {
                p->err = "expected a member name";
                return -1;
            }
            if (!(key = parse_string(p)))
                return -1;
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') {
                p->err = "expected ':'";
                return -1;
            }
            p->i++;
        }
        int child = parse_value(p, depth + 1);
        if (child < 0)
            return -1;
        p->d->nodes[child].key = key;
        if (last < 0)
            p->d->nodes[self].first = child;
        else
            p->d->nodes[last].next = child;
        last = child;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == (is_obj ? '}' : ']')) {
            p->i++;
            return self;
        }
        p->err = is_obj ? "expected ',' or '}'" : "expected ',' or ']'";
        return -1;
    }
}

static int literal(parser *p, const char *lit)
{
    size_t k = strlen(lit);
    if (p->n - p->i < k || memcmp(p->s + p->i, lit, k) != 0) {
        p->err = "unexpected character";
        return -1;
    }
    p->i += k;
    return 0;
}

static int parse_value(parser *p, int depth)
{
    int id;
    if (depth > SSO_JSON_MAX_DEPTH) {
        p->err = "nested too deeply";
        return -1;
    }
    skip_ws(p);
    if (p->i >= p->n) {
        p->err = "unexpected end";
        return -1;
    }
    char c = p->s[p->i];
    if (c == '{' || c == '[')
        return parse_container(p, depth, c == '{');
    if (c == '"') {
        const char *s = parse_string(p);
        if (!s || (id = new_node(p, SSO_JSTR)) < 0)
            return -1;
        p->d->nodes[id].str = s;
        return id;
    }
    if (c == 't' || c == 'f') {
        if (literal(p, c == 't' ? "true" : "false") || (id = new_node(p, SSO_JBOOL)) < 0)
            return -1;
        p->d->nodes[id].b = c == 't';
        return id;
    }
    if (c == 'n') {
        if (literal(p, "null") || (id = new_node(p, SSO_JNULL)) < 0)
            return -1;
        p->d->nodes[id].num = NAN;
        return id;
    }
    size_t start = p->i;
    while (p->i < p->n && strchr("+-.0123456789eE", p->s[p->i]) && p->s[p->i])
        p->i++;
    double v;
    if (p->i == start || sso_json_parse_double(p->s + start, p->i - start, &v)) {
        p->err = "bad number or unexpected character";
        return -1;
    }
    if ((id = new_node(p, SSO_JNUM)) < 0)
        return -1;
    p->d->nodes[id].num = v;
    return id;
}

sso_status sso_jdoc_parse(sso_jdoc *d, const char *text, size_t len)
{
    parser p = {text, len, 0, d, NULL};
    memset(d, 0, sizeof *d);
    if (!text)
        return sso_fail(SSO_ERR_ARG, "json: no text");
    if (memchr(text, 0, len))
        return sso_fail(SSO_ERR_ARG, "json: NUL byte at byte %zu",
                        (size_t)((const char *)memchr(text, 0, len) - text));
    /* decoded strings are never longer than their source: one arena of len + 1 bytes */
    d->arena = malloc(len + 1);
    if (!d->arena)
        return sso_fail(SSO_ERR_NOMEM, "json: out of memory");
    if (parse_value(&p, 0) < 0)
        goto fail;
    skip_ws(&p);
    if (p.i != len) {
        p.err = "trailing characters";
        goto fail;
    }
    return SSO_OK;
fail: {
    size_t at = p.i;
    const char *what = p.err ? p.err : "syntax error";
    sso_status st = sso_fail(strcmp(what, "out of memory") ? SSO_ERR_ARG : SSO_ERR_NOMEM,
                             "json: %s at byte %zu", what, at);
    sso_jdoc_free(d);
    return st;
}
}

void sso_jdoc_free(sso_jdoc *d)
{
    if (!d)
        return;
    free(d->nodes);
    free(d->arena);
    memset(d, 0, sizeof *d);
}

const sso_jnode *sso_jdoc_get(const sso_jdoc *d, const sso_jnode *obj, const char *key)
{
    if (!obj || obj->type != SSO_JOBJ)
        return NULL;
    for (int i = obj->first; i >= 0; i = d->nodes[i].next)
        if (d->nodes[i].key && !strcmp(d->nodes[i].key, key))
            return &d->nodes[i];
    return NULL;
}

const sso_jnode *sso_jdoc_child(const sso_jdoc *d, const sso_jnode *n)
{
    return (n && n->first >= 0) ? &d->nodes[n->first] : NULL;
}

const sso_jnode *sso_jdoc_next(const sso_jdoc *d, const sso_jnode *n)
{
    return (n && n->next >= 0) ? &d->nodes[n->next] : NULL;
}
