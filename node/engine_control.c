/*  engine_control.c - the node engine's control socket: the CLI queues
    and sends through the running daemon, and asks for its status
    SPDX-License-Identifier: MPL-2.0
*/
#include "engine_self.h"
#include <stdlib.h>
#include <string.h>

//  Answers a control request with an outcome: state, code, reason, rule
static void
s_answer (self_t *self, zframe_t **routing_p, node_outcome_t outcome, uint32_t code,
          const char *reason, const char *rule)
{
    zframe_send (routing_p, self->control, ZFRAME_MORE);
    zstr_sendm (self->control, node_outcome_name (outcome));
    zstr_sendfm (self->control, "%u", code);
    zstr_sendm (self->control, reason ? reason : "");
    zstr_send (self->control, rule ? rule : "");
}

void
node_engine_answer_waiters (self_t *self, bool expire_all)
{
    int64_t now = certbus_now_ms ();
    node_waiter_t *waiter = zlist_first (self->waiters);
    while (waiter) {
        node_outbox_state_t state = NODE_OUTBOX_PENDING;
        char *reason = NULL, *rule = NULL;
        uint32_t code = 0;
        int found = node_store_outbox_get (self->ctx->store, waiter->id, &state, &code, &reason,
                                           &rule);
        bool done = found == 1 && state != NODE_OUTBOX_PENDING;
        node_outcome_t outcome = node_outcome_from_outbox (state);
        if (!done && (expire_all || now >= waiter->deadline)) {
            outcome = found == 1 ? NODE_OUTCOME_QUEUED : NODE_OUTCOME_ERROR;
            free (reason);
            reason = strdup (self->connected ? "no answer from the broker yet"
                                             : "no broker reachable");
            done = true;
        }
        node_waiter_t *next = zlist_next (self->waiters);
        if (done) {
            s_answer (self, &waiter->routing, outcome, code, reason, rule);
            zlist_remove (self->waiters, waiter);
            free (waiter);
        }
        free (reason);
        free (rule);
        waiter = next;
    }
}

//  ---------------------------------------------------------------------
//  Control and status

char *
node_engine_status_json (self_t *self)
{
    if (node_engine_directory_stale (self))
        snprintf (self->last_error, sizeof self->last_error,
                  "directory %llu is older than version %llu, which the broker announced, and "
                  "the newer one could not be fetched: deliveries are held",
                  (unsigned long long) node_engine_directory_have (self),
                  (unsigned long long) self->directory_known);
    certbus_sb_t sb = {0};
    certbus_sb_printf (&sb, "{\"org\":");
    certbus_sb_json_str (&sb, self->ctx->org);
    certbus_sb_printf (&sb, ",\"running\":true,\"broker\":");
    certbus_sb_json_str (&sb, self->ctx->endpoint);
    certbus_sb_printf (&sb, ",\"broker_current\":");
    certbus_sb_json_str (&sb, node_endpoints_at (self->ctx->endpoints, self->current));
    certbus_sb_printf (
        &sb,
        ",\"connected\":%s,\"broker_silent_ms\":%lld,\"directory\":%llu,"
        "\"outbox_pending\":%lld,\"outbox_rejected\":%lld,\"inbox\":%lld,\"delivered\":%llu,"
        "\"duplicates\":%llu,\"refused\":%llu,\"published\":%llu,\"reconnects\":%llu,"
        "\"held\":%zu,\"directory_known\":%llu,\"directory_stale\":%s,\"last_error\":",
        self->connected ? "true" : "false", (long long) (certbus_now_ms () - self->last_rx),
        (unsigned long long) (self->ctx->directory ? certbus_directory_serial (self->ctx->directory)
                                                   : 0),
        (long long) node_store_outbox_count (self->ctx->store, NODE_OUTBOX_PENDING),
        (long long) node_store_outbox_count (self->ctx->store, NODE_OUTBOX_REJECTED),
        (long long) node_store_inbox_count (self->ctx->store),
        (unsigned long long) self->stats.delivered, (unsigned long long) self->stats.duplicates,
        (unsigned long long) self->stats.refused, (unsigned long long) self->stats.published,
        (unsigned long long) self->stats.reconnects, zlist_size (self->held),
        (unsigned long long) self->directory_known,
        node_engine_directory_stale (self) ? "true" : "false");
    certbus_sb_json_str (&sb, self->last_error);
    certbus_sb_printf (&sb, "}");
    return sb.data;
}

