/* alerts/security.c: CURVE key files, the allowed-keys list and the ZAP handler (sso/security.h).
 *
 * Key files: read whole (at most SSO_CURVE_MAX_KEY_FILE bytes) and split into lines; a line whose
 * first word is 40 characters of the Z85 alphabet that zmq_z85_decode accepts is a key, any other
 * line starting with '#' a comment. Z85 has '#' in its alphabet, but as its last digit (84): no
 * 4-byte group encodes to a first digit above 82 ('%'), so a key never starts with '#'. Keys are kept binary (32 bytes) and compared with memcmp: they are public, so a
 * constant-time comparison buys nothing.
 *
 * Writing: sso_curve_keygen writes each file through mkstemp (mode 0600) in the target's folder,
 * fsync, then rename(2) over the final name: atomic, so the secret never exists with a wider mode
 * or half written. The public file is then widened to 0644.
 *
 * ZAP (RFC 27): a REP socket bound to inproc://zeromq.zap.01 in the server's context, served by a
 * thread of its own. libzmq sends [version, request_id, domain, address, routing_id, mechanism,
 * credentials...]; for CURVE the one credential is the client's 32-byte public key. The reply is
 * [version, request_id, status, text, user_id, metadata]: 200 for CURVE + a listed key (user id =
 * the key in Z85), 400 otherwise, 500 for a request that is not ZAP 1.0. The thread polls with a
 * 50 ms timeout and checks an atomic stop flag, so sso_zap_free returns within ~50 ms; the socket
 * is closed by the thread that used it.
 */
#define _POSIX_C_SOURCE 200809L
#include "sso/security.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "host/status_internal.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

int sso_curve_available(void)
{
    const char *e = getenv("SSO_ZMQ_HAS_CURVE");
    if (e && e[0] == '0')
        return 0;
    return zmq_has("curve") ? 1 : 0;
}

static sso_status need_curve(const char *what)
{
    if (sso_curve_available())
        return SSO_OK;
    return sso_fail(SSO_ERR_UNSUPPORTED, "%s: CURVE was requested but this libzmq has no CURVE "
                    "support (zmq_has(\"curve\") is false): refusing to run without encryption",
                    what);
}

/* ---- parsing key files ------------------------------------------------------------------------- */

static int z85_char(char c)
{
    return c && strchr("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       ".-:+=^!/*?&<>()[]{}@%$#", c) != NULL;
}

/* 0 and the binary key if s[0..40) is a Z85 key followed by a blank or the end. */
static int z85_key_at(const char *s, size_t n, unsigned char key[32])
{
    char z[SSO_CURVE_Z85_LEN + 1];
    if (n < SSO_CURVE_Z85_LEN || (n > SSO_CURVE_Z85_LEN && s[SSO_CURVE_Z85_LEN] != ' ' &&
                                  s[SSO_CURVE_Z85_LEN] != '\t'))
        return -1;
    for (int i = 0; i < SSO_CURVE_Z85_LEN; i++)
        if (!z85_char(s[i]))
            return -1;
    memcpy(z, s, SSO_CURVE_Z85_LEN);
    z[SSO_CURVE_Z85_LEN] = 0;
    return zmq_z85_decode(key, z) ? 0 : -1;
}

typedef struct keyvec {
    unsigned char (*k)[32];
    size_t n, cap;
} keyvec;

/* Reads every key of a key file. */
static sso_status read_keys(const char *path, keyvec *v)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t len = 0;
    sso_status st = SSO_OK;
    memset(v, 0, sizeof *v);
    if (!path || !path[0])
        return sso_fail(SSO_ERR_ARG, "key file: no path");
    if (!(f = fopen(path, "rb")))
        return sso_fail(SSO_ERR_IO, "key file %s: %s", path, strerror(errno));
    if (!(buf = malloc(SSO_CURVE_MAX_KEY_FILE + 1))) {
        st = sso_fail(SSO_ERR_NOMEM, "key file %s: out of memory", path);
        goto exit;
    }
    len = fread(buf, 1, SSO_CURVE_MAX_KEY_FILE + 1, f);
    if (ferror(f)) {
        st = sso_fail(SSO_ERR_IO, "key file %s: read error", path);
        goto exit;
    }
    if (len > SSO_CURVE_MAX_KEY_FILE) {
        st = sso_fail(SSO_ERR_ARG, "key file %s: larger than %d bytes", path,
                      SSO_CURVE_MAX_KEY_FILE);
        goto exit;
    }
    size_t line = 0;
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && buf[e] != '\n')
            e++;
        line++;
        size_t s = i, t = e;
        while (s < t && (buf[s] == ' ' || buf[s] == '\t'))
            s++;
        while (t > s && (buf[t - 1] == ' ' || buf[t - 1] == '\t' || buf[t - 1] == '\r'))
            t--;
        unsigned char key[32];
        if (s == t) {
            /* blank */
        } else if (z85_key_at(buf + s, t - s, key) == 0) {
            if (v->n == v->cap) {
                size_t cap = v->cap ? 2 * v->cap : 16;
                unsigned char(*k)[32] = realloc(v->k, cap * sizeof *k);
                if (!k) {
                    st = sso_fail(SSO_ERR_NOMEM, "key file %s: out of memory", path);
                    goto exit;
                }
                v->k = k;
                v->cap = cap;
            }
            memcpy(v->k[v->n++], key, 32);
        } else if (buf[s] != '#') {
            st = sso_fail(SSO_ERR_ARG, "key file %s, line %zu: not a 40-character Z85 CURVE key "
                          "or a # comment", path, line);
            goto exit;
        }
        i = e + 1;
    }
