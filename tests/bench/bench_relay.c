/*  bench_relay.c - case 1: broker relay throughput of signed, encrypted,
    durable 1 KiB envelopes, 1 publisher -> 1 recipient, beside its two
    baselines from the same run: one core's Ed25519 verify rate and a raw
    ZeroMQ CURVE ROUTER relay of 1 KiB messages
    SPDX-License-Identifier: MPL-2.0

    The broker engine runs in this process as an actor, exactly as
    certbus-broker run starts it (default window, batch and durability:
    SQLite WAL, synchronous=FULL). The load generator is one thread with two
    raw DEALER member sockets: the publisher keeps up to s_PUB_WINDOW
    publishes unacknowledged, the recipient acknowledges every delivery
    batch it reads (it does not verify: that is case 2). Envelopes are
    sealed before the clock starts.
*/
#include "bench.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define s_PAYLOAD 1024
#define s_PUB_WINDOW 1000 //  publishes in flight from the generator
#define s_RUNS 3

//  ---------------------------------------------------------------------------
//  Baseline 1: Ed25519 verify on one core, over a message the size of what
//  the broker verifies (domain, 0x00, header bytes)

static double
s_verify_rate (size_t message_size, double seconds)
{
    uint8_t pk [crypto_sign_PUBLICKEYBYTES], sk [crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair (pk, sk);
    uint8_t *message = malloc (message_size);
    randombytes_buf (message, message_size);
    uint8_t sig [crypto_sign_BYTES];
    crypto_sign_detached (sig, NULL, message, message_size, sk);
    long count = 0;
    double start = b_now (), elapsed = 0;
    while (elapsed < seconds) {
        for (int i = 0; i < 100; i++)
            if (crypto_sign_verify_detached (sig, message, message_size, pk) != 0)
                b_die ("verify failed");
        count += 100;
        elapsed = b_now () - start;
    }
    free (message);
    return (double) count / elapsed;
}

//  ---------------------------------------------------------------------------
//  Baseline 2: raw ZeroMQ CURVE relay, DEALER -> ROUTER -> DEALER in this
//  process over tcp loopback; the relay thread forwards every message from
//  routing id "A" to routing id "B".

static void
s_relay_actor (zsock_t *pipe, void *args)
{
    zsock_t *router = args;
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    zframe_t *to_b = zframe_new ("B", 1);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == pipe || zpoller_terminated (poller))
            break;
        for (int n = 0; n < 256 && (zsock_events (router) & ZMQ_POLLIN); n++) {
            zframe_t *from = zframe_recv (router);
            zframe_t *payload = zframe_recv (router);
            if (!from || !payload) {
                zframe_destroy (&from);
                zframe_destroy (&payload);
                break;
            }
            if (zframe_streq (from, "A")) {
                zframe_send (&to_b, router, ZFRAME_MORE | ZFRAME_REUSE);
                zframe_send (&payload, router, 0);
            }
            zframe_destroy (&from);
            zframe_destroy (&payload);
        }
    }
    zframe_destroy (&to_b);
    zpoller_destroy (&poller);
}

typedef struct {
    zsock_t *sender;
    long count;
} s_blast_t;

static void
s_blast_actor (zsock_t *pipe, void *args)
{
    s_blast_t *blast = args;
    zsock_signal (pipe, 0);
    uint8_t payload [s_PAYLOAD];
    randombytes_buf (payload, sizeof payload);
    for (long i = 0; i < blast->count; i++) {
        zframe_t *frame = zframe_new (payload, sizeof payload);
        if (zframe_send (&frame, blast->sender, 0) != 0)
            break;
    }
    char *command = zstr_recv (pipe); //  $TERM
    zstr_free (&command);
}

