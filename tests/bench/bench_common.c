/*  bench_common.c - shared helpers of the `make bench` programs
    SPDX-License-Identifier: MPL-2.0
*/
#include "bench.h"
#include "council.h"
#include "engine.h"
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

//  ---------------------------------------------------------------------------
//  Clock, memory, output

double
b_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

long
b_proc_kib (pid_t pid, const char *field)
{
    char path [64];
    if (pid)
        snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    else
        snprintf (path, sizeof path, "/proc/self/status");
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    char line [256];
    size_t len = strlen (field);
    long value = -1;
    while (fgets (line, sizeof line, file))
        if (strncmp (line, field, len) == 0 && line [len] == ':') {
            value = strtol (line + len + 1, NULL, 10);
            break;
        }
    fclose (file);
    return value;
}

void
b_result (const char *key, double value)
{
    //  CERTBUS_BENCH_RESULT_PREFIX names a second run's figures (pg_)
    const char *prefix = getenv ("CERTBUS_BENCH_RESULT_PREFIX");
    prefix = prefix ? prefix : "";
    if (value == (double) (long long) value && value < 1e15 && value > -1e15)
        printf ("RESULT %s%s %lld\n", prefix, key, (long long) value);
    else
        printf ("RESULT %s%s %.6g\n", prefix, key, value);
    fflush (stdout);
}

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y ? 1 : 0;
}

double
b_median (const double *values, size_t n)
{
    if (n == 0)
        return 0;
    double *copy = malloc (n * sizeof (double));
    memcpy (copy, values, n * sizeof (double));
    qsort (copy, n, sizeof (double), s_cmp_double);
    double median = n % 2 ? copy [n / 2] : (copy [n / 2 - 1] + copy [n / 2]) / 2;
    free (copy);
    return median;
}

double
b_percentile (double *values, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort (values, n, sizeof (double), s_cmp_double);
    size_t index = (size_t) (p * (double) (n - 1) + 0.5);
    return values [index < n ? index : n - 1];
}

const char *
b_list (const double *values, size_t n, const char *fmt)
{
    static char buffer [1024];
    size_t used = 0;
    buffer [0] = 0;
    for (size_t i = 0; i < n && used < sizeof buffer - 64; i++) {
        if (i)
            used += (size_t) snprintf (buffer + used, sizeof buffer - used, ", ");
        used += (size_t) snprintf (buffer + used, sizeof buffer - used, fmt, values [i]);
    }
    return buffer;
}

bool
b_quick (void)
{
    const char *quick = getenv ("BENCH_QUICK");
    return quick && *quick && strcmp (quick, "0") != 0;
}

int
b_cores (void)
{
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    return cores > 0 ? (int) cores : 1;
}

void
b_die (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, "bench: ");
    vfprintf (stderr, format, args);
    fprintf (stderr, "\n");
    va_end (args);
    fflush (stdout);
    fflush (stderr);
    _exit (2);
}

const char *
b_program_args (int argc, char *argv [], const char **log_p)
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    if (argc < 2)
        b_die ("usage: %s CERTBUS_BROKER [LOG]", basename (argv [0]));
    *log_p = argc > 2 ? argv [2] : "/dev/null";
    return argv [1];
}

int
b_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || bind (fd, (struct sockaddr *) &addr, sizeof addr)
        || getsockname (fd, (struct sockaddr *) &addr, &len))
        b_die ("cannot find a free port");
    int port = ntohs (addr.sin_port);
    close (fd);
    return port;
}

char *
b_tmpdir (const char *name)
{
    const char *base = getenv ("BENCH_TMP");
    char *path = zsys_sprintf ("%s/certbus-bench-%s-XXXXXX", base && *base ? base : "/tmp", name);
    if (!mkdtemp (path))
        b_die ("cannot make a temp folder %s", path);
    return path;
}

static int
s_remove_one (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb;
    (void) flag;
    (void) ftw;
    return remove (path);
}

