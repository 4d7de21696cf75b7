/*  bench_e2e.c - case 2: end to end, node daemon -> broker -> node daemon,
    all crypto, inbox durable: maximum throughput, then latency p50/p99 at
    half that rate
    SPDX-License-Identifier: MPL-2.0

    Everything runs in this process as the real engines: the broker engine
    actor and two node engine actors (alpha publishes, bravo receives),
    each with its own SQLite database (WAL, synchronous=FULL), talking over
    CURVE on tcp loopback. The node folders are made with the real node
    commands (init, enroll) and Council commands (issue, directory).

    - Throughput: N envelopes are sealed and put into alpha's outbox (one
      transaction, a second connection to its database) before the clock
      starts; then N "SEND id" requests go to the daemon's control socket
      at once. Figure = N / (last inbox row's received_at - start).
    - Latency: at half the median maximum, each message is sealed when it
      is due (so the header's created time is the publish time) and handed
      over as `certbus-node publish` does while the daemon runs: "QUEUE"
      on the control socket, answered once the daemon has it durably in
      its outbox. Latency = bravo's inbox received_at - header created,
      both unix milliseconds (1 ms resolution).
    Both are run with the node's default settings (signed receipts on: the
    recipient seals a receipt back to the publisher for every message) and
    again with receipts off (node/receipts = 0 in node.conf).
*/
#include "bench.h"
#include "commands.h"
#include "../../node/context.h" //  the node context, not the broker one on the include path
#include "council.h"
#include "../../node/engine.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define s_PAYLOAD 1024
#define s_RUNS 3

typedef struct {
    char *dir;
    zactor_t *engine;
} s_node_t;

typedef struct {
    b_council_t *council;
    char *base; //  folder of the node folders
    b_broker_t *broker;
    s_node_t alpha, bravo;
    node_ctx_t *sender;   //  alpha's folder, second connection (CLI side)
    node_store_t *reader; //  bravo's database, second connection
    zsock_t *control;     //  to alpha's control socket
    int64_t last_n;       //  last inbox row seen
} s_fed_t;

static char *
s_status (s_node_t *node)
{
    zstr_send (node->engine, "STATUS");
    return zstr_recv (node->engine);
}

static int64_t
s_json_int (const char *json, const char *key)
{
    char pattern [64];
    snprintf (pattern, sizeof pattern, "\"%s\":", key);
    const char *at = json ? strstr (json, pattern) : NULL;
    return at ? strtoll (at + strlen (pattern), NULL, 10) : -1;
}

static void
s_node_make (s_fed_t *fed, s_node_t *node, const char *org)
{
    node->dir = zsys_sprintf ("%s/%s", fed->base, org);
    node_args_t args = {0};
    args.dir = node->dir;
    args.org = org;
    int saved = b_stdout_off ();
    int rc = node_cmd_init (&args);
    b_stdout_on (saved);
    if (rc)
        b_die ("node init %s failed", org);
    char *request = zsys_sprintf ("%s/request", node->dir);
    char *cert = zsys_sprintf ("%s/%s.cert", fed->base, org);
    saved = b_stdout_off ();
    rc = council_issue (fed->council->dir, "national", NULL, NULL, 30, request, cert);
    b_stdout_on (saved);
    if (rc)
        b_die ("council_issue %s: %s", org, certbus_reason ());
    zstr_free (&request);
    zstr_free (&cert);
}

static void
s_node_enroll (s_fed_t *fed, s_node_t *node, const char *org, bool receipts)
{
    node_args_t args = {0};
    args.dir = node->dir;
    char *cert = zsys_sprintf ("%s/%s.cert", fed->base, org);
    char *council = zsys_sprintf ("%s/%s", fed->council->dir, COUNCIL_PUB);
    char *broker_key = zsys_sprintf ("%s/%s", fed->council->dir, BROKER_PUB);
    char *directory = zsys_sprintf ("%s/directory.cbd", fed->base);
    args.cert = cert;
    args.broker = fed->broker->endpoint;
    args.council = council;
    args.broker_key = broker_key;
    args.directory = directory;
    int saved = b_stdout_off ();
    int rc = node_cmd_enroll (&args);
    b_stdout_on (saved);
    if (rc)
        b_die ("node enroll %s failed", org);
    zstr_free (&cert);
    zstr_free (&council);
    zstr_free (&broker_key);
    zstr_free (&directory);
    if (!receipts) {
        char *path = zsys_sprintf ("%s/%s", node->dir, NODE_CONF);
        zconfig_t *conf = zconfig_load (path);
        if (!conf)
            b_die ("cannot read %s", path);
        zconfig_put (conf, "node/receipts", "0");
        if (zconfig_save (conf, path))
            b_die ("cannot write %s", path);
        zconfig_destroy (&conf);
        zstr_free (&path);
    }
    node_config_t config;
    node_config_defaults (&config);
    config.dir = node->dir;
    node->engine = zactor_new (node_engine_actor, &config);
    char *ready = zstr_recv (node->engine);
    if (!ready || strcmp (ready, "READY") != 0)
        b_die ("node %s did not start: %s", org, ready ? ready : "(no answer)");
    zstr_free (&ready);
}

