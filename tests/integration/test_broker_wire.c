/*  test_broker_wire.c - wire-level tests of the Council broker: the engine
    runs in-process as an actor on an ephemeral port and the tests talk to
    it over real CURVE DEALER sockets with hand-built packets
    SPDX-License-Identifier: MPL-2.0

    Each test gets a fresh broker folder (mkdtemp), a Council with three
    members (alpha, bravo, charlie) and its own broker engine: the ZAP
    endpoint is process-wide, so only one engine runs at a time.

    Nothing here sleeps to let things settle. Positive outcomes are awaited
    with bounded polls; "nothing more arrives" is proven with a barrier: a
    Ping/Pong round trip on the same connection, since the broker answers
    in order and pumps deliveries before it reads the next Ping. Only the
    tests of refused connections (where no round trip is possible) use a
    bounded quiet poll, and assert nothing about timing.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "certbus.h"
#include "council.h"
#include "engine.h"
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define s_WINDOW 16              //  the broker's delivery window in these tests
#define s_BACKLOG 200            //  messages published to the slow consumer
#define s_WAIT_MS 5000           //  bound on every positive wait
#define s_QUIET_MS 1000          //  bounded poll that must see nothing
#define s_MEMBER_COUNT 3
#define s_SHORT_EXPIRY_MS 2000       //  message lifetime in the expiry test

typedef struct {
    const char *org;                 //  org id
    certbus_identity_t *identity;    //  its keys
    certbus_cert_t *cert;            //  its certificate, as the Council issued it
} s_member_t;

typedef struct {
    char dir [64];                   //  the broker folder (mkdtemp)
    zactor_t *broker;                //  the engine under test
    char *endpoint;                  //  where it serves
    uint8_t broker_curve [CERTBUS_KEY_SIZE];
    uint8_t council_key [CERTBUS_KEY_SIZE];
    certbus_directory_t *directory;  //  the directory once every member is enrolled
    s_member_t members [s_MEMBER_COUNT];
    zlist_t *clients;                //  every client socket, destroyed in teardown
    int64_t next_ping;               //  token for barrier pings
    int64_t expiry_ms;               //  message lifetime; 0 for the default
} s_fixture_t;

enum { s_ALPHA = 0, s_BRAVO = 1, s_CHARLIE = 2 };
static const char *s_orgs [s_MEMBER_COUNT] = {"alpha", "bravo", "charlie"};

//  ---------------------------------------------------------------------------
//  Files

static char *
s_path (const char *dir, const char *name)
{
    return zsys_sprintf ("%s/%s", dir, name);
}

static uint8_t *
s_read_file (const char *path, size_t *size_p)
{
    uint8_t *bytes = NULL;
    if (certbus_file_read (path, 64u * 1024 * 1024, &bytes, size_p) != 0)
        fail_msg ("cannot read %s: %s", path, certbus_reason ());
    return bytes;
}

static int
s_remove_one (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb;
    (void) flag;
    (void) ftw;
    return remove (path);
}

//  ---------------------------------------------------------------------------
//  STATS

static char *
s_stats (s_fixture_t *fx)
{
    zstr_send (fx->broker, "STATS");
    char *json = zstr_recv (fx->broker);
    assert_non_null (json);
    return json;
}

//  The integer after "key": in json, looking no further than end (NULL for
//  the whole text). Fails the test when the key is absent.
static int64_t
s_json_int (const char *json, const char *end, const char *key)
{
    char pattern [64];
    snprintf (pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr (json, pattern);
    if (!at || (end && at >= end))
        fail_msg ("STATS has no \"%s\": %s", key, json);
    return strtoll (at + strlen (pattern), NULL, 10);
}

//  A broker-wide counter (the keys before the session list).
static int64_t
s_stat (s_fixture_t *fx, const char *key)
{
    char *json = s_stats (fx);
    int64_t value = s_json_int (json, strstr (json, "\"sessions\":"), key);
    zstr_free (&json);
    return value;
}

//  A field of org's session; -1 when the broker holds no session for org.
static int64_t
s_session_stat (s_fixture_t *fx, const char *org, const char *key)
{
    char *json = s_stats (fx);
    char pattern [64];
    snprintf (pattern, sizeof pattern, "{\"org\":\"%s\"", org);
    const char *start = strstr (json, pattern);
    int64_t value = -1;
    if (start)
        value = s_json_int (start, strchr (start, '}'), key);
    zstr_free (&json);
    return value;
}

//  ---------------------------------------------------------------------------
//  Clients

//  A DEALER connected to the broker with CURVE keys of identity (enrolled
//  or not). The fixture owns it.
static zsock_t *
s_client (s_fixture_t *fx, certbus_identity_t *identity)
{
    zsock_t *client = zsock_new (ZMQ_DEALER);
    assert_non_null (client);
    zsock_set_curve_serverkey_bin (client, fx->broker_curve);
    zsock_set_curve_publickey_bin (client, certbus_identity_curve_public (identity));
    zsock_set_curve_secretkey_bin (client, certbus_identity_curve_secret (identity));
    zsock_set_linger (client, 0);
    zsock_set_sndtimeo (client, s_WAIT_MS);
    assert_int_equal (zsock_connect (client, "%s", fx->endpoint), 0);
    zlist_append (fx->clients, client);
    return client;
}

static void
s_send (zsock_t *client, Certbus__Packet *packet)
{
    assert_int_equal (certbus_packet_send (client, NULL, packet), 0);
}

static void
s_send_hello (s_fixture_t *fx, zsock_t *client, uint32_t credit)
{
    Certbus__Hello hello = CERTBUS__HELLO__INIT;
    hello.credit = credit;
    hello.directory_serial = certbus_directory_serial (fx->directory);
    hello.agent = "test_broker_wire";
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_HELLO;
    packet.hello = &hello;
    s_send (client, &packet);
}

static void
s_send_publish (zsock_t *client, const uint8_t *envelope, size_t size)
{
    Certbus__Publish publish = CERTBUS__PUBLISH__INIT;
    publish.envelope.data = (uint8_t *) envelope;
    publish.envelope.len = size;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_PUBLISH;
    packet.publish = &publish;
    s_send (client, &packet);
}

static void
s_send_ping (zsock_t *client, int64_t token)
{
    Certbus__Ping ping = CERTBUS__PING__INIT;
    ping.time = token;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_PING;
    packet.ping = &ping;
    s_send (client, &packet);
}

static void
s_send_acks (zsock_t *client, uint64_t *sequences, size_t count)
{
    Certbus__DeliverAck ack = CERTBUS__DELIVER_ACK__INIT;
    ack.sequences = sequences;
    ack.n_sequences = count;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_DELIVER_ACK;
    packet.deliver_ack = &ack;
    s_send (client, &packet);
}

//  Sends raw frames (the last one without MORE), bypassing the codec.
static void
s_send_raw (zsock_t *client, const void *first, size_t first_size, const void *second,
            size_t second_size)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, first, first_size);
    if (second)
        zmsg_addmem (msg, second, second_size);
    assert_int_equal (zmsg_send (&msg, client), 0);
}

//  The next packet from the broker within timeout_ms, skipping the broker's
//  heartbeat Pings; NULL when none arrives. Every message must be exactly
//  one decodable frame.
static Certbus__Packet *
s_recv (zsock_t *client, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    zpoller_t *poller = zpoller_new (client, NULL);
    Certbus__Packet *packet = NULL;
    while (!packet) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0 || !zpoller_wait (poller, (int) left))
            break;
        zmsg_t *msg = zmsg_recv (client);
        assert_non_null (msg);
        assert_int_equal (zmsg_size (msg), 1);
        certbus_err_t rc = certbus_packet_decode (zmsg_first (msg), &packet);
        if (rc != CERTBUS_OK)
            fail_msg ("the broker sent an undecodable packet: %s", certbus_reason ());
        zmsg_destroy (&msg);
        if (packet->body_case == CERTBUS__PACKET__BODY_PING) {
            certbus_codec_free (packet);
            packet = NULL;
        }
    }
    zpoller_destroy (&poller);
    return packet;
}

//  The next packet, which must arrive within the bound and be of body case
//  want; the caller frees it.
static Certbus__Packet *
s_expect (zsock_t *client, Certbus__Packet__BodyCase want)
{
    Certbus__Packet *packet = s_recv (client, s_WAIT_MS);
    if (!packet)
        fail_msg ("no packet from the broker within %d ms (wanted body case %d)", s_WAIT_MS,
                  (int) want);
    if (packet->body_case != want) {
        int got = (int) packet->body_case;
        if (packet->body_case == CERTBUS__PACKET__BODY_ERROR)
            fail_msg ("wanted body case %d, got error %s: %s", (int) want,
                      certbus_err_name ((certbus_err_t) packet->error->code),
                      packet->error->reason);
        fail_msg ("wanted body case %d, got %d (%s)", (int) want, got,
                  certbus_packet_name (packet));
    }
    return packet;
}

//  Expects an Error packet with code; returns nothing, checks the reason
//  is non-empty.
static void
s_expect_error (zsock_t *client, certbus_err_t code)
{
    Certbus__Packet *packet = s_expect (client, CERTBUS__PACKET__BODY_ERROR);
    if (packet->error->code != (uint32_t) code)
        fail_msg ("wanted error %s, got %s: %s", certbus_err_name (code),
                  certbus_err_name ((certbus_err_t) packet->error->code), packet->error->reason);
    assert_non_null (packet->error->reason);
    assert_true (strlen (packet->error->reason) > 0);
    certbus_codec_free (packet);
}

//  Expects a PubAck for id with status; returns it (caller frees).
static Certbus__PubAck *
s_expect_puback (zsock_t *client, const uint8_t *id, Certbus__Status status,
                 Certbus__Packet **packet_p)
{
    Certbus__Packet *packet = s_expect (client, CERTBUS__PACKET__BODY_PUBACK);
    Certbus__PubAck *ack = packet->puback;
    if (ack->status != status)
        fail_msg ("wanted PubAck status %d, got %d code %s reason \"%s\"", (int) status,
                  (int) ack->status, certbus_err_name ((certbus_err_t) ack->code), ack->reason);
    assert_int_equal (ack->message_id.len, CERTBUS_ID_SIZE);
    if (memcmp (ack->message_id.data, id, CERTBUS_ID_SIZE) != 0) {
        char want [CERTBUS_ID_STR_SIZE], got [CERTBUS_ID_STR_SIZE];
        certbus_id_format (id, want);
        certbus_id_format (ack->message_id.data, got);
        fail_msg ("PubAck for message %s carries message id %s (status %d)", want, got,
                  (int) ack->status);
    }
    *packet_p = packet;
    return ack;
}

//  Expects the broker's Hello in answer to ours; returns the credit granted.
static uint32_t
s_expect_welcome (s_fixture_t *fx, zsock_t *client)
{
    Certbus__Packet *packet = s_expect (client, CERTBUS__PACKET__BODY_HELLO);
    uint32_t credit = packet->hello->credit;
    assert_int_equal (packet->hello->directory_serial, certbus_directory_serial (fx->directory));
    certbus_codec_free (packet);
    return credit;
}

//  Collected deliveries: sequences and envelope bytes
typedef struct {
    uint64_t sequences [s_BACKLOG * 2];
    uint64_t message_sequences [s_BACKLOG * 2];
    zchunk_t *envelopes [s_BACKLOG * 2];
    size_t count;
} s_inbox_t;

static void
s_inbox_add (s_inbox_t *inbox, Certbus__Packet *packet)
{
    if (inbox->count >= s_BACKLOG * 2)
        fail_msg ("more than %d deliveries", s_BACKLOG * 2);
    Certbus__Deliver *deliver = packet->deliver;
    inbox->sequences [inbox->count] = deliver->sequence;
    inbox->message_sequences [inbox->count] = deliver->message_sequence;
    inbox->envelopes [inbox->count] = zchunk_new (deliver->envelope.data, deliver->envelope.len);
    inbox->count++;
}

static void
s_inbox_purge (s_inbox_t *inbox)
{
    for (size_t i = 0; i < inbox->count; i++)
        zchunk_destroy (&inbox->envelopes [i]);
    inbox->count = 0;
}

//  Waits (bounded) until inbox holds want deliveries; any other packet
//  fails the test.
static void
s_await_deliveries (zsock_t *client, s_inbox_t *inbox, size_t want)
{
    while (inbox->count < want) {
        Certbus__Packet *packet = s_expect (client, CERTBUS__PACKET__BODY_DELIVER);
        s_inbox_add (inbox, packet);
        certbus_codec_free (packet);
    }
}

//  Two Ping/Pong round trips on client. Everything the broker sent to this
//  connection before it read the second Ping arrives first; deliveries on
//  the way are added to inbox (NULL: none may arrive). The first round trip
//  moves us past any loop turn still handling earlier packets of ours,
//  whose deliveries are pumped after it answers a Ping read in that turn.
static void
s_barrier (s_fixture_t *fx, zsock_t *client, s_inbox_t *inbox)
{
    for (int round = 0; round < 2; round++) {
        int64_t token = ++fx->next_ping;
        s_send_ping (client, token);
        while (true) {
            Certbus__Packet *packet = s_recv (client, s_WAIT_MS);
            if (!packet)
                fail_msg ("no Pong within %d ms", s_WAIT_MS);
            if (packet->body_case == CERTBUS__PACKET__BODY_PONG) {
                assert_int_equal (packet->pong->time, token);
                certbus_codec_free (packet);
                break;
            }
            if (packet->body_case != CERTBUS__PACKET__BODY_DELIVER || !inbox)
                fail_msg ("unexpected %s packet before the Pong", certbus_packet_name (packet));
            s_inbox_add (inbox, packet);
            certbus_codec_free (packet);
        }
    }
}

//  ---------------------------------------------------------------------------
//  Envelopes

//  Seals text from member `from` (its keys and certificate) to audience.
static uint8_t *
s_seal (s_fixture_t *fx, int from, const char *audience, const char *text,
        uint8_t id [CERTBUS_ID_SIZE], size_t *size_p)
{
    s_member_t *member = &fx->members [from];
    certbus_seal_opts_t opts = {
        .kind = "advisory",
        .tlp = "amber",
        .audience = audience,
        .topic = "wire-test",
        .severity = "medium",
        .content_type = "text/plain",
    };
    uint8_t *bytes = NULL;
    certbus_err_t rc
        = certbus_envelope_seal (member->identity, member->cert, fx->directory, &opts,
                                 (const uint8_t *) text, strlen (text), id, &bytes, size_p);
    if (rc != CERTBUS_OK)
        fail_msg ("cannot seal: %s", certbus_reason ());
    return bytes;
}

//  Opens a delivery as member `to` would; returns its header id and checks
//  the plaintext.
static void
s_open (s_fixture_t *fx, int to, zchunk_t *envelope, const uint8_t *want_id,
        const char *want_text)
{
    s_member_t *member = &fx->members [to];
    certbus_envelope_t *env = NULL;
    uint8_t *payload = NULL;
    size_t size = 0;
    certbus_err_t rc = certbus_envelope_open (zchunk_data (envelope), zchunk_size (envelope),
                                              fx->directory, member->identity, member->org,
                                              certbus_now (), &env, &payload, &size);
    if (rc != CERTBUS_OK)
        fail_msg ("delivery does not open for %s: %s", member->org, certbus_reason ());
    assert_memory_equal (certbus_envelope_header (env)->id, want_id, CERTBUS_ID_SIZE);
    assert_int_equal (size, strlen (want_text));
    assert_memory_equal (payload, want_text, size);
    free (payload);
    certbus_envelope_destroy (&env);
}

//  ---------------------------------------------------------------------------
//  Fixture: a Council, three members and a running broker

static void
s_enrol (s_fixture_t *fx, int index)
{
    s_member_t *member = &fx->members [index];
    member->org = s_orgs [index];
    member->identity = certbus_identity_new ();
    assert_non_null (member->identity);
    uint8_t *request = NULL;
    size_t request_size = 0;
    char name [64];
    snprintf (name, sizeof name, "%s CERT", member->org);
    assert_int_equal (certbus_request_make (member->identity, member->org, name, &request,
                                            &request_size),
                      0);
    char *file = zsys_sprintf ("%s.req", member->org);
    char *request_path = s_path (fx->dir, file);
    zstr_free (&file);
    assert_int_equal (certbus_file_write (request_path, request, request_size, 0600), 0);
    free (request);
    file = zsys_sprintf ("%s.cert", member->org);
    char *cert_path = s_path (fx->dir, file);
    zstr_free (&file);
    //  national members: the default policy lets them address anyone
    if (council_issue (fx->dir, "national", NULL, NULL, 30, request_path, cert_path))
        fail_msg ("council_issue %s: %s", member->org, certbus_reason ());
    size_t size;
    uint8_t *bytes = s_read_file (cert_path, &size);
    assert_int_equal (certbus_cert_decode (bytes, size, fx->council_key, &member->cert),
                      CERTBUS_OK);
    assert_string_equal (member->cert->org_id, member->org);
    free (bytes);
    zstr_free (&request_path);
    zstr_free (&cert_path);
}

static int
    s_teardown (void **state);

static int
    s_setup_with (void **state, int64_t expiry_ms);

static int
s_setup (void **state)
{
    return s_setup_with (state, 0);
}

static int
s_setup_short_expiry (void **state)
{
    return s_setup_with (state, s_SHORT_EXPIRY_MS);
}

static int
s_setup_with (void **state, int64_t expiry_ms)
{
    s_fixture_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    *state = fx;
    fx->expiry_ms = expiry_ms;
    fx->clients = zlist_new ();
    snprintf (fx->dir, sizeof fx->dir, "/tmp/certbus-wire-XXXXXX");
    assert_non_null (mkdtemp (fx->dir));
    if (council_init (fx->dir))
        fail_msg ("council_init: %s", certbus_reason ());
    char *path = s_path (fx->dir, COUNCIL_PUB);
    assert_int_equal (certbus_pubfile_read (path, fx->council_key, NULL), 0);
    zstr_free (&path);
    path = s_path (fx->dir, BROKER_PUB);
    assert_int_equal (certbus_pubfile_read (path, NULL, fx->broker_curve), 0);
    zstr_free (&path);
    for (int i = 0; i < s_MEMBER_COUNT; i++)
        s_enrol (fx, i);
    //  The directory as the Council published it, with every member
    path = s_path (fx->dir, "directory.cbd");
    assert_int_equal (council_directory (fx->dir, path), 0);
    size_t size;
    uint8_t *bytes = s_read_file (path, &size);
    assert_int_equal (certbus_directory_decode (bytes, size, fx->council_key, 0, &fx->directory),
                      CERTBUS_OK);
    assert_int_equal (certbus_directory_count (fx->directory), s_MEMBER_COUNT);
    free (bytes);
    zstr_free (&path);

    broker_config_t config;
    broker_config_defaults (&config);
    config.dir = fx->dir;
    config.bind = "tcp://127.0.0.1:*";
    config.window = s_WINDOW;
    config.heartbeat_ms = 100;
    if (fx->expiry_ms)
        config.expiry_ms = fx->expiry_ms;
    //  Sessions that only listen must not time out while a test runs
    config.peer_timeout_ms = 60000;
    fx->broker = zactor_new (broker_engine_actor, &config);
    assert_non_null (fx->broker);
    char *ready = zstr_recv (fx->broker);
    if (!ready || strncmp (ready, "READY ", 6) != 0) {
        print_error ("broker did not start: %s\n", ready ? ready : "(no answer)");
        zstr_free (&ready);
        s_teardown (state);   //  cmocka skips teardown when setup fails
        return -1;
    }
    fx->endpoint = strdup (ready + 6);
    zstr_free (&ready);
    return 0;
}

static int
s_teardown (void **state)
{
    s_fixture_t *fx = *state;
    if (!fx)
        return 0;
    zsock_t *client;
    while ((client = zlist_pop (fx->clients)))
        zsock_destroy (&client);
    zlist_destroy (&fx->clients);
    zactor_destroy (&fx->broker);
    free (fx->endpoint);
    certbus_directory_destroy (&fx->directory);
    for (int i = 0; i < s_MEMBER_COUNT; i++) {
        certbus_identity_destroy (&fx->members [i].identity);
        certbus_cert_destroy (&fx->members [i].cert);
    }
    if (fx->dir [0])
        nftw (fx->dir, s_remove_one, 16, FTW_DEPTH | FTW_PHYS);
    free (fx);
    *state = NULL;
    return 0;
}

//  ---------------------------------------------------------------------------
//  1. A CURVE key the Council never signed cannot reach the broker

static void
test_unknown_key_refused (void **state)
{
    s_fixture_t *fx = *state;
    int64_t received = s_stat (fx, "received");
    int64_t refused = s_stat (fx, "refused_frames");

    certbus_identity_t *stranger = certbus_identity_new ();
    zsock_t *client = s_client (fx, stranger);
    s_send_hello (fx, client, 0);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = s_seal (fx, s_ALPHA, "org:bravo", "from a stranger", id, &size);
    s_send_publish (client, envelope, size);
    Certbus__Packet *reply = s_recv (client, s_QUIET_MS);
    if (reply)
        fail_msg ("a stranger got a %s packet from the broker", certbus_packet_name (reply));
    //  Nothing reached the handlers: ZAP refused the handshake
    assert_int_equal (s_stat (fx, "received"), received);
    assert_int_equal (s_stat (fx, "refused_frames"), refused);
    assert_int_equal (s_stat (fx, "accepted"), 0);

    //  Control: the broker serves a member over the same endpoint, and
    //  counts exactly its one frame
    zsock_t *member = s_client (fx, fx->members [s_ALPHA].identity);
    s_send_hello (fx, member, 0);
    assert_int_equal (s_expect_welcome (fx, member), s_WINDOW);
    assert_int_equal (s_stat (fx, "received"), received + 1);
    free (envelope);
    certbus_identity_destroy (&stranger);
}

//  ---------------------------------------------------------------------------
//  2. A member revoked while connected is cut off at once

static void
test_revoked_while_connected (void **state)
{
    s_fixture_t *fx = *state;
    zsock_t *client = s_client (fx, fx->members [s_ALPHA].identity);
    s_send_hello (fx, client, 0);
    assert_int_equal (s_expect_welcome (fx, client), s_WINDOW);
    assert_int_equal (s_session_stat (fx, "alpha", "window"), s_WINDOW);
    //  Sealed while alpha is still a member, so the envelope itself is good
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = s_seal (fx, s_ALPHA, "org:bravo", "after revocation", id, &size);

    if (council_revoke (fx->dir, "alpha", "test"))
        fail_msg ("council_revoke: %s", certbus_reason ());
    //  The broker sees the Council's write on its next tick and cuts alpha off
    s_expect_error (client, CERTBUS_E_REVOKED);
    assert_int_equal (s_session_stat (fx, "alpha", "window"), -1);

    //  The next frame on the old connection is refused, never accepted
    s_send_publish (client, envelope, size);
    Certbus__Packet *reply = s_recv (client, s_WAIT_MS);
    if (reply) {
        if (reply->body_case == CERTBUS__PACKET__BODY_PUBACK)
            fail_msg ("a revoked member's publish got a PubAck with status %d",
                      (int) reply->puback->status);
        assert_int_equal (reply->body_case, CERTBUS__PACKET__BODY_ERROR);
        assert_int_equal (reply->error->code, CERTBUS_E_REVOKED);
        certbus_codec_free (reply);
    }
    assert_int_equal (s_stat (fx, "accepted"), 0);
    assert_int_equal (s_stat (fx, "messages"), 0);
    assert_int_equal (s_stat (fx, "queued"), 0);

    //  A new connection with the revoked keys is refused by ZAP: no answer,
    //  and no frame reaches the handlers
    int64_t received = s_stat (fx, "received");
    zsock_t *again = s_client (fx, fx->members [s_ALPHA].identity);
    s_send_hello (fx, again, 0);
    s_send_publish (again, envelope, size);
    reply = s_recv (again, s_QUIET_MS);
    if (reply)
        fail_msg ("a revoked member reconnected and got a %s packet",
                  certbus_packet_name (reply));
    assert_int_equal (s_stat (fx, "received"), received);
    assert_int_equal (s_stat (fx, "accepted"), 0);
    free (envelope);
}

//  ---------------------------------------------------------------------------
//  3. An envelope signed by another member is refused

static void
test_origin_mismatch (void **state)
{
    s_fixture_t *fx = *state;
    zsock_t *alpha = s_client (fx, fx->members [s_ALPHA].identity);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    //  Sealed and signed by bravo, sent over alpha's connection
    uint8_t *envelope = s_seal (fx, s_BRAVO, "org:charlie", "not mine", id, &size);
    s_send_publish (alpha, envelope, size);
    Certbus__Packet *packet;
    Certbus__PubAck *ack
        = s_expect_puback (alpha, id, CERTBUS__STATUS__STATUS_REJECTED, &packet);
    assert_int_equal (ack->code, CERTBUS_E_ORIGIN_MISMATCH);
    assert_non_null (ack->reason);
    assert_true (strlen (ack->reason) > 0);
    assert_non_null (strstr (ack->reason, "bravo"));
    assert_int_equal (ack->sequence, 0);
    certbus_codec_free (packet);
    assert_int_equal (s_stat (fx, "rejected"), 1);
    assert_int_equal (s_stat (fx, "accepted"), 0);
    assert_int_equal (s_stat (fx, "messages"), 0);
    assert_int_equal (s_stat (fx, "queued"), 0);

    //  Control: the very same bytes from their real origin are accepted, so
    //  the refusal above was about the sender alone
    zsock_t *bravo = s_client (fx, fx->members [s_BRAVO].identity);
    s_send_publish (bravo, envelope, size);
    s_expect_puback (bravo, id, CERTBUS__STATUS__STATUS_ACCEPTED, &packet);
    certbus_codec_free (packet);
    assert_int_equal (s_stat (fx, "accepted"), 1);
    free (envelope);
}

//  ---------------------------------------------------------------------------
//  4. A slow consumer holds exactly its window in flight; the backlog stays
//  in the database

static void
test_slow_consumer (void **state)
{
    s_fixture_t *fx = *state;
    zsock_t *charlie = s_client (fx, fx->members [s_CHARLIE].identity);
    s_send_hello (fx, charlie, 0);
    assert_int_equal (s_expect_welcome (fx, charlie), s_WINDOW);

    zsock_t *alpha = s_client (fx, fx->members [s_ALPHA].identity);
    static uint8_t ids [s_BACKLOG][CERTBUS_ID_SIZE];
    static char texts [s_BACKLOG][32];
    static uint8_t *envelopes [s_BACKLOG];
    static size_t sizes [s_BACKLOG];
    for (int i = 0; i < s_BACKLOG; i++) {
        snprintf (texts [i], sizeof texts [i], "backlog message %d", i);
        envelopes [i] = s_seal (fx, s_ALPHA, "org:charlie", texts [i], ids [i], &sizes [i]);
    }
    //  Sent in one burst, so that the broker decides many publishes in one
    //  batch (one transaction, one group commit)
    for (int i = 0; i < s_BACKLOG; i++) {
        s_send_publish (alpha, envelopes [i], sizes [i]);
        free (envelopes [i]);
        envelopes [i] = NULL;
    }
    uint64_t last_sequence = 0;
    for (int i = 0; i < s_BACKLOG; i++) {
        Certbus__Packet *packet;
        Certbus__PubAck *ack
            = s_expect_puback (alpha, ids [i], CERTBUS__STATUS__STATUS_ACCEPTED, &packet);
        assert_true (ack->sequence > last_sequence);
        last_sequence = ack->sequence;
        certbus_codec_free (packet);
    }
    assert_int_equal (s_stat (fx, "accepted"), s_BACKLOG);

    //  Charlie never acknowledges: exactly one window is in flight
    s_inbox_t *inbox = calloc (1, sizeof *inbox);
    assert_non_null (inbox);
    s_await_deliveries (charlie, inbox, s_WINDOW);
    s_barrier (fx, charlie, inbox);
    assert_int_equal (inbox->count, s_WINDOW);
    assert_int_equal (s_stat (fx, "deliveries"), s_WINDOW);
    assert_int_equal (s_session_stat (fx, "charlie", "inflight"), s_WINDOW);
    assert_int_equal (s_session_stat (fx, "charlie", "window"), s_WINDOW);
    assert_int_equal (s_session_stat (fx, "charlie", "queued"), s_BACKLOG);
    assert_int_equal (s_stat (fx, "queued"), s_BACKLOG);
    assert_int_equal (s_stat (fx, "messages"), s_BACKLOG);

    //  Each acknowledged window is refilled with the next one, in order,
    //  until the backlog is drained
    size_t next = 0;   //  index of the next message we expect
    uint64_t last_delivery = 0;
    int64_t acked = 0;
    while (true) {
        for (size_t i = 0; i < inbox->count; i++, next++) {
            assert_true (inbox->sequences [i] > last_delivery);
            last_delivery = inbox->sequences [i];
            s_open (fx, s_CHARLIE, inbox->envelopes [i], ids [next], texts [next]);
        }
        s_send_acks (charlie, inbox->sequences, inbox->count);
        acked += (int64_t) inbox->count;
        s_inbox_purge (inbox);
        size_t want = s_BACKLOG - next < s_WINDOW ? s_BACKLOG - next : s_WINDOW;
        s_await_deliveries (charlie, inbox, want);
        s_barrier (fx, charlie, inbox);
        assert_int_equal (inbox->count, want);
        assert_int_equal (s_stat (fx, "acks"), acked);
        assert_int_equal (s_stat (fx, "deliveries"), acked + (int64_t) want);
        assert_int_equal (s_session_stat (fx, "charlie", "inflight"), want);
        assert_int_equal (s_session_stat (fx, "charlie", "queued"), s_BACKLOG - acked);
        if (want == 0)
            break;
    }
    assert_int_equal (next, s_BACKLOG);
    assert_int_equal (s_stat (fx, "deliveries"), s_BACKLOG);
    assert_int_equal (s_stat (fx, "queued"), 0);
    s_inbox_purge (inbox);
    free (inbox);
}

//  ---------------------------------------------------------------------------
//  5. The same envelope twice: one message, one delivery, the same sequence

static void
test_duplicate_publish (void **state)
{
    s_fixture_t *fx = *state;
    zsock_t *bravo = s_client (fx, fx->members [s_BRAVO].identity);
    s_send_hello (fx, bravo, 0);
    assert_int_equal (s_expect_welcome (fx, bravo), s_WINDOW);

    zsock_t *alpha = s_client (fx, fx->members [s_ALPHA].identity);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = s_seal (fx, s_ALPHA, "org:bravo", "say it once", id, &size);
    s_send_publish (alpha, envelope, size);
    s_send_publish (alpha, envelope, size);
    Certbus__Packet *first_packet, *second_packet;
    Certbus__PubAck *first
        = s_expect_puback (alpha, id, CERTBUS__STATUS__STATUS_ACCEPTED, &first_packet);
    Certbus__PubAck *second
        = s_expect_puback (alpha, id, CERTBUS__STATUS__STATUS_DUPLICATE, &second_packet);
    assert_true (first->sequence > 0);
    assert_int_equal (second->sequence, first->sequence);
    assert_int_equal (second->accepted_at, first->accepted_at);
    uint64_t sequence = first->sequence;
    certbus_codec_free (first_packet);
    certbus_codec_free (second_packet);

    s_inbox_t *inbox = calloc (1, sizeof *inbox);
    assert_non_null (inbox);
    s_await_deliveries (bravo, inbox, 1);
    s_barrier (fx, bravo, inbox);
    assert_int_equal (inbox->count, 1);
    assert_int_equal (inbox->message_sequences [0], sequence);
    s_open (fx, s_BRAVO, inbox->envelopes [0], id, "say it once");
    assert_int_equal (s_stat (fx, "accepted"), 1);
    assert_int_equal (s_stat (fx, "duplicates"), 1);
    assert_int_equal (s_stat (fx, "messages"), 1);
    assert_int_equal (s_stat (fx, "queued"), 1);
    assert_int_equal (s_stat (fx, "deliveries"), 1);

    //  Once delivered and acknowledged, a replay is still a duplicate and
    //  queues nothing
    s_send_acks (bravo, inbox->sequences, 1);
    s_inbox_purge (inbox);
    s_barrier (fx, bravo, NULL);
    assert_int_equal (s_stat (fx, "acks"), 1);
    assert_int_equal (s_stat (fx, "queued"), 0);
    s_send_publish (alpha, envelope, size);
    Certbus__Packet *third_packet;
    Certbus__PubAck *third
        = s_expect_puback (alpha, id, CERTBUS__STATUS__STATUS_DUPLICATE, &third_packet);
    assert_int_equal (third->sequence, sequence);
    certbus_codec_free (third_packet);
    s_barrier (fx, bravo, NULL);
    assert_int_equal (s_stat (fx, "deliveries"), 1);
    assert_int_equal (s_stat (fx, "queued"), 0);
    assert_int_equal (s_stat (fx, "duplicates"), 2);
    free (inbox);
    free (envelope);
}

//  ---------------------------------------------------------------------------
//  6. Bad frames from a member get exact errors; the member is still served

static void
test_bad_frames (void **state)
{
    s_fixture_t *fx = *state;
    zsock_t *alpha = s_client (fx, fx->members [s_ALPHA].identity);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = s_seal (fx, s_ALPHA, "org:bravo", "after the garbage", id, &size);

    //  Garbage: an endless varint is no protobuf
    uint8_t garbage [24];
    memset (garbage, 0xff, sizeof garbage);
    s_send_raw (alpha, garbage, sizeof garbage, NULL, 0);
    s_expect_error (alpha, CERTBUS_E_DECODE);

    //  An empty frame
    s_send_raw (alpha, "", 0, NULL, 0);
    s_expect_error (alpha, CERTBUS_E_DECODE);

    //  Two frames, the first a valid Publish of our envelope: refused whole
    Certbus__Publish publish = CERTBUS__PUBLISH__INIT;
    publish.envelope.data = envelope;
    publish.envelope.len = size;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.version = CERTBUS_WIRE_MAJOR;
    packet.body_case = CERTBUS__PACKET__BODY_PUBLISH;
    packet.publish = &publish;
    size_t packed_size;
    uint8_t *packed = certbus_codec_encode (&packet, &packed_size);
    s_send_raw (alpha, packed, packed_size, "extra", 5);
    s_expect_error (alpha, CERTBUS_E_PROTOCOL);
    free (packed);

    //  A packet with no body
    Certbus__Packet empty = CERTBUS__PACKET__INIT;
    empty.version = CERTBUS_WIRE_MAJOR;
    packed = certbus_codec_encode (&empty, &packed_size);
    s_send_raw (alpha, packed, packed_size, NULL, 0);
    s_expect_error (alpha, CERTBUS_E_PROTOCOL);
    free (packed);
    assert_int_equal (s_stat (fx, "bad_packets"), 4);

    //  The same member's good publish is accepted: not a duplicate, so the
    //  two-frame Publish above was not half-processed
    s_send_publish (alpha, envelope, size);
    Certbus__Packet *reply;
    s_expect_puback (alpha, id, CERTBUS__STATUS__STATUS_ACCEPTED, &reply);
    certbus_codec_free (reply);
    assert_int_equal (s_stat (fx, "accepted"), 1);
    assert_int_equal (s_stat (fx, "messages"), 1);
    free (envelope);
}

//  An optional argument picks tests by name (cmocka's pattern, e.g.
//  "test_slow*"); "-test_x" skips test_x instead.
//  ---------------------------------------------------------------------------
//  7. Expiry: messages nobody fetched in their lifetime are removed, with
//     their queued deliveries; the counts in STATS follow; service goes on

static void
test_expiry (void **state)
{
    s_fixture_t *fx = *state;
    zsock_t *alpha = s_client (fx, fx->members [s_ALPHA].identity);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    for (int i = 0; i < 3; i++) {
        uint8_t *envelope = s_seal (fx, s_ALPHA, "org:bravo,org:charlie", "short-lived", id,
                                    &size);
        s_send_publish (alpha, envelope, size);
        Certbus__Packet *packet;
        s_expect_puback (alpha, id, CERTBUS__STATUS__STATUS_ACCEPTED, &packet);
        certbus_codec_free (packet);
        free (envelope);
    }
    assert_int_equal (s_stat (fx, "messages"), 3);
    assert_int_equal (s_stat (fx, "queued"), 6);

    //  Nobody connects; the broker's tick removes them once they expire
    int64_t deadline = zclock_mono () + s_SHORT_EXPIRY_MS + s_WAIT_MS;
    while (s_stat (fx, "messages") > 0 && zclock_mono () < deadline)
        zclock_sleep (50);
    assert_int_equal (s_stat (fx, "messages"), 0);
    assert_int_equal (s_stat (fx, "queued"), 0);

    //  Bravo connects later and is sent nothing
    zsock_t *bravo = s_client (fx, fx->members [s_BRAVO].identity);
    s_send_hello (fx, bravo, 0);
    assert_int_equal (s_expect_welcome (fx, bravo), s_WINDOW);
    s_inbox_t *inbox = calloc (1, sizeof *inbox);
    assert_non_null (inbox);
    s_barrier (fx, bravo, inbox);
    assert_int_equal (inbox->count, 0);

    //  A new message still goes through, and the counts move with it
    uint8_t *envelope = s_seal (fx, s_ALPHA, "org:bravo", "fresh", id, &size);
    s_send_publish (alpha, envelope, size);
    free (envelope);
    Certbus__Packet *packet;
    s_expect_puback (alpha, id, CERTBUS__STATUS__STATUS_ACCEPTED, &packet);
    certbus_codec_free (packet);
    s_await_deliveries (bravo, inbox, 1);
    s_open (fx, s_BRAVO, inbox->envelopes [0], id, "fresh");
    assert_int_equal (s_session_stat (fx, "bravo", "queued"), 1);
    s_send_acks (bravo, inbox->sequences, inbox->count);
    s_barrier (fx, bravo, NULL);
    assert_int_equal (s_session_stat (fx, "bravo", "queued"), 0);
    assert_int_equal (s_stat (fx, "queued"), 0);
    s_inbox_purge (inbox);
    free (inbox);
}

int
main (int argc, char *argv [])
{
    if (argc > 1 && argv [1][0] == '-')
        cmocka_set_skip_filter (argv [1] + 1);
    else if (argc > 1)
        cmocka_set_test_filter (argv [1]);
    certbus_init ();
    zsys_init ();
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_unknown_key_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_revoked_while_connected, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_origin_mismatch, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_slow_consumer, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_duplicate_publish, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_frames, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_expiry, s_setup_short_expiry, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
