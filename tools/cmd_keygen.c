/* tools/cmd_keygen.c: `sso keygen FILE`: a new CURVE key pair for the alert stream.
 *
 * A thin shell over sso_curve_keygen (alerts/security.c): FILE gets the secret key (mode 0600,
 * written under a temporary name and renamed), FILE.pub the public key; the public key is also
 * printed on stdout. An existing FILE is kept unless --force.
 */
#include <stdio.h>
#include <string.h>

#include "tools/commands.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sso keygen FILE [--force]\n"
            "\n"
            "Writes a new CURVE key pair for the alert stream: FILE holds the secret key (mode\n"
            "0600: keep it private), FILE.pub the public key, which is also printed on stdout.\n"
            "\n"
            "  server:  sso keygen server.key; sso run ... --publish EP --curve-secret server.key\n"
            "           --allow-keys clients.txt  (client .pub files, or their keys one per line)\n"
            "  client:  sso keygen me.key; sso listen --connect EP --curve-secret me.key\n"
            "           --server-key server.key.pub\n"
            "\n"
            "  --force   overwrite an existing FILE\n"
            "\n"
            "exit codes: 0 ok, 1 CURVE not supported by this libzmq, 2 usage, 4 I/O (FILE exists,\n"
            "folder not writable).\n");
}

int sso_cmd_keygen(int argc, char **argv)
{
    const char *path = NULL;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--force")) {
            force = 1;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "sso keygen: unexpected argument: %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    sso_curve_keypair kp;
    sso_status st = sso_curve_keygen(path, force, &kp);
    if (st != SSO_OK)
        return sso_cli_error("keygen", st);
    printf("%s\n", kp.public_z85);
    fprintf(stderr, "sso keygen: secret key in %s (mode 0600), public key in %s.pub\n", path, path);
    memset(&kp, 0, sizeof kp);
    return 0;
}
