/*  curve_stranger.c - CURVE handshakes with keys the Council never signed,
    for tests/integration/flood.sh
    SPDX-License-Identifier: MPL-2.0

    usage: curve_stranger ENDPOINT BROKER_PUB COUNT [PARALLEL]

    Makes COUNT DEALER sockets, each with a fresh random CURVE key pair and
    the broker's real server key (read from BROKER_PUB, the ZPL file that
    `certbus-broker init` writes), PARALLEL of them at a time. Each connects
    to ENDPOINT (127.0.0.1 only), queues a Hello-looking frame and watches
    its socket monitor: the broker's ZAP handler must refuse the handshake
    (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH), never admit it, and no reply may
    arrive. Every wait is bounded (5 s per batch).

    Prints one line "strangers: N refused, N admitted, N undecided, N
    replies" and exits 0 only when every stranger was refused and none got
    an answer. Standalone: libzmq, CZMQ (zconfig) and libsodium only, so
    the script can build it with cc.
*/
#include <czmq.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define s_BATCH_MS 5000
#define s_MAX_PARALLEL 50

typedef struct {
    void *dealer;
    void *monitor; //  PAIR reading the dealer's events
    int outcome;   //  0 undecided, 1 refused, 2 admitted
    int replies;
} s_stranger_t;

static int
s_unhex (const char *hex, uint8_t *out, size_t size)
{
    if (!hex || strlen (hex) != 2 * size)
        return -1;
    for (size_t i = 0; i < size; i++) {
        unsigned value;
        if (sscanf (hex + 2 * i, "%2x", &value) != 1)
            return -1;
        out [i] = (uint8_t) value;
    }
    return 0;
}

//  Reads one monitor event; returns its number, or 0 when none is ready.
static int
s_event (void *monitor)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    if (zmq_msg_recv (&msg, monitor, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&msg);
        return 0;
    }
    uint16_t event = 0;
    if (zmq_msg_size (&msg) >= 2)
        memcpy (&event, zmq_msg_data (&msg), 2);
    bool more = zmq_msg_more (&msg);
    zmq_msg_close (&msg);
    while (more) { //  the endpoint frame
        zmq_msg_init (&msg);
        zmq_msg_recv (&msg, monitor, 0);
        more = zmq_msg_more (&msg);
        zmq_msg_close (&msg);
    }
    return event;
}

int
main (int argc, char *argv [])
{
    if (argc < 4) {
        fprintf (stderr, "usage: curve_stranger ENDPOINT BROKER_PUB COUNT [PARALLEL]\n");
        return 2;
    }
    const char *endpoint = argv [1];
    int count = atoi (argv [3]);
    int parallel = argc > 4 ? atoi (argv [4]) : 10;
    if (strncmp (endpoint, "tcp://127.0.0.1:", 16) != 0) {
        fprintf (stderr, "curve_stranger: only tcp://127.0.0.1 endpoints\n");
        return 2;
    }
    if (count < 1 || count > 10000 || parallel < 1 || parallel > s_MAX_PARALLEL) {
        fprintf (stderr, "curve_stranger: COUNT 1..10000, PARALLEL 1..%d\n", s_MAX_PARALLEL);
        return 2;
    }
    if (sodium_init () < 0)
        return 2;
    void *ctx = zsys_init ();
    zconfig_t *config = zconfig_load (argv [2]);
    uint8_t server [32];
    if (!config || s_unhex (zconfig_get (config, "broker/curve", NULL), server, 32) != 0) {
        fprintf (stderr, "curve_stranger: no broker/curve key in %s\n", argv [2]);
        zconfig_destroy (&config);
        return 2;
    }
    zconfig_destroy (&config);
    int refused = 0, admitted = 0, undecided = 0, replies = 0;
    static const uint8_t hello [] = {0x08, 0x01, 0x52, 0x00}; //  version 1, empty Hello
    for (int done = 0; done < count;) {
        int batch = count - done < parallel ? count - done : parallel;
        s_stranger_t strangers [s_MAX_PARALLEL];
        memset (strangers, 0, sizeof strangers);
        for (int i = 0; i < batch; i++) {
            s_stranger_t *s = &strangers [i];
            uint8_t public [32], secret [32];
            crypto_box_keypair (public, secret);
            s->dealer = zmq_socket (ctx, ZMQ_DEALER);
            int zero = 0, never = -1;
            zmq_setsockopt (s->dealer, ZMQ_LINGER, &zero, sizeof zero);
            zmq_setsockopt (s->dealer, ZMQ_RECONNECT_IVL, &never, sizeof never);
            zmq_setsockopt (s->dealer, ZMQ_CURVE_SERVERKEY, server, 32);
            zmq_setsockopt (s->dealer, ZMQ_CURVE_PUBLICKEY, public, 32);
            zmq_setsockopt (s->dealer, ZMQ_CURVE_SECRETKEY, secret, 32);
            sodium_memzero (secret, sizeof secret);
            char name [64];
            snprintf (name, sizeof name, "inproc://stranger-%d", done + i);
            zmq_socket_monitor (s->dealer, name,
                                ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED
                                    | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                                    | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL);
            s->monitor = zmq_socket (ctx, ZMQ_PAIR);
            zmq_setsockopt (s->monitor, ZMQ_LINGER, &zero, sizeof zero);
            zmq_connect (s->monitor, name);
            zmq_connect (s->dealer, endpoint);
            zmq_send (s->dealer, hello, sizeof hello, ZMQ_DONTWAIT);
        }
        int64_t deadline = zclock_mono () + s_BATCH_MS;
        int open = batch;
        while (open > 0 && zclock_mono () < deadline) {
            zmq_pollitem_t items [2 * s_MAX_PARALLEL];
            for (int i = 0; i < batch; i++) {
                items [2 * i] = (zmq_pollitem_t){strangers [i].monitor, 0, ZMQ_POLLIN, 0};
                items [2 * i + 1] = (zmq_pollitem_t){strangers [i].dealer, 0, ZMQ_POLLIN, 0};
            }
            zmq_poll (items, 2 * batch, (long) (deadline - zclock_mono ()));
            for (int i = 0; i < batch; i++) {
                s_stranger_t *s = &strangers [i];
                int event;
                while ((event = s_event (s->monitor)) != 0) {
                    if (s->outcome != 0)
                        continue;
                    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
                        s->outcome = 2;
                    else
                        s->outcome = 1; //  refused (auth, or the server hung up)
                    open--;
                }
                zmq_msg_t msg;
                zmq_msg_init (&msg);
                while (zmq_msg_recv (&msg, s->dealer, ZMQ_DONTWAIT) >= 0)
                    s->replies++;
                zmq_msg_close (&msg);
            }
        }
        for (int i = 0; i < batch; i++) {
            s_stranger_t *s = &strangers [i];
            refused += s->outcome == 1;
            admitted += s->outcome == 2;
            undecided += s->outcome == 0;
            replies += s->replies;
            zmq_socket_monitor (s->dealer, NULL, 0);
            zmq_close (s->monitor);
            zmq_close (s->dealer);
        }
        done += batch;
    }
    printf ("strangers: %d refused, %d admitted, %d undecided, %d replies\n", refused, admitted,
            undecided, replies);
    return refused == count && replies == 0 ? 0 : 1;
}
