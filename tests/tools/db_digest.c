/*  db_digest.c - a digest of the logical content of an SQLite database,
    for tests/integration/faults.sh
    SPDX-License-Identifier: MPL-2.0

    usage: db_digest DATABASE

    Prints one line per table, "TABLE DIGEST ROWS", then "* DIGEST ROWS"
    for the whole database: BLAKE2b-256 over every row (tables by name,
    rows by rowid or primary key, each value with its type), so that two
    copies of a database can be compared by what they hold rather than by
    their bytes. Exits 1 with "error: ..." when SQLite cannot read
    the file (which faults.sh counts as a detected corruption). Run it on
    a scratch copy: opening a WAL database may write its -shm and -wal.
    Standalone: SQLite and libsodium only.
*/
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static int
s_fail (sqlite3 *db, const char *what)
{
    printf ("error: %s: %s\n", what, db ? sqlite3_errmsg (db) : "cannot open");
    sqlite3_close (db);
    return 1;
}

static void
s_add (crypto_generichash_state *state, const void *data, size_t size)
{
    crypto_generichash_update (state, data, size);
}

int
main (int argc, char *argv [])
{
    if (argc != 2) {
        fprintf (stderr, "usage: db_digest DATABASE\n");
        return 2;
    }
    if (sodium_init () < 0)
        return 2;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2 (argv [1], &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        return s_fail (db, "open");
    sqlite3_stmt *tables = NULL;
    if (sqlite3_prepare_v2 (db,
                            "SELECT name, sql LIKE '%WITHOUT ROWID%' FROM sqlite_master"
                            " WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
                            -1, &tables, NULL)
        != SQLITE_OK)
        return s_fail (db, "schema");
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    long long rows = 0;
    int rc;
    while ((rc = sqlite3_step (tables)) == SQLITE_ROW) {
        const char *name = (const char *) sqlite3_column_text (tables, 0);
        int without_rowid = sqlite3_column_int (tables, 1);
        s_add (&state, name, strlen (name) + 1);
        char *sql = sqlite3_mprintf ("SELECT * FROM \"%w\" ORDER BY %s", name,
                                     without_rowid ? "1, 2" : "rowid");
        sqlite3_stmt *stmt = NULL;
        if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK) {
            sqlite3_free (sql);
            return s_fail (db, name);
        }
        sqlite3_free (sql);
        crypto_generichash_state table;
        crypto_generichash_init (&table, NULL, 0, 32);
        long long table_rows = 0;
        int step;
        while ((step = sqlite3_step (stmt)) == SQLITE_ROW) {
            rows++;
            table_rows++;
            for (int i = 0; i < sqlite3_column_count (stmt); i++) {
                unsigned char type = (unsigned char) sqlite3_column_type (stmt, i);
                const void *bytes = sqlite3_column_blob (stmt, i);
                int size = sqlite3_column_bytes (stmt, i);
                unsigned char length [4] = {(unsigned char) (size >> 24),
                                            (unsigned char) (size >> 16),
                                            (unsigned char) (size >> 8), (unsigned char) size};
                crypto_generichash_state *states [2] = {&state, &table};
                for (int j = 0; j < 2; j++) {
                    s_add (states [j], &type, 1);
                    s_add (states [j], length, sizeof length);
                    if (bytes && size > 0)
                        s_add (states [j], bytes, (size_t) size);
                }
            }
        }
        unsigned char table_digest [32];
        crypto_generichash_final (&table, table_digest, sizeof table_digest);
        printf ("%s ", name);
        for (size_t i = 0; i < sizeof table_digest; i++)
            printf ("%02x", table_digest [i]);
        printf (" %lld\n", table_rows);
        if (step != SQLITE_DONE) {
            sqlite3_finalize (stmt);
            return s_fail (db, name);
        }
        sqlite3_finalize (stmt);
    }
    if (rc != SQLITE_DONE)
        return s_fail (db, "tables");
    sqlite3_finalize (tables);
    sqlite3_close (db);
    unsigned char digest [32];
    crypto_generichash_final (&state, digest, sizeof digest);
    printf ("* ");
    for (size_t i = 0; i < sizeof digest; i++)
        printf ("%02x", digest [i]);
    printf (" %lld\n", rows);
    return 0;
}
