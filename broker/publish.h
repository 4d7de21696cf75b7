/*  publish.h - the publish path: batch receive from the ROUTER, parallel
    signature checks, the staged publish, and flush (commit, then PubAcks)
    SPDX-License-Identifier: MPL-2.0

    Each turn of the engine's loop drains up to `batch` packets, decides
    every publish inside one transaction, commits, and only then
    acknowledges (group commit: many publishes share one fsync).
*/
#ifndef BROKER_PUBLISH_H_INCLUDED
#define BROKER_PUBLISH_H_INCLUDED

#include "context.h"
#include "verify.h"

//  One received message of a batch, decoded before any is handled, so
//  that the signatures of the batch's publishes are checked in parallel
typedef struct {
    zframe_t *routing;            //  the sender's connection
    zframe_t *payload;            //  the packet frame
    bool extra_frames;            //  more than one packet frame
    bool over_rate;               //  a publish beyond its member's rate quota
    const certbus_cert_t *member; //  the authenticated sender, or NULL
    Certbus__Packet *packet;      //  decoded, or NULL
    certbus_err_t packet_rc;      //  why not, when not
    char *packet_reason;          //  why not, when not
    certbus_envelope_t *env;      //  a publish's envelope, or NULL
    certbus_err_t env_rc;         //  why not, when not
    char *env_reason;             //  why not, when not
} broker_item_t;

typedef struct broker_reply_t broker_reply_t; //  one decision, in publish.c

struct broker_publish_t {
    bool in_txn;                 //  a batch transaction is open
    bool txn_failed;             //  a write failed in this batch
    certbus_err_t error_code;    //  code of the last store failure
    broker_reply_t *replies;     //  publish decisions awaiting commit
    size_t reply_count;          //  how many of replies are set
    size_t reply_cap;            //  how many replies fit
    broker_verifier_t *verifier; //  signature helpers
    broker_item_t *items;        //  the batch being handled
    broker_verify_job_t *jobs;   //  its signature checks
};

//  Makes room for batches of config->batch packets and starts the
//  signature helpers (config->verify_threads).
broker_publish_t *
    broker_publish_new (const broker_config_t *config);
void
    broker_publish_destroy (broker_publish_t **self_p);

//  Opens the batch's transaction unless it is open. Returns 0, or -1 when
//  it cannot be opened or a write in it already failed.
int
    broker_publish_txn (broker_ctx_t *ctx);

//  Marks the batch's transaction failed, keeping certbus_reason () and its
//  code as the last error: flush then rolls back and refuses the batch.
void
    broker_publish_txn_fail (broker_ctx_t *ctx);

//  True while a batch transaction is open.
bool
    broker_publish_in_txn (broker_ctx_t *ctx);

//  Receives the next message from the ROUTER into item and decodes what
//  can be decoded (and spends the rate quota of a publish). Returns 0, or
//  -1 when there was nothing usable.
int
    broker_publish_recv (broker_ctx_t *ctx, broker_item_t *item);

//  Checks the signatures of the first count items' publishes on every core.
void
    broker_publish_verify (broker_ctx_t *ctx, int count);

//  Frees what item holds.
void
    broker_item_clear (broker_item_t *item);

//  Decides one publish of the batch (see the contract in publish.c).
void
    broker_publish_handle (broker_ctx_t *ctx, zframe_t *routing, const certbus_cert_t *sender,
                           broker_item_t *item);

//  Commits the batch, then answers every publish in it.
void
    broker_publish_flush (broker_ctx_t *ctx);

#endif