void
b_rmrf (const char *dir)
{
    if (dir && *dir && strcmp (dir, "/") != 0)
        nftw (dir, s_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void
b_log_to (const char *path)
{
    FILE *file = fopen (path, "a");
    if (file) {
        setvbuf (file, NULL, _IOLBF, 0);
        zsys_set_logstream (file);
    }
}

int
b_stdout_off (void)
{
    fflush (stdout);
    int saved = dup (1);
    int devnull = open ("/dev/null", O_WRONLY);
    if (devnull >= 0) {
        dup2 (devnull, 1);
        close (devnull);
    }
    return saved;
}

void
b_stdout_on (int saved)
{
    fflush (stdout);
    if (saved >= 0) {
        dup2 (saved, 1);
        close (saved);
    }
}

int
b_threads (b_thread_t *threads, int max)
{
    DIR *dir = opendir ("/proc/self/task");
    if (!dir)
        return 0;
    long ticks = sysconf (_SC_CLK_TCK);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)) && count < max) {
        if (entry->d_name [0] == '.')
            continue;
        char path [300], line [1024];
        snprintf (path, sizeof path, "/proc/self/task/%s/stat", entry->d_name);
        FILE *file = fopen (path, "r");
        if (!file)
            continue;
        if (fgets (line, sizeof line, file)) {
            //  pid (comm) state ... utime is field 14, stime 15
            char *open_paren = strchr (line, '('), *close_paren = strrchr (line, ')');
            if (open_paren && close_paren) {
                b_thread_t *thread = &threads [count];
                thread->tid = atoi (line);
                size_t len = (size_t) (close_paren - open_paren - 1);
                if (len >= sizeof thread->comm)
                    len = sizeof thread->comm - 1;
                memcpy (thread->comm, open_paren + 1, len);
                thread->comm [len] = 0;
                unsigned long utime = 0, stime = 0;
                char *fields = close_paren + 2;
                int field = 3;
                for (char *token = strtok (fields, " "); token; token = strtok (NULL, " ")) {
                    if (field == 14)
                        utime = strtoul (token, NULL, 10);
                    else if (field == 15) {
                        stime = strtoul (token, NULL, 10);
                        break;
                    }
                    field++;
                }
                thread->cpu_s = (double) (utime + stime) / (double) ticks;
                thread->sys_s = (double) stime / (double) ticks;
                count++;
            }
        }
        fclose (file);
    }
    closedir (dir);
    return count;
}

double
b_commit_ms (int commits)
{
    char *dir = b_tmpdir ("commit");
    char *path = zsys_sprintf ("%s/commit.db", dir);
    sqlite3 *db = NULL;
    if (sqlite3_open (path, &db) != SQLITE_OK
        || sqlite3_exec (db,
                         "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                         " CREATE TABLE t (x BLOB);",
                         NULL, NULL, NULL)
               != SQLITE_OK)
        b_die ("commit baseline: cannot make %s", path);
    double start = b_now ();
    for (int i = 0; i < commits; i++)
        sqlite3_exec (db, "INSERT INTO t VALUES (randomblob (1400))", NULL, NULL, NULL);
    double ms = (b_now () - start) * 1000 / commits;
    sqlite3_close (db);
    b_rmrf (dir);
    free (path);
    free (dir);
    return ms;
}

//  ---------------------------------------------------------------------------
//  Council and members

