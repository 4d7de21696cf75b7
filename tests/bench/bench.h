/*  bench.h - shared helpers of the `make bench` programs
    SPDX-License-Identifier: MPL-2.0

    Every bench program prints human-readable lines and, for run.sh, lines
    of the form "RESULT key value" (one figure each, a JSON number or
    string). Timings are reported, never asserted.
*/
#ifndef CERTBUS_BENCH_H_INCLUDED
#define CERTBUS_BENCH_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "certbus.h"

//  ---------------------------------------------------------------------------
//  Clock, memory, output

//  Monotonic seconds.
double
    b_now (void);

//  VmRSS (or another /proc/PID/status field such as "VmHWM") in KiB of
//  pid (0: this process); -1 when unreadable.
long
    b_proc_kib (pid_t pid, const char *field);

//  Prints "RESULT key value" for run.sh and flushes.
void
    b_result (const char *key, double value);

//  Median of n values (sorts a copy).
double
    b_median (const double *values, size_t n);

//  The p-quantile (0..1, nearest rank) of n values; sorts them in place.
double
    b_percentile (double *values, size_t n, double p);

//  "a, b, c" of n values with printf format fmt, into a static buffer.
const char *
    b_list (const double *values, size_t n, const char *fmt);

//  True when BENCH_QUICK=1 (smaller sizes for a smoke run).
bool
    b_quick (void);

//  Number of online cores.
int
    b_cores (void);

//  Aborts with a message (bench programs have no error recovery).
void
    b_die (const char *format, ...) CERTBUS_PRINTF (1, 2);

//  A new private folder under $BENCH_TMP (or /tmp); caller frees the
//  string after b_rmrf.
char *
    b_tmpdir (const char *name);
void
    b_rmrf (const char *dir);

//  The arguments of a bench that runs the certbus-broker program: argv [1]
//  is the program (returned), argv [2] the log file (*log_p; /dev/null
//  when absent). Dies with a usage line without a program; makes standard
//  output line-buffered.
const char *
    b_program_args (int argc, char *argv [], const char **log_p);

//  A TCP port on loopback that was free a moment ago (dies when none is).
int
    b_free_port (void);

//  Sends the broker/node engines' zsys log lines to path (append).
void
    b_log_to (const char *path);

//  Silences standard output (the Council and node commands print) and
//  brings it back.
int
    b_stdout_off (void);
void
    b_stdout_on (int saved);

//  CPU time of each thread of this process (/proc/self/task), for
//  telling which thread limits a run.
typedef struct {
    int tid;
    char comm [32];
    double cpu_s; //  user + system
    double sys_s; //  system alone
} b_thread_t;

int
    b_threads (b_thread_t *threads, int max);

//  Milliseconds per SQLite commit (WAL, synchronous=FULL, one 1.4 KB row)
//  on the bench's scratch disk: the cost every durable acknowledgement
//  pays at least once.
double
    b_commit_ms (int commits);

//  ---------------------------------------------------------------------------
//  Council and members

typedef struct {
    char org [64];
    certbus_identity_t *identity;
    certbus_cert_t *cert;
} b_member_t;

typedef struct {
    char *dir; //  broker folder (council_init'd)
    uint8_t council_key [CERTBUS_KEY_SIZE];
    uint8_t broker_sign [CERTBUS_KEY_SIZE];
    uint8_t broker_curve [CERTBUS_KEY_SIZE];
    certbus_directory_t *directory; //  with every member
    b_member_t *members;
    size_t count;
} b_council_t;

//  A new Council in a fresh folder with count members named
//  "<prefix>-NNNN" (or the names in orgs when not NULL) of tier, each
//  issued with council_issue. *issue_s_p (may be NULL) gets the seconds
//  spent issuing.
b_council_t *
    b_council_new (const char *name, size_t count, const char *prefix, const char *const *orgs,
                   const char *tier, double *issue_s_p);
void
    b_council_destroy (b_council_t **self_p, bool remove);

//  Seals payload from member `from` to audience (kind advisory, TLP amber:
//  signed and encrypted). Returns the envelope bytes (caller frees).
uint8_t *
    b_seal (b_council_t *council, size_t from, const char *audience, const uint8_t *payload,
            size_t size, uint8_t id [CERTBUS_ID_SIZE], size_t *size_p);

//  ---------------------------------------------------------------------------
//  Raw member sockets

//  A DEALER connected with member's CURVE keys to endpoint.
zsock_t *
    b_client (b_council_t *council, b_member_t *member, const char *endpoint);

//  Packets. Each returns 0 or -1.
int
    b_send_hello (zsock_t *client, uint32_t credit, uint64_t directory_serial);
int
    b_send_publish (zsock_t *client, const uint8_t *envelope, size_t size);
int
    b_send_acks (zsock_t *client, uint64_t *sequences, size_t count);
int
    b_send_pong (zsock_t *client, int64_t time);

//  Receives one packet without blocking beyond what the socket has
//  (caller checked POLLIN); NULL on a decode error.
Certbus__Packet *
    b_recv (zsock_t *client);

//  Waits up to timeout_ms for a packet of body case want, answering Pings
//  and dropping anything else. NULL on timeout.
Certbus__Packet *
    b_expect (zsock_t *client, Certbus__Packet__BodyCase want, int timeout_ms);

//  ---------------------------------------------------------------------------
//  Broker engine in this process

typedef struct {
    zactor_t *actor;
    char *endpoint;
    double start_s; //  zactor_new -> READY
} b_broker_t;

//  Starts the engine on tcp://127.0.0.1:* for council dir; NULL on error
//  (the reason is printed).
b_broker_t *
    b_broker_start (const char *dir, int window, int peer_timeout_ms);
void
    b_broker_stop (b_broker_t **self_p);

//  A broker-wide integer from STATS ("accepted", "deliveries", ...).
int64_t
    b_broker_stat (b_broker_t *self, const char *key);

#endif