exit:
    if (st != SSO_OK) {
        free(v->k);
        memset(v, 0, sizeof *v);
    }
    if (buf) /* the file may hold a secret: leave no copy behind */
        memset(buf, 0, len < SSO_CURVE_MAX_KEY_FILE ? len : SSO_CURVE_MAX_KEY_FILE);
    free(buf);
    if (f)
        fclose(f);
    return st;
}

static sso_status read_one_key(const char *path, unsigned char key[32])
{
    keyvec v;
    sso_status st = read_keys(path, &v);
    if (st != SSO_OK)
        return st;
    if (v.n != 1)
        st = sso_fail(SSO_ERR_ARG, "key file %s: holds %zu keys, expected exactly one", path, v.n);
    else
        memcpy(key, v.k[0], 32);
    if (v.k)
        memset(v.k, 0, v.cap * sizeof *v.k);
    free(v.k);
    return st;
}

sso_status sso_curve_load_secret(const char *path, sso_curve_keypair *out)
{
    unsigned char sec[32];
    struct stat sb;
    sso_status st;
    if (!path || !out)
        return sso_fail(SSO_ERR_ARG, "secret key file: NULL argument");
    memset(out, 0, sizeof *out);
    if ((st = need_curve(path)) != SSO_OK)
        return st;
    if (stat(path, &sb) != 0)
        return sso_fail(SSO_ERR_IO, "secret key file %s: %s", path, strerror(errno));
    if (sb.st_mode & 077)
        return sso_fail(SSO_ERR_ARG, "secret key file %s: readable by group or others (mode %03o);"
                        " chmod 600 it", path, (unsigned)(sb.st_mode & 0777));
    if ((st = read_one_key(path, sec)) != SSO_OK)
        return st;
    if (!zmq_z85_encode(out->secret_z85, sec, 32) ||
        zmq_curve_public(out->public_z85, out->secret_z85) != 0)
        st = sso_fail(SSO_ERR_INTERNAL, "secret key file %s: cannot derive the public key: %s",
                      path, zmq_strerror(errno));
    memset(sec, 0, sizeof sec);
    return st;
}

sso_status sso_curve_load_public(const char *file_or_z85, char out[SSO_CURVE_Z85_LEN + 1])
{
    unsigned char key[32];
    sso_status st;
    if (!file_or_z85 || !out)
        return sso_fail(SSO_ERR_ARG, "server key: NULL argument");
    out[0] = 0;
    if (strlen(file_or_z85) == SSO_CURVE_Z85_LEN &&
        z85_key_at(file_or_z85, SSO_CURVE_Z85_LEN, key) == 0 && access(file_or_z85, F_OK) != 0) {
        memcpy(out, file_or_z85, SSO_CURVE_Z85_LEN + 1);
        return SSO_OK;
    }
    if ((st = read_one_key(file_or_z85, key)) != SSO_OK)
        return st;
    zmq_z85_encode(out, key, 32);
    return SSO_OK;
}

