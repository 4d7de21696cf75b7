/*  bench_mqtt.c - case 6: the same 1 KiB 1 -> 1 relay through Mosquitto at
    QoS 1, as a peer reference (built only where mosquitto and
    libmosquitto-dev are installed)
    SPDX-License-Identifier: MPL-2.0

    usage: bench_mqtt MOSQUITTO

    A private mosquitto on a free loopback port (plain TCP, no TLS, no
    authentication, persistence off: QoS 1 messages live in memory only, so
    this is neither signed, encrypted nor durable). The publisher keeps up
    to 1,000 QoS 1 publishes in flight (as case 1's generator does), the
    broker up to 64 to the subscriber (as certbus's window), and its queue
    is unbounded. Figure = messages / (last one received - first sent).
*/
#include "bench.h"
#include <arpa/inet.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define s_PAYLOAD 1024
#define s_RUNS 3

typedef struct {
    atomic_long received;
    atomic_bool subscribed;
    _Atomic double last;
    long target;
} s_sub_t;

static void
s_on_message (struct mosquitto *mosq, void *arg, const struct mosquitto_message *message)
{
    (void) mosq;
    s_sub_t *sub = arg;
    if (message->payloadlen == s_PAYLOAD) {
        long got = atomic_fetch_add (&sub->received, 1) + 1;
        if (got >= sub->target)
            atomic_store (&sub->last, b_now ());
    }
}

static void
s_on_subscribe (struct mosquitto *mosq, void *arg, int mid, int count, const int *granted)
{
    (void) mosq;
    (void) mid;
    (void) count;
    (void) granted;
    atomic_store (&((s_sub_t *) arg)->subscribed, true);
}

static double
s_run (int port, long count, int run)
{
    s_sub_t sub = {0};
    sub.target = count;
    char id [64];
    snprintf (id, sizeof id, "bench-sub-%d-%d", (int) getpid (), run);
    struct mosquitto *subscriber = mosquitto_new (id, true, &sub);
    snprintf (id, sizeof id, "bench-pub-%d-%d", (int) getpid (), run);
    struct mosquitto *publisher = mosquitto_new (id, true, NULL);
    if (!subscriber || !publisher)
        b_die ("mosquitto_new failed");
    mosquitto_message_callback_set (subscriber, s_on_message);
    mosquitto_subscribe_callback_set (subscriber, s_on_subscribe);
    mosquitto_max_inflight_messages_set (publisher, 1000);
    int rc = MOSQ_ERR_UNKNOWN;
    for (int attempt = 0; attempt < 50 && rc != MOSQ_ERR_SUCCESS; attempt++) {
        rc = mosquitto_connect (subscriber, "127.0.0.1", port, 60);
        if (rc != MOSQ_ERR_SUCCESS)
            usleep (100000);
    }
    if (rc != MOSQ_ERR_SUCCESS || mosquitto_connect (publisher, "127.0.0.1", port, 60))
        b_die ("cannot connect to mosquitto on port %d", port);
    mosquitto_loop_start (subscriber);
    mosquitto_loop_start (publisher);
    char topic [64];
    snprintf (topic, sizeof topic, "bench/%d", run);
    mosquitto_subscribe (subscriber, NULL, topic, 1);
    double wait = b_now () + 10;
    while (!atomic_load (&sub.subscribed) && b_now () < wait)
        usleep (1000);
    uint8_t payload [s_PAYLOAD];
    memset (payload, 0x5a, sizeof payload);
    double start = b_now ();
    for (long i = 0; i < count; i++) {
        int prc;
        while ((prc = mosquitto_publish (publisher, NULL, topic, s_PAYLOAD, payload, 1, false))
               == MOSQ_ERR_NOMEM)
            usleep (100);
        if (prc != MOSQ_ERR_SUCCESS)
            b_die ("mosquitto_publish: %s", mosquitto_strerror (prc));
    }
    double deadline = b_now () + 300;
    while (atomic_load (&sub.received) < count && b_now () < deadline)
        usleep (1000);
    long received = atomic_load (&sub.received);
    if (received < count)
        b_die ("mosquitto delivered %ld of %ld", received, count);
    double elapsed = atomic_load (&sub.last) - start;
    mosquitto_disconnect (publisher);
    mosquitto_disconnect (subscriber);
    mosquitto_loop_stop (publisher, false);
    mosquitto_loop_stop (subscriber, false);
    mosquitto_destroy (publisher);
    mosquitto_destroy (subscriber);
    return (double) count / elapsed;
}

int
main (int argc, char *argv [])
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    if (argc < 2)
        b_die ("usage: bench_mqtt MOSQUITTO");
    int cores = b_cores ();
    long count = b_quick () ? 3000 : 20000;
    int port = b_free_port ();
    char *dir = b_tmpdir ("mqtt");
    char *conf = zsys_sprintf ("%s/mosquitto.conf", dir);
    FILE *file = fopen (conf, "w");
    if (!file)
        b_die ("cannot write %s", conf);
    fprintf (file,
             "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
             "max_inflight_messages 64\nmax_queued_messages 0\nlog_dest none\n",
             port);
    fclose (file);
    pid_t pid = fork ();
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGTERM);
        execl (argv [1], argv [1], "-c", conf, (char *) NULL);
        _exit (127);
    }
    mosquitto_lib_init ();
    printf ("== case 6: Mosquitto QoS 1 relay, 1 KiB, 1 publisher -> 1 subscriber (%d cores)\n",
            cores);
    if (b_quick ())
        printf ("   BENCH_QUICK: %ld messages per run instead of 20000\n", count);
    double rates [s_RUNS];
    for (int r = 0; r < s_RUNS; r++)
        rates [r] = s_run (port, count, r);
    double rate = b_median (rates, s_RUNS);
    int major, minor, revision;
    mosquitto_lib_version (&major, &minor, &revision);
    printf ("   mosquitto QoS 1: %8.0f msgs/s (median of %d: %s); in memory, unsigned, "
            "unencrypted, no TLS; libmosquitto %d.%d.%d; cores %d\n",
            rate, s_RUNS, b_list (rates, s_RUNS, "%.0f"), major, minor, revision, cores);
    b_result ("mosquitto_qos1_msgs_per_s", rate);
    mosquitto_lib_cleanup ();
    kill (pid, SIGTERM);
    int status;
    waitpid (pid, &status, 0);
    b_rmrf (dir);
    free (conf);
    free (dir);
    return 0;
}
