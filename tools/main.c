/* tools/main.c: the `sso` command: dispatch to subcommands and the top-level help.
 *
 * Subcommands live one per file (tools/cmd_*.c) behind tools/commands.h. The library never prints
 * or exits; this tool turns statuses into messages and exit codes.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "tools/commands.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} g_cmds[] = {
    {"sim", sso_cmd_sim, "write a simulated Euclid VIS quartet (4 exposure files + truth.csv)"},
    {"run", sso_cmd_run, "detect moving objects in a quartet: alerts.jsonl and ds9 regions"},
    {"info", sso_cmd_info, "ingest a quartet and print what was read, detector by detector"},
    {"wcs", sso_cmd_wcs, "print pixel -> sky of one extension as sso reads its WCS"},
    {"listen", sso_cmd_listen, "subscribe to the alert stream; fills gaps from the replay service"},
    {"watch", sso_cmd_watch, "run as a service: process quartets as their files land, publish alerts"},
    {"alerts-demo", sso_cmd_alerts_demo, "store and publish synthetic alerts (tests, demos)"},
    {"keygen", sso_cmd_keygen, "write a CURVE key pair (secret + .pub) for the alert stream"},
    {"score", sso_cmd_score, "score alerts against the simulator's truth.csv (completeness, false)"},
    {"bench", sso_cmd_bench, "time the pipeline on a simulated quartet: JSON, markdown and plots"},
    {"ades", sso_cmd_ades, "stored detections as an ADES PSV report for the Minor Planet Center"},
    {"alerts", sso_cmd_alerts, "stored alerts as JSON lines"},
    {"regions", sso_cmd_regions, "ds9 region files per exposure from alerts.jsonl or the store"},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sso <command> [options]\n"
            "\n"
            "sso finds moving Solar System objects in Euclid VIS dither quartets.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof g_cmds / sizeof g_cmds[0]; i++)
        fprintf(f, "  %-11s %s\n", g_cmds[i].name, g_cmds[i].summary);
    fprintf(f,
            "\n"
            "`sso <command> --help` explains each command.\n"
            "\n"
            "exit codes: 0 ok, 1 internal error, 2 usage error, 3 bad input data (corrupt, truncated\n"
            "or inconsistent FITS, missing extensions, no WCS, no time, wrong quartet), 4 I/O error,\n"
            "5 GPU unavailable or failed.\n");
}

static struct sigaction g_plot_old_pipe;

FILE *sso_cli_plot_open(const char *cmd)
{
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    fflush(NULL);
    if (sigaction(SIGPIPE, &ign, &g_plot_old_pipe) != 0)
        return NULL;
    FILE *f = popen(cmd, "w");
    if (!f)
        sigaction(SIGPIPE, &g_plot_old_pipe, NULL);
    return f;
}

int sso_cli_plot_close(FILE *f)
{
    const int rc = pclose(f);
    sigaction(SIGPIPE, &g_plot_old_pipe, NULL);
    return rc;
}

int sso_cli_error(const char *cmd, sso_status s)
{
    const char *detail = sso_last_error();
    if (detail && detail[0])
        fprintf(stderr, "sso %s: %s: %s\n", cmd, sso_strerror(s), detail);
    else
        fprintf(stderr, "sso %s: %s\n", cmd, sso_strerror(s));
    return sso_status_exit_code(s);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("sso %s\n", sso_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof g_cmds / sizeof g_cmds[0]; i++)
        if (!strcmp(argv[1], g_cmds[i].name))
            return g_cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "sso: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