static void
s_node_wait_connected (s_node_t *node)
{
    double deadline = b_now () + 20;
    while (b_now () < deadline) {
        char *json = s_status (node);
        bool connected = json && strstr (json, "\"connected\":true");
        zstr_free (&json);
        if (connected)
            return;
        zclock_sleep (20);
    }
    b_die ("node %s did not connect to the broker", node->dir);
}

static s_fed_t *
s_fed_new (bool receipts)
{
    s_fed_t *fed = calloc (1, sizeof *fed);
    fed->council = b_council_new ("e2e", 0, NULL, NULL, "national", NULL);
    fed->base = b_tmpdir ("e2e-nodes");
    s_node_make (fed, &fed->alpha, "alpha");
    s_node_make (fed, &fed->bravo, "bravo");
    char *directory = zsys_sprintf ("%s/directory.cbd", fed->base);
    if (council_directory (fed->council->dir, directory))
        b_die ("directory: %s", certbus_reason ());
    zstr_free (&directory);
    fed->broker = b_broker_start (fed->council->dir, 0, 0);
    if (!fed->broker)
        b_die ("broker did not start");
    s_node_enroll (fed, &fed->alpha, "alpha", receipts);
    s_node_enroll (fed, &fed->bravo, "bravo", receipts);
    s_node_wait_connected (&fed->alpha);
    s_node_wait_connected (&fed->bravo);
    fed->sender = node_ctx_open (fed->alpha.dir, true);
    if (!fed->sender || !fed->sender->directory)
        b_die ("cannot open alpha's folder: %s", certbus_reason ());
    char *path = zsys_sprintf ("%s/%s", fed->bravo.dir, NODE_DB);
    fed->reader = node_store_open (path);
    zstr_free (&path);
    if (!fed->reader)
        b_die ("cannot open bravo's database: %s", certbus_reason ());
    char *endpoint = node_control_endpoint (fed->alpha.dir);
    fed->control = zsock_new (ZMQ_DEALER);
    zsock_set_sndhwm (fed->control, 0);
    zsock_set_rcvhwm (fed->control, 0);
    zsock_set_linger (fed->control, 0);
    if (!endpoint || zsock_connect (fed->control, "%s", endpoint))
        b_die ("cannot connect to alpha's control socket");
    free (endpoint);
    return fed;
}

static void
s_fed_destroy (s_fed_t **fed_p)
{
    s_fed_t *fed = *fed_p;
    zsock_destroy (&fed->control);
    node_store_destroy (&fed->reader);
    node_ctx_destroy (&fed->sender);
    zactor_destroy (&fed->alpha.engine);
    zactor_destroy (&fed->bravo.engine);
    b_broker_stop (&fed->broker);
    b_rmrf (fed->base);
    free (fed->base);
    free (fed->alpha.dir);
    free (fed->bravo.dir);
    b_council_destroy (&fed->council, true);
    free (fed);
    *fed_p = NULL;
}

//  ---------------------------------------------------------------------------
//  Publishing and watching the inbox

static uint8_t *
s_seal (s_fed_t *fed, uint8_t id [CERTBUS_ID_SIZE], size_t *size_p)
{
    uint8_t payload [s_PAYLOAD];
    randombytes_buf (payload, sizeof payload);
    certbus_seal_opts_t opts = {
        .kind = "advisory",
        .tlp = "amber",
        .audience = "org:bravo",
        .topic = "bench",
        .severity = "medium",
        .content_type = "application/octet-stream",
    };
    uint8_t *bytes = NULL;
    if (certbus_envelope_seal (fed->sender->identity, fed->sender->cert, fed->sender->directory,
                               &opts, payload, sizeof payload, id, &bytes, size_p))
        b_die ("seal: %s", certbus_reason ());
    return bytes;
}

