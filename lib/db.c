/*  db.c - opening certbus's SQLite databases
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus/db.h"
#include "certbus/util.h"
#include <sys/stat.h>
#include <time.h>

//  SQLite's own handler (sqlite3_busy_timeout) sleeps 1, 2, 5, 10, 15, 20,
//  25 ... 100 ms between tries. The node daemon and its CLI share one
//  database, and the daemon's commits take a fraction of a millisecond, so
//  a writer that waits behind a few of them then sleeps tens of
//  milliseconds after the lock is long free: that was most of the end to
//  end latency under load. Hand-written because SQLite offers no other
//  schedule.
#define s_FAST_TRIES 40              //  every 250 us: the first 10 ms
#define s_MEDIUM_TRIES 45            //  every 2 ms: the next 90 ms
#define s_SLOW_MS 20                 //  then every 20 ms
#define s_LIMIT_MS 10000             //  give up after 10 s in all

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
