/*  db.h - opening certbus's SQLite databases the one way both the broker
    and the node need them
    SPDX-License-Identifier: MPL-2.0

    Not part of certbus.h: only the stores include it, so that users of
    libcertbus need no SQLite headers.
*/
#ifndef CERTBUS_DB_H_INCLUDED
#define CERTBUS_DB_H_INCLUDED

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "certbus/err.h"

//  Opens the database at path (creating it when create is true) with mode
//  0600, WAL, synchronous=FULL, foreign keys on, extended result codes and
//  certbus_db_busy as its busy handler; then runs schema (may be NULL).
//  Returns the connection, or NULL with the reason set.
sqlite3 *
    certbus_db_open (const char *path, bool create, const char *schema);

//  Sets the library's reason from the connection's last error ("FILE:
//  what: SQLite's message"), as CERTBUS_E_STORAGE_FULL when the disk or
//  the database is full (SQLITE_FULL, or an I/O error with ENOSPC or
//  EDQUOT), else CERTBUS_E_IO: callers test the code, not the text.
//  Returns -1.
int
    certbus_db_fail (sqlite3 *db, const char *what);

//  A prepared statement, or NULL with the reason set.
sqlite3_stmt *
    certbus_db_prepare (sqlite3 *db, const char *sql);

//  Runs sql, a query of one row and one integer column, and returns that
//  value; or -1 when it prepares no statement or gives no row: then, when
//  what is not NULL, with the reason set from the connection's error
//  ("FILE: what: ...", as certbus_db_fail).
int64_t
    certbus_db_int64 (sqlite3 *db, const char *sql, const char *what);

//  Steps stmt, a statement that returns no rows, to its end and
//  finalizes it. Returns 0, or -1 with the reason set as certbus_db_fail
//  (db, what) does.
int
    certbus_db_run (sqlite3 *db, sqlite3_stmt *stmt, const char *what);

//  A malloc copy of column col of stmt's current row, of *size_p bytes:
//  at least one byte is allocated, so an empty value is not NULL. Aborts
//  when out of memory.
uint8_t *
    certbus_db_column_dup (sqlite3_stmt *stmt, int col, size_t *size_p);

//  A statement a store keeps prepared: where in the store's struct its
//  sqlite3_stmt pointer lives, and its SQL
typedef struct {
    size_t offset;   //  offsetof (the store's struct, the field)
    const char *sql; //  the statement
} certbus_db_statement_t;

//  Prepares every statement of the table into the struct at owner.
//  Returns 0, or -1 with the reason set (those prepared so far stay set,
//  for certbus_db_finalize_all).
int
    certbus_db_prepare_all (sqlite3 *db, void *owner, const certbus_db_statement_t *table,
                            size_t count);
//  Finalizes every statement of the table in owner and sets it to NULL.
void
    certbus_db_finalize_all (void *owner, const certbus_db_statement_t *table, size_t count);

//  BEGIN IMMEDIATE (the write lock now, not at the first write); COMMIT,
//  which rolls back when it fails; ROLLBACK of an open transaction. The
//  first two return 0, or -1 with the reason set.
int
    certbus_db_begin (sqlite3 *db);
int
    certbus_db_commit (sqlite3 *db);
void
    certbus_db_rollback (sqlite3 *db);

//  The text value of key in the database's meta table (key TEXT PRIMARY
//  KEY, value): a new string, or NULL when absent.
char *
    certbus_db_meta_get (sqlite3 *db, const char *key);
//  Sets it. Returns 0, or -1 with the reason set.
int
    certbus_db_meta_set (sqlite3 *db, const char *key, const char *value);

//  The busy handler: when another connection holds the write lock, retry
//  after 250 microseconds at first, then 2 ms, then 20 ms, for at most 10 s
//  in all. Returns 0 (give up) or 1 (try again).
int
    certbus_db_busy (void *arg, int count);

#endif
