/* alerts/synth.h: deterministic synthetic alerts (alerts/synth.c) for tests and the demo. */
#ifndef SSO_ALERTS_SYNTH_H
#define SSO_ALERTS_SYNTH_H

#include <stdint.h>

#include "sso/alert.h"

/* Fills *a with synthetic alert number i of observation obs_id (role "test"); the same arguments
 * always give the same alert. */
sso_status sso_alert_synth(uint64_t seed, const char *obs_id, uint64_t i, sso_alert *a);

#endif
