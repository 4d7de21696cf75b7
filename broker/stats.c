/*  stats.c - the broker's counters and histograms, rendered to the STATS
    JSON and to the Prometheus text from one definition
    SPDX-License-Identifier: MPL-2.0

    s_values below is that definition: each value's STATS key, its
    Prometheus name, type and help, and where it lives. The JSON is built
    with jansson; the text exposition by hand, as its format is lines.
*/
#include "stats.h"
#include "admission.h"
#include "auditlog.h"
#include "sessions.h"
#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static const double s_bucket_bounds [BROKER_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                                        0.05,  0.1,    0.25,  0.5,  1.0};

//  Values that live outside broker_stats_t
static int64_t
s_directory_serial (broker_ctx_t *ctx)
{
    return (int64_t) certbus_directory_serial (ctx->admission->directory);
}

static int64_t
s_members (broker_ctx_t *ctx)
{
    return (int64_t) certbus_directory_count (ctx->admission->directory);
}

static int64_t
s_audit_size (broker_ctx_t *ctx)
{
    return broker_auditlog_size (ctx);
}

static int64_t
s_messages (broker_ctx_t *ctx)
{
    broker_counts_t counts = {0};
    broker_store_counts (ctx->store, &counts);
    return counts.messages;
}

static int64_t
s_queued (broker_ctx_t *ctx)
{
    broker_counts_t counts = {0};
    broker_store_counts (ctx->store, &counts);
    return counts.queued;
}

static int64_t
s_window (broker_ctx_t *ctx)
{
    return ctx->config->window;
}

static int64_t
s_head_size (broker_ctx_t *ctx)
{
    return ctx->auditlog->have_head ? (int64_t) ctx->auditlog->head.size : 0;
}

static int64_t
s_head_time (broker_ctx_t *ctx)
{
    return ctx->auditlog->have_head ? ctx->auditlog->head.timestamp : 0;
}

static int64_t
s_policy_rules (broker_ctx_t *ctx)
{
    return ctx->admission->policy ? (int64_t) certbus_policy_rules (ctx->admission->policy) : 0;
}

static int64_t
s_inflight_bytes_max (broker_ctx_t *ctx)
{
    return ctx->stats->inflight_bytes_max;
}

static int64_t
s_inflight_bytes_cap (broker_ctx_t *ctx)
{
    return ctx->config->inflight_bytes;
}

//  One value the broker reports
typedef struct {
    const char *key;                   //  its STATS key, or NULL
    const char *metric;                //  its Prometheus name, or NULL
    const char *type;                  //  "counter" or "gauge"
    const char *help;                  //  its Prometheus help
    size_t offset;                     //  of its uint64_t in broker_stats_t, when fn is NULL
    int64_t (*fn) (broker_ctx_t *ctx); //  or where else it lives
} s_value_t;

#define s_COUNTER(key, metric, help, field)                                  \
    {                                                                        \
        key, metric, "counter", help, offsetof (broker_stats_t, field), NULL \
    }
#define s_GAUGE(key, metric, help, fn)    \
    {                                     \
        key, metric, "gauge", help, 0, fn \
    }

