/* tools/commands.h: the subcommands of the `sso` command line tool.
 *
 * Each takes the arguments after its name (argv[0] is the subcommand name) and returns the process
 * exit code: 0 ok, 1 internal error, 2 usage, 3 bad input data, 4 I/O, 5 device
 * (sso_status_exit_code()). Each prints its own --help. Messages go to stderr, results to stdout.
 */
#ifndef SSO_TOOLS_COMMANDS_H
#define SSO_TOOLS_COMMANDS_H

#include <stdint.h>
#include <stdio.h>

#include "sso/sso.h"

int sso_cmd_sim(int argc, char **argv);   /* tools/cmd_sim.c: write a simulated quartet */
int sso_cmd_info(int argc, char **argv);  /* tools/cmd_info.c: ingest a quartet, print what was read */
int sso_cmd_run(int argc, char **argv);   /* tools/cmd_run.c: detect movers in a quartet */
int sso_cmd_wcs(int argc, char **argv);   /* tools/cmd_wcs.c: pixel -> sky of one extension */
int sso_cmd_listen(int argc, char **argv); /* tools/cmd_listen.c: subscribe to the alert stream */
int sso_cmd_watch(int argc, char **argv); /* tools/cmd_watch.c: the service over a directory */
int sso_cmd_alerts_demo(int argc, char **argv); /* tools/cmd_alerts_demo.c: synthetic alerts */
int sso_cmd_score(int argc, char **argv); /* tools/cmd_score.c: alerts scored against truth.csv */
int sso_cmd_keygen(int argc, char **argv); /* tools/cmd_keygen.c: CURVE key pair */
int sso_cmd_bench(int argc, char **argv); /* tools/cmd_bench.c: time the pipeline, write reports */
int sso_cmd_ades(int argc, char **argv);  /* tools/cmd_ades.c: stored alerts as an ADES PSV report */
int sso_cmd_alerts(int argc, char **argv); /* tools/cmd_ades.c: stored alerts as JSON lines */
int sso_cmd_regions(int argc, char **argv); /* tools/cmd_regions.c: ds9 regions per exposure */

/* tools/cmd_ades.c: the latest revision of each alert stored with seq > since_seq and issued at or
 * after since_us (INT64_MIN: any time), in seq order, into a malloc'd array (*out, caller frees);
 * role "test" alerts only with include_test. Status with sso_last_error() on failure. */
sso_status sso_cli_load_store(const char *path, uint64_t since_seq, int64_t since_us,
                              int include_test, sso_alert **out, size_t *n);
/* tools/cmd_ades.c: `sso listen --format ades`: prints the ADES header before the first alert
 * (*state 0 -> 1), then the alert's rows, with opts (--stn, --ephem; NULL: the defaults).
 * Returns 0, or -1 after a message on stderr. */
int sso_cli_ades_print(FILE *f, const sso_ades_opts *opts, const sso_alert *a, int *state);
/* tools/cmd_regions.c: one ds9 region file at path (written under a temporary name, then renamed):
 * a circle per epoch of alerts[] observed at mjd_mid (within 1e-6 d) and, with obs_id non-NULL,
 * of that observation. origin is the second comment line (e.g. "sso run: FILE"). */
sso_status sso_regions_write(const char *path, const char *origin, const char *obs_id,
                             double mjd_mid, const sso_alert *alerts, size_t n);

/* popen(cmd, "w") for a plotting program with SIGPIPE ignored until sso_cli_plot_close: when the
 * program is missing or dies, the writes fail (EPIPE) instead of killing sso after its results
 * are written (sso bench exited 141 on a machine without gnuplot). NULL: errno set, nothing to
 * restore. sso_cli_plot_close returns pclose's status and restores SIGPIPE's disposition. */
FILE *sso_cli_plot_open(const char *cmd);
int sso_cli_plot_close(FILE *f);

/* Prints "sso <cmd>: <strerror>: <detail>" on stderr and returns the exit code for s. */
int sso_cli_error(const char *cmd, sso_status s);

#endif
