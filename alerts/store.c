/* alerts/store.c: the durable alert store on SQLite (sso/store.h).
 *
 * Schema (version 3, in PRAGMA user_version):
 *   meta(key TEXT PRIMARY KEY, value INTEGER)      -- 'last_seq': the seq counter
 *   alerts(seq INTEGER PRIMARY KEY,                -- 1, 2, ... never reused
 *          alert_id TEXT, kind TEXT, time_us INTEGER, revision INTEGER,
 *          payload TEXT,                           -- JSON without envelope: the change detector
 *          json TEXT,                              -- the message as published
 *          published INTEGER, superseded INTEGER)
 *   indexes on alert_id (latest revision lookup), time_us (since-time), unpublished rows.
 *   observations(obs_id TEXT PRIMARY KEY, status TEXT 'started'|'done'|'failed', n_exposures,
 *          attempts, n_alerts, n_new, n_revised, n_unchanged, n_retracted, last_seq, started_us,
 *          done_us, last_arrival_us, latency_s, <stage>_s for each sso_obs_stage_names, version,
 *          error)                                  -- the quartet summaries (version 2; error: 3)
 * A retract row is an alerts row with kind 'retract' (store.h): the same seq, revision and
 * superseded rules as an alert, so replay and the published flag need nothing special.
 * Older stores are upgraded in place on open: version 1 (no observations table) by CREATE IF NOT
 * EXISTS, version 2 (no error column) by ALTER TABLE ADD COLUMN.
 * The counter lives in meta rather than in max(seq) so that it never goes back, whatever rows a
 * maintenance job may delete; it is read inside the write transaction (BEGIN IMMEDIATE), so two
 * writers on one file would still serialise correctly.
 *
 * Durability: WAL with synchronous=NORMAL: a committed transaction survives a crash of the process
 * (it is in the WAL file); only an OS crash or power loss can lose the last commits, which then
 * were not published either (store-before-publish), so the stream stays consistent with the store.
 */
#define _POSIX_C_SOURCE 200809L
#include "sso/store.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "alerts/json.h"
#include "host/status_internal.h"

struct sso_store {
    sqlite3 *db;
    int readonly;
    int version; /* PRAGMA user_version: 3 after a writer opened it */
    char boot_id[40];
};

static sso_status db_fail(sso_store *s, const char *what)
{
    return sso_fail(SSO_ERR_IO, "store: %s: %s", what, s->db ? sqlite3_errmsg(s->db) : "no db");
}

static sso_status exec(sso_store *s, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        sso_status st = sso_fail(SSO_ERR_IO, "store: %s: %s", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return st;
    }
    return SSO_OK;
}

/* 128 random bits as 32 hex digits (the boot id: unique per process instance). */
static void make_boot_id(char *out, size_t n)
{
    unsigned char r[16] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, r, sizeof r) : -1;
    if (fd >= 0)
        close(fd);
    if (got != (ssize_t)sizeof r) { /* no urandom: time and pid, still unique enough per host */
        int64_t t = sso_time_now_us();
        pid_t pid = getpid();
        memcpy(r, &t, sizeof t);
        memcpy(r + 8, &pid, sizeof pid);
    }
    for (int i = 0; i < 16 && 2 * i + 2 < (int)n; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
}

