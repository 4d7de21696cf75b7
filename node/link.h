/*  link.h - the node's connection to the broker: one CURVE DEALER, made
    the same way for the daemon and for the CLI's direct paths, and a watch
    on its connection for a node that has several endpoints to move between
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef NODE_LINK_H_INCLUDED
#define NODE_LINK_H_INCLUDED

#include "context.h"

typedef struct {
    int send_timeout_ms; //  0: a send never blocks; -1: it may wait forever
    int heartbeat_ms;    //  ZMTP heartbeat interval, 0 for none
    int peer_timeout_ms; //  ZMTP heartbeat timeout, with heartbeat_ms
} node_link_opts_t;

//  What a watch reports of its link's connection
typedef enum {
    NODE_LINK_NOTHING = 0, //  no event waiting, or one that changes nothing
    NODE_LINK_UP,          //  the CURVE handshake with the broker completed
    NODE_LINK_DOWN         //  refused, dropped, or the handshake failed
} node_link_event_t;

//  Makes a DEALER that authenticates with CURVE as our identity and
//  expects the broker's CURVE key, both from ctx, and connects it to
//  endpoint (one of ctx->endpoints). With watch_p, *watch_p gets a watch on
//  its connection (see node_link_event), set up before it connects so that
//  no event is missed, or NULL when libzmq cannot make one. The socket is
//  made even when the connect fails (a daemon keeps it and reports the
//  failure), so *link_p is always set; returns 0, or -1 when the endpoint
//  does not connect.
int
    node_link_open (zsock_t **link_p, zsock_t **watch_p, const node_ctx_t *ctx,
                    const char *endpoint, const node_link_opts_t *opts);

//  Reads the next connection event of a watch without waiting; returns
//  what it means for the link.
node_link_event_t
    node_link_event (zsock_t *watch);

//  Stops the watch on link and destroys it; accepts a NULL *watch_p.
//  Call it before the link is destroyed.
void
    node_link_unwatch (zsock_t **watch_p, zsock_t *link);

//  For the CLI's one-shot paths: a link to the first endpoint of ctx, in
//  turn, whose broker completes the handshake before deadline (unix ms).
//  A refused or dropped endpoint is left at once, a silent one after at
//  most two seconds; a round in which every endpoint refused ends with a
//  short pause. With a single endpoint, it is node_link_open without any
//  wait, as before lists existed. Returns 0 with *link_p set, or -1 with
//  *link_p NULL and the reason set.
int
    node_link_dial (zsock_t **link_p, const node_ctx_t *ctx, const node_link_opts_t *opts,
                    int64_t deadline);

//  Packets go out with the typed senders of certbus/packet.h
//  (certbus_packet_send_*), routing NULL.

//  Waits until deadline (unix ms) for the next packet from the broker that
//  decodes; frames that do not are skipped. Returns the packet (free it
//  with certbus_codec_free), or NULL when the deadline passed.
Certbus__Packet *
    node_link_recv (zsock_t *link, int64_t deadline);

#endif