/* ---- writing a key pair ------------------------------------------------------------------------ */

/* Writes text to path atomically: temporary file in the same folder, fsync, chmod, rename. */
static sso_status write_atomic(const char *path, const char *text, mode_t mode)
{
    char tmp[4200];
    int fd;
    size_t n = strlen(text), off = 0;
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
        return sso_fail(SSO_ERR_ARG, "key file %s: path too long", path);
    if ((fd = mkstemp(tmp)) < 0) /* mode 0600 */
        return sso_fail(SSO_ERR_IO, "key file %s: cannot create %s: %s", path, tmp,
                        strerror(errno));
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    int ok = off == n && fsync(fd) == 0 && fchmod(fd, mode) == 0;
    int err = errno;
    if (close(fd) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        err = ok ? errno : err;
        unlink(tmp);
        return sso_fail(SSO_ERR_IO, "key file %s: cannot write: %s", path, strerror(err));
    }
    return SSO_OK;
}

sso_status sso_curve_keygen(const char *secret_path, int overwrite, sso_curve_keypair *out)
{
    sso_curve_keypair kp;
    char text[512], pub_path[4200];
    sso_status st;
    if (!secret_path || !secret_path[0])
        return sso_fail(SSO_ERR_ARG, "keygen: no output path");
    if ((st = need_curve("keygen")) != SSO_OK)
        return st;
    if (snprintf(pub_path, sizeof pub_path, "%s.pub", secret_path) >= (int)sizeof pub_path)
        return sso_fail(SSO_ERR_ARG, "keygen: path too long");
    if (!overwrite && access(secret_path, F_OK) == 0)
        return sso_fail(SSO_ERR_IO, "keygen: %s exists (refusing to overwrite a key)",
                        secret_path);
    if (zmq_curve_keypair(kp.public_z85, kp.secret_z85) != 0)
        return sso_fail(SSO_ERR_UNSUPPORTED, "keygen: zmq_curve_keypair: %s", zmq_strerror(errno));
    snprintf(text, sizeof text,
             "# sso CURVE secret key: keep it private (mode 0600)\n"
             "# public key: %s\n%s\n",
             kp.public_z85, kp.secret_z85);
    st = write_atomic(secret_path, text, 0600);
    memset(text, 0, sizeof text);
    if (st != SSO_OK)
        goto exit;
    snprintf(text, sizeof text,
             "# sso CURVE public key: give a server's to clients (--server-key), add a client's\n"
             "# to the server's --allow-keys file\n%s\n",
             kp.public_z85);
    if ((st = write_atomic(pub_path, text, 0644)) != SSO_OK)
        goto exit;
    if (out)
        *out = kp;
exit:
    memset(&kp, 0, sizeof kp);
    return st;
}

/* ---- the allowed list -------------------------------------------------------------------------- */

struct sso_curve_allow {
    keyvec v;
};

sso_status sso_curve_allow_load(const char *path, sso_curve_allow **out)
{
    sso_curve_allow *a;
    sso_status st;
    if (!path || !out)
        return sso_fail(SSO_ERR_ARG, "allowed keys: NULL argument");
    *out = NULL;
    if (!(a = calloc(1, sizeof *a)))
        return sso_fail(SSO_ERR_NOMEM, "allowed keys: out of memory");
    if ((st = read_keys(path, &a->v)) == SSO_OK && a->v.n == 0)
        st = sso_fail(SSO_ERR_ARG, "allowed keys file %s: no key in it", path);
    if (st != SSO_OK) {
        sso_curve_allow_free(a);
        return st;
    }
    *out = a;
    return SSO_OK;
}

void sso_curve_allow_free(sso_curve_allow *a)
{
    if (!a)
        return;
    free(a->v.k);
    free(a);
}