static sso_status open_common(const char *path, int readonly, sso_store **out)
{
    sso_status st = SSO_OK;
    sso_store *s = NULL;
    if (!path || !out)
        return sso_fail(SSO_ERR_ARG, "store: NULL argument");
    *out = NULL;
    if (!(s = calloc(1, sizeof *s)))
        return sso_fail(SSO_ERR_NOMEM, "store: out of memory");
    s->readonly = readonly;
    int flags = readonly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        st = sso_fail(SSO_ERR_IO, "store %s: cannot open: %s", path,
                      s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto exit;
    }
    sqlite3_busy_timeout(s->db, 10000);
    if (!readonly) {
        make_boot_id(s->boot_id, sizeof s->boot_id);
        if ((st = exec(s, "PRAGMA journal_mode=WAL")) || (st = exec(s, "PRAGMA synchronous=NORMAL")))
            goto exit;
        int version = -1;
        sqlite3_stmt *uv = NULL;
        if ((st = exec(s, "BEGIN IMMEDIATE")) != SSO_OK)
            goto exit;
        if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &uv, NULL) == SQLITE_OK &&
            sqlite3_step(uv) == SQLITE_ROW)
            version = sqlite3_column_int(uv, 0);
        sqlite3_finalize(uv);
        if (version == 2)
            st = exec(s, "ALTER TABLE observations ADD COLUMN error TEXT");
        s->version = 3;
        if (st == SSO_OK && version >= 0)
            st = exec(s, "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
                     "INSERT OR IGNORE INTO meta(key, value) VALUES('last_seq', 0);"
                     "CREATE TABLE IF NOT EXISTS alerts(seq INTEGER PRIMARY KEY,"
                     " alert_id TEXT NOT NULL, kind TEXT NOT NULL, time_us INTEGER NOT NULL,"
                     " revision INTEGER NOT NULL, payload TEXT NOT NULL, json TEXT NOT NULL,"
                     " published INTEGER NOT NULL DEFAULT 0, superseded INTEGER NOT NULL DEFAULT 0);"
                     "CREATE INDEX IF NOT EXISTS alerts_by_id ON alerts(alert_id, seq);"
                     "CREATE INDEX IF NOT EXISTS alerts_by_time ON alerts(time_us);"
                     "CREATE INDEX IF NOT EXISTS alerts_unpublished ON alerts(seq) WHERE published=0;"
                     "CREATE TABLE IF NOT EXISTS observations(obs_id TEXT PRIMARY KEY,"
                     " status TEXT NOT NULL, n_exposures INTEGER, attempts INTEGER NOT NULL DEFAULT 0,"
                     " n_alerts INTEGER, n_new INTEGER, n_revised INTEGER, n_unchanged INTEGER,"
                     " n_retracted INTEGER, last_seq INTEGER, started_us INTEGER, done_us INTEGER,"
                     " last_arrival_us INTEGER, latency_s REAL, read_s REAL, prep_s REAL,"
                     " background_s REAL, cosmics_s REAL, resample_s REAL, difference_s REAL,"
                     " likelihood_s REAL, stack_s REAL, measure_s REAL, fast_s REAL, total_s REAL,"
                     " version TEXT, error TEXT);"
                     "PRAGMA user_version=3;"
                     "COMMIT;");
        else if (st == SSO_OK)
            st = sso_fail(SSO_ERR_IO, "cannot read its version");
        if (st) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            st = sso_fail(SSO_ERR_IO, "store %s: not an sso store or not writable (%s)", path,
                          sso_last_error());
            goto exit;
        }
    } else {
        uint64_t seq;
        sqlite3_stmt *uv = NULL;
        if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &uv, NULL) == SQLITE_OK &&
            sqlite3_step(uv) == SQLITE_ROW)
            s->version = sqlite3_column_int(uv, 0);
        sqlite3_finalize(uv);
        if ((st = sso_store_last_seq(s, &seq)) != SSO_OK) {
            st = sso_fail(SSO_ERR_IO, "store %s: not an sso store (%s)", path, sso_last_error());
            goto exit;
        }
    }
exit:
    if (st != SSO_OK) {
        sso_store_free(s);
        return st;
    }
    *out = s;
    return SSO_OK;
}

sso_status sso_store_open(const char *path, sso_store **out)
{
    return open_common(path, 0, out);
}

sso_status sso_store_open_reader(const char *path, sso_store **out)
{
    return open_common(path, 1, out);
}

void sso_store_free(sso_store *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    free(s);
}

const char *sso_store_boot_id(const sso_store *s)
{
    return s ? s->boot_id : "";
}

sso_status sso_store_last_seq(sso_store *s, uint64_t *seq)
{
    sqlite3_stmt *q = NULL;
    sso_status st = SSO_OK;
    if (!s || !seq)
        return sso_fail(SSO_ERR_ARG, "store: NULL argument");
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key='last_seq'", -1, &q, NULL) !=
            SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
        st = db_fail(s, "reading last_seq");
        goto exit;
    }
    *seq = (uint64_t)sqlite3_column_int64(q, 0);
exit:
    sqlite3_finalize(q);
    return st;
}

