/* tools/cmd_info.c: placeholder until the subcommand lands (being written in this session). */
#include <stdio.h>
#include "tools/commands.h"
int sso_cmd_info(int argc, char **argv)
{
    fprintf(stderr, "sso info: not built yet\n");
    return 1;
}