//  In the order of the STATS object; the Prometheus text lists the simple
//  values in this order too
static const s_value_t s_values [] = {
    s_GAUGE ("directory", "certbus_directory_version", "Directory version served",
             s_directory_serial),
    s_GAUGE ("members", "certbus_members", "Current members in the directory", s_members),
    s_COUNTER ("received", "certbus_packets_received_total", "Packets from members", received),
    s_COUNTER ("accepted", NULL, NULL, accepted),
    s_COUNTER ("rejected", NULL, NULL, rejected),
    s_COUNTER ("duplicates", NULL, NULL, duplicates),
    s_COUNTER ("deliveries", "certbus_deliveries_total", "Deliveries sent", deliveries),
    s_COUNTER (NULL, "certbus_redeliveries_total", "Deliveries sent again", redeliveries),
    s_COUNTER ("acks", "certbus_delivery_acks_total", "Deliveries acknowledged", acks),
    s_COUNTER ("bad_packets", "certbus_bad_packets_total", "Malformed or unexpected packets",
               bad_frames),
    s_COUNTER ("refused_frames", "certbus_refused_frames_total", "Frames from non-members",
               refused_members),
    s_COUNTER ("commits", "certbus_commits_total", "Database transactions committed", commits),
    s_GAUGE ("audit_size", "certbus_audit_tree_size", "Records in the audit log", s_audit_size),
    s_GAUGE ("messages", NULL, NULL, s_messages),
    s_GAUGE ("queued", NULL, NULL, s_queued),
    s_GAUGE ("window", NULL, NULL, s_window),
    s_GAUGE ("tree_head_size", "certbus_audit_tree_head_size",
             "Records under the newest signed tree head", s_head_size),
    s_GAUGE ("tree_head_time", NULL, NULL, s_head_time),
    s_GAUGE ("policy_rules", NULL, NULL, s_policy_rules),
    s_COUNTER ("quota_refusals", NULL, NULL, quota_refusals),
    s_COUNTER ("hellos_ignored", NULL, NULL, hellos_ignored),
    s_COUNTER ("sessions_expired", NULL, NULL, sessions_expired),
    s_COUNTER ("noise_aggregated", NULL, NULL, noise_aggregated),
    s_COUNTER ("send_blocked", NULL, NULL, send_blocked),
    s_COUNTER ("refused_deliveries", NULL, NULL, refused_deliveries),
    s_COUNTER ("directory_pushes", NULL, NULL, directory_pushes),
    s_COUNTER ("directory_requests_ignored", NULL, NULL, directory_requests_ignored),
    s_COUNTER ("connections_refused", NULL, NULL, connections_refused),
    s_GAUGE ("inflight_bytes_max", NULL, NULL, s_inflight_bytes_max),
    s_GAUGE ("inflight_bytes_cap", NULL, NULL, s_inflight_bytes_cap),
};
#define s_VALUES (sizeof s_values / sizeof s_values [0])

static int64_t
s_value (broker_ctx_t *ctx, const s_value_t *value)
{
    if (value->fn)
        return value->fn (ctx);
    return (int64_t) * (const uint64_t *) ((const char *) ctx->stats + value->offset);
}

static void
s_free_item (void **item)
{
    free (*item);
    *item = NULL;
}

broker_stats_t *
broker_stats_new (void)
{
    broker_stats_t *self = certbus_calloc (1, sizeof *self);
    self->by_kind = zhashx_new ();
    self->by_reason = zhashx_new ();
    return self;
}

void
broker_stats_destroy (broker_stats_t **self_p)
{
    assert (self_p);
    broker_stats_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->by_kind);
    zhashx_destroy (&self->by_reason);
    free (self);
    *self_p = NULL;
}

void
broker_histogram_observe (broker_histogram_t *h, double seconds)
{
    int b = 0;
    while (b < BROKER_BUCKETS && seconds > s_bucket_bounds [b])
        b++;
    h->counts [b]++;
    h->count++;
    h->sum += seconds;
}

//  The metric label of a kind: the Council's list of kinds, and `other`
//  for any kind a member made up, so that the label set stays bounded
static const char *
s_metric_kind (const char *kind)
{
    static const char *known [] = {"incident", "advisory",  "alert",         "receipt",
                                   "report",   "indicator", "vulnerability", "notice"};
    int i = certbus_str_index (kind, known, sizeof known / sizeof known [0]);
    return i >= 0 ? known [i] : "other";
}

static void
s_count (zhashx_t *table, const char *key)
{
    zhashx_update (table, key, (void *) ((uintptr_t) zhashx_lookup (table, key) + 1));
}

void
broker_stats_accepted (broker_stats_t *self, const char *kind, double seconds)
{
    self->accepted++;
    s_count (self->by_kind, s_metric_kind (kind));
    broker_histogram_observe (&self->commit_latency, seconds);
}

void
broker_stats_rejected (broker_stats_t *self, certbus_err_t code)
{
    self->rejected++;
    if (code == CERTBUS_E_QUOTA)
        self->quota_refusals++;
    s_count (self->by_reason, certbus_err_name (code));
}

//  ---------------------------------------------------------------------
//  STATS: JSON

static json_t *
s_json_string (const char *text)
{
    json_t *string = json_string (text);
    return string ? string : json_string ("");
}