/* The alerts part of a put, inside the caller's transaction: *seq is the counter, advanced. */
static sso_status put_alerts(sso_store *s, sso_alert *alerts, size_t n, unsigned char *issued,
                             uint64_t *seq_io, sso_store_put_result *r)
{
    sqlite3_stmt *find = NULL, *ins = NULL, *sup = NULL;
    sso_status st = SSO_OK;
    char *payload = NULL, *json = NULL;
    uint64_t seq = *seq_io;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT seq, revision, payload, time_us, json FROM alerts "
                           "WHERE alert_id=?1 ORDER BY seq DESC LIMIT 1", -1, &find, NULL) ||
        sqlite3_prepare_v2(s->db,
                           "INSERT INTO alerts(seq, alert_id, kind, time_us, revision, payload, json)"
                           " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &ins, NULL) ||
        sqlite3_prepare_v2(s->db, "UPDATE alerts SET superseded=1 WHERE alert_id=?1 AND seq<?2",
                           -1, &sup, NULL)) {
        st = db_fail(s, "prepare");
        goto exit;
    }
    int64_t now_us = sso_time_now_us();
    for (size_t i = 0; i < n; i++) {
        sso_alert *a = &alerts[i];
        size_t plen = 0, jlen = 0;
        if ((st = sso_alert_to_json(a, 0, &payload, &plen)) != SSO_OK)
            goto exit;
        sqlite3_reset(find);
        sqlite3_bind_text(find, 1, a->alert_id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(find);
        int have_prev = rc == SQLITE_ROW;
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            st = db_fail(s, "looking up alert_id");
            goto exit;
        }
        if (have_prev) {
            const char *prev = (const char *)sqlite3_column_text(find, 2);
            if (prev && (size_t)sqlite3_column_bytes(find, 2) == plen && !memcmp(prev, payload, plen)) {
                /* unchanged: report the stored envelope back, store nothing */
                sso_alert stored;
                const char *pj = (const char *)sqlite3_column_text(find, 4);
                if (pj && sso_alert_from_json(pj, (size_t)sqlite3_column_bytes(find, 4), &stored) ==
                              SSO_OK) {
                    a->seq = stored.seq;
                    a->revision = stored.revision;
                    memcpy(a->boot_id, stored.boot_id, sizeof a->boot_id);
                    memcpy(a->time, stored.time, sizeof a->time);
                }
                if (issued)
                    issued[i] = 0;
                r->n_unchanged++;
                free(payload);
                payload = NULL;
                continue;
            }
        }
        a->seq = ++seq;
        a->revision = have_prev ? sqlite3_column_int(find, 1) + 1 : 0;
        snprintf(a->boot_id, sizeof a->boot_id, "%s", s->boot_id);
        if ((st = sso_time_us_to_rfc3339(now_us, a->time, sizeof a->time)) != SSO_OK ||
            (st = sso_alert_to_json(a, 1, &json, &jlen)) != SSO_OK)
            goto exit;
        sqlite3_reset(find);
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, (sqlite3_int64)a->seq);
        sqlite3_bind_text(ins, 2, a->alert_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, sso_alert_class_name(a->cls), -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 4, now_us);
        sqlite3_bind_int(ins, 5, a->revision);
        sqlite3_bind_text(ins, 6, payload, (int)plen, SQLITE_STATIC);
        sqlite3_bind_text(ins, 7, json, (int)jlen, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            st = db_fail(s, "inserting an alert");
            goto exit;
        }
        if (have_prev) {
            sqlite3_reset(sup);
            sqlite3_bind_text(sup, 1, a->alert_id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(sup, 2, (sqlite3_int64)a->seq);
            if (sqlite3_step(sup) != SQLITE_DONE) {
                st = db_fail(s, "marking the superseded revision");
                goto exit;
            }
            r->n_revised++;
        } else {
            r->n_new++;
        }
        if (issued)
            issued[i] = 1;
        free(payload);
        free(json);
        payload = json = NULL;
    }
    *seq_io = seq;
exit:
    free(payload);
    free(json);
    sqlite3_finalize(find);
    sqlite3_finalize(ins);
    sqlite3_finalize(sup);
    return st;
}

