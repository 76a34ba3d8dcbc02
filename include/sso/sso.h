/* sso/sso.h: the one header users include.
 *
 * sso finds moving Solar System objects in Euclid VIS dither quartets. Modules:
 *   status.h   status codes, sso_strerror, sso_last_error
 *   wcs.h      celestial WCS of a detector (wcslib)
 *   quartet.h  ingest: 4 exposures of one observation, read detector by detector (cfitsio)
 *   flags.h    Euclid VIS FLG bits
 *   prep.h     pixel preparation (electrons, variance, mask) on CPU or GPU
 *   background.h  sky background and rms maps (mesh, clipped statistic, bicubic spline)
 *   cosmic.h   cosmic-ray detection per exposure (L.A.Cosmic)
 *   patch.h    sky patches on one tangent plane per field
 *   resample.h a detector resampled onto a patch (Lanczos-3, variance, mask)
 *   difference.h static sky removal: each epoch minus the median of the others
 *   photometry.h  flux of a mover along its track (trailed model, self-subtraction modelled)
 *   likelihood.h  matched-filter likelihood images psi/phi and their templates
 *   stack.h    slow movers: shift-and-stack of psi/phi over a velocity grid
 *   fast.h     fast movers: streaks per epoch, linking, guided trailed stack
 *   pipeline.h one quartet from files to alerts (`sso run`)
 *   sim.h      the Euclid VIS quartet simulator
 *   alert.h    an alert (one detected object) and its JSON; store.h, publish.h, subscribe.h
 *   watch.h    `sso watch`: the engine as a service over a directory of arriving exposures
 *   score.h    detections scored against the simulator's truth (completeness, false alerts)
 * All types are opaque or plain C; no cfitsio, wcslib, CUDA or ZeroMQ type appears here.
 */
#ifndef SSO_SSO_H
#define SSO_SSO_H

#include "sso/status.h"
#include "sso/wcs.h"
#include "sso/quartet.h"
#include "sso/flags.h"
#include "sso/prep.h"
#include "sso/background.h"
#include "sso/cosmic.h"
#include "sso/patch.h"
#include "sso/resample.h"
#include "sso/difference.h"
#include "sso/photometry.h"
#include "sso/likelihood.h"
#include "sso/stack.h"
#include "sso/fast.h"
#include "sso/pipeline.h"
#include "sso/sim.h"
#include "sso/alert.h"
#include "sso/store.h"
#include "sso/publish.h"
#include "sso/subscribe.h"
#include "sso/watch.h"
#include "sso/ades.h"
#include "sso/security.h"
#include "sso/score.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The library version, "MAJOR.MINOR.PATCH". */
const char *sso_version(void);

#ifdef __cplusplus
}
#endif
#endif
