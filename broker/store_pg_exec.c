/*  store_pg_exec.c - running the PostgreSQL store's statements
    SPDX-License-Identifier: MPL-2.0

    One statement at a time, or, inside a batch, writes sent ahead in
    libpq's pipeline mode and collected with the next statement that
    answers (store_pg.h, `pipelined`); and the readers of binary columns.
*/
#include "store_pg.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Outside a transaction: a lost session is opened again (the rows it
//  wrote are committed or not; none was acknowledged as committed)
static int
s_ready (broker_store_backend_t *self)
{
    if (PQstatus (self->conn) == CONNECTION_OK)
        return 0;
    if (self->in_tx)
        return certbus_fail (CERTBUS_E_IO, "database %s: the session was lost in a transaction",
                             self->name);
    self->tally.valid = false;
    return broker_pg_connect (self, false);
}

//  True for a statement that writes (the lease's own excepted)
static bool
s_writes (broker_pg_statement_t stmt)
{
    const char *sql = broker_pg_sql (stmt);
    return stmt < BROKER_PG_LEASE_READ
           && (strncmp (sql, "INSERT", 6) == 0 || strncmp (sql, "UPDATE", 6) == 0
               || strncmp (sql, "DELETE", 6) == 0 || strncmp (sql, "WITH", 4) == 0);
}

static PGresult *
s_exec (broker_store_backend_t *self, broker_pg_statement_t stmt, const broker_pg_params_t *params,
        const char *what);

//  Bytes sent ahead before they are collected: libpq pushes out its
//  buffer in 8 KiB pieces once it holds 8 KiB (pqPutMsgEnd), and a server
//  that has part of a pipeline and no Sync is "active", never "idle in
//  transaction", so a holder paused then would escape
//  idle_in_transaction_session_timeout and keep its locks. Below that
//  size nothing is sent before the Sync.
#define s_PIPELINE_BYTES (6 * 1024)

//  Writes whose callers need only know the batch failed, at its commit
static bool
s_deferrable (broker_pg_statement_t stmt)
{
    return stmt == BROKER_PG_MSG_INSERT || stmt == BROKER_PG_QUEUE_INSERT
           || stmt == BROKER_PG_AUDIT_INSERT || stmt == BROKER_PG_NODE_PUT
           || stmt == BROKER_PG_MEMBER_ADD;
}

//  Sends the Sync and collects the result of every statement sent ahead.
//  With last_p, the last one sent is a statement that answers: its result
//  is returned there (NULL when it, or one before it, failed). Leaves
//  pipeline mode. Returns 0, or -1 with the first failure's reason.
static int
s_collect (broker_store_backend_t *self, PGresult **last_p, const char *what)
{
    int rc = PQpipelineSync (self->conn) == 1 ? 0 : broker_pg_fail (self, NULL, "send the batch");
    //  One result and a NULL per statement sent, then the sync
    int nulls = 0, seen = 0;
    bool synced = false;
    while (rc == 0 && !synced) {
        PGresult *res = PQgetResult (self->conn);
        if (!res) {
            if (++nulls > self->pipelined || PQstatus (self->conn) != CONNECTION_OK)
                rc = broker_pg_fail (self, NULL, "collect the batch's results");
            continue;
        }
        ExecStatusType status = PQresultStatus (res);
        bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
        if (status == PGRES_PIPELINE_SYNC)
            synced = true;
        else if (++seen == self->pipelined && last_p && ok && !self->tx_failed) {
            *last_p = res; //  the answer asked for
            continue;
        }
        else if (!ok && !self->tx_failed) {
            broker_pg_fail (self, res, seen == self->pipelined && what ? what : "write the batch");
            self->tx_failed = true;
        }
        PQclear (res);
    }
    self->pipelined = 0;
    self->pipelined_size = 0;
    if (rc == 0 && PQexitPipelineMode (self->conn) != 1)
        rc = broker_pg_fail (self, NULL, "leave pipeline mode");
    if (rc) {
        //  A session whose pipeline is in an unknown state is not reused:
        //  the next transaction opens another
        self->tx_failed = true;
        PQfinish (self->conn);
        self->conn = NULL;
    }
    if ((rc || self->tx_failed) && last_p && *last_p) {
        PQclear (*last_p);
        *last_p = NULL;
    }
    return rc || self->tx_failed ? -1 : 0;
}