static double
s_zmq_curve_relay (long count)
{
    zcert_t *server = zcert_new (), *client_a = zcert_new (), *client_b = zcert_new ();
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    zsock_set_curve_server (router, 1);
    zcert_apply (server, router);
    zsock_set_sndhwm (router, 100000);
    zsock_set_rcvhwm (router, 100000);
    zsock_set_linger (router, 0);
    if (zsock_bind (router, "tcp://127.0.0.1:*") < 0)
        b_die ("cannot bind the baseline ROUTER");
    char *endpoint = zsock_last_endpoint (router);
    zsock_t *a = zsock_new (ZMQ_DEALER), *b = zsock_new (ZMQ_DEALER);
    zsock_t *ends [2] = {a, b};
    zcert_t *certs [2] = {client_a, client_b};
    const char *ids [2] = {"A", "B"};
    for (int i = 0; i < 2; i++) {
        zcert_apply (certs [i], ends [i]);
        zsock_set_curve_serverkey_bin (ends [i], zcert_public_key (server));
        zsock_set_identity (ends [i], ids [i]);
        zsock_set_linger (ends [i], 0);
        if (zsock_connect (ends [i], "%s", endpoint))
            b_die ("cannot connect the baseline DEALER");
    }
    zactor_t *relay = zactor_new (s_relay_actor, router);
    //  B says hello so the ROUTER knows its routing id; wait for the echo
    //  path to work before timing
    zstr_send (b, "hello");
    zsock_set_rcvtimeo (b, 100);
    char *warm = NULL;
    for (int i = 0; i < 100 && !warm; i++) {
        zstr_send (a, "warm");
        warm = zstr_recv (b);
    }
    if (!warm)
        b_die ("baseline relay did not answer");
    zstr_free (&warm);
    zsock_set_rcvtimeo (b, 0);
    while ((warm = zstr_recv (b)))
        zstr_free (&warm);
    zsock_set_rcvtimeo (b, -1);
    s_blast_t blast = {a, count};
    double start = b_now ();
    zactor_t *sender = zactor_new (s_blast_actor, &blast);
    for (long i = 0; i < count; i++) {
        zframe_t *frame = zframe_recv (b);
        if (!frame)
            b_die ("baseline relay: receive failed");
        if (zframe_size (frame) != s_PAYLOAD)
            b_die ("baseline relay: wrong size");
        zframe_destroy (&frame);
    }
    double elapsed = b_now () - start;
    zactor_destroy (&sender);
    zactor_destroy (&relay);
    zsock_destroy (&a);
    zsock_destroy (&b);
    zsock_destroy (&router);
    zstr_free (&endpoint);
    zcert_destroy (&server);
    zcert_destroy (&client_a);
    zcert_destroy (&client_b);
    return (double) count / elapsed;
}

//  ---------------------------------------------------------------------------
//  The broker relay

typedef struct {
    double msgs_per_s;   //  deliveries / (last delivery - first publish)
    double accept_per_s; //  pubacks / (last puback - first publish)
    size_t envelope_size;
    size_t header_size;
    int64_t commits;
    double broker_cpu, io_cpu, generator_cpu;          //  seconds in the timed part
    double broker_cpu_us, io_cpu_us, generator_cpu_us; //  per message
    double broker_busy;                                //  engine thread CPU / wall time
    double broker_sys, broker_sys_us;                  //  of which in the kernel
} s_run_t;

