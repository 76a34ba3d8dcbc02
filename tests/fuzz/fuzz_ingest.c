/* tests/fuzz/fuzz_ingest.c: libFuzzer target for the header/ingest path.
 *
 * Each input is one FITS file held in memory. sso_exposure_open_mem() runs exactly the checks a
 * real sso_quartet_open() runs on a file (host/ingest.c: FITS-ness, truncation, the raw header
 * pre-checks, layout, types, sizes, WCS through wcslib, times through wcslib's datfix), and then
 * every detector it accepted is read (NaN handling, WEIGHT conversion, and with odd-sized inputs
 * DATASUM / CHECKSUM verification). Detectors are capped at 2^16 px so that a header promising
 * gigapixels is refused instead of allocated. Anything but a clean status is fine; a crash, a
 * sanitizer report or a leak is a bug.
 *
 * Tile-compressed detectors are decoded too: the ingest checks every tile descriptor and dry-runs
 * cfitsio's Rice decoder on a padded copy of each tile before the real decode (host/ingest.c),
 * because cfitsio 4.2's decoder reads out of bounds on corrupt tiles. SSO_FUZZ_DECODE=0 skips the
 * pixels of compressed detectors, to fuzz the header path alone.
 *
 * Seeds come from sso_test_mkfits (tests/support/mkfits_main.c, "seeds"): small files of every
 * layout, written at test time. See tests/fuzz/README.md for running it longer by hand.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "host/ingest_internal.h"
#include "sso/sso.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sso_exposure *x = NULL;
    const unsigned flags = (size & 1) ? SSO_OPEN_VERIFY_CHECKSUM : 0;
    if (sso_exposure_open_mem(data, size, "fuzz.fits", flags, (int64_t)1 << 16, &x) != SSO_OK)
        return 0;
    static int decode = -1;
    if (decode < 0)
        decode = !(getenv("SSO_FUZZ_DECODE") && getenv("SSO_FUZZ_DECODE")[0] == '0');
    for (int d = 0; d < sso_exposure_n_detectors(x); d++) {
        if (!decode && sso_exposure_detector_compressed(x, d))
            continue;
        sso_detector *det = NULL;
        if (sso_exposure_read_detector(x, d, &det) == SSO_OK) {
            /* touch what a caller would use */
            double px = 1.0, py = 1.0, ra, dec;
            sso_wcs_pix2sky(sso_detector_wcs(det), 1, &px, &py, &ra, &dec);
            sso_wcs_sky2pix(sso_detector_wcs(det), 1, &ra, &dec, &px, &py);
            sso_detector_free(det);
        }
    }
    sso_exposure_free(x);
    return 0;
}
