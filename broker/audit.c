/*  audit.c - the Council operator's audit commands: verify and list
    SPDX-License-Identifier: MPL-2.0
*/
#include "conf.h"
#include "audit.h"
#include "council.h"
#include "store.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    certbus_tree_head_t *heads; //  every stored head, by size
    size_t head_count;
    size_t next_head; //  first head not yet reached
    uint8_t broker_key [CERTBUS_KEY_SIZE];
    broker_store_t *store;
    certbus_merkle_frontier_t frontier;
    int64_t expected;   //  next record index
    char problem [600]; //  the first one found
} s_verify_t;

static int
s_collect_head (void *arg, const certbus_tree_head_t *head, const uint8_t *bytes, size_t size)
{
    s_verify_t *v = arg;
    certbus_tree_head_t signed_head;
    if (certbus_tree_head_verify (bytes, size, v->broker_key, &signed_head)
        || signed_head.size != head->size || signed_head.timestamp != head->timestamp
        || memcmp (signed_head.root, head->root, 32) != 0) {
        snprintf (v->problem, sizeof v->problem,
                  "tree head at size %llu: its signature does not verify with the broker's key "
                  "or does not match the stored fields",
                  (unsigned long long) head->size);
        return 1;
    }
    if (v->head_count > 0 && head->timestamp <= v->heads [v->head_count - 1].timestamp) {
        snprintf (v->problem, sizeof v->problem,
                  "tree head at size %llu: timestamp %lld does not increase",
                  (unsigned long long) head->size, (long long) head->timestamp);
        return 1;
    }
    v->heads = certbus_realloc (v->heads, v->head_count + 1, sizeof (certbus_tree_head_t));
    v->heads [v->head_count++] = *head;
    return 0;
}

static int
s_check_record (void *arg, const broker_audit_row_t *row)
{
    s_verify_t *v = arg;
    if (row->index != v->expected) {
        snprintf (v->problem, sizeof v->problem, "record %lld is missing (next stored is %lld)",
                  (long long) v->expected, (long long) row->index);
        return 1;
    }
    uint8_t leaf [32];
    certbus_merkle_leaf_hash (leaf, row->record, row->record_size);
    if (row->leaf_hash_size != 32 || memcmp (leaf, row->leaf_hash, 32) != 0) {
        snprintf (v->problem, sizeof v->problem,
                  "record %lld (%s by %s) was altered: its contents no longer match its leaf "
                  "hash",
                  (long long) row->index, row->event, row->org);
        return 1;
    }
    Certbus__AuditRecord *record = NULL;
    if (certbus_codec_decode (&certbus__audit_record__descriptor, row->record, row->record_size,
                              CERTBUS_MAX_PACKET, CERTBUS_MAX_REPEATED, (void **) &record)
        || record->index != (uint64_t) row->index) {
        snprintf (v->problem, sizeof v->problem,
                  "record %lld does not decode or claims another index", (long long) row->index);
        certbus_codec_free (record);
        return 1;
    }
    //  The columns beside the record (for queries and listings) must say
    //  what the signed record says
    bool columns_ok
        = row->time == record->time && row->event && row->org
          && strcmp (row->event, record->event) == 0 && strcmp (row->org, record->org) == 0
          && row->message_id_size == record->message_id.len
          && (row->message_id_size == 0
              || memcmp (row->message_id, record->message_id.data, row->message_id_size) == 0);
    certbus_codec_free (record);
    if (!columns_ok) {
        snprintf (v->problem, sizeof v->problem,
                  "record %lld: its indexed columns (time, event, org, message id) were "
                  "altered and no longer match the record",
                  (long long) row->index);
        return 1;
    }
    certbus_merkle_node_t nodes [CERTBUS_MERKLE_MAX_LEVELS];
    size_t count = 0;
    if (certbus_merkle_frontier_append (&v->frontier, leaf, nodes, &count)) {
        snprintf (v->problem, sizeof v->problem, "audit tree is full");
        return 1;
    }
    for (size_t i = 0; i < count; i++) {
        uint8_t stored [32];
        if (broker_store_node_get (v->store, nodes [i].level, nodes [i].index, stored)
            || memcmp (stored, nodes [i].hash, 32) != 0) {
            snprintf (v->problem, sizeof v->problem,
                      "record %lld: stored audit tree node %u/%llu does not match the records "
                      "(tree altered)",
                      (long long) row->index, nodes [i].level,
                      (unsigned long long) nodes [i].index);
            return 1;
        }
    }
    v->expected++;
    while (v->next_head < v->head_count && v->heads [v->next_head].size == v->frontier.size) {
        uint8_t root [32];
        certbus_merkle_frontier_root (&v->frontier, root);
        if (memcmp (root, v->heads [v->next_head].root, 32) != 0) {
            snprintf (v->problem, sizeof v->problem,
                      "tree head at size %llu does not match records 0..%lld: history was "
                      "rewritten at or before record %lld",
                      (unsigned long long) v->heads [v->next_head].size, (long long) row->index,
                      (long long) row->index);
            return 1;
        }
        v->next_head++;
    }
    return 0;
}

