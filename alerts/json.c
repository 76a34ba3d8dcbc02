/* alerts/json.c: the JSON writer and reader of the alert layer (see json.h).
 *
 * Reading is jansson's (Debian libjansson, fuzzed upstream in OSS-Fuzz): its tree is flattened
 * into sso_jdoc's node array so that callers walk one small read-only structure, with our depth
 * limit and duplicate keys refused. Writing is a few lines of string building kept here for one
 * reason: numbers are written shortest-round-trip under the C locale (jansson writes %.17g, so
 * 0.1 would travel as 0.10000000000000001 in every alert).
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

#include <jansson.h>

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

/* ---- reader: jansson's parser, flattened into sso_jdoc ---------------------------------------- */

/* Copies a NUL-terminated string of known length into the arena (sized to hold every string). */
static const char *arena_put(sso_jdoc *d, const char *s, size_t n)
{
    char *dst = d->arena + d->arena_used;
    memcpy(dst, s, n);
    dst[n] = 0;
    d->arena_used += n + 1;
    return dst;
}

static int new_node(sso_jdoc *d, sso_jtype t)
{
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 64;
        sso_jnode *nn = realloc(d->nodes, (size_t)cap * sizeof *nn);
        if (!nn)
            return -1;
        d->nodes = nn;
        d->cap = cap;
    }
    sso_jnode *nd = &d->nodes[d->n];
    memset(nd, 0, sizeof *nd);
    nd->type = t;
    nd->first = nd->next = -1;
    return d->n++;
}

/* Bytes the arena needs for v's strings and keys (each + NUL); -1 when deeper than the limit. */
static long long arena_need(const json_t *v, int depth)
{
    long long need = 0;
    if (depth >= SSO_JSON_MAX_DEPTH)
        return -1;
    if (json_is_string(v))
        return (long long)json_string_length(v) + 1;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            long long k = arena_need(json_array_get(v, i), depth + 1);
            if (k < 0)
                return -1;
            need += k;
        }
    } else if (json_is_object(v)) {
        const char *key;
        json_t *m;
        json_object_foreach((json_t *)v, key, m) {
            long long k = arena_need(m, depth + 1);
            if (k < 0)
                return -1;
            need += k + (long long)strlen(key) + 1;
        }
    }
    return need;
}

/* Appends v (and its children) as nodes; returns the node index, -1 when out of memory. */
static int flatten(sso_jdoc *d, const json_t *v, const char *key)
{
    sso_jtype t = json_is_object(v)   ? SSO_JOBJ
                  : json_is_array(v)  ? SSO_JARR
                  : json_is_string(v) ? SSO_JSTR
                  : json_is_number(v) ? SSO_JNUM
                  : json_is_boolean(v) ? SSO_JBOOL
                                       : SSO_JNULL;
    int id = new_node(d, t), prev = -1;
    if (id < 0)
        return -1;
    if (key)
        d->nodes[id].key = arena_put(d, key, strlen(key));
    switch (t) {
    case SSO_JSTR:
        d->nodes[id].str = arena_put(d, json_string_value(v), json_string_length(v));
        break;
    case SSO_JNUM:
        d->nodes[id].num = json_number_value(v);
        break;
    case SSO_JBOOL:
        d->nodes[id].b = json_is_true(v);
        break;
    case SSO_JARR:
        for (size_t i = 0; i < json_array_size(v); i++) {
            int c = flatten(d, json_array_get(v, i), NULL);
            if (c < 0)
                return -1;
            if (prev < 0)
                d->nodes[id].first = c;
            else
                d->nodes[prev].next = c;
            prev = c;
        }
        break;
    case SSO_JOBJ: {
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m) {
            int c = flatten(d, m, k);
            if (c < 0)
                return -1;
            if (prev < 0)
                d->nodes[id].first = c;
            else
                d->nodes[prev].next = c;
            prev = c;
        }
        break;
    }
    default:
        break;
    }
    return id;
}

sso_status sso_jdoc_parse(sso_jdoc *d, const char *text, size_t len)
{
    sso_status st = SSO_OK;
    json_error_t err;
    json_t *root = NULL;
    memset(d, 0, sizeof *d);
    if (!text)
        return sso_fail(SSO_ERR_ARG, "json: no text");
    if (memchr(text, 0, len))
        return sso_fail(SSO_ERR_ARG, "json: NUL byte at byte %zu",
                        (size_t)((const char *)memchr(text, 0, len) - text));
    /* Any top-level value; duplicate keys refused (hostile input could hide a second "seq");
     * integers as doubles, like every number the alert layer reads; \u0000 in strings refused
     * (jansson's default). jansson's own depth limit is 2048; ours is checked below. */
    root = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL,
                      &err);
    if (!root) {
        st = sso_fail(SSO_ERR_ARG, "json: %s at byte %d", err.text, err.position);
        goto exit;
    }
    long long need = arena_need(root, 0);
    if (need < 0) {
        st = sso_fail(SSO_ERR_ARG, "json: nested deeper than %d levels", SSO_JSON_MAX_DEPTH);
        goto exit;
    }
    d->arena = malloc((size_t)need + 1);
    if (!d->arena || flatten(d, root, NULL) < 0) {
        st = sso_fail(SSO_ERR_NOMEM, "json: out of memory");
        goto exit;
    }
exit:
    json_decref(root);
    if (st)
        sso_jdoc_free(d);
    return st;
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
