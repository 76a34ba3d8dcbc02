/* tools/commands.h: the subcommands of the `sso` command line tool.
 *
 * Each takes the arguments after its name (argv[0] is the subcommand name) and returns the process
 * exit code: 0 ok, 1 internal error, 2 usage, 3 bad input data, 4 I/O, 5 device
 * (sso_status_exit_code()). Each prints its own --help. Messages go to stderr, results to stdout.
 */
#ifndef SSO_TOOLS_COMMANDS_H
#define SSO_TOOLS_COMMANDS_H

#include "sso/sso.h"

int sso_cmd_sim(int argc, char **argv);   /* tools/cmd_sim.c: write a simulated quartet */
int sso_cmd_info(int argc, char **argv);  /* tools/cmd_info.c: ingest a quartet, print what was read */
int sso_cmd_run(int argc, char **argv);   /* tools/cmd_run.c: detect movers in a quartet */
int sso_cmd_wcs(int argc, char **argv);   /* tools/cmd_wcs.c: pixel -> sky of one extension */
int sso_cmd_listen(int argc, char **argv); /* tools/cmd_listen.c: subscribe to the alert stream */
int sso_cmd_alerts_demo(int argc, char **argv); /* tools/cmd_alerts_demo.c: synthetic alerts */
int sso_cmd_score(int argc, char **argv);
int sso_cmd_keygen(int argc, char **argv); /* tools/cmd_keygen.c: CURVE key pair */ /* tools/cmd_score.c: alerts scored against truth.csv */

/* Prints "sso <cmd>: <strerror>: <detail>" on stderr and returns the exit code for s. */
int sso_cli_error(const char *cmd, sso_status s);

#endif
