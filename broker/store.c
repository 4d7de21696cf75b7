/*  store.c - the broker's storage interface: a store URL to a backend
    SPDX-License-Identifier: MPL-2.0

    Every broker_store_ call goes to the backend's op of the same name
    (store_impl.h). What is kept here is what every backend shares: the
    choice of backend by URL, and the hooks run when a transaction ends.
*/
#include "store_impl.h"
#include "council.h"
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

//  Hooks a store holds: the audit tree, and room for a few more
#define s_HOOKS_MAX 8

typedef struct {
    broker_store_end_fn *fn; //  called with committed true or false
    void *arg;               //  its first argument
} s_hook_t;

struct broker_store_t {
    const broker_store_ops_t *ops;   //  the backend's
    broker_store_backend_t *backend; //  its state
    char *name;                      //  the URL or path it was opened with
    s_hook_t hooks [s_HOOKS_MAX];    //  run at the end of each transaction
    size_t hook_count;
};

//  A backend's open function, as store_impl.h declares them
typedef broker_store_backend_t *(s_open_fn) (const char *path, bool create,
                                             const broker_store_ops_t **ops_p);

//  The backends, by URL scheme. A second backend is one new file and one
//  line here.
static const struct {
    const char *scheme; //  "scheme:" starts its URLs
    s_open_fn *open;
    bool whole_url; //  open takes the whole URL, not what follows the scheme
} s_backends [] = {
    {"sqlite:", broker_store_sqlite_open, false},
    {"postgresql://", broker_store_pg_open, true},
    {"postgres://", broker_store_pg_open, true},
};

//  The URL as messages show it: no query (it may hold settings an
//  operator did not mean to print) and no user:password (a new string)
static char *
s_name (const char *url)
{
    char *name = strdup (url);
    if (!name)
        abort ();
    char *hosts = strstr (name, "://");
    if (hosts) {
        hosts += 3;
        name [strcspn (name, "?")] = 0;
        char *at = strchr (hosts, '@');
        char *colon = at ? memchr (hosts, ':', (size_t) (at - hosts)) : NULL;
        if (colon)
            memmove (colon, at, strlen (at) + 1);
    }
    return name;
}

broker_store_t *
broker_store_open (const char *url, bool create)
{
    assert (url);
    s_open_fn *open = NULL;
    const char *path = url;
    for (size_t i = 0; i < sizeof s_backends / sizeof s_backends [0] && !open; i++) {
        size_t length = strlen (s_backends [i].scheme);
        if (strncmp (url, s_backends [i].scheme, length) == 0) {
            open = s_backends [i].open;
            path = s_backends [i].whole_url ? url : url + length;
        }
    }
    //  A plain path names an SQLite file; any other URL is not ours
    if (!open && strstr (url, "://")) {
        certbus_fail (CERTBUS_E_FIELD,
                      "store %s: unknown URL scheme (this build knows sqlite: and postgresql://)",
                      url);
        return NULL;
    }
    if (!open)
        open = broker_store_sqlite_open;
    if (!*path) {
        certbus_fail (CERTBUS_E_FIELD, "store %s names no database", url);
        return NULL;
    }
    broker_store_t *self = certbus_calloc (1, sizeof *self);
    self->name = s_name (url);
    self->backend = open (path, create, &self->ops);
    if (!self->backend) {
        broker_store_destroy (&self);
        return NULL;
    }
    return self;
}

void
broker_store_destroy (broker_store_t **self_p)
{
    assert (self_p);
    broker_store_t *self = *self_p;
    if (!self)
        return;
    if (self->backend)
        self->ops->destroy (&self->backend);
    free (self->name);
    free (self);
    *self_p = NULL;
}

const char *
broker_store_name (broker_store_t *self)
{
    assert (self);
    return self->name;
}

//  ---------------------------------------------------------------------
//  Transactions and their end hooks

