/*  store_sqlite.h - the SQLite store's state, shared by its two files
    SPDX-License-Identifier: MPL-2.0

    Private to store_sqlite.c and store_sqlite_rows.c: the backend is one
    state split over two files only to keep each short. Every
    broker_sqlite_ function keeps the contract of the store.h function of
    the same name.
*/
#ifndef BROKER_STORE_SQLITE_H_INCLUDED
#define BROKER_STORE_SQLITE_H_INCLUDED

#include "store_impl.h"
#include "certbus/db.h"
#include <czmq.h>
#include "store_tally.h"

struct broker_store_backend_t {
    sqlite3 *db;              //  the database connection
    char *path;               //  its file
    sqlite3_stmt *msg_lookup; //  cached hot-path statements
    sqlite3_stmt *msg_insert;
    sqlite3_stmt *queue_insert;
    sqlite3_stmt *queue_fetch; //  one priority class, from a cursor
    sqlite3_stmt *queue_ack;
    sqlite3_stmt *audit_insert;
    sqlite3_stmt *node_insert;
    sqlite3_stmt *node_get;
    sqlite3_stmt *msg_by_seq;
    sqlite3_stmt *audit_by_message; //  every publish checks one
    sqlite3_stmt *oldest;           //  s_oldest's, prepared on first use
    //  Row counts for status and metrics (store_tally.h); an expiry
    //  (which cascades) makes them be counted again
    broker_store_tally_t tally;
};

//  store_sqlite_rows.c: the audit log, the Council's rows, cases
int
    broker_sqlite_node_get (broker_store_backend_t *self, unsigned level, uint64_t index,
                            uint8_t out [32]);
int
    broker_sqlite_node_put (broker_store_backend_t *self, unsigned level, uint64_t index,
                            const uint8_t hash [32]);
int
    broker_sqlite_audit_put (broker_store_backend_t *self, const broker_audit_row_t *row);
int64_t
    broker_sqlite_audit_count (broker_store_backend_t *self);
int64_t
    broker_sqlite_audit_find (broker_store_backend_t *self, const uint8_t *message_id,
                              const char *event, uint8_t **record_p, size_t *size_p);
int64_t
    broker_sqlite_audit_find_each (broker_store_backend_t *self, const uint8_t *message_id,
                                   const char *event, broker_record_fn *fn, void *arg);
int64_t
    broker_sqlite_audit_each (broker_store_backend_t *self, const char *org, int64_t since,
                              broker_audit_fn *fn, void *arg);
int
    broker_sqlite_tree_head_add (broker_store_backend_t *self, const certbus_tree_head_t *head,
                                 const uint8_t *bytes, size_t size);
int
    broker_sqlite_tree_head_latest (broker_store_backend_t *self, certbus_tree_head_t *head,
                                    uint8_t **bytes_p, size_t *size_p);
int64_t
    broker_sqlite_tree_heads_each (broker_store_backend_t *self, broker_head_fn *fn, void *arg);
uint64_t
    broker_sqlite_next_serial (broker_store_backend_t *self);
int
    broker_sqlite_cert_insert (broker_store_backend_t *self, const certbus_cert_t *cert,
                               int64_t now);
uint64_t
    broker_sqlite_cert_active (broker_store_backend_t *self, const char *org_id);
int
    broker_sqlite_cert_revoke (broker_store_backend_t *self, uint64_t serial,
                               const uint8_t *revocation, size_t size, int64_t at,
                               const char *reason);
int
    broker_sqlite_certs_each (broker_store_backend_t *self, broker_blob_fn *fn, void *arg);
int
    broker_sqlite_revocations_each (broker_store_backend_t *self, broker_blob_fn *fn, void *arg);
int64_t
    broker_sqlite_directory_serial (broker_store_backend_t *self);
int
    broker_sqlite_directory_put (broker_store_backend_t *self, uint64_t serial, int64_t issued_at,
                                 const uint8_t *bytes, size_t size);
int
    broker_sqlite_directory_latest (broker_store_backend_t *self, uint8_t **bytes_p,
                                    size_t *size_p);
int
    broker_sqlite_case_get (broker_store_backend_t *self, const uint8_t *case_id, broker_case_t *c);
int
    broker_sqlite_case_put (broker_store_backend_t *self, const broker_case_t *c);
int
    broker_sqlite_case_member (broker_store_backend_t *self, const uint8_t *case_id,
                               const char *org, bool add);
int
    broker_sqlite_case_members (broker_store_backend_t *self, const uint8_t *case_id,
                                char ***orgs_p, size_t *count_p);
int64_t
    broker_sqlite_cases_each (broker_store_backend_t *self, int64_t since, broker_case_fn *fn,
                              void *arg);
int
    broker_sqlite_receipt_add (broker_store_backend_t *self, const uint8_t *message_id,
                               const char *publisher, const char *org);
int
    broker_sqlite_damaged_case_row (broker_store_backend_t *self, char **what_p);

#endif
