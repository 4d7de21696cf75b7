/*  store_pg_lease.c - the lease of a broker pair in PostgreSQL
    SPDX-License-Identifier: MPL-2.0

    One row (lease, id 1) says which broker is active: its epoch, its
    holder, the database session it holds it from, and when it ends, all
    by the server's clock, so the brokers' own clocks never matter. A
    standby takes the row (SELECT ... FOR UPDATE SKIP LOCKED, then UPDATE
    with epoch + 1) when the lease has ended or the holder's session is no
    longer in pg_stat_activity (a killed broker's session ends with its
    TCP connection). The active broker renews the row inside every commit
    (broker_pg_lease_fence): an UPDATE conditioned on its epoch and on the
    lease not having ended. That UPDATE locks the row until COMMIT, so a
    takeover either happened before it (no row matches: fenced, nothing
    committed) or waits until after it. Not SERIALIZABLE: the row lock is
    the whole protocol.
*/
#include "store_pg.h"
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <string.h>
#include <sys/socket.h>

//  A holder paused inside a transaction would keep the row locked: the
//  server ends such a session after the lease's length, releasing it
int
broker_pg_lease_session (broker_store_backend_t *self)
{
    //  A link to the database that dies unanswered fails our statements
    //  within half a lease, so that a cut broker steps down in time
    unsigned int timeout = (unsigned int) (self->lease_ms / 2);
    if (setsockopt (PQsocket (self->conn), IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, sizeof timeout)
        != 0)
        zsys_warning ("broker: database %s: cannot set TCP_USER_TIMEOUT: %s", self->name,
                      strerror (errno));
    char sql [96];
    snprintf (sql, sizeof sql, "SET idle_in_transaction_session_timeout = %lld",
              (long long) self->lease_ms);
    PGresult *res = PQexec (self->conn, sql);
    int rc = PQresultStatus (res) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc)
        certbus_fail (CERTBUS_E_IO, "database %s: cannot set the session's timeout: %s", self->name,
                      PQerrorMessage (self->conn));
    PQclear (res);
    return rc;
}

//  Row 0 of s_LEASE_SELECT into lease
static void
s_lease_row (const PGresult *res, broker_lease_t *lease)
{
    memset (lease, 0, sizeof *lease);
    lease->supported = true;
    lease->epoch = (uint64_t) broker_pg_get_int (res, 0, 0);
    const char *holder = broker_pg_get_text (res, 0, 1);
    snprintf (lease->holder, sizeof lease->holder, "%s", holder ? holder : "");
    lease->expires_at = broker_pg_get_int (res, 0, 2);
    lease->now = broker_pg_get_int (res, 0, 3);
    lease->holder_alive = broker_pg_get_int (res, 0, 4) != 0;
}

int
broker_pg_lease_read (broker_store_backend_t *self, broker_lease_t *lease)
{
    PGresult *res = broker_pg_exec (self, BROKER_PG_LEASE_READ, NULL, "read the lease");
    if (!res)
        return -1;
    int rc = 0;
    if (PQntuples (res) == 1)
        s_lease_row (res, lease);
    else
        rc = certbus_fail (CERTBUS_E_NOT_FOUND, "database %s holds no lease row", self->name);
    PQclear (res);
    return rc;
}

//  In the open transaction: 1 when the lease is free to take (lease then
//  says what it was), 0 when held (or being renewed right now), -1
static int
s_lease_free (broker_store_backend_t *self, broker_lease_t *lease)
{
    PGresult *res = broker_pg_exec (self, BROKER_PG_LEASE_LOCK, NULL, "lock the lease");
    if (!res)
        return -1;
    int rc = 0;
    bool locked = PQntuples (res) != 1;
    if (!locked) {
        s_lease_row (res, lease);
        rc = lease->expires_at <= lease->now || !lease->holder_alive ? 1 : 0;
    }
    PQclear (res);
    //  Locked by the holder's commit: it is alive; read who holds it
    if (locked && broker_pg_lease_read (self, lease))
        return -1;
    return rc;
}