b_council_t *
b_council_new (const char *name, size_t count, const char *prefix, const char *const *orgs,
               const char *tier, double *issue_s_p)
{
    b_council_t *self = calloc (1, sizeof *self);
    self->dir = b_tmpdir (name);
    //  CERTBUS_BENCH_STORE_URL (a libpq URI template whose %s names a
    //  database of each Council) puts the store on PostgreSQL
    static int councils = 0;
    const char *store = getenv ("CERTBUS_BENCH_STORE_URL");
    char url [512] = "sqlite:";
    if (store && *store) {
        char db [64];
        snprintf (db, sizeof db, "bench_%d_%d", (int) getpid (), councils++);
        snprintf (url, sizeof url, store, db);
    }
    if (council_init (self->dir, url))
        b_die ("council_init %s: %s", self->dir, certbus_reason ());
    char *path = council_path (self->dir, COUNCIL_PUB);
    if (certbus_pubfile_read (path, self->council_key, NULL))
        b_die ("%s", certbus_reason ());
    free (path);
    path = council_path (self->dir, BROKER_PUB);
    if (certbus_pubfile_read (path, self->broker_sign, self->broker_curve))
        b_die ("%s", certbus_reason ());
    free (path);
    self->members = calloc (count ? count : 1, sizeof (b_member_t));
    self->count = count;
    char *req_path = council_path (self->dir, "member.req");
    char *cert_path = council_path (self->dir, "member.cert");
    //  council_issue prints a line per certificate: keep them out of the
    //  bench output
    int saved_stdout = b_stdout_off ();
    double start = b_now ();
    for (size_t i = 0; i < count; i++) {
        b_member_t *member = &self->members [i];
        if (orgs)
            snprintf (member->org, sizeof member->org, "%s", orgs [i]);
        else
            snprintf (member->org, sizeof member->org, "%s-%04zu", prefix, i);
        member->identity = certbus_identity_new ();
        uint8_t *request = NULL;
        size_t size = 0;
        if (certbus_request_make (member->identity, member->org, member->org, &request, &size)
            || certbus_file_write (req_path, request, size, 0600))
            b_die ("request %s: %s", member->org, certbus_reason ());
        free (request);
        if (council_issue (self->dir, tier, NULL, NULL, 30, req_path, cert_path))
            b_die ("council_issue %s: %s", member->org, certbus_reason ());
        uint8_t *bytes = NULL;
        if (certbus_file_read (cert_path, 64 * 1024, &bytes, &size)
            || certbus_cert_decode (bytes, size, self->council_key, &member->cert))
            b_die ("certificate %s: %s", member->org, certbus_reason ());
        free (bytes);
    }
    if (issue_s_p)
        *issue_s_p = b_now () - start;
    b_stdout_on (saved_stdout);
    free (req_path);
    free (cert_path);
    path = council_path (self->dir, "directory.cbd");
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (council_directory (self->dir, path)
        || certbus_file_read (path, CERTBUS_MAX_DIRECTORY, &bytes, &size)
        || certbus_directory_decode (bytes, size, self->council_key, 0, &self->directory))
        b_die ("directory: %s", certbus_reason ());
    free (bytes);
    free (path);
    return self;
}

void
b_council_destroy (b_council_t **self_p, bool remove)
{
    b_council_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++) {
        certbus_identity_destroy (&self->members [i].identity);
        certbus_cert_destroy (&self->members [i].cert);
    }
    free (self->members);
    certbus_directory_destroy (&self->directory);
    if (remove)
        b_rmrf (self->dir);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

uint8_t *
b_seal (b_council_t *council, size_t from, const char *audience, const uint8_t *payload,
        size_t size, uint8_t id [CERTBUS_ID_SIZE], size_t *size_p)
{
    b_member_t *member = &council->members [from];
    certbus_seal_opts_t opts = {
        .kind = "advisory",
        .tlp = "amber",
        .audience = audience,
        .topic = "bench",
        .severity = "medium",
        .content_type = "application/octet-stream",
    };
    uint8_t *bytes = NULL;
    if (certbus_envelope_seal (member->identity, member->cert, council->directory, &opts, payload,
                               size, id, &bytes, size_p))
        b_die ("seal from %s to %s: %s", member->org, audience, certbus_reason ());
    return bytes;
}

//  ---------------------------------------------------------------------------
//  Raw member sockets

zsock_t *
b_client (b_council_t *council, b_member_t *member, const char *endpoint)
{
    zsock_t *client = zsock_new (ZMQ_DEALER);
    if (!client)
        b_die ("cannot make a DEALER (file descriptors?)");
    zsock_set_curve_serverkey_bin (client, council->broker_curve);
    zsock_set_curve_publickey_bin (client, certbus_identity_curve_public (member->identity));
    zsock_set_curve_secretkey_bin (client, certbus_identity_curve_secret (member->identity));
    zsock_set_linger (client, 0);
    zsock_set_sndhwm (client, 0);
    zsock_set_rcvhwm (client, 0);
    if (zsock_connect (client, "%s", endpoint) != 0)
        b_die ("cannot connect to %s", endpoint);
    return client;
}