size_t sso_curve_allow_count(const sso_curve_allow *a) { return a ? a->v.n : 0; }

int sso_curve_allow_has(const sso_curve_allow *a, const unsigned char key[32])
{
    for (size_t i = 0; a && i < a->v.n; i++)
        if (!memcmp(a->v.k[i], key, 32))
            return 1;
    return 0;
}

sso_status sso_curve_check_server(const char *secret_path, const char *allow_path)
{
    sso_curve_keypair kp;
    sso_curve_allow *a = NULL;
    sso_status st;
    if (!secret_path || !secret_path[0])
        return sso_fail(SSO_ERR_ARG, "CURVE: no secret key file");
    if (!allow_path || !allow_path[0])
        return sso_fail(SSO_ERR_ARG, "CURVE (secret key %s) needs an allowed-keys file: without "
                        "one any client would get in", secret_path);
    if ((st = sso_curve_load_secret(secret_path, &kp)) == SSO_OK)
        st = sso_curve_allow_load(allow_path, &a);
    memset(&kp, 0, sizeof kp);
    sso_curve_allow_free(a);
    return st;
}

/* ---- ZAP --------------------------------------------------------------------------------------- */

struct sso_zap {
    void *rep;
    sso_curve_allow *allow;
    pthread_t th;
    int started;
    atomic_int stop;
    atomic_uint_least64_t accepted, rejected;
};

#define ZAP_MAX_FRAMES 8

