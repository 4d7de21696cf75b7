/*  wire.h - shared helpers for the in-process wire tests: a Council with
    three members, a broker engine on an ephemeral port, and CURVE DEALER
    clients that speak hand-built packets to it; and, for the node tests, a
    scripted broker that speaks to a node engine packet by packet
    SPDX-License-Identifier: MPL-2.0

    Each test gets a fresh broker folder (tu_tmpdir_new), a Council with
    three national members (alpha, bravo, charlie) and its own broker engine,
    run in-process as an actor on tcp://127.0.0.1:* with a small delivery
    window, a heartbeat of 100 ms and a peer timeout long enough that no
    session times out while a test runs (unless the test program sets a
    short one). The ZAP endpoint is process-wide,
    so only one engine runs at a time.

    Nothing sleeps to let things settle. Positive outcomes are awaited with
    bounded polls (TW_WAIT_MS, or a caller's longer bound); "nothing more
    arrives" is proven with a barrier: a Ping/Pong round trip on the same
    connection, since the broker answers in order and pumps deliveries
    before it reads the next Ping. Only where no round trip is possible (a
    refused or cut connection) does a test use a bounded quiet poll
    (TW_QUIET_MS), and it asserts nothing about timing.

    Helpers fail the running test (cmocka asserts) when the broker does
    not answer as they expect, so a test body can stay about what it
    checks. Include <cmocka.h> (and its prerequisites) before this header.
*/
#ifndef CERTBUS_WIRE_H_INCLUDED
#define CERTBUS_WIRE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "certbus.h"
#include "../../broker/engine.h" //  the broker engine, whatever the include path

#define TW_WINDOW 16     //  the broker's delivery window unless a test sets one
#define TW_WAIT_MS 5000  //  bound on every positive wait
#define TW_QUIET_MS 1000 //  bounded poll that must see nothing
#define TW_MEMBER_COUNT 3
#define TW_INBOX_MAX 512     //  most deliveries one inbox holds
#define TW_TOPIC "wire-test" //  the topic of every envelope tw_seal makes

//  The members, as indexes into tw_fixture_t.members
enum { TW_ALPHA = 0, TW_BRAVO = 1, TW_CHARLIE = 2 };

typedef struct {
    const char *org;              //  org id
    certbus_identity_t *identity; //  its keys
    certbus_cert_t *cert;         //  its certificate, as the Council issued it
} tw_member_t;

//  What a test program asks of its fixture
typedef struct {
    const char *agent;      //  Hello.agent of its clients (the program's
                            //  name); NULL for a generic one
    int window;             //  the broker's delivery window; 0 for TW_WINDOW
    int64_t expiry_ms;      //  message lifetime; 0 for the broker's default
    int noise_burst;        //  bad frames audited one by one per interval;
                            //  0 for the broker's default
    int noise_interval_ms;  //  0 for the broker's default
    int quota_rate;         //  publishes per second per member; 0: default
    int quota_burst;        //  0: default
    int64_t quota_bytes;    //  0: default
    int64_t inflight_bytes; //  0: default
    int peer_timeout_ms;    //  silence after which the broker closes a
                            //  session; 0: longer than any test runs
} tw_options_t;

typedef struct {
    char *dir;              //  the Council and broker folder
    const char *agent;      //  Hello.agent of our clients
    broker_config_t config; //  the broker's configuration, kept for restarts
    zactor_t *broker;       //  the engine under test; NULL while stopped
    char *endpoint;         //  where it serves
    uint8_t broker_curve [CERTBUS_KEY_SIZE];
    uint8_t council_key [CERTBUS_KEY_SIZE];
    certbus_directory_t *directory; //  as the Council last published it
    tw_member_t members [TW_MEMBER_COUNT];
    zlist_t *clients;  //  every client socket, destroyed in teardown
    int64_t next_ping; //  token for barrier pings
} tw_fixture_t;

//  Deliveries collected from one client, in arrival order
typedef struct {
    uint64_t sequences [TW_INBOX_MAX];         //  delivery sequences (to acknowledge)
    uint64_t message_sequences [TW_INBOX_MAX]; //  the broker's message sequences
    uint8_t *envelopes [TW_INBOX_MAX];         //  envelope bytes
    size_t sizes [TW_INBOX_MAX];               //  and their sizes
    size_t count;
} tw_inbox_t;

//  ---------------------------------------------------------------------------
//  Fixture: a Council, three members and a running broker