static json_t *
s_session_json (broker_ctx_t *ctx, broker_session_t *session)
{
    const certbus_cert_t *cert = certbus_directory_find (ctx->admission->directory, session->org);
    int64_t oldest = 0;
    int64_t depth = broker_store_queue_depth (ctx->store, session->org, &oldest);
    json_t *object = json_object ();
    json_object_set_new (object, "org", s_json_string (session->org));
    json_object_set_new (object, "tier",
                         s_json_string (cert ? certbus_tier_name (cert->tier) : "unknown"));
    json_object_set_new (object, "ready", json_boolean (session->ready));
    json_object_set_new (object, "inflight", json_integer (session->inflight_count));
    json_object_set_new (object, "inflight_bytes", json_integer (session->inflight_bytes));
    json_object_set_new (object, "member_bytes",
                         json_integer (broker_sessions_member_bytes (ctx, session)));
    json_object_set_new (object, "window", json_integer (session->window));
    json_object_set_new (object, "delivered", json_integer ((json_int_t) session->delivered));
    json_object_set_new (object, "queued", json_integer (depth));
    json_object_set_new (object, "idle_ms", json_integer (certbus_now_ms () - session->last_seen));
    return object;
}

//  The role of this broker in a pair, and the lease
static void
s_role_json (broker_ctx_t *ctx, json_t *root)
{
    json_object_set_new (root, "role", json_string (ctx->active ? "active" : "standby"));
    json_object_set_new (root, "lease_holder", s_json_string (ctx->lease.holder));
    json_object_set_new (root, "lease_epoch", json_integer ((json_int_t) ctx->lease.epoch));
    json_object_set_new (root, "lease_expires", json_integer (ctx->lease.expires_at));
    json_object_set_new (root, "failovers", json_integer ((json_int_t) ctx->failovers));
}

static void
s_role_metrics (broker_ctx_t *ctx, certbus_sb_t *sb)
{
    certbus_sb_printf (sb,
                       "# HELP certbus_broker_active 1 when this broker is the active one of "
                       "its pair, 0 on standby\n# TYPE certbus_broker_active gauge\n"
                       "certbus_broker_active %d\n"
                       "# HELP certbus_broker_lease_epoch Epoch of the pair's lease as this "
                       "broker last saw it\n# TYPE certbus_broker_lease_epoch gauge\n"
                       "certbus_broker_lease_epoch %llu\n"
                       "# HELP certbus_broker_failovers_total Leases this broker took over from "
                       "another\n# TYPE certbus_broker_failovers_total counter\n"
                       "certbus_broker_failovers_total %llu\n",
                       ctx->active ? 1 : 0, (unsigned long long) ctx->lease.epoch,
                       (unsigned long long) ctx->failovers);
}