static sso_status save_seq(sso_store *s, uint64_t seq)
{
    sqlite3_stmt *upd = NULL;
    sso_status st = SSO_OK;
    if (sqlite3_prepare_v2(s->db, "UPDATE meta SET value=?1 WHERE key='last_seq'", -1, &upd, NULL) !=
        SQLITE_OK)
        return db_fail(s, "prepare");
    sqlite3_bind_int64(upd, 1, (sqlite3_int64)seq);
    if (sqlite3_step(upd) != SQLITE_DONE)
        st = db_fail(s, "updating last_seq");
    sqlite3_finalize(upd);
    return st;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One retract row withdrawing the latest revision (prev_rev, role from its JSON) of alert_id. */
static sso_status put_retract(sso_store *s, const char *obs_id, const char *alert_id, int prev_rev,
                              const char *prev_json, size_t prev_len, uint64_t seq, int64_t now_us)
{
    sqlite3_stmt *ins = NULL, *sup = NULL;
    sso_status st = SSO_OK;
    char *payload = NULL, *json = NULL, t[48];
    size_t plen = 0, jlen = 0;
    sso_alert prev;
    const char *role = "observation";
    if (sso_alert_from_json(prev_json, prev_len, &prev) == SSO_OK && prev.role == SSO_ROLE_TEST)
        role = "test";
    if ((st = sso_time_us_to_rfc3339(now_us, t, sizeof t)) != SSO_OK)
        return st;
    for (int env = 0; env < 2; env++) {
        sso_jw w;
        sso_jw_init(&w);
        sso_jw_obj_begin(&w);
        sso_jw_key(&w, "schema"), sso_jw_str(&w, SSO_ALERT_SCHEMA);
        sso_jw_key(&w, "kind"), sso_jw_str(&w, "retract");
        sso_jw_key(&w, "alert_id"), sso_jw_str(&w, alert_id);
        if (env) {
            sso_jw_key(&w, "seq"), sso_jw_u64(&w, seq);
            sso_jw_key(&w, "revision"), sso_jw_int(&w, prev_rev + 1);
            sso_jw_key(&w, "boot_id"), sso_jw_str(&w, s->boot_id);
            sso_jw_key(&w, "time"), sso_jw_str(&w, t);
        }
        sso_jw_key(&w, "role"), sso_jw_str(&w, role);
        sso_jw_key(&w, "obs_id"), sso_jw_str(&w, obs_id);
        sso_jw_key(&w, "reason"), sso_jw_str(&w, "not found when the observation was reprocessed");
        sso_jw_obj_end(&w);
        if ((st = sso_jw_finish(&w, env ? &json : &payload, env ? &jlen : &plen)) != SSO_OK)
            goto exit;
    }
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO alerts(seq, alert_id, kind, time_us, revision, payload, json)"
                           " VALUES(?1, ?2, 'retract', ?3, ?4, ?5, ?6)", -1, &ins, NULL) ||
        sqlite3_prepare_v2(s->db, "UPDATE alerts SET superseded=1 WHERE alert_id=?1 AND seq<?2",
                           -1, &sup, NULL)) {
        st = db_fail(s, "prepare retract");
        goto exit;
    }
    sqlite3_bind_int64(ins, 1, (sqlite3_int64)seq);
    sqlite3_bind_text(ins, 2, alert_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 3, now_us);
    sqlite3_bind_int(ins, 4, prev_rev + 1);
    sqlite3_bind_text(ins, 5, payload, (int)plen, SQLITE_STATIC);
    sqlite3_bind_text(ins, 6, json, (int)jlen, SQLITE_STATIC);
    sqlite3_bind_text(sup, 1, alert_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(sup, 2, (sqlite3_int64)seq);
    if (sqlite3_step(ins) != SQLITE_DONE || sqlite3_step(sup) != SQLITE_DONE)
        st = db_fail(s, "inserting a retraction");
exit:
    sqlite3_finalize(ins);
    sqlite3_finalize(sup);
    free(payload);
    free(json);
    return st;
}

/* Retracts the live alerts of obs_id that are not among alerts[0..n). */
static sso_status retract_missing(sso_store *s, const char *obs_id, const sso_alert *alerts, size_t n,
                                  uint64_t *seq_io, size_t *n_retracted)
{
    sqlite3_stmt *q = NULL;
    sso_status st = SSO_OK;
    const char **ids = NULL;
    char prefix[80];
    typedef struct victim {
        char alert_id[96];
        int revision;
        char *json;
        size_t len;
    } victim;
    victim *v = NULL;
    size_t nv = 0, cap = 0;
    snprintf(prefix, sizeof prefix, "%s-", obs_id);
    if (n && !(ids = malloc(n * sizeof *ids)))
        return sso_fail(SSO_ERR_NOMEM, "store: out of memory");
    for (size_t i = 0; i < n; i++)
        ids[i] = alerts[i].alert_id;
    if (n)
        qsort(ids, n, sizeof *ids, cmp_cstr);
    /* the latest revision of every alert of this observation that is not a retraction */
    if (sqlite3_prepare_v2(s->db,
                           "SELECT alert_id, revision, json FROM alerts WHERE superseded=0 AND "
                           "kind<>'retract' AND length(alert_id)=?1 AND substr(alert_id,1,?2)=?3 "
                           "ORDER BY seq", -1, &q, NULL) != SQLITE_OK) {
        st = db_fail(s, "prepare retract query");
        goto exit;
    }
    sqlite3_bind_int(q, 1, (int)strlen(prefix) + 16);
    sqlite3_bind_int(q, 2, (int)strlen(prefix));
    sqlite3_bind_text(q, 3, prefix, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(q, 0);
        const char *js = (const char *)sqlite3_column_text(q, 2);
        if (!id || !js || strlen(id) >= sizeof v->alert_id) {
            st = db_fail(s, "reading an alert of the observation");
            goto exit;
        }
        if (n && bsearch(&id, ids, n, sizeof *ids, cmp_cstr))
            continue;
        if (nv == cap) {
            size_t nc = cap ? 2 * cap : 16;
            victim *nvv = realloc(v, nc * sizeof *v);
            if (!nvv) {
                st = sso_fail(SSO_ERR_NOMEM, "store: out of memory");
                goto exit;
            }
            v = nvv, cap = nc;
        }
        snprintf(v[nv].alert_id, sizeof v[nv].alert_id, "%s", id);
        v[nv].revision = sqlite3_column_int(q, 1);
        v[nv].len = (size_t)sqlite3_column_bytes(q, 2);
        if (!(v[nv].json = malloc(v[nv].len + 1))) {
            st = sso_fail(SSO_ERR_NOMEM, "store: out of memory");
            goto exit;
        }
        memcpy(v[nv].json, js, v[nv].len + 1);
        nv++;
    }
    if (rc != SQLITE_DONE) {
        st = db_fail(s, "retract query");
        goto exit;
    }
    sqlite3_finalize(q);
    q = NULL;
    const int64_t now_us = sso_time_now_us();
    for (size_t i = 0; i < nv && st == SSO_OK; i++) {
        st = put_retract(s, obs_id, v[i].alert_id, v[i].revision, v[i].json, v[i].len, *seq_io + 1,
                         now_us);
        if (st == SSO_OK)
            ++*seq_io, ++*n_retracted;
    }
exit:
    sqlite3_finalize(q);
    for (size_t i = 0; i < nv; i++)
        free(v[i].json);
    free(v);
    free(ids);
    return st;
}