int
broker_pg_drain (broker_store_backend_t *self)
{
    return self->pipelined ? s_collect (self, NULL, NULL) : 0;
}

//  The size on the wire of a statement with params, about
static size_t
s_wire_size (const broker_pg_params_t *params)
{
    size_t size = 96; //  Bind, Describe and Execute around the values
    for (int i = 0; params && i < params->count; i++)
        size += params->formats [i]  ? (size_t) params->lengths [i]
                : params->values [i] ? strlen (params->values [i])
                                     : 0; //  a NULL
    return size;
}

//  Queues stmt in pipeline mode (entering it when needed). Returns 0, or
//  -1 with the transaction failed.
static int
s_queue (broker_store_backend_t *self, broker_pg_statement_t stmt, const broker_pg_params_t *params,
         size_t size, const char *what)
{
    if (!self->pipelined && PQenterPipelineMode (self->conn) != 1) {
        broker_pg_fail (self, NULL, what);
        self->tx_failed = true;
        return -1;
    }
    char name [16];
    snprintf (name, sizeof name, "s%d", (int) stmt);
    self->pipelined++; //  collect gathers whatever did go
    self->pipelined_size += size;
    if (PQsendQueryPrepared (self->conn, name, params ? params->count : 0,
                             params ? params->values : NULL, params ? params->lengths : NULL,
                             params ? params->formats : NULL, 1)
        != 1) {
        broker_pg_fail (self, NULL, what);
        self->tx_failed = true;
        return -1;
    }
    return 0;
}

//  Sends a deferrable write without waiting for its answer. Returns an
//  empty result (no rows changed are counted), or NULL: failed, or (with
//  the transaction intact) too large to send ahead.
static PGresult *
s_send (broker_store_backend_t *self, broker_pg_statement_t stmt, const broker_pg_params_t *params,
        const char *what)
{
    size_t size = s_wire_size (params);
    //  What was sent ahead is collected first when this would pass the
    //  bound; a statement larger than the bound is not sent ahead at all
    if (self->pipelined && self->pipelined_size + size > s_PIPELINE_BYTES && broker_pg_drain (self))
        return NULL;
    if (size > s_PIPELINE_BYTES)
        return NULL;
    if (s_queue (self, stmt, params, size, what))
        return NULL;
    return PQmakeEmptyPGresult (self->conn, PGRES_COMMAND_OK);
}

//  A statement that answers, after writes sent ahead: sent behind them and
//  answered in the same round trip when all of it stays under the bound.
//  Returns its result, or NULL.
static PGresult *
s_send_answered (broker_store_backend_t *self, broker_pg_statement_t stmt,
                 const broker_pg_params_t *params, const char *what)
{
    size_t size = s_wire_size (params);
    if (self->pipelined_size + size > s_PIPELINE_BYTES) {
        if (broker_pg_drain (self))
            return NULL;
        return s_exec (self, stmt, params, what);
    }
    PGresult *res = NULL;
    if (s_queue (self, stmt, params, size, what) == 0)
        s_collect (self, &res, what);
    else
        broker_pg_drain (self);
    return res;
}

PGresult *
broker_pg_exec (broker_store_backend_t *self, broker_pg_statement_t stmt,
                const broker_pg_params_t *params, const char *what)
{
    assert (stmt < BROKER_PG_STATEMENTS);
    if (self->fenced && s_writes (stmt)) {
        certbus_fail (CERTBUS_E_FENCED,
                      "database %s: %s: this broker lost its lease: it writes nothing more",
                      self->name, what);
        return NULL;
    }
    //  While we hold the lease, a write outside a transaction is fenced
    //  as a batch is: in a transaction of its own, whose commit checks
    //  the lease is still ours
    if (self->lease_epoch && !self->in_tx && s_writes (stmt)) {
        if (broker_pg_begin (self))
            return NULL;
        PGresult *res = s_exec (self, stmt, params, what);
        if (!res) {
            broker_pg_rollback (self);
            return NULL;
        }
        if (broker_pg_commit (self)) {
            PQclear (res);
            return NULL;
        }
        return res;
    }
    return s_exec (self, stmt, params, what);
}

