/* tools/pipeline_opts.h: the pipeline options shared by `sso run`, `sso watch` and `sso bench`
 * (tools/pipeline_opts.c).
 *
 * One parser and one --help block, so the three commands accept the same options with the same
 * ranges and messages: --backend, --device, --threads, --vmax, --nu-min, --patch-size,
 * --no-cosmics, --no-trail-bins, --fast / --no-fast, --fast-lmax. Each command keeps its own
 * defaults (sso_cli_pipeline_defaults, then its own changes, e.g. bench's --backend cpu) and
 * passes them to the help printer, which shows them in brackets. A bad or missing value prints
 * "sso CMD: bad value for OPTION: 'VALUE' (what it must be)" on stderr; the command then exits 2
 * (usage), as for any other usage error.
 */
#ifndef SSO_TOOLS_PIPELINE_OPTS_H
#define SSO_TOOLS_PIPELINE_OPTS_H

#include <stdio.h>

#include "sso/pipeline.h"

/* The command line's pipeline defaults: sso_pipeline_config_default with 2 threads and a 7 sigma
 * threshold. */
void sso_cli_pipeline_defaults(sso_pipeline_config *cfg);

/* If argv[*i] is a pipeline option, parses it (and its value, *i then advanced past it) into cfg
 * and returns 1; returns 0 when it is not one (nothing changed); -1 after a message on stderr
 * naming cmd when the value is missing or bad (the caller exits 2). */
int sso_cli_pipeline_opt(const char *cmd, int argc, char **argv, int *i, sso_pipeline_config *cfg);

/* The options' --help lines, with the defaults of cfg in brackets. */
void sso_cli_pipeline_usage(FILE *f, const sso_pipeline_config *defaults);

#endif
