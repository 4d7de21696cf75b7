/*  db.c - opening certbus's SQLite databases
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus/db.h"
#include "certbus/util.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

//  SQLite's own handler (sqlite3_busy_timeout) sleeps 1, 2, 5, 10, 15, 20,
//  25 ... 100 ms between tries. The node daemon and its CLI share one
//  database, and the daemon's commits take a fraction of a millisecond, so
//  a writer that waits behind a few of them then sleeps tens of
//  milliseconds after the lock is long free: that was most of the end to
//  end latency under load. Hand-written because SQLite offers no other
//  schedule.
#define s_FAST_TRIES 40   //  every 250 us: the first 10 ms
#define s_MEDIUM_TRIES 45 //  every 2 ms: the next 90 ms
#define s_SLOW_MS 20      //  then every 20 ms
#define s_LIMIT_MS 10000  //  give up after 10 s in all

int
certbus_db_busy (void *arg, int count)
{
    (void) arg;
    long sleep_us;
    if (count < s_FAST_TRIES)
        sleep_us = 250;
    else if (count < s_FAST_TRIES + s_MEDIUM_TRIES)
        sleep_us = 2000;
    else if (count < s_FAST_TRIES + s_MEDIUM_TRIES + (s_LIMIT_MS - 100) / s_SLOW_MS)
        sleep_us = s_SLOW_MS * 1000L;
    else
        return 0;
    struct timespec pause = {.tv_sec = 0, .tv_nsec = sleep_us * 1000L};
    nanosleep (&pause, NULL);
    return 1;
}

sqlite3 *
certbus_db_open (const char *path, bool create, const char *schema)
{
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2 (path, &db, flags, NULL) != SQLITE_OK) {
        certbus_fail (CERTBUS_E_IO, "cannot open database %s: %s", path,
                      db ? sqlite3_errmsg (db) : "out of memory");
        sqlite3_close (db);
        return NULL;
    }
    if (create)
        chmod (path, 0600);
    sqlite3_busy_handler (db, certbus_db_busy, NULL);
    sqlite3_extended_result_codes (db, 1);
    char *error = NULL;
    if (sqlite3_exec (db,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                      "PRAGMA foreign_keys=ON;",
                      NULL, NULL, &error)
            != SQLITE_OK
        || (schema && sqlite3_exec (db, schema, NULL, NULL, &error) != SQLITE_OK)) {
        certbus_fail (CERTBUS_E_IO, "cannot prepare database %s: %s", path,
                      error ? error : sqlite3_errmsg (db));
        sqlite3_free (error);
        sqlite3_close (db);
        return NULL;
    }
    return db;
}

int
certbus_db_fail (sqlite3 *db, const char *what)
{
    int code = sqlite3_extended_errcode (db);
    const char *file = sqlite3_db_filename (db, "main");
    //  A write that finds the disk full fails as SQLITE_FULL, or as an I/O
    //  error whose errno says so: both are the same condition to callers
    int sys = sqlite3_system_errno (db);
    bool full = (code & 0xFF) == SQLITE_FULL
                || ((code & 0xFF) == SQLITE_IOERR && (sys == ENOSPC || sys == EDQUOT));
    certbus_fail (full ? CERTBUS_E_STORAGE_FULL : CERTBUS_E_IO, "%s: %s: %s",
                  file && *file ? file : "database", what, sqlite3_errmsg (db));
    return -1;
}

sqlite3_stmt *
certbus_db_prepare (sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        certbus_db_fail (db, "prepare");
        return NULL;
    }
    return stmt;
}

int64_t
certbus_db_int64 (sqlite3 *db, const char *sql, const char *what)
{
    sqlite3_stmt *stmt = certbus_db_prepare (db, sql);
    int64_t value = -1;
    if (stmt && sqlite3_step (stmt) == SQLITE_ROW)
        value = sqlite3_column_int64 (stmt, 0);
    else if (stmt && what)
        certbus_db_fail (db, what);
    sqlite3_finalize (stmt);
    return value;
}

int
certbus_db_run (sqlite3 *db, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : certbus_db_fail (db, what);
    sqlite3_finalize (stmt);
    return rc;
}

uint8_t *
certbus_db_column_dup (sqlite3_stmt *stmt, int col, size_t *size_p)
{
    size_t size = (size_t) sqlite3_column_bytes (stmt, col);
    uint8_t *copy = certbus_malloc (size ? size : 1);
    if (size)
        memcpy (copy, sqlite3_column_blob (stmt, col), size);
    *size_p = size;
    return copy;
}

//  The statement pointer of table entry at in owner
static sqlite3_stmt **
s_statement (void *owner, const certbus_db_statement_t *at)
{
    return (sqlite3_stmt **) ((char *) owner + at->offset);
}

int
certbus_db_prepare_all (sqlite3 *db, void *owner, const certbus_db_statement_t *table, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        sqlite3_stmt **stmt = s_statement (owner, &table [i]);
        *stmt = certbus_db_prepare (db, table [i].sql);
        if (!*stmt)
            return -1;
    }
    return 0;
}

void
certbus_db_finalize_all (void *owner, const certbus_db_statement_t *table, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        sqlite3_stmt **stmt = s_statement (owner, &table [i]);
        sqlite3_finalize (*stmt);
        *stmt = NULL;
    }
}

int
certbus_db_begin (sqlite3 *db)
{
    if (sqlite3_exec (db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return certbus_db_fail (db, "begin");
    return 0;
}

int
certbus_db_commit (sqlite3 *db)
{
    if (sqlite3_exec (db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        certbus_db_fail (db, "commit");
        certbus_db_rollback (db);
        return -1;
    }
    return 0;
}

void
certbus_db_rollback (sqlite3 *db)
{
    if (!sqlite3_get_autocommit (db))
        sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
}

char *
certbus_db_meta_get (sqlite3 *db, const char *key)
{
    sqlite3_stmt *stmt = certbus_db_prepare (db, "SELECT value FROM meta WHERE key = ?1");
    char *value = NULL;
    if (!stmt)
        return NULL;
    sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_text (stmt, 0)) {
        value = strdup ((const char *) sqlite3_column_text (stmt, 0));
        if (!value)
            abort ();
    }
    sqlite3_finalize (stmt);
    return value;
}

int
certbus_db_meta_set (sqlite3 *db, const char *key, const char *value)
{
    sqlite3_stmt *stmt = certbus_db_prepare (db, "INSERT OR REPLACE INTO meta VALUES (?1, ?2)");
    if (!stmt)
        return -1;
    sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, value, -1, SQLITE_STATIC);
    return certbus_db_run (db, stmt, "meta");
}
