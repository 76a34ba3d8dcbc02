/* tools/cmd_wcs.c: `sso wcs FILE EXTNAME`: print pixel -> sky for a grid of points of one extension.
 *
 * For checking a header's WCS as sso reads it (wcslib through include/sso/wcs.h), by eye or against
 * another implementation (tests/test_wcs_astropy.py compares it with astropy). Points are FITS
 * 1-based pixel coordinates on a regular grid covering the image, corners included, plus optional
 * explicit points. Output: one line per point "x y ra dec" (deg, %.12f), then the round trip
 * sky -> pixel residual as a comment.
 */
#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/status_internal.h"
#include "tools/commands.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sso wcs FILE EXTNAME [--grid N] [--xy X,Y ...]\n"
            "\n"
            "Prints the celestial WCS of one image extension as sso reads it (wcslib: TAN, TAN-SIP,\n"
            "TPV): one line 'x y ra dec' per point, pixel coordinates FITS 1-based, RA/Dec in degrees.\n"
            "\n"
            "  EXTNAME     the extension, e.g. 3-4.SCI; '0' for the primary HDU\n"
            "  --grid N    an N x N grid over the image, corners included [5]\n"
            "  --xy X,Y    an extra point (repeatable)\n"
            "\n"
            "exit codes: 0 ok, 2 usage, 3 no usable WCS or bad file, 4 file not readable.\n");
}

static sso_status read_header(const char *path, const char *ext, char **hdr, int *nkeys, long *naxes)
{
    fitsfile *f = NULL;
    int fst = 0, hdutype = 0, naxis = 0;
    sso_status st = SSO_OK;
    if (fits_open_file(&f, path, READONLY, &fst)) {
        st = fst == FILE_NOT_OPENED ? SSO_ERR_IO : SSO_ERR_NOT_FITS;
        return sso_fail(st, "%s: cannot open as FITS (cfitsio status %d)", path, fst);
    }
    if (strcmp(ext, "0") != 0) {
        if (fits_movnam_hdu(f, ANY_HDU, (char *)ext, 0, &fst)) {
            st = sso_fail(SSO_ERR_MISSING_EXT, "%s: no extension %s", path, ext);
            goto exit;
        }
    }
    fits_get_hdu_type(f, &hdutype, &fst);
    if (fits_get_img_dim(f, &naxis, &fst) || naxis != 2 ||
        fits_get_img_size(f, 2, naxes, &fst)) {
        st = sso_fail(SSO_ERR_BAD_HEADER, "%s, extension %s: not a 2-d image", path, ext);
        goto exit;
    }
    if (fits_hdr2str(f, 1, NULL, 0, hdr, nkeys, &fst)) {
        st = sso_fail(SSO_ERR_BAD_HEADER, "%s, extension %s: cannot read header", path, ext);
        goto exit;
    }
exit:
    fst = 0;
    fits_close_file(f, &fst);
    return st;
}

int sso_cmd_wcs(int argc, char **argv)
{
    const char *path = NULL, *ext = NULL;
    int grid = 5;
    double xs[64], ys[64];
    int nextra = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--grid") && i + 1 < argc) {
            grid = atoi(argv[++i]);
            if (grid < 2 || grid > 1000) {
                fprintf(stderr, "sso wcs: --grid must be 2..1000\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--xy") && i + 1 < argc) {
            if (nextra >= 64 || sscanf(argv[++i], "%lf,%lf", &xs[nextra], &ys[nextra]) != 2) {
                fprintf(stderr, "sso wcs: --xy takes X,Y (at most 64 points)\n");
                return 2;
            }
            nextra++;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "sso wcs: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (!path) {
            path = argv[i];
        } else if (!ext) {
            ext = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!path || !ext) {
        usage(stderr);
        return 2;
    }
    char *hdr = NULL;
    int nkeys = 0, fst = 0;
    long naxes[2] = {0, 0};
    sso_wcs *w = NULL;
    char what[1024];
    snprintf(what, sizeof what, "%s, extension %s", path, ext);
    sso_status st = read_header(path, ext, &hdr, &nkeys, naxes);
    if (st == SSO_OK)
        st = sso_wcs_from_header(hdr, nkeys, what, &w);
    if (hdr)
        fits_free_memory(hdr, &fst);
    if (st != SSO_OK)
        return sso_cli_error("wcs", st);

    size_t n = (size_t)grid * grid + (size_t)nextra;
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    double *ra = malloc(n * sizeof *ra), *dec = malloc(n * sizeof *dec);
    double *x2 = malloc(n * sizeof *x2), *y2 = malloc(n * sizeof *y2);
    int rc = 0;
    if (!x || !y || !ra || !dec || !x2 || !y2) {
        rc = sso_cli_error("wcs", sso_fail(SSO_ERR_NOMEM, "%zu points", n));
        goto exit;
    }
    for (int j = 0; j < grid; j++)
        for (int i = 0; i < grid; i++) {
            x[(size_t)j * grid + i] = 1.0 + (double)(naxes[0] - 1) * i / (grid - 1);
            y[(size_t)j * grid + i] = 1.0 + (double)(naxes[1] - 1) * j / (grid - 1);
        }
    for (int k = 0; k < nextra; k++) {
        x[(size_t)grid * grid + k] = xs[k];
        y[(size_t)grid * grid + k] = ys[k];
    }
    st = sso_wcs_pix2sky(w, n, x, y, ra, dec);
    if (st == SSO_OK)
        st = sso_wcs_sky2pix(w, n, ra, dec, x2, y2);
    if (st != SSO_OK) {
        rc = sso_cli_error("wcs", st);
        goto exit;
    }
    printf("# %s: %s%s, %ld x %ld px\n", what, sso_wcs_projection(w), sso_wcs_has_sip(w) ? "-SIP" : "",
           naxes[0], naxes[1]);
    printf("# x_px y_px ra_deg dec_deg\n");
    double worst = 0.0;
    for (size_t k = 0; k < n; k++) {
        printf("%.6f %.6f %.12f %.12f\n", x[k], y[k], ra[k], dec[k]);
        double d = hypot(x2[k] - x[k], y2[k] - y[k]);
        worst = d > worst || isnan(d) ? d : worst;
    }
    printf("# round trip sky->pixel worst residual: %.3g px\n", worst);
exit:
    free(x), free(y), free(ra), free(dec), free(x2), free(y2);
    sso_wcs_free(w);
    return rc;
}
