/*  link.c - the node's connection to the broker: one CURVE DEALER
    SPDX-License-Identifier: MPL-2.0
*/
#include "link.h"

int
node_link_open (zsock_t **link_p, const node_ctx_t *ctx, const node_link_opts_t *opts)
{
    assert (link_p);
    assert (ctx);
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
    *link_p = link;
    return zsock_connect (link, "%s", ctx->endpoint) == 0 ? 0 : -1;
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
