/* tests/support/fitsgen.c: see fitsgen.h. Writes test FITS files with cfitsio only (no sso code),
 * so that what ingest reads can be checked against what was written. */
#define _POSIX_C_SOURCE 200809L
#include "fitsgen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fitsio.h>

enum { KIND_SCI = 0, KIND_RMS = 1, KIND_FLG = 2 };
static const char *const g_kind[3] = {"SCI", "RMS", "FLG"};
static const char *const g_kind_lc[3] = {"sci", "rms", "flg"};

void sso_fg_defaults(sso_fg_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->obs_id, sizeof c->obs_id, "002681");
    c->dither = 1;
    c->expnum = 1;
    c->mjd_start = 60600.25;
    c->write_mjd_obs = 1;
    c->write_date_obs = 1;
    c->write_exptime = 1;
    c->exptime_s = 566.0;
    c->n_ccds = 2;
    c->width = 32;
    c->height = 24;
    c->wcs = SSO_FG_WCS_TPV;
    c->ra_deg = 150.1;
    c->dec_deg = 2.2;
    c->gain_e_per_adu = 3.48;
    c->magzerop = 24.566;
    c->sci_bitpix = -32;
    c->rms_bitpix = -32;
    c->flg_bitpix = 32;
    c->bad_bitpix = 16;
}

void sso_fg_quartet_member(const sso_fg_config *base, int e, sso_fg_config *out)
{
    *out = *base;
    out->dither = base->dither ? e + 1 : 0; /* 0: no DITHOBS in any member */
    out->expnum = base->expnum ? e + 1 : 0;
    out->mjd_start = base->mjd_start + e * SSO_FG_START_STEP_S / 86400.0;
    /* dither step ~127": 18.6" in RA cos(Dec), 125" in Dec (EUCLID.md) */
    out->ra_deg = base->ra_deg + e * 18.6 / 3600.0 / cos(base->dec_deg * 3.14159265358979 / 180.0);
    out->dec_deg = base->dec_deg + e * 125.0 / 3600.0;
}

int sso_fg_n_detectors(const sso_fg_config *c)
{
    if (c->generic)
        return 1;
    return c->n_ccds * (c->quadrants ? 4 : 1);
}

void sso_fg_det_name(const sso_fg_config *c, int d, char *out, size_t n)
{
    if (c->generic) {
        snprintf(out, n, "0");
        return;
    }
    const int ccd = c->quadrants ? d / 4 : d;
    const int row = ccd / 6 + 1, col = ccd % 6 + 1;
    if (c->quadrants)
        snprintf(out, n, "%d-%d.%c", row, col, "EFGH"[d % 4]);
    else
        snprintf(out, n, "%d-%d", row, col);
}

