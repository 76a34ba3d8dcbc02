/* host/status_internal.h: raising errors inside the library (see host/status.c). */
#ifndef SSO_STATUS_INTERNAL_H
#define SSO_STATUS_INTERNAL_H

#include "sso/status.h"

#if defined(__GNUC__)
#define SSO_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SSO_PRINTF(a, b)
#endif

/* Records the detail for sso_last_error() and returns s. */
sso_status sso_fail(sso_status s, const char *fmt, ...) SSO_PRINTF(2, 3);
void sso_clear_error(void);

#endif