static s_run_t
s_broker_relay (size_t count)
{
    s_run_t result = {0};
    static const char *orgs [2] = {"alpha", "bravo"};
    b_council_t *council = b_council_new ("relay", 2, NULL, orgs, "national", NULL);
    //  Sealed before the clock starts: the generator's crypto is not timed
    uint8_t payload [s_PAYLOAD];
    uint8_t **envelopes = calloc (count, sizeof (uint8_t *));
    size_t *sizes = calloc (count, sizeof (size_t));
    for (size_t i = 0; i < count; i++) {
        randombytes_buf (payload, sizeof payload);
        uint8_t id [CERTBUS_ID_SIZE];
        envelopes [i] = b_seal (council, 0, "org:bravo", payload, sizeof payload, id, &sizes [i]);
    }
    result.envelope_size = sizes [0];
    certbus_envelope_t *env = NULL;
    if (certbus_envelope_decode (envelopes [0], sizes [0], &env) == CERTBUS_OK) {
        certbus_envelope_header_bytes (env, &result.header_size);
        certbus_envelope_destroy (&env);
    }
    b_broker_t *broker = b_broker_start (council->dir, 0, 60000);
    if (!broker)
        b_die ("broker did not start");
    zsock_t *publisher = b_client (council, &council->members [0], broker->endpoint);
    zsock_t *recipient = b_client (council, &council->members [1], broker->endpoint);
    b_send_hello (recipient, 0, certbus_directory_serial (council->directory));
    Certbus__Packet *welcome = b_expect (recipient, CERTBUS__PACKET__BODY_HELLO, 10000);
    if (!welcome)
        b_die ("no welcome from the broker");
    certbus_codec_free (welcome);
    //  The publisher's CURVE handshake is done before the clock starts
    zsock_set_sndhwm (publisher, 0);
    certbus_packet_send_directory_request (publisher, NULL);
    Certbus__Packet *reply = b_expect (publisher, CERTBUS__PACKET__BODY_DIRECTORY_REPLY, 10000);
    if (!reply)
        b_die ("publisher got no directory reply");
    certbus_codec_free (reply);
    zpoller_t *poller = zpoller_new (publisher, recipient, NULL);
    size_t sent = 0, acked = 0, delivered = 0;
    uint64_t *sequences = malloc (512 * sizeof (uint64_t));
    b_thread_t before [64], after [64];
    int before_count = b_threads (before, 64);
    double start = b_now (), last_ack = start, last_delivery = start;
    double deadline = start + 600;
    while (delivered < count) {
        while (sent < count && sent - acked < s_PUB_WINDOW) {
            if (b_send_publish (publisher, envelopes [sent], sizes [sent]))
                b_die ("publish send failed");
            sent++;
        }
        if (b_now () > deadline)
            b_die ("relay stalled: sent %zu acked %zu delivered %zu", sent, acked, delivered);
        zpoller_wait (poller, 100);
        while (zsock_events (publisher) & ZMQ_POLLIN) {
            Certbus__Packet *packet = b_recv (publisher);
            if (packet && packet->body_case == CERTBUS__PACKET__BODY_PUBACK) {
                if (packet->puback->status != CERTBUS__STATUS__STATUS_ACCEPTED)
                    b_die ("publish refused: %s", packet->puback->reason);
                acked++;
                last_ack = b_now ();
            }
            certbus_codec_free (packet);
        }
        size_t batch = 0;
        while (batch < 512 && (zsock_events (recipient) & ZMQ_POLLIN)) {
            Certbus__Packet *packet = b_recv (recipient);
            if (packet && packet->body_case == CERTBUS__PACKET__BODY_DELIVER) {
                sequences [batch++] = packet->deliver->sequence;
                delivered++;
            }
            else if (packet && packet->body_case == CERTBUS__PACKET__BODY_PING)
                b_send_pong (recipient, packet->ping->time);
            certbus_codec_free (packet);
        }
        if (batch) {
            last_delivery = b_now ();
            b_send_acks (recipient, sequences, batch);
        }
    }
    //  Wait for the last acknowledgements to be processed, then see which
    //  thread did what
    int64_t acks = 0;
    for (int i = 0; i < 500 && acks < (int64_t) count; i++) {
        acks = b_broker_stat (broker, "acks");
        if (acks < (int64_t) count)
            zclock_sleep (10);
    }
    double wall = b_now () - start;
    int after_count = b_threads (after, 64);
    int main_tid = (int) getpid ();
    for (int i = 0; i < after_count; i++) {
        double delta = after [i].cpu_s;
        for (int j = 0; j < before_count; j++)
            if (before [j].tid == after [i].tid)
                delta -= before [j].cpu_s;
        if (after [i].tid == main_tid)
            result.generator_cpu = delta;
        else if (strncmp (after [i].comm, "ZMQbg/IO", 8) == 0)
            result.io_cpu += delta;
        else if (delta > result.broker_cpu) {
            result.broker_cpu = delta; //  the busiest other thread: the engine
            double sys = after [i].sys_s;
            for (int j = 0; j < before_count; j++)
                if (before [j].tid == after [i].tid)
                    sys -= before [j].sys_s;
            result.broker_sys = sys;
        }
    }
    result.broker_sys_us = result.broker_sys * 1e6 / (double) count;
    result.broker_cpu_us = result.broker_cpu * 1e6 / (double) count;
    result.broker_busy = result.broker_cpu / wall;
    result.io_cpu_us = result.io_cpu * 1e6 / (double) count;
    result.generator_cpu_us = result.generator_cpu * 1e6 / (double) count;
    result.msgs_per_s = (double) count / (last_delivery - start);
    result.accept_per_s = (double) acked / (last_ack - start);
    result.commits = b_broker_stat (broker, "commits");
    int64_t accepted = b_broker_stat (broker, "accepted");
    if (accepted != (int64_t) count)
        b_die ("broker accepted %lld of %zu", (long long) accepted, count);
    free (sequences);
    zpoller_destroy (&poller);
    zsock_destroy (&publisher);
    zsock_destroy (&recipient);
    b_broker_stop (&broker);
    for (size_t i = 0; i < count; i++)
        free (envelopes [i]);
    free (envelopes);
    free (sizes);
    b_council_destroy (&council, true);
    return result;
}

