/*  bench_fanout.c - case 3: one advisory to 1,000 connected members, and
    case 4 (first half): the broker's memory with 1,000 connected idle
    members
    SPDX-License-Identifier: MPL-2.0

    usage: bench_fanout CERTBUS_BROKER [LOG]

    The broker is the real program (certbus-broker run) in its own process,
    so that its VmRSS is its own. This process holds the 1,000 members: one
    DEALER each with its own CURVE key and certificate (issued one by one
    with council_issue), spread over one thread per core. Each member
    answers the broker's pings, and for each delivery verifies the origin's
    signature, unwraps its content key, decrypts the payload, keeps it in
    memory (not in a database: a member's own inbox is case 2) and
    acknowledges it. The fan-out time runs from the publish leaving the
    publisher to the last member's verified, decrypted copy.
*/
#include "bench.h"
#include "council.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define s_PAYLOAD 1024
#define s_RUNS 3

typedef struct {
    b_council_t *council;
    const char *endpoint;
    size_t first, count; //  members [first, first + count)
    zsock_t **socks;
    atomic_int ready; //  welcomes received
    atomic_bool stop;
    pthread_t thread;
    //  per round
    atomic_long verified;
    atomic_long failed;
    _Atomic double last_verified; //  b_now () of the latest verified copy
    double first_delivery;        //  b_now () of the first delivery this round
    long pongs;
    //  kept from round 1 for the one-core baseline
    zchunk_t **kept;
    size_t kept_count;
} s_group_t;

static void *
s_member_thread (void *arg)
{
    s_group_t *group = arg;
    b_council_t *council = group->council;
    group->socks = calloc (group->count, sizeof (zsock_t *));
    zmq_pollitem_t *items = calloc (group->count, sizeof (zmq_pollitem_t));
    group->kept = calloc (group->count, sizeof (zchunk_t *));
    for (size_t i = 0; i < group->count; i++) {
        b_member_t *member = &council->members [group->first + i];
        group->socks [i] = b_client (council, member, group->endpoint);
        b_send_hello (group->socks [i], 0, certbus_directory_serial (council->directory));
        items [i].socket = zsock_resolve (group->socks [i]);
        items [i].events = ZMQ_POLLIN;
    }
    bool *welcomed = calloc (group->count, sizeof (bool));
    while (!atomic_load (&group->stop)) {
        int rc = zmq_poll (items, (int) group->count, 50);
        if (rc < 0)
            break;
        for (size_t i = 0; i < group->count; i++) {
            if (!(items [i].revents & ZMQ_POLLIN))
                continue;
            zsock_t *sock = group->socks [i];
            b_member_t *member = &council->members [group->first + i];
            while (zsock_events (sock) & ZMQ_POLLIN) {
                Certbus__Packet *packet = b_recv (sock);
                if (!packet)
                    continue;
                switch (packet->body_case) {
                    case CERTBUS__PACKET__BODY_HELLO:
                        if (!welcomed [i]) {
                            welcomed [i] = true;
                            atomic_fetch_add (&group->ready, 1);
                        }
                        break;
                    case CERTBUS__PACKET__BODY_PING:
                        b_send_pong (sock, packet->ping->time);
                        group->pongs++;
                        break;
                    case CERTBUS__PACKET__BODY_DELIVER: {
                        Certbus__Deliver *deliver = packet->deliver;
                        double now = b_now ();
                        if (group->first_delivery == 0)
                            group->first_delivery = now;
                        certbus_envelope_t *env = NULL;
                        uint8_t *payload = NULL;
                        size_t size = 0;
                        certbus_err_t err
                            = certbus_envelope_open (deliver->envelope.data, deliver->envelope.len,
                                                     council->directory, member->identity,
                                                     member->org, deliver->accepted_at / 1000, &env,
                                                     &payload, &size);
                        if (err == CERTBUS_OK && size == s_PAYLOAD) {
                            double done = b_now ();
                            atomic_store (&group->last_verified, done);
                            atomic_fetch_add (&group->verified, 1);
                            if (!group->kept [i]) {
                                group->kept [i] = zchunk_new (deliver->envelope.data,
                                                              deliver->envelope.len);
                                group->kept_count++;
                            }
                        }
                        else {
                            fprintf (stderr, "bench: %s cannot open its copy: %s\n", member->org,
                                     certbus_reason ());
                            atomic_fetch_add (&group->failed, 1);
                        }
                        free (payload); //  "stored in memory": held until here
                        certbus_envelope_destroy (&env);
                        uint64_t sequence = deliver->sequence;
                        b_send_acks (sock, &sequence, 1);
                        break;
                    }
                    case CERTBUS__PACKET__BODY_ERROR:
                        fprintf (stderr, "bench: %s: broker error %s\n", member->org,
                                 packet->error->reason);
                        break;
                    default:
                        break;
                }
                certbus_codec_free (packet);
            }
        }
    }
    for (size_t i = 0; i < group->count; i++)
        zsock_destroy (&group->socks [i]);
    free (welcomed);
    free (items);
    free (group->socks);
    return NULL;
}

