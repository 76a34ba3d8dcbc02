/* sso/flags.h: Euclid VIS FLG bit numbers (EUCLID.md) and the engine's default masks.
 *
 * Bits 18 (STARSIGNAL) and 24 (OBJECTS) mark real signal and are never a reason to reject a pixel.
 * COSMIC (4) is a hint, not a hard mask, for streak detection: the pipeline's cosmic-ray flag may
 * also catch asteroid trails.
 */
#ifndef SSO_FLAGS_H
#define SSO_FLAGS_H

#include <stdint.h>

#define SSO_FLG_INVALID        (1u << 0)
#define SSO_FLG_HOT            (1u << 1)
#define SSO_FLG_COLD           (1u << 2)
#define SSO_FLG_SAT            (1u << 3)
#define SSO_FLG_COSMIC         (1u << 4)
#define SSO_FLG_GHOST          (1u << 5)
#define SSO_FLG_QUADEDGE       (1u << 6)
#define SSO_FLG_BAD_COLUMN     (1u << 7)
#define SSO_FLG_BAD_CLUSTER    (1u << 8)
#define SSO_FLG_CR_REGION      (1u << 9)
#define SSO_FLG_OVRCOL         (1u << 12)
#define SSO_FLG_CHARINJ        (1u << 15)
#define SSO_FLG_SATXTALKGHOST  (1u << 17)
#define SSO_FLG_STARSIGNAL     (1u << 18)
#define SSO_FLG_ADCMAX         (1u << 21)
#define SSO_FLG_NO_DATA        (1u << 22)
#define SSO_FLG_STITCHBLOCK    (1u << 23)
#define SSO_FLG_OBJECTS        (1u << 24)

/* Pixels with any of these bits are not used for measurement (COSMIC excluded: see above). */
#define SSO_FLG_MASK_DEFAULT (SSO_FLG_INVALID | SSO_FLG_HOT | SSO_FLG_COLD | SSO_FLG_SAT | \
    SSO_FLG_GHOST | SSO_FLG_BAD_COLUMN | SSO_FLG_BAD_CLUSTER | SSO_FLG_OVRCOL | SSO_FLG_CHARINJ | \
    SSO_FLG_SATXTALKGHOST | SSO_FLG_ADCMAX | SSO_FLG_NO_DATA | SSO_FLG_STITCHBLOCK)

#endif
