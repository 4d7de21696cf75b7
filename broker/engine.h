/*  engine.h - the Council broker's engine, a CZMQ actor
    SPDX-License-Identifier: MPL-2.0

    Start it with zactor_new (broker_engine_actor, &config); it then sends
    one string on the actor pipe: "READY endpoint" once it serves, or
    "ERROR reason" when it cannot start (send $TERM after either).

    Pipe commands (each answered with one string message):
        STATS     -> JSON object: counters, sessions, in-flight windows and bytes
        METRICS   -> Prometheus text exposition
        RELOAD    -> "OK directory=N policy=N rules" or "ERROR reason":
                     loads the policy file and the directory again
        DIRECTORY -> "OK directory=N" or "ERROR reason": loads the
                     directory the Council commands (issue, revoke) stored;
                     they send it after they commit
        ENDPOINT  -> the bound endpoint
        $TERM     end the actor
*/
#ifndef BROKER_ENGINE_H_INCLUDED
#define BROKER_ENGINE_H_INCLUDED

#include <czmq.h>
#include "certbus.h"

typedef struct {
    const char *dir;         //  the broker folder (init'd)
    const char *bind;        //  ROUTER endpoint
    int window;              //  deliveries in flight per member
    int64_t expiry_ms;       //  message lifetime in the queues
    int heartbeat_ms;        //  ping interval, both ways
    int peer_timeout_ms;     //  silence after which a member is gone
    int batch;               //  most publishes per transaction
    int head_records;        //  sign a tree head every N records...
    int head_ms;             //  ...or every T ms, whichever first
    bool full_check;         //  check every database page at start
    int verify_threads;      //  signature helper threads; -1: one per
                             //  core beyond the first (at most 8)
    int64_t created_skew_ms; //  how far a signed `created` may lie ahead
    int64_t inflight_bytes;  //  most bytes of deliveries in flight per member
    int64_t quota_bytes;     //  most envelope bytes stored per member (0: none)
    int quota_rate;          //  publishes per second per member (0: none)
    int quota_burst;         //  publishes a member may send at once
    int64_t receipt_max;     //  largest receipt envelope, bytes
    int noise_burst;         //  refused or bad frames audited one by one per
                             //  member and interval; the rest in one record
    int noise_interval_ms;   //  the interval of that aggregation
    int64_t lease_ms;        //  a pair's lease: how long the active broker
                             //  holds it without renewing
} broker_config_t;

#define BROKER_DEFAULT_BIND "tcp://0.0.0.0:7447"
#define BROKER_DEFAULT_WINDOW 64
#define BROKER_DEFAULT_EXPIRY_MS (30LL * 86400 * 1000)
#define BROKER_DEFAULT_HEARTBEAT_MS 1000
#define BROKER_DEFAULT_PEER_TIMEOUT_MS 10000
#define BROKER_DEFAULT_BATCH 256
#define BROKER_DEFAULT_HEAD_RECORDS 1000
#define BROKER_DEFAULT_HEAD_MS 10000
#define BROKER_DEFAULT_CREATED_SKEW_MS (5LL * 60 * 1000)
#define BROKER_DEFAULT_INFLIGHT_BYTES (8LL * 1024 * 1024)
#define BROKER_DEFAULT_QUOTA_BYTES (4LL * 1024 * 1024 * 1024)
#define BROKER_DEFAULT_QUOTA_RATE 2000
#define BROKER_DEFAULT_QUOTA_BURST 10000
#define BROKER_DEFAULT_RECEIPT_MAX 4096
#define BROKER_DEFAULT_NOISE_BURST 20
#define BROKER_DEFAULT_NOISE_INTERVAL_MS 10000
#define BROKER_DEFAULT_LEASE_MS 10000
//  How often a standby tries to take the lease
#define BROKER_STANDBY_POLL_MS 200
//  Hellos a member may send at once, and how many more it earns per second
#define BROKER_HELLO_BURST 8
#define BROKER_HELLO_RATE 2
//  Connections one member may hold open at once
#define BROKER_MEMBER_CONNECTIONS 16
//  Directory requests a member may send at once, and per second after
#define BROKER_DIRECTORY_BURST 4
#define BROKER_DIRECTORY_RATE 1
//  Packets beyond the window a member's send pipe holds: PubAcks of a
//  burst of publishes (at most a quota burst), pings. These are small;
//  deliveries, the large packets, are bounded by inflight_bytes.
#define BROKER_SNDHWM_SLACK 20000
#define BROKER_CONTROL "broker.ctl"
#define BROKER_CONTROL_INPROC "inproc://certbus-broker-control"

//  Fills config with defaults.
void
    broker_config_defaults (broker_config_t *config);

void
    broker_engine_actor (zsock_t *pipe, void *args);

#endif
