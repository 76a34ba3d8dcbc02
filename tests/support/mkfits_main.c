/* tests/support/mkfits_main.c: sso_test_mkfits, a test-only helper (not installed, not documented
 * for users) that writes small Euclid-layout quartets, good or broken in one named way, with
 * tests/support/fitsgen. The shell tests use it to make their own inputs; the fuzz test uses it
 * for its seed corpus.
 *
 *   sso_test_mkfits <case> <dir>
 *
 * writes the case's files into dir (created if missing) and prints on stdout the path that an
 * error message about the case must name (the broken file, or dir for whole-directory cases), or
 * nothing for good cases. Exit status 0, or 1 with a message on stderr.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fitsgen.h"

static const char *const g_cases[] = {
    "good", "good-compressed", "good-checksum", "notfits", "truncated", "missing-ext", "bitpix",
    "size", "nowcs", "notime", "obsid", "dupdither", "three", "five", "allnan", "corrupt-tile",
    "bad-checksum", "seeds",
};

static int usage(void)
{
    fprintf(stderr, "usage: sso_test_mkfits <case> <dir>\ncases:");
    for (size_t i = 0; i < sizeof g_cases / sizeof g_cases[0]; i++)
        fprintf(stderr, " %s", g_cases[i]);
    fprintf(stderr, "\n");
    return 1;
}

static int write_member(const sso_fg_config *base, int e, const sso_fg_config *tweak,
                        const char *dir, char *path, size_t n)
{
    sso_fg_config m;
    char name[256], err[512];
    sso_fg_quartet_member(base, e, &m);
    if (tweak) {
        /* a tweak replaces the member's config but keeps its identity unless it sets its own */
        sso_fg_config t = *tweak;
        if (!t.dither)
            t.dither = m.dither;
        t.expnum = m.expnum;
        if (t.mjd_start == base->mjd_start)
            t.mjd_start = m.mjd_start;
        t.ra_deg = m.ra_deg;
        t.dec_deg = m.dec_deg;
        m = t;
    }
    sso_fg_file_name(&m, name, sizeof name);
    snprintf(path, n, "%s/%s", dir, name);
    if (sso_fg_write(&m, path, err, sizeof err)) {
        fprintf(stderr, "sso_test_mkfits: %s\n", err);
        return 1;
    }
    return 0;
}

/* Flips one byte in the middle of the data of HDU 2 (the first extension). */
static int flip_data_byte(const char *path)
{
    FILE *fp = fopen(path, "r+b");
    if (!fp)
        return 1;
    const long off = 2 * 2880 + 2880 + 100; /* primary header, extension header, into the data */
    int c;
    int rc = fseek(fp, off, SEEK_SET) != 0 || (c = fgetc(fp)) == EOF ||
             fseek(fp, off, SEEK_SET) != 0 || fputc(c ^ 0x5a, fp) == EOF;
    return fclose(fp) != 0 || rc;
}

