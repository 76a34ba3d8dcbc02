/* tests/support/testutil.c: see testutil.h. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *sso_test_tmpdir(void)
{
    static char dir[4096];
    if (dir[0])
        return dir;
    const char *env = getenv("SSO_TEST_TMP");
    if (env && env[0]) {
        snprintf(dir, sizeof dir, "%s", env);
        mkdir(dir, 0777);
    } else {
        snprintf(dir, sizeof dir, "/tmp/sso-test-XXXXXX");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            abort();
        }
    }
    return dir;
}

char *sso_test_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", sso_test_tmpdir(), name);
    return buf;
}

int sso_test_system(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc == -1)
        return -1;
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}
