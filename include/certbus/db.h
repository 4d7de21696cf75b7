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
#include "certbus/err.h"

//  Opens the database at path (creating it when create is true) with mode
//  0600, WAL, synchronous=FULL, foreign keys on, extended result codes and
//  certbus_db_busy as its busy handler; then runs schema (may be NULL).
//  Returns the connection, or NULL with the reason set.
sqlite3 *
    certbus_db_open (const char *path, bool create, const char *schema);

//  The busy handler: when another connection holds the write lock, retry
//  after 250 microseconds at first, then 2 ms, then 20 ms, for at most 10 s
//  in all. Returns 0 (give up) or 1 (try again).
int
    certbus_db_busy (void *arg, int count);

#endif
