/*  test_hostile_wire.c - hostile input from enrolled members against a live
    broker: garbage, truncation, packets out of order, frames above the
    limit, multi-frame messages, oversized recipient lists, invalid UTF-8 in
    every signed header string, replays across a restart, envelopes of
    revoked members and forged origins
    SPDX-License-Identifier: MPL-2.0

    The broker engine runs in-process as an actor on an ephemeral port (as
    in test_broker_wire.c, whose small helpers are copied here) and each
    test talks to it over real CURVE DEALER sockets with hand-built bytes.
    Every case asserts the exact Error or PubAck code the broker answers,
    that the broker keeps serving (a Ping/Pong barrier or a good publish
    after it), that every refused publish and every bad packet left an
    audit row, and at the end that a good member still round-trips a
    publish to another member and that `audit verify` holds.

    Nothing here sleeps to let things settle: positive outcomes are awaited
    with bounded polls, "nothing arrives" is proven with a Ping/Pong barrier
    on the same connection (or a DirectoryRequest/Reply before Hello), and
    only a cut connection (where no round trip is possible) is watched with
    a bounded quiet poll.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "certbus.h"
#include "audit.h"
#include "council.h"
#include "engine.h"
#include "testutil.h"
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define s_WINDOW 16              //  the broker's delivery window in these tests
#define s_WAIT_MS 5000           //  bound on every positive wait
#define s_LONG_WAIT_MS 60000     //  bound on waits behind a very large packet
#define s_QUIET_MS 1000          //  bounded poll that must see nothing
#define s_MEMBER_COUNT 3
//  The domain lib/envelope.c signs envelope headers under; the tests that
//  rewrite a header re-sign it exactly as a member would.
#define s_DOMAIN_ENVELOPE "certbus-envelope-v1"

typedef struct {
    const char *org;                 //  org id
    certbus_identity_t *identity;    //  its keys
    certbus_cert_t *cert;            //  its certificate, as the Council issued it
} s_member_t;

typedef struct {
    char dir [64];                   //  the broker folder (mkdtemp)
    broker_config_t config;          //  kept for restarts
    zactor_t *broker;                //  the engine under test
    char *endpoint;                  //  where it serves
    uint8_t broker_curve [CERTBUS_KEY_SIZE];
    uint8_t council_key [CERTBUS_KEY_SIZE];
    certbus_directory_t *directory;  //  the directory once every member is enrolled
    s_member_t members [s_MEMBER_COUNT];
    zlist_t *clients;                //  every client socket, destroyed in teardown
    int64_t next_ping;               //  token for barrier pings
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

//  ---------------------------------------------------------------------------
//  Audit rows, read from the broker's database as an operator would

//  Rows of the audit table with this event. A STATS round trip first: the
//  broker answers its pipe at the top of a loop turn, after the previous
//  turn committed its batch, and every answer we hold was sent in an
//  earlier turn, so every row behind it is committed.
static int64_t
s_audit_count (s_fixture_t *fx, const char *event)
{
    char *json = s_stats (fx);
    zstr_free (&json);
    char *path = s_path (fx->dir, BROKER_DB);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        fail_msg ("cannot open %s read-only: %s", path, db ? sqlite3_errmsg (db) : "no memory");
    sqlite3_busy_timeout (db, s_WAIT_MS);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal (
        sqlite3_prepare_v2 (db, "SELECT count(*) FROM audit WHERE event = ?1", -1, &stmt, NULL),
        SQLITE_OK);
    sqlite3_bind_text (stmt, 1, event, -1, SQLITE_STATIC);
    assert_int_equal (sqlite3_step (stmt), SQLITE_ROW);
    int64_t count = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    sqlite3_close (db);
    zstr_free (&path);
    return count;
}

//  ---------------------------------------------------------------------------
//  Clients

static zsock_t *
s_client_new (s_fixture_t *fx, certbus_identity_t *identity)
{
    zsock_t *client = zsock_new (ZMQ_DEALER);
    assert_non_null (client);
    zsock_set_curve_serverkey_bin (client, fx->broker_curve);
    zsock_set_curve_publickey_bin (client, certbus_identity_curve_public (identity));
    zsock_set_curve_secretkey_bin (client, certbus_identity_curve_secret (identity));
    zsock_set_linger (client, 0);
    zsock_set_sndtimeo (client, s_WAIT_MS);
    zlist_append (fx->clients, client);
    return client;
}

//  A DEALER connected to the broker with CURVE keys of identity (enrolled
//  or not). The fixture owns it.
static zsock_t *
s_client (s_fixture_t *fx, certbus_identity_t *identity)
{
    zsock_t *client = s_client_new (fx, identity);
    assert_int_equal (zsock_connect (client, "%s", fx->endpoint), 0);
    return client;
}

static void
s_destroy_clients (s_fixture_t *fx)
{
    zsock_t *client;
    while ((client = zlist_pop (fx->clients)))
        zsock_destroy (&client);
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
    hello.agent = "test_hostile_wire";
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_HELLO;
    packet.hello = &hello;
    s_send (client, &packet);
}

//  A Publish packet of envelope bytes, encoded (caller frees).
static uint8_t *
s_publish_packet (const uint8_t *envelope, size_t size, size_t *packed_size)
{
    Certbus__Publish publish = CERTBUS__PUBLISH__INIT;
    publish.envelope.data = (uint8_t *) envelope;
    publish.envelope.len = size;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.version = CERTBUS_WIRE_MAJOR;
    packet.body_case = CERTBUS__PACKET__BODY_PUBLISH;
    packet.publish = &publish;
    return certbus_codec_encode (&packet, packed_size);
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

static void
s_send_directory_request (zsock_t *client)
{
    Certbus__DirectoryRequest request = CERTBUS__DIRECTORY_REQUEST__INIT;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_DIRECTORY_REQUEST;
    packet.directory_request = &request;
    s_send (client, &packet);
}

//  Sends count raw frames as one message (MORE on all but the last),
//  bypassing the codec.
static void
s_send_frames (zsock_t *client, const void *const *frames, const size_t *sizes, size_t count)
{
    zmsg_t *msg = zmsg_new ();
    for (size_t i = 0; i < count; i++)
        zmsg_addmem (msg, frames [i], sizes [i]);
    assert_int_equal (zmsg_send (&msg, client), 0);
}

static void
s_send_raw (zsock_t *client, const void *data, size_t size)
{
    const void *frames [1] = {data};
    size_t sizes [1] = {size};
    s_send_frames (client, frames, sizes, 1);
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

static Certbus__Packet *
s_expect_within (zsock_t *client, Certbus__Packet__BodyCase want, int timeout_ms)
{
    Certbus__Packet *packet = s_recv (client, timeout_ms);
    if (!packet)
        fail_msg ("no packet from the broker within %d ms (wanted body case %d)", timeout_ms,
                  (int) want);
    if (packet->body_case != want) {
        if (packet->body_case == CERTBUS__PACKET__BODY_ERROR)
            fail_msg ("wanted body case %d, got error %s: %s", (int) want,
                      certbus_err_name ((certbus_err_t) packet->error->code),
                      packet->error->reason);
        if (packet->body_case == CERTBUS__PACKET__BODY_PUBACK)
            fail_msg ("wanted body case %d, got a PubAck status %d code %s: %s", (int) want,
                      (int) packet->puback->status,
                      certbus_err_name ((certbus_err_t) packet->puback->code),
                      packet->puback->reason);
        fail_msg ("wanted body case %d, got %d (%s)", (int) want, (int) packet->body_case,
                  certbus_packet_name (packet));
    }
    return packet;
}

static Certbus__Packet *
s_expect (zsock_t *client, Certbus__Packet__BodyCase want)
{
    return s_expect_within (client, want, s_WAIT_MS);
}

//  Expects an Error packet with code and, when want_text is not NULL, that
//  text in its reason.
static void
s_expect_error (zsock_t *client, certbus_err_t code, const char *want_text)
{
    Certbus__Packet *packet = s_expect (client, CERTBUS__PACKET__BODY_ERROR);
    if (packet->error->code != (uint32_t) code)
        fail_msg ("wanted error %s, got %s: %s", certbus_err_name (code),
                  certbus_err_name ((certbus_err_t) packet->error->code), packet->error->reason);
    assert_non_null (packet->error->reason);
    assert_true (strlen (packet->error->reason) > 0);
    if (want_text && !strstr (packet->error->reason, want_text))
        fail_msg ("error %s: reason \"%s\" does not mention \"%s\"", certbus_err_name (code),
                  packet->error->reason, want_text);
    certbus_codec_free (packet);
}

//  Expects a PubAck with status; when id is not NULL it must carry that
//  message id, else none (the broker could not read the id). Returns the
//  packet (caller frees).
static Certbus__Packet *
s_expect_puback_within (zsock_t *client, const uint8_t *id, Certbus__Status status,
                        int timeout_ms)
{
    Certbus__Packet *packet = s_expect_within (client, CERTBUS__PACKET__BODY_PUBACK, timeout_ms);
    Certbus__PubAck *ack = packet->puback;
    if (ack->status != status)
        fail_msg ("wanted PubAck status %d, got %d code %s reason \"%s\"", (int) status,
                  (int) ack->status, certbus_err_name ((certbus_err_t) ack->code), ack->reason);
    if (id) {
        assert_int_equal (ack->message_id.len, CERTBUS_ID_SIZE);
        if (memcmp (ack->message_id.data, id, CERTBUS_ID_SIZE) != 0)
            fail_msg ("PubAck carries another message id");
    }
    else if (ack->message_id.len != 0)
        fail_msg ("PubAck carries a message id of %zu bytes for a publish whose id the broker "
                  "could not read",
                  ack->message_id.len);
    return packet;
}

static Certbus__Packet *
s_expect_puback (zsock_t *client, const uint8_t *id, Certbus__Status status)
{
    return s_expect_puback_within (client, id, status, s_WAIT_MS);
}

//  Expects a rejection with code (and want_text in the reason when given).
static void
s_expect_reject_within (zsock_t *client, const uint8_t *id, certbus_err_t code,
                        const char *want_text, int timeout_ms)
{
    Certbus__Packet *packet
        = s_expect_puback_within (client, id, CERTBUS__STATUS__STATUS_REJECTED, timeout_ms);
    Certbus__PubAck *ack = packet->puback;
    if (ack->code != (uint32_t) code)
        fail_msg ("wanted rejection %s, got %s: %s", certbus_err_name (code),
                  certbus_err_name ((certbus_err_t) ack->code), ack->reason);
    assert_non_null (ack->reason);
    assert_true (strlen (ack->reason) > 0);
    if (want_text && !strstr (ack->reason, want_text))
        fail_msg ("rejection %s: reason \"%s\" does not mention \"%s\"", certbus_err_name (code),
                  ack->reason, want_text);
    assert_int_equal (ack->sequence, 0);
    certbus_codec_free (packet);
}

static void
s_expect_reject (zsock_t *client, const uint8_t *id, certbus_err_t code, const char *want_text)
{
    s_expect_reject_within (client, id, code, want_text, s_WAIT_MS);
}

//  Expects acceptance of id; returns the broker's message sequence.
static uint64_t
s_expect_accepted (zsock_t *client, const uint8_t *id)
{
    Certbus__Packet *packet = s_expect_puback (client, id, CERTBUS__STATUS__STATUS_ACCEPTED);
    uint64_t sequence = packet->puback->sequence;
    assert_true (sequence > 0);
    certbus_codec_free (packet);
    return sequence;
}

static uint32_t
s_expect_welcome (s_fixture_t *fx, zsock_t *client)
{
    Certbus__Packet *packet = s_expect (client, CERTBUS__PACKET__BODY_HELLO);
    uint32_t credit = packet->hello->credit;
    assert_int_equal (packet->hello->directory_serial, certbus_directory_serial (fx->directory));
    certbus_codec_free (packet);
    return credit;
}

//  Two Ping/Pong round trips on client (which must have said Hello): every
//  packet the broker sent to this connection before it read the second
//  Ping arrives first. Deliveries on the way are counted into *deliveries
//  (NULL: none may arrive); any other packet fails the test.
static void
s_barrier (s_fixture_t *fx, zsock_t *client, size_t *deliveries)
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
            if (packet->body_case != CERTBUS__PACKET__BODY_DELIVER || !deliveries) {
                if (packet->body_case == CERTBUS__PACKET__BODY_ERROR)
                    fail_msg ("unexpected error %s before the Pong: %s",
                              certbus_err_name ((certbus_err_t) packet->error->code),
                              packet->error->reason);
                fail_msg ("unexpected %s packet before the Pong", certbus_packet_name (packet));
            }
            (*deliveries)++;
            certbus_codec_free (packet);
        }
    }
}

//  A session-less barrier: DirectoryRequest is served before Hello, in
//  order, so its reply proves the broker read everything sent before it.
static void
s_directory_barrier (zsock_t *client)
{
    s_send_directory_request (client);
    Certbus__Packet *packet = s_expect (client, CERTBUS__PACKET__BODY_DIRECTORY_REPLY);
    assert_true (packet->directory_reply->directory.len > 0);
    certbus_codec_free (packet);
}

//  ---------------------------------------------------------------------------
//  Envelopes

static uint8_t *
s_seal (s_fixture_t *fx, int from, const char *audience, const char *text,
        uint8_t id [CERTBUS_ID_SIZE], size_t *size_p)
{
    s_member_t *member = &fx->members [from];
    certbus_seal_opts_t opts = {
        .kind = "advisory",
        .tlp = "amber",
        .audience = audience,
        .topic = "hostile-test",
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

static void
s_open (s_fixture_t *fx, int to, const uint8_t *bytes, size_t size, const uint8_t *want_id,
        const char *want_text)
{
    s_member_t *member = &fx->members [to];
    certbus_envelope_t *env = NULL;
    uint8_t *payload = NULL;
    size_t payload_size = 0;
    certbus_err_t rc = certbus_envelope_open (bytes, size, fx->directory, member->identity,
                                              member->org, certbus_now (), &env, &payload,
                                              &payload_size);
    if (rc != CERTBUS_OK)
        fail_msg ("delivery does not open for %s: %s", member->org, certbus_reason ());
    assert_memory_equal (certbus_envelope_header (env)->id, want_id, CERTBUS_ID_SIZE);
    assert_int_equal (payload_size, strlen (want_text));
    assert_memory_equal (payload, want_text, payload_size);
    free (payload);
    certbus_envelope_destroy (&env);
}

//  Rewrites the signed header of an envelope and re-signs it with signer's
//  key, as a member (or an impostor holding that key) could: string field
//  `field` (NULL: none) becomes value, and origin_serial becomes serial
//  (0: kept). Everything else travels unchanged. Returns new bytes.
static uint8_t *
s_resign (s_fixture_t *fx, const uint8_t *bytes, size_t size, int signer, const char *field,
          const char *value, uint64_t serial, size_t *size_p)
{
    Certbus__Envelope *env = certbus__envelope__unpack (NULL, size, bytes);
    assert_non_null (env);
    Certbus__EnvelopeHeader *hdr
        = certbus__envelope_header__unpack (NULL, env->header.len, env->header.data);
    assert_non_null (hdr);
    char **slot = NULL;
    char *saved = NULL;
    if (field) {
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name (
            &certbus__envelope_header__descriptor, field);
        if (!fd || fd->type != PROTOBUF_C_TYPE_STRING)
            fail_msg ("EnvelopeHeader has no string field %s", field);
        slot = (char **) ((uint8_t *) hdr + fd->offset);
        saved = *slot;
        *slot = (char *) value;
    }
    if (serial)
        hdr->origin_serial = serial;
    size_t header_size;
    uint8_t *header = certbus_codec_encode (hdr, &header_size);
    if (slot)
        *slot = saved;   //  protobuf-c frees what it unpacked, never our literal
    uint8_t sig [CERTBUS_SIG_SIZE];
    certbus_sign (sig, s_DOMAIN_ENVELOPE, header, header_size,
                  certbus_identity_sign_secret (fx->members [signer].identity));
    ProtobufCBinaryData old_header = env->header, old_sig = env->signature;
    env->header.data = header;
    env->header.len = header_size;
    env->signature.data = sig;
    env->signature.len = sizeof sig;
    uint8_t *out = certbus_codec_encode (env, size_p);
    env->header = old_header;
    env->signature = old_sig;
    free (header);
    certbus__envelope_header__free_unpacked (hdr, NULL);
    certbus__envelope__free_unpacked (env, NULL);
    return out;
}

//  The envelope with its recipient list replaced by count generated
//  entries (sorted, unique names m0000000..., a 48-byte key each);
//  first_name, when not NULL, replaces the first entry's name.
static uint8_t *
s_with_recipients (const uint8_t *bytes, size_t size, size_t count, const char *first_name,
                   size_t *size_p)
{
    Certbus__Envelope *env = certbus__envelope__unpack (NULL, size, bytes);
    assert_non_null (env);
    Certbus__RecipientKey *keys = calloc (count, sizeof *keys);
    Certbus__RecipientKey **ptrs = calloc (count, sizeof *ptrs);
    char *names = calloc (count, 16);
    uint8_t wrapped [CERTBUS_WRAPPED_KEY_SIZE];
    memset (wrapped, 0x5a, sizeof wrapped);
    assert_true (keys && ptrs && names);
    for (size_t i = 0; i < count; i++) {
        certbus__recipient_key__init (&keys [i]);
        snprintf (names + 16 * i, 16, "m%07zu", i);
        keys [i].org_id = names + 16 * i;
        keys [i].wrapped_key.data = wrapped;
        keys [i].wrapped_key.len = sizeof wrapped;
        ptrs [i] = &keys [i];
    }
    if (first_name && count)
        keys [0].org_id = (char *) first_name;
    size_t saved_count = env->n_recipients;
    Certbus__RecipientKey **saved = env->recipients;
    env->n_recipients = count;
    env->recipients = ptrs;
    uint8_t *out = certbus_codec_encode (env, size_p);
    env->n_recipients = saved_count;
    env->recipients = saved;
    certbus__envelope__free_unpacked (env, NULL);
    free (keys);
    free (ptrs);
    free (names);
    return out;
}

//  End offsets of the top-level fields of a protobuf message (wire types 0
//  and 2 only, as an Envelope has); returns how many.
static size_t
s_field_ends (const uint8_t *bytes, size_t size, size_t *ends, size_t max)
{
    size_t at = 0, count = 0;
    while (at < size && count < max) {
        uint64_t tag = 0;
        for (int shift = 0; at < size; shift += 7) {
            tag |= (uint64_t) (bytes [at] & 0x7f) << shift;
            if (!(bytes [at++] & 0x80))
                break;
        }
        uint64_t value = 0;
        for (int shift = 0; at < size; shift += 7) {
            value |= (uint64_t) (bytes [at] & 0x7f) << shift;
            if (!(bytes [at++] & 0x80))
                break;
        }
        if ((tag & 7) == 2)
            at += value;
        else
            assert_int_equal (tag & 7, 0);
        ends [count++] = at;
    }
    assert_int_equal (at, size);
    return count;
}

//  ---------------------------------------------------------------------------
//  The good path, checked after every hostile case

//  Member from publishes to member to over fresh connections; to receives
//  it (after anything queued for it before), opens it and acknowledges.
static void
s_good_roundtrip (s_fixture_t *fx, int from, int to)
{
    zsock_t *receiver = s_client (fx, fx->members [to].identity);
    s_send_hello (fx, receiver, 0);
    assert_int_equal (s_expect_welcome (fx, receiver), s_WINDOW);
    zsock_t *sender = s_client (fx, fx->members [from].identity);
    char audience [64], text [64];
    snprintf (audience, sizeof audience, "org:%s", fx->members [to].org);
    snprintf (text, sizeof text, "good traffic from %s to %s", fx->members [from].org,
              fx->members [to].org);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = s_seal (fx, from, audience, text, id, &size);
    s_send_publish (sender, envelope, size);
    s_expect_accepted (sender, id);
    free (envelope);
    bool found = false;
    for (int i = 0; i < 4 * s_WINDOW && !found; i++) {
        Certbus__Packet *packet = s_expect (receiver, CERTBUS__PACKET__BODY_DELIVER);
        Certbus__Deliver *deliver = packet->deliver;
        certbus_envelope_t *env = NULL;
        if (certbus_envelope_decode (deliver->envelope.data, deliver->envelope.len, &env)
                == CERTBUS_OK
            && memcmp (certbus_envelope_header (env)->id, id, CERTBUS_ID_SIZE) == 0) {
            s_open (fx, to, deliver->envelope.data, deliver->envelope.len, id, text);
            found = true;
        }
        certbus_envelope_destroy (&env);
        uint64_t sequence = deliver->sequence;
        s_send_acks (receiver, &sequence, 1);
        certbus_codec_free (packet);
    }
    assert_true (found);
    s_barrier (fx, receiver, NULL);
}

//  The broker's own verifier recomputes the audit log and its signed heads.
static void
s_audit_verifies (s_fixture_t *fx)
{
    char *json = s_stats (fx);
    zstr_free (&json);
    if (audit_verify (fx->dir) != 0)
        fail_msg ("certbus-broker audit verify fails on %s", fx->dir);
}

//  Reloads fx->directory from the Council's database, as a member does
//  after the Council changed it (a revocation).
static void
s_refresh_directory (s_fixture_t *fx)
{
    char *path = s_path (fx->dir, "directory.cbd");
    assert_int_equal (council_directory (fx->dir, path), 0);
    size_t size;
    uint8_t *bytes = s_read_file (path, &size);
    certbus_directory_t *directory = NULL;
    assert_int_equal (certbus_directory_decode (bytes, size, fx->council_key, 0, &directory),
                      CERTBUS_OK);
    certbus_directory_destroy (&fx->directory);
    fx->directory = directory;
    free (bytes);
    zstr_free (&path);
}

//  Known bugs, reported to the lead: a test that finds one calls s_xfail,
//  which reports the test as skipped ("expected to fail") rather than
//  failed, so that `make check` stays usable until the fix lands. Once
//  fixed, the same test passes. CERTBUS_STRICT_XFAIL=1 makes them fail.
static void
s_xfail (const char *bug)
{
    if (getenv ("CERTBUS_STRICT_XFAIL") && streq (getenv ("CERTBUS_STRICT_XFAIL"), "1"))
        fail_msg ("BUG: %s", bug);
    print_message ("EXPECTED FAILURE (known bug): %s\n", bug);
    skip ();
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

//  Starts a broker engine on fx->dir; returns 0 or -1.
static int
s_broker_start (s_fixture_t *fx)
{
    fx->broker = zactor_new (broker_engine_actor, &fx->config);
    assert_non_null (fx->broker);
    char *ready = zstr_recv (fx->broker);
    if (!ready || strncmp (ready, "READY ", 6) != 0) {
        print_error ("broker did not start: %s\n", ready ? ready : "(no answer)");
        zstr_free (&ready);
        return -1;
    }
    fx->endpoint = strdup (ready + 6);
    zstr_free (&ready);
    return 0;
}

//  Stops the engine as its $TERM does (the actor's destructor), with every
//  client socket gone first.
static void
s_broker_stop (s_fixture_t *fx)
{
    s_destroy_clients (fx);
    zactor_destroy (&fx->broker);
    free (fx->endpoint);
    fx->endpoint = NULL;
}

static int
    s_teardown (void **state);

static int
s_setup (void **state)
{
    s_fixture_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    *state = fx;
    fx->clients = zlist_new ();
    snprintf (fx->dir, sizeof fx->dir, "/tmp/certbus-hostile-XXXXXX");
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
    path = s_path (fx->dir, "directory.cbd");
    assert_int_equal (council_directory (fx->dir, path), 0);
    size_t size;
    uint8_t *bytes = s_read_file (path, &size);
    assert_int_equal (certbus_directory_decode (bytes, size, fx->council_key, 0, &fx->directory),
                      CERTBUS_OK);
    assert_int_equal (certbus_directory_count (fx->directory), s_MEMBER_COUNT);
    free (bytes);
    zstr_free (&path);

    broker_config_defaults (&fx->config);
    fx->config.dir = fx->dir;
    fx->config.bind = "tcp://127.0.0.1:*";
    fx->config.window = s_WINDOW;
    fx->config.heartbeat_ms = 100;
    //  Sessions that only listen must not time out while a test runs
    fx->config.peer_timeout_ms = 60000;
    if (s_broker_start (fx) != 0) {
        s_teardown (state);   //  cmocka skips teardown when setup fails
        return -1;
    }
    return 0;
}

static int
s_teardown (void **state)
{
    s_fixture_t *fx = *state;
    if (!fx)
        return 0;
    s_destroy_clients (fx);
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
//  1. Garbage: every frame that is no packet gets an exact Error

static void
test_garbage (void **state)
{
    s_fixture_t *fx = *state;
    zsock_t *alpha = s_client (fx, fx->members [s_ALPHA].identity);
    s_send_hello (fx, alpha, 0);
    assert_int_equal (s_expect_welcome (fx, alpha), s_WINDOW);
    int64_t bad = 0;

    //  An endless varint
    uint8_t ff [24];
    memset (ff, 0xff, sizeof ff);
    s_send_raw (alpha, ff, sizeof ff);
    s_expect_error (alpha, CERTBUS_E_DECODE, "malformed or truncated");
    bad++;
    //  One zero byte: field number 0
    s_send_raw (alpha, "", 1);
    s_expect_error (alpha, CERTBUS_E_DECODE, NULL);
    bad++;
    //  Somebody speaking HTTP: 'G' is field 8 with wire type 7
    const char *http = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    s_send_raw (alpha, http, strlen (http));
    s_expect_error (alpha, CERTBUS_E_DECODE, NULL);
    bad++;
    //  Field number 0 spelt as a two-byte tag (protobuf-c keeps it as an
    //  unknown field; the codec refuses it)
    const uint8_t zero_tag [] = {0x08, 0x01, 0x80, 0x00, 0x01};
    s_send_raw (alpha, zero_tag, sizeof zero_tag);
    s_expect_error (alpha, CERTBUS_E_DECODE, "numbered 0");
    bad++;
    //  A well-formed Ping of major version 2, and one with no version
    Certbus__Ping ping = CERTBUS__PING__INIT;
    ping.time = 1;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_PING;
    packet.ping = &ping;
    size_t packed_size;
    for (uint32_t version = 0; version <= 2; version += 2) {
        packet.version = version;
        uint8_t *packed = certbus_codec_encode (&packet, &packed_size);
        s_send_raw (alpha, packed, packed_size);
        s_expect_error (alpha, CERTBUS_E_VERSION, "major version");
        free (packed);
        bad++;
    }
    //  Only an unknown field (number 99, varint) besides the version
    const uint8_t unknown [] = {0x08, 0x01, 0x98, 0x06, 0x2a};
    s_send_raw (alpha, unknown, sizeof unknown);
    s_expect_error (alpha, CERTBUS_E_PROTOCOL, "no body");
    bad++;
    //  A Hello whose agent string is not UTF-8
    Certbus__Hello hello = CERTBUS__HELLO__INIT;
    hello.agent = "agent \xc3\x28";
    packet = (Certbus__Packet) CERTBUS__PACKET__INIT;
    packet.version = CERTBUS_WIRE_MAJOR;
    packet.body_case = CERTBUS__PACKET__BODY_HELLO;
    packet.hello = &hello;
    uint8_t *packed = certbus_codec_encode (&packet, &packed_size);
    s_send_raw (alpha, packed, packed_size);
    s_expect_error (alpha, CERTBUS_E_FIELD, "Hello.agent");
    free (packed);
    bad++;
    //  A DeliverAck with one item more than any repeated field may hold
    size_t many = CERTBUS_MAX_REPEATED + 1;
    uint64_t *sequences = calloc (many, sizeof (uint64_t));
    assert_non_null (sequences);
    for (size_t i = 0; i < many; i++)
        sequences [i] = 1000000 + i;
    s_send_acks (alpha, sequences, many);
    s_expect_error (alpha, CERTBUS_E_TOO_LARGE, "more than");
    bad++;
    //  ...and exactly at the decoder's limit: far more than any credit
    //  window, refused without walking the list, acknowledging nothing
    int64_t acks = s_stat (fx, "acks");
    double start = tu_clock_ms ();
    s_send_acks (alpha, sequences, CERTBUS_MAX_REPEATED);
    s_expect_error (alpha, CERTBUS_E_TOO_LARGE, "credit window");
    bad++;
    s_barrier (fx, alpha, NULL);
    print_message ("a DeliverAck of %d never-delivered sequences took the broker %.0f ms\n",
                   CERTBUS_MAX_REPEATED, tu_clock_ms () - start);
    assert_int_equal (s_stat (fx, "acks"), acks);
    free (sequences);
    //  Pseudo-random frames of many sizes: each gets a decode-family Error,
    //  none crashes the broker or reaches a handler
    int64_t random_errors = 0;
    for (uint32_t seed = 1; seed <= 64; seed++) {
        size_t size = 1 + (seed * 7919u) % 5000;
        uint8_t *bytes = malloc (size);
        assert_non_null (bytes);
        tu_fill (bytes, size, seed);
        s_send_raw (alpha, bytes, size);
        free (bytes);
        Certbus__Packet *reply = s_recv (alpha, s_WAIT_MS);
        if (!reply)
            fail_msg ("no answer to %zu random bytes (seed %u)", size, seed);
        if (reply->body_case == CERTBUS__PACKET__BODY_ERROR) {
            uint32_t code = reply->error->code;
            if (code != CERTBUS_E_DECODE && code != CERTBUS_E_VERSION && code != CERTBUS_E_FIELD
                && code != CERTBUS_E_PROTOCOL && code != CERTBUS_E_TOO_LARGE)
                fail_msg ("random bytes (seed %u) got error %s", seed,
                          certbus_err_name ((certbus_err_t) code));
            random_errors++;
        }
        else
            fail_msg ("random bytes (seed %u) got a %s packet", seed,
                      certbus_packet_name (reply));
        certbus_codec_free (reply);
    }
    bad += random_errors;

    //  Still served, every bad packet counted and audited
    s_barrier (fx, alpha, NULL);
    assert_int_equal (s_stat (fx, "bad_packets"), bad);
    assert_int_equal (s_audit_count (fx, "bad-packet"), bad);
    assert_int_equal (s_stat (fx, "accepted"), 0);
    s_good_roundtrip (fx, s_ALPHA, s_BRAVO);
    s_audit_verifies (fx);
}

//  ---------------------------------------------------------------------------
//  2. Truncation: a Publish packet cut anywhere, and an envelope cut
//  anywhere inside a well-formed Publish

static void
test_truncated (void **state)
{
    s_fixture_t *fx = *state;
    zsock_t *alpha = s_client (fx, fx->members [s_ALPHA].identity);
    s_send_hello (fx, alpha, 0);
    assert_int_equal (s_expect_welcome (fx, alpha), s_WINDOW);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = s_seal (fx, s_ALPHA, "org:bravo", "cut me anywhere", id, &size);
    size_t packed_size;
    uint8_t *packed = s_publish_packet (envelope, size, &packed_size);

    //  The packet cut in half
    s_send_raw (alpha, packed, packed_size / 2);
    s_expect_error (alpha, CERTBUS_E_DECODE, "malformed or truncated");
    int64_t bad = 1;
    //  ...and at every other length: only "08 01" (the version alone) is a
    //  whole packet, with no body
    for (size_t cut = 1; cut < packed_size; cut++) {
        if (cut == packed_size / 2)
            continue;
        s_send_raw (alpha, packed, cut);
        if (cut == 2)
            s_expect_error (alpha, CERTBUS_E_PROTOCOL, "no body");
        else
            s_expect_error (alpha, CERTBUS_E_DECODE, NULL);
        bad++;
    }
    assert_int_equal (s_stat (fx, "bad_packets"), bad);
    assert_int_equal (s_stat (fx, "received"), bad + 1);   //  and the hello

    //  The envelope cut in half inside a whole Publish: refused, no id
    s_send_publish (alpha, envelope, size / 2);
    s_expect_reject (alpha, NULL, CERTBUS_E_DECODE, "Envelope is malformed or truncated");
    int64_t rejected = 1;
    //  ...and at every other length. At a field boundary the prefix is a
    //  well-formed Envelope missing its later fields, and the broker names
    //  what is missing; anywhere else it is truncated protobuf.
    size_t ends [8];
    size_t fields = s_field_ends (envelope, size, ends, 8);
    assert_int_equal (fields, 5);   //  version, header, signature, ciphertext, recipients
    for (size_t cut = 0; cut < size; cut++) {
        if (cut == size / 2)
            continue;
        certbus_err_t want = CERTBUS_E_DECODE;
        if (cut == ends [1])
            want = CERTBUS_E_FIELD;            //  no signature
        else if (cut == ends [2])
            want = CERTBUS_E_CIPHERTEXT_HASH;  //  no ciphertext
        else if (cut == ends [3])
            want = CERTBUS_E_RECIPIENTS_HASH;  //  no recipient
        s_send_publish (alpha, envelope, cut);
        Certbus__Packet *reply = s_expect (alpha, CERTBUS__PACKET__BODY_PUBACK);
        Certbus__PubAck *ack = reply->puback;
        if (ack->status != CERTBUS__STATUS__STATUS_REJECTED || ack->code != (uint32_t) want)
            fail_msg ("envelope cut at %zu of %zu: wanted rejection %s, got status %d %s: %s",
                      cut, size, certbus_err_name (want), (int) ack->status,
                      certbus_err_name ((certbus_err_t) ack->code), ack->reason);
        certbus_codec_free (reply);
        rejected++;
    }
    assert_int_equal (s_stat (fx, "rejected"), rejected);
    assert_int_equal (s_audit_count (fx, "reject"), rejected);
    assert_int_equal (s_audit_count (fx, "bad-packet"), bad);
    assert_int_equal (s_stat (fx, "messages"), 0);

    //  The whole envelope is accepted: not a duplicate, nothing half-stored
    s_send_publish (alpha, envelope, size);
    s_expect_accepted (alpha, id);
    free (packed);
    free (envelope);
    s_good_roundtrip (fx, s_CHARLIE, s_BRAVO);
    s_audit_verifies (fx);
}

//  ---------------------------------------------------------------------------
//  3. Every packet type out of order

//  One packet of each type only the broker may send, in a fixed order.
static void
s_send_broker_only (s_fixture_t *fx, zsock_t *client, const uint8_t *envelope, size_t size)
{
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    Certbus__Deliver deliver = CERTBUS__DELIVER__INIT;
    deliver.sequence = 1;
    deliver.envelope.data = (uint8_t *) envelope;
    deliver.envelope.len = size;
    packet.body_case = CERTBUS__PACKET__BODY_DELIVER;
    packet.deliver = &deliver;
    s_send (client, &packet);

    uint8_t id [CERTBUS_ID_SIZE];
    certbus_uuid7 (id);
    Certbus__PubAck puback = CERTBUS__PUB_ACK__INIT;
    puback.message_id.data = id;
    puback.message_id.len = sizeof id;
    puback.status = CERTBUS__STATUS__STATUS_ACCEPTED;
    packet = (Certbus__Packet) CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_PUBACK;
    packet.puback = &puback;
    s_send (client, &packet);

    size_t dir_size;
    Certbus__DirectoryReply reply = CERTBUS__DIRECTORY_REPLY__INIT;
    reply.directory.data = (uint8_t *) certbus_directory_bytes (fx->directory, &dir_size);
    reply.directory.len = dir_size;
    packet = (Certbus__Packet) CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_DIRECTORY_REPLY;
    packet.directory_reply = &reply;
    s_send (client, &packet);

    Certbus__ProofReply proof = CERTBUS__PROOF_REPLY__INIT;
    proof.code = CERTBUS_OK;
    packet = (Certbus__Packet) CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_PROOF_REPLY;
    packet.proof_reply = &proof;
    s_send (client, &packet);

    Certbus__Error error = CERTBUS__ERROR__INIT;
    error.code = CERTBUS_E_INTERNAL;
    error.reason = "a member pretending to be the broker";
    packet = (Certbus__Packet) CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_ERROR;
    packet.error = &error;
    s_send (client, &packet);
}

static void
s_expect_broker_only_refused (zsock_t *client)
{
    static const char *names [] = {"deliver", "puback", "directory-reply", "proof-reply",
                                   "error"};
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++) {
        char text [64];
        snprintf (text, sizeof text, "may not send a %s packet", names [i]);
        s_expect_error (client, CERTBUS_E_PROTOCOL, text);
    }
}

static void
test_out_of_order (void **state)
{
    s_fixture_t *fx = *state;
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = s_seal (fx, s_ALPHA, "org:bravo", "out of order", id, &size);
    zsock_t *alpha = s_client (fx, fx->members [s_ALPHA].identity);

    //  Before Hello. Packets only the broker sends: refused, audited.
    s_send_broker_only (fx, alpha, envelope, size);
    s_expect_broker_only_refused (alpha);
    //  Pong and Ping need a session
    Certbus__Pong pong = CERTBUS__PONG__INIT;
    pong.time = 7;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_PONG;
    packet.pong = &pong;
    s_send (alpha, &packet);
    s_expect_error (alpha, CERTBUS_E_PROTOCOL, "no session: send hello");
    s_send_ping (alpha, 8);
    s_expect_error (alpha, CERTBUS_E_PROTOCOL, "no session: send hello");
    //  A DeliverAck of sequences never delivered: no answer, no effect
    uint64_t sequences [] = {1, 2, 3, 1000};
    s_send_acks (alpha, sequences, 4);
    //  A ProofRequest for an unknown message: served, NOT_FOUND
    Certbus__ProofRequest proof = CERTBUS__PROOF_REQUEST__INIT;
    uint8_t unknown [CERTBUS_ID_SIZE];
    certbus_uuid7 (unknown);
    proof.message_id.data = unknown;
    proof.message_id.len = sizeof unknown;
    packet = (Certbus__Packet) CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_PROOF_REQUEST;
    packet.proof_request = &proof;
    s_send (alpha, &packet);
    Certbus__Packet *reply = s_expect (alpha, CERTBUS__PACKET__BODY_PROOF_REPLY);
    assert_int_equal (reply->proof_reply->code, CERTBUS_E_NOT_FOUND);
    certbus_codec_free (reply);
    //  DirectoryRequest is served before Hello, and proves nothing else
    //  came back for the DeliverAck
    s_directory_barrier (alpha);
    assert_int_equal (s_stat (fx, "acks"), 0);
    //  A Publish before Hello is judged like any other
    s_send_publish (alpha, envelope, size);
    s_expect_accepted (alpha, id);
    assert_int_equal (s_stat (fx, "bad_packets"), 5);

    //  After Hello: the broker's packets are still refused; a Pong is fine;
    //  a second Hello gets a second welcome
    s_send_hello (fx, alpha, 0);
    assert_int_equal (s_expect_welcome (fx, alpha), s_WINDOW);
    s_send_broker_only (fx, alpha, envelope, size);
    s_expect_broker_only_refused (alpha);
    packet = (Certbus__Packet) CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_PONG;
    packet.pong = &pong;
    s_send (alpha, &packet);
    s_send_hello (fx, alpha, 4);
    assert_int_equal (s_expect_welcome (fx, alpha), 4);
    s_barrier (fx, alpha, NULL);
    assert_int_equal (s_stat (fx, "bad_packets"), 10);
    assert_int_equal (s_audit_count (fx, "bad-packet"), 10);
    free (envelope);

    //  bravo gets alpha's message exactly once, then good traffic flows
    zsock_t *bravo = s_client (fx, fx->members [s_BRAVO].identity);
    s_send_hello (fx, bravo, 0);
    assert_int_equal (s_expect_welcome (fx, bravo), s_WINDOW);
    reply = s_expect (bravo, CERTBUS__PACKET__BODY_DELIVER);
    s_open (fx, s_BRAVO, reply->deliver->envelope.data, reply->deliver->envelope.len, id,
            "out of order");
    uint64_t sequence = reply->deliver->sequence;
    certbus_codec_free (reply);
    s_send_acks (bravo, &sequence, 1);
    s_barrier (fx, bravo, NULL);
    assert_int_equal (s_stat (fx, "acks"), 1);
    s_good_roundtrip (fx, s_CHARLIE, s_ALPHA);
    s_audit_verifies (fx);
}

//  ---------------------------------------------------------------------------
//  4. An acknowledgement for a delivery the broker never sent

static void
test_ack_before_delivery (void **state)
{
    s_fixture_t *fx = *state;
    zsock_t *alpha = s_client (fx, fx->members [s_ALPHA].identity);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = s_seal (fx, s_ALPHA, "org:bravo", "never sent yet", id, &size);
    s_send_publish (alpha, envelope, size);
    s_expect_accepted (alpha, id);
    free (envelope);
    assert_int_equal (s_stat (fx, "queued"), 1);

    //  bravo, without Hello (so nothing was ever delivered to it), guesses
    //  the delivery sequences and acknowledges them
    zsock_t *bravo = s_client (fx, fx->members [s_BRAVO].identity);
    uint64_t guesses [8];
    for (size_t i = 0; i < 8; i++)
        guesses [i] = i + 1;
    s_send_acks (bravo, guesses, 8);
    s_directory_barrier (bravo);
    int64_t queued = s_stat (fx, "queued");
    int64_t delivered_rows = s_audit_count (fx, "deliver");
    print_message ("after an ack of never-delivered sequences: queued %lld, acks %lld, "
                   "'deliver' audit rows %lld\n",
                   (long long) queued, (long long) s_stat (fx, "acks"),
                   (long long) delivered_rows);
    //  The broker never sent that delivery: it must stay queued, and the
    //  audit log must not say it was delivered
    s_send_hello (fx, bravo, 0);
    assert_int_equal (s_expect_welcome (fx, bravo), s_WINDOW);
    size_t deliveries = 0;
    s_barrier (fx, bravo, &deliveries);
    if (queued != 1 || delivered_rows != 0 || deliveries != 1) {
        char bug [300];
        snprintf (bug, sizeof bug,
                  "broker/engine.c s_handle_acks: an acknowledgement of a delivery that was "
                  "never sent removed it: queued %lld (want 1), 'deliver' audit rows %lld "
                  "(want 0), deliveries after hello %zu (want 1)",
                  (long long) queued, (long long) delivered_rows, deliveries);
        s_xfail (bug);
    }
    s_good_roundtrip (fx, s_CHARLIE, s_ALPHA);
}

//  ---------------------------------------------------------------------------
//  5. Frames above the configured maximum

//  Waits (bounded) for event on a zmonitor actor; true when it came.
static bool
s_await_event (zactor_t *monitor, const char *event, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    zpoller_t *poller = zpoller_new (monitor, NULL);
    bool seen = false;
    while (!seen) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0 || !zpoller_wait (poller, (int) left))
            break;
        zmsg_t *msg = zmsg_recv (monitor);
        if (!msg)
            break;
        char *name = zmsg_popstr (msg);
        seen = name && streq (name, event);
        zstr_free (&name);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    return seen;
}

static void
test_oversized_frames (void **state)
{
    s_fixture_t *fx = *state;
    //  A frame just under the limit reaches the broker: a Publish whose
    //  envelope is above CERTBUS_MAX_ENVELOPE is refused on decode
    zsock_t *alpha = s_client (fx, fx->members [s_ALPHA].identity);
    s_send_hello (fx, alpha, 0);
    assert_int_equal (s_expect_welcome (fx, alpha), s_WINDOW);
    size_t big = CERTBUS_MAX_PACKET - 1024;
    uint8_t *bytes = calloc (1, CERTBUS_MAX_PACKET + 1);
    assert_non_null (bytes);
    s_send_publish (alpha, bytes, big);
    s_expect_reject_within (alpha, NULL, CERTBUS_E_TOO_LARGE, "exceeds the limit",
                            s_LONG_WAIT_MS);
    s_barrier (fx, alpha, NULL);
    int64_t received = s_stat (fx, "received");

    //  A frame one byte above CERTBUS_MAX_PACKET: libzmq (ZMQ_MAXMSGSIZE on
    //  the ROUTER) drops the connection; nothing reaches the broker's code
    zsock_t *cut = s_client_new (fx, fx->members [s_ALPHA].identity);
    zsock_set_reconnect_ivl (cut, 60000);   //  stay cut while we watch
    zactor_t *monitor = zactor_new (zmonitor, cut);
    assert_non_null (monitor);
    zstr_sendx (monitor, "LISTEN", "HANDSHAKE_SUCCEEDED", NULL);
    zstr_sendx (monitor, "LISTEN", "DISCONNECTED", NULL);
    zstr_sendx (monitor, "START", NULL);
    zsock_wait (monitor);
    assert_int_equal (zsock_connect (cut, "%s", fx->endpoint), 0);
    s_send_hello (fx, cut, 0);
    assert_int_equal (s_expect_welcome (fx, cut), s_WINDOW);
    received++;
    s_send_raw (cut, bytes, CERTBUS_MAX_PACKET + 1);
    if (!s_await_event (monitor, "DISCONNECTED", s_LONG_WAIT_MS))
        fail_msg ("the broker kept the connection after a frame of %u bytes",
                  CERTBUS_MAX_PACKET + 1);
    Certbus__Packet *reply = s_recv (cut, s_QUIET_MS);
    if (reply)
        fail_msg ("a frame above the limit got a %s packet", certbus_packet_name (reply));
    zactor_destroy (&monitor);
    free (bytes);
    assert_int_equal (s_stat (fx, "received"), received);
    assert_int_equal (s_stat (fx, "bad_packets"), 0);

    //  A fresh connection of the same member is served
    zsock_t *again = s_client (fx, fx->members [s_ALPHA].identity);
    s_send_hello (fx, again, 0);
    assert_int_equal (s_expect_welcome (fx, again), s_WINDOW);
    s_barrier (fx, again, NULL);
    assert_int_equal (s_stat (fx, "rejected"), 1);
    assert_int_equal (s_audit_count (fx, "reject"), 1);
    s_good_roundtrip (fx, s_ALPHA, s_BRAVO);
    s_audit_verifies (fx);
}

//  ---------------------------------------------------------------------------
//  6. Multi-frame messages

static void
test_multi_frame (void **state)
{
    s_fixture_t *fx = *state;
    zsock_t *alpha = s_client (fx, fx->members [s_ALPHA].identity);
    s_send_hello (fx, alpha, 0);
    assert_int_equal (s_expect_welcome (fx, alpha), s_WINDOW);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = s_seal (fx, s_ALPHA, "org:bravo", "one frame only", id, &size);
    size_t packed_size;
    uint8_t *packed = s_publish_packet (envelope, size, &packed_size);
    const char *text = "one packet per message: extra frames refused";

    //  A good Publish followed by one, then two more frames
    const void *two [] = {packed, "extra"};
    size_t two_sizes [] = {packed_size, 5};
    s_send_frames (alpha, two, two_sizes, 2);
    s_expect_error (alpha, CERTBUS_E_PROTOCOL, text);
    const void *three [] = {packed, "", ""};
    size_t three_sizes [] = {packed_size, 0, 0};
    s_send_frames (alpha, three, three_sizes, 3);
    s_expect_error (alpha, CERTBUS_E_PROTOCOL, text);
    //  An empty frame, then the Publish
    const void *empty_first [] = {"", packed};
    size_t empty_first_sizes [] = {0, packed_size};
    s_send_frames (alpha, empty_first, empty_first_sizes, 2);
    s_expect_error (alpha, CERTBUS_E_PROTOCOL, text);
    //  The same Publish 64 times in one message
    const void *many [64];
    size_t many_sizes [64];
    for (int i = 0; i < 64; i++) {
        many [i] = packed;
        many_sizes [i] = packed_size;
    }
    s_send_frames (alpha, many, many_sizes, 64);
    s_expect_error (alpha, CERTBUS_E_PROTOCOL, text);
    //  A Ping with a second frame is not answered as a Ping
    Certbus__Ping ping = CERTBUS__PING__INIT;
    ping.time = 99;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.version = CERTBUS_WIRE_MAJOR;
    packet.body_case = CERTBUS__PACKET__BODY_PING;
    packet.ping = &ping;
    size_t ping_size;
    uint8_t *ping_bytes = certbus_codec_encode (&packet, &ping_size);
    const void *ping_two [] = {ping_bytes, ping_bytes};
    size_t ping_two_sizes [] = {ping_size, ping_size};
    s_send_frames (alpha, ping_two, ping_two_sizes, 2);
    s_expect_error (alpha, CERTBUS_E_PROTOCOL, text);
    free (ping_bytes);

    s_barrier (fx, alpha, NULL);
    assert_int_equal (s_stat (fx, "bad_packets"), 5);
    assert_int_equal (s_audit_count (fx, "bad-packet"), 5);
    assert_int_equal (s_stat (fx, "messages"), 0);
    //  None of them was half-processed: the envelope is new to the broker
    s_send_publish (alpha, envelope, size);
    s_expect_accepted (alpha, id);
    free (packed);
    free (envelope);
    s_good_roundtrip (fx, s_BRAVO, s_CHARLIE);
    s_audit_verifies (fx);
}

//  ---------------------------------------------------------------------------
//  7. Recipient lists above CERTBUS_MAX_RECIPIENTS

static void
test_too_many_recipients (void **state)
{
    s_fixture_t *fx = *state;
    zsock_t *alpha = s_client (fx, fx->members [s_ALPHA].identity);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = s_seal (fx, s_ALPHA, "org:bravo", "to far too many", id, &size);

    //  100,000 recipients (about 6 MB)
    size_t big_size;
    uint8_t *big = s_with_recipients (envelope, size, 100000, NULL, &big_size);
    print_message ("an envelope with 100,000 recipients: %zu bytes\n", big_size);
    s_send_publish (alpha, big, big_size);
    s_expect_reject_within (alpha, NULL, CERTBUS_E_TOO_LARGE, "100000 items", s_LONG_WAIT_MS);
    free (big);
    //  One above the limit
    big = s_with_recipients (envelope, size, CERTBUS_MAX_RECIPIENTS + 1, NULL, &big_size);
    s_send_publish (alpha, big, big_size);
    s_expect_reject (alpha, NULL, CERTBUS_E_TOO_LARGE, "10001 items");
    free (big);
    //  Exactly at the limit, but the signed header says one recipient
    big = s_with_recipients (envelope, size, CERTBUS_MAX_RECIPIENTS, NULL, &big_size);
    s_send_publish (alpha, big, big_size);
    s_expect_reject (alpha, NULL, CERTBUS_E_RECIPIENTS_HASH, "carries 10000 recipients");
    free (big);
    //  One recipient, the right count, but not the one signed for
    big = s_with_recipients (envelope, size, 1, NULL, &big_size);
    s_send_publish (alpha, big, big_size);
    s_expect_reject (alpha, id, CERTBUS_E_RECIPIENTS_HASH, NULL);
    free (big);
    assert_int_equal (s_stat (fx, "rejected"), 4);
    assert_int_equal (s_audit_count (fx, "reject"), 4);
    assert_int_equal (s_stat (fx, "messages"), 0);

    //  The envelope as sealed is accepted
    s_send_publish (alpha, envelope, size);
    s_expect_accepted (alpha, id);
    free (envelope);
    s_good_roundtrip (fx, s_CHARLIE, s_BRAVO);
    s_audit_verifies (fx);
}

//  ---------------------------------------------------------------------------
//  8. Invalid UTF-8 in every string of the signed header, re-signed by the
//  member, so that the UTF-8 is the only thing wrong

static void
test_invalid_utf8 (void **state)
{
    s_fixture_t *fx = *state;
    static const char *fields [] = {"origin",   "kind",         "topic",
                                    "tlp",      "severity",     "audience",
                                    "content_type", "case_status", "assign"};
    //  A bad continuation byte, a lone lead byte, an overlong '/', a
    //  surrogate, a byte that never occurs, and a code point past U+10FFFF
    static const char *bad [] = {"x\xc3\x28", "\xe2\x82", "\xc0\xaf", "\xed\xa0\x80",
                                 "ok\xff",    "\xf4\x90\x80\x80"};
    const size_t field_count = sizeof fields / sizeof fields [0];
    const size_t bad_count = sizeof bad / sizeof bad [0];
    zsock_t *alpha = s_client (fx, fx->members [s_ALPHA].identity);
    int64_t rejected = 0;
    for (size_t i = 0; i < field_count; i++) {
        //  Each field gets two of the bad sequences, in turn
        for (size_t j = 0; j < 2; j++) {
            const char *value = bad [(2 * i + j) % bad_count];
            uint8_t id [CERTBUS_ID_SIZE];
            size_t size, forged_size;
            uint8_t *envelope = s_seal (fx, s_ALPHA, "org:charlie", "utf-8", id, &size);
            uint8_t *forged
                = s_resign (fx, envelope, size, s_ALPHA, fields [i], value, 0, &forged_size);
            char text [64];
            snprintf (text, sizeof text, "EnvelopeHeader.%s is not valid UTF-8", fields [i]);
            s_send_publish (alpha, forged, forged_size);
            s_expect_reject (alpha, NULL, CERTBUS_E_FIELD, text);
            rejected++;
            free (forged);
            free (envelope);
        }
    }
    //  Valid UTF-8 but longer than any string may be
    char *long_topic = malloc (CERTBUS_MAX_STRING + 2);
    assert_non_null (long_topic);
    memset (long_topic, 't', CERTBUS_MAX_STRING + 1);
    long_topic [CERTBUS_MAX_STRING + 1] = 0;
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size, forged_size;
    uint8_t *envelope = s_seal (fx, s_ALPHA, "org:charlie", "utf-8", id, &size);
    uint8_t *forged
        = s_resign (fx, envelope, size, s_ALPHA, "topic", long_topic, 0, &forged_size);
    s_send_publish (alpha, forged, forged_size);
    s_expect_reject (alpha, NULL, CERTBUS_E_FIELD, "EnvelopeHeader.topic");
    rejected++;
    free (forged);
    free (long_topic);
    //  A recipient name that is not UTF-8 (beside the header, unsigned)
    forged = s_with_recipients (envelope, size, 1, "charlie\xc3\x28", &forged_size);
    s_send_publish (alpha, forged, forged_size);
    s_expect_reject (alpha, NULL, CERTBUS_E_FIELD, "RecipientKey.org_id");
    rejected++;
    free (forged);
    assert_int_equal (s_stat (fx, "rejected"), rejected);
    assert_int_equal (s_audit_count (fx, "reject"), rejected);
    assert_int_equal (s_stat (fx, "messages"), 0);

    //  Control: the same re-signing with every field left as it was gives an
    //  envelope the broker accepts, so only the UTF-8 was wrong above
    forged = s_resign (fx, envelope, size, s_ALPHA, "topic", "hostile-test", 0, &forged_size);
    s_send_publish (alpha, forged, forged_size);
    s_expect_accepted (alpha, id);
    free (forged);
    free (envelope);
    zsock_t *charlie = s_client (fx, fx->members [s_CHARLIE].identity);
    s_send_hello (fx, charlie, 0);
    assert_int_equal (s_expect_welcome (fx, charlie), s_WINDOW);
    Certbus__Packet *reply = s_expect (charlie, CERTBUS__PACKET__BODY_DELIVER);
    s_open (fx, s_CHARLIE, reply->deliver->envelope.data, reply->deliver->envelope.len, id,
            "utf-8");
    uint64_t sequence = reply->deliver->sequence;
    certbus_codec_free (reply);
    s_send_acks (charlie, &sequence, 1);
    size_t more = 0;
    s_barrier (fx, charlie, &more);
    assert_int_equal (more, 0);
    s_good_roundtrip (fx, s_BRAVO, s_ALPHA);
    s_audit_verifies (fx);
}

//  ---------------------------------------------------------------------------
//  9. A NUL inside a header string, re-signed by the member

static void
test_embedded_nul (void **state)
{
    s_fixture_t *fx = *state;
    //  protobuf-c turns a string into a C string: an embedded NUL ends it.
    //  The bytes signed say "org:charlie<NUL>,all" while every C reader
    //  sees "org:charlie". Bytes with a NUL are not a string certbus can
    //  show or judge: the broker must refuse them (certbus_utf8_valid
    //  promises "no NUL").
    zsock_t *alpha = s_client (fx, fx->members [s_ALPHA].identity);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = s_seal (fx, s_ALPHA, "org:charlie", "nul", id, &size);
    //  s_resign packs with strlen: splice the NUL in by hand instead
    Certbus__Envelope *env = certbus__envelope__unpack (NULL, size, envelope);
    assert_non_null (env);
    long at = tu_find (env->header.data, env->header.len, "org:charlie", 11);
    assert_true (at > 0);
    //  The audience field is tag, one-byte length, bytes: rebuild the
    //  header with the value grown by NUL ",all" and the length to match.
    const char suffix [] = {'\0', ',', 'a', 'l', 'l'};
    size_t header_size = env->header.len + sizeof suffix;
    uint8_t *header = malloc (header_size);
    assert_non_null (header);
    size_t value_end = (size_t) at + 11;
    assert_int_equal (env->header.data [at - 1], 11);   //  one-byte length
    memcpy (header, env->header.data, value_end);
    header [at - 1] = (uint8_t) (11 + sizeof suffix);
    memcpy (header + value_end, suffix, sizeof suffix);
    memcpy (header + value_end + sizeof suffix, env->header.data + value_end,
            env->header.len - value_end);
    uint8_t sig [CERTBUS_SIG_SIZE];
    certbus_sign (sig, s_DOMAIN_ENVELOPE, header, header_size,
                  certbus_identity_sign_secret (fx->members [s_ALPHA].identity));
    ProtobufCBinaryData old_header = env->header, old_sig = env->signature;
    env->header.data = header;
    env->header.len = header_size;
    env->signature.data = sig;
    env->signature.len = sizeof sig;
    size_t forged_size;
    uint8_t *forged = certbus_codec_encode (env, &forged_size);
    env->header = old_header;
    env->signature = old_sig;
    certbus__envelope__free_unpacked (env, NULL);
    free (header);
    s_send_publish (alpha, forged, forged_size);
    Certbus__Packet *reply = s_expect (alpha, CERTBUS__PACKET__BODY_PUBACK);
    Certbus__PubAck *ack = reply->puback;
    int status = (int) ack->status;
    uint32_t code = ack->code;
    print_message ("a header string with an embedded NUL: status %d code %s reason \"%s\"\n",
                   status, certbus_err_name ((certbus_err_t) code), ack->reason);
    certbus_codec_free (reply);
    free (forged);
    free (envelope);
    //  A NUL makes the string re-encode shorter: refused as not canonical
    if (status != CERTBUS__STATUS__STATUS_REJECTED || code != CERTBUS_E_DECODE) {
        char bug [300];
        snprintf (bug, sizeof bug,
                  "lib/codec.c s_check: a header string with an embedded NUL was not refused "
                  "with 'decode' (status %d, code %s): the signed bytes say more than the "
                  "string the broker judged and stored",
                  status, certbus_err_name ((certbus_err_t) code));
        s_xfail (bug);
    }
    s_good_roundtrip (fx, s_BRAVO, s_CHARLIE);
}

//  ---------------------------------------------------------------------------
//  10. An old envelope replayed after a broker restart

static void
test_replay_after_restart (void **state)
{
    s_fixture_t *fx = *state;
    zsock_t *alpha = s_client (fx, fx->members [s_ALPHA].identity);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = s_seal (fx, s_ALPHA, "org:bravo", "say it once", id, &size);
    s_send_publish (alpha, envelope, size);
    Certbus__Packet *first = s_expect_puback (alpha, id, CERTBUS__STATUS__STATUS_ACCEPTED);
    uint64_t sequence = first->puback->sequence;
    int64_t accepted_at = first->puback->accepted_at;
    certbus_codec_free (first);

    //  Stop the engine and start a new one on the same folder
    s_broker_stop (fx);
    if (s_broker_start (fx) != 0)
        fail_msg ("the broker did not restart");
    assert_int_equal (s_stat (fx, "messages"), 1);
    assert_int_equal (s_stat (fx, "queued"), 1);

    //  The same bytes again: the original acknowledgement, nothing new
    alpha = s_client (fx, fx->members [s_ALPHA].identity);
    s_send_publish (alpha, envelope, size);
    Certbus__Packet *second = s_expect_puback (alpha, id, CERTBUS__STATUS__STATUS_DUPLICATE);
    assert_int_equal (second->puback->sequence, sequence);
    assert_int_equal (second->puback->accepted_at, accepted_at);
    certbus_codec_free (second);
    assert_int_equal (s_stat (fx, "duplicates"), 1);
    assert_int_equal (s_stat (fx, "messages"), 1);
    assert_int_equal (s_stat (fx, "queued"), 1);

    //  bravo gets it exactly once
    zsock_t *bravo = s_client (fx, fx->members [s_BRAVO].identity);
    s_send_hello (fx, bravo, 0);
    assert_int_equal (s_expect_welcome (fx, bravo), s_WINDOW);
    Certbus__Packet *packet = s_expect (bravo, CERTBUS__PACKET__BODY_DELIVER);
    assert_int_equal (packet->deliver->message_sequence, sequence);
    s_open (fx, s_BRAVO, packet->deliver->envelope.data, packet->deliver->envelope.len, id,
            "say it once");
    uint64_t delivery = packet->deliver->sequence;
    certbus_codec_free (packet);
    size_t more = 0;
    s_barrier (fx, bravo, &more);
    assert_int_equal (more, 0);
    s_send_acks (bravo, &delivery, 1);
    s_barrier (fx, bravo, NULL);
    assert_int_equal (s_stat (fx, "queued"), 0);

    //  Restart once more, now that it was delivered: still a duplicate, and
    //  bravo sees no second copy
    s_broker_stop (fx);
    if (s_broker_start (fx) != 0)
        fail_msg ("the broker did not restart");
    alpha = s_client (fx, fx->members [s_ALPHA].identity);
    s_send_publish (alpha, envelope, size);
    second = s_expect_puback (alpha, id, CERTBUS__STATUS__STATUS_DUPLICATE);
    assert_int_equal (second->puback->sequence, sequence);
    certbus_codec_free (second);
    bravo = s_client (fx, fx->members [s_BRAVO].identity);
    s_send_hello (fx, bravo, 0);
    assert_int_equal (s_expect_welcome (fx, bravo), s_WINDOW);
    s_barrier (fx, bravo, &more);
    assert_int_equal (more, 0);
    assert_int_equal (s_stat (fx, "messages"), 1);
    assert_int_equal (s_stat (fx, "queued"), 0);
    assert_int_equal (s_audit_count (fx, "publish"), 1);
    assert_int_equal (s_audit_count (fx, "deliver"), 1);
    free (envelope);
    s_good_roundtrip (fx, s_ALPHA, s_BRAVO);
    s_audit_verifies (fx);
}

//  ---------------------------------------------------------------------------
//  11. The envelope of a revoked member

static void
test_revoked_origin (void **state)
{
    s_fixture_t *fx = *state;
    zsock_t *alpha = s_client (fx, fx->members [s_ALPHA].identity);
    s_send_hello (fx, alpha, 0);
    assert_int_equal (s_expect_welcome (fx, alpha), s_WINDOW);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *envelope = s_seal (fx, s_ALPHA, "org:charlie", "sealed before revocation", id,
                                &size);
    if (council_revoke (fx->dir, "alpha", "hostile test"))
        fail_msg ("council_revoke: %s", certbus_reason ());
    //  The broker sees the Council's write on its next tick and cuts alpha off
    s_expect_error (alpha, CERTBUS_E_REVOKED, "revoked");
    s_refresh_directory (fx);   //  the other members' view

    //  bravo relays alpha's envelope: not its own
    zsock_t *bravo = s_client (fx, fx->members [s_BRAVO].identity);
    s_send_publish (bravo, envelope, size);
    s_expect_reject (bravo, id, CERTBUS_E_ORIGIN_MISMATCH, "alpha");
    //  alpha itself, on its old connection: refused as revoked
    s_send_publish (alpha, envelope, size);
    s_expect_error (alpha, CERTBUS_E_REVOKED, "not a current member");
    //  ...and on a new one ZAP refuses the handshake: no answer at all
    int64_t received = s_stat (fx, "received");
    zsock_t *again = s_client (fx, fx->members [s_ALPHA].identity);
    s_send_publish (again, envelope, size);
    Certbus__Packet *reply = s_recv (again, s_QUIET_MS);
    if (reply)
        fail_msg ("a revoked member reconnected and got a %s packet",
                  certbus_packet_name (reply));
    assert_int_equal (s_stat (fx, "received"), received);

    assert_int_equal (s_stat (fx, "accepted"), 0);
    assert_int_equal (s_stat (fx, "messages"), 0);
    assert_int_equal (s_audit_count (fx, "reject"), 1);
    assert_int_equal (s_audit_count (fx, "refused"), 1);
    //  charlie receives nothing
    zsock_t *charlie = s_client (fx, fx->members [s_CHARLIE].identity);
    s_send_hello (fx, charlie, 0);
    assert_int_equal (s_expect_welcome (fx, charlie), s_WINDOW);
    size_t deliveries = 0;
    s_barrier (fx, charlie, &deliveries);
    assert_int_equal (deliveries, 0);
    free (envelope);
    s_good_roundtrip (fx, s_BRAVO, s_CHARLIE);
    s_audit_verifies (fx);
}

//  ---------------------------------------------------------------------------
//  12. A forged origin: the header claims bravo, alpha's key signed it

static void
test_forged_origin (void **state)
{
    s_fixture_t *fx = *state;
    zsock_t *alpha = s_client (fx, fx->members [s_ALPHA].identity);
    zsock_t *bravo = s_client (fx, fx->members [s_BRAVO].identity);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size, forged_size;
    uint8_t *envelope = s_seal (fx, s_ALPHA, "org:charlie", "forged", id, &size);
    uint64_t bravo_serial = fx->members [s_BRAVO].cert->serial;
    uint8_t *forged = s_resign (fx, envelope, size, s_ALPHA, "origin", "bravo", bravo_serial,
                                &forged_size);

    //  Sent by alpha: the claimed origin is not the sender
    s_send_publish (alpha, forged, forged_size);
    s_expect_reject (alpha, id, CERTBUS_E_ORIGIN_MISMATCH, "claims origin 'bravo'");
    //  Sent by bravo: the origin matches the sender, the signature does not
    s_send_publish (bravo, forged, forged_size);
    s_expect_reject (bravo, id, CERTBUS_E_SIGNATURE, "bravo");
    free (forged);
    //  alpha's own name with bravo's certificate serial
    forged = s_resign (fx, envelope, size, s_ALPHA, NULL, NULL, bravo_serial, &forged_size);
    s_send_publish (alpha, forged, forged_size);
    s_expect_reject (alpha, id, CERTBUS_E_ORIGIN_MISMATCH, "certificate");
    free (forged);
    //  bravo's name and serial, alpha's signature, but over the original
    //  header: the signature is over other bytes
    Certbus__Envelope *env = certbus__envelope__unpack (NULL, size, envelope);
    assert_non_null (env);
    size_t claimed_size;
    uint8_t *claimed = s_resign (fx, envelope, size, s_BRAVO, "origin", "bravo", bravo_serial,
                                 &claimed_size);
    Certbus__Envelope *claimed_env = certbus__envelope__unpack (NULL, claimed_size, claimed);
    assert_non_null (claimed_env);
    ProtobufCBinaryData keep = claimed_env->signature;
    claimed_env->signature = env->signature;   //  alpha's signature of alpha's header
    forged = certbus_codec_encode (claimed_env, &forged_size);
    claimed_env->signature = keep;
    certbus__envelope__free_unpacked (claimed_env, NULL);
    certbus__envelope__free_unpacked (env, NULL);
    s_send_publish (bravo, forged, forged_size);
    s_expect_reject (bravo, id, CERTBUS_E_SIGNATURE, NULL);
    free (forged);
    assert_int_equal (s_stat (fx, "rejected"), 4);
    assert_int_equal (s_audit_count (fx, "reject"), 4);
    assert_int_equal (s_stat (fx, "messages"), 0);

    //  Control: bravo's honest re-signature of the claimed header is its
    //  own message, and is accepted from bravo
    s_send_publish (bravo, claimed, claimed_size);
    s_expect_accepted (bravo, id);
    free (claimed);
    free (envelope);
    s_good_roundtrip (fx, s_ALPHA, s_CHARLIE);
    s_audit_verifies (fx);
}

//  An optional argument picks tests by name (cmocka's pattern, e.g.
//  "test_replay*"); "-test_x" skips test_x instead.
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
        cmocka_unit_test_setup_teardown (test_garbage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_truncated, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_out_of_order, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_ack_before_delivery, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_oversized_frames, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_multi_frame, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_too_many_recipients, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_invalid_utf8, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_embedded_nul, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_replay_after_restart, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_revoked_origin, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_forged_origin, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