static pid_t
s_spawn_broker (const char *program, const char *dir, const char *bind, const char *log)
{
    pid_t pid = fork ();
    if (pid < 0)
        b_die ("fork failed");
    if (pid == 0) {
        //  the broker goes when this program goes, however it ends
        prctl (PR_SET_PDEATHSIG, SIGTERM);
        FILE *out = fopen (log, "a");
        if (out) {
            dup2 (fileno (out), 1);
            dup2 (fileno (out), 2);
        }
        execl (program, program, "run", "--dir", dir, "--bind", bind, (char *) NULL);
        _exit (127);
    }
    return pid;
}

static double
s_mib (long kib)
{
    return (double) kib / 1024.0;
}

int
main (int argc, char *argv [])
{
    const char *log;
    const char *program = b_program_args (argc, argv, &log);
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
    }
    certbus_init ();
    zsys_set_max_sockets (0); //  as many as the fd limit allows
    zsys_init ();
    b_log_to (log);
    int cores = b_cores ();
    size_t members = b_quick () ? 200 : 1000;
    printf ("== case 3: fan-out of one advisory to %zu connected members; case 4: broker RSS "
            "with them idle (%d cores)\n",
            members, cores);
    if (b_quick ())
        printf ("   BENCH_QUICK: %zu members instead of 1000\n", members);
    fflush (stdout);

    //  members [0] publishes; all national, so the default policy lets it
    //  address "all"
    double issue_s = 0;
    b_council_t *council = b_council_new ("fanout", members + 1, "m", NULL, "national", &issue_s);
    printf ("   issued %zu certificates with council_issue in %.1f s (%.1f ms each)\n", members + 1,
            issue_s, issue_s * 1000 / (double) (members + 1));
    char *db = council_path (council->dir, BROKER_DB);
    struct stat st;
    double db_mib = stat (db, &st) == 0 ? (double) st.st_size / 1048576.0 : -1;
    free (db);
    printf ("   broker.db after %zu issues: %.1f MiB (every issue stores a new signed "
            "directory of all members)\n",
            members + 1, db_mib);

    int port = b_free_port ();
    char *endpoint = zsys_sprintf ("tcp://127.0.0.1:%d", port);
    double spawn_start = b_now ();
    pid_t broker = s_spawn_broker (program, council->dir, endpoint, log);

    //  The publisher's session tells us when the broker serves
    zsock_t *publisher = NULL;
    Certbus__Packet *welcome = NULL;
    for (int attempt = 0; attempt < 100 && !welcome; attempt++) {
        zsock_destroy (&publisher);
        publisher = b_client (council, &council->members [0], endpoint);
        b_send_hello (publisher, 0, certbus_directory_serial (council->directory));
        welcome = b_expect (publisher, CERTBUS__PACKET__BODY_HELLO, 200);
        int status;
        if (waitpid (broker, &status, WNOHANG) == broker)
            b_die ("certbus-broker run exited (see %s)", log);
    }
    if (!welcome)
        b_die ("the broker did not serve within 20 s");
    certbus_codec_free (welcome);
    double start_s = b_now () - spawn_start;
    zclock_sleep (1000);
    long rss_base = b_proc_kib (broker, "VmRSS");
    printf ("   broker started in %.2f s (program start to first session, %zu-member "
            "directory); RSS with 1 session: %.1f MiB\n",
            start_s, members + 1, s_mib (rss_base));
    fflush (stdout);

    //  The members, one thread per core
    int threads = cores;
    s_group_t *groups = calloc ((size_t) threads, sizeof (s_group_t));
    size_t per = (members + (size_t) threads - 1) / (size_t) threads;
    double connect_start = b_now ();
    for (int t = 0; t < threads; t++) {
        s_group_t *group = &groups [t];
        group->council = council;
        group->endpoint = endpoint;
        group->first = 1 + (size_t) t * per;
        group->count = (size_t) t == (size_t) threads - 1 ? members - (size_t) t * per : per;
        pthread_create (&group->thread, NULL, s_member_thread, group);
    }
    double deadline = b_now () + 120;
    while (true) {
        long ready = 0;
        for (int t = 0; t < threads; t++)
            ready += atomic_load (&groups [t].ready);
        if (ready >= (long) members)
            break;
        if (b_now () > deadline)
            b_die ("only %ld of %zu members got a session within 120 s", ready, members);
        zclock_sleep (10);
    }
    double connect_s = b_now () - connect_start;
    printf ("   %zu members connected (CURVE handshake + ZAP + hello) in %.2f s\n", members,
            connect_s);
    //  Idle: the members only answer pings (1 per second each)
    zclock_sleep (b_quick () ? 2000 : 5000);
    long rss_idle = b_proc_kib (broker, "VmRSS");
    long pongs = 0;
    for (int t = 0; t < threads; t++)
        pongs += groups [t].pongs;
    printf ("   broker RSS, %zu idle members: %.1f MiB (target <= 100 MiB)%s; baseline with 1 "
            "session %.1f MiB: +%.1f KiB per member; %ld pings answered while idle\n",
            members, s_mib (rss_idle), s_mib (rss_idle) <= 100 ? "" : " MISSED", s_mib (rss_base),
            (double) (rss_idle - rss_base) / (double) members, pongs);
    fflush (stdout);

    //  Fan-out rounds
    double fanout [s_RUNS], accept [s_RUNS], first [s_RUNS];
    size_t envelope_size = 0;
    for (int r = 0; r < s_RUNS; r++) {
        uint8_t payload [s_PAYLOAD];
        randombytes_buf (payload, sizeof payload);
        uint8_t id [CERTBUS_ID_SIZE];
        size_t size;
        uint8_t *envelope = b_seal (council, 0, "all", payload, sizeof payload, id, &size);
        envelope_size = size;
        long target = (long) members * (r + 1);
        for (int t = 0; t < threads; t++)
            groups [t].first_delivery = 0;
        double start = b_now ();
        b_send_publish (publisher, envelope, size);
        Certbus__Packet *ack = b_expect (publisher, CERTBUS__PACKET__BODY_PUBACK, 60000);
        if (!ack || ack->puback->status != CERTBUS__STATUS__STATUS_ACCEPTED)
            b_die ("fan-out publish not accepted: %s", ack ? ack->puback->reason : "no answer");
        accept [r] = b_now () - start;
        certbus_codec_free (ack);
        deadline = b_now () + 120;
        long verified = 0, failed = 0;
        while (true) {
            verified = failed = 0;
            for (int t = 0; t < threads; t++) {
                verified += atomic_load (&groups [t].verified);
                failed += atomic_load (&groups [t].failed);
            }
            if (verified + failed >= target)
                break;
            if (b_now () > deadline)
                b_die ("fan-out round %d: %ld of %zu verified in 120 s", r + 1,
                       verified - (long) members * r, members);
            zclock_sleep (1);
        }
        double last = 0, earliest = 0;
        for (int t = 0; t < threads; t++) {
            double at = atomic_load (&groups [t].last_verified);
            if (at > last)
                last = at;
            if (groups [t].first_delivery
                && (earliest == 0 || groups [t].first_delivery < earliest))
                earliest = groups [t].first_delivery;
        }
        fanout [r] = last - start;
        first [r] = earliest - start;
        if (failed)
            printf ("   round %d: %ld copies failed to open\n", r + 1, failed);
        free (envelope);
        zclock_sleep (500); //  let the acknowledgements settle
    }
    long rss_after = b_proc_kib (broker, "VmRSS");
    long hwm = b_proc_kib (broker, "VmHWM");

    //  Baseline: one core opening the same 1,000 copies (verify, unwrap,
    //  decrypt), no network, no broker
    double open_one_core = 0;
    {
        double start = b_now ();
        size_t opened = 0;
        for (int t = 0; t < threads; t++) {
            s_group_t *group = &groups [t];
            for (size_t i = 0; i < group->count; i++) {
                if (!group->kept [i])
                    continue;
                b_member_t *member = &council->members [group->first + i];
                certbus_envelope_t *env = NULL;
                uint8_t *plain = NULL;
                size_t size = 0;
                if (certbus_envelope_open (zchunk_data (group->kept [i]),
                                           zchunk_size (group->kept [i]), council->directory,
                                           member->identity, member->org, certbus_now (), &env,
                                           &plain, &size)
                    == CERTBUS_OK)
                    opened++;
                free (plain);
                certbus_envelope_destroy (&env);
            }
        }
        open_one_core = b_now () - start;
        if (opened < members)
            printf ("   baseline opened only %zu of %zu copies\n", opened, members);
    }
    double fanout_m = b_median (fanout, s_RUNS);
    printf ("   envelope %zu bytes with %zu wrapped keys; %d member threads\n", envelope_size,
            members, threads);
    printf ("   fan-out to %zu, all verified+decrypted (in memory): %.3f s (target <= 1 s)%s "
            "(median of %d: %s)\n",
            members, fanout_m, fanout_m <= 1.0 ? "" : " MISSED", s_RUNS,
            b_list (fanout, s_RUNS, "%.3f"));
    printf ("   of which: broker accept (verify, 1 message + %zu queue rows + audit, commit) "
            "%.3f s; first delivery at %.3f s (medians)\n",
            members, b_median (accept, s_RUNS), b_median (first, s_RUNS));
    printf ("   baseline: one core opening the same %zu copies: %.3f s (ratio fan-out/baseline "
            "%.1f); cores %d\n",
            members, open_one_core, fanout_m / open_one_core, cores);
    printf ("   broker RSS after the fan-outs %.1f MiB, peak (VmHWM) %.1f MiB\n", s_mib (rss_after),
            s_mib (hwm));
    b_result ("fanout_members", (double) members);
    b_result ("fanout_1000_s", fanout_m);
    b_result ("fanout_accept_s", b_median (accept, s_RUNS));
    b_result ("fanout_first_delivery_s", b_median (first, s_RUNS));
    b_result ("fanout_open_one_core_s", open_one_core);
    b_result ("fanout_issue_s", issue_s);
    b_result ("fanout_connect_s", connect_s);
    b_result ("rss_1000_idle_mib", s_mib (rss_idle));
    b_result ("rss_1_session_mib", s_mib (rss_base));
    b_result ("rss_after_fanout_mib", s_mib (rss_after));
    b_result ("rss_fanout_hwm_mib", s_mib (hwm));

    for (int t = 0; t < threads; t++)
        atomic_store (&groups [t].stop, true);
    for (int t = 0; t < threads; t++) {
        pthread_join (groups [t].thread, NULL);
        for (size_t i = 0; i < groups [t].count; i++)
            zchunk_destroy (&groups [t].kept [i]);
        free (groups [t].kept);
    }
    free (groups);
    zsock_destroy (&publisher);
    kill (broker, SIGTERM);
    int status;
    waitpid (broker, &status, 0);
    free (endpoint);
    b_council_destroy (&council, true);
    return 0;
}