static void
s_hooks_run (broker_store_t *self, bool committed)
{
    for (size_t i = 0; i < self->hook_count; i++)
        self->hooks [i].fn (self->hooks [i].arg, committed);
}

int
broker_store_on_end (broker_store_t *self, broker_store_end_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    if (self->hook_count == s_HOOKS_MAX) {
        certbus_fail (CERTBUS_E_INTERNAL, "store %s: too many transaction hooks", self->name);
        return -1;
    }
    self->hooks [self->hook_count++] = (s_hook_t){fn, arg};
    return 0;
}

void
broker_store_on_end_cancel (broker_store_t *self, broker_store_end_fn *fn, void *arg)
{
    assert (self);
    for (size_t i = 0; i < self->hook_count; i++)
        if (self->hooks [i].fn == fn && self->hooks [i].arg == arg) {
            memmove (&self->hooks [i], &self->hooks [i + 1],
                     (self->hook_count - i - 1) * sizeof (s_hook_t));
            self->hook_count--;
            return;
        }
}

int
broker_store_begin (broker_store_t *self)
{
    assert (self);
    return self->ops->begin (self->backend);
}

int
broker_store_commit (broker_store_t *self)
{
    assert (self);
    int rc = self->ops->commit (self->backend);
    s_hooks_run (self, rc == 0);
    return rc;
}

void
broker_store_rollback (broker_store_t *self)
{
    assert (self);
    self->ops->rollback (self->backend);
    s_hooks_run (self, false);
}

int
broker_store_node_get (void *ctx, unsigned level, uint64_t index, uint8_t out [32])
{
    broker_store_t *self = ctx;
    assert (self);
    return self->ops->node_get (self->backend, level, index, out);
}

void
broker_store_header_free (certbus_header_t *header)
{
    free (header->origin);
    free (header->kind);
    free (header->tlp);
    free (header->severity);
    free (header->audience);
    memset (header, 0, sizeof *header);
}

//  ---------------------------------------------------------------------
//  Every other call goes straight to the backend

int
broker_store_check (broker_store_t *self, bool full)
{
    assert (self);
    return self->ops->check (self->backend, full);
}

int
broker_store_meta_set (broker_store_t *self, const char *key, const char *value)
{
    assert (self);
    return self->ops->meta_set (self->backend, key, value);
}

char *
broker_store_meta_get (broker_store_t *self, const char *key)
{
    assert (self);
    return self->ops->meta_get (self->backend, key);
}

uint64_t
broker_store_next_serial (broker_store_t *self)
{
    assert (self);
    return self->ops->next_serial (self->backend);
}

int
broker_store_cert_insert (broker_store_t *self, const certbus_cert_t *cert, int64_t now)
{
    assert (self);
    return self->ops->cert_insert (self->backend, cert, now);
}

uint64_t
broker_store_cert_active (broker_store_t *self, const char *org_id)
{
    assert (self);
    return self->ops->cert_active (self->backend, org_id);
}

int
broker_store_cert_revoke (broker_store_t *self, uint64_t serial, const uint8_t *revocation,
                          size_t size, int64_t at, const char *reason)
{
    assert (self);
    return self->ops->cert_revoke (self->backend, serial, revocation, size, at, reason);
}

int
broker_store_certs_each (broker_store_t *self, broker_blob_fn *fn, void *arg)
{
    assert (self);
    return self->ops->certs_each (self->backend, fn, arg);
}

int
broker_store_revocations_each (broker_store_t *self, broker_blob_fn *fn, void *arg)
{
    assert (self);
    return self->ops->revocations_each (self->backend, fn, arg);
}

int64_t
broker_store_directory_serial (broker_store_t *self)
{
    assert (self);
    return self->ops->directory_serial (self->backend);
}

int
broker_store_directory_put (broker_store_t *self, uint64_t serial, int64_t issued_at,
                            const uint8_t *bytes, size_t size)
{
    assert (self);
    return self->ops->directory_put (self->backend, serial, issued_at, bytes, size);
}

