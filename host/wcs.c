/* host/wcs.c: the celestial WCS of one detector, on wcslib.
 *
 * What: sso_wcs wraps the wcsprm that wcspih() builds from a FITS header string. wcslib does all
 * the work: TAN; TAN-SIP (wcspih turns A_p_q/B_p_q/AP_p_q/BP_p_q into a prior polynomial
 * distortion, "DPja = 'SIP.FWD.p_q: ...'"); TPV (wcsset turns PVi_ma into a sequent distortion on
 * a TAN projection). Both are applied by wcsp2s/wcss2p: tests/test_wcs.c checks that one SIP and
 * one TPV quadratic term move a point by the hand-computed amount.
 *
 * Parsing: wcspih(relax = WCSHDR_all, ctrl = 0) accepts the informal keywords real headers carry
 * (SIP, TPV, CROTA, ...) without reporting them. Of the representations found (primary ' ' and
 * alternates 'A'..'Z') the first that wcsset() accepts and that has celestial axes is used, the
 * primary first. Pixel axis 1 is x, axis 2 is y; further axes (rare: NAXIS3 = 1) get pixel 1.0.
 *
 * Errors (SSO_ERR_WCS, detail naming `what`): no WCS keywords at all; a linear-only or
 * otherwise non-celestial WCS; a singular CD/PC matrix; any other wcsset failure (wcslib's own
 * message is quoted).
 *
 * Threads: wcsset() runs once, here, at creation; afterwards wcsp2s/wcss2p never call it again
 * (they only do when wcsprm::flag is not WCSSET). They are still not read-only: linp2x/linx2p use
 * the scratch array linprm::tmpcrd, and the distortion functions disprm::tmpmem, whenever a
 * distortion (SIP, TPV) is present. So conversions on one sso_wcs are serialised by a mutex,
 * which makes the object safe to share between threads as wcs.h promises. Callers that need
 * parallel throughput make a grid of points per call (one lock per batch, not per point), as
 * the design asks anyway (coarse grid + interpolation).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wcslib/dis.h>
#include <wcslib/wcs.h>
#include <wcslib/wcserr.h>
#include <wcslib/wcshdr.h>

#include "host/status_internal.h"
#include "sso/wcs.h"

/* Conversions go through the wcslib arrays in chunks of this many points, so scratch memory
 * stays small whatever n the caller passes. */
#define SSO_WCS_CHUNK 4096

struct sso_wcs {
    struct wcsprm *all; /* nwcs structs from wcspih(), freed with wcsvfree() */
    int nwcs;
    struct wcsprm *w;   /* the celestial representation in use (points into all) */
    char proj[16];      /* projection code as written in CTYPE (before wcsset rewrites TPV) */
    int has_sip;
    pthread_mutex_t lock; /* serialises wcsp2s/wcss2p: see the module comment */
};

static pthread_once_t g_wcserr_once = PTHREAD_ONCE_INIT;
/* wcserr_enable() sets a process-wide flag; set it once so wcsprm::err carries wcslib's text. */
static void wcserr_on(void) { wcserr_enable(1); }

