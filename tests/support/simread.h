/* tests/support/simread.h: read one detector of a simulated exposure straight from the file.
 *
 * The simulator's tests check its files with cfitsio and wcslib directly, independently of the
 * project's ingest layer (which has tests of its own): SCI, RMS, FLG of detector `det`, GAIN,
 * MAGZEROP, and the SCI header's WCS parsed by wcspih + wcsset.
 */
#ifndef SSO_TEST_SIMREAD_H
#define SSO_TEST_SIMREAD_H

#include <stdint.h>
#include <wcslib/wcs.h>

typedef struct det_img {
    long w, h;
    float *sci, *rms;
    int32_t *flg;
    double gain, magzp;
    struct wcsprm *wcs;
    int nwcs;
} det_img;

/* Reads detector det ("3-3") of the exposure file path into d. Returns 0, or a nonzero cfitsio /
 * wcslib status (with a line on stderr naming the file and extension). */
int sso_test_read_det(const char *path, const char *det, det_img *d);
void sso_test_free_det(det_img *d);

#endif