static void
s_send_request (s_fed_t *fed, const uint8_t *id)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "SEND");
    zmsg_addmem (msg, id, CERTBUS_ID_SIZE);
    zmsg_addstr (msg, "0"); //  answer at once: we watch the inbox
    if (zmsg_send (&msg, fed->control))
        b_die ("control send failed");
}

//  As `certbus-node publish` does while the daemon runs: hands the sealed
//  envelope to the daemon, which puts it into its outbox (durably), sends
//  it, and answers. Many publishers run at once, so the answer is not
//  waited for here: s_drain_handovers collects the answers, in order.
static void
s_queue_request (s_fed_t *fed, const uint8_t *id, const uint8_t *bytes, size_t size)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "QUEUE");
    zmsg_addmem (msg, id, CERTBUS_ID_SIZE);
    zmsg_addmem (msg, bytes, size);
    zmsg_addmem (msg, NULL, 0); //  no payload kept beside the row
    zmsg_addstr (msg, "0");     //  answer once it is in the outbox
    if (zmsg_send (&msg, fed->control))
        b_die ("control send failed");
}

//  Hand-overs sent and answered, with their times
typedef struct {
    double *started; //  when each QUEUE was sent (b_now)
    double *ms;      //  how long each took to be answered
    size_t cap, sent, answered;
} s_handovers_t;

static void
s_drain_handovers (s_fed_t *fed, s_handovers_t *handovers)
{
    while (zsock_events (fed->control) & ZMQ_POLLIN) {
        zmsg_t *reply = zmsg_recv (fed->control);
        char *state = reply ? zmsg_popstr (reply) : NULL;
        if (!state || streq (state, "error"))
            b_die ("the daemon could not queue a message");
        zstr_free (&state);
        zmsg_destroy (&reply);
        if (handovers->answered < handovers->sent && handovers->answered < handovers->cap) {
            handovers->ms [handovers->answered]
                = (b_now () - handovers->started [handovers->answered]) * 1000;
        }
        handovers->answered++;
    }
}

static void
s_drain_control (s_fed_t *fed)
{
    while (zsock_events (fed->control) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv (fed->control);
        zmsg_destroy (&msg);
    }
}

typedef struct {
    double *latencies;   //  ms, when not NULL
    double *to_broker;   //  created -> broker accepted_at
    double *from_broker; //  broker accepted_at -> inbox received_at
    size_t count;
    size_t cap;
    int64_t last_received;
    int64_t last_n;
} s_watch_t;

static int
s_watch_row (void *arg, const node_message_t *message)
{
    s_watch_t *watch = arg;
    if (watch->latencies) {
        if (watch->count == watch->cap) {
            watch->cap = watch->cap ? watch->cap * 2 : 4096;
            watch->latencies = realloc (watch->latencies, watch->cap * sizeof (double));
            watch->to_broker = realloc (watch->to_broker, watch->cap * sizeof (double));
            watch->from_broker = realloc (watch->from_broker, watch->cap * sizeof (double));
        }
        watch->latencies [watch->count] = (double) (message->received_at - message->created);
        watch->to_broker [watch->count] = (double) (message->accepted_at - message->created);
        watch->from_broker [watch->count] = (double) (message->received_at - message->accepted_at);
    }
    watch->count++;
    if (message->received_at > watch->last_received)
        watch->last_received = message->received_at;
    watch->last_n = message->n;
    return 0;
}

static void
s_poll_inbox (s_fed_t *fed, s_watch_t *watch)
{
    watch->last_n = fed->last_n;
    if (node_store_inbox_list (fed->reader, fed->last_n, NULL, 1000000, s_watch_row, watch) < 0)
        b_die ("cannot read bravo's inbox: %s", certbus_reason ());
    fed->last_n = watch->last_n;
}

