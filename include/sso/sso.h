/* sso/sso.h: the one header users include.
 *
 * sso finds moving Solar System objects in Euclid VIS dither quartets. Modules:
 *   status.h   status codes, sso_strerror, sso_last_error
 *   wcs.h      celestial WCS of a detector (wcslib)
 *   quartet.h  ingest: 4 exposures of one observation, read detector by detector (cfitsio)
 *   flags.h    Euclid VIS FLG bits
 *   prep.h     pixel preparation (electrons, variance, mask) on CPU or GPU
 *   likelihood.h  matched-filter likelihood images psi/phi and their templates
 *   stack.h    slow movers: shift-and-stack of psi/phi over a velocity grid
 *   sim.h      the Euclid VIS quartet simulator
 * All types are opaque or plain C; no cfitsio, wcslib, CUDA or ZeroMQ type appears here.
 */
#ifndef SSO_SSO_H
#define SSO_SSO_H

#include "sso/status.h"
#include "sso/wcs.h"
#include "sso/quartet.h"
#include "sso/flags.h"
#include "sso/prep.h"
#include "sso/likelihood.h"
#include "sso/stack.h"
#include "sso/sim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The library version, "MAJOR.MINOR.PATCH". */
const char *sso_version(void);

#ifdef __cplusplus
}
#endif
#endif
