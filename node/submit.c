/*  submit.c - handing a sealed envelope to the broker from the CLI: through
    the running daemon, or straight over a link of its own when none runs
    SPDX-License-Identifier: MPL-2.0
*/
#include "cli.h"
#include "link.h"
#include "outcome.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  What the broker (or the daemon) said about one publish
typedef struct {
    node_outcome_t outcome;
    uint32_t code;
    char *reason; //  new string or NULL
    char *rule;   //  new string or NULL
} s_answer_t;

static void
s_answer_clear (s_answer_t *answer)
{
    free (answer->reason);
    free (answer->rule);
    memset (answer, 0, sizeof *answer);
}

//  Keeps the case participants the broker named in its acknowledgement of
//  our message id (as the daemon does for what it sends)
static void
s_keep_participants (node_ctx_t *ctx, const uint8_t *id, const Certbus__PubAck *ack)
{
    uint8_t case_id [CERTBUS_ID_SIZE];
    char *list = ack->n_participants
                     ? node_participants_join (ack->participants, ack->n_participants)
                     : NULL;
    if (list && node_store_outbox_case (ctx->store, id, case_id) == 1
        && node_store_case_participants_set (ctx->store, case_id, ack->sequence, list))
        node_cli_fail ();
    free (list);
}

//  Reads one packet from the broker into answer when it settles our publish
//  of id. Returns true when it did.
static bool
s_take_reply (node_ctx_t *ctx, const uint8_t *id, const Certbus__Packet *reply, s_answer_t *answer)
{
    if (reply->body_case == CERTBUS__PACKET__BODY_PUBACK
        && reply->puback->message_id.len == CERTBUS_ID_SIZE
        && memcmp (reply->puback->message_id.data, id, CERTBUS_ID_SIZE) == 0) {
        const Certbus__PubAck *ack = reply->puback;
        answer->outcome = node_puback_outcome (ack);
        answer->code = ack->code;
        answer->reason = strdup (ack->reason);
        answer->rule = strdup (ack->rule);
        if (answer->outcome != NODE_OUTCOME_QUEUED)
            node_store_outbox_result (ctx->store, id, node_outcome_outbox_state (answer->outcome),
                                      ack->code, ack->reason, ack->rule, ack->sequence,
                                      ack->accepted_at);
        if (node_outcome_accepted (answer->outcome))
            s_keep_participants (ctx, id, ack);
        return true;
    }
    if (reply->body_case == CERTBUS__PACKET__BODY_ERROR
        && reply->error->code == CERTBUS_E_REVOKED) {
        answer->outcome = NODE_OUTCOME_REJECTED;
        answer->code = reply->error->code;
        answer->reason = strdup (reply->error->reason);
        return true;
    }
    return false;
}

//  Sends one outbox row straight to the broker when no daemon runs, and
//  waits for its acknowledgement, filling answer with what it reached.
static void
s_publish_direct (node_ctx_t *ctx, const uint8_t *id, const uint8_t *envelope, size_t size,
                  int wait_ms, s_answer_t *answer)
{
    zsock_t *link = NULL;
    node_link_opts_t opts = {.send_timeout_ms = wait_ms};
    answer->outcome = NODE_OUTCOME_QUEUED;
    //  One deadline for finding a broker that answers and for its answer
    int64_t deadline = certbus_now_ms () + wait_ms;
    if (node_link_dial (&link, ctx, &opts, deadline) != 0) {
        answer->reason = strdup (certbus_reason ());
        return;
    }
    bool settled = false;
    if (certbus_packet_send_publish (link, NULL, envelope, size) == 0) {
        node_store_outbox_sent (ctx->store, id, certbus_now_ms ());
        while (!settled) {
            Certbus__Packet *reply = node_link_recv (link, deadline);
            if (!reply)
                break;
            settled = s_take_reply (ctx, id, reply, answer);
            certbus_codec_free (reply);
        }
    }
    zsock_destroy (&link);
    if (!settled && !answer->reason)
        answer->reason = zsys_sprintf ("no broker reachable at %s", ctx->endpoint);
}

//  Asks the running daemon to queue and send the envelope. Returns true
//  with answer filled when it answered.
static bool
s_queue_with_daemon (node_ctx_t *ctx, const uint8_t *id, const uint8_t *envelope, size_t size,
                     const uint8_t *payload, size_t payload_size, int wait_ms, s_answer_t *answer)
{
    char *status = node_cli_daemon_status (ctx->dir);
    if (!status)
        return false;
    free (status);
    zmsg_t *request = zmsg_new ();
    zmsg_addstr (request, "QUEUE");
    zmsg_addmem (request, id, CERTBUS_ID_SIZE);
    zmsg_addmem (request, envelope, size);
    zmsg_addmem (request, payload, payload ? payload_size : 0);
    zmsg_addstrf (request, "%d", wait_ms);
    zmsg_t *reply = node_cli_control (ctx->dir, &request, wait_ms + 3000);
    bool answered = reply && zmsg_size (reply) == 4;
    if (answered) {
        char *state = zmsg_popstr (reply);
        answer->outcome = node_outcome_from_name (state);
        free (state);
        char *code_text = zmsg_popstr (reply);
        answer->code = (uint32_t) atoi (code_text);
        free (code_text);
        answer->reason = zmsg_popstr (reply);
        answer->rule = zmsg_popstr (reply);
    }
    zmsg_destroy (&reply);
    return answered;
}

int
node_cli_submit (node_ctx_t *ctx, const uint8_t *id, const uint8_t *envelope, size_t size,
                 const uint8_t *payload, size_t payload_size, int wait_s)
{
    int wait_ms = wait_s > 0 ? wait_s * 1000 : 1;
    s_answer_t answer = {0};
    bool answered = s_queue_with_daemon (ctx, id, envelope, size, payload, payload_size, wait_ms,
                                         &answer);
    char text [CERTBUS_ID_STR_SIZE];
    certbus_id_format (id, text);
    if (answered && answer.outcome == NODE_OUTCOME_ERROR) {
        node_cli_error ("could not queue %s: %s", text,
                        answer.reason ? answer.reason : "unknown error");
        s_answer_clear (&answer);
        return 1;
    }
    if (!answered) {
        //  No daemon, or no answer from it: into the outbox here, unless
        //  the daemon got as far as that
        node_outbox_state_t known;
        uint32_t known_code;
        char *known_reason = NULL, *known_rule = NULL;
        int found = node_store_outbox_get (ctx->store, id, &known, &known_code, &known_reason,
                                           &known_rule);
        free (known_reason);
        free (known_rule);
        s_answer_clear (&answer);
        if (found != 1 && node_ctx_queue (ctx, envelope, size, payload, payload_size) != 0)
            return node_cli_fail ();
        s_publish_direct (ctx, id, envelope, size, wait_ms, &answer);
    }
    int rc = 0;
    if (node_outcome_accepted (answer.outcome))
        printf ("%s\n", text);
    else if (answer.outcome == NODE_OUTCOME_REJECTED) {
        const char *rule = answer.rule;
        node_cli_error ("the broker rejected %s: %s (%s)%s%s", text,
                        answer.reason ? answer.reason : "",
                        certbus_err_name ((certbus_err_t) answer.code),
                        rule && *rule ? "; rule: " : "", rule && *rule ? rule : "");
        rc = 1;
    }
    else {
        printf ("%s\n", text);
        node_cli_error ("%s is queued in the outbox (%s); it will be sent when certbus-node run "
                        "reaches the broker",
                        text, answer.reason ? answer.reason : "no answer yet");
    }
    s_answer_clear (&answer);
    return rc;
}
