/*  store_impl.h - what a broker store backend implements (private)
    SPDX-License-Identifier: MPL-2.0

    A backend is one file. It completes struct broker_store_backend_t with
    its own state, fills a broker_store_ops_t, and offers an open function
    that store.c lists in s_backends under its URL scheme. Each op keeps
    the contract of the store.h function of the same name, with the
    backend in place of the store; store.c adds only the transaction-end
    hooks, so a backend never calls them.
*/
#ifndef BROKER_STORE_IMPL_H_INCLUDED
#define BROKER_STORE_IMPL_H_INCLUDED

#include "store.h"

typedef struct broker_store_backend_t broker_store_backend_t;

typedef struct {
    void (*destroy) (broker_store_backend_t **self_p);
    int (*begin) (broker_store_backend_t *self);
    //  Rolls back (and forgets the transaction's counts) when it fails
    int (*commit) (broker_store_backend_t *self);
    void (*rollback) (broker_store_backend_t *self);
    int (*node_get) (broker_store_backend_t *self, unsigned level, uint64_t index,
                     uint8_t out [32]);
    int (*check) (broker_store_backend_t *self, bool full);
    int (*meta_set) (broker_store_backend_t *self, const char *key, const char *value);
    char *(*meta_get) (broker_store_backend_t *self, const char *key);
    uint64_t (*next_serial) (broker_store_backend_t *self);
    int (*cert_insert) (broker_store_backend_t *self, const certbus_cert_t *cert, int64_t now);
    uint64_t (*cert_active) (broker_store_backend_t *self, const char *org_id);
    int (*cert_revoke) (broker_store_backend_t *self, uint64_t serial, const uint8_t *revocation,
                        size_t size, int64_t at, const char *reason);
    int (*certs_each) (broker_store_backend_t *self, broker_blob_fn *fn, void *arg);
    int (*revocations_each) (broker_store_backend_t *self, broker_blob_fn *fn, void *arg);
    int64_t (*directory_serial) (broker_store_backend_t *self);
    int (*directory_put) (broker_store_backend_t *self, uint64_t serial, int64_t issued_at,
                          const uint8_t *bytes, size_t size);
    int (*directory_latest) (broker_store_backend_t *self, uint8_t **bytes_p, size_t *size_p);
    int (*message_lookup) (broker_store_backend_t *self, const char *origin, const uint8_t *id,
                           uint64_t *seq_p, int64_t *accepted_at_p);
    int (*message_insert) (broker_store_backend_t *self, const certbus_header_t *header,
                           const uint8_t *base, size_t base_size, int64_t accepted_at,
                           int64_t expires_at, uint32_t recipients, uint64_t *seq_p);
    int (*queue_insert) (broker_store_backend_t *self, const char *recipient, uint64_t msg_seq,
                         int priority, const uint8_t *wrapped, size_t wrapped_size);
    int (*queue_fetch) (broker_store_backend_t *self, const char *recipient, int priority,
                        uint64_t after, int limit, broker_delivery_skip_fn *skip,
                        broker_delivery_fn *fn, void *arg);
    int (*queue_ack) (broker_store_backend_t *self, const char *recipient, uint64_t qseq,
                      uint64_t *msg_seq_p);
    int64_t (*queue_depth) (broker_store_backend_t *self, const char *recipient, int64_t *oldest_p);
    int (*expire) (broker_store_backend_t *self, int64_t now_ms);
    int (*audit_put) (broker_store_backend_t *self, const broker_audit_row_t *row);
    int (*node_put) (broker_store_backend_t *self, unsigned level, uint64_t index,
                     const uint8_t hash [32]);
    int64_t (*audit_count) (broker_store_backend_t *self);
    int64_t (*audit_find) (broker_store_backend_t *self, const uint8_t *message_id,
                           const char *event, uint8_t **record_p, size_t *size_p);
    int64_t (*audit_find_each) (broker_store_backend_t *self, const uint8_t *message_id,
                                const char *event, broker_record_fn *fn, void *arg);
    int (*tree_head_add) (broker_store_backend_t *self, const certbus_tree_head_t *head,
                          const uint8_t *bytes, size_t size);
    int (*tree_head_latest) (broker_store_backend_t *self, certbus_tree_head_t *head,
                             uint8_t **bytes_p, size_t *size_p);
    int64_t (*audit_each) (broker_store_backend_t *self, const char *org, int64_t since,
                           broker_audit_fn *fn, void *arg);
    int64_t (*tree_heads_each) (broker_store_backend_t *self, broker_head_fn *fn, void *arg);
    int (*case_get) (broker_store_backend_t *self, const uint8_t *case_id, broker_case_t *c);
    int (*case_put) (broker_store_backend_t *self, const broker_case_t *c);
    int (*case_member) (broker_store_backend_t *self, const uint8_t *case_id, const char *org,
                        bool add);
    int (*case_members) (broker_store_backend_t *self, const uint8_t *case_id, char ***orgs_p,
                         size_t *count_p);
    int (*receipt_add) (broker_store_backend_t *self, const uint8_t *message_id,
                        const char *publisher, const char *org);
    int64_t (*origin_bytes) (broker_store_backend_t *self, const char *origin);
    int64_t (*cases_each) (broker_store_backend_t *self, int64_t since, broker_case_fn *fn,
                           void *arg);
    int (*message_by_seq) (broker_store_backend_t *self, uint64_t seq, certbus_header_t *header);
    int (*queue_depths) (broker_store_backend_t *self, broker_depth_fn *fn, void *arg);
    int64_t (*damaged_message) (broker_store_backend_t *self);
    int64_t (*damaged_queue_row) (broker_store_backend_t *self);
    int (*damaged_case_row) (broker_store_backend_t *self, char **what_p);
    int (*counts) (broker_store_backend_t *self, broker_counts_t *counts);
    //  Leases: NULL in a backend without them (the store is then always
    //  active, unfenced)
    int (*lease_take) (broker_store_backend_t *self, const char *holder, int64_t lease_ms,
                       broker_lease_t *lease);
    int (*lease_read) (broker_store_backend_t *self, broker_lease_t *lease);
    int (*lease_renew) (broker_store_backend_t *self);
    void (*lease_release) (broker_store_backend_t *self);
    bool (*lease_lost) (broker_store_backend_t *self);
} broker_store_ops_t;

//  Opens (and with create, makes) the SQLite database at path; sets
//  *ops_p. Returns NULL with the reason set. (store_sqlite.c)
broker_store_backend_t *
    broker_store_sqlite_open (const char *path, bool create, const broker_store_ops_t **ops_p);

//  Opens (and with create, makes) the PostgreSQL store at url, a libpq
//  connection URI (postgresql://user@host:port/dbname?...); sets *ops_p.
//  Returns NULL with the reason set. (store_pg.c)
broker_store_backend_t *
    broker_store_pg_open (const char *url, bool create, const broker_store_ops_t **ops_p);

#endif