//  Waits until neither node has anything pending in its outbox (receipts
//  included), so that one run's tail does not load the next.
static void
s_quiesce (s_fed_t *fed)
{
    double deadline = b_now () + 120;
    while (b_now () < deadline) {
        char *a = s_status (&fed->alpha), *b = s_status (&fed->bravo);
        bool idle = s_json_int (a, "outbox_pending") == 0 && s_json_int (b, "outbox_pending") == 0;
        zstr_free (&a);
        zstr_free (&b);
        s_drain_control (fed);
        if (idle)
            return;
        zclock_sleep (50);
    }
    fprintf (stderr, "bench: outboxes did not drain within 120 s\n");
}

static double
s_throughput (s_fed_t *fed, size_t count)
{
    uint8_t (*ids) [CERTBUS_ID_SIZE] = malloc (count * CERTBUS_ID_SIZE);
    if (node_store_begin (fed->sender->store))
        b_die ("begin: %s", certbus_reason ());
    for (size_t i = 0; i < count; i++) {
        size_t size;
        uint8_t *bytes = s_seal (fed, ids [i], &size);
        if (node_ctx_queue (fed->sender, bytes, size, NULL, 0))
            b_die ("queue: %s", certbus_reason ());
        free (bytes);
    }
    if (node_store_commit (fed->sender->store))
        b_die ("commit: %s", certbus_reason ());
    s_watch_t watch = {0};
    int64_t start_ms = certbus_now_ms ();
    double start = b_now ();
    for (size_t i = 0; i < count; i++) {
        s_send_request (fed, ids [i]);
        if (i % 64 == 0)
            s_drain_control (fed);
    }
    while (watch.count < count) {
        if (b_now () - start > 600)
            b_die ("end to end stalled: %zu of %zu arrived", watch.count, count);
        zclock_sleep (10);
        s_drain_control (fed);
        s_poll_inbox (fed, &watch);
    }
    double seconds = (double) (watch.last_received - start_ms) / 1000.0;
    if (seconds <= 0)
        seconds = 0.001;
    free (ids);
    s_quiesce (fed);
    return (double) count / seconds;
}

typedef struct {
    double p50, p99, max, rate;
    double to_broker_p50, from_broker_p50;
    double queue_p50, queue_p99; //  the hand-over to the daemon (QUEUE)
    size_t count;
} s_latency_t;

static s_latency_t
s_latency (s_fed_t *fed, double rate, double seconds)
{
    s_latency_t result = {0};
    s_watch_t watch = {0};
    watch.latencies = malloc (sizeof (double));
    watch.to_broker = malloc (sizeof (double));
    watch.from_broker = malloc (sizeof (double));
    watch.cap = 1;
    double interval = 1.0 / rate;
    double start = b_now (), next = start, next_poll = start;
    size_t sent = 0;
    s_handovers_t handovers = {0};
    handovers.cap = (size_t) (rate * seconds) + 16;
    handovers.started = malloc (handovers.cap * sizeof (double));
    handovers.ms = malloc (handovers.cap * sizeof (double));
    zpoller_t *poller = zpoller_new (fed->control, NULL);
    while (b_now () - start < seconds) {
        double now = b_now ();
        if (now >= next) {
            uint8_t id [CERTBUS_ID_SIZE];
            size_t size;
            uint8_t *bytes = s_seal (fed, id, &size);
            if (sent < handovers.cap)
                handovers.started [sent] = b_now ();
            s_queue_request (fed, id, bytes, size);
            free (bytes);
            sent++;
            handovers.sent = sent;
            next += interval;
            continue;
        }
        if (now >= next_poll) {
            s_poll_inbox (fed, &watch);
            next_poll = now + 0.05;
        }
        //  wait for the daemon's answers until the next message is due (or
        //  the next inbox poll)
        double wait = (next < next_poll ? next : next_poll) - b_now ();
        if (wait > 0 && zpoller_wait (poller, (int) (wait * 1000) + 1))
            s_drain_handovers (fed, &handovers);
    }
    double elapsed = b_now () - start;
    while ((watch.count < sent || handovers.answered < sent) && b_now () - start < seconds + 60) {
        zpoller_wait (poller, 10);
        s_drain_handovers (fed, &handovers);
        s_poll_inbox (fed, &watch);
    }
    zpoller_destroy (&poller);
    if (watch.count < sent)
        fprintf (stderr, "bench: %zu of %zu latency messages arrived\n", watch.count, sent);
    size_t n = watch.count;
    result.p50 = b_percentile (watch.latencies, n, 0.50);
    result.p99 = b_percentile (watch.latencies, n, 0.99);
    result.max = b_percentile (watch.latencies, n, 1.0);
    size_t answered = handovers.answered < handovers.cap ? handovers.answered : handovers.cap;
    result.queue_p50 = b_percentile (handovers.ms, answered, 0.50);
    result.queue_p99 = b_percentile (handovers.ms, answered, 0.99);
    free (handovers.started);
    free (handovers.ms);
    result.to_broker_p50 = b_percentile (watch.to_broker, n, 0.50);
    result.from_broker_p50 = b_percentile (watch.from_broker, n, 0.50);
    result.count = n;
    result.rate = (double) sent / elapsed;
    free (watch.latencies);
    free (watch.to_broker);
    free (watch.from_broker);
    s_quiesce (fed);
    return result;
}