//  A SEND or QUEUE request of a control batch
typedef struct {
    zframe_t *routing;
    uint8_t id [CERTBUS_ID_SIZE];
    int wait_ms;
    bool queue; //  QUEUE: its envelope went into the outbox
} s_request_t;

#define s_CONTROL_BATCH 256

//  Handles a batch of control requests. QUEUE hands over a sealed
//  envelope: the daemon, the only writer while it runs, puts the batch's
//  envelopes into the outbox in one transaction (one fsync for many
//  publishers), and only once that is durable sends them and starts
//  waiting for the broker's answers. SEND does the same for an envelope
//  already in the outbox.
void
node_engine_handle_control (self_t *self)
{
    s_request_t *requests = certbus_calloc (s_CONTROL_BATCH, sizeof (s_request_t));
    size_t count = 0;
    bool in_txn = false;
    for (int n = 0; n < s_CONTROL_BATCH && (zsock_events (self->control) & ZMQ_POLLIN); n++) {
        zmsg_t *msg = zmsg_recv (self->control);
        if (!msg)
            break;
        zframe_t *routing = zmsg_pop (msg);
        char *command = zmsg_popstr (msg);
        bool queue = command && streq (command, "QUEUE") && zmsg_size (msg) == 4;
        bool send = command && streq (command, "SEND") && zmsg_size (msg) == 2;
        zframe_t *id = (queue || send) ? zmsg_pop (msg) : NULL;
        if (id && zframe_size (id) == CERTBUS_ID_SIZE) {
            int rc = 0;
            if (queue) {
                zframe_t *envelope = zmsg_pop (msg), *payload = zmsg_pop (msg);
                if (!in_txn)
                    in_txn = node_store_begin (self->ctx->store) == 0;
                rc = node_ctx_queue (self->ctx, zframe_data (envelope), zframe_size (envelope),
                                     zframe_size (payload) ? zframe_data (payload) : NULL,
                                     zframe_size (payload));
                zframe_destroy (&envelope);
                zframe_destroy (&payload);
            }
            char *wait = zmsg_popstr (msg);
            if (rc != 0)
                s_answer (self, &routing, NODE_OUTCOME_ERROR, CERTBUS_E_IO, certbus_reason (),
                          NULL);
            else {
                s_request_t *request = &requests [count++];
                request->routing = routing;
                routing = NULL;
                memcpy (request->id, zframe_data (id), CERTBUS_ID_SIZE);
                request->wait_ms = wait ? atoi (wait) : 0;
                request->queue = queue;
            }
            zstr_free (&wait);
        }
        else if (command && streq (command, "STATUS")) {
            char *json = node_engine_status_json (self);
            zframe_send (&routing, self->control, ZFRAME_MORE);
            zstr_send (self->control, json);
            free (json);
        }
        else {
            zframe_send (&routing, self->control, ZFRAME_MORE);
            zstr_send (self->control, "error");
        }
        zframe_destroy (&id);
        zframe_destroy (&routing);
        zstr_free (&command);
        zmsg_destroy (&msg);
    }
    bool committed = !in_txn || node_store_commit (self->ctx->store) == 0;
    for (size_t i = 0; i < count; i++) {
        s_request_t *request = &requests [i];
        if (request->queue && !committed) {
            //  Nothing of the batch reached the outbox
            s_answer (self, &request->routing, NODE_OUTCOME_ERROR, CERTBUS_E_IO, certbus_reason (),
                      NULL);
            continue;
        }
        node_waiter_t *waiter = certbus_calloc (1, sizeof *waiter);
        waiter->routing = request->routing;
        memcpy (waiter->id, request->id, CERTBUS_ID_SIZE);
        waiter->deadline = certbus_now_ms () + request->wait_ms;
        zlist_append (self->waiters, waiter);
        if (self->connected) {
            //  a lone "sent" mark: it paces resends only, so it needs no
            //  fsync, and a lost one merely means one more resend
            node_store_set_durable (self->ctx->store, false);
            node_store_outbox_one (self->ctx->store, waiter->id, node_engine_resend_one, self);
            node_store_set_durable (self->ctx->store, true);
        }
    }
    free (requests);
    node_engine_answer_waiters (self, false);
}
