/*  stats.h - the broker's counters and histograms, rendered to the STATS
    JSON and to the Prometheus text from one definition
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef BROKER_STATS_H_INCLUDED
#define BROKER_STATS_H_INCLUDED

#include "context.h"

#define BROKER_BUCKETS 10

//  A Prometheus histogram with fixed buckets (seconds)
typedef struct {
    uint64_t counts [BROKER_BUCKETS + 1]; //  per bucket, last is +Inf
    uint64_t count;                       //  observations
    double sum;                           //  their total, seconds
} broker_histogram_t;

//  Every concern counts here by incrementing its field; stats.c says once
//  how each is named and rendered.
struct broker_stats_t {
    uint64_t received;                   //  packets from members
    uint64_t accepted;                   //  publishes accepted (committed)
    uint64_t rejected;                   //  publishes refused
    uint64_t duplicates;                 //  publishes already accepted
    uint64_t deliveries;                 //  deliveries sent
    uint64_t redeliveries;               //  of them, sent again
    uint64_t acks;                       //  deliveries acknowledged
    uint64_t bad_frames;                 //  malformed or unexpected packets
    uint64_t refused_members;            //  frames from non-members
    uint64_t commits;                    //  batch transactions committed
    uint64_t sessions_expired;           //  sessions closed for silence
    uint64_t quota_refusals;             //  publishes refused by a quota
    uint64_t hellos_ignored;             //  hellos beyond their rate
    uint64_t noise_aggregated;           //  bad frames audited only in aggregate
    uint64_t send_blocked;               //  sends refused by a full pipe
    uint64_t refused_deliveries;         //  deliveries a node refused
    uint64_t directory_pushes;           //  directories pushed to sessions
    uint64_t directory_requests_ignored; //  requests beyond their rate
    uint64_t connections_refused;        //  frames of one connection too many
    int64_t inflight_bytes_max;          //  the most any member ever had in flight
    zhashx_t *by_kind;                   //  kind -> accepted count (uint64 in a pointer)
    zhashx_t *by_reason;                 //  error name -> rejected count
    broker_histogram_t commit_latency;   //  publish received to committed
};

broker_stats_t *
    broker_stats_new (void);
void
    broker_stats_destroy (broker_stats_t **self_p);

//  Counts one accepted publish of this kind, committed this many seconds
//  after it arrived.
void
    broker_stats_accepted (broker_stats_t *self, const char *kind, double seconds);

//  Counts one refused publish (and a quota refusal, for CERTBUS_E_QUOTA).
void
    broker_stats_rejected (broker_stats_t *self, certbus_err_t code);

//  Adds one observation to a histogram.
void
    broker_histogram_observe (broker_histogram_t *h, double seconds);

//  The STATS reply: a JSON object (caller frees).
char *
    broker_stats_json (broker_ctx_t *ctx, const char *endpoint);

//  STATS and METRICS of a standby broker: its role and the lease only.
char *
    broker_stats_standby_json (broker_ctx_t *ctx);
char *
    broker_stats_standby_metrics (broker_ctx_t *ctx);

//  The METRICS reply: Prometheus text exposition (caller frees).
char *
    broker_stats_metrics (broker_ctx_t *ctx);

#endif