static sso_status obs_done(sso_store *s, sso_obs_record *o);

static sso_status put_common(sso_store *s, sso_obs_record *obs, sso_alert *alerts, size_t n,
                             unsigned flags, unsigned char *issued, sso_store_put_result *res)
{
    sso_status st = SSO_OK;
    sso_store_put_result r = {0};
    uint64_t seq = 0;
    if (!s || (!alerts && n))
        return sso_fail(SSO_ERR_ARG, "store put: NULL argument");
    if (s->readonly)
        return sso_fail(SSO_ERR_ARG, "store put: read-only connection");
    for (size_t i = 0; i < n; i++) {
        if ((st = sso_alert_validate(&alerts[i])) != SSO_OK)
            return st;
        if (obs && strcmp(alerts[i].obs_id, obs->obs_id))
            return sso_fail(SSO_ERR_ARG, "store put: alert %s is not of observation %s",
                            alerts[i].alert_id, obs->obs_id);
    }
    if ((st = exec(s, "BEGIN IMMEDIATE")) != SSO_OK)
        return st;
    if ((st = sso_store_last_seq(s, &seq)) != SSO_OK ||
        (st = put_alerts(s, alerts, n, issued, &seq, &r)) != SSO_OK)
        goto exit;
    if (obs && (flags & SSO_PUT_RETRACT_MISSING) &&
        (st = retract_missing(s, obs->obs_id, alerts, n, &seq, &r.n_retracted)) != SSO_OK)
        goto exit;
    if ((st = save_seq(s, seq)) != SSO_OK)
        goto exit;
    r.last_seq = seq;
    if (obs) {
        obs->status = SSO_OBS_DONE;
        obs->n_alerts = n;
        obs->n_new = r.n_new, obs->n_revised = r.n_revised, obs->n_unchanged = r.n_unchanged;
        obs->n_retracted = r.n_retracted;
        obs->last_seq = seq;
        obs->done_us = sso_time_now_us();
        if ((st = obs_done(s, obs)) != SSO_OK)
            goto exit;
    }
    st = exec(s, "COMMIT");
exit:
    if (st != SSO_OK)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    else if (res)
        *res = r;
    return st;
}

sso_status sso_store_put(sso_store *s, sso_alert *alerts, size_t n, unsigned char *issued,
                         sso_store_put_result *res)
{
    return put_common(s, NULL, alerts, n, 0, issued, res);
}

sso_status sso_store_put_observation(sso_store *s, sso_obs_record *obs, sso_alert *alerts, size_t n,
                                     unsigned flags, unsigned char *issued,
                                     sso_store_put_result *res)
{
    if (!obs || !obs->obs_id[0])
        return sso_fail(SSO_ERR_ARG, "store put: no observation");
    return put_common(s, obs, alerts, n, flags, issued, res);
}