static PGresult *
s_exec (broker_store_backend_t *self, broker_pg_statement_t stmt, const broker_pg_params_t *params,
        const char *what)
{
    if (self->in_tx && !self->tx_failed && s_deferrable (stmt)
        && PQstatus (self->conn) == CONNECTION_OK) {
        PGresult *sent = s_send (self, stmt, params, what);
        if (sent || self->tx_failed)
            return sent;
        //  too large to send ahead: sent and answered now, below
    }
    //  A statement that answers, behind what was sent before it
    if (self->pipelined)
        return s_send_answered (self, stmt, params, what);
    if (self->in_tx && self->tx_failed) {
        certbus_fail (CERTBUS_E_IO,
                      "database %s: %s: an earlier statement of this transaction "
                      "failed",
                      self->name, what);
        return NULL;
    }
    if (s_ready (self)) {
        self->tx_failed = self->in_tx;
        return NULL;
    }
    char name [16];
    snprintf (name, sizeof name, "s%d", (int) stmt);
    PGresult *res = PQexecPrepared (self->conn, name, params ? params->count : 0,
                                    params ? params->values : NULL, params ? params->lengths : NULL,
                                    params ? params->formats : NULL, 1);
    ExecStatusType status = PQresultStatus (res);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        broker_pg_fail (self, res, what);
        PQclear (res);
        self->tx_failed = self->in_tx;
        //  A write cut off outside a transaction may or may not be done
        if (PQstatus (self->conn) != CONNECTION_OK)
            self->tally.valid = false;
        return NULL;
    }
    return res;
}

int64_t
broker_pg_run (broker_store_backend_t *self, broker_pg_statement_t stmt,
               const broker_pg_params_t *params, const char *what)
{
    PGresult *res = broker_pg_exec (self, stmt, params, what);
    if (!res)
        return -1;
    int64_t changed = atoll (PQcmdTuples (res));
    PQclear (res);
    return changed;
}

int64_t
broker_pg_int64 (broker_store_backend_t *self, broker_pg_statement_t stmt,
                 const broker_pg_params_t *params, const char *what)
{
    PGresult *res = broker_pg_exec (self, stmt, params, what);
    if (!res)
        return -1;
    int64_t value = -1;
    if (PQntuples (res) == 1)
        value = broker_pg_get_int (res, 0, 0);
    else
        broker_pg_fail (self, res, what);
    PQclear (res);
    return value;
}

int64_t
broker_pg_get_int (const PGresult *res, int row, int col)
{
    if (PQgetisnull (res, row, col))
        return 0;
    const uint8_t *bytes = (const uint8_t *) PQgetvalue (res, row, col);
    int length = PQgetlength (res, row, col);
    if (length != 1 && length != 2 && length != 4 && length != 8)
        return 0;
    //  Network order, sign-extended from the first byte
    uint64_t value = (bytes [0] & 0x80) ? UINT64_MAX : 0;
    for (int i = 0; i < length; i++)
        value = (value << 8) | bytes [i];
    return (int64_t) value;
}

const char *
broker_pg_get_text (const PGresult *res, int row, int col)
{
    return PQgetisnull (res, row, col) ? NULL : PQgetvalue (res, row, col);
}

const uint8_t *
broker_pg_get_blob (const PGresult *res, int row, int col, size_t *size_p)
{
    bool null = PQgetisnull (res, row, col);
    *size_p = null ? 0 : (size_t) PQgetlength (res, row, col);
    return null ? NULL : (const uint8_t *) PQgetvalue (res, row, col);
}

uint8_t *
broker_pg_get_dup (const PGresult *res, int row, int col, size_t *size_p)
{
    size_t size;
    const uint8_t *bytes = broker_pg_get_blob (res, row, col, &size);
    uint8_t *copy = certbus_malloc (size ? size : 1);
    if (size)
        memcpy (copy, bytes, size);
    *size_p = size;
    return copy;
}