//  The body of a cmocka setup: makes the folder, the Council and its three
//  enrolled members, loads the directory and starts the broker. *state
//  becomes the tw_fixture_t. Returns 0, or -1 (after tearing down) when
//  the broker does not start.
int
    tw_setup (void **state, const tw_options_t *options);

//  A cmocka teardown: stops everything tw_setup started and removes the
//  folder.
int
    tw_teardown (void **state);

//  Starts a test program: an optional argument picks tests by name
//  (cmocka's pattern, e.g. "test_slow*"), and "-test_x" skips test_x
//  instead; then initialises certbus and CZMQ.
void
    tw_main_init (int argc, char *argv []);

//  An entry of a test program's cmocka table: test runs on the fixture of
//  the program's own s_setup (its tw_setup with its options), or of another
//  setup of its, and tw_teardown removes it.
#define TW_TEST(test) cmocka_unit_test_setup_teardown (test, s_setup, tw_teardown)
#define TW_TEST_WITH(test, setup) cmocka_unit_test_setup_teardown (test, setup, tw_teardown)

//  Starts a broker engine with fx->config (on fx->dir); returns 0 or -1.
int
    tw_broker_start (tw_fixture_t *fx);

//  Stops the engine as its $TERM does (the actor's destructor), with every
//  client socket gone first.
void
    tw_broker_stop (tw_fixture_t *fx);

//  Reloads fx->directory from the Council's database, as a member does
//  after the Council changed it (a revocation).
void
    tw_refresh_directory (tw_fixture_t *fx);

//  ---------------------------------------------------------------------------
//  STATS

//  The broker's STATS answer (JSON); the caller frees it with zstr_free.
char *
    tw_stats (tw_fixture_t *fx);

//  A broker-wide counter (the keys before the session list); fails the
//  test when STATS has no such key.
int64_t
    tw_stat (tw_fixture_t *fx, const char *key);

//  Rows of the broker's audit table with this event, read from its
//  database as an operator would, after a STATS round trip (so every row
//  behind an answer already received is committed).
int64_t
    tw_audit_count (tw_fixture_t *fx, const char *event);

//  A field of org's session; -1 when the broker holds no session for org.
int64_t
    tw_session_stat (tw_fixture_t *fx, const char *org, const char *key);

//  ---------------------------------------------------------------------------
//  Clients

//  A DEALER with CURVE keys of identity (enrolled or not), not connected
//  yet, so that a test can set options first. The fixture owns it.
zsock_t *
    tw_client_new (tw_fixture_t *fx, certbus_identity_t *identity);

//  As tw_client_new, connected to the broker.
zsock_t *
    tw_client (tw_fixture_t *fx, certbus_identity_t *identity);

//  A client of member `index` that said Hello (credit 0) and got the
//  broker's welcome, granting the fixture's window.
zsock_t *
    tw_session (tw_fixture_t *fx, int index);

//  Destroys every client socket of the fixture.
void
    tw_destroy_clients (tw_fixture_t *fx);

//  ---------------------------------------------------------------------------
//  Sending

//  Sends a Hello with credit and the fixture directory's serial.
void
    tw_send_hello (tw_fixture_t *fx, zsock_t *client, uint32_t credit);

//  A Publish packet of envelope bytes, encoded (caller frees).
uint8_t *
    tw_publish_packet (const uint8_t *envelope, size_t size, size_t *packed_size);

void
    tw_send_publish (zsock_t *client, const uint8_t *envelope, size_t size);

void
    tw_send_ping (zsock_t *client, int64_t token);

void
    tw_send_acks (zsock_t *client, uint64_t *sequences, size_t count);

//  Sends count raw frames as one message (MORE on all but the last),
//  bypassing the codec.
void
    tw_send_frames (zsock_t *client, const void *const *frames, const size_t *sizes, size_t count);

//  Sends one raw frame, bypassing the codec.
void
    tw_send_raw (zsock_t *client, const void *data, size_t size);

//  ---------------------------------------------------------------------------
//  Receiving

//  The next packet from the broker within timeout_ms, skipping the broker's
//  heartbeat Pings; NULL when none arrives. Every message must be exactly
//  one decodable frame.
Certbus__Packet *
    tw_recv (zsock_t *client, int timeout_ms);

//  The next packet, which must arrive within timeout_ms and be of body
//  case want; the caller frees it.
Certbus__Packet *
    tw_expect_within (zsock_t *client, Certbus__Packet__BodyCase want, int timeout_ms);

//  As tw_expect_within, within TW_WAIT_MS.
Certbus__Packet *
    tw_expect (zsock_t *client, Certbus__Packet__BodyCase want);