static sso_status query(sso_store *s, const char *where, int64_t arg, size_t limit,
                        sso_store_row_fn fn, void *user)
{
    char sql[256];
    sqlite3_stmt *q = NULL;
    sso_status st = SSO_OK;
    if (!s || !fn)
        return sso_fail(SSO_ERR_ARG, "store query: NULL argument");
    snprintf(sql, sizeof sql,
             "SELECT seq, alert_id, kind, time_us, revision, published, superseded, json "
             "FROM alerts WHERE %s ORDER BY seq LIMIT ?2", where);
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return db_fail(s, "prepare query");
    sqlite3_bind_int64(q, 1, arg);
    sqlite3_bind_int64(q, 2, limit ? (sqlite3_int64)limit : -1);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        sso_store_row r;
        r.seq = (uint64_t)sqlite3_column_int64(q, 0);
        r.alert_id = (const char *)sqlite3_column_text(q, 1);
        r.kind = (const char *)sqlite3_column_text(q, 2);
        r.time_us = sqlite3_column_int64(q, 3);
        r.revision = sqlite3_column_int(q, 4);
        r.published = sqlite3_column_int(q, 5);
        r.superseded = sqlite3_column_int(q, 6);
        r.json = (const char *)sqlite3_column_text(q, 7);
        r.json_len = (size_t)sqlite3_column_bytes(q, 7);
        if (!r.alert_id || !r.kind || !r.json) {
            st = db_fail(s, "reading a row");
            goto exit;
        }
        if (fn(&r, user))
            goto exit;
    }
    if (rc != SQLITE_DONE)
        st = db_fail(s, "query");
exit:
    sqlite3_finalize(q);
    return st;
}

sso_status sso_store_since_seq(sso_store *s, uint64_t after_seq, size_t limit, sso_store_row_fn fn,
                               void *user)
{
    if (after_seq > (uint64_t)INT64_MAX)
        return SSO_OK; /* nothing can follow */
    return query(s, "seq > ?1", (int64_t)after_seq, limit, fn, user);
}

sso_status sso_store_since_time(sso_store *s, int64_t t_us, size_t limit, sso_store_row_fn fn,
                                void *user)
{
    return query(s, "time_us >= ?1", t_us, limit, fn, user);
}

sso_status sso_store_unpublished(sso_store *s, size_t limit, sso_store_row_fn fn, void *user)
{
    return query(s, "published = 0 AND ?1 = ?1", 0, limit, fn, user);
}

sso_status sso_store_mark_published(sso_store *s, uint64_t first, uint64_t last)
{
    sqlite3_stmt *q = NULL;
    sso_status st = SSO_OK;
    if (!s)
        return sso_fail(SSO_ERR_ARG, "store: NULL");
    if (s->readonly)
        return sso_fail(SSO_ERR_ARG, "store mark_published: read-only connection");
    if (sqlite3_prepare_v2(s->db, "UPDATE alerts SET published=1 WHERE seq BETWEEN ?1 AND ?2",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(s, "prepare mark_published");
    sqlite3_bind_int64(q, 1, (sqlite3_int64)first);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)(last > (uint64_t)INT64_MAX ? INT64_MAX : last));
    if (sqlite3_step(q) != SQLITE_DONE)
        st = db_fail(s, "mark_published");
    sqlite3_finalize(q);
    return st;
}

/* ---- observations ------------------------------------------------------------------------------ */

const char *const sso_obs_stage_names[SSO_OBS_N_STAGES] = {
    "read", "prep", "background", "cosmics", "resample", "difference", "likelihood", "stack",
    "measure", "fast", "total"};

#define OBS_COLS_V2                                                                                 \
    "obs_id, status, n_exposures, attempts, n_alerts, n_new, n_revised, n_unchanged, n_retracted, " \
    "last_seq, started_us, done_us, last_arrival_us, latency_s, read_s, prep_s, background_s, "     \
    "cosmics_s, resample_s, difference_s, likelihood_s, stack_s, measure_s, fast_s, total_s, version"
#define OBS_COLS OBS_COLS_V2 ", error"
/* What a reader selects: a version 2 store (read-only, so not upgraded) has no error column. */
#define OBS_SELECT(s) ((s)->version >= 3 ? "SELECT " OBS_COLS : "SELECT " OBS_COLS_V2 ", NULL")

void sso_obs_record_init(sso_obs_record *r, const char *obs_id)
{
    memset(r, 0, sizeof *r);
    snprintf(r->obs_id, sizeof r->obs_id, "%s", obs_id ? obs_id : "");
    r->latency_s = NAN;
    for (int i = 0; i < SSO_OBS_N_STAGES; i++)
        r->stage_s[i] = NAN;
}

static void bind_real(sqlite3_stmt *q, int i, double v)
{
    if (isfinite(v))
        sqlite3_bind_double(q, i, v);
    else
        sqlite3_bind_null(q, i);
}

static double col_real(sqlite3_stmt *q, int i)
{
    return sqlite3_column_type(q, i) == SQLITE_NULL ? NAN : sqlite3_column_double(q, i);
}