static int seeds(const char *dir)
{
    /* small single files of every layout: the fuzzer mutates them */
    sso_fg_config c;
    char path[4096], err[512];
    for (int k = 0; k < 7; k++) {
        sso_fg_defaults(&c);
        c.width = 8;
        c.height = 6;
        c.n_ccds = 1;
        switch (k) {
        case 0: break;
        case 1: c.wcs = SSO_FG_WCS_SIP; c.compress = 1; break;
        case 2: c.quadrants = 1; c.shuffle_seed = 7; c.wcs = SSO_FG_WCS_TAN; break;
        case 3: c.generic = 1; c.obs_id[0] = '\0'; c.dither = 0; break;
        case 4: c.generic = 1; c.generic_planes = 2; c.write_mjd_obs = 0; break;
        case 5: c.checksum = 1; c.n_nan_pixels = 3; break;
        case 6: c.compress = 1; c.sci_bitpix = -32; c.flg_bitpix = 16; c.n_ccds = 2; break;
        }
        snprintf(path, sizeof path, "%s/seed%d.fits", dir, k);
        if (sso_fg_write(&c, path, err, sizeof err)) {
            fprintf(stderr, "sso_test_mkfits: %s\n", err);
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return usage();
    const char *cs = argv[1], *dir = argv[2];
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "sso_test_mkfits: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    if (!strcmp(cs, "seeds"))
        return seeds(dir);

    sso_fg_config base, t;
    sso_fg_defaults(&base);
    char paths[5][4096];
    int n = 4, bad = -1, rc = 0;
    const char *blame_dir = NULL;
    if (!strcmp(cs, "good-compressed") || !strcmp(cs, "corrupt-tile"))
        base.compress = 1;
    if (!strcmp(cs, "good-checksum") || !strcmp(cs, "bad-checksum"))
        base.checksum = 1;
    if (!strcmp(cs, "three")) {
        n = 3;
        blame_dir = dir;
    } else if (!strcmp(cs, "five")) {
        n = 5;
        blame_dir = dir;
    }
    for (int e = 0; e < n && !rc; e++) {
        const sso_fg_config *tw = NULL;
        t = base;
        if (!strcmp(cs, "missing-ext") && e == 2) {
            snprintf(t.drop_ext, sizeof t.drop_ext, "1-2.RMS");
            tw = &t;
        } else if (!strcmp(cs, "bitpix") && e == 0) {
            snprintf(t.bitpix_ext, sizeof t.bitpix_ext, "1-1.SCI");
            tw = &t;
        } else if (!strcmp(cs, "size") && e == 1) {
            snprintf(t.wider_ext, sizeof t.wider_ext, "1-2.FLG");
            tw = &t;
        } else if (!strcmp(cs, "nowcs") && e == 3) {
            snprintf(t.no_wcs_ext, sizeof t.no_wcs_ext, "1-1.SCI");
            tw = &t;
        } else if (!strcmp(cs, "notime") && e == 2) {
            t.write_mjd_obs = t.write_date_obs = 0;
            tw = &t;
        } else if (!strcmp(cs, "obsid") && e == 3) {
            snprintf(t.obs_id, sizeof t.obs_id, "002682");
            tw = &t;
        } else if (!strcmp(cs, "dupdither") && e == 3) {
            t.dither = 1;
            tw = &t;
        } else if (!strcmp(cs, "allnan") && e == 1) {
            snprintf(t.nan_ext, sizeof t.nan_ext, "1-1.SCI");
            tw = &t;
        }
        if (tw)
            bad = e;
        rc = write_member(&base, e, tw, dir, paths[e], sizeof paths[e]);
    }
    if (rc)
        return 1;
    if (!strcmp(cs, "notfits")) {
        bad = 3;
        FILE *fp = fopen(paths[bad], "w");
        rc = !fp || fputs("this is not a FITS file\n", fp) < 0;
        if (fp)
            fclose(fp);
    } else if (!strcmp(cs, "truncated")) {
        bad = 1;
        struct stat sb;
        rc = stat(paths[bad], &sb) != 0 || truncate(paths[bad], sb.st_size / 2) != 0;
    } else if (!strcmp(cs, "corrupt-tile")) {
        char err[512];
        bad = 2;
        rc = sso_fg_damage_heap(paths[bad], "1-2.SCI", 0, err, sizeof err);
        if (rc)
            fprintf(stderr, "sso_test_mkfits: %s\n", err);
    } else if (!strcmp(cs, "bad-checksum")) {
        bad = 1;
        rc = flip_data_byte(paths[bad]);
    } else if (bad < 0 && !blame_dir && strcmp(cs, "good") && strcmp(cs, "good-compressed") &&
               strcmp(cs, "good-checksum")) {
        return usage();
    }
    if (rc) {
        fprintf(stderr, "sso_test_mkfits: cannot break %s\n", cs);
        return 1;
    }
    if (blame_dir)
        printf("%s\n", blame_dir);
    else if (bad >= 0)
        printf("%s\n", paths[bad]);
    return 0;
}