//  Expects an Error packet with code and a non-empty reason that, when
//  want_text is not NULL, contains want_text.
void
    tw_expect_error (zsock_t *client, certbus_err_t code, const char *want_text);

//  Expects a PubAck with status; when id is not NULL it must carry that
//  message id, else none (the broker could not read the id). Returns the
//  packet (caller frees).
Certbus__Packet *
    tw_expect_puback_within (zsock_t *client, const uint8_t *id, Certbus__Status status,
                             int timeout_ms);

//  As tw_expect_puback_within, within TW_WAIT_MS.
Certbus__Packet *
    tw_expect_puback (zsock_t *client, const uint8_t *id, Certbus__Status status);

//  Expects a rejection of id (as tw_expect_puback) with code, sequence 0
//  and a non-empty reason that contains want_text when that is not NULL.
void
    tw_expect_reject_within (zsock_t *client, const uint8_t *id, certbus_err_t code,
                             const char *want_text, int timeout_ms);

//  As tw_expect_reject_within, within TW_WAIT_MS.
void
    tw_expect_reject (zsock_t *client, const uint8_t *id, certbus_err_t code,
                      const char *want_text);

//  Expects acceptance of id; returns the broker's message sequence (> 0).
uint64_t
    tw_expect_accepted (zsock_t *client, const uint8_t *id);

//  Expects the broker's Hello in answer to ours, with the fixture
//  directory's serial; returns the credit granted.
uint32_t
    tw_expect_welcome (tw_fixture_t *fx, zsock_t *client);

//  ---------------------------------------------------------------------------
//  Deliveries and barriers

//  A new empty inbox.
tw_inbox_t *
    tw_inbox_new (void);

//  Destroys an inbox and the envelopes it holds.
void
    tw_inbox_destroy (tw_inbox_t **self_p);

//  Empties an inbox.
void
    tw_inbox_purge (tw_inbox_t *self);

//  Waits (bounded) until inbox holds want deliveries; any other packet
//  fails the test.
void
    tw_await_deliveries (zsock_t *client, tw_inbox_t *inbox, size_t want);

//  Two Ping/Pong round trips on client (which must have said Hello).
//  Everything the broker sent to this connection before it read the second
//  Ping arrives first; deliveries on the way are added to inbox (NULL:
//  none may arrive); any other packet fails the test. The first round trip
//  moves us past any loop turn still handling earlier packets of ours,
//  whose deliveries are pumped after it answers a Ping read in that turn.
void
    tw_barrier (tw_fixture_t *fx, zsock_t *client, tw_inbox_t *inbox);

//  As tw_barrier, but deliveries on the way are only counted (and
//  dropped, unacknowledged); returns how many came.
size_t
    tw_barrier_count (tw_fixture_t *fx, zsock_t *client);

//  ---------------------------------------------------------------------------
//  Envelopes

//  Seals text with opts from member `from` (its keys and certificate);
//  returns the envelope bytes (caller frees) and its id.
uint8_t *
    tw_seal_with (tw_fixture_t *fx, int from, const certbus_seal_opts_t *opts, const char *text,
                  uint8_t id [CERTBUS_ID_SIZE], size_t *size_p);

//  Seals text from member `from` to audience: an amber advisory of medium
//  severity on TW_TOPIC.
uint8_t *
    tw_seal (tw_fixture_t *fx, int from, const char *audience, const char *text,
             uint8_t id [CERTBUS_ID_SIZE], size_t *size_p);

//  Opens envelope bytes as member `to` would; checks its header id and
//  its plaintext.
void
    tw_open (tw_fixture_t *fx, int to, const uint8_t *bytes, size_t size, const uint8_t *want_id,
             const char *want_text);

//  ---------------------------------------------------------------------------
//  A scripted broker, for the node tests: a ROUTER in the test program that
//  holds the broker's CURVE keys and speaks the wire protocol packet by
//  packet to a node engine

//  A ROUTER serving CURVE with the secret key of broker (no ZAP handler),
//  bound on a free loopback port; endpoint (size bytes) gets its address.
zsock_t *
    tw_router_new (certbus_identity_t *broker, char *endpoint, size_t size);

//  The next packet from the node on router within timeout_ms, its routing
//  frame kept in *routing_p (replacing the one there); Pings are answered
//  with a Pong and skipped. Fails the test when none arrives or the packet
//  does not decode.
Certbus__Packet *
    tw_router_recv (zsock_t *router, zframe_t **routing_p, int timeout_ms);

//  Waits for a node engine actor, just made, to say READY; fails the test
//  when it does not.
void
    tw_node_ready (zactor_t *node);

#endif
