/* host/status.c: status codes to words, the thread-local error detail, and exit codes.
 *
 * Library code raises an error with sso_fail(status, fmt, ...), which formats the detail into a
 * thread-local buffer and returns the status, so the idiom is `return sso_fail(SSO_ERR_IO,
 * "%s: cannot open", path);`. Nothing here prints; the command line tool reads sso_last_error().
 */
#include <stdarg.h>
#include <stdio.h>

#include "host/status_internal.h"
#include "sso/sso.h"

static _Thread_local char g_detail[1024];

const char *sso_strerror(sso_status s)
{
    switch (s) {
    case SSO_OK: return "success";
    case SSO_ERR_ARG: return "invalid argument";
    case SSO_ERR_NOMEM: return "out of memory";
    case SSO_ERR_IO: return "file missing, unreadable or not writable";
    case SSO_ERR_INTERNAL: return "internal error";
    case SSO_ERR_UNSUPPORTED: return "not supported by this build";
    case SSO_ERR_NOT_FITS: return "not a FITS file";
    case SSO_ERR_TRUNCATED: return "truncated FITS file";
    case SSO_ERR_CORRUPT: return "corrupt data";
    case SSO_ERR_MISSING_EXT: return "missing extension";
    case SSO_ERR_BITPIX: return "wrong pixel type";
    case SSO_ERR_SIZE_MISMATCH: return "image size mismatch";
    case SSO_ERR_WCS: return "no usable celestial WCS";
    case SSO_ERR_NO_TIME: return "no exposure time information";
    case SSO_ERR_OBS_MISMATCH: return "exposures from different observations";
    case SSO_ERR_DUP_DITHER: return "duplicate dither";
    case SSO_ERR_EXPOSURE_COUNT: return "not exactly 4 exposures";
    case SSO_ERR_ALL_NAN: return "detector has no finite pixel";
    case SSO_ERR_BAD_HEADER: return "missing or malformed header keyword";
    case SSO_ERR_NO_DEVICE: return "no CUDA device";
    case SSO_ERR_CUDA: return "CUDA error";
    case SSO_ERR_FFT: return "FFT plan failed";
    }
    return "unknown status";
}

const char *sso_last_error(void) { return g_detail; }

void sso_clear_error(void) { g_detail[0] = '\0'; }

sso_status sso_fail(sso_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_detail, sizeof g_detail, fmt, ap);
    va_end(ap);
    return s;
}

int sso_status_exit_code(sso_status s)
{
    switch (s) {
    case SSO_OK: return 0;
    case SSO_ERR_ARG: return 2;
    case SSO_ERR_IO: return 4;
    case SSO_ERR_NO_DEVICE:
    case SSO_ERR_CUDA: return 5;
    case SSO_ERR_NOT_FITS:
    case SSO_ERR_TRUNCATED:
    case SSO_ERR_CORRUPT:
    case SSO_ERR_MISSING_EXT:
    case SSO_ERR_BITPIX:
    case SSO_ERR_SIZE_MISMATCH:
    case SSO_ERR_WCS:
    case SSO_ERR_NO_TIME:
    case SSO_ERR_OBS_MISMATCH:
    case SSO_ERR_DUP_DITHER:
    case SSO_ERR_EXPOSURE_COUNT:
    case SSO_ERR_ALL_NAN:
    case SSO_ERR_BAD_HEADER: return 3;
    default: return 1;
    }
}

#ifndef SSO_VERSION_STRING
#define SSO_VERSION_STRING "0.0.0"
#endif
const char *sso_version(void) { return SSO_VERSION_STRING; }
