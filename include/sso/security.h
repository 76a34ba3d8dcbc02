/* sso/security.h: CURVE keys, the allowed-keys list and the ZAP handler that enforces it.
 *
 * Every ZeroMQ socket sso opens binds or connects to loopback unless told otherwise; CURVE is for
 * the deliberate case of another interface. With CURVE on, the server sockets (PUB, the replay
 * ROUTER) encrypt and authenticate: a ZAP handler running in the publisher's ZeroMQ context answers
 * each handshake and accepts only mechanism CURVE with a client public key from the allowed list.
 * Clients (SUB, DEALER) hold their own key pair and the server's public key.
 *
 * Key files are text: lines whose first word is a 40-character Z85 key are keys; other lines that
 * start with '#' are comments; blank lines are ignored; anything else is an error naming the file
 * and the line. A key may be followed by blanks and a comment ("<key>  # alice").
 *   secret key file   exactly one key, the Z85 secret; the public key is derived from it
 *                     (zmq_curve_public). It must not be readable by group or others (mode 0600).
 *   public key file   exactly one key (written by sso_curve_keygen beside the secret, ".pub").
 *   allowed keys      any number of client public keys, one per line (a .pub file is one).
 * sso_curve_keygen writes both files of a new pair, each under a temporary name then renamed, the
 * secret created with mode 0600, so a reader never sees half a key.
 *
 * Asked for CURVE where libzmq lacks it (zmq_has("curve") false), every call here that needs it
 * returns SSO_ERR_UNSUPPORTED: callers refuse to start rather than run in plaintext.
 *
 * Socket arguments are ZeroMQ sockets as void * (no ZeroMQ type in sso's public headers).
 */
#ifndef SSO_SECURITY_H
#define SSO_SECURITY_H

#include <stddef.h>
#include <stdint.h>

#include "sso/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SSO_CURVE_Z85_LEN 40           /* characters of a Z85-encoded CURVE key (32 bytes) */
#define SSO_ZAP_DOMAIN "sso"           /* ZMQ_ZAP_DOMAIN of sso's server sockets */
#define SSO_CURVE_MAX_KEY_FILE 1048576 /* key files larger than this are refused [bytes] */

typedef struct sso_curve_keypair {
    char public_z85[SSO_CURVE_Z85_LEN + 1];
    char secret_z85[SSO_CURVE_Z85_LEN + 1];
} sso_curve_keypair;

/* 1 when libzmq supports CURVE (zmq_has("curve")), else 0. The environment variable
 * SSO_ZMQ_HAS_CURVE=0 forces 0: the seam that lets tests exercise the refusal path. */
int sso_curve_available(void);

/* Makes a new key pair (zmq_curve_keypair) and writes secret_path (mode 0600) and
 * secret_path + ".pub". An existing secret_path is refused (SSO_ERR_IO) unless overwrite.
 * out (may be NULL) receives the pair. */
sso_status sso_curve_keygen(const char *secret_path, int overwrite, sso_curve_keypair *out);

/* Reads a secret key file and derives its public key. SSO_ERR_IO when unreadable, SSO_ERR_ARG when
 * malformed, not exactly one key, or readable by group/others; the message names the file. */
sso_status sso_curve_load_secret(const char *path, sso_curve_keypair *out);

/* A server public key given as a 40-character Z85 string or as a file holding exactly one key. */
sso_status sso_curve_load_public(const char *file_or_z85, char out[SSO_CURVE_Z85_LEN + 1]);

/* ---- allowed client keys ---- */
typedef struct sso_curve_allow sso_curve_allow;

/* Reads an allowed-keys file (at least one key). Errors as sso_curve_load_secret. */
sso_status sso_curve_allow_load(const char *path, sso_curve_allow **out);
void sso_curve_allow_free(sso_curve_allow *a);
size_t sso_curve_allow_count(const sso_curve_allow *a);
/* 1 if the 32-byte binary public key is listed. */
int sso_curve_allow_has(const sso_curve_allow *a, const unsigned char key[32]);

/* Checks a server's CURVE settings without opening anything: CURVE available, the secret key file
 * and the allowed-keys file (required) readable and well formed. For tools that must refuse to
 * start before doing any work; sso_publisher_create does the same checks itself. */
sso_status sso_curve_check_server(const char *secret_path, const char *allow_path);

/* ---- the ZAP handler ---- */
typedef struct sso_zap sso_zap;

/* Binds inproc://zeromq.zap.01 in zmq_ctx and answers ZAP requests on a thread of its own:
 * "200" for mechanism CURVE with a listed client key, "400" for anything else. Takes ownership of
 * allow (freed by sso_zap_free, also on error). Create it before binding any server socket;
 * free it after closing them and before zmq_ctx_term. */
sso_status sso_zap_create(void *zmq_ctx, sso_curve_allow *allow, sso_zap **out);
void sso_zap_free(sso_zap *z);
/* Handshakes accepted and rejected so far. */
void sso_zap_counts(sso_zap *z, uint64_t *accepted, uint64_t *rejected);

/* ---- socket setup (before bind / connect) ---- */
/* A CURVE server socket with the given key pair, in SSO_ZAP_DOMAIN. */
sso_status sso_curve_server_socket(void *sock, const sso_curve_keypair *server);
/* A CURVE client socket: its own pair and the server's public key (Z85). */
sso_status sso_curve_client_socket(void *sock, const sso_curve_keypair *client,
                                   const char *server_public_z85);

#ifdef __cplusplus
}
#endif
#endif