char *
broker_stats_standby_json (broker_ctx_t *ctx)
{
    json_t *root = json_object ();
    json_object_set_new (root, "endpoint", json_string (""));
    s_role_json (ctx, root);
    json_object_set_new (root, "sessions", json_array ());
    char *text = json_dumps (root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref (root);
    if (!text)
        abort ();
    return text;
}

char *
broker_stats_standby_metrics (broker_ctx_t *ctx)
{
    certbus_sb_t sb = {0};
    certbus_sb_printf (&sb,
                       "# HELP certbus_build_info certbus build\n"
                       "# TYPE certbus_build_info gauge\n"
                       "certbus_build_info{version=\"%s\"} 1\n",
                       CERTBUS_VERSION);
    s_role_metrics (ctx, &sb);
    return sb.data;
}

char *
broker_stats_json (broker_ctx_t *ctx, const char *endpoint)
{
    json_t *root = json_object ();
    json_object_set_new (root, "endpoint", s_json_string (endpoint));
    s_role_json (ctx, root);
    for (size_t i = 0; i < s_VALUES; i++)
        if (s_values [i].key)
            json_object_set_new (root, s_values [i].key,
                                 json_integer (s_value (ctx, &s_values [i])));
    json_object_set_new (root, "last_error", s_json_string (ctx->last_error));
    //  "sessions" stays last: readers look for the totals before it
    json_t *sessions = json_array ();
    zhashx_t *table = ctx->sessions->table;
    for (broker_session_t *session = zhashx_first (table); session; session = zhashx_next (table))
        json_array_append_new (sessions, s_session_json (ctx, session));
    json_object_set_new (root, "sessions", sessions);
    char *text = json_dumps (root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref (root);
    if (!text)
        abort ();
    return text;
}

//  ---------------------------------------------------------------------
//  METRICS: Prometheus text

static void
s_metric_histogram (certbus_sb_t *sb, const char *name, const char *labels,
                    const broker_histogram_t *h)
{
    uint64_t cumulative = 0;
    for (int b = 0; b <= BROKER_BUCKETS; b++) {
        cumulative += h->counts [b];
        if (b < BROKER_BUCKETS)
            certbus_sb_printf (sb, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
                               *labels ? "," : "", s_bucket_bounds [b],
                               (unsigned long long) cumulative);
        else
            certbus_sb_printf (sb, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
                               *labels ? "," : "", (unsigned long long) cumulative);
    }
    if (*labels)
        certbus_sb_printf (sb, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels, h->sum, name,
                           labels, (unsigned long long) h->count);
    else
        certbus_sb_printf (sb, "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name,
                           (unsigned long long) h->count);
}

static void
s_metric_depth (void *arg, const char *recipient, int64_t depth, int64_t oldest)
{
    certbus_sb_t *sb = arg;
    certbus_sb_printf (sb, "certbus_queue_depth{member=\"%s\"} %lld\n", recipient,
                       (long long) depth);
    certbus_sb_printf (sb, "certbus_queue_oldest_age_seconds{member=\"%s\"} %.3f\n", recipient,
                       depth > 0 ? (double) (certbus_now_ms () - oldest) / 1000.0 : 0.0);
}

//  Response-time histograms of incident cases, by reporter tier and severity
typedef struct {
    broker_ctx_t *ctx;
    zhashx_t *ack; //  "tier|severity" -> broker_histogram_t
    zhashx_t *resolve;
} s_case_metrics_t;

static int
s_metric_case (void *arg, const broker_case_t *c)
{
    s_case_metrics_t *m = arg;
    const certbus_cert_t *cert = certbus_directory_find (m->ctx->admission->directory, c->origin);
    char key [96];
    snprintf (key, sizeof key, "%s|%s", cert ? certbus_tier_name (cert->tier) : "unknown",
              c->severity);
    for (int pass = 0; pass < 2; pass++) {
        zhashx_t *table = pass ? m->resolve : m->ack;
        int64_t at = pass ? c->resolved_at : c->first_ack_at;
        broker_histogram_t *h = zhashx_lookup (table, key);
        if (!h) {
            h = certbus_calloc (1, sizeof *h);
            zhashx_insert (table, key, h);
        }
        if (at)
            broker_histogram_observe (h, (double) (at - c->opened_at) / 1000.0);
    }
    return 0;
}

//  The simple values of s_values that have a Prometheus name
static void
s_metric_values (broker_ctx_t *ctx, certbus_sb_t *sb)
{
    for (size_t i = 0; i < s_VALUES; i++) {
        const s_value_t *value = &s_values [i];
        if (value->metric)
            certbus_sb_printf (sb, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", value->metric,
                               value->help, value->metric, value->type, value->metric,
                               (long long) s_value (ctx, value));
    }
}

//  Publishes accepted by kind, and decisions by outcome and reason
static void
s_metric_publishes (broker_ctx_t *ctx, certbus_sb_t *sb)
{
    zhashx_t *by_kind = ctx->stats->by_kind, *by_reason = ctx->stats->by_reason;
    certbus_sb_printf (sb, "# HELP certbus_messages_received_total Publishes accepted, by kind\n"
                           "# TYPE certbus_messages_received_total counter\n");
    for (void *v = zhashx_first (by_kind); v; v = zhashx_next (by_kind))
        certbus_sb_printf (sb, "certbus_messages_received_total{kind=\"%s\"} %llu\n",
                           (const char *) zhashx_cursor (by_kind),
                           (unsigned long long) (uintptr_t) v);
    certbus_sb_printf (sb,
                       "# HELP certbus_publishes_total Publish decisions\n"
                       "# TYPE certbus_publishes_total counter\n"
                       "certbus_publishes_total{decision=\"accept\",reason=\"\"} %llu\n"
                       "certbus_publishes_total{decision=\"duplicate\",reason=\"\"} %llu\n",
                       (unsigned long long) ctx->stats->accepted,
                       (unsigned long long) ctx->stats->duplicates);
    for (void *v = zhashx_first (by_reason); v; v = zhashx_next (by_reason))
        certbus_sb_printf (sb, "certbus_publishes_total{decision=\"reject\",reason=\"%s\"} %llu\n",
                           (const char *) zhashx_cursor (by_reason),
                           (unsigned long long) (uintptr_t) v);
}

//  Members with a session, by tier
static void
s_metric_connected (broker_ctx_t *ctx, certbus_sb_t *sb)
{
    certbus_sb_printf (sb, "# HELP certbus_members_connected Members with a session, by tier\n"
                           "# TYPE certbus_members_connected gauge\n");
    zhashx_t *table = ctx->sessions->table;
    for (int tier = CERTBUS_TIER_NATIONAL; tier <= CERTBUS_TIER_ORGANIZATION; tier++) {
        int connected = 0;
        for (broker_session_t *session = zhashx_first (table); session;
             session = zhashx_next (table)) {
            const certbus_cert_t *cert = certbus_directory_find (ctx->admission->directory,
                                                                 session->org);
            if (session->ready && cert && (int) cert->tier == tier)
                connected++;
        }
        certbus_sb_printf (sb, "certbus_members_connected{tier=\"%s\"} %d\n",
                           certbus_tier_name ((certbus_tier_t) tier), connected);
    }
}

//  Response-time histograms of incident cases
static void
s_metric_cases (broker_ctx_t *ctx, certbus_sb_t *sb)
{
    s_case_metrics_t cases = {ctx, zhashx_new (), zhashx_new ()};
    zhashx_set_destructor (cases.ack, s_free_item);
    zhashx_set_destructor (cases.resolve, s_free_item);
    broker_store_cases_each (ctx->store, 0, s_metric_case, &cases);
    const char *names [2] = {"certbus_case_ack_seconds", "certbus_case_resolve_seconds"};
    const char *helps [2] = {"Time from incident report to first acknowledgement",
                             "Time from incident report to resolution"};
    for (int pass = 0; pass < 2; pass++) {
        zhashx_t *table = pass ? cases.resolve : cases.ack;
        certbus_sb_printf (sb, "# HELP %s %s\n# TYPE %s histogram\n", names [pass], helps [pass],
                           names [pass]);
        for (broker_histogram_t *h = zhashx_first (table); h; h = zhashx_next (table)) {
            char key [96], labels [128];
            snprintf (key, sizeof key, "%s", (const char *) zhashx_cursor (table));
            char *bar = strchr (key, '|');
            *bar = 0;
            snprintf (labels, sizeof labels, "tier=\"%s\",severity=\"%s\"", key, bar + 1);
            s_metric_histogram (sb, names [pass], labels, h);
        }
    }
    zhashx_destroy (&cases.ack);
    zhashx_destroy (&cases.resolve);
}

char *
broker_stats_metrics (broker_ctx_t *ctx)
{
    certbus_sb_t sb = {0};
    certbus_sb_printf (&sb,
                       "# HELP certbus_build_info certbus build\n"
                       "# TYPE certbus_build_info gauge\n"
                       "certbus_build_info{version=\"%s\"} 1\n",
                       CERTBUS_VERSION);
    s_role_metrics (ctx, &sb);
    s_metric_publishes (ctx, &sb);
    s_metric_values (ctx, &sb);
    certbus_sb_printf (&sb, "# HELP certbus_queue_depth Deliveries waiting, per member\n"
                            "# TYPE certbus_queue_depth gauge\n"
                            "# HELP certbus_queue_oldest_age_seconds Age of the oldest waiting "
                            "delivery, per member\n"
                            "# TYPE certbus_queue_oldest_age_seconds gauge\n");
    broker_store_queue_depths (ctx->store, s_metric_depth, &sb);
    s_metric_connected (ctx, &sb);
    certbus_sb_printf (&sb, "# HELP certbus_publish_commit_seconds From publish received to "
                            "durably committed\n# TYPE certbus_publish_commit_seconds histogram\n");
    s_metric_histogram (&sb, "certbus_publish_commit_seconds", "", &ctx->stats->commit_latency);
    s_metric_cases (ctx, &sb);
    return sb.data;
}