int
broker_store_directory_latest (broker_store_t *self, uint8_t **bytes_p, size_t *size_p)
{
    assert (self);
    return self->ops->directory_latest (self->backend, bytes_p, size_p);
}

int
broker_store_message_lookup (broker_store_t *self, const char *origin, const uint8_t *id,
                             uint64_t *seq_p, int64_t *accepted_at_p)
{
    assert (self);
    return self->ops->message_lookup (self->backend, origin, id, seq_p, accepted_at_p);
}

int
broker_store_message_insert (broker_store_t *self, const certbus_header_t *header,
                             const uint8_t *base, size_t base_size, int64_t accepted_at,
                             int64_t expires_at, uint32_t recipients, uint64_t *seq_p)
{
    assert (self);
    return self->ops->message_insert (self->backend, header, base, base_size, accepted_at,
                                      expires_at, recipients, seq_p);
}

int
broker_store_queue_insert (broker_store_t *self, const char *recipient, uint64_t msg_seq,
                           int priority, const uint8_t *wrapped, size_t wrapped_size)
{
    assert (self);
    return self->ops->queue_insert (self->backend, recipient, msg_seq, priority, wrapped,
                                    wrapped_size);
}

int
broker_store_queue_fetch (broker_store_t *self, const char *recipient, int priority, uint64_t after,
                          int limit, broker_delivery_skip_fn *skip, broker_delivery_fn *fn,
                          void *arg)
{
    assert (self);
    return self->ops->queue_fetch (self->backend, recipient, priority, after, limit, skip, fn, arg);
}

int
broker_store_queue_ack (broker_store_t *self, const char *recipient, uint64_t qseq,
                        uint64_t *msg_seq_p)
{
    assert (self);
    return self->ops->queue_ack (self->backend, recipient, qseq, msg_seq_p);
}

int64_t
broker_store_queue_depth (broker_store_t *self, const char *recipient, int64_t *oldest_p)
{
    assert (self);
    return self->ops->queue_depth (self->backend, recipient, oldest_p);
}

int
broker_store_expire (broker_store_t *self, int64_t now_ms)
{
    assert (self);
    return self->ops->expire (self->backend, now_ms);
}

int
broker_store_audit_put (broker_store_t *self, const broker_audit_row_t *row)
{
    assert (self);
    return self->ops->audit_put (self->backend, row);
}

int
broker_store_node_put (broker_store_t *self, unsigned level, uint64_t index,
                       const uint8_t hash [32])
{
    assert (self);
    return self->ops->node_put (self->backend, level, index, hash);
}

int64_t
broker_store_audit_count (broker_store_t *self)
{
    assert (self);
    return self->ops->audit_count (self->backend);
}

int64_t
broker_store_audit_find (broker_store_t *self, const uint8_t *message_id, const char *event,
                         uint8_t **record_p, size_t *size_p)
{
    assert (self);
    return self->ops->audit_find (self->backend, message_id, event, record_p, size_p);
}

int64_t
broker_store_audit_find_each (broker_store_t *self, const uint8_t *message_id, const char *event,
                              broker_record_fn *fn, void *arg)
{
    assert (self);
    return self->ops->audit_find_each (self->backend, message_id, event, fn, arg);
}

int
broker_store_tree_head_add (broker_store_t *self, const certbus_tree_head_t *head,
                            const uint8_t *bytes, size_t size)
{
    assert (self);
    return self->ops->tree_head_add (self->backend, head, bytes, size);
}

int
broker_store_tree_head_latest (broker_store_t *self, certbus_tree_head_t *head, uint8_t **bytes_p,
                               size_t *size_p)
{
    assert (self);
    return self->ops->tree_head_latest (self->backend, head, bytes_p, size_p);
}

int64_t
broker_store_audit_each (broker_store_t *self, const char *org, int64_t since, broker_audit_fn *fn,
                         void *arg)
{
    assert (self);
    return self->ops->audit_each (self->backend, org, since, fn, arg);
}