int
broker_pg_lease_take (broker_store_backend_t *self, const char *holder, int64_t lease_ms,
                      broker_lease_t *lease)
{
    assert (!self->in_tx);
    self->lease_ms = lease_ms;
    self->fenced = false;
    if (broker_pg_begin (self))
        return -1;
    int rc = s_lease_free (self, lease);
    if (rc != 1) {
        broker_pg_rollback (self);
        return rc;
    }
    //  A token of this takeover beside the epoch: a lease row that went
    //  back (a restored backup, a standby promoted without our takeover)
    //  may repeat an epoch, never a token
    uint8_t token [16];
    randombytes_buf (token, sizeof token);
    char token_hex [33];
    sodium_bin2hex (token_hex, sizeof token_hex, token, sizeof token);
    broker_pg_params_t p = {0};
    broker_pg_param_text (&p, holder);
    broker_pg_param_int (&p, lease_ms);
    broker_pg_param_text (&p, token_hex);
    PGresult *res = broker_pg_exec (self, BROKER_PG_LEASE_TAKE, &p, "take the lease");
    uint64_t epoch = 0;
    int64_t expires_at = 0;
    if (res && PQntuples (res) == 1) {
        epoch = (uint64_t) broker_pg_get_int (res, 0, 0);
        expires_at = broker_pg_get_int (res, 0, 1);
    }
    PQclear (res);
    if (!epoch) {
        broker_pg_rollback (self);
        return -1;
    }
    //  The commit of the takeover itself is not fenced: the row lock is ours
    if (broker_pg_commit (self))
        return -1;
    if (broker_pg_lease_session (self))
        return -1;
    self->lease_epoch = epoch;
    memcpy (self->lease_token, token_hex, sizeof token_hex);
    self->lease_rebind = false;
    //  Another broker wrote until now: the counts kept in memory are stale
    self->tally.valid = false;
    lease->epoch = epoch;
    snprintf (lease->holder, sizeof lease->holder, "%s", holder);
    lease->expires_at = expires_at;
    lease->holder_alive = true;
    return 1;
}

int
broker_pg_lease_fence (broker_store_backend_t *self)
{
    assert (self->in_tx);
    broker_pg_params_t p = {0};
    broker_pg_param_int (&p, (int64_t) self->lease_epoch);
    broker_pg_param_int (&p, self->lease_ms);
    broker_pg_param_text (&p, self->lease_token);
    int64_t changed
        = broker_pg_run (self, self->lease_rebind ? BROKER_PG_LEASE_REBIND : BROKER_PG_LEASE_RENEW,
                         &p, "renew the lease");
    if (changed < 0)
        return -1;
    if (changed == 0) {
        uint64_t epoch = self->lease_epoch;
        self->fenced = true;
        self->lease_epoch = 0;
        return certbus_fail (CERTBUS_E_FENCED,
                             "database %s: the lease of epoch %llu is no longer ours (it ended, "
                             "or another broker took over): nothing of this transaction is "
                             "committed",
                             self->name, (unsigned long long) epoch);
    }
    self->lease_rebind = false;
    return 0;
}

int
broker_pg_lease_renew (broker_store_backend_t *self)
{
    //  A batch is open: its commit renews the lease
    if (self->in_tx)
        return 0;
    if (!self->lease_epoch)
        return self->fenced ? certbus_fail (CERTBUS_E_FENCED,
                                            "database %s: this broker lost its lease", self->name)
                            : 0;
    //  An empty transaction: its commit is the renewal
    if (broker_pg_begin (self))
        return -1;
    return broker_pg_commit (self);
}

void
broker_pg_lease_release (broker_store_backend_t *self)
{
    if (!self->lease_epoch || self->in_tx)
        return;
    broker_pg_params_t p = {0};
    broker_pg_param_int (&p, (int64_t) self->lease_epoch);
    broker_pg_param_text (&p, self->lease_token);
    self->lease_epoch = 0;
    if (broker_pg_run (self, BROKER_PG_LEASE_RELEASE, &p, "release the lease") < 0)
        zsys_warning ("broker: %s", certbus_reason ());
}

bool
broker_pg_lease_lost (broker_store_backend_t *self)
{
    return self->fenced;
}