//  Consecutive heads must be consistent, as a member checking them would
//  see. Returns 0, or -1 with v->problem set.
static int
s_check_heads (s_verify_t *v)
{
    for (size_t i = 1; i < v->head_count; i++) {
        uint8_t proof [CERTBUS_MERKLE_PROOF_MAX_BYTES];
        size_t len;
        if (certbus_merkle_consistency_proof (proof, &len, v->heads [i - 1].size, v->heads [i].size,
                                              broker_store_node_get, v->store)
            || certbus_merkle_verify_consistency (v->heads [i - 1].size, v->heads [i].size, proof,
                                                  len, v->heads [i - 1].root, 32, v->heads [i].root,
                                                  32)) {
            snprintf (v->problem, sizeof v->problem,
                      "tree heads at sizes %llu and %llu are not consistent: %s",
                      (unsigned long long) v->heads [i - 1].size,
                      (unsigned long long) v->heads [i].size, certbus_reason ());
            return -1;
        }
    }
    return 0;
}

//  damaged is what a store check found: 0 (nothing), the number of the
//  first altered row, or < 0 when the table could not be read. Returns 0,
//  or -1 with v->problem naming the table or the row and how it changed.
static int
s_row_intact (s_verify_t *v, int64_t damaged, const char *table, const char *row,
              const char *change)
{
    if (damaged < 0)
        snprintf (v->problem, sizeof v->problem, "cannot read %s", table);
    else if (damaged > 0)
        snprintf (v->problem, sizeof v->problem, "%s %lld was altered: %s", row,
                  (long long) damaged, change);
    return damaged ? -1 : 0;
}

//  The stored messages, deliveries, cases and receipt marks must still be
//  what was accepted. Returns 0, or -1 with v->problem set.
static int
s_check_rows (s_verify_t *v)
{
    if (s_row_intact (v, broker_store_damaged_message (v->store), "the stored messages",
                      "stored message", "its row no longer matches its digest")
        || s_row_intact (v, broker_store_damaged_queue_row (v->store), "the delivery queue",
                         "queued delivery",
                         "it no longer matches its digest, or its message is gone"))
        return -1;
    char *what = NULL;
    int row = broker_store_damaged_case_row (v->store, &what);
    if (row != 0) {
        snprintf (v->problem, sizeof v->problem,
                  row < 0 ? "cannot read the cases and receipt marks"
                          : "%s was altered: it no longer matches its digest",
                  what ? what : "?");
        zstr_free (&what);
        return -1;
    }
    return 0;
}

int
audit_verify (const char *dir)
{
    s_verify_t v;
    memset (&v, 0, sizeof v);
    certbus_merkle_frontier_init (&v.frontier);
    char *path = council_path (dir, BROKER_PUB);
    int rc = certbus_pubfile_read (path, v.broker_key, NULL);
    free (path);
    if (rc == 0)
        v.store = broker_conf_store_open (dir);
    if (!v.store) {
        char *reason = certbus_term_escape (certbus_reason ());
        fprintf (stderr, "certbus-broker: audit verify: %s\n", reason);
        free (reason);
        return -1;
    }
    rc = -1;
    if (broker_store_tree_heads_each (v.store, s_collect_head, &v) < 0 || *v.problem)
        goto report;
    int64_t rows = broker_store_audit_each (v.store, NULL, 0, s_check_record, &v);
    if (rows < 0 || *v.problem)
        goto report;
    if (v.next_head < v.head_count) {
        certbus_tree_head_t *head = &v.heads [v.next_head];
        char when [40];
        certbus_time_format (head->timestamp, when, sizeof when);
        snprintf (v.problem, sizeof v.problem,
                  "tree head signed at %s covers %llu records but only %lld remain: records "
                  "%lld to %llu were deleted",
                  when, (unsigned long long) head->size, (long long) v.expected,
                  (long long) v.expected, (unsigned long long) head->size - 1);
        goto report;
    }
    if (s_check_heads (&v) || s_check_rows (&v))
        goto report;
    uint8_t root [32];
    char root_hex [65];
    certbus_merkle_frontier_root (&v.frontier, root);
    certbus_hex (root, 32, root_hex);
    printf ("audit log verified: %lld records, %zu signed tree heads, root %s; stored messages "
            "and deliveries intact\n",
            (long long) v.expected, v.head_count, root_hex);
    rc = 0;
report:
    if (rc != 0) {
        if (!*v.problem)
            snprintf (v.problem, sizeof v.problem, "%s", certbus_reason ());
        char *problem = certbus_term_escape (v.problem);
        fprintf (stderr, "certbus-broker: audit verify FAILED: %s\n", problem);
        free (problem);
    }
    free (v.heads);
    broker_store_destroy (&v.store);
    return rc;
}