/* Inside put_common's transaction: the row as done, with every field of o. */
static sso_status obs_done(sso_store *s, sso_obs_record *o)
{
    sqlite3_stmt *q = NULL;
    sso_status st = SSO_OK;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO observations(" OBS_COLS ") VALUES(?1, 'done', ?2, 1, ?3, ?4,"
                           " ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,"
                           " ?20, ?21, ?22, ?23, ?24, NULL) ON CONFLICT(obs_id) DO UPDATE SET"
                           " status='done', n_exposures=?2, n_alerts=?3, n_new=?4, n_revised=?5,"
                           " n_unchanged=?6, n_retracted=?7, last_seq=?8,"
                           " started_us=coalesce(?9, started_us), done_us=?10,"
                           " last_arrival_us=coalesce(?11, last_arrival_us), latency_s=?12,"
                           " read_s=?13, prep_s=?14, background_s=?15, cosmics_s=?16,"
                           " resample_s=?17, difference_s=?18, likelihood_s=?19, stack_s=?20,"
                           " measure_s=?21, fast_s=?22, total_s=?23, version=?24, error=NULL",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(s, "prepare observation done");
    sqlite3_bind_text(q, 1, o->obs_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, o->n_exposures);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)o->n_alerts);
    sqlite3_bind_int64(q, 4, (sqlite3_int64)o->n_new);
    sqlite3_bind_int64(q, 5, (sqlite3_int64)o->n_revised);
    sqlite3_bind_int64(q, 6, (sqlite3_int64)o->n_unchanged);
    sqlite3_bind_int64(q, 7, (sqlite3_int64)o->n_retracted);
    sqlite3_bind_int64(q, 8, (sqlite3_int64)o->last_seq);
    if (o->started_us)
        sqlite3_bind_int64(q, 9, o->started_us);
    sqlite3_bind_int64(q, 10, o->done_us);
    if (o->last_arrival_us)
        sqlite3_bind_int64(q, 11, o->last_arrival_us);
    bind_real(q, 12, o->latency_s);
    for (int i = 0; i < SSO_OBS_N_STAGES; i++)
        bind_real(q, 13 + i, o->stage_s[i]);
    sqlite3_bind_text(q, 24, o->version, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE)
        st = db_fail(s, "writing the observation");
    sqlite3_finalize(q);
    return st;
}

sso_status sso_store_obs_begin(sso_store *s, const char *obs_id, int n_exposures,
                               int64_t last_arrival_us)
{
    sqlite3_stmt *q = NULL;
    sso_status st = SSO_OK;
    if (!s || !obs_id || !obs_id[0])
        return sso_fail(SSO_ERR_ARG, "store obs_begin: NULL argument");
    if (s->readonly)
        return sso_fail(SSO_ERR_ARG, "store obs_begin: read-only connection");
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO observations(obs_id, status, n_exposures, attempts, started_us,"
                           " last_arrival_us) VALUES(?1, 'started', ?2, 1, ?3, ?4)"
                           " ON CONFLICT(obs_id) DO UPDATE SET status='started', n_exposures=?2,"
                           " attempts=attempts+1, started_us=?3, last_arrival_us=?4, done_us=NULL,"
                           " latency_s=NULL", -1, &q, NULL) != SQLITE_OK)
        return db_fail(s, "prepare obs_begin");
    sqlite3_bind_text(q, 1, obs_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, n_exposures);
    sqlite3_bind_int64(q, 3, sso_time_now_us());
    sqlite3_bind_int64(q, 4, last_arrival_us);
    if (sqlite3_step(q) != SQLITE_DONE)
        st = db_fail(s, "obs_begin");
    sqlite3_finalize(q);
    return st;
}

const char *sso_obs_status_name(sso_obs_status st)
{
    switch (st) {
    case SSO_OBS_STARTED:
        return "started";
    case SSO_OBS_DONE:
        return "done";
    case SSO_OBS_FAILED:
        return "failed";
    default:
        return "none";
    }
}

sso_status sso_store_obs_fail(sso_store *s, const char *obs_id, const char *error)
{
    sqlite3_stmt *q = NULL;
    sso_status st = SSO_OK;
    char e[256];
    if (!s || !obs_id || !obs_id[0])
        return sso_fail(SSO_ERR_ARG, "store obs_fail: NULL argument");
    if (s->readonly)
        return sso_fail(SSO_ERR_ARG, "store obs_fail: read-only connection");
    snprintf(e, sizeof e, "%s", error && error[0] ? error : "unknown error");
    if (sqlite3_prepare_v2(s->db, "UPDATE observations SET status='failed', error=?2, done_us=?3"
                           " WHERE obs_id=?1", -1, &q, NULL) != SQLITE_OK)
        return db_fail(s, "prepare obs_fail");
    sqlite3_bind_text(q, 1, obs_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, e, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, sso_time_now_us());
    if (sqlite3_step(q) != SQLITE_DONE)
        st = db_fail(s, "obs_fail");
    else if (sqlite3_changes(s->db) != 1)
        st = sso_fail(SSO_ERR_ARG, "store obs_fail: no observation %s (sso_store_obs_begin first)",
                      obs_id);
    sqlite3_finalize(q);
    return st;
}