void sso_wcs_free(sso_wcs *w)
{
    if (!w)
        return;
    if (w->all)
        wcsvfree(&w->nwcs, &w->all);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

/* The projection code after the 5th character of a celestial CTYPE ("RA---TAN-SIP" -> "TAN"),
 * and whether the "-SIP" suffix is there. */
static void projection_of(const char *ctype, char proj[16], int *sip)
{
    proj[0] = '\0';
    *sip = 0;
    if (strlen(ctype) < 8)
        return;
    memcpy(proj, ctype + 5, 3);
    proj[3] = '\0';
    if (strstr(ctype + 8, "SIP"))
        *sip = 1;
}

static int has_prior_sip(const struct wcsprm *w)
{
    if (!w->lin.dispre || !w->lin.dispre->dtype)
        return 0;
    for (int i = 0; i < w->naxis; i++)
        if (!strncmp(w->lin.dispre->dtype[i], "SIP", 3))
            return 1;
    return 0;
}

/* Blanks cards whose string value has no closing quote ("CTYPE2  = 'DEC--TAN" to the end of the
 * card). wcslib 7.12's wcspih copies such a value past the end of its 72-byte field (found by
 * tests/fuzz; a buffer overflow, caught as an abort by _FORTIFY_SOURCE): the card could not mean
 * anything anyway, so it is treated as absent, and a WCS that needed it is then rejected by the
 * usual checks. Also turns NUL and other control bytes into blanks: the header is a C string of
 * nkeys * 80 printable characters from here on. Returns the number of cards blanked. */
/* The SIP polynomial prefix of a coefficient card ("A_0_2", "BP_1_1"): 1 for A, 2 for B, 3 for AP,
 * 4 for BP; 0 for any other card. */
static int sip_coef_kind(const char *c)
{
    int k = c[0] == 'A' ? 1 : c[0] == 'B' ? 2 : 0, i = 1;
    if (!k)
        return 0;
    if (c[1] == 'P')
        k += 2, i = 2;
    return c[i] == '_' && c[i + 1] >= '0' && c[i + 1] <= '9' && c[i + 2] == '_' && c[i + 3] >= '0' &&
                   c[i + 3] <= '9'
               ? k
               : 0;
}

/* Blanks SIP coefficient cards (A_p_q, B_p_q, AP_p_q, BP_p_q) whose polynomial has no *_ORDER
 * card with an integer value 0..9, or whose own value is not a number: wcslib 7.12's wcspih
 * then sizes the coefficient array from an unset order (found by tests/fuzz: a 22 PB allocation,
 * then a NULL dereference inside wcslib). Returns the number of cards blanked. */
static int sanitize_sip(char *h, int nkeys)
{
    static const char *const order_key[5] = {"", "A_ORDER ", "B_ORDER ", "AP_ORDER", "BP_ORDER"};
    int ok[5] = {0, 0, 0, 0, 0}, blanked = 0;
    for (int k = 0; k < nkeys; k++) {
        const char *c = h + (size_t)k * 80;
        for (int j = 1; j <= 4; j++) {
            if (strncmp(c, order_key[j], 8) != 0 || c[8] != '=')
                continue;
            char *end = NULL;
            const long v = strtol(c + 10, &end, 10);
            ok[j] = end != c + 10 && v >= 0 && v <= 9;
        }
    }
    for (int k = 0; k < nkeys; k++) {
        char *c = h + (size_t)k * 80;
        const int j = sip_coef_kind(c);
        if (!j)
            continue;
        char val[72], *end = NULL;
        memcpy(val, c + 10, 70);
        val[70] = '\0';
        char *slash = strchr(val, '/');
        if (slash)
            *slash = '\0';
        (void)strtod(val, &end);
        int number = end != val;
        for (; number && *end; end++)
            number = *end == ' ';
        if (c[8] == '=' && ok[j] && number)
            continue;
        memset(c, ' ', 80);
        memcpy(c, "COMMENT bad SIP coefficient", 27);
        blanked++;
    }
    return blanked;
}

static int sanitize_cards(char *h, int nkeys)
{
    int blanked = 0;
    for (int k = 0; k < nkeys; k++) {
        char *c = h + (size_t)k * 80;
        for (int i = 0; i < 80; i++)
            if ((unsigned char)c[i] < 0x20 || (unsigned char)c[i] > 0x7e)
                c[i] = ' ';
        if (c[8] != '=' || c[9] != ' ')
            continue;
        int i = 10;
        while (i < 80 && c[i] == ' ')
            i++;
        if (i >= 80 || c[i] != '\'')
            continue;
        int closed = 0;
        for (i++; i < 80 && !closed; i++) {
            if (c[i] == '\'') {
                if (i + 1 < 80 && c[i + 1] == '\'')
                    i++; /* '' is a quote inside the string */
                else
                    closed = 1;
            }
        }
        if (!closed) {
            memset(c, ' ', 80);
            memcpy(c, "COMMENT unterminated string", 27);
            blanked++;
        }
    }
    return blanked;
}

sso_status sso_wcs_from_header(const char *header, int nkeys, const char *what, sso_wcs **out)
{
    sso_status st = SSO_OK;
    sso_wcs *w = NULL;
    char *copy = NULL;
    if (!what)
        what = "header";
    if (!out)
        return sso_fail(SSO_ERR_ARG, "%s: sso_wcs_from_header: out is NULL", what);
    *out = NULL;
    if (!header || nkeys < 0 || strlen(header) < (size_t)nkeys * 80)
        return sso_fail(SSO_ERR_ARG, "%s: header string shorter than %d cards", what, nkeys);
    pthread_once(&g_wcserr_once, wcserr_on);

    w = calloc(1, sizeof *w);
    copy = malloc((size_t)nkeys * 80 + 1); /* wcspih takes a non-const char * */
    if (!w || !copy) {
        free(w);
        free(copy);
        return sso_fail(SSO_ERR_NOMEM, "%s: out of memory parsing the WCS", what);
    }
    pthread_mutex_init(&w->lock, NULL);
    memcpy(copy, header, (size_t)nkeys * 80);
    copy[(size_t)nkeys * 80] = '\0';
    sanitize_cards(copy, nkeys);
    sanitize_sip(copy, nkeys);

    int nreject = 0;
    int rc = wcspih(copy, nkeys, WCSHDR_all, 0, &nreject, &w->nwcs, &w->all);
    if (rc != 0) {
        st = sso_fail(SSO_ERR_WCS, "%s: wcslib could not parse the header (wcspih status %d)",
                      what, rc);
        goto exit;
    }
    if (w->nwcs == 0) {
        st = sso_fail(SSO_ERR_WCS, "%s: no WCS keywords (CTYPE, CRVAL, CRPIX, CD/PC)", what);
        goto exit;
    }

    /* The primary representation is first in wcspih's array when present. */
    char first_ctype[2][72] = {"", ""};
    int first_rc = 0, linear_celestial = 0;
    const char *first_msg = "";
    for (int i = 0; i < w->nwcs && !w->w; i++) {
        struct wcsprm *c = &w->all[i];
        char proj[16];
        int sip;
        if (i == 0 && c->naxis >= 2) {
            snprintf(first_ctype[0], sizeof first_ctype[0], "%s", c->ctype[0]);
            snprintf(first_ctype[1], sizeof first_ctype[1], "%s", c->ctype[1]);
        }
        /* wcsset rewrites "TPV" to "TAN": take the projection from CTYPE before it runs. Any
         * axis of the form "XXXX-PPP..." ("RA---TPV", "DEC--TAN-SIP") names it. */
        int lng = -1;
        for (int k = 0; k < c->naxis && lng < 0; k++)
            if (strlen(c->ctype[k]) >= 8 && c->ctype[k][4] == '-')
                lng = k;
        projection_of(lng >= 0 ? c->ctype[lng] : "", proj, &sip);
        int set_rc = wcsset(c);
        if (set_rc != 0) {
            if (i == 0) {
                first_rc = set_rc;
                first_msg = (c->err && c->err->msg[0]) ? c->err->msg : "";
            }
            continue;
        }
        if (c->lng < 0 || c->lat < 0 || c->naxis < 2)
            continue;
        if (c->lng > 1 || c->lat > 1) /* celestial axes must be pixel axes 1 and 2 */
            continue;
        /* wcslib accepts "RA"/"DEC" without a projection code as a linear (AIPS-style) celestial
         * system; a survey image never means that, and positions would be wrong off-centre. */
        if (strlen(c->ctype[c->lng]) < 8 || c->ctype[c->lng][4] != '-') {
            linear_celestial = 1;
            continue;
        }
        w->w = c;
        snprintf(w->proj, sizeof w->proj, "%s", proj[0] ? proj : c->ctype[c->lng] + 5); /* >= 8 chars */
        w->has_sip = sip || has_prior_sip(c);
    }
    if (!w->w) {
        if (first_rc == WCSERR_SINGULAR_MTX)
            st = sso_fail(SSO_ERR_WCS, "%s: singular CD/PC matrix (wcsset: %s)", what, first_msg);
        else if (first_rc != 0)
            st = sso_fail(SSO_ERR_WCS, "%s: wcslib rejects the WCS (CTYPE '%s', '%s'; wcsset %d: %s)",
                          what, first_ctype[0], first_ctype[1], first_rc, first_msg);
        else if (linear_celestial)
            st = sso_fail(SSO_ERR_WCS,
                          "%s: celestial axes without a projection code (CTYPE1 '%s', CTYPE2 '%s'): "
                          "a linear-only WCS",
                          what, first_ctype[0], first_ctype[1]);
        else if (!first_ctype[0][0] && !first_ctype[1][0])
            st = sso_fail(SSO_ERR_WCS, "%s: no WCS keywords (no CTYPE1/CTYPE2)", what);
        else
            st = sso_fail(SSO_ERR_WCS,
                          "%s: no celestial axes: linear-only or non-celestial WCS (CTYPE1 '%s', "
                          "CTYPE2 '%s')",
                          what, first_ctype[0], first_ctype[1]);
        goto exit;
    }
    *out = w;
    w = NULL;
exit:
    free(copy);
    sso_wcs_free(w);
    return st;
}

/* Shared body of pix2sky (dir 0) and sky2pix (dir 1). */
static sso_status convert(const sso_wcs *cw, int dir, size_t n, const double *in_a,
                          const double *in_b, double *out_a, double *out_b)
{
    if (!cw || (n && (!in_a || !in_b || !out_a || !out_b)))
        return sso_fail(SSO_ERR_ARG, "sso_wcs: NULL argument");
    if (n == 0)
        return SSO_OK;
    sso_wcs *w = (sso_wcs *)cw; /* the mutex and wcslib's scratch are the only mutable parts */
    struct wcsprm *p = w->w;
    const int nelem = p->naxis;
    const size_t chunk = n < SSO_WCS_CHUNK ? n : SSO_WCS_CHUNK;
    double *pix = malloc(chunk * (size_t)nelem * sizeof *pix);
    double *img = malloc(chunk * (size_t)nelem * sizeof *img);
    double *wld = malloc(chunk * (size_t)nelem * sizeof *wld);
    double *phi = malloc(chunk * sizeof *phi);
    double *theta = malloc(chunk * sizeof *theta);
    int *stat = malloc(chunk * sizeof *stat);
    sso_status st = SSO_OK;
    if (!pix || !img || !wld || !phi || !theta || !stat) {
        st = sso_fail(SSO_ERR_NOMEM, "sso_wcs: out of memory for %zu points", n);
        goto exit;
    }
    pthread_mutex_lock(&w->lock);
    for (size_t off = 0; off < n; off += chunk) {
        const size_t m = n - off < chunk ? n - off : chunk;
        for (size_t i = 0; i < m; i++) {
            double *row = (dir == 0 ? pix : wld) + i * (size_t)nelem;
            for (int k = 0; k < nelem; k++)
                row[k] = dir == 0 ? 1.0 : p->crval[k];
            if (dir == 0) {
                row[0] = in_a[off + i];
                row[1] = in_b[off + i];
            } else {
                row[p->lng] = in_a[off + i];
                row[p->lat] = in_b[off + i];
            }
        }
        int rc = dir == 0 ? wcsp2s(p, (int)m, nelem, pix, img, phi, theta, wld, stat)
                          : wcss2p(p, (int)m, nelem, wld, phi, theta, img, pix, stat);
        const int bad_some = dir == 0 ? WCSERR_BAD_PIX : WCSERR_BAD_WORLD;
        if (rc != 0 && rc != bad_some) {
            for (size_t i = 0; i < m; i++)
                out_a[off + i] = out_b[off + i] = NAN;
            if (st == SSO_OK)
                st = sso_fail(SSO_ERR_WCS, "sso_wcs: %s failed (status %d: %s)",
                              dir == 0 ? "wcsp2s" : "wcss2p", rc,
                              p->err ? p->err->msg : "");
            continue;
        }
        for (size_t i = 0; i < m; i++) {
            const double *row = (dir == 0 ? wld : pix) + i * (size_t)nelem;
            const int ok = rc == 0 || stat[i] == 0;
            const double a = dir == 0 ? row[p->lng] : row[0];
            const double b = dir == 0 ? row[p->lat] : row[1];
            out_a[off + i] = ok ? a : NAN;
            out_b[off + i] = ok ? b : NAN;
        }
    }
    pthread_mutex_unlock(&w->lock);
exit:
    free(pix);
    free(img);
    free(wld);
    free(phi);
    free(theta);
    free(stat);
    return st;
}

sso_status sso_wcs_pix2sky(const sso_wcs *w, size_t n, const double *x_px, const double *y_px,
                           double *ra_deg, double *dec_deg)
{
    return convert(w, 0, n, x_px, y_px, ra_deg, dec_deg);
}

sso_status sso_wcs_sky2pix(const sso_wcs *w, size_t n, const double *ra_deg, const double *dec_deg,
                           double *x_px, double *y_px)
{
    return convert(w, 1, n, ra_deg, dec_deg, x_px, y_px);
}

const char *sso_wcs_projection(const sso_wcs *w) { return w ? w->proj : ""; }

int sso_wcs_has_sip(const sso_wcs *w) { return w ? w->has_sip : 0; }