/* days from 1970-01-01 to a civil date and back (H. Hinnant's algorithms) */
static void civil_from_days(long z, int *y, int *m, int *d)
{
    z += 719468;
    const long era = (z >= 0 ? z : z - 146096) / 146097;
    const long doe = z - era * 146097;
    const long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

void sso_fg_mjd_to_iso(double mjd, char *out, size_t n)
{
    const double days = floor(mjd);
    long usec = lround((mjd - days) * 86400.0e6);
    long day = (long)days - 40587; /* MJD 40587 = 1970-01-01 */
    if (usec >= 86400L * 1000000L) {
        usec -= 86400L * 1000000L;
        day++;
    }
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    const long s = usec / 1000000L;
    snprintf(out, n, "%04d-%02d-%02dT%02ld:%02ld:%02ld.%06ld", y, m, d, s / 3600, s / 60 % 60,
             s % 60, usec % 1000000L);
}

void sso_fg_file_name(const sso_fg_config *c, char *out, size_t n)
{
    char iso[64], stamp[64];
    sso_fg_mjd_to_iso(c->mjd_start, iso, sizeof iso);
    /* 2024-10-17T04:28:39.727728 -> 20241017T042839.727728Z */
    size_t k = 0;
    for (const char *p = iso; *p && k + 2 < sizeof stamp; p++)
        if (*p != '-' && *p != ':')
            stamp[k++] = *p;
    stamp[k++] = 'Z';
    stamp[k] = '\0';
    snprintf(out, n, "EUC_VIS_SWL-DET-%s-%02d-1-0000000__%s.fits", c->obs_id[0] ? c->obs_id : "000000",
             c->dither, stamp);
}

/* A uniform deviate in [0, 1) from (d, x, y) by integer hashing (splitmix64's finaliser). */
static double hash01(int d, int x, int y, int k)
{
    uint64_t z = ((uint64_t)(uint32_t)d << 48) ^ ((uint64_t)(uint32_t)x << 24) ^ (uint64_t)(uint32_t)y ^
                 ((uint64_t)k << 60);
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

float sso_fg_sci_adu(const sso_fg_config *c, int d, int x, int y)
{
    if (y == 2 && x >= 2 && x < 2 + c->n_nan_pixels)
        return NAN;
    float v = 100.0f + 10.0f * (float)d + 0.01f * (float)x + 0.02f * (float)y +
              0.5f * (float)((x * 7 + y * 13) % 17 - 8);
    if (c->noise_adu > 0.0) {
        /* Box-Muller from two hashed uniforms */
        const double u1 = hash01(d, x, y, 1) + 1e-300, u2 = hash01(d, x, y, 2);
        v += (float)(c->noise_adu * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    }
    return v;
}

float sso_fg_rms_adu(const sso_fg_config *c, int d, int x, int y)
{
    (void)c;
    (void)y;
    return 3.0f + 0.001f * (float)x + 0.1f * (float)d;
}

int32_t sso_fg_flg(const sso_fg_config *c, int d, int x, int y)
{
    (void)d;
    int32_t f = 0;
    if (x == 3)
        f |= 1 << 7; /* BAD_COLUMN */
    if ((x * y) % 50 == 1)
        f |= 1 << 4; /* COSMIC */
    if (x == 5 && y == 5)
        f |= (1 << 1) | (1 << 18); /* HOT | STARSIGNAL */
    if (x == 6 && y == 6)
        f |= 1 << 24; /* OBJECTS */
    if (c->flg_bitpix == 16)
        f &= 0x7fff; /* what a signed 16-bit plane can hold */
    else if (c->flg_bitpix == 8)
        f &= 0xff;
    return f;
}

void sso_fg_det_crpix(const sso_fg_config *c, int d, double *crpix1, double *crpix2)
{
    if (c->generic) {
        *crpix1 = 0.5 * (c->width + 1);
        *crpix2 = 0.5 * (c->height + 1);
        return;
    }
    const int ccd = c->quadrants ? d / 4 : d;
    const int q = c->quadrants ? d % 4 : 0;
    const int row = ccd / 6, col = ccd % 6;
    /* the detectors tile a focal plane with 10 px gaps around a common CRVAL */
    *crpix1 = 0.5 * (c->width + 1) - col * (c->width + 10.0) - (q % 2) * c->width;
    *crpix2 = 0.5 * (c->height + 1) - row * (c->height + 10.0) - (q / 2) * c->height;
}

void sso_fg_cd(double cd[2][2])
{
    const double s = 0.1 / 3600.0; /* 0.1"/px, north up, east left */
    cd[0][0] = -s;
    cd[0][1] = 0.0;
    cd[1][0] = 0.0;
    cd[1][1] = s;
}

static void write_int_plane(fitsfile *f, int bitpix, const double *v, size_t n, int *st);

static int same(const char *a, const char *b) { return a[0] && !strcmp(a, b); }

static void write_wcs(fitsfile *f, const sso_fg_config *c, int d, const char *ext, int *st)
{
    double crpix1, crpix2, cd[2][2];
    sso_fg_det_crpix(c, d, &crpix1, &crpix2);
    sso_fg_cd(cd);
    if (same(c->no_wcs_ext, ext))
        return;
    const char *ct1 = "RA---TAN", *ct2 = "DEC--TAN";
    if (c->wcs == SSO_FG_WCS_SIP) {
        ct1 = "RA---TAN-SIP";
        ct2 = "DEC--TAN-SIP";
    } else if (c->wcs == SSO_FG_WCS_TPV) {
        ct1 = "RA---TPV";
        ct2 = "DEC--TPV";
    }
    if (same(c->linear_wcs_ext, ext))
        ct1 = ct2 = "LINEAR";
    if (same(c->singular_wcs_ext, ext))
        cd[0][0] = cd[0][1] = cd[1][0] = cd[1][1] = 0.0;
    fits_write_key(f, TSTRING, "CTYPE1", (void *)ct1, NULL, st);
    fits_write_key(f, TSTRING, "CTYPE2", (void *)ct2, NULL, st);
    double ra = c->ra_deg, dec = c->dec_deg;
    fits_write_key(f, TDOUBLE, "CRVAL1", &ra, "[deg]", st);
    fits_write_key(f, TDOUBLE, "CRVAL2", &dec, "[deg]", st);
    fits_write_key(f, TDOUBLE, "CRPIX1", &crpix1, NULL, st);
    fits_write_key(f, TDOUBLE, "CRPIX2", &crpix2, NULL, st);
    fits_write_key(f, TDOUBLE, "CD1_1", &cd[0][0], NULL, st);
    fits_write_key(f, TDOUBLE, "CD1_2", &cd[0][1], NULL, st);
    fits_write_key(f, TDOUBLE, "CD2_1", &cd[1][0], NULL, st);
    fits_write_key(f, TDOUBLE, "CD2_2", &cd[1][1], NULL, st);
    fits_write_key(f, TSTRING, "RADESYS", "ICRS", NULL, st);
    if (c->wcs == SSO_FG_WCS_SIP) {
        int order = 2;
        double a20 = 2e-6, b02 = -1.5e-6, zero = 0.0;
        fits_write_key(f, TINT, "A_ORDER", &order, NULL, st);
        fits_write_key(f, TDOUBLE, "A_2_0", &a20, NULL, st);
        fits_write_key(f, TDOUBLE, "A_1_1", &zero, NULL, st);
        fits_write_key(f, TDOUBLE, "A_0_2", &zero, NULL, st);
        fits_write_key(f, TINT, "B_ORDER", &order, NULL, st);
        fits_write_key(f, TDOUBLE, "B_2_0", &zero, NULL, st);
        fits_write_key(f, TDOUBLE, "B_1_1", &zero, NULL, st);
        fits_write_key(f, TDOUBLE, "B_0_2", &b02, NULL, st);
    } else if (c->wcs == SSO_FG_WCS_TPV) {
        double zero = 0.0, one = 1.0, q1 = 4e-3, q2 = -3e-3; /* [1/deg] */
        fits_write_key(f, TDOUBLE, "PV1_0", &zero, NULL, st);
        fits_write_key(f, TDOUBLE, "PV1_1", &one, NULL, st);
        fits_write_key(f, TDOUBLE, "PV1_2", &zero, NULL, st);
        fits_write_key(f, TDOUBLE, "PV1_4", &q1, NULL, st);
        fits_write_key(f, TDOUBLE, "PV2_0", &zero, NULL, st);
        fits_write_key(f, TDOUBLE, "PV2_1", &one, NULL, st);
        fits_write_key(f, TDOUBLE, "PV2_2", &zero, NULL, st);
        fits_write_key(f, TDOUBLE, "PV2_4", &q2, NULL, st);
    }
}

static void write_time_keys(fitsfile *f, const sso_fg_config *c, int *st)
{
    if (c->write_date_obs) {
        char iso[64];
        sso_fg_mjd_to_iso(c->mjd_start, iso, sizeof iso);
        fits_write_key(f, TSTRING, "DATE-OBS", iso, "start of exposure, UTC", st);
    }
    if (c->write_mjd_obs) {
        double mjd = c->mjd_start;
        fits_write_key(f, TDOUBLE, "MJD-OBS", &mjd, "start of exposure [d, UTC]", st);
    }
    if (c->write_exptime) {
        double t = c->exptime_s;
        fits_write_key(f, TDOUBLE, "EXPTIME", &t, "[s]", st);
    }
}

static void write_obs_keys(fitsfile *f, const sso_fg_config *c, int *st)
{
    if (c->obs_id[0]) {
        if (c->obs_id_numeric) {
            long v = atol(c->obs_id);
            fits_write_key(f, TLONG, "OBS_ID", &v, "observation id", st);
        } else {
            fits_write_key(f, TSTRING, "OBS_ID", (void *)c->obs_id, "observation id", st);
        }
    }
    if (c->dither) {
        int v = c->dither;
        fits_write_key(f, TINT, "DITHOBS", &v, "dither of the observation", st);
    }
    if (c->expnum) {
        int v = c->expnum;
        fits_write_key(f, TINT, "EXPNUM", &v, NULL, st);
    }
    write_time_keys(f, c, st);
}

/* Writes one image HDU (primary when primary != 0) of the given kind for detector d. */
static void write_image(fitsfile *f, const sso_fg_config *c, int d, int kind, const char *extname,
                        int primary, int *st)
{
    long w = c->width, h = c->height;
    if (same(c->wider_ext, extname))
        w++;
    int bitpix = kind == KIND_SCI ? c->sci_bitpix : kind == KIND_RMS ? c->rms_bitpix : c->flg_bitpix;
    if (same(c->bitpix_ext, extname))
        bitpix = c->bad_bitpix;
    if (c->compress && !primary) {
        fits_set_compression_type(f, RICE_1, st);
        if (bitpix < 0)
            fits_set_quantize_level(f, c->quantize_level > 0 ? c->quantize_level
                                                             : -(float)SSO_FG_QSTEP_ADU, st);
    }
    long naxes[2] = {w, h};
    fits_create_img(f, bitpix, 2, naxes, st);
    if (*st)
        return;
    if (!primary)
        fits_write_key(f, TSTRING, "EXTNAME", (void *)extname, NULL, st);
    if (kind == KIND_SCI) {
        double g = c->gain_e_per_adu, z = c->magzerop + 0.01 * d;
        fits_write_key(f, TDOUBLE, "GAIN", &g, "[e-/ADU]", st);
        fits_write_key(f, TDOUBLE, "MAGZEROP", &z, "AB zero point for 1 ADU/s", st);
        fits_write_key(f, TSTRING, "BUNIT", "ADU", NULL, st);
        write_wcs(f, c, d, extname, st);
    }
    const size_t n = (size_t)w * (size_t)h;
    const int all_nan = kind == KIND_SCI && same(c->nan_ext, extname);
    if (bitpix > 0) {
        /* an integer image: FLG, or SCI/RMS with a wrong BITPIX (NaN written as 0) */
        double *buf = malloc(n * sizeof *buf);
        if (!buf) {
            *st = MEMORY_ALLOCATION;
            return;
        }
        for (long y = 1; y <= h; y++)
            for (long x = 1; x <= w; x++) {
                double v = kind == KIND_FLG   ? (double)sso_fg_flg(c, d, (int)x, (int)y)
                           : kind == KIND_SCI ? (double)sso_fg_sci_adu(c, d, (int)x, (int)y)
                                              : (double)sso_fg_rms_adu(c, d, (int)x, (int)y);
                buf[(size_t)(y - 1) * (size_t)w + (size_t)(x - 1)] = isfinite(v) ? v : 0.0;
            }
        write_int_plane(f, bitpix, buf, n, st);
        free(buf);
    } else {
        float *buf = malloc(n * sizeof *buf);
        if (!buf) {
            *st = MEMORY_ALLOCATION;
            return;
        }
        for (long y = 1; y <= h; y++)
            for (long x = 1; x <= w; x++) {
                float v = kind == KIND_SCI   ? sso_fg_sci_adu(c, d, (int)x, (int)y)
                          : kind == KIND_RMS ? sso_fg_rms_adu(c, d, (int)x, (int)y)
                                             : (float)sso_fg_flg(c, d, (int)x, (int)y);
                if (kind == KIND_RMS && c->generic && c->generic_planes == 2)
                    v = 1.0f / (v * v); /* WEIGHT = 1 / rms^2 */
                buf[(size_t)(y - 1) * (size_t)w + (size_t)(x - 1)] = all_nan ? NAN : v;
            }
        /* NaN pixels: cfitsio 4.2's fits_write_pix does not mark NaN as undefined (ZBLANK) in a
         * quantised, tile-compressed float image (it comes back as a huge number), so write them
         * as a sentinel through fits_write_pixnull, which records them as undefined (ZBLANK)
         * compressed, and as NaN uncompressed. */
        float sentinel = -9.11912e-36f;
        for (size_t i = 0; i < n; i++)
            if (isnan(buf[i]))
                buf[i] = sentinel;
        long fp[2] = {1, 1};
        fits_write_pixnull(f, TFLOAT, fp, (LONGLONG)n, buf, &sentinel, st);
        free(buf);
    }
    if (c->checksum)
        fits_write_chksum(f, st);
}

/* Writes n values to an integer image of the given BITPIX in its own C type: cfitsio refuses
 * implicit type conversion when writing tile-compressed images. */
static void write_int_plane(fitsfile *f, int bitpix, const double *v, size_t n, int *st)
{
    long fp[2] = {1, 1};
    if (bitpix == 8 || bitpix == 16) {
        short *b = malloc(n * sizeof *b);
        if (!b) {
            *st = MEMORY_ALLOCATION;
            return;
        }
        for (size_t i = 0; i < n; i++)
            b[i] = (short)lround(v[i]);
        if (bitpix == 8) {
            unsigned char *u = malloc(n);
            if (u) {
                for (size_t i = 0; i < n; i++)
                    u[i] = (unsigned char)b[i];
                fits_write_pix(f, TBYTE, fp, (LONGLONG)n, u, st);
                free(u);
            } else {
                *st = MEMORY_ALLOCATION;
            }
        } else {
            fits_write_pix(f, TSHORT, fp, (LONGLONG)n, b, st);
        }
        free(b);
    } else {
        int *b = malloc(n * sizeof *b);
        if (!b) {
            *st = MEMORY_ALLOCATION;
            return;
        }
        for (size_t i = 0; i < n; i++)
            b[i] = (int)lround(v[i]);
        fits_write_pix(f, TINT, fp, (LONGLONG)n, b, st);
        free(b);
    }
}

static void set_err(char *err, size_t nerr, const char *what, int st)
{
    if (!err || !nerr)
        return;
    char txt[FLEN_STATUS];
    fits_get_errstatus(st, txt);
    snprintf(err, nerr, "%s: cfitsio status %d (%s)", what, st, txt);
}

int sso_fg_write(const sso_fg_config *c, const char *path, char *err, size_t nerr)
{
    fitsfile *f = NULL;
    int st = 0;
    unlink(path);
    if (fits_create_diskfile(&f, path, &st)) {
        set_err(err, nerr, path, st);
        return st;
    }
    if (c->generic) {
        write_image(f, c, 0, KIND_SCI, "", 1, &st);
        write_obs_keys(f, c, &st);
        if (c->checksum)
            fits_write_chksum(f, &st);
        if (c->generic_planes) {
            write_image(f, c, 0, KIND_RMS, c->generic_planes == 2 ? "WEIGHT" : "RMS", 0, &st);
            write_image(f, c, 0, KIND_FLG, c->generic_planes == 2 ? "MASK" : "FLG", 0, &st);
        }
    } else {
        fits_create_img(f, 8, 0, NULL, &st);
        write_obs_keys(f, c, &st);
        double ra = c->ra_deg, dec = c->dec_deg;
        fits_write_key(f, TDOUBLE, "RA", &ra, "pointing [deg]", &st);
        fits_write_key(f, TDOUBLE, "DEC", &dec, "pointing [deg]", &st);
        fits_write_key(f, TSTRING, "INSTRUME", "VIS", NULL, &st);
        if (c->checksum)
            fits_write_chksum(f, &st);
        const int ndet = sso_fg_n_detectors(c);
        int order[3 * SSO_FG_MAX_DET];
        const int next = 3 * (ndet < SSO_FG_MAX_DET ? ndet : SSO_FG_MAX_DET);
        for (int i = 0; i < next; i++)
            order[i] = i;
        if (c->shuffle_seed) {
            unsigned s = c->shuffle_seed;
            for (int i = next - 1; i > 0; i--) {
                s = s * 1103515245u + 12345u;
                const int j = (int)((s >> 8) % (unsigned)(i + 1));
                const int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
        for (int i = 0; i < next && !st; i++) {
            const int d = order[i] / 3, kind = order[i] % 3;
            char name[32], ext[48];
            sso_fg_det_name(c, d, name, sizeof name);
            snprintf(ext, sizeof ext, "%s.%s", name, c->ext_name_lowercase ? g_kind_lc[kind] : g_kind[kind]);
            if (same(c->drop_ext, ext))
                continue;
            write_image(f, c, d, kind, ext, 0, &st);
        }
    }
    int cst = 0;
    fits_close_file(f, &cst);
    if (st || cst) {
        set_err(err, nerr, path, st ? st : cst);
        return st ? st : cst;
    }
    return 0;
}

int sso_fg_write_quartet(const sso_fg_config *base, const char *dir, char paths[4][4096],
                         char *err, size_t nerr)
{
    for (int e = 0; e < 4; e++) {
        sso_fg_config m;
        char name[256];
        sso_fg_quartet_member(base, e, &m);
        sso_fg_file_name(&m, name, sizeof name);
        snprintf(paths[e], 4096, "%s/%s", dir, name);
        int st = sso_fg_write(&m, paths[e], err, nerr);
        if (st)
            return st;
    }
    return 0;
}

int sso_fg_damage_heap(const char *path, const char *extname, int mode, char *err, size_t nerr)
{
    fitsfile *f = NULL;
    int st = 0;
    long long naxis1 = 0, naxis2 = 0, pcount = 0, theap = -1;
    LONGLONG head0 = 0, data0 = 0, data1 = 0;
    if (fits_open_diskfile(&f, path, READONLY, &st) ||
        fits_movnam_hdu(f, ANY_HDU, (char *)extname, 0, &st) ||
        fits_get_hduaddrll(f, &head0, &data0, &data1, &st) ||
        fits_read_key(f, TLONGLONG, "NAXIS1", &naxis1, NULL, &st) ||
        fits_read_key(f, TLONGLONG, "NAXIS2", &naxis2, NULL, &st) ||
        fits_read_key(f, TLONGLONG, "PCOUNT", &pcount, NULL, &st)) {
        set_err(err, nerr, path, st);
        if (f) {
            int cst = 0;
            fits_close_file(f, &cst);
        }
        return st ? st : -1;
    }
    int tst = 0;
    if (fits_read_key(f, TLONGLONG, "THEAP", &theap, NULL, &tst))
        theap = naxis1 * naxis2;
    fits_close_file(f, &st);
    FILE *fp = fopen(path, "r+b");
    if (!fp) {
        snprintf(err, nerr, "%s: cannot open for writing", path);
        return -1;
    }
    const long long heap = (long long)data0 + theap;
    int rc = 0;
    if (mode == 2) {
        /* the heap becomes zeros: a valid Rice stream of constant blocks (wrong values that
         * decode without error; only DATASUM tells) */
        if (fseeko(fp, (off_t)heap, SEEK_SET) != 0)
            rc = -1;
        for (long long i = 0; i < pcount && !rc; i++)
            if (fputc(0, fp) == EOF)
                rc = -1;
    } else if (mode == 0) {
        /* the heap: every tile's compressed bytes become 0xFF. For Rice that reads as "high
         * entropy, raw 32-bit values" and the decoder runs out of compressed bytes, which
         * cfitsio reports (after reading up to a block beyond the tile: see host/ingest.c). */
        if (fseeko(fp, (off_t)heap, SEEK_SET) != 0)
            rc = -1;
        for (long long i = 0; i < pcount && !rc; i++)
            if (fputc(0xFF, fp) == EOF)
                rc = -1;
    } else {
        /* the first tile descriptor (row 1 of the table: 2 x int32 length, offset) points far
         * beyond the heap */
        unsigned char desc[8] = {0x00, 0x00, 0x10, 0x00, 0x7f, 0x00, 0x00, 0x00};
        if (fseeko(fp, (off_t)data0, SEEK_SET) != 0 || fwrite(desc, 1, 8, fp) != 8)
            rc = -1;
    }
    if (fclose(fp) != 0)
        rc = -1;
    if (rc)
        snprintf(err, nerr, "%s: cannot write the damage", path);
    return rc;
}