static void zap_answer(sso_zap *z)
{
    zmq_msg_t f[ZAP_MAX_FRAMES];
    int k = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, z->rep, 0) < 0) {
            zmq_msg_close(&m);
            for (int i = 0; i < k && i < ZAP_MAX_FRAMES; i++)
                zmq_msg_close(&f[i]);
            return;
        }
        more = zmq_msg_more(&m);
        if (k < ZAP_MAX_FRAMES)
            f[k] = m;
        else
            zmq_msg_close(&m);
        k++;
    }
    const char *code = "500", *text = "not a ZAP 1.0 request";
    char user[SSO_CURVE_Z85_LEN + 1] = "";
    int kept = k < ZAP_MAX_FRAMES ? k : ZAP_MAX_FRAMES;
    if (k >= 6 && zmq_msg_size(&f[0]) == 3 && !memcmp(zmq_msg_data(&f[0]), "1.0", 3)) {
        code = "400";
        text = "mechanism not allowed (CURVE only)";
        if (zmq_msg_size(&f[5]) == 5 && !memcmp(zmq_msg_data(&f[5]), "CURVE", 5)) {
            text = "client key not allowed";
            if (k == 7 && zmq_msg_size(&f[6]) == 32 &&
                sso_curve_allow_has(z->allow, zmq_msg_data(&f[6]))) {
                code = "200";
                text = "OK";
                zmq_z85_encode(user, zmq_msg_data(&f[6]), 32);
            }
        }
    }
    if (code[0] == '2')
        atomic_fetch_add(&z->accepted, 1);
    else
        atomic_fetch_add(&z->rejected, 1);
    /* the reply; a REP socket must answer every request it read, even a malformed one */
    zmq_send(z->rep, "1.0", 3, ZMQ_SNDMORE);
    if (kept >= 2)
        zmq_send(z->rep, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
    else
        zmq_send(z->rep, "", 0, ZMQ_SNDMORE);
    zmq_send(z->rep, code, 3, ZMQ_SNDMORE);
    zmq_send(z->rep, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(z->rep, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(z->rep, "", 0, 0);
    for (int i = 0; i < kept; i++)
        zmq_msg_close(&f[i]);
}

static void *zap_main(void *arg)
{
    sso_zap *z = arg;
    while (!atomic_load(&z->stop)) {
        zmq_pollitem_t it = {z->rep, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&it, 1, 50);
        if (rc < 0 && errno != EINTR)
            break; /* context terminated */
        if (rc > 0 && (it.revents & ZMQ_POLLIN))
            zap_answer(z);
    }
    zmq_close(z->rep);
    z->rep = NULL;
    return NULL;
}

sso_status sso_zap_create(void *zmq_ctx, sso_curve_allow *allow, sso_zap **out)
{
    sso_zap *z = NULL;
    sso_status st = SSO_OK;
    int linger = 0;
    if (!zmq_ctx || !allow || !out) {
        sso_curve_allow_free(allow);
        return sso_fail(SSO_ERR_ARG, "zap: NULL argument");
    }
    *out = NULL;
    if (!(z = calloc(1, sizeof *z))) {
        sso_curve_allow_free(allow);
        return sso_fail(SSO_ERR_NOMEM, "zap: out of memory");
    }
    z->allow = allow;
    atomic_init(&z->stop, 0);
    atomic_init(&z->accepted, 0);
    atomic_init(&z->rejected, 0);
    if ((st = need_curve("zap")) != SSO_OK)
        goto exit;
    if (!(z->rep = zmq_socket(zmq_ctx, ZMQ_REP))) {
        st = sso_fail(SSO_ERR_NOMEM, "zap: cannot create a REP socket: %s", zmq_strerror(errno));
        goto exit;
    }
    zmq_setsockopt(z->rep, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(z->rep, ZAP_ENDPOINT) != 0) {
        st = sso_fail(SSO_ERR_IO, "zap: cannot bind %s: %s", ZAP_ENDPOINT, zmq_strerror(errno));
        goto exit;
    }
    /* pthread_create is the full barrier ZeroMQ asks for when a socket changes thread */
    if (pthread_create(&z->th, NULL, zap_main, z) != 0) {
        st = sso_fail(SSO_ERR_INTERNAL, "zap: cannot start its thread");
        goto exit;
    }
    z->started = 1;
exit:
    if (st != SSO_OK) {
        sso_zap_free(z);
        return st;
    }
    *out = z;
    return SSO_OK;
}

void sso_zap_free(sso_zap *z)
{
    if (!z)
        return;
    if (z->started) {
        atomic_store(&z->stop, 1);
        pthread_join(z->th, NULL);
    }
    if (z->rep)
        zmq_close(z->rep);
    sso_curve_allow_free(z->allow);
    free(z);
}

void sso_zap_counts(sso_zap *z, uint64_t *accepted, uint64_t *rejected)
{
    if (accepted)
        *accepted = z ? atomic_load(&z->accepted) : 0;
    if (rejected)
        *rejected = z ? atomic_load(&z->rejected) : 0;
}

/* ---- socket setup ------------------------------------------------------------------------------ */

sso_status sso_curve_server_socket(void *sock, const sso_curve_keypair *server)
{
    int one = 1;
    sso_status st;
    if (!sock || !server)
        return sso_fail(SSO_ERR_ARG, "curve server: NULL argument");
    if ((st = need_curve("curve server")) != SSO_OK)
        return st;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, server->secret_z85, SSO_CURVE_Z85_LEN) != 0 ||
        /* libzmq >= 4.3 asks a bound ZAP handler even without a domain; older ones needed it */
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, SSO_ZAP_DOMAIN, strlen(SSO_ZAP_DOMAIN)) != 0)
        return sso_fail(SSO_ERR_UNSUPPORTED, "curve server: %s", zmq_strerror(errno));
    return SSO_OK;
}

sso_status sso_curve_client_socket(void *sock, const sso_curve_keypair *client,
                                   const char *server_public_z85)
{
    sso_status st;
    if (!sock || !client || !server_public_z85)
        return sso_fail(SSO_ERR_ARG, "curve client: NULL argument");
    if ((st = need_curve("curve client")) != SSO_OK)
        return st;
    if (strlen(server_public_z85) != SSO_CURVE_Z85_LEN)
        return sso_fail(SSO_ERR_ARG, "curve client: the server key must be 40 Z85 characters");
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_public_z85, SSO_CURVE_Z85_LEN) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, client->public_z85, SSO_CURVE_Z85_LEN) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, client->secret_z85, SSO_CURVE_Z85_LEN) != 0)
        return sso_fail(SSO_ERR_UNSUPPORTED, "curve client: %s", zmq_strerror(errno));
    return SSO_OK;
}
