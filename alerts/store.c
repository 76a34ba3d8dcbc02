/* alerts/store.c: the durable alert store on SQLite (sso/store.h).
 *
 * Schema (version 1, in PRAGMA user_version):
 *   meta(key TEXT PRIMARY KEY, value INTEGER)      -- 'last_seq': the seq counter
 *   alerts(seq INTEGER PRIMARY KEY,                -- 1, 2, ... never reused
 *          alert_id TEXT, kind TEXT, time_us INTEGER, revision INTEGER,
 *          payload TEXT,                           -- JSON without envelope: the change detector
 *          json TEXT,                              -- the message as published
 *          published INTEGER, superseded INTEGER)
 *   indexes on alert_id (latest revision lookup), time_us (since-time), unpublished rows.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "host/status_internal.h"

struct sso_store {
    sqlite3 *db;
    int readonly;
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
        st = exec(s, "BEGIN IMMEDIATE;"
                     "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
                     "INSERT OR IGNORE INTO meta(key, value) VALUES('last_seq', 0);"
                     "CREATE TABLE IF NOT EXISTS alerts(seq INTEGER PRIMARY KEY,"
                     " alert_id TEXT NOT NULL, kind TEXT NOT NULL, time_us INTEGER NOT NULL,"
                     " revision INTEGER NOT NULL, payload TEXT NOT NULL, json TEXT NOT NULL,"
                     " published INTEGER NOT NULL DEFAULT 0, superseded INTEGER NOT NULL DEFAULT 0);"
                     "CREATE INDEX IF NOT EXISTS alerts_by_id ON alerts(alert_id, seq);"
                     "CREATE INDEX IF NOT EXISTS alerts_by_time ON alerts(time_us);"
                     "CREATE INDEX IF NOT EXISTS alerts_unpublished ON alerts(seq) WHERE published=0;"
                     "PRAGMA user_version=1;"
                     "COMMIT;");
        if (st) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            st = sso_fail(SSO_ERR_IO, "store %s: not an sso store or not writable (%s)", path,
                          sso_last_error());
            goto exit;
        }
    } else {
        uint64_t seq;
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

sso_status sso_store_put(sso_store *s, sso_alert *alerts, size_t n, unsigned char *issued,
                         sso_store_put_result *res)
{
    sqlite3_stmt *find = NULL, *ins = NULL, *sup = NULL, *upd = NULL;
    sso_status st = SSO_OK;
    char *payload = NULL, *json = NULL;
    sso_store_put_result r = {0, 0, 0, 0};
    uint64_t seq = 0;
    int in_tx = 0;
    if (!s || (!alerts && n))
        return sso_fail(SSO_ERR_ARG, "store put: NULL argument");
    if (s->readonly)
        return sso_fail(SSO_ERR_ARG, "store put: read-only connection");
    for (size_t i = 0; i < n; i++)
        if ((st = sso_alert_validate(&alerts[i])) != SSO_OK)
            return st;
    if ((st = exec(s, "BEGIN IMMEDIATE")) != SSO_OK)
        return st;
    in_tx = 1;
    if ((st = sso_store_last_seq(s, &seq)) != SSO_OK)
        goto exit;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT seq, revision, payload, time_us, json FROM alerts "
                           "WHERE alert_id=?1 ORDER BY seq DESC LIMIT 1", -1, &find, NULL) ||
        sqlite3_prepare_v2(s->db,
                           "INSERT INTO alerts(seq, alert_id, kind, time_us, revision, payload, json)"
                           " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &ins, NULL) ||
        sqlite3_prepare_v2(s->db, "UPDATE alerts SET superseded=1 WHERE alert_id=?1 AND seq<?2",
                           -1, &sup, NULL) ||
        sqlite3_prepare_v2(s->db, "UPDATE meta SET value=?1 WHERE key='last_seq'", -1, &upd,
                           NULL)) {
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
                r.n_unchanged++;
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
            r.n_revised++;
        } else {
            r.n_new++;
        }
        if (issued)
            issued[i] = 1;
        free(payload);
        free(json);
        payload = json = NULL;
    }
    sqlite3_bind_int64(upd, 1, (sqlite3_int64)seq);
    if (sqlite3_step(upd) != SQLITE_DONE) {
        st = db_fail(s, "updating last_seq");
        goto exit;
    }
    st = exec(s, "COMMIT");
    in_tx = st != SSO_OK;
    r.last_seq = seq;
exit:
    free(payload);
    free(json);
    sqlite3_finalize(find);
    sqlite3_finalize(ins);
    sqlite3_finalize(sup);
    sqlite3_finalize(upd);
    if (in_tx)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    if (st == SSO_OK && res)
        *res = r;
    return st;
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
