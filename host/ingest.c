/* host/ingest.c: ingest of Euclid VIS exposure files with cfitsio (include/sso/quartet.h).
 *
 * Two layers. sso_exposure (host/ingest_internal.h) is one file: sso_exposure_open() walks every
 * HDU once, validates the file completely and remembers, per detector, where its SCI, RMS and FLG
 * live (HDU numbers), their size and pixel type, GAIN, MAGZEROP and the parsed WCS; no pixel is
 * read. sso_quartet holds 4 exposures, checks them against each other (OBS_ID, dither, time) and
 * orders them by mid-exposure time. Pixels are read one detector at a time on request.
 *
 * Validation order inside a file, so that the first problem reported is the most basic one:
 *   1. the path is a readable regular file (SSO_ERR_IO) that starts with a FITS primary header
 *      (SSO_ERR_NOT_FITS);
 *   2. every HDU's data ends inside the file, and no extension header is cut off
 *      (SSO_ERR_TRUNCATED). cfitsio reports a missing HDU at the end of a cut file simply as the
 *      end of the file, so the data end of each HDU (fits_get_hduaddrll, padded to the 2880-byte
 *      block as the standard requires) is compared with the file size, and bytes left after the
 *      last HDU that start with "XTENSION" are an extension cut inside its header. Padding is
 *      required because a cut inside the last block of an HDU is otherwise indistinguishable from
 *      a complete file with fewer HDUs. A cut exactly between two HDUs leaves a valid, shorter
 *      FITS file: sso_quartet_open catches that as a detector missing from one exposure;
 *   3. layout: extensions named "<det>.SCI|RMS|FLG" (det "3-4" or "3-4.F", the suffix in any case,
 *      any order; other extensions are ignored). If there are none, the generic layout: the primary
 *      image, else the first image extension, with optional "RMS"/"WEIGHT" and "FLG"/"MASK"
 *      extensions. Each detector needs all three (SSO_ERR_MISSING_EXT); a name twice is
 *      SSO_ERR_BAD_HEADER;
 *   4. per detector: SCI and RMS floating point (BITPIX -32 or -64, compressed or not: the
 *      "equivalent" type cfitsio reports, so ZBITPIX for tile-compressed HDUs), FLG an integer type
 *      up to 32 bits (SSO_ERR_BITPIX); all three 2-D and of one size (SSO_ERR_SIZE_MISMATCH);
 *   5. per detector: a usable celestial WCS in the SCI header (SSO_ERR_WCS). For a compressed HDU
 *      the raw table header (fits_hdr2str) is parsed: compression renames only the structural
 *      keywords (BITPIX, NAXISn -> ZBITPIX, ZNAXISn), the WCS cards are there as written, and
 *      fits_convert_hdr2str's image view costs ~30 ms per HDU (it builds a temporary FITS file);
 *   6. the exposure: a time (MJD-OBS, else DATE-OBS) and EXPTIME (SSO_ERR_NO_TIME); OBS_ID,
 *      DITHOBS, EXPNUM, GAIN, MAGZEROP well formed when present (SSO_ERR_BAD_HEADER).
 * Every detail names the file as given and the extension ("PRIMARY" for HDU 1).
 *
 * Tile-compressed images (RICE, as cfitsio or fpack write them) look like images through cfitsio's
 * image interface: fits_movabs_hdu reports IMAGE_HDU, fits_get_img_equivtype gives ZBITPIX and
 * fits_get_img_param ZNAXISn; EXTNAME is the compressed table's own keyword, which fpack and
 * cfitsio set to the image's name. Data that cannot be decoded (a corrupt tile) fails in
 * fits_read_pix and becomes SSO_ERR_CORRUPT, as does a DATASUM/CHECKSUM mismatch when the
 * quartet was opened with SSO_OPEN_VERIFY_CHECKSUM.
 *
 * Handles and threads. cfitsio on Debian is built reentrant (fits_is_reentrant() == 1): separate
 * fitsfile handles may be used from separate threads, and a read-only open of a file that is
 * already open gets its own FITSfile (cfitsio shares FITSfile only for read-write reopens), but
 * one handle must never be used by two threads at once. Each exposure therefore keeps a small pool
 * of idle read-only handles under a mutex: a read takes one (or opens a new one), uses it alone and
 * gives it back. Keeping handles open saves re-walking hundreds of headers per detector (cfitsio
 * only learns where HDU n starts by reading the n-1 headers before it); the pool makes reads of
 * different detectors, even of one file, safe from different threads. The handle that validated
 * the file seeds the pool, so a single-threaded reader never reopens.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <fitsio.h>

#include "host/ingest_internal.h"
#include "host/status_internal.h"
#include "sso/flags.h"
#include "sso/quartet.h"
#include "sso/wcs.h"

enum { EXT_SCI = 0, EXT_RMS = 1, EXT_FLG = 2, EXT_N = 3 };
static const char *const g_kind[EXT_N] = {"SCI", "RMS", "FLG"};

#define POOL_MAX 8     /* idle handles kept per exposure; more concurrent readers open and close */
#define NAME_MAX_ 40   /* detector names: "3-4.F" is 5 characters */

typedef struct det_ref {
    char name[NAME_MAX_];
    int hdu[EXT_N];          /* 1-based HDU numbers; 0 = absent (RMS/FLG of generic input only) */
    char ext[EXT_N][80];     /* extension names as written, for messages ("PRIMARY" for HDU 1) */
    int datatype[EXT_N];     /* cfitsio type the plane is read with: TFLOAT, TINT or TUINT */
    int rms_is_weight;       /* generic input: the RMS plane is a WEIGHT (1 / rms^2) plane */
    int compressed;          /* any of the planes is tile-compressed */
    int width, height;
    double gain_e_per_adu;   /* 1 when absent */
    double magzerop;         /* NaN when absent */
    sso_wcs *wcs;
} det_ref;

struct sso_exposure {
    char *path;              /* as given (or the memory buffer's name) */
    void *mem;               /* memory source, NULL for a disk file. cfitsio keeps the addresses */
    size_t mem_size;         /* of these two fields while a handle is open: never move them */
    int64_t file_size;
    unsigned flags;
    int64_t max_pixels;
    char obs_id[72];
    char date_obs[72];
    int dither, expnum, generic;
    double mjd_start, mjd_mid, exptime_s;
    int n_det;
    det_ref *det;            /* sorted by name */
    pthread_mutex_t lock;    /* guards pool / n_pool */
    fitsfile *pool[POOL_MAX];
    int n_pool;
};

struct sso_detector {
    char name[NAME_MAX_];
    int width, height;
    float *sci_adu;
    float *rms_adu;          /* NULL if absent */
    int32_t *flg;
    double gain_e_per_adu, magzerop;
    sso_wcs *wcs;
};

struct sso_quartet {
    sso_exposure *x[SSO_QUARTET_N]; /* in time order */
};

/* One HDU as seen by the scan. */
typedef struct hdu_info {
    char ext[72];            /* EXTNAME, or "PRIMARY" / "HDU n" when there is none */
    int has_extname;
    int is_image;            /* IMAGE_HDU (tile-compressed images count) */
    int naxis;
    long naxes[9];
    int equivtype;           /* fits_get_img_equivtype */
    int compressed;          /* fits_is_compressed_image */
} hdu_info;

/* ---- small helpers ---------------------------------------------------------------------------- */

static const char *fits_text(int status, char buf[FLEN_STATUS])
{
    fits_get_errstatus(status, buf);
    return buf;
}

/* "<status text>: <the last two messages of cfitsio's error stack>" for data errors, where the
 * status alone says little ("non-CFITSIO program error" for a Rice tile that does not decode).
 * The stack is process-wide in cfitsio: under concurrent reads a message may belong to another
 * thread's error, which only affects this text. The stack is emptied on the way. */
