/* sim/vis_optics_data.c: the Euclid pupil geometry and VIS band tables (see vis_optics_data.h for
 * what the numbers mean and where they were measured). */
#include "sim/vis_optics_data.h"

/* Measured from euclid_pupil_plane.fits.gz: arm directions, start points and widths. */
const sso_vis_spider sso_vis_spiders[SSO_VIS_N_SPIDERS] = {
    {-100.759, 0.13737, 0.02487, 0.01200},
    {140.110, -0.09680, -0.06484, 0.01200},
    {16.780, -0.03056, 0.15231, 0.01200},
};

/* vis_bandpass.dat in 25 nm bins 525-550, 550-575, ..., 900-925 nm. */
const sso_vis_band_bin sso_vis_band[SSO_VIS_N_BAND_BINS] = {
    {544.9, 0.2574}, {562.6, 0.7204}, {587.5, 0.7430}, {612.5, 0.7547},
    {637.5, 0.7581}, {662.5, 0.7570}, {687.5, 0.7571}, {712.5, 0.7548},
    {737.4, 0.7489}, {762.4, 0.7355}, {787.4, 0.7146}, {812.3, 0.6795},
    {837.3, 0.6287}, {862.2, 0.5582}, {887.1, 0.4709}, {911.3, 0.3545},
};
