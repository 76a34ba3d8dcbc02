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
 *
 * "bench" and "bench-compressed" write a full-size quartet for ingest timing: 4 CCDs of
 * 4096 x 4132 px per exposure, SCI with 3 ADU of noise, CHECKSUM/DATASUM in every HDU, plain or
 * RICE-compressed (floats quantised at cfitsio's default level, noise / 4): 0.8 GB per plain file.
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
    "bad-checksum", "seeds", "bench", "bench-compressed",
};

static int usage(void)
{
    fprintf(stderr, "usage: sso_test_mkfits <case> <dir>\ncases:");
    for (size_t i = 0; i < sizeof g_cases / sizeof g_cases[0]; i++)
        fprintf(stderr, " %s", g_cases[i]);
    fprintf(stderr, "\n");
    return 1;
}

/* Writes member e of base's quartet, after `breaker` (if any) changed its config. */
static int write_member(const sso_fg_config *base, int e, void (*breaker)(sso_fg_config *),
                        const char *dir, char *path, size_t n)
{
    sso_fg_config m;
    char name[256], err[512];
    sso_fg_quartet_member(base, e, &m);
    if (breaker)
        breaker(&m);
    sso_fg_file_name(&m, name, sizeof name);
    snprintf(path, n, "%s/%s", dir, name);
    if (sso_fg_write(&m, path, err, sizeof err)) {
        fprintf(stderr, "sso_test_mkfits: %s\n", err);
        return 1;
    }
    return 0;
}

static void drop_rms(sso_fg_config *c) { snprintf(c->drop_ext, sizeof c->drop_ext, "1-2.RMS"); }
static void int_sci(sso_fg_config *c) { snprintf(c->bitpix_ext, sizeof c->bitpix_ext, "1-1.SCI"); }
static void wide_flg(sso_fg_config *c) { snprintf(c->wider_ext, sizeof c->wider_ext, "1-2.FLG"); }
static void no_wcs(sso_fg_config *c) { snprintf(c->no_wcs_ext, sizeof c->no_wcs_ext, "1-1.SCI"); }
static void no_time(sso_fg_config *c) { c->write_mjd_obs = c->write_date_obs = 0; }
static void other_obs(sso_fg_config *c) { snprintf(c->obs_id, sizeof c->obs_id, "002682"); }
static void dither1(sso_fg_config *c) { c->dither = 1; }
static void all_nan(sso_fg_config *c) { snprintf(c->nan_ext, sizeof c->nan_ext, "1-1.SCI"); }

/* case -> (member to break, how) */
static const struct {
    const char *name;
    int member;
    void (*breaker)(sso_fg_config *);
} g_breakers[] = {
    {"missing-ext", 2, drop_rms}, {"bitpix", 0, int_sci},   {"size", 1, wide_flg},
    {"nowcs", 3, no_wcs},         {"notime", 2, no_time},   {"obsid", 3, other_obs},
    {"dupdither", 3, dither1},    {"allnan", 1, all_nan},
};

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

    sso_fg_config base;
    sso_fg_defaults(&base);
    char paths[5][4096];
    int n = 4, bad = -1, rc = 0;
    const char *blame_dir = NULL;
    if (!strcmp(cs, "good-compressed") || !strcmp(cs, "corrupt-tile"))
        base.compress = 1;
    if (!strncmp(cs, "bench", 5)) {
        base.n_ccds = 4;
        base.width = 4096;
        base.height = 4132;
        base.noise_adu = 3.0;
        base.checksum = 1;
        base.compress = !strcmp(cs, "bench-compressed");
        base.quantize_level = 4.0f;
        blame_dir = NULL;
    }
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
        void (*breaker)(sso_fg_config *) = NULL;
        for (size_t k = 0; k < sizeof g_breakers / sizeof g_breakers[0]; k++)
            if (!strcmp(cs, g_breakers[k].name) && g_breakers[k].member == e) {
                breaker = g_breakers[k].breaker;
                bad = e;
            }
        rc = write_member(&base, e, breaker, dir, paths[e], sizeof paths[e]);
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
               strcmp(cs, "good-checksum") && strncmp(cs, "bench", 5)) {
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
