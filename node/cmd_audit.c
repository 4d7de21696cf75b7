/*  cmd_audit.c - the audit command: proofs that the broker logged a message
    SPDX-License-Identifier: MPL-2.0
*/
#include "cli.h"
#include "link.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The last tree head this node verified and kept. Returns true with
//  head filled when there is one that still verifies.
static bool
s_old_head (node_ctx_t *ctx, certbus_tree_head_t *head)
{
    uint8_t *bytes = NULL;
    size_t size;
    bool have = false;
    if (node_store_blob_get (ctx->store, "tree_head", &bytes, &size) == 0)
        have = certbus_tree_head_verify (bytes, size, ctx->broker_sign, head) == CERTBUS_OK;
    free (bytes);
    return have;
}

//  A message that reached us inside a forward: the broker proves only
//  to a message's publisher and recipients, and we were a recipient of
//  the forward, which carries the origin's signed envelope. So the
//  forward is what is proved: id becomes its id, and via its text.
static void
s_proved_id (node_ctx_t *ctx, uint8_t id [CERTBUS_ID_SIZE], char via [CERTBUS_ID_STR_SIZE])
{
    uint8_t *held = NULL;
    size_t held_size = 0;
    certbus_envelope_t *outer = NULL;
    if (node_store_inbox_envelope (ctx->store, id, &held, &held_size) == 1
        && certbus_envelope_decode (held, held_size, &outer) == CERTBUS_OK
        && memcmp (certbus_envelope_header (outer)->id, id, CERTBUS_ID_SIZE) != 0) {
        memcpy (id, certbus_envelope_header (outer)->id, CERTBUS_ID_SIZE);
        certbus_id_format (id, via);
    }
    certbus_envelope_destroy (&outer);
    free (held);
}

//  Asks the broker for the proofs about id over a link of its own.
//  Returns the ProofReply packet, or NULL having printed why not.
static Certbus__Packet *
s_ask (node_ctx_t *ctx, const uint8_t *id, uint64_t old_size)
{
    zsock_t *link = NULL;
    node_link_opts_t opts = {.send_timeout_ms = 5000};
    Certbus__Packet *reply = NULL;
    //  Finding a broker that answers (one of a pair) counts against the
    //  same 10 s as the answer itself
    int64_t deadline = certbus_now_ms () + 10000;
    if (node_link_dial (&link, ctx, &opts, deadline) != 0
        || certbus_packet_send_proof_request (link, NULL, id, CERTBUS_ID_SIZE, old_size) != 0) {
        node_cli_error ("cannot reach the broker at %s", ctx->endpoint);
        zsock_destroy (&link);
        return NULL;
    }
    //  Skip anything but the proof (an error, or nothing, says why)
    while (!reply) {
        Certbus__Packet *packet_in = node_link_recv (link, deadline);
        if (!packet_in) {
            node_cli_error ("no answer from the broker at %s", ctx->endpoint);
            break;
        }
        if (packet_in->body_case == CERTBUS__PACKET__BODY_PROOF_REPLY)
            reply = packet_in;
        else if (packet_in->body_case == CERTBUS__PACKET__BODY_ERROR) {
            node_cli_error ("the broker refused: %s", packet_in->error->reason);
            certbus_codec_free (packet_in);
            break;
        }
        else
            certbus_codec_free (packet_in);
    }
    zsock_destroy (&link);
    return reply;
}

//  Prints why a proof was refused. Returns 1.
static int
s_refused (const certbus_proof_result_t *result, const certbus_tree_head_t *old_head)
{
    switch (result->failed) {
        case CERTBUS_PROOF_HEAD:
            return node_cli_error ("tree head refused: %s", certbus_reason ());
        case CERTBUS_PROOF_RECORD:
            return node_cli_error ("audit record does not decode: %s", certbus_reason ());
        case CERTBUS_PROOF_OTHER_RECORD:
            return node_cli_error ("the broker proved a record of another message");
        case CERTBUS_PROOF_INCLUSION:
            return node_cli_error ("inclusion proof FAILED: %s", certbus_reason ());
        case CERTBUS_PROOF_ROLLED_BACK:
            return node_cli_error ("the broker's tree head (size %llu) is older than one "
                                   "already seen (size %llu): the log was rolled back",
                                   (unsigned long long) result->head.size,
                                   (unsigned long long) old_head->size);
        case CERTBUS_PROOF_CONSISTENCY:
            return node_cli_error ("consistency proof FAILED from size %llu to %llu: %s",
                                   (unsigned long long) old_head->size,
                                   (unsigned long long) result->head.size, certbus_reason ());
        default:
            return node_cli_fail ();
    }
}

//  Asks the broker for proofs about message id (one request on a
//  connection of its own) and verifies them against the last tree head
//  this node has seen; keeps the newer head.
int
node_cmd_audit (node_args_t *args)
{
    uint8_t id [CERTBUS_ID_SIZE];
    if (args->argc != 2 || !streq (args->argv [0], "prove")
        || certbus_id_parse (args->argv [1], id) != 0)
        return node_cli_error ("usage: certbus-node audit prove --dir DIR MESSAGE_ID");
    node_ctx_t *ctx = node_ctx_open (args->dir, true);
    if (!ctx)
        return node_cli_fail ();
    int rc = 1;
    certbus_tree_head_t old_head = {0};
    bool have_old = s_old_head (ctx, &old_head);
    char via [CERTBUS_ID_STR_SIZE] = "";
    s_proved_id (ctx, id, via);
    Certbus__Packet *reply = s_ask (ctx, id, have_old ? old_head.size : 0);
    if (!reply)
        goto cleanup;
    Certbus__ProofReply *proof = reply->proof_reply;
    if (proof->code) {
        rc = node_cli_error ("the broker cannot prove it: %s", proof->reason);
        goto cleanup;
    }
    certbus_proof_result_t result;
    if (certbus_proof_verify (proof, ctx->broker_sign, id, have_old ? &old_head : NULL, &result)) {
        rc = s_refused (&result, &old_head);
        goto cleanup;
    }
    if (node_store_blob_set (ctx->store, "tree_head", proof->tree_head.data,
                             proof->tree_head.len)) {
        rc = node_cli_fail ();
        goto cleanup;
    }
    char root_hex [65];
    certbus_hex (result.head.root, 32, root_hex);
    node_esc_t e = {0};
    if (*via)
        printf ("message %s reached us forwarded in %s: proving that forward\n", args->argv [1],
                via);
    printf ("message %s (publish by %s) is record %llu of the audit log\n"
            "inclusion proof verified against the signed tree head of size %llu, root %s\n",
            *via ? via : args->argv [1], node_esc (&e, result.origin),
            (unsigned long long) result.index, (unsigned long long) result.head.size, root_hex);
    if (have_old)
        printf ("consistency proof verified from the head seen before (size %llu)\n",
                (unsigned long long) old_head.size);
    node_esc_free (&e);
    rc = 0;
cleanup:
    certbus_codec_free (reply);
    node_ctx_destroy (&ctx);
    return rc;
}
