/*  link.h - the node's connection to the broker: one CURVE DEALER, made
    the same way for the daemon and for the CLI's direct paths
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

//  Makes a DEALER that authenticates with CURVE as our identity and
//  expects the broker's CURVE key, both from ctx, and connects it to
//  ctx->endpoint. The socket is made even when the connect fails (a daemon
//  keeps it and reports the failure), so *link_p is always set; returns 0,
//  or -1 when the endpoint does not connect.
int
    node_link_open (zsock_t **link_p, const node_ctx_t *ctx, const node_link_opts_t *opts);

//  Packets go out with the typed senders of certbus/packet.h
//  (certbus_packet_send_*), routing NULL.

//  Waits until deadline (unix ms) for the next packet from the broker that
//  decodes; frames that do not are skipped. Returns the packet (free it
//  with certbus_codec_free), or NULL when the deadline passed.
Certbus__Packet *
    node_link_recv (zsock_t *link, int64_t deadline);

#endif
