/*  zap.h - the broker's ZAP handler (ZeroMQ RFC 27): admits exactly the
    transport keys of current, unrevoked members
    SPDX-License-Identifier: MPL-2.0

    Our own handler rather than CZMQ's zauth: Debian's CZMQ has no draft API,
    so a zcertstore cannot drop a revoked key. The actor signals 0 once it
    is bound to inproc://zeromq.zap.01, or -1 when it cannot bind (another
    handler already runs in this process): the broker then refuses to start,
    because libzmq admits every CURVE client when no handler answers.

    Pipe commands:
        KEYS key...   replace the admitted set; each frame one 32-byte key
        $TERM         end the actor
*/
#ifndef BROKER_ZAP_H_INCLUDED
#define BROKER_ZAP_H_INCLUDED

#include <czmq.h>

#define BROKER_ZAP_ENDPOINT "inproc://zeromq.zap.01"

void
    broker_zap_actor (zsock_t *pipe, void *args);

//  Asks the running handler about an unknown key over a real ZAP exchange;
//  returns 0 when it answers and refuses, -1 otherwise (no handler, or one
//  that admits strangers).
int
    broker_zap_selftest (void);

#endif
