/* tools/bench_roofline.h: the kernels' roofline of `sso bench --roofline` (tools/bench_roofline.c). */
#ifndef SSO_TOOLS_BENCH_ROOFLINE_H
#define SSO_TOOLS_BENCH_ROOFLINE_H

#include "sso/bench.h"

#define SSO_ROOF_MAX_ROWS 12

/* Measures the device's ceilings, then runs every GPU kernel on one detector of the quartet in
 * paths[4] (the same detector in each exposure) and fills rows[*n_rows] (derived too). timed: the
 * timed calls per kernel after one warm-up; vmax_px_h: the stack's search radius. Progress lines
 * go to stderr. */
sso_status sso_bench_roofline_measure(const char *const paths[4], int timed, double vmax_px_h,
                                      sso_bench_peaks *pk, sso_bench_roof_row rows[SSO_ROOF_MAX_ROWS],
                                      int *n_rows);

/* The roofline PNG (gnuplot): log-log FLOP/s against FLOP/B for the rows with a FLOP count, under
 * the two measured ceilings, and beside it each row's fraction of the copy bandwidth. Warns on
 * stderr (and returns -1) when gnuplot is missing or fails; 0 when written. */
int sso_bench_roofline_plot(const sso_bench_report *r, const char *png);

#endif