static const char *fits_text_stack(int status, char *buf, size_t n)
{
    char msg[FLEN_ERRMSG], last[2][FLEN_ERRMSG] = {"", ""};
    int k = 0;
    while (fits_read_errmsg(msg)) {
        snprintf(last[k % 2], FLEN_ERRMSG, "%s", msg);
        k++;
    }
    char st[FLEN_STATUS];
    fits_get_errstatus(status, st);
    if (k >= 2)
        snprintf(buf, n, "%s: %s; %s", st, last[k % 2], last[(k + 1) % 2]);
    else if (k == 1)
        snprintf(buf, n, "%s: %s", st, last[0]);
    else
        snprintf(buf, n, "%s", st);
    return buf;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* Copies a FITS string value without its quotes and trailing blanks ("'002681  '" -> "002681"). */
static void unquote(const char *raw, char *out, size_t n)
{
    size_t k = 0;
    const char *p = raw;
    while (*p == ' ')
        p++;
    if (*p == '\'') {
        p++;
        while (*p && k + 1 < n) {
            if (*p == '\'') {
                if (p[1] == '\'') {
                    out[k++] = '\'';
                    p += 2;
                    continue;
                }
                break;
            }
            out[k++] = *p++;
        }
    } else {
        while (*p && k + 1 < n)
            out[k++] = *p++;
    }
    out[k] = '\0';
    while (k && out[k - 1] == ' ')
        out[--k] = '\0';
}

static int is_float_type(int t) { return t == FLOAT_IMG || t == DOUBLE_IMG; }

static int flg_datatype(int t)
{
    switch (t) {
    case BYTE_IMG:
    case SBYTE_IMG:
    case SHORT_IMG:
    case USHORT_IMG:
    case LONG_IMG: return TINT;
    case ULONG_IMG: return TUINT; /* bit masks up to bit 31: read unsigned, keep the bits */
    default: return 0;
    }
}

static const char *type_words(int t)
{
    switch (t) {
    case BYTE_IMG: return "8-bit integer";
    case SBYTE_IMG: return "signed 8-bit integer";
    case SHORT_IMG: return "16-bit integer";
    case USHORT_IMG: return "unsigned 16-bit integer";
    case LONG_IMG: return "32-bit integer";
    case ULONG_IMG: return "unsigned 32-bit integer";
    case LONGLONG_IMG: return "64-bit integer";
    case FLOAT_IMG: return "32-bit float";
    case DOUBLE_IMG: return "64-bit float";
    default: return "unknown type";
    }
}

/* "<det>.SCI" -> det, kind; 0 if ext is not a Euclid detector extension name. The detector part
 * is a non-empty run of letters, digits and "-._+" (e.g. "3-4", "3-4.F"). */
static int parse_euclid_name(const char *ext, char det[NAME_MAX_], int *kind)
{
    const char *dot = strrchr(ext, '.');
    if (!dot || dot == ext || (size_t)(dot - ext) >= NAME_MAX_)
        return 0;
    int k = -1;
    for (int i = 0; i < EXT_N; i++)
        if (!strcasecmp(dot + 1, g_kind[i]))
            k = i;
    if (k < 0)
        return 0;
    for (const char *p = ext; p < dot; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-._+", *p))
            return 0;
    memcpy(det, ext, (size_t)(dot - ext));
    det[dot - ext] = '\0';
    *kind = k;
    return 1;
}

/* ---- handles ---------------------------------------------------------------------------------- */

static int open_handle(const sso_exposure *x, fitsfile **f)
{
    int st = 0;
    *f = NULL;
    if (x->mem) {
        sso_exposure *mx = (sso_exposure *)x; /* cfitsio wants non-const pointers; READONLY */
        fits_open_memfile(f, "memory.fits", READONLY, &mx->mem, &mx->mem_size, 0, NULL, &st);
    } else {
        /* fits_open_diskfile: the path is taken literally (no cfitsio extended-filename syntax,
         * so a '[' in a file name cannot select an extension or a filter). */
        fits_open_diskfile(f, x->path, READONLY, &st);
    }
    if (st) {
        int cst = 0;
        if (*f)
            fits_close_file(*f, &cst);
        *f = NULL;
    }
    return st;
}

static sso_status take_handle(const sso_exposure *cx, fitsfile **f)
{
    sso_exposure *x = (sso_exposure *)cx; /* the pool is the only state reads change */
    *f = NULL;
    pthread_mutex_lock(&x->lock);
    if (x->n_pool > 0)
        *f = x->pool[--x->n_pool];
    pthread_mutex_unlock(&x->lock);
    if (*f)
        return SSO_OK;
    int st = open_handle(x, f);
    if (st) {
        char t[FLEN_STATUS];
        return sso_fail(SSO_ERR_IO, "file %s, extension PRIMARY: cannot reopen (cfitsio %d: %s)",
                        x->path, st, fits_text(st, t));
    }
    return SSO_OK;
}

static void give_handle(const sso_exposure *cx, fitsfile *f)
{
    sso_exposure *x = (sso_exposure *)cx;
    int st = 0;
    if (!f)
        return;
    pthread_mutex_lock(&x->lock);
    if (x->n_pool < POOL_MAX) {
        x->pool[x->n_pool++] = f;
        f = NULL;
    }
    pthread_mutex_unlock(&x->lock);
    if (f)
        fits_close_file(f, &st);
}

/* ---- the scan --------------------------------------------------------------------------------- */

/* The first n bytes at offset off of the exposure's file (for the magic and trailing checks). */
static size_t peek(const sso_exposure *x, long long off, char *buf, size_t n)
{
    if (off < 0 || off >= x->file_size)
        return 0;
    if ((long long)n > x->file_size - off)
        n = (size_t)(x->file_size - off);
    if (x->mem) {
        memcpy(buf, (const char *)x->mem + off, n);
        return n;
    }
    FILE *fp = fopen(x->path, "rb");
    if (!fp)
        return 0;
    size_t got = 0;
    if (fseeko(fp, (off_t)off, SEEK_SET) == 0)
        got = fread(buf, 1, n, fp);
    fclose(fp);
    return got;
}

/* 1 when v, a raw FITS value (optionally followed by blanks or a "/ comment"), is a decimal number
 * that cfitsio converts without error: digits, sign, point and an E or D exponent only, finite,
 * and for integer keywords within long long; then *out (unless NULL) is its value. cfitsio 4.2's
 * integer conversion (ffc2j) writes any failure into an 81-byte message (52 characters, then
 * strncat of 30 of the value): an integer keyword whose value is unparsable, hexadecimal or out of
 * range and 29+ characters long aborts the process under _FORTIFY_SOURCE (found by tests/fuzz:
 * DITHOBS = 2222...2, 65 digits). */
static int number_value(const char *v, int integer, double *out)
{
    char buf[80];
    size_t n = 0;
    while (*v == ' ')
        v++;
    for (; *v && *v != '/' && *v != ' ' && n + 1 < sizeof buf; v++) {
        if (!strchr("0123456789+-.EeDd", *v))
            return 0;
        buf[n++] = (*v == 'D' || *v == 'd') ? 'E' : *v;
    }
    buf[n] = '\0';
    while (*v == ' ')
        v++;
    if (!n || (*v && *v != '/'))
        return 0;
    char *end = NULL;
    const double x = strtod(buf, &end);
    if (*end != '\0' || !isfinite(x) || (integer && !(fabs(x) < 9.2e18)))
        return 0;
    if (out)
        *out = x;
    return 1;
}

/* Reads keyword key from the first HDU in hdus[] (n of them) that has it. Returns 1 found and
 * parsed, 0 absent everywhere, -1 present but malformed (its HDU number in *where). datatype is
 * a cfitsio type; TSTRING values are returned without quotes (numbers as written). A numeric value
 * is converted by number_value (TINT: an integer in int's range; TDOUBLE), not by cfitsio. */
static int find_key(fitsfile *f, const int *hdus, int n, const char *key, int datatype, void *value,
                    size_t value_n, int *where)
{
    for (int i = 0; i < n; i++) {
        int st = 0;
        if (hdus[i] <= 0 || fits_movabs_hdu(f, hdus[i], NULL, &st))
            continue;
        char raw[FLEN_VALUE], comment[FLEN_COMMENT];
        if (fits_read_keyword(f, key, raw, comment, &st)) {
            if (st == KEY_NO_EXIST)
                continue;
            *where = hdus[i];
            return -1;
        }
        *where = hdus[i];
        if (datatype == TSTRING) {
            unquote(raw, value, value_n);
            return 1;
        }
        /* the value of the card just read, converted here: a second lookup (fits_read_key)
         * searches on from that card and can reach a later card of the same name (found by
         * tests/fuzz: a second DITHOBS of 65 digits, into ffc2j's overflow) */
        double v;
        if (!number_value(raw, datatype == TINT, &v)) /* empty, a string, not a number */
            return -1;
        if (datatype == TINT) {
            if (v != floor(v) || v < INT_MIN || v > INT_MAX)
                return -1;
            *(int *)value = (int)v;
        } else if (datatype == TDOUBLE) {
            *(double *)value = v;
        } else {
            return -1; /* no other type is read here */
        }
        return 1;
    }
    return 0;
}

static const char *hdu_label(const hdu_info *h, int hdu, char buf[80])
{
    if (hdu == 1 && !h[0].has_extname)
        return "PRIMARY";
    snprintf(buf, 80, "%s", h[hdu - 1].ext);
    return buf;
}

/* Keywords cfitsio reads as integers while it parses a header (fits_movabs_hdu, and for
 * ZIMAGE = T its compression set-up): a quoted string there is malformed. */
static int is_structural_int_key(const char *key)
{
    static const char *const exact[] = {"BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "THEAP", "TFIELDS",
                                        "ZBITPIX", "ZNAXIS", "ZDITHER0", "ZBLANK", "ZPCOUNT",
                                        "ZGCOUNT", "ZTHEAP"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (!strcmp(key, exact[i]))
            return 1;
    static const char *const prefix[] = {"NAXIS", "ZNAXIS", "ZTILE", "ZVAL"};
    for (size_t i = 0; i < sizeof prefix / sizeof prefix[0]; i++) {
        const size_t n = strlen(prefix[i]);
        if (!strncmp(key, prefix[i], n) && isdigit((unsigned char)key[n]))
            return 1;
    }
    return 0;
}

/* Keeps key and its value in bad[16] and *badv, unless a key is there already, when the raw value
 * v is not a positive integer. */
static void note_nonpositive(const char *key, const char *v, char bad[16], long long *badv)
{
    if (bad[0])
        return;
    char *end = NULL;
    const long long n = strtoll(v, &end, 10);
    if (end == v || (*end != ' ' && *end != '/' && *end != '\0') || n < 1) {
        snprintf(bad, 16, "%s", key);
        *badv = n;
    }
}

/* Guard against cfitsio 4.2 (and wcslib 7.12) crashing on malformed header cards, all found by
 * tests/fuzz: a string value without its closing quote overflows a buffer when cfitsio converts it
 * to a number (ffc2j, caught as an abort by _FORTIFY_SOURCE) or when wcspih copies it; and when
 * fits_movabs_hdu parses an HDU with ZIMAGE = T it divides by ZTILEn without checking it (SIGFPE
 * for ZTILE2 = 0). So before cfitsio sees the header of HDU k, which starts at byte off, its raw
 * cards are looked at here: string values must be terminated, the integer keywords of the
 * structure must be numbers within long long (a long unparsable or out-of-range value such as
 * ZBITPIX = ------... overflows ffc2j's error message the same way: number_value), and the
 * tile-compression sizes cfitsio divides by or loops over (ZNAXIS, ZNAXISn, ZTILEn, the BLOCKSIZE /
 * BYTEPIX parameters, and for RICE_1 ZVAL1 and ZVAL2 even without their ZNAMEn) must be positive;
 * every byte must be printable ASCII as the standard says (cfitsio's table parser strcpy's a TTYPE
 * of 0xFF bytes past its buffer); and the heap offset is one THEAP card (cfitsio takes any THEAP*
 * key for it, so THEAP2 = 1 moved its heap away from the one the Rice dry run below checked: a
 * crash in the real decode); ZDITHER0 within 1..10000. A card's value is where cfitsio finds it
 * (after the first "="). Nothing else is interpreted: all other parsing stays cfitsio's. A header
 * that does not end within the file is left to cfitsio, which reports that cleanly.
 * SSO_ERR_BAD_HEADER names the card. */
static sso_status precheck_header(const sso_exposure *x, long long off, int k)
{
    char block[2880], where[32];
    int zimage = 0, rice = 0, blocksize_slot = 0, bytepix_slot = 0, theap_cards = 0;
    char bad[16] = "", bad_rice[16] = ""; /* the first bad size; the first bad ZVAL1/2 */
    long long badv = 0, bad_rice_v = 0;
    if (k == 1)
        snprintf(where, sizeof where, "PRIMARY");
    else
        snprintf(where, sizeof where, "HDU %d", k);
    for (long long b = off; b < x->file_size && b - off < 2880LL * 1000; b += 2880) {
        if (peek(x, b, block, sizeof block) != sizeof block)
            return SSO_OK;
        for (int c = 0; c < 36; c++) {
            const char *card = block + 80 * c;
            for (int i = 0; i < 80; i++)
                if (card[i] < 0x20 || card[i] > 0x7e) /* FITS headers are printable ASCII */
                    return sso_fail(SSO_ERR_BAD_HEADER,
                                    "file %s, extension %s: byte 0x%02x in header card %d "
                                    "(%.8s) is not printable ASCII",
                                    x->path, where, (unsigned char)card[i],
                                    (int)((b - off) / 80) + c + 1, card);
            if (!memcmp(card, "END     ", 8)) {
                if (zimage && !bad[0] && rice && bad_rice[0]) {
                    snprintf(bad, sizeof bad, "%s", bad_rice);
                    badv = bad_rice_v;
                }
                if (zimage && bad[0])
                    return sso_fail(SSO_ERR_BAD_HEADER,
                                    "file %s, extension %s: tile-compression keyword %s = %lld "
                                    "must be a positive integer",
                                    x->path, where, bad, badv);
                return SSO_OK;
            }
            /* where cfitsio's ffpsvc finds a value: after the first "=" on the card (column 9
             * normally, but anywhere on a non-standard card, and even without the blank after
             * it), except on the cards that have none */
            const char *eq = memchr(card, '=', 80);
            if (!eq || !memcmp(card, "COMMENT ", 8) || !memcmp(card, "HISTORY ", 8) ||
                !memcmp(card, "CONTINUE", 8) || !memcmp(card, "        ", 8))
                continue;
            const int vpos = (int)(eq - card) + 1;
            char key[9];
            memcpy(key, card, 8);
            key[8] = '\0';
            for (int i = 7; i >= 0 && key[i] == ' '; i--)
                key[i] = '\0';
            /* cfitsio's table parser takes any key that starts with THEAP as the heap offset */
            if (!strncmp(key, "THEAP", 5) && (key[5] || theap_cards++))
                return sso_fail(SSO_ERR_BAD_HEADER,
                                "file %s, extension %s: keyword %s: cfitsio reads every THEAP* "
                                "card as the heap offset; one THEAP card at most",
                                x->path, where, key);
            int i = vpos;
            while (i < 80 && card[i] == ' ')
                i++;
            if (i < 80 && card[i] == '\'') {
                int closed = 0;
                for (int j = i + 1; j < 80 && !closed; j++) {
                    if (card[j] == '\'' && j + 1 < 80 && card[j + 1] == '\'')
                        j++; /* '' is a quote inside the string */
                    else if (card[j] == '\'')
                        closed = 1;
                }
                if (!closed || is_structural_int_key(key))
                    return sso_fail(SSO_ERR_BAD_HEADER,
                                    "file %s, extension %s: keyword %s: %s", x->path, where, key,
                                    closed ? "a string where an integer belongs"
                                           : "string value without its closing quote");
            }
            char val[80];
            memcpy(val, card + vpos, (size_t)(80 - vpos));
            val[80 - vpos] = '\0';
            const char *v = val;
            while (*v == ' ')
                v++;
            if (is_structural_int_key(key) && *v != '\'' && !number_value(v, 1, NULL))
                return sso_fail(SSO_ERR_BAD_HEADER,
                                "file %s, extension %s: keyword %s: \"%.20s\" is not an integer "
                                "in range", x->path, where, key, v);
            /* cfitsio indexes its table of 10000 dither values with ZDITHER0 - 1 + row: the
             * standard's range 1..10000 (a negative one read before the table: found by tests/fuzz) */
            double dither0;
            if (!strcmp(key, "ZDITHER0") && number_value(v, 1, &dither0) &&
                !(dither0 >= 1.0 && dither0 <= 10000.0))
                return sso_fail(SSO_ERR_BAD_HEADER,
                                "file %s, extension %s: keyword ZDITHER0 = %.0f: the dithering "
                                "offset must be 1..10000",
                                x->path, where, dither0);
            if (!strcmp(key, "ZIMAGE")) {
                zimage = *v == 'T';
                continue;
            }
            if (!strncmp(key, "ZNAME", 5) && isdigit((unsigned char)key[5])) {
                const int slot = atoi(key + 5);
                if (strstr(v, "'BLOCKSIZE"))
                    blocksize_slot = slot;
                else if (strstr(v, "'BYTEPIX"))
                    bytepix_slot = slot;
                continue;
            }
            const int is_dim = !strcmp(key, "ZNAXIS") ||
                               (!strncmp(key, "ZNAXIS", 6) && isdigit((unsigned char)key[6])) ||
                               (!strncmp(key, "ZTILE", 5) && isdigit((unsigned char)key[5]));
            const int is_val = !strncmp(key, "ZVAL", 4) && isdigit((unsigned char)key[4]) &&
                               (atoi(key + 4) == blocksize_slot || atoi(key + 4) == bytepix_slot);
            /* RICE_1 takes its block size and bytes per pixel from ZVAL1 and ZVAL2 whatever the
             * ZNAMEn say (cfitsio divides by the block size while it opens the HDU) */
            const int is_rice_val = !strcmp(key, "ZVAL1") || !strcmp(key, "ZVAL2");
            if (!strcmp(key, "ZCMPTYPE"))
                rice = strstr(v, "'RICE") != NULL;
            if (is_dim || is_val)
                note_nonpositive(key, v, bad, &badv);
            else if (is_rice_val)
                note_nonpositive(key, v, bad_rice, &bad_rice_v);
        }
    }
    return SSO_OK;
}

static sso_status scan(sso_exposure *x, fitsfile *f)
{
    sso_status st = SSO_OK;
    hdu_info *h = NULL;
    int nh = 0, cap = 0;
    char t[FLEN_STATUS], lab[80];
    long long last_end = 0;

    /* 1-2: every HDU, its name, type and size; truncation */
    for (int k = 1;; k++) {
        int fst = 0, type = 0;
        if (k > 1 && (st = precheck_header(x, last_end, k)))
            goto exit;
        if (fits_movabs_hdu(f, k, &type, &fst)) {
            if (fst == END_OF_FILE)
                break;
            if (fst == READ_ERROR && x->file_size > last_end) {
                /* the header starts inside the file but its blocks run past the end */
                st = sso_fail(SSO_ERR_TRUNCATED,
                              "file %s, extension HDU %d: the header at byte %lld is cut off by the "
                              "end of the file (%lld bytes)",
                              x->path, k, last_end, (long long)x->file_size);
                goto exit;
            }
            st = sso_fail(SSO_ERR_BAD_HEADER,
                          "file %s, extension HDU %d: header cannot be read (cfitsio %d: %s)",
                          x->path, k, fst, fits_text(fst, t));
            goto exit;
        }
        if (nh == cap) {
            cap = cap ? 2 * cap : 16;
            hdu_info *nhp = realloc(h, (size_t)cap * sizeof *h);
            if (!nhp) {
                st = sso_fail(SSO_ERR_NOMEM, "file %s: out of memory", x->path);
                goto exit;
            }
            h = nhp;
        }
        hdu_info *hi = &h[nh++];
        memset(hi, 0, sizeof *hi);
        char raw[FLEN_VALUE], comment[FLEN_COMMENT];
        if (!fits_read_keyword(f, "EXTNAME", raw, comment, &fst)) {
            unquote(raw, hi->ext, sizeof hi->ext);
            hi->has_extname = hi->ext[0] != '\0';
        }
        fst = 0;
        if (!hi->has_extname)
            snprintf(hi->ext, sizeof hi->ext, k == 1 ? "PRIMARY" : "HDU %d", k);
        const char *label = hi->ext;

        LONGLONG head0 = 0, data0 = 0, data1 = 0;
        fits_get_hduaddrll(f, &head0, &data0, &data1, &fst);
        if ((long long)data1 > x->file_size) {
            st = sso_fail(SSO_ERR_TRUNCATED,
                          "file %s, extension %s: data end at byte %lld (with padding to 2880) "
                          "but the file has %lld bytes",
                          x->path, label, (long long)data1, (long long)x->file_size);
            goto exit;
        }
        last_end = data1;
        hi->is_image = type == IMAGE_HDU;
        if (hi->is_image) {
            int bitpix = 0;
            fst = 0;
            fits_get_img_param(f, 9, &bitpix, &hi->naxis, hi->naxes, &fst);
            fits_get_img_equivtype(f, &hi->equivtype, &fst);
            hi->compressed = fits_is_compressed_image(f, &fst);
            if (fst) {
                st = sso_fail(SSO_ERR_BAD_HEADER,
                              "file %s, extension %s: image parameters unreadable (cfitsio %d: %s)",
                              x->path, label, fst, fits_text(fst, t));
                goto exit;
            }
            if (hi->naxis > 9)
                hi->naxis = 9;
        }
    }
    if (x->file_size > last_end) {
        char tail[8];
        if (peek(x, last_end, tail, 8) == 8 && !memcmp(tail, "XTENSION", 8)) {
            st = sso_fail(SSO_ERR_TRUNCATED,
                          "file %s, extension HDU %d: the header at byte %lld is cut off by the end "
                          "of the file (%lld bytes)",
                          x->path, nh + 1, last_end, (long long)x->file_size);
            goto exit;
        }
    }

    /* 3: layout */
    det_ref *det = NULL;
    int ndet = 0;
    for (int k = 1; k <= nh; k++) {
        char name[NAME_MAX_];
        int kind;
        if (!h[k - 1].has_extname || !parse_euclid_name(h[k - 1].ext, name, &kind))
            continue;
        int i = 0;
        while (i < ndet && strcmp(x->det[i].name, name))
            i++;
        if (i == ndet) {
            det = realloc(x->det, (size_t)(ndet + 1) * sizeof *det);
            if (!det) {
                st = sso_fail(SSO_ERR_NOMEM, "file %s: out of memory", x->path);
                goto exit;
            }
            x->det = det;
            memset(&x->det[ndet], 0, sizeof *det);
            snprintf(x->det[ndet].name, NAME_MAX_, "%s", name);
            x->det[ndet].magzerop = NAN;
            x->det[ndet].gain_e_per_adu = 1.0;
            x->n_det = ++ndet;
        }
        det_ref *dr = &x->det[i];
        if (dr->hdu[kind]) {
            st = sso_fail(SSO_ERR_BAD_HEADER, "file %s, extension %s: appears twice (HDU %d and %d)",
                          x->path, h[k - 1].ext, dr->hdu[kind], k);
            goto exit;
        }
        dr->hdu[kind] = k;
        snprintf(dr->ext[kind], sizeof dr->ext[kind], "%s", h[k - 1].ext);
    }
    if (ndet) {
        /* name order, so that detector d means the same CCD in every exposure */
        for (int i = 1; i < ndet; i++)
            for (int j = i; j > 0 && strcmp(x->det[j - 1].name, x->det[j].name) > 0; j--) {
                det_ref tmp = x->det[j];
                x->det[j] = x->det[j - 1];
                x->det[j - 1] = tmp;
            }
        for (int i = 0; i < ndet; i++) {
            det_ref *dr = &x->det[i];
            for (int kind = 0; kind < EXT_N; kind++) {
                if (dr->hdu[kind])
                    continue;
                char have[32] = "";
                for (int o = 0; o < EXT_N; o++)
                    if (dr->hdu[o]) {
                        strcat(have, have[0] ? " and " : "");
                        strcat(have, g_kind[o]);
                    }
                st = sso_fail(SSO_ERR_MISSING_EXT,
                              "file %s, extension %s.%s: missing (detector %s has only %s)",
                              x->path, dr->name, g_kind[kind], dr->name, have);
                goto exit;
            }
        }
    } else {
        /* generic: the primary image, else the first image extension that is not a plane */
        int img = 0, rms = 0, flg = 0, weight = 0;
        for (int k = 1; k <= nh; k++) {
            const hdu_info *hi = &h[k - 1];
            const int is_rms = hi->has_extname && !strcasecmp(hi->ext, "RMS");
            const int is_wgt = hi->has_extname && !strcasecmp(hi->ext, "WEIGHT");
            const int is_flg = hi->has_extname &&
                               (!strcasecmp(hi->ext, "FLG") || !strcasecmp(hi->ext, "MASK"));
            if ((is_rms || is_wgt) && !rms) {
                rms = k;
                weight = is_wgt;
            } else if (is_flg && !flg) {
                flg = k;
            } else if (!img && !is_rms && !is_wgt && !is_flg && hi->is_image && hi->naxis >= 2) {
                img = k;
            }
        }
        if (!img) {
            st = sso_fail(SSO_ERR_MISSING_EXT,
                          "file %s, extension PRIMARY: no image: neither Euclid <det>.SCI/RMS/FLG "
                          "extensions nor a single image HDU",
                          x->path);
            goto exit;
        }
        x->det = calloc(1, sizeof *x->det);
        if (!x->det) {
            st = sso_fail(SSO_ERR_NOMEM, "file %s: out of memory", x->path);
            goto exit;
        }
        x->n_det = ndet = 1;
        x->generic = 1;
        det_ref *dr = &x->det[0];
        snprintf(dr->name, NAME_MAX_, "0");
        dr->magzerop = NAN;
        dr->gain_e_per_adu = 1.0;
        const int hk[EXT_N] = {img, rms, flg};
        for (int kind = 0; kind < EXT_N; kind++) {
            dr->hdu[kind] = hk[kind];
            if (hk[kind])
                snprintf(dr->ext[kind], sizeof dr->ext[kind], "%s", hdu_label(h, hk[kind], lab));
        }
        dr->rms_is_weight = weight;
    }

    /* 4: types and sizes */
    for (int i = 0; i < ndet; i++) {
        det_ref *dr = &x->det[i];
        for (int kind = 0; kind < EXT_N; kind++) {
            if (!dr->hdu[kind])
                continue;
            const hdu_info *hi = &h[dr->hdu[kind] - 1];
            const char *ext = dr->ext[kind];
            dr->compressed |= hi->compressed;
            if (!hi->is_image) {
                st = sso_fail(SSO_ERR_BITPIX, "file %s, extension %s: a table, not an image",
                              x->path, ext);
                goto exit;
            }
            if (kind == EXT_FLG) {
                dr->datatype[kind] = flg_datatype(hi->equivtype);
                if (!dr->datatype[kind]) {
                    st = sso_fail(SSO_ERR_BITPIX,
                                  "file %s, extension %s: BITPIX %d (%s); a flag plane must be an "
                                  "integer image of at most 32 bits",
                                  x->path, ext, hi->equivtype, type_words(hi->equivtype));
                    goto exit;
                }
            } else {
                if (!is_float_type(hi->equivtype)) {
                    st = sso_fail(SSO_ERR_BITPIX,
                                  "file %s, extension %s: BITPIX %d (%s); %s must be floating "
                                  "point (BITPIX -32 or -64)",
                                  x->path, ext, hi->equivtype, type_words(hi->equivtype),
                                  kind == EXT_SCI ? "SCI" : "RMS");
                    goto exit;
                }
                dr->datatype[kind] = TFLOAT;
            }
            int extra = 1;
            for (int a = 2; a < hi->naxis; a++)
                extra = extra && hi->naxes[a] == 1;
            if (hi->naxis < 2 || !extra || hi->naxes[0] < 1 || hi->naxes[1] < 1) {
                st = sso_fail(SSO_ERR_SIZE_MISMATCH,
                              "file %s, extension %s: NAXIS %d; a 2-D image is needed", x->path,
                              ext, hi->naxis);
                goto exit;
            }
            if ((int64_t)hi->naxes[0] * hi->naxes[1] > x->max_pixels || hi->naxes[0] > INT32_MAX ||
                hi->naxes[1] > INT32_MAX) {
                st = sso_fail(SSO_ERR_BAD_HEADER,
                              "file %s, extension %s: %ld x %ld px is beyond the %lld px a "
                              "detector may have",
                              x->path, ext, hi->naxes[0], hi->naxes[1], (long long)x->max_pixels);
                goto exit;
            }
            if (kind == EXT_SCI) {
                dr->width = (int)hi->naxes[0];
                dr->height = (int)hi->naxes[1];
            } else if (hi->naxes[0] != dr->width || hi->naxes[1] != dr->height) {
                st = sso_fail(SSO_ERR_SIZE_MISMATCH,
                              "file %s, extension %s: %ld x %ld px, but %s is %d x %d px", x->path,
                              ext, hi->naxes[0], hi->naxes[1], dr->ext[EXT_SCI], dr->width,
                              dr->height);
                goto exit;
            }
        }
    }

    /* 5: WCS, GAIN, MAGZEROP per detector */
    for (int i = 0; i < ndet; i++) {
        det_ref *dr = &x->det[i];
        int fst = 0, nkeys = 0;
        char *hdr = NULL, what[1200];
        snprintf(what, sizeof what, "file %s, extension %s", x->path, dr->ext[EXT_SCI]);
        if (fits_movabs_hdu(f, dr->hdu[EXT_SCI], NULL, &fst) ||
            fits_hdr2str(f, 1, NULL, 0, &hdr, &nkeys, &fst)) {
            st = sso_fail(SSO_ERR_BAD_HEADER, "%s: header unreadable (cfitsio %d: %s)", what, fst,
                          fits_text(fst, t));
            if (hdr)
                fits_free_memory(hdr, &fst);
            goto exit;
        }
        st = sso_wcs_from_header(hdr, nkeys, what, &dr->wcs);
        fst = 0;
        fits_free_memory(hdr, &fst);
        if (st)
            goto exit;
        const int where_list[2] = {dr->hdu[EXT_SCI], 1};
        int where = 0;
        double v;
        int r = find_key(f, where_list, 2, "GAIN", TDOUBLE, &v, 0, &where);
        if (r < 0 || (r > 0 && !(v > 0.0 && isfinite(v)))) {
            st = sso_fail(SSO_ERR_BAD_HEADER, "file %s, extension %s: GAIN is not a positive number",
                          x->path, hdu_label(h, where, lab));
            goto exit;
        }
        if (r > 0)
            dr->gain_e_per_adu = v;
        r = find_key(f, where_list, 2, "MAGZEROP", TDOUBLE, &v, 0, &where);
        if (r < 0 || (r > 0 && !isfinite(v))) {
            st = sso_fail(SSO_ERR_BAD_HEADER, "file %s, extension %s: MAGZEROP is not a number",
                          x->path, hdu_label(h, where, lab));
            goto exit;
        }
        if (r > 0)
            dr->magzerop = v;
    }

    /* 6: exposure keywords: the primary header first (Euclid), or the image's own header first
     * (generic input), then the other one */
    {
        int order[2];
        if (x->generic) {
            order[0] = x->det[0].hdu[EXT_SCI];
            order[1] = order[0] == 1 ? 0 : 1;
        } else {
            order[0] = 1;
            order[1] = x->det[0].hdu[EXT_SCI];
        }
        const char *where_text = x->generic ? hdu_label(h, order[0], lab) : "PRIMARY";
        int where = 0, r;
        r = find_key(f, order, 2, "OBS_ID", TSTRING, x->obs_id, sizeof x->obs_id, &where);
        if (r < 0) {
            st = sso_fail(SSO_ERR_BAD_HEADER, "file %s, extension %s: OBS_ID unreadable", x->path,
                          where_text);
            goto exit;
        }
        r = find_key(f, order, 2, "DITHOBS", TINT, &x->dither, 0, &where);
        if (r < 0 || x->dither < 0) {
            st = sso_fail(SSO_ERR_BAD_HEADER,
                          "file %s, extension %s: DITHOBS is not a non-negative integer", x->path,
                          where_text);
            goto exit;
        }
        r = find_key(f, order, 2, "EXPNUM", TINT, &x->expnum, 0, &where);
        if (r < 0) {
            st = sso_fail(SSO_ERR_BAD_HEADER, "file %s, extension %s: EXPNUM is not an integer",
                          x->path, where_text);
            goto exit;
        }
        /* time */
        double mjd = NAN;
        char mjd_raw[FLEN_VALUE] = "";
        int have_mjd = find_key(f, order, 2, "MJD-OBS", TDOUBLE, &mjd, 0, &where) > 0 &&
                       isfinite(mjd);
        if (!have_mjd)
            find_key(f, order, 2, "MJD-OBS", TSTRING, mjd_raw, sizeof mjd_raw, &where);
        int have_date = find_key(f, order, 2, "DATE-OBS", TSTRING, x->date_obs, sizeof x->date_obs,
                                 &where) > 0;
        if (!have_mjd) {
            if (!have_date) {
                st = sso_fail(SSO_ERR_NO_TIME,
                              "file %s, extension %s: neither MJD-OBS%s%s%s nor DATE-OBS", x->path,
                              where_text, mjd_raw[0] ? " (unusable: '" : "", mjd_raw,
                              mjd_raw[0] ? "')" : "");
                goto exit;
            }
            if (sso_time_iso_to_mjd(x->date_obs, &mjd) != SSO_OK) {
                st = sso_fail(SSO_ERR_NO_TIME,
                              "file %s, extension %s: no MJD-OBS, and DATE-OBS '%s' is not an ISO "
                              "date",
                              x->path, where_text, x->date_obs);
                goto exit;
            }
        }
        double exptime = NAN;
        r = find_key(f, order, 2, "EXPTIME", TDOUBLE, &exptime, 0, &where);
        if (r <= 0 || !isfinite(exptime) || exptime < 0.0) {
            st = sso_fail(SSO_ERR_NO_TIME, "file %s, extension %s: %s", x->path, where_text,
                          r == 0 ? "no EXPTIME" : "EXPTIME is not a non-negative number");
            goto exit;
        }
        x->mjd_start = mjd;
        x->exptime_s = exptime;
        x->mjd_mid = mjd + 0.5 * exptime / 86400.0;
    }

exit:
    free(h);
    return st;
}

/* Checks that the first header card is "SIMPLE  =                    T". */
static int looks_like_fits(const char *buf, size_t n)
{
    if (n < 30 || memcmp(buf, "SIMPLE  =", 9))
        return 0;
    for (size_t i = 9; i < 29; i++)
        if (buf[i] != ' ')
            return 0;
    return buf[29] == 'T';
}

static sso_status open_common(sso_exposure *x, sso_exposure **out)
{
    sso_status st;
    char head[80], t[FLEN_STATUS];
    const size_t got = peek(x, 0, head, sizeof head);
    if (!looks_like_fits(head, got)) {
        st = sso_fail(SSO_ERR_NOT_FITS,
                      "file %s, extension PRIMARY: not a FITS file (it does not start with "
                      "'SIMPLE  =                    T')",
                      x->path);
        goto fail;
    }
    if (x->file_size < 2880) {
        st = sso_fail(SSO_ERR_TRUNCATED,
                      "file %s, extension PRIMARY: %lld bytes, less than one FITS block (2880)",
                      x->path, (long long)x->file_size);
        goto fail;
    }
    if ((st = precheck_header(x, 0, 1)))
        goto fail;
    fitsfile *f = NULL;
    int fst = open_handle(x, &f);
    if (fst) {
        if (fst == END_OF_FILE || fst == READ_ERROR || fst == NO_END)
            st = sso_fail(SSO_ERR_TRUNCATED,
                          "file %s, extension PRIMARY: the primary header is incomplete (cfitsio "
                          "%d: %s)",
                          x->path, fst, fits_text(fst, t));
        else
            st = sso_fail(SSO_ERR_NOT_FITS,
                          "file %s, extension PRIMARY: not a valid FITS file (cfitsio %d: %s)",
                          x->path, fst, fits_text(fst, t));
        goto fail;
    }
    st = scan(x, f);
    if (st == SSO_OK && (x->flags & SSO_OPEN_VERIFY_CHECKSUM)) {
        int ds = 0, hs = 0;
        fst = 0;
        if (fits_movabs_hdu(f, 1, NULL, &fst) || fits_verify_chksum(f, &ds, &hs, &fst))
            st = sso_fail(SSO_ERR_CORRUPT,
                          "file %s, extension PRIMARY: checksum not computable (cfitsio %d: %s)",
                          x->path, fst, fits_text(fst, t));
        else if (ds < 0 || hs < 0)
            st = sso_fail(SSO_ERR_CORRUPT, "file %s, extension PRIMARY: %s does not match",
                          x->path, ds < 0 ? "DATASUM" : "CHECKSUM");
    }
    if (st) {
        fst = 0;
        fits_close_file(f, &fst);
        goto fail;
    }
    give_handle(x, f);
    *out = x;
    return SSO_OK;
fail:
    sso_exposure_free(x);
    return st;
}

static sso_exposure *new_exposure(const char *path, unsigned flags, int64_t max_pixels)
{
    sso_exposure *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->path = dup_str(path);
    if (!x->path) {
        free(x);
        return NULL;
    }
    x->flags = flags;
    x->max_pixels = max_pixels > 0 ? max_pixels : SSO_INGEST_MAX_PIXELS;
    x->mjd_start = x->mjd_mid = x->exptime_s = NAN;
    pthread_mutex_init(&x->lock, NULL);
    return x;
}

sso_status sso_exposure_open(const char *path, unsigned flags, sso_exposure **out)
{
    struct stat sb;
    if (!out)
        return sso_fail(SSO_ERR_ARG, "sso_exposure_open: out is NULL");
    *out = NULL;
    if (!path || !path[0])
        return sso_fail(SSO_ERR_ARG, "sso_exposure_open: empty path");
    if (stat(path, &sb) != 0)
        return sso_fail(SSO_ERR_IO, "file %s, extension PRIMARY: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return sso_fail(SSO_ERR_IO, "file %s, extension PRIMARY: is a directory, not a file", path);
    if (!S_ISREG(sb.st_mode))
        return sso_fail(SSO_ERR_IO, "file %s, extension PRIMARY: not a regular file", path);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return sso_fail(SSO_ERR_IO, "file %s, extension PRIMARY: %s", path, strerror(errno));
    fclose(fp);
    sso_exposure *x = new_exposure(path, flags, SSO_INGEST_MAX_PIXELS);
    if (!x)
        return sso_fail(SSO_ERR_NOMEM, "file %s: out of memory", path);
    x->file_size = (int64_t)sb.st_size;
    return open_common(x, out);
}

sso_status sso_exposure_open_mem(const void *buf, size_t n, const char *name, unsigned flags,
                                 int64_t max_pixels, sso_exposure **out)
{
    if (!out)
        return sso_fail(SSO_ERR_ARG, "sso_exposure_open_mem: out is NULL");
    *out = NULL;
    if (!buf && n)
        return sso_fail(SSO_ERR_ARG, "sso_exposure_open_mem: NULL buffer");
    sso_exposure *x = new_exposure(name ? name : "memory", flags, max_pixels);
    if (!x)
        return sso_fail(SSO_ERR_NOMEM, "%s: out of memory", name ? name : "memory");
    /* a zero-length buffer still needs a valid address for cfitsio; peek() guards all reads */
    static const char empty[1] = {0};
    x->mem = (void *)(buf ? buf : empty);
    x->mem_size = n;
    x->file_size = (int64_t)n;
    return open_common(x, out);
}

void sso_exposure_free(sso_exposure *x)
{
    if (!x)
        return;
    for (int i = 0; i < x->n_pool; i++) {
        int st = 0;
        fits_close_file(x->pool[i], &st);
    }
    for (int i = 0; i < x->n_det; i++)
        sso_wcs_free(x->det[i].wcs);
    free(x->det);
    pthread_mutex_destroy(&x->lock);
    free(x->path);
    free(x);
}

void sso_exposure_get_info(const sso_exposure *x, sso_exposure_info *o)
{
    o->path = x->path;
    o->obs_id = x->obs_id;
    o->dither = x->dither;
    o->expnum = x->expnum;
    o->mjd_start = x->mjd_start;
    o->mjd_mid = x->mjd_mid;
    o->exptime_s = x->exptime_s;
    o->date_obs = x->date_obs;
    o->n_detectors = x->n_det;
}

int sso_exposure_n_detectors(const sso_exposure *x) { return x ? x->n_det : 0; }

const char *sso_exposure_detector_name(const sso_exposure *x, int d)
{
    return (x && d >= 0 && d < x->n_det) ? x->det[d].name : NULL;
}

const sso_wcs *sso_exposure_detector_wcs(const sso_exposure *x, int d)
{
    return (x && d >= 0 && d < x->n_det) ? x->det[d].wcs : NULL;
}

void sso_exposure_detector_calib(const sso_exposure *x, int d, double *gain_e_per_adu,
                                 double *magzerop)
{
    const int ok = x && d >= 0 && d < x->n_det;
    if (gain_e_per_adu)
        *gain_e_per_adu = ok ? x->det[d].gain_e_per_adu : NAN;
    if (magzerop)
        *magzerop = ok ? x->det[d].magzerop : NAN;
}

int sso_exposure_detector_compressed(const sso_exposure *x, int d)
{
    return (x && d >= 0 && d < x->n_det) ? x->det[d].compressed : 0;
}

void sso_exposure_detector_size(const sso_exposure *x, int d, int *width, int *height)
{
    const int ok = x && d >= 0 && d < x->n_det;
    if (width)
        *width = ok ? x->det[d].width : 0;
    if (height)
        *height = ok ? x->det[d].height : 0;
}

/* ---- reading a detector ----------------------------------------------------------------------- */

void sso_detector_free(sso_detector *det)
{
    if (!det)
        return;
    free(det->sci_adu);
    free(det->rms_adu);
    free(det->flg);
    sso_wcs_free(det->wcs);
    free(det);
}

/* Tile descriptors of a compressed HDU (the current one) must point inside its heap: cfitsio
 * trusts them and allocates whatever length one claims before finding that the bytes are not
 * there (4 GB for a damaged descriptor, found by tests/fuzz). Checked through cfitsio's table
 * interface, which still works on a compressed image HDU, in chunks of rows. */
static sso_status check_tile_descriptors(const sso_exposure *x, fitsfile *f, const char *ext)
{
    static const char *const cols[] = {"COMPRESSED_DATA", "GZIP_COMPRESSED_DATA",
                                       "UNCOMPRESSED_DATA"};
    enum { CHUNK = 4096 };
    char t[FLEN_STATUS];
    int fst = 0;
    long long heap = 0, nrows = 0;
    if (fits_read_key(f, TLONGLONG, "PCOUNT", &heap, NULL, &fst) ||
        fits_get_num_rowsll(f, &nrows, &fst) || heap < 0 || nrows < 0)
        return sso_fail(SSO_ERR_CORRUPT, "file %s, extension %s: tile table unreadable (cfitsio %d: %s)",
                        x->path, ext, fst, fits_text(fst, t));
    LONGLONG rep[CHUNK], off[CHUNK];
    int have_alt = 0; /* a GZIP_COMPRESSED_DATA or UNCOMPRESSED_DATA column for empty tiles */
    for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
        int col = 0, typecode = 0;
        LONGLONG repeat = 0, width = 0;
        fst = 0;
        if (fits_get_colnum(f, CASEINSEN, (char *)cols[c], &col, &fst)) {
            fits_clear_errmsg(); /* the column is optional */
            if (c == 0)
                return sso_fail(SSO_ERR_CORRUPT, "file %s, extension %s: no COMPRESSED_DATA column",
                                x->path, ext);
            continue;
        }
        have_alt |= c > 0;
        /* a variable-length array column (negative type code) holds descriptors; anything else
         * there would send cfitsio's descriptor reader through a NULL pointer */
        if (fits_get_coltypell(f, col, &typecode, &repeat, &width, &fst) || typecode >= 0 ||
            width < 1)
            return sso_fail(SSO_ERR_CORRUPT,
                            "file %s, extension %s: column %s is not a variable-length array",
                            x->path, ext, cols[c]);
        for (long long r0 = 1; r0 <= nrows; r0 += CHUNK) {
            const long long m = nrows - r0 + 1 < CHUNK ? nrows - r0 + 1 : CHUNK;
            if (fits_read_descriptsll(f, col, r0, m, rep, off, &fst))
                return sso_fail(SSO_ERR_CORRUPT,
                                "file %s, extension %s: tile descriptors unreadable (cfitsio %d: %s)",
                                x->path, ext, fst, fits_text(fst, t));
            for (long long i = 0; i < m; i++)
                if (rep[i] < 0 || off[i] < 0 || rep[i] > heap || off[i] > heap ||
                    off[i] + rep[i] * width > heap)
                    return sso_fail(SSO_ERR_CORRUPT,
                                    "file %s, extension %s: tile %lld claims %lld bytes at heap "
                                    "offset %lld, beyond the %lld-byte heap",
                                    x->path, ext, r0 + i, (long long)(rep[i] * width),
                                    (long long)off[i], heap);
        }
    }
    if (!have_alt) {
        /* cfitsio reads an empty COMPRESSED_DATA tile from the other columns without checking
         * that they exist (a NULL dereference in ffgdesll) */
        int col = 0;
        fst = 0;
        fits_get_colnum(f, CASEINSEN, (char *)cols[0], &col, &fst);
        for (long long r0 = 1; r0 <= nrows && !fst; r0 += CHUNK) {
            const long long m = nrows - r0 + 1 < CHUNK ? nrows - r0 + 1 : CHUNK;
            if (fits_read_descriptsll(f, col, r0, m, rep, off, &fst))
                break;
            for (long long i = 0; i < m; i++)
                if (rep[i] == 0)
                    return sso_fail(SSO_ERR_CORRUPT,
                                    "file %s, extension %s: tile %lld has no compressed bytes",
                                    x->path, ext, r0 + i);
        }
    }
    return SSO_OK;
}

/* Rice decoders of cfitsio (fitsio2.h, exported by libcfitsio; declared here rather than pulling
 * in cfitsio's internal header). Return 0 when the tile decodes within its clen bytes. */
int fits_rdecomp(unsigned char *c, int clen, unsigned int array[], int nx, int nblock);
int fits_rdecomp_short(unsigned char *c, int clen, unsigned short array[], int nx, int nblock);
int fits_rdecomp_byte(unsigned char *c, int clen, unsigned char array[], int nx, int nblock);

/* Reads an integer keyword of the current HDU; def when absent. */
static long long key_ll(fitsfile *f, const char *key, long long def)
{
    int fst = 0;
    long long v = def;
    if (fits_read_key(f, TLONGLONG, key, &v, NULL, &fst))
        v = def;
    return v;
}

/* Rice tiles are decoded once by us, into scratch, before cfitsio decodes them for real. cfitsio
 * 4.2's fits_rdecomp checks for the end of its input only once per block, and its count of
 * leading zero bits walks over zero bytes without any bound: corrupt tile bytes make it read past
 * the tile's buffer (a crash under ASan, found by tests/fuzz and by the corrupt-tile test;
 * silently wrong pixels otherwise). The dry run reads the whole heap into a buffer followed by
 * enough 0xFF bytes to stop every over-read (a zero-bit run ends at the first 0xFF; a block reads
 * at most 8 bytes per pixel), and decodes each tile from there, so a bad tile fails cfitsio's own
 * end-of-input check instead of crashing; a tile that passes is read by the real decode exactly
 * as here, within its own bytes. This costs one extra Rice decode and heap read per plane (a third
 * of the compressed read time, measured); it is skipped for an HDU whose DATASUM was verified
 * (SSO_OPEN_VERIFY_CHECKSUM), since its bytes are then the writer's own, and verifying the small
 * compressed data is much cheaper than a second decode. Other compression types (GZIP via zlib, HCOMPRESS, PLIO) are
 * decoded unchecked. */
static sso_status check_rice_tiles(const sso_exposure *x, fitsfile *f, const char *ext)
{
    char cmp[FLEN_VALUE] = "", t[FLEN_STATUS];
    int fst = 0;
    if (fits_read_key(f, TSTRING, "ZCMPTYPE", cmp, NULL, &fst) ||
        (strcmp(cmp, "RICE_1") && strcmp(cmp, "RICE_ONE")))
        return SSO_OK;
    /* the parameters as cfitsio 4.2 takes them (imcomp_get_compressed_image_par), whatever the
     * ZNAMEn say: the block size is ZVAL1; bytes per pixel ZVAL2, or 4 when absent or when ZNAME2 is
     * NOISEBIT (old files); the two swapped when the block size is < 16 and the other > 8; and any
     * bytes per pixel but 1 and 2 decodes as 4 */
    long long blocksize = key_ll(f, "ZVAL1", -1), bytepix = key_ll(f, "ZVAL2", 4);
    char name2[FLEN_VALUE] = "";
    fst = 0;
    if (!fits_read_key(f, TSTRING, "ZNAME2", name2, NULL, &fst) && !strcasecmp(name2, "NOISEBIT"))
        bytepix = 4;
    if (blocksize < 16 && bytepix > 8) {
        const long long b = blocksize;
        blocksize = bytepix;
        bytepix = b;
    }
    if (bytepix != 1 && bytepix != 2)
        bytepix = 4;
    const long long znaxis = key_ll(f, "ZNAXIS", 0);
    long long dim[9], tile[9], ntile[9], tiles = 1, tile_px = 1;
    if (znaxis < 1 || znaxis > 9 || blocksize < 1 || blocksize > 1 << 16)
        return sso_fail(SSO_ERR_CORRUPT,
                        "file %s, extension %s: Rice parameters unusable (ZNAXIS %lld, BLOCKSIZE "
                        "%lld, BYTEPIX %lld)",
                        x->path, ext, znaxis, blocksize, bytepix);
    for (int a = 0; a < znaxis; a++) {
        char key[16];
        snprintf(key, sizeof key, "ZNAXIS%d", a + 1);
        dim[a] = key_ll(f, key, 0);
        snprintf(key, sizeof key, "ZTILE%d", a + 1);
        tile[a] = key_ll(f, key, a == 0 ? dim[0] : 1);
        if (dim[a] < 1 || tile[a] < 1 || tile[a] > (1LL << 30))
            return sso_fail(SSO_ERR_CORRUPT, "file %s, extension %s: tiling unusable", x->path, ext);
        if (tile[a] > dim[a])
            tile[a] = dim[a];
        ntile[a] = (dim[a] + tile[a] - 1) / tile[a];
        tiles *= ntile[a];
        tile_px *= tile[a];
        if (tile_px > x->max_pixels)
            return sso_fail(SSO_ERR_CORRUPT, "file %s, extension %s: tiles too large", x->path, ext);
    }
    int col = 0;
    fst = 0;
    if (fits_get_colnum(f, CASEINSEN, "COMPRESSED_DATA", &col, &fst))
        return sso_fail(SSO_ERR_CORRUPT, "file %s, extension %s: no COMPRESSED_DATA column",
                        x->path, ext);
    const long long nrows = key_ll(f, "NAXIS2", -1);
    if (nrows != tiles)
        return sso_fail(SSO_ERR_CORRUPT, "file %s, extension %s: %lld tile rows for %lld tiles",
                        x->path, ext, nrows, tiles);
    /* the whole heap in one read, followed by the 0xFF pad: a tile's over-read lands in the
     * bytes after it, at worst in the pad, never outside this buffer */
    LONGLONG head0 = 0, data0 = 0, data1 = 0;
    fst = 0;
    fits_get_hduaddrll(f, &head0, &data0, &data1, &fst);
    const long long heap = key_ll(f, "PCOUNT", 0);
    const long long theap = key_ll(f, "THEAP", key_ll(f, "NAXIS1", 0) * nrows);
    const size_t pad = (size_t)(8 * blocksize + 64);
    if (fst || heap < 0 || theap < 0 || (long long)data0 + theap + heap > x->file_size)
        return sso_fail(SSO_ERR_CORRUPT, "file %s, extension %s: heap outside the file", x->path,
                        ext);
    unsigned char *hbuf = malloc((size_t)heap + pad);
    void *out = malloc((size_t)tile_px * (size_t)bytepix);
    sso_status st = SSO_OK;
    if (!hbuf || !out) {
        free(hbuf);
        free(out);
        return sso_fail(SSO_ERR_NOMEM, "file %s, extension %s: out of memory", x->path, ext);
    }
    if (peek(x, (long long)data0 + theap, (char *)hbuf, (size_t)heap) != (size_t)heap)
        st = sso_fail(SSO_ERR_CORRUPT, "file %s, extension %s: heap unreadable", x->path, ext);
    memset(hbuf + heap, 0xFF, pad);
    enum { CHUNK = 1024 };
    LONGLONG len[CHUNK], off[CHUNK];
    for (long long r0 = 1; r0 <= nrows && !st; r0 += CHUNK) {
        const long long m = nrows - r0 + 1 < CHUNK ? nrows - r0 + 1 : CHUNK;
        fst = 0;
        if (fits_read_descriptsll(f, col, r0, m, len, off, &fst)) {
            st = sso_fail(SSO_ERR_CORRUPT,
                          "file %s, extension %s: tile descriptors unreadable (cfitsio %d: %s)",
                          x->path, ext, fst, fits_text(fst, t));
            break;
        }
        for (long long i = 0; i < m && !st; i++) {
            const long long r = r0 + i;
            if (len[i] == 0)
                continue; /* stored another way (GZIP_COMPRESSED_DATA / UNCOMPRESSED_DATA) */
            if (off[i] < 0 || len[i] < 0 || off[i] + len[i] > heap || len[i] > INT32_MAX) {
                st = sso_fail(SSO_ERR_CORRUPT, "file %s, extension %s: tile %lld outside the heap",
                              x->path, ext, r);
                break;
            }
            /* pixels in tile r (row-major tile index r-1; edge tiles are smaller) */
            long long rem = r - 1, px = 1;
            for (int a = 0; a < znaxis; a++) {
                const long long ti = rem % ntile[a];
                rem /= ntile[a];
                const long long left = dim[a] - ti * tile[a];
                px *= left < tile[a] ? left : tile[a];
            }
            unsigned char *c = hbuf + off[i];
            int bad;
            if (bytepix == 4)
                bad = fits_rdecomp(c, (int)len[i], out, (int)px, (int)blocksize);
            else if (bytepix == 2)
                bad = fits_rdecomp_short(c, (int)len[i], out, (int)px, (int)blocksize);
            else
                bad = fits_rdecomp_byte(c, (int)len[i], out, (int)px, (int)blocksize);
            if (bad) {
                char detail[400];
                st = sso_fail(SSO_ERR_CORRUPT,
                              "file %s, extension %s: compressed tile %lld of %lld does not decode "
                              "(%s)",
                              x->path, ext, r, nrows,
                              fits_text_stack(DATA_DECOMPRESSION_ERR, detail, sizeof detail));
            }
        }
    }
    free(hbuf);
    free(out);
    return st;
}

/* Reads one plane of n pixels into buf (float or 32-bit integer). */
static sso_status read_plane(const sso_exposure *x, fitsfile *f, const det_ref *dr, int kind,
                             void *buf, size_t n)
{
    char t[FLEN_STATUS];
    int fst = 0, anynul = 0;
    long fpix[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    const char *ext = dr->ext[kind];
    if (fits_movabs_hdu(f, dr->hdu[kind], NULL, &fst))
        return sso_fail(SSO_ERR_IO, "file %s, extension %s: cannot move to HDU %d (cfitsio %d: %s)",
                        x->path, ext, dr->hdu[kind], fst, fits_text(fst, t));
    int data_verified = 0; /* DATASUM present and matching */
    if (x->flags & SSO_OPEN_VERIFY_CHECKSUM) {
        int ds = 0, hs = 0;
        if (fits_verify_chksum(f, &ds, &hs, &fst))
            return sso_fail(SSO_ERR_CORRUPT,
                            "file %s, extension %s: checksum not computable (cfitsio %d: %s)",
                            x->path, ext, fst, fits_text(fst, t));
        if (ds < 0 || hs < 0)
            return sso_fail(SSO_ERR_CORRUPT, "file %s, extension %s: %s does not match", x->path,
                            ext, ds < 0 ? "DATASUM" : "CHECKSUM");
        data_verified = ds == 1;
    }
    if (fits_is_compressed_image(f, &fst)) {
        /* tiles whose bytes match the writer's DATASUM are the writer's own: no dry run */
        sso_status st = check_tile_descriptors(x, f, ext);
        if (!st && !data_verified)
            st = check_rice_tiles(x, f, ext);
        if (st)
            return st;
    }
    fst = 0;
    if (dr->datatype[kind] == TFLOAT) {
        float nan_value = NAN; /* undefined pixels (BLANK, ZBLANK) come back as NaN */
        fits_read_pix(f, TFLOAT, fpix, (LONGLONG)n, &nan_value, buf, &anynul, &fst);
    } else {
        fits_read_pix(f, dr->datatype[kind], fpix, (LONGLONG)n, NULL, buf, &anynul, &fst);
    }
    if (fst) {
        /* the header was valid at open, so a failure here is in the data: a tile that does not
         * decode, or bytes that cannot be read */
        char detail[400];
        return sso_fail(SSO_ERR_CORRUPT,
                        "file %s, extension %s: pixel data unreadable (cfitsio %d: %s)", x->path,
                        ext, fst, fits_text_stack(fst, detail, sizeof detail));
    }
    return SSO_OK;
}

sso_status sso_exposure_read_detector(const sso_exposure *x, int d, sso_detector **out)
{
    if (!out)
        return sso_fail(SSO_ERR_ARG, "sso_detector_read: out is NULL");
    *out = NULL;
    if (!x || d < 0 || d >= x->n_det)
        return sso_fail(SSO_ERR_ARG, "sso_detector_read: detector %d out of range", d);
    const det_ref *dr = &x->det[d];
    const size_t n = (size_t)dr->width * (size_t)dr->height;
    sso_status st;
    fitsfile *f = NULL;
    sso_detector *det = calloc(1, sizeof *det);
    if (!det)
        return sso_fail(SSO_ERR_NOMEM, "file %s, extension %s: out of memory", x->path,
                        dr->ext[EXT_SCI]);
    snprintf(det->name, sizeof det->name, "%s", dr->name);
    det->width = dr->width;
    det->height = dr->height;
    det->gain_e_per_adu = dr->gain_e_per_adu;
    det->magzerop = dr->magzerop;
    det->sci_adu = malloc(n * sizeof *det->sci_adu);
    det->flg = dr->hdu[EXT_FLG] ? malloc(n * sizeof *det->flg) : calloc(n, sizeof *det->flg);
    if (dr->hdu[EXT_RMS])
        det->rms_adu = malloc(n * sizeof *det->rms_adu);
    if (!det->sci_adu || !det->flg || (dr->hdu[EXT_RMS] && !det->rms_adu)) {
        st = sso_fail(SSO_ERR_NOMEM, "file %s, extension %s: out of memory for %zu px", x->path,
                      dr->ext[EXT_SCI], n);
        goto exit;
    }
    if ((st = take_handle(x, &f)))
        goto exit;
    if ((st = read_plane(x, f, dr, EXT_SCI, det->sci_adu, n)))
        goto exit;
    if (dr->hdu[EXT_RMS] && (st = read_plane(x, f, dr, EXT_RMS, det->rms_adu, n)))
        goto exit;
    if (dr->hdu[EXT_FLG] && (st = read_plane(x, f, dr, EXT_FLG, det->flg, n)))
        goto exit;
    if (dr->rms_is_weight) {
        /* WEIGHT is inverse variance: rms = 1/sqrt(w); weight <= 0 means no data */
        for (size_t i = 0; i < n; i++) {
            const float w = det->rms_adu[i];
            if (w > 0.0f && isfinite(w)) {
                det->rms_adu[i] = 1.0f / sqrtf(w);
            } else {
                det->rms_adu[i] = NAN;
                det->flg[i] |= (int32_t)SSO_FLG_INVALID;
            }
        }
    }
    {
        size_t i = 0;
        while (i < n && !isfinite(det->sci_adu[i]))
            i++;
        if (i == n) {
            st = sso_fail(SSO_ERR_ALL_NAN, "file %s, extension %s: no finite pixel in %d x %d",
                          x->path, dr->ext[EXT_SCI], dr->width, dr->height);
            goto exit;
        }
    }
    {
        /* the detector owns its WCS: parse the SCI header again (cheap next to the pixels) */
        int fst = 0, nkeys = 0;
        char *hdr = NULL, what[1200], t[FLEN_STATUS];
        snprintf(what, sizeof what, "file %s, extension %s", x->path, dr->ext[EXT_SCI]);
        if (fits_movabs_hdu(f, dr->hdu[EXT_SCI], NULL, &fst) ||
            fits_hdr2str(f, 1, NULL, 0, &hdr, &nkeys, &fst)) {
            st = sso_fail(SSO_ERR_IO, "%s: header unreadable (cfitsio %d: %s)", what, fst,
                          fits_text(fst, t));
            if (hdr)
                fits_free_memory(hdr, &fst);
            goto exit;
        }
        st = sso_wcs_from_header(hdr, nkeys, what, &det->wcs);
        fst = 0;
        fits_free_memory(hdr, &fst);
        if (st)
            goto exit;
    }
exit:
    if (f) {
        if (st == SSO_OK || st == SSO_ERR_ALL_NAN) {
            give_handle(x, f);
        } else {
            int cst = 0; /* a failed read may leave the handle in any state: drop it */
            fits_close_file(f, &cst);
        }
    }
    if (st) {
        sso_detector_free(det);
        return st;
    }
    *out = det;
    return SSO_OK;
}

const char *sso_detector_name(const sso_detector *det) { return det ? det->name : NULL; }
int sso_detector_width(const sso_detector *det) { return det ? det->width : 0; }
int sso_detector_height(const sso_detector *det) { return det ? det->height : 0; }
const float *sso_detector_sci_adu(const sso_detector *det) { return det ? det->sci_adu : NULL; }
const float *sso_detector_rms_adu(const sso_detector *det) { return det ? det->rms_adu : NULL; }
const int32_t *sso_detector_flg(const sso_detector *det) { return det ? det->flg : NULL; }
double sso_detector_gain_e_per_adu(const sso_detector *det) { return det ? det->gain_e_per_adu : NAN; }
double sso_detector_magzerop(const sso_detector *det) { return det ? det->magzerop : NAN; }
const sso_wcs *sso_detector_wcs(const sso_detector *det) { return det ? det->wcs : NULL; }

/* ---- the quartet ------------------------------------------------------------------------------ */

void sso_quartet_free(sso_quartet *q)
{
    if (!q)
        return;
    for (int e = 0; e < SSO_QUARTET_N; e++)
        sso_exposure_free(q->x[e]);
    free(q);
}

/* OBS_IDs compare as integers when both are all digits ("002681" == 2681), else as strings. */
static int same_obs_id(const char *a, const char *b)
{
    int da = a[0] != '\0', db = b[0] != '\0';
    for (const char *p = a; *p; p++)
        da = da && isdigit((unsigned char)*p);
    for (const char *p = b; *p; p++)
        db = db && isdigit((unsigned char)*p);
    if (da && db) {
        while (*a == '0' && a[1])
            a++;
        while (*b == '0' && b[1])
            b++;
    }
    return !strcmp(a, b);
}

/* SSO_OPEN_ALLOW_THREE: the 4th exposure of a 3-file observation, as an empty exposure (no
 * detectors, path "") at the missing exposure's time. With DITHOBS 1..4 on the three files, the
 * missing dither is the one not there, and its start follows the line start = a + b * dither
 * through the first and last present dithers (exposures start at a fixed cadence, EUCLID.md);
 * otherwise it goes one mean step after the last exposure. Stages see an epoch that covers no
 * patch, as dithers already leave some patch regions with 3 epochs. */
static sso_status add_missing_exposure(sso_quartet *q, int n)
{
    const sso_exposure *first = q->x[0], *last = q->x[0];
    int seen[SSO_QUARTET_N + 1] = {0}, all = 1;
    for (int e = 0; e < n; e++) {
        const sso_exposure *x = q->x[e];
        if (x->mjd_start < first->mjd_start)
            first = x;
        if (x->mjd_start > last->mjd_start)
            last = x;
        if (x->dither >= 1 && x->dither <= SSO_QUARTET_N)
            seen[x->dither] = 1;
        else
            all = 0;
    }
    sso_exposure *m = new_exposure("", first->flags, first->max_pixels);
    if (!m)
        return sso_fail(SSO_ERR_NOMEM, "sso_quartet_open: out of memory");
    snprintf(m->obs_id, sizeof m->obs_id, "%s", first->obs_id);
    m->exptime_s = first->exptime_s;
    m->generic = first->generic;
    const double span_d = last->mjd_start - first->mjd_start;
    if (all && last->dither != first->dither) {
        int d = 1;
        while (d <= SSO_QUARTET_N && seen[d])
            d++;
        m->dither = d;
        m->mjd_start =
            first->mjd_start + span_d / (last->dither - first->dither) * (d - first->dither);
    } else {
        m->mjd_start = last->mjd_start + span_d / (n > 1 ? n - 1 : 1);
    }
    m->mjd_mid = m->mjd_start + m->exptime_s / 2.0 / 86400.0;
    q->x[n] = m;
    return SSO_OK;
}

sso_status sso_quartet_open(const char *const *paths, int n_paths, unsigned flags, sso_quartet **out)
{
    sso_status st = SSO_OK;
    if (!out)
        return sso_fail(SSO_ERR_ARG, "sso_quartet_open: out is NULL");
    *out = NULL;
    if (n_paths < 0 || (n_paths > 0 && !paths))
        return sso_fail(SSO_ERR_ARG, "sso_quartet_open: no paths");
    const int allow3 = (flags & SSO_OPEN_ALLOW_THREE) != 0;
    if (n_paths != SSO_QUARTET_N && !(allow3 && n_paths == SSO_QUARTET_N - 1)) {
        char list[1024] = "";
        for (int i = 0; i < n_paths && i < 8; i++) {
            size_t k = strlen(list);
            snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", paths[i]);
        }
        return sso_fail(SSO_ERR_EXPOSURE_COUNT,
                        "file %s, extension PRIMARY: %d exposure files given (%s%s); a quartet is "
                        "exactly 4%s",
                        n_paths ? paths[n_paths - 1] : "(none)", n_paths, list,
                        n_paths > 8 ? ", ..." : "", allow3 ? " (or 3)" : "");
    }
    sso_exposure *x[SSO_QUARTET_N] = {0};
    for (int e = 0; e < n_paths; e++)
        if ((st = sso_exposure_open(paths[e], flags, &x[e]))) {
            for (int k = 0; k < e; k++)
                sso_exposure_free(x[k]);
            return st;
        }
    return sso_quartet_adopt(x, n_paths, flags, out);
}

sso_status sso_exposures_check(const sso_exposure *const *x, int n, int from)
{
    if (!x || n < 0 || n > SSO_QUARTET_N)
        return sso_fail(SSO_ERR_ARG, "sso_exposures_check: %d exposures", n);
    for (int e = from > 1 ? from : 1; e < n; e++) {
        if (!same_obs_id(x[0]->obs_id, x[e]->obs_id))
            return sso_fail(SSO_ERR_OBS_MISMATCH,
                            "file %s, extension PRIMARY: OBS_ID '%s' differs from '%s' in file %s",
                            x[e]->path, x[e]->obs_id, x[0]->obs_id, x[0]->path);
    }
    /* every exposure has the same detectors (a file cut exactly between two HDUs is a valid
     * FITS file with fewer detectors: this is where that shows) */
    for (int e = from > 1 ? from : 1; e < n; e++)
        for (int k = 0; k < 2; k++) {
            const sso_exposure *a = k ? x[e] : x[0], *b = k ? x[0] : x[e];
            for (int d = 0; d < a->n_det; d++) {
                int found = 0;
                for (int o = 0; o < b->n_det && !found; o++)
                    found = !strcmp(a->det[d].name, b->det[o].name);
                if (!found)
                    return sso_fail(SSO_ERR_MISSING_EXT,
                                    "file %s, extension %s.SCI: missing (detector %s is in file %s)",
                                    b->path, a->det[d].name, a->det[d].name, a->path);
            }
        }
    for (int e = from > 1 ? from : 1; e < n; e++)
        for (int o = 0; o < e; o++) {
            const sso_exposure *a = x[o], *b = x[e];
            if (a->dither > 0 && a->dither == b->dither)
                return sso_fail(SSO_ERR_DUP_DITHER,
                                "file %s, extension PRIMARY: DITHOBS %d is also the dither of file %s",
                                b->path, b->dither, a->path);
            /* the same start time (to ~0.1 s) is the same exposure, whatever DITHOBS says */
            if (fabs(a->mjd_start - b->mjd_start) * 86400.0 < 0.1)
                return sso_fail(SSO_ERR_DUP_DITHER,
                                "file %s, extension PRIMARY: starts at MJD %.8f like file %s",
                                b->path, b->mjd_start, a->path);
        }
    return SSO_OK;
}

sso_status sso_quartet_adopt(sso_exposure **x, int n, unsigned flags, sso_quartet **out)
{
    sso_status st = SSO_OK;
    sso_quartet *q = NULL;
    *out = NULL;
    if (n != SSO_QUARTET_N && !((flags & SSO_OPEN_ALLOW_THREE) && n == SSO_QUARTET_N - 1)) {
        st = sso_fail(SSO_ERR_EXPOSURE_COUNT, "sso_quartet_adopt: %d exposures; a quartet is "
                      "exactly 4%s", n, (flags & SSO_OPEN_ALLOW_THREE) ? " (or 3)" : "");
        goto exit;
    }
    if ((st = sso_exposures_check((const sso_exposure *const *)x, n, 1)))
        goto exit;
    q = calloc(1, sizeof *q);
    if (!q) {
        st = sso_fail(SSO_ERR_NOMEM, "sso_quartet_open: out of memory");
        goto exit;
    }
    for (int e = 0; e < n; e++)
        q->x[e] = x[e], x[e] = NULL;
    if (n < SSO_QUARTET_N && (st = add_missing_exposure(q, n)) != SSO_OK)
        goto exit;
    /* time order */
    for (int i = 1; i < SSO_QUARTET_N; i++)
        for (int j = i; j > 0 && q->x[j - 1]->mjd_mid > q->x[j]->mjd_mid; j--) {
            sso_exposure *tmp = q->x[j];
            q->x[j] = q->x[j - 1];
            q->x[j - 1] = tmp;
        }
    *out = q;
    q = NULL;
exit:
    for (int e = 0; e < n; e++) {
        sso_exposure_free(x[e]);
        x[e] = NULL;
    }
    sso_quartet_free(q);
    return st;
}

const sso_exposure *sso_quartet_exposure_handle(const sso_quartet *q, int e)
{
    return (q && e >= 0 && e < SSO_QUARTET_N) ? q->x[e] : NULL;
}

static int has_fits_suffix(const char *name)
{
    static const char *const sfx[] = {".fits", ".fits.fz", ".fit"};
    const size_t n = strlen(name);
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        const size_t m = strlen(sfx[i]);
        if (n > m && !strcasecmp(name + n - m, sfx[i]))
            return 1;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

sso_status sso_quartet_open_dir(const char *dir, unsigned flags, sso_quartet **out)
{
    sso_status st = SSO_OK;
    char **names = NULL;
    int n = 0, cap = 0;
    if (!out)
        return sso_fail(SSO_ERR_ARG, "sso_quartet_open_dir: out is NULL");
    *out = NULL;
    if (!dir)
        return sso_fail(SSO_ERR_ARG, "sso_quartet_open_dir: no directory");
    DIR *dp = opendir(dir);
    if (!dp)
        return sso_fail(SSO_ERR_IO, "file %s, extension PRIMARY: cannot read the directory: %s",
                        dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(dp))) {
        if (de->d_name[0] == '.' || !has_fits_suffix(de->d_name))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            char **nn = realloc(names, (size_t)cap * sizeof *names);
            if (!nn) {
                st = sso_fail(SSO_ERR_NOMEM, "%s: out of memory", dir);
                goto exit;
            }
            names = nn;
        }
        const size_t len = strlen(dir) + strlen(de->d_name) + 2;
        names[n] = malloc(len);
        if (!names[n]) {
            st = sso_fail(SSO_ERR_NOMEM, "%s: out of memory", dir);
            goto exit;
        }
        snprintf(names[n], len, "%s/%s", dir, de->d_name);
        n++;
    }
    if (n)
        qsort(names, (size_t)n, sizeof *names, cmp_str);
    if (n != SSO_QUARTET_N) {
        st = sso_fail(SSO_ERR_EXPOSURE_COUNT,
                      "file %s, extension PRIMARY: the directory holds %d exposure files "
                      "(*.fits, *.fits.fz, *.fit); a quartet is exactly 4",
                      dir, n);
        goto exit;
    }
    st = sso_quartet_open((const char *const *)names, n, flags, out);
exit:
    closedir(dp);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return st;
}

static const sso_exposure *exposure_of(const sso_quartet *q, int e)
{
    return (q && e >= 0 && e < SSO_QUARTET_N) ? q->x[e] : NULL;
}

sso_status sso_quartet_exposure(const sso_quartet *q, int e, sso_exposure_info *out)
{
    const sso_exposure *x = exposure_of(q, e);
    if (!x || !out)
        return sso_fail(SSO_ERR_ARG, "sso_quartet_exposure: exposure %d out of range", e);
    sso_exposure_get_info(x, out);
    return SSO_OK;
}

const char *sso_quartet_detector_name(const sso_quartet *q, int e, int d)
{
    return sso_exposure_detector_name(exposure_of(q, e), d);
}

int sso_quartet_find_detector(const sso_quartet *q, int e, const char *name)
{
    const sso_exposure *x = exposure_of(q, e);
    if (!x || !name)
        return -1;
    for (int d = 0; d < x->n_det; d++)
        if (!strcmp(x->det[d].name, name))
            return d;
    return -1;
}

sso_status sso_detector_read(const sso_quartet *q, int e, int d, sso_detector **out)
{
    const sso_exposure *x = exposure_of(q, e);
    if (!x) {
        if (out)
            *out = NULL;
        return sso_fail(SSO_ERR_ARG, "sso_detector_read: exposure %d out of range", e);
    }
    return sso_exposure_read_detector(x, d, out);
}

const sso_wcs *sso_quartet_detector_wcs(const sso_quartet *q, int e, int d)
{
    return sso_exposure_detector_wcs(exposure_of(q, e), d);
}

sso_status sso_quartet_detector_size(const sso_quartet *q, int e, int d, int *width, int *height)
{
    const sso_exposure *x = exposure_of(q, e);
    if (!x || d < 0 || d >= x->n_det)
        return sso_fail(SSO_ERR_ARG, "sso_quartet_detector_size: exposure %d detector %d out of range",
                        e, d);
    sso_exposure_detector_size(x, d, width, height);
    return SSO_OK;
}
