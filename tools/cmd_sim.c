/* tools/cmd_sim.c: placeholder until the subcommand lands (being written in this session). */
#include <stdio.h>
#include "tools/commands.h"
int sso_cmd_sim(int argc, char **argv)
{
    fprintf(stderr, "sso sim: not built yet\n");
    return 1;
}