int64_t
broker_store_tree_heads_each (broker_store_t *self, broker_head_fn *fn, void *arg)
{
    assert (self);
    return self->ops->tree_heads_each (self->backend, fn, arg);
}

int
broker_store_case_get (broker_store_t *self, const uint8_t *case_id, broker_case_t *c)
{
    assert (self);
    return self->ops->case_get (self->backend, case_id, c);
}

int
broker_store_case_put (broker_store_t *self, const broker_case_t *c)
{
    assert (self);
    return self->ops->case_put (self->backend, c);
}

int
broker_store_case_member (broker_store_t *self, const uint8_t *case_id, const char *org, bool add)
{
    assert (self);
    return self->ops->case_member (self->backend, case_id, org, add);
}

int
broker_store_case_members (broker_store_t *self, const uint8_t *case_id, char ***orgs_p,
                           size_t *count_p)
{
    assert (self);
    return self->ops->case_members (self->backend, case_id, orgs_p, count_p);
}

int
broker_store_receipt_add (broker_store_t *self, const uint8_t *message_id, const char *publisher,
                          const char *org)
{
    assert (self);
    return self->ops->receipt_add (self->backend, message_id, publisher, org);
}

int64_t
broker_store_origin_bytes (broker_store_t *self, const char *origin)
{
    assert (self);
    return self->ops->origin_bytes (self->backend, origin);
}

int64_t
broker_store_cases_each (broker_store_t *self, int64_t since, broker_case_fn *fn, void *arg)
{
    assert (self);
    return self->ops->cases_each (self->backend, since, fn, arg);
}

int
broker_store_message_by_seq (broker_store_t *self, uint64_t seq, certbus_header_t *header)
{
    assert (self);
    return self->ops->message_by_seq (self->backend, seq, header);
}

int
broker_store_queue_depths (broker_store_t *self, broker_depth_fn *fn, void *arg)
{
    assert (self);
    return self->ops->queue_depths (self->backend, fn, arg);
}

int64_t
broker_store_damaged_message (broker_store_t *self)
{
    assert (self);
    return self->ops->damaged_message (self->backend);
}

int64_t
broker_store_damaged_queue_row (broker_store_t *self)
{
    assert (self);
    return self->ops->damaged_queue_row (self->backend);
}

int
broker_store_damaged_case_row (broker_store_t *self, char **what_p)
{
    assert (self);
    return self->ops->damaged_case_row (self->backend, what_p);
}

int
broker_store_counts (broker_store_t *self, broker_counts_t *counts)
{
    assert (self);
    return self->ops->counts (self->backend, counts);
}

//  ---------------------------------------------------------------------
//  Leases; a backend without them has one broker, always active

int
broker_store_lease_take (broker_store_t *self, const char *holder, int64_t lease_ms,
                         broker_lease_t *lease)
{
    assert (self);
    assert (holder);
    assert (lease);
    memset (lease, 0, sizeof *lease);
    if (!self->ops->lease_take)
        return 1;
    return self->ops->lease_take (self->backend, holder, lease_ms, lease);
}

int
broker_store_lease_read (broker_store_t *self, broker_lease_t *lease)
{
    assert (self);
    assert (lease);
    memset (lease, 0, sizeof *lease);
    return self->ops->lease_read ? self->ops->lease_read (self->backend, lease) : 0;
}

int
broker_store_lease_renew (broker_store_t *self)
{
    assert (self);
    return self->ops->lease_renew ? self->ops->lease_renew (self->backend) : 0;
}

void
broker_store_lease_release (broker_store_t *self)
{
    if (!self)
        return;
    if (self->ops->lease_release)
        self->ops->lease_release (self->backend);
}

bool
broker_store_lease_lost (broker_store_t *self)
{
    assert (self);
    return self->ops->lease_lost ? self->ops->lease_lost (self->backend) : false;
}
