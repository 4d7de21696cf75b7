/*  link.c - the node's connection to the broker: one CURVE DEALER, and a
    watch on its connection (a libzmq socket monitor on an inproc PAIR)
    SPDX-License-Identifier: MPL-2.0
*/
#include "link.h"
#include <stdatomic.h>
#include <string.h>

#define s_DIAL_SLICE_MS 2000 //  most a one-shot dial waits on a silent endpoint
#define s_DIAL_PAUSE_MS 200  //  pause after a round in which every endpoint refused

//  The events a watch asks for: what tells us to stay or to move on
#define s_WATCH_EVENTS                                                                  \
    (ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_DISCONNECTED \
     | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL       \
     | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

//  Names the inproc endpoints of watches: unique in the process, since an
//  endpoint may stay taken for a moment after its monitor stopped
static atomic_uint s_watches;

//  A PAIR that receives link's connection events, or NULL
static zsock_t *
s_watch (zsock_t *link)
{
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://certbus-node-link-%u",
              atomic_fetch_add (&s_watches, 1));
    if (zmq_socket_monitor (zsock_resolve (link), endpoint, s_WATCH_EVENTS) != 0)
        return NULL;
    zsock_t *watch = zsock_new (ZMQ_PAIR);
    if (zsock_connect (watch, "%s", endpoint) != 0) {
        zmq_socket_monitor (zsock_resolve (link), NULL, 0);
        zsock_destroy (&watch);
    }
    return watch;
}

int
node_link_open (zsock_t **link_p, zsock_t **watch_p, const node_ctx_t *ctx, const char *endpoint,
                const node_link_opts_t *opts)
{
    assert (link_p);
    assert (ctx);
    assert (endpoint);
    assert (opts);
    zsock_t *link = zsock_new (ZMQ_DEALER);
    zsock_set_curve_serverkey_bin (link, ctx->broker_curve);
    zsock_set_curve_publickey_bin (link, certbus_identity_curve_public (ctx->identity));
    zsock_set_curve_secretkey_bin (link, certbus_identity_curve_secret (ctx->identity));
    zsock_set_maxmsgsize (link, CERTBUS_MAX_PACKET);
    zsock_set_linger (link, 0);
    zsock_set_reconnect_ivl (link, 100);
    zsock_set_reconnect_ivl_max (link, 5000);
    zsock_set_sndhwm (link, 10000);
    zsock_set_sndtimeo (link, opts->send_timeout_ms);
    if (opts->heartbeat_ms > 0) {
        zsock_set_heartbeat_ivl (link, opts->heartbeat_ms);
        zsock_set_heartbeat_timeout (link, opts->peer_timeout_ms);
    }
    if (watch_p)
        *watch_p = s_watch (link);
    *link_p = link;
    return zsock_connect (link, "%s", endpoint) == 0 ? 0 : -1;
}

node_link_event_t
node_link_event (zsock_t *watch)
{
    assert (watch);
    node_link_event_t event = NODE_LINK_NOTHING;
    zmsg_t *msg = (zsock_events (watch) & ZMQ_POLLIN) ? zmsg_recv (watch) : NULL;
    zframe_t *head = msg ? zmsg_first (msg) : NULL;
    //  libzmq's event: a 16-bit event number, then a 32-bit value
    if (head && zframe_size (head) >= sizeof (uint16_t)) {
        uint16_t number;
        memcpy (&number, zframe_data (head), sizeof number);
        if (number == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            event = NODE_LINK_UP;
        else if (number & s_WATCH_EVENTS)
            event = NODE_LINK_DOWN;
    }
    zmsg_destroy (&msg);
    return event;
}

void
node_link_unwatch (zsock_t **watch_p, zsock_t *link)
{
    assert (watch_p);
    if (!*watch_p)
        return;
    if (link)
        zmq_socket_monitor (zsock_resolve (link), NULL, 0);
    zsock_destroy (watch_p);
}

//  Waits until deadline for watch to say whether its link is up; true
//  when it is
static bool
s_await_up (zsock_t *watch, int64_t deadline, bool *refused)
{
    zpoller_t *poller = zpoller_new (watch, NULL);
    node_link_event_t event = NODE_LINK_NOTHING;
    while (event == NODE_LINK_NOTHING && certbus_now_ms () < deadline) {
        if (zpoller_wait (poller, (int) (deadline - certbus_now_ms ())))
            event = node_link_event (watch);
        else if (zpoller_terminated (poller))
            break;
    }
    zpoller_destroy (&poller);
    *refused = event == NODE_LINK_DOWN;
    return event == NODE_LINK_UP;
}

int
node_link_dial (zsock_t **link_p, const node_ctx_t *ctx, const node_link_opts_t *opts,
                int64_t deadline)
{
    assert (link_p);
    size_t count = node_endpoints_count (ctx->endpoints);
    if (count == 1) {
        if (node_link_open (link_p, NULL, ctx, node_endpoints_at (ctx->endpoints, 0), opts) == 0)
            return 0;
        zsock_destroy (link_p);
        certbus_fail (CERTBUS_E_UNAVAILABLE, "cannot connect to %s", ctx->endpoint);
        return -1;
    }
    //  Each endpoint in turn from the first: a one-shot path keeps no
    //  memory of which one served last time
    bool all_refused = true;
    for (size_t i = 0; certbus_now_ms () < deadline; i++) {
        int64_t now = certbus_now_ms ();
        if (i && i % count == 0) {
            if (all_refused)
                zclock_sleep (
                    (int) (deadline - now < s_DIAL_PAUSE_MS ? deadline - now : s_DIAL_PAUSE_MS));
            all_refused = true;
            now = certbus_now_ms ();
        }
        zsock_t *watch = NULL;
        int rc = node_link_open (link_p, &watch, ctx, node_endpoints_at (ctx->endpoints, i), opts);
        bool refused = true;
        bool up = rc == 0 && watch
                  && s_await_up (watch,
                                 now + s_DIAL_SLICE_MS < deadline ? now + s_DIAL_SLICE_MS
                                                                  : deadline,
                                 &refused);
        all_refused = all_refused && refused;
        node_link_unwatch (&watch, *link_p);
        if (up)
            return 0;
        zsock_destroy (link_p);
    }
    certbus_fail (CERTBUS_E_UNAVAILABLE, "no broker reachable at %s", ctx->endpoint);
    return -1;
}

Certbus__Packet *
node_link_recv (zsock_t *link, int64_t deadline)
{
    assert (link);
    Certbus__Packet *packet = NULL;
    zpoller_t *poller = zpoller_new (link, NULL);
    while (!packet && certbus_now_ms () < deadline) {
        if (!zpoller_wait (poller, (int) (deadline - certbus_now_ms ())))
            break;
        zframe_t *frame = zframe_recv (link);
        if (frame && certbus_packet_decode (frame, &packet) != CERTBUS_OK) {
            certbus_codec_free (packet);
            packet = NULL;
        }
        zframe_destroy (&frame);
    }
    zpoller_destroy (&poller);
    return packet;
}