static void obs_from_row(sqlite3_stmt *q, sso_obs_record *r)
{
    const char *id = (const char *)sqlite3_column_text(q, 0);
    const char *stt = (const char *)sqlite3_column_text(q, 1);
    const char *ver = (const char *)sqlite3_column_text(q, 25);
    const char *err = (const char *)sqlite3_column_text(q, 26);
    sso_obs_record_init(r, id);
    r->status = SSO_OBS_NONE;
    for (int k = SSO_OBS_STARTED; k <= SSO_OBS_FAILED; k++)
        if (stt && !strcmp(stt, sso_obs_status_name((sso_obs_status)k)))
            r->status = (sso_obs_status)k;
    snprintf(r->error, sizeof r->error, "%s", err ? err : "");
    r->n_exposures = sqlite3_column_int(q, 2);
    r->attempts = sqlite3_column_int(q, 3);
    r->n_alerts = (uint64_t)sqlite3_column_int64(q, 4);
    r->n_new = (uint64_t)sqlite3_column_int64(q, 5);
    r->n_revised = (uint64_t)sqlite3_column_int64(q, 6);
    r->n_unchanged = (uint64_t)sqlite3_column_int64(q, 7);
    r->n_retracted = (uint64_t)sqlite3_column_int64(q, 8);
    r->last_seq = (uint64_t)sqlite3_column_int64(q, 9);
    r->started_us = sqlite3_column_int64(q, 10);
    r->done_us = sqlite3_column_int64(q, 11);
    r->last_arrival_us = sqlite3_column_int64(q, 12);
    r->latency_s = col_real(q, 13);
    for (int i = 0; i < SSO_OBS_N_STAGES; i++)
        r->stage_s[i] = col_real(q, 14 + i);
    snprintf(r->version, sizeof r->version, "%s", ver ? ver : "");
}

sso_status sso_store_obs_get(sso_store *s, const char *obs_id, sso_obs_record *r, int *found)
{
    sqlite3_stmt *q = NULL;
    sso_status st = SSO_OK;
    if (!s || !obs_id || !r || !found)
        return sso_fail(SSO_ERR_ARG, "store obs_get: NULL argument");
    *found = 0;
    sso_obs_record_init(r, obs_id);
    char sql[1024];
    snprintf(sql, sizeof sql, "%s FROM observations WHERE obs_id=?1", OBS_SELECT(s));
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return db_fail(s, "prepare obs_get");
    sqlite3_bind_text(q, 1, obs_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        obs_from_row(q, r);
        *found = 1;
    } else if (rc != SQLITE_DONE) {
        st = db_fail(s, "obs_get");
    }
    sqlite3_finalize(q);
    return st;
}

sso_status sso_store_obs_list(sso_store *s, sso_store_obs_fn fn, void *user)
{
    sqlite3_stmt *q = NULL;
    sso_status st = SSO_OK;
    if (!s || !fn)
        return sso_fail(SSO_ERR_ARG, "store obs_list: NULL argument");
    char sql[1024];
    snprintf(sql, sizeof sql, "%s FROM observations ORDER BY obs_id", OBS_SELECT(s));
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return db_fail(s, "prepare obs_list");
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        sso_obs_record r;
        obs_from_row(q, &r);
        if (fn(&r, user))
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        st = db_fail(s, "obs_list");
    sqlite3_finalize(q);
    return st;
}

sso_status sso_store_obs_set_latency(sso_store *s, const char *obs_id, double latency_s)
{
    sqlite3_stmt *q = NULL;
    sso_status st = SSO_OK;
    if (!s || !obs_id)
        return sso_fail(SSO_ERR_ARG, "store obs_set_latency: NULL argument");
    if (sqlite3_prepare_v2(s->db, "UPDATE observations SET latency_s=?2 WHERE obs_id=?1", -1, &q,
                           NULL) != SQLITE_OK)
        return db_fail(s, "prepare obs_set_latency");
    sqlite3_bind_text(q, 1, obs_id, -1, SQLITE_STATIC);
    bind_real(q, 2, latency_s);
    if (sqlite3_step(q) != SQLITE_DONE)
        st = db_fail(s, "obs_set_latency");
    sqlite3_finalize(q);
    return st;
}
