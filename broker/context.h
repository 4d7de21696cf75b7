/*  context.h - what the broker engine's concerns share
    SPDX-License-Identifier: MPL-2.0

    The engine (engine.c) makes one broker_ctx_t and hands it to every
    concern: admission, sessions, publish (with authorize and cases), the
    audit log and the stats. The context holds only what all of them use
    (settings, the ROUTER, the store, the broker's keys); each concern's
    state lives in its own struct, made, changed and destroyed by its own
    module, and only read by the others. Everything runs on the engine's
    one thread.
*/
#ifndef BROKER_CONTEXT_H_INCLUDED
#define BROKER_CONTEXT_H_INCLUDED

#include <czmq.h>
#include "certbus.h"
#include "engine.h"
#include "store.h"

typedef struct broker_admission_t broker_admission_t;
typedef struct broker_sessions_t broker_sessions_t;
typedef struct broker_publish_t broker_publish_t;
typedef struct broker_auditlog_t broker_auditlog_t;
typedef struct broker_stats_t broker_stats_t;

typedef struct {
    const broker_config_t *config; //  the engine's settings
    zsock_t *router;               //  members connect here
    broker_store_t *store;         //  the broker's database
    certbus_identity_t *identity;  //  broker's keys (CURVE, tree heads)
    broker_admission_t *admission; //  directory, policy, members, ZAP
    broker_sessions_t *sessions;   //  sessions, credit, deliveries
    broker_publish_t *publish;     //  the batch and its transaction
    broker_auditlog_t *auditlog;   //  audit records and tree heads
    broker_stats_t *stats;         //  counters and histograms
    char last_error [256];         //  the last failure, for STATS
    //  A pair's lease (engine.c): active or standby, and takeovers made
    bool active;
    broker_lease_t lease;
    uint64_t failovers;
} broker_ctx_t;

//  What a stage of the publish path decided against a message
typedef struct {
    certbus_err_t code; //  why, as a code
    char rule [256];    //  the rule that decided, or ""
    char reason [512];  //  why, for the publisher and the audit
} broker_verdict_t;

//  Fills verdict and returns -1, so that a stage can `return broker_refuse
//  (verdict, CODE, rule, "why %s", ...)`. (publish.c)
int
    broker_refuse (broker_verdict_t *verdict, certbus_err_t code, const char *rule,
                   const char *format, ...) CERTBUS_PRINTF (4, 5);

#endif
