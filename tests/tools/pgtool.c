/*  pgtool.c - what the PostgreSQL store tools share
    SPDX-License-Identifier: MPL-2.0
*/
#include "pgtool.h"
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

static int s_failures = 0;

void
pgtool_check (bool ok, const char *what)
{
    printf ("%s: %s\n", ok ? "ok" : "FAIL", what);
    if (!ok) {
        printf ("      reason: %s\n", certbus_reason ());
        s_failures++;
    }
    fflush (stdout);
}

int
pgtool_failures (void)
{
    return s_failures;
}

bool
pgtool_kill_sessions (const char *url)
{
    PGconn *conn = PQconnectdb (url);
    PGresult *res = PQexec (conn,
                            "SELECT pg_terminate_backend (pid) FROM pg_stat_activity"
                            " WHERE datname = current_database() AND pid <> pg_backend_pid()");
    bool ok = PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) >= 1;
    PQclear (res);
    PQfinish (conn);
    return ok;
}

bool
pgtool_write_message (broker_store_t *store, uint8_t id [CERTBUS_ID_SIZE], bool keep_id)
{
    certbus_header_t header = {0};
    if (keep_id)
        memcpy (header.id, id, CERTBUS_ID_SIZE);
    else
        certbus_uuid7 (header.id);
    memcpy (id, header.id, CERTBUS_ID_SIZE);
    header.origin = "alpha";
    header.kind = "advisory";
    header.tlp = "amber";
    header.severity = "medium";
    header.audience = "org:bravo";
    const uint8_t envelope [8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint64_t seq = 0;
    int64_t now = certbus_now_ms ();
    return broker_store_message_insert (store, &header, envelope, sizeof envelope, now, now + 60000,
                                        1, &seq)
               == 0
           && broker_store_queue_insert (store, "bravo", seq, 0, envelope, 4) == 0;
}

bool
pgtool_known (broker_store_t *store, const uint8_t id [CERTBUS_ID_SIZE])
{
    uint64_t seq = 0;
    int64_t at = 0;
    return broker_store_message_lookup (store, "alpha", id, &seq, &at) == 1;
}

bool
pgtool_audit (broker_tree_t *tree, const uint8_t *id)
{
    uint8_t fresh [CERTBUS_ID_SIZE];
    if (!id) {
        certbus_uuid7 (fresh);
        id = fresh;
    }
    Certbus__AuditRecord record = CERTBUS__AUDIT_RECORD__INIT;
    record.time = certbus_now_ms ();
    record.event = "publish";
    record.org = "alpha";
    record.message_id.data = (uint8_t *) id;
    record.message_id.len = CERTBUS_ID_SIZE;
    record.decision = "accept";
    record.rule = "test";
    record.reason = "";
    return broker_tree_append (tree, &record) == 0;
}