typedef struct {
    double throughput;
    double p50, p99, max, rate;
    double to_broker_p50, from_broker_p50;
    double queue_p50, queue_p99;
    double idle_p50, idle_p99; //  at 20 msgs/s
    double rate_at_10ms;       //  highest swept rate with p99 <= 10 ms
    char *sweep;
} s_case_t;

static s_case_t
s_case (bool receipts, size_t count, double seconds)
{
    s_case_t out = {0};
    s_fed_t *fed = s_fed_new (receipts);
    //  Warm up: connections, statements, page cache
    s_throughput (fed, count / 10 > 10 ? count / 10 : 10);
    double throughput [s_RUNS];
    for (int r = 0; r < s_RUNS; r++)
        throughput [r] = s_throughput (fed, count);
    out.throughput = b_median (throughput, s_RUNS);
    printf ("   receipts %-3s max throughput: %7.0f msgs/s (median of %d: %s; %zu messages "
            "each)\n",
            receipts ? "on" : "off", out.throughput, s_RUNS, b_list (throughput, s_RUNS, "%.0f"),
            count);
    fflush (stdout);
    double p50 [s_RUNS], p99 [s_RUNS], max [s_RUNS], rate [s_RUNS], to [s_RUNS], from [s_RUNS];
    double qp50 [s_RUNS], qp99 [s_RUNS];
    for (int r = 0; r < s_RUNS; r++) {
        s_latency_t latency = s_latency (fed, out.throughput / 2, seconds);
        qp50 [r] = latency.queue_p50;
        qp99 [r] = latency.queue_p99;
        to [r] = latency.to_broker_p50;
        from [r] = latency.from_broker_p50;
        p50 [r] = latency.p50;
        p99 [r] = latency.p99;
        max [r] = latency.max;
        rate [r] = latency.rate;
    }
    out.p50 = b_median (p50, s_RUNS);
    out.p99 = b_median (p99, s_RUNS);
    out.max = b_median (max, s_RUNS);
    out.rate = b_median (rate, s_RUNS);
    out.to_broker_p50 = b_median (to, s_RUNS);
    out.from_broker_p50 = b_median (from, s_RUNS);
    out.queue_p50 = b_median (qp50, s_RUNS);
    out.queue_p99 = b_median (qp99, s_RUNS);
    if (receipts) {
        //  The floor: the same path nearly idle (20 msgs/s)
        double idle50 [s_RUNS], idle99 [s_RUNS];
        for (int r = 0; r < s_RUNS; r++) {
            s_latency_t latency = s_latency (fed, 20, seconds / 2);
            idle50 [r] = latency.p50;
            idle99 [r] = latency.p99;
        }
        out.idle_p50 = b_median (idle50, s_RUNS);
        out.idle_p99 = b_median (idle99, s_RUNS);
        //  Diagnostic: where between idle and half of max p99 passes 10 ms
        //  (one short run per rate)
        static const double rates [] = {50, 100, 150, 200};
        size_t rate_count = b_quick () ? 2 : 4;
        char line [512] = "";
        size_t used = 0;
        for (size_t i = 0; i < rate_count && rates [i] < out.throughput; i++) {
            s_latency_t latency = s_latency (fed, rates [i], seconds / 2);
            used += (size_t) snprintf (line + used, sizeof line - used,
                                       "%s%.0f/s: p50 %.0f, p99 %.0f", used ? "; " : "", rates [i],
                                       latency.p50, latency.p99);
            if (latency.p99 <= 10)
                out.rate_at_10ms = rates [i];
        }
        out.sweep = strdup (line);
    }
    printf ("   receipts %-3s latency at %.0f msgs/s (half of max; %.0f s per run): p50 %.0f ms, "
            "p99 %.0f ms (target <= 10 ms)%s, max %.0f ms (medians of %d; p99s: %s)\n",
            receipts ? "on" : "off", out.rate, seconds, out.p50, out.p99,
            out.p99 <= 10 ? "" : " MISSED", out.max, s_RUNS, b_list (p99, s_RUNS, "%.0f"));
    printf ("   receipts %-3s latency split (p50s): created -> broker accepted %.0f ms (of which "
            "the hand-over to the daemon, durable in its outbox, p50 %.1f ms, p99 %.1f ms), "
            "broker accepted -> inbox "
            "%.0f ms\n",
            receipts ? "on" : "off", out.to_broker_p50, out.queue_p50, out.queue_p99,
            out.from_broker_p50);
    if (receipts) {
        printf ("   receipts on  latency at 20 msgs/s (the path nearly idle; %.0f s per run): "
                "p50 %.0f ms, p99 %.0f ms (medians of %d)\n",
                seconds / 2, out.idle_p50, out.idle_p99, s_RUNS);
        printf ("   receipts on  latency by rate (diagnostic, one %.0f s run each, ms): %s\n",
                seconds / 2, out.sweep);
    }
    fflush (stdout);
    s_fed_destroy (&fed);
    return out;
}

