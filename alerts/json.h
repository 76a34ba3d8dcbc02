/* alerts/json.h: the JSON the alert layer writes and reads (internal; see alerts/json.c).
 *
 * Writer: sso_jw appends to a growing malloc'd buffer; objects/arrays are opened and closed
 * explicitly and the writer inserts the commas (a small stack of "first member" flags). Any
 * allocation failure or misuse sets err and later calls do nothing; sso_jw_finish reports it.
 *
 * Reader: sso_jdoc_parse parses with jansson (strict RFC 8259) and flattens the result into a tree
 * of nodes in one array (children linked by index) with decoded strings in one arena, both owned
 * by the sso_jdoc. Depth limit SSO_JSON_MAX_DEPTH, duplicate keys and NUL bytes rejected; meant
 * for hostile input (replay requests, live messages).
 */
#ifndef SSO_ALERTS_JSON_H
#define SSO_ALERTS_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "sso/status.h"

#define SSO_JSON_MAX_DEPTH 32

typedef struct sso_jw {
    char *p;
    size_t n, cap;
    int err;
    int depth;
    unsigned char first[SSO_JSON_MAX_DEPTH]; /* 1 while the open container has no member yet */
} sso_jw;

void sso_jw_init(sso_jw *w);
void sso_jw_free(sso_jw *w);
void sso_jw_obj_begin(sso_jw *w);  /* value position: '{' */
void sso_jw_obj_end(sso_jw *w);
void sso_jw_arr_begin(sso_jw *w);
void sso_jw_arr_end(sso_jw *w);
void sso_jw_key(sso_jw *w, const char *k); /* inside an object: ,"k": */
void sso_jw_str(sso_jw *w, const char *s); /* escaped; bytes >= 0x80 as \u00XX (Latin-1) */
void sso_jw_num(sso_jw *w, double v);      /* shortest round-trip, C locale; non-finite: null */
void sso_jw_u64(sso_jw *w, uint64_t v);
void sso_jw_int(sso_jw *w, long long v);
void sso_jw_bool(sso_jw *w, int v);
/* Hands the NUL-terminated text to *out (caller frees) or fails with SSO_ERR_NOMEM/INTERNAL. */
sso_status sso_jw_finish(sso_jw *w, char **out, size_t *len);

/* Formats a double as the writer does; buf >= 32 bytes. Returns the length. */
int sso_json_fmt_double(double v, char *buf, size_t n);

typedef enum sso_jtype { SSO_JNULL, SSO_JBOOL, SSO_JNUM, SSO_JSTR, SSO_JARR, SSO_JOBJ } sso_jtype;

typedef struct sso_jnode {
    sso_jtype type;
    int first;       /* first child (array element / object member), -1 none */
    int next;        /* next sibling, -1 none */
    const char *key; /* member name when the parent is an object (NUL-terminated, decoded) */
    const char *str; /* SSO_JSTR: decoded UTF-8, NUL-terminated (an embedded \u0000 is rejected) */
    double num;      /* SSO_JNUM */
    int b;           /* SSO_JBOOL */
} sso_jnode;

typedef struct sso_jdoc {
    sso_jnode *nodes; /* nodes[0] is the root */
    int n, cap;
    char *arena;
    size_t arena_used;
} sso_jdoc;

/* Parses len bytes (no NUL needed). On error returns SSO_ERR_ARG with "json: <what> at byte N"
 * and leaves *d empty; sso_jdoc_free is safe either way. */
sso_status sso_jdoc_parse(sso_jdoc *d, const char *text, size_t len);
void sso_jdoc_free(sso_jdoc *d);

/* Member of object node obj named key, or NULL. */
const sso_jnode *sso_jdoc_get(const sso_jdoc *d, const sso_jnode *obj, const char *key);
const sso_jnode *sso_jdoc_child(const sso_jdoc *d, const sso_jnode *n); /* first child or NULL */
const sso_jnode *sso_jdoc_next(const sso_jdoc *d, const sso_jnode *n);  /* next sibling or NULL */

/* strtod of exactly n bytes of a JSON number in the C locale; 0 ok, -1 not a JSON number. */
int sso_json_parse_double(const char *s, size_t n, double *out);

#endif
