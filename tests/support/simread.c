/* tests/support/simread.c: see simread.h. */
#include "simread.h"

#include <fitsio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wcslib/wcshdr.h>

int sso_test_read_det(const char *path, const char *det, det_img *d)
{
    fitsfile *f = NULL;
    int st = 0, any = 0;
    memset(d, 0, sizeof *d);
    if (fits_open_diskfile(&f, path, READONLY, &st)) {
        fprintf(stderr, "%s: cannot open (cfitsio %d)\n", path, st);
        return st;
    }
    static const char *const planes[3] = {"SCI", "RMS", "FLG"};
    for (int p = 0; p < 3 && !st; p++) {
        char name[32];
        snprintf(name, sizeof name, "%s.%s", det, planes[p]);
        long ax[2];
        if (fits_movnam_hdu(f, IMAGE_HDU, name, 0, &st) || fits_get_img_size(f, 2, ax, &st)) {
            fprintf(stderr, "%s, extension %s: cfitsio %d\n", path, name, st);
            break;
        }
        d->w = ax[0];
        d->h = ax[1];
        const size_t n = (size_t)ax[0] * ax[1];
        void *buf = malloc(n * 4);
        if (!buf || fits_read_img(f, p == 2 ? TINT : TFLOAT, 1, (LONGLONG)n, NULL, buf, &any, &st)) {
            fprintf(stderr, "%s, extension %s: cannot read pixels (cfitsio %d)\n", path, name, st);
            free(buf);
            st = st ? st : -1;
            break;
        }
        if (p == 0) {
            d->sci = buf;
            char *hdr = NULL;
            int nkeys = 0, nrej = 0;
            fits_read_key(f, TDOUBLE, "GAIN", &d->gain, NULL, &st);
            fits_read_key(f, TDOUBLE, "MAGZEROP", &d->magzp, NULL, &st);
            if (!st && !fits_hdr2str(f, 0, NULL, 0, &hdr, &nkeys, &st)) {
                int ws = wcspih(hdr, nkeys, WCSHDR_all, 0, &nrej, &d->nwcs, &d->wcs);
                if (!ws && d->nwcs > 0)
                    ws = wcsset(d->wcs);
                if (ws || d->nwcs < 1) {
                    fprintf(stderr, "%s, extension %s: wcslib %d\n", path, name, ws);
                    st = ws ? ws : -1;
                }
                fits_free_memory(hdr, &(int){0});
            }
        } else if (p == 1) {
            d->rms = buf;
        } else {
            d->flg = buf;
        }
    }
    int cst = 0;
    fits_close_file(f, &cst);
    return st;
}

void sso_test_free_det(det_img *d)
{
    free(d->sci);
    free(d->rms);
    free(d->flg);
    if (d->wcs)
        wcsvfree(&d->nwcs, &d->wcs);
    memset(d, 0, sizeof *d);
}
