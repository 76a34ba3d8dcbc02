/* sso/status.h: status codes shared by every sso call.
 *
 * Every fallible sso function returns an sso_status. SSO_OK is 0; everything else is an error
 * with a stable meaning (callers may switch on it). sso_strerror() turns a code into words;
 * sso_last_error() returns the detail of the most recent error raised on the calling thread
 * ("EUC_...fits, extension 3-4.RMS: missing"), kept in a thread-local buffer, so that library code
 * never prints. The command line tool maps codes to exit codes (sso_status_exit_code()).
 */
#ifndef SSO_STATUS_H
#define SSO_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sso_status {
    SSO_OK = 0,
    /* caller and environment */
    SSO_ERR_ARG = 1,             /* invalid argument or option */
    SSO_ERR_NOMEM = 2,           /* allocation failed */
    SSO_ERR_IO = 3,              /* file missing, unreadable, or not writable */
    SSO_ERR_INTERNAL = 4,        /* a bug: an invariant did not hold */
    SSO_ERR_UNSUPPORTED = 5,     /* a valid request this build cannot do */
    /* input data (ingest) */
    SSO_ERR_NOT_FITS = 10,       /* the file is not a FITS file */
    SSO_ERR_TRUNCATED = 11,      /* the file ends before its last HDU's data */
    SSO_ERR_CORRUPT = 12,        /* unreadable data: bad checksum, corrupt compressed tile */
    SSO_ERR_MISSING_EXT = 13,    /* a detector lacks its SCI, RMS or FLG extension */
    SSO_ERR_BITPIX = 14,         /* wrong pixel type for the extension */
    SSO_ERR_SIZE_MISMATCH = 15,  /* SCI/RMS/FLG of one detector differ in size */
    SSO_ERR_WCS = 16,            /* no celestial WCS, or one that wcslib cannot use */
    SSO_ERR_NO_TIME = 17,        /* neither MJD-OBS nor a parsable DATE-OBS, or no EXPTIME */
    SSO_ERR_OBS_MISMATCH = 18,   /* exposures from different observations (OBS_ID) */
    SSO_ERR_DUP_DITHER = 19,     /* two exposures with the same dither / time */
    SSO_ERR_EXPOSURE_COUNT = 20, /* not exactly 4 exposures */
    SSO_ERR_ALL_NAN = 21,        /* a detector with no finite pixel */
    SSO_ERR_BAD_HEADER = 22,     /* a required keyword is missing or malformed */
    /* accelerator */
    SSO_ERR_NO_DEVICE = 30,      /* built without CUDA, or no CUDA device present */
    SSO_ERR_CUDA = 31,           /* a CUDA runtime or cuFFT call failed */
    SSO_ERR_FFT = 32             /* an FFTW plan could not be made */
} sso_status;

/* A short, static description of a status code ("missing extension"). Never NULL. */
const char *sso_strerror(sso_status s);

/* The detail of the last error raised on this thread, or "" if none. The pointer stays valid
 * until the next sso call on this thread. */
const char *sso_last_error(void);

/* The process exit code the `sso` command uses for a status (documented in `sso --help`):
 * 0 ok, 1 internal error, 2 usage, 3 bad input data, 4 I/O, 5 device. */
int sso_status_exit_code(sso_status s);

#ifdef __cplusplus
}
#endif
#endif