int
main (int argc, char *argv [])
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    certbus_init ();
    zsys_init ();
    if (argc > 1)
        b_log_to (argv [1]);
    int cores = b_cores ();
    size_t count = b_quick () ? 500 : 3000;
    double seconds = b_quick () ? 3 : 10;
    printf ("== case 2: end to end, node engine -> broker engine -> node engine, in one "
            "process (%d cores)\n",
            cores);
    printf ("   1 KiB payload, signed + encrypted; outbox, broker and inbox durable "
            "(SQLite WAL, synchronous=FULL)\n");
    if (b_quick ())
        printf ("   BENCH_QUICK: %zu messages per throughput run instead of 3000, %.0f s "
                "latency runs instead of 10\n",
                count, seconds);
    s_case_t on = s_case (true, count, seconds);
    s_case_t off = s_case (false, count, seconds);
    free (on.sweep);
    free (off.sweep);
    double commit [s_RUNS];
    for (int r = 0; r < s_RUNS; r++)
        commit [r] = b_commit_ms (b_quick () ? 50 : 200);
    double commit_m = b_median (commit, s_RUNS);
    printf ("   baseline disk: %.2f ms per SQLite commit (WAL, synchronous=FULL) = %.0f commits/s "
            "(median of %d: %s); e2e max / commit rate = %.2f; cores %d\n",
            commit_m, 1000 / commit_m, s_RUNS, b_list (commit, s_RUNS, "%.2f"),
            on.throughput * commit_m / 1000, cores);
    printf (
        "   (case 1 gives the broker relay and one-core verify rates of this same bench run)\n");
    b_result ("e2e_msgs_per_s", on.throughput);
    b_result ("e2e_sqlite_commit_ms", commit_m);
    b_result ("e2e_p50_ms", on.p50);
    b_result ("e2e_p99_ms", on.p99);
    b_result ("e2e_max_ms", on.max);
    b_result ("e2e_p50_to_broker_ms", on.to_broker_p50);
    b_result ("e2e_p50_from_broker_ms", on.from_broker_p50);
    b_result ("e2e_idle_p50_ms", on.idle_p50);
    b_result ("e2e_rate_with_p99_under_10ms", on.rate_at_10ms);
    b_result ("e2e_idle_p99_ms", on.idle_p99);
    b_result ("e2e_outbox_insert_p50_ms", on.queue_p50);
    b_result ("e2e_outbox_insert_p99_ms", on.queue_p99);
    b_result ("e2e_latency_rate_msgs_per_s", on.rate);
    b_result ("e2e_noreceipts_msgs_per_s", off.throughput);
    b_result ("e2e_noreceipts_p50_ms", off.p50);
    b_result ("e2e_noreceipts_p99_ms", off.p99);
    b_result ("e2e_noreceipts_latency_rate_msgs_per_s", off.rate);
    return 0;
}