typedef struct {
    bool json;
} s_list_t;

static int
s_print_record (void *arg, const broker_audit_row_t *row)
{
    s_list_t *list = arg;
    Certbus__AuditRecord *record = NULL;
    if (certbus_codec_decode (&certbus__audit_record__descriptor, row->record, row->record_size,
                              CERTBUS_MAX_PACKET, CERTBUS_MAX_REPEATED, (void **) &record)) {
        printf (list->json ? "{\"index\":%lld,\"error\":\"undecodable\"}\n"
                           : "%lld  (undecodable record)\n",
                (long long) row->index);
        return 0;
    }
    char when [40], id [CERTBUS_ID_STR_SIZE] = "";
    certbus_time_format (record->time, when, sizeof when);
    if (record->message_id.len == CERTBUS_ID_SIZE)
        certbus_id_format (record->message_id.data, id);
    if (list->json) {
        certbus_sb_t sb = {0};
        certbus_sb_printf (&sb,
                           "{\"index\":%lld,\"time\":\"%s\",\"event\":", (long long) row->index,
                           when);
        certbus_sb_json_str (&sb, record->event);
        certbus_sb_json_field (&sb, "org", record->org);
        certbus_sb_printf (&sb, ",\"message_id\":\"%s\"", id);
        certbus_sb_json_field (&sb, "kind", record->kind);
        certbus_sb_json_field (&sb, "tlp", record->tlp);
        certbus_sb_json_field (&sb, "severity", record->severity);
        certbus_sb_json_field (&sb, "audience", record->audience);
        certbus_sb_printf (&sb, ",\"recipients\":%zu", record->n_recipients);
        certbus_sb_json_field (&sb, "decision", record->decision);
        certbus_sb_json_field (&sb, "rule", record->rule);
        certbus_sb_json_field (&sb, "reason", record->reason);
        certbus_sb_json_field (&sb, "case_status", record->case_status);
        certbus_sb_printf (&sb, ",\"sequence\":%llu}", (unsigned long long) record->sequence);
        printf ("%s\n", sb.data);
        certbus_sb_free (&sb);
    }
    else {
        //  Every string but the time and id came from a member's header or
        //  a reason quoting one: escaped, it cannot drive the terminal
        char *event = certbus_term_escape (record->event);
        char *org = certbus_term_escape (record->org);
        char *kind = certbus_term_escape (record->kind);
        char *tlp = certbus_term_escape (record->tlp);
        char *decision = certbus_term_escape (record->decision);
        char *rule = certbus_term_escape (record->rule);
        char *reason = certbus_term_escape (record->reason);
        printf ("%6lld  %s  %-8s %-18s %-36s %-10s %-12s %-9s %s%s%s\n", (long long) row->index,
                when, event, org, id, kind, tlp, decision, rule, *reason ? "  " : "", reason);
        free (event);
        free (org);
        free (kind);
        free (tlp);
        free (decision);
        free (rule);
        free (reason);
    }
    certbus_codec_free (record);
    return 0;
}

int
audit_list (const char *dir, const char *org, int64_t since, bool json)
{
    broker_store_t *store = broker_conf_store_open (dir);
    if (!store)
        return -1;
    s_list_t list = {json};
    int64_t rows = broker_store_audit_each (store, org, since, s_print_record, &list);
    broker_store_destroy (&store);
    return rows < 0 ? -1 : 0;
}