int
main (int argc, char *argv [])
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    certbus_init ();
    zsys_init ();
    zsys_set_sndhwm (0);
    zsys_set_rcvhwm (0);
    if (argc > 1)
        b_log_to (argv [1]);
    int cores = b_cores ();
    size_t count = b_quick () ? 3000 : 20000;
    long raw_count = b_quick () ? 50000 : 300000;
    printf ("== case 1: broker relay, 1 KiB payload, 1 publisher -> 1 recipient (%d cores)\n",
            cores);
    if (b_quick ())
        printf ("   BENCH_QUICK: %zu messages per run instead of 20000; baseline %ld instead "
                "of 300000\n",
                count, raw_count);

    //  Each run measures the relay and, right beside it, both baselines.
    //  The raw relay goes first in each run: no broker (and so no ZAP
    //  handler) is running then, so libzmq admits its CURVE clients.
    double raw [s_RUNS], relay [s_RUNS], accept [s_RUNS], verify [s_RUNS], commit [s_RUNS];
    double engine_us [s_RUNS], engine_busy [s_RUNS], io_us [s_RUNS], gen_us [s_RUNS];
    double engine_sys_us [s_RUNS];
    s_run_t run = {0};
    if (getenv ("BENCH_PROFILE_RELAY")) {
        //  one broker relay run and nothing else, for perf or callgrind
        run = s_broker_relay (count);
        printf ("   profile run: %.0f msgs/s\n", run.msgs_per_s);
        return 0;
    }
    for (int r = 0; r < s_RUNS; r++) {
        raw [r] = s_zmq_curve_relay (raw_count);
        run = s_broker_relay (count);
        relay [r] = run.msgs_per_s;
        accept [r] = run.accept_per_s;
        engine_us [r] = run.broker_cpu_us;
        engine_busy [r] = run.broker_busy;
        engine_sys_us [r] = run.broker_sys_us;
        io_us [r] = run.io_cpu_us;
        gen_us [r] = run.generator_cpu_us;
        size_t verify_size = strlen ("certbus-envelope-v1") + 1 + run.header_size;
        verify [r] = s_verify_rate (verify_size, b_quick () ? 0.3 : 1.0);
        commit [r] = b_commit_ms (b_quick () ? 50 : 200);
    }
    size_t verify_size = strlen ("certbus-envelope-v1") + 1 + run.header_size;
    double relay_m = b_median (relay, s_RUNS), accept_m = b_median (accept, s_RUNS);
    double raw_m = b_median (raw, s_RUNS), verify_m = b_median (verify, s_RUNS);
    printf ("   envelope %zu bytes (header %zu bytes signed), %zu messages per run, "
            "broker window 64, batch 256\n",
            run.envelope_size, run.header_size, count);
    printf ("   broker relay:        %8.0f msgs/s delivered (median of %d: %s)\n", relay_m, s_RUNS,
            b_list (relay, s_RUNS, "%.0f"));
    printf ("   broker accept:       %8.0f publishes/s acknowledged durable (median of %d: %s)\n",
            accept_m, s_RUNS, b_list (accept, s_RUNS, "%.0f"));
    printf ("   baseline verify:     %8.0f Ed25519 verifies/s on one core (%zu-byte message; "
            "median of %d: %s)\n",
            verify_m, verify_size, s_RUNS, b_list (verify, s_RUNS, "%.0f"));
    printf ("   baseline zmq CURVE:  %8.0f msgs/s, DEALER -> ROUTER -> DEALER, 1 KiB (median of "
            "%d: %s)\n",
            raw_m, s_RUNS, b_list (raw, s_RUNS, "%.0f"));
    double commit_m = b_median (commit, s_RUNS);
    double engine_us_m = b_median (engine_us, s_RUNS),
           engine_busy_m = b_median (engine_busy, s_RUNS);
    printf ("   where the time goes: engine thread %.0f us CPU per message (%.0f us of it in the "
            "kernel); it was on a core %.0f%% of the run's wall time, and idle, blocked (poll, "
            "fsync) or waiting for a core the rest; ZMQ I/O thread %.0f us; load generator "
            "%.0f us (medians)\n",
            engine_us_m, b_median (engine_sys_us, s_RUNS), 100 * engine_busy_m,
            b_median (io_us, s_RUNS), b_median (gen_us, s_RUNS));
    printf ("   one verify costs %.0f us here: verification is %.0f%% of the engine's CPU per "
            "message\n",
            1e6 / b_median (verify, s_RUNS), 100 * (1e6 / b_median (verify, s_RUNS)) / engine_us_m);
    printf ("   baseline disk:       %8.2f ms per SQLite commit (WAL, synchronous=FULL) = %.0f "
            "commits/s (median of %d: %s)\n",
            commit_m, 1000 / commit_m, s_RUNS, b_list (commit, s_RUNS, "%.2f"));
    printf ("   ratio relay/verify = %.3f (target >= 0.8)%s; relay/zmq = %.4f; cores %d\n",
            relay_m / verify_m, relay_m / verify_m >= 0.8 ? "" : "  MISSED", relay_m / raw_m,
            cores);
    b_result ("relay_msgs_per_s", relay_m);
    b_result ("relay_accept_per_s", accept_m);
    b_result ("relay_envelope_bytes", (double) run.envelope_size);
    b_result ("relay_messages_per_run", (double) count);
    b_result ("verify_one_core_ops_per_s", verify_m);
    b_result ("zmq_curve_relay_msgs_per_s", raw_m);
    b_result ("relay_over_verify", relay_m / verify_m);
    b_result ("sqlite_commit_ms", commit_m);
    b_result ("relay_engine_cpu_us_per_msg", engine_us_m);
    b_result ("relay_engine_busy", engine_busy_m);
    b_result ("relay_commits_last_run", (double) run.commits);
    b_result ("relay_over_zmq", relay_m / raw_m);
    return 0;
}