int
b_send_hello (zsock_t *client, uint32_t credit, uint64_t directory_serial)
{
    return certbus_packet_send_hello (client, NULL, credit, directory_serial, "certbus-bench");
}

int
b_send_publish (zsock_t *client, const uint8_t *envelope, size_t size)
{
    return certbus_packet_send_publish (client, NULL, envelope, size);
}

int
b_send_acks (zsock_t *client, uint64_t *sequences, size_t count)
{
    return certbus_packet_send_deliver_ack (client, NULL, sequences, count, NULL, 0);
}

int
b_send_pong (zsock_t *client, int64_t time)
{
    return certbus_packet_send_pong (client, NULL, time);
}

Certbus__Packet *
b_recv (zsock_t *client)
{
    zframe_t *frame = zframe_recv (client);
    if (!frame)
        return NULL;
    Certbus__Packet *packet = NULL;
    if (certbus_packet_decode (frame, &packet) != CERTBUS_OK)
        packet = NULL;
    zframe_destroy (&frame);
    return packet;
}

Certbus__Packet *
b_expect (zsock_t *client, Certbus__Packet__BodyCase want, int timeout_ms)
{
    double deadline = b_now () + timeout_ms / 1000.0;
    zpoller_t *poller = zpoller_new (client, NULL);
    Certbus__Packet *found = NULL;
    while (!found) {
        int left = (int) ((deadline - b_now ()) * 1000);
        if (left <= 0 || !zpoller_wait (poller, left))
            break;
        Certbus__Packet *packet = b_recv (client);
        if (!packet)
            continue;
        if (packet->body_case == want)
            found = packet;
        else {
            if (packet->body_case == CERTBUS__PACKET__BODY_PING)
                b_send_pong (client, packet->ping->time);
            else if (packet->body_case == CERTBUS__PACKET__BODY_ERROR)
                fprintf (stderr, "bench: broker error %u: %s\n", packet->error->code,
                         packet->error->reason);
            certbus_codec_free (packet);
        }
    }
    zpoller_destroy (&poller);
    return found;
}

//  ---------------------------------------------------------------------------
//  Broker engine in this process

b_broker_t *
b_broker_start (const char *dir, int window, int peer_timeout_ms)
{
    broker_config_t config;
    broker_config_defaults (&config);
    config.dir = dir;
    config.bind = "tcp://127.0.0.1:*";
    if (window > 0)
        config.window = window;
    if (peer_timeout_ms > 0)
        config.peer_timeout_ms = peer_timeout_ms;
    //  The benches measure the relay itself: no publish-rate or storage
    //  quota may shape what they measure
    config.quota_rate = 0;
    config.quota_bytes = 0;
    b_broker_t *self = calloc (1, sizeof *self);
    double start = b_now ();
    self->actor = zactor_new (broker_engine_actor, &config);
    char *ready = self->actor ? zstr_recv (self->actor) : NULL;
    self->start_s = b_now () - start;
    if (!ready || strncmp (ready, "READY ", 6) != 0) {
        fprintf (stderr, "bench: broker did not start: %s\n", ready ? ready : "(no answer)");
        zstr_free (&ready);
        zactor_destroy (&self->actor);
        free (self);
        return NULL;
    }
    self->endpoint = strdup (ready + 6);
    zstr_free (&ready);
    return self;
}

void
b_broker_stop (b_broker_t **self_p)
{
    b_broker_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy (&self->actor);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

int64_t
b_broker_stat (b_broker_t *self, const char *key)
{
    zstr_send (self->actor, "STATS");
    char *json = zstr_recv (self->actor);
    if (!json)
        return -1;
    char pattern [64];
    snprintf (pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr (json, pattern);
    int64_t value = at ? strtoll (at + strlen (pattern), NULL, 10) : -1;
    zstr_free (&json);
    return value;
}
