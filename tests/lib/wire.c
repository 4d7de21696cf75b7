/*  wire.c - shared helpers for the in-process wire tests: the broker
    fixture and its clients, and the scripted broker of the node tests
    SPDX-License-Identifier: MPL-2.0
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wire.h"
#include "testutil.h"
#include "../../broker/council.h"
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_orgs [TW_MEMBER_COUNT] = {"alpha", "bravo", "charlie"};

//  ---------------------------------------------------------------------------
//  Fixture

//  Enrols member index through a request file and council_issue, as an
//  operator would.
static void
s_enrol (tw_fixture_t *fx, int index)
{
    tw_member_t *member = &fx->members [index];
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
    char file [64];
    snprintf (file, sizeof file, "%s.req", member->org);
    char *request_path = tu_path (fx->dir, file);
    assert_int_equal (certbus_file_write (request_path, request, request_size, 0600), 0);
    free (request);
    snprintf (file, sizeof file, "%s.cert", member->org);
    char *cert_path = tu_path (fx->dir, file);
    //  national members: the default policy lets them address anyone
    if (council_issue (fx->dir, "national", NULL, NULL, 30, request_path, cert_path))
        fail_msg ("council_issue %s: %s", member->org, certbus_reason ());
    size_t size;
    uint8_t *bytes = tu_read_file (cert_path, &size);
    assert_int_equal (certbus_cert_decode (bytes, size, fx->council_key, &member->cert),
                      CERTBUS_OK);
    assert_string_equal (member->cert->org_id, member->org);
    free (bytes);
    free (request_path);
    free (cert_path);
}

int
tw_setup (void **state, const tw_options_t *options)
{
    tw_fixture_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    *state = fx;
    fx->agent = options->agent ? options->agent : "certbus-wire-test";
    fx->clients = zlist_new ();
    assert_non_null (fx->clients);
    fx->dir = tu_tmpdir_new ();
    if (council_init (fx->dir, "sqlite:"))
        fail_msg ("council_init: %s", certbus_reason ());
    char *path = tu_path (fx->dir, COUNCIL_PUB);
    assert_int_equal (certbus_pubfile_read (path, fx->council_key, NULL), 0);
    free (path);
    path = tu_path (fx->dir, BROKER_PUB);
    assert_int_equal (certbus_pubfile_read (path, NULL, fx->broker_curve), 0);
    free (path);
    for (int i = 0; i < TW_MEMBER_COUNT; i++)
        s_enrol (fx, i);
    //  The directory as the Council published it, with every member
    tw_refresh_directory (fx);
    assert_int_equal (certbus_directory_count (fx->directory), TW_MEMBER_COUNT);

    broker_config_defaults (&fx->config);
    fx->config.dir = fx->dir;
    fx->config.bind = "tcp://127.0.0.1:*";
    fx->config.window = options->window ? options->window : TW_WINDOW;
    fx->config.heartbeat_ms = 100;
    //  Every other setting the options name overrides the broker's default
#define s_OVERRIDE(field) \
    if (options->field)   \
    fx->config.field = options->field
    s_OVERRIDE (expiry_ms);
    s_OVERRIDE (noise_burst);
    s_OVERRIDE (noise_interval_ms);
    s_OVERRIDE (quota_rate);
    s_OVERRIDE (quota_burst);
    s_OVERRIDE (quota_bytes);
    s_OVERRIDE (inflight_bytes);
#undef s_OVERRIDE
    //  Sessions that only listen must not time out while a test runs,
    //  unless the test is about that
    fx->config.peer_timeout_ms = options->peer_timeout_ms ? options->peer_timeout_ms : 60000;
    if (tw_broker_start (fx) != 0) {
        tw_teardown (state); //  cmocka skips teardown when setup fails
        return -1;
    }
    return 0;
}

int
tw_teardown (void **state)
{
    tw_fixture_t *fx = *state;
    if (!fx)
        return 0;
    tw_destroy_clients (fx);
    zlist_destroy (&fx->clients);
    zactor_destroy (&fx->broker);
    free (fx->endpoint);
    certbus_directory_destroy (&fx->directory);
    for (int i = 0; i < TW_MEMBER_COUNT; i++) {
        certbus_identity_destroy (&fx->members [i].identity);
        certbus_cert_destroy (&fx->members [i].cert);
    }
    tu_tmpdir_remove (&fx->dir);
    free (fx);
    *state = NULL;
    return 0;
}

void
tw_main_init (int argc, char *argv [])
{
    if (argc > 1 && argv [1][0] == '-')
        cmocka_set_skip_filter (argv [1] + 1);
    else if (argc > 1)
        cmocka_set_test_filter (argv [1]);
    certbus_init ();
    zsys_init ();
}

int
tw_broker_start (tw_fixture_t *fx)
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
    assert_non_null (fx->endpoint);
    zstr_free (&ready);
    return 0;
}

void
tw_broker_stop (tw_fixture_t *fx)
{
    tw_destroy_clients (fx);
    zactor_destroy (&fx->broker);
    free (fx->endpoint);
    fx->endpoint = NULL;
}

void
tw_refresh_directory (tw_fixture_t *fx)
{
    char *path = tu_path (fx->dir, "directory.cbd");
    assert_int_equal (council_directory (fx->dir, path), 0);
    size_t size;
    uint8_t *bytes = tu_read_file (path, &size);
    certbus_directory_t *directory = NULL;
    assert_int_equal (certbus_directory_decode (bytes, size, fx->council_key, 0, &directory),
                      CERTBUS_OK);
    certbus_directory_destroy (&fx->directory);
    fx->directory = directory;
    free (bytes);
    free (path);
}

//  ---------------------------------------------------------------------------
//  STATS

char *
tw_stats (tw_fixture_t *fx)
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

int64_t
tw_stat (tw_fixture_t *fx, const char *key)
{
    char *json = tw_stats (fx);
    int64_t value = s_json_int (json, strstr (json, "\"sessions\":"), key);
    zstr_free (&json);
    return value;
}

int64_t
tw_session_stat (tw_fixture_t *fx, const char *org, const char *key)
{
    char *json = tw_stats (fx);
    char pattern [64];
    snprintf (pattern, sizeof pattern, "{\"org\":\"%s\"", org);
    const char *start = strstr (json, pattern);
    int64_t value = -1;
    if (start)
        value = s_json_int (start, strchr (start, '}'), key);
    zstr_free (&json);
    return value;
}

//  Rows of the audit table with this event. A STATS round trip first: the
//  broker answers its pipe at the top of a loop turn, after the previous
//  turn committed its batch, and every answer we hold was sent in an
//  earlier turn, so every row behind it is committed.
int64_t
tw_audit_count (tw_fixture_t *fx, const char *event)
{
    char *json = tw_stats (fx);
    zstr_free (&json);
    char *path = tu_path (fx->dir, BROKER_DB);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        fail_msg ("cannot open %s read-only: %s", path, db ? sqlite3_errmsg (db) : "no memory");
    sqlite3_busy_timeout (db, TW_WAIT_MS);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal (sqlite3_prepare_v2 (db, "SELECT count(*) FROM audit WHERE event = ?1", -1,
                                          &stmt, NULL),
                      SQLITE_OK);
    sqlite3_bind_text (stmt, 1, event, -1, SQLITE_STATIC);
    assert_int_equal (sqlite3_step (stmt), SQLITE_ROW);
    int64_t count = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    sqlite3_close (db);
    free (path);
    return count;
}

//  ---------------------------------------------------------------------------
//  Clients

zsock_t *
tw_client_new (tw_fixture_t *fx, certbus_identity_t *identity)
{
    zsock_t *client = zsock_new (ZMQ_DEALER);
    assert_non_null (client);
    zsock_set_curve_serverkey_bin (client, fx->broker_curve);
    zsock_set_curve_publickey_bin (client, certbus_identity_curve_public (identity));
    zsock_set_curve_secretkey_bin (client, certbus_identity_curve_secret (identity));
    zsock_set_linger (client, 0);
    zsock_set_sndtimeo (client, TW_WAIT_MS);
    zlist_append (fx->clients, client);
    return client;
}

zsock_t *
tw_client (tw_fixture_t *fx, certbus_identity_t *identity)
{
    zsock_t *client = tw_client_new (fx, identity);
    assert_int_equal (zsock_connect (client, "%s", fx->endpoint), 0);
    return client;
}

zsock_t *
tw_session (tw_fixture_t *fx, int index)
{
    zsock_t *client = tw_client (fx, fx->members [index].identity);
    tw_send_hello (fx, client, 0);
    assert_int_equal (tw_expect_welcome (fx, client), fx->config.window);
    return client;
}

void
tw_destroy_clients (tw_fixture_t *fx)
{
    zsock_t *client;
    while ((client = zlist_pop (fx->clients)))
        zsock_destroy (&client);
}

//  ---------------------------------------------------------------------------
//  Sending

void
tw_send_hello (tw_fixture_t *fx, zsock_t *client, uint32_t credit)
{
    assert_int_equal (certbus_packet_send_hello (client, NULL, credit,
                                                 certbus_directory_serial (fx->directory),
                                                 fx->agent),
                      0);
}

uint8_t *
tw_publish_packet (const uint8_t *envelope, size_t size, size_t *packed_size)
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

void
tw_send_publish (zsock_t *client, const uint8_t *envelope, size_t size)
{
    assert_int_equal (certbus_packet_send_publish (client, NULL, envelope, size), 0);
}

void
tw_send_ping (zsock_t *client, int64_t token)
{
    assert_int_equal (certbus_packet_send_ping (client, NULL, token, 0), 0);
}

void
tw_send_acks (zsock_t *client, uint64_t *sequences, size_t count)
{
    assert_int_equal (certbus_packet_send_deliver_ack (client, NULL, sequences, count, NULL, 0), 0);
}

void
tw_send_frames (zsock_t *client, const void *const *frames, const size_t *sizes, size_t count)
{
    zmsg_t *msg = zmsg_new ();
    assert_non_null (msg);
    for (size_t i = 0; i < count; i++)
        zmsg_addmem (msg, frames [i], sizes [i]);
    assert_int_equal (zmsg_send (&msg, client), 0);
}

void
tw_send_raw (zsock_t *client, const void *data, size_t size)
{
    const void *frames [1] = {data};
    size_t sizes [1] = {size};
    tw_send_frames (client, frames, sizes, 1);
}

//  ---------------------------------------------------------------------------
//  Receiving

Certbus__Packet *
tw_recv (zsock_t *client, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    zpoller_t *poller = zpoller_new (client, NULL);
    assert_non_null (poller);
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

Certbus__Packet *
tw_expect_within (zsock_t *client, Certbus__Packet__BodyCase want, int timeout_ms)
{
    Certbus__Packet *packet = tw_recv (client, timeout_ms);
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

Certbus__Packet *
tw_expect (zsock_t *client, Certbus__Packet__BodyCase want)
{
    return tw_expect_within (client, want, TW_WAIT_MS);
}

void
tw_expect_error (zsock_t *client, certbus_err_t code, const char *want_text)
{
    Certbus__Packet *packet = tw_expect (client, CERTBUS__PACKET__BODY_ERROR);
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

Certbus__Packet *
tw_expect_puback_within (zsock_t *client, const uint8_t *id, Certbus__Status status, int timeout_ms)
{
    Certbus__Packet *packet = tw_expect_within (client, CERTBUS__PACKET__BODY_PUBACK, timeout_ms);
    Certbus__PubAck *ack = packet->puback;
    if (ack->status != status)
        fail_msg ("wanted PubAck status %d, got %d code %s reason \"%s\"", (int) status,
                  (int) ack->status, certbus_err_name ((certbus_err_t) ack->code), ack->reason);
    if (id) {
        assert_int_equal (ack->message_id.len, CERTBUS_ID_SIZE);
        if (memcmp (ack->message_id.data, id, CERTBUS_ID_SIZE) != 0) {
            char want [CERTBUS_ID_STR_SIZE], got [CERTBUS_ID_STR_SIZE];
            certbus_id_format (id, want);
            certbus_id_format (ack->message_id.data, got);
            fail_msg ("PubAck for message %s carries message id %s (status %d)", want, got,
                      (int) ack->status);
        }
    }
    else if (ack->message_id.len != 0)
        fail_msg ("PubAck carries a message id of %zu bytes for a publish whose id the broker "
                  "could not read",
                  ack->message_id.len);
    return packet;
}

Certbus__Packet *
tw_expect_puback (zsock_t *client, const uint8_t *id, Certbus__Status status)
{
    return tw_expect_puback_within (client, id, status, TW_WAIT_MS);
}

void
tw_expect_reject_within (zsock_t *client, const uint8_t *id, certbus_err_t code,
                         const char *want_text, int timeout_ms)
{
    Certbus__Packet *packet = tw_expect_puback_within (client, id, CERTBUS__STATUS__STATUS_REJECTED,
                                                       timeout_ms);
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

void
tw_expect_reject (zsock_t *client, const uint8_t *id, certbus_err_t code, const char *want_text)
{
    tw_expect_reject_within (client, id, code, want_text, TW_WAIT_MS);
}

uint64_t
tw_expect_accepted (zsock_t *client, const uint8_t *id)
{
    Certbus__Packet *packet = tw_expect_puback (client, id, CERTBUS__STATUS__STATUS_ACCEPTED);
    uint64_t sequence = packet->puback->sequence;
    assert_true (sequence > 0);
    certbus_codec_free (packet);
    return sequence;
}

uint32_t
tw_expect_welcome (tw_fixture_t *fx, zsock_t *client)
{
    Certbus__Packet *packet = tw_expect (client, CERTBUS__PACKET__BODY_HELLO);
    uint32_t credit = packet->hello->credit;
    assert_int_equal (packet->hello->directory_serial, certbus_directory_serial (fx->directory));
    certbus_codec_free (packet);
    return credit;
}

//  ---------------------------------------------------------------------------
//  Deliveries and barriers

tw_inbox_t *
tw_inbox_new (void)
{
    tw_inbox_t *self = calloc (1, sizeof *self);
    assert_non_null (self);
    return self;
}

void
tw_inbox_destroy (tw_inbox_t **self_p)
{
    if (!*self_p)
        return;
    tw_inbox_purge (*self_p);
    free (*self_p);
    *self_p = NULL;
}

void
tw_inbox_purge (tw_inbox_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        free (self->envelopes [i]);
        self->envelopes [i] = NULL;
    }
    self->count = 0;
}

//  Adds a Deliver packet to inbox (the caller still frees the packet).
static void
s_inbox_add (tw_inbox_t *self, Certbus__Packet *packet)
{
    if (self->count >= TW_INBOX_MAX)
        fail_msg ("more than %d deliveries", TW_INBOX_MAX);
    Certbus__Deliver *deliver = packet->deliver;
    self->sequences [self->count] = deliver->sequence;
    self->message_sequences [self->count] = deliver->message_sequence;
    self->envelopes [self->count] = tu_dup (deliver->envelope.data, deliver->envelope.len);
    self->sizes [self->count] = deliver->envelope.len;
    self->count++;
}

void
tw_await_deliveries (zsock_t *client, tw_inbox_t *inbox, size_t want)
{
    while (inbox->count < want) {
        Certbus__Packet *packet = tw_expect (client, CERTBUS__PACKET__BODY_DELIVER);
        s_inbox_add (inbox, packet);
        certbus_codec_free (packet);
    }
}

//  The barrier, with deliveries added to inbox, or counted into *count, or
//  (both NULL) refused.
static void
s_barrier (tw_fixture_t *fx, zsock_t *client, tw_inbox_t *inbox, size_t *count)
{
    for (int round = 0; round < 2; round++) {
        int64_t token = ++fx->next_ping;
        tw_send_ping (client, token);
        while (true) {
            Certbus__Packet *packet = tw_recv (client, TW_WAIT_MS);
            if (!packet)
                fail_msg ("no Pong within %d ms", TW_WAIT_MS);
            if (packet->body_case == CERTBUS__PACKET__BODY_PONG) {
                assert_int_equal (packet->pong->time, token);
                certbus_codec_free (packet);
                break;
            }
            if (packet->body_case != CERTBUS__PACKET__BODY_DELIVER || (!inbox && !count)) {
                if (packet->body_case == CERTBUS__PACKET__BODY_ERROR)
                    fail_msg ("unexpected error %s before the Pong: %s",
                              certbus_err_name ((certbus_err_t) packet->error->code),
                              packet->error->reason);
                fail_msg ("unexpected %s packet before the Pong", certbus_packet_name (packet));
            }
            if (inbox)
                s_inbox_add (inbox, packet);
            else
                (*count)++;
            certbus_codec_free (packet);
        }
    }
}

void
tw_barrier (tw_fixture_t *fx, zsock_t *client, tw_inbox_t *inbox)
{
    s_barrier (fx, client, inbox, NULL);
}

size_t
tw_barrier_count (tw_fixture_t *fx, zsock_t *client)
{
    size_t count = 0;
    s_barrier (fx, client, NULL, &count);
    return count;
}

//  ---------------------------------------------------------------------------
//  Envelopes

uint8_t *
tw_seal_with (tw_fixture_t *fx, int from, const certbus_seal_opts_t *opts, const char *text,
              uint8_t id [CERTBUS_ID_SIZE], size_t *size_p)
{
    tw_member_t *member = &fx->members [from];
    uint8_t *bytes = NULL;
    certbus_err_t rc = certbus_envelope_seal (member->identity, member->cert, fx->directory, opts,
                                              (const uint8_t *) text, strlen (text), id, &bytes,
                                              size_p);
    if (rc != CERTBUS_OK)
        fail_msg ("cannot seal: %s", certbus_reason ());
    return bytes;
}

uint8_t *
tw_seal (tw_fixture_t *fx, int from, const char *audience, const char *text,
         uint8_t id [CERTBUS_ID_SIZE], size_t *size_p)
{
    certbus_seal_opts_t opts = {
        .kind = "advisory",
        .tlp = "amber",
        .audience = audience,
        .topic = TW_TOPIC,
        .severity = "medium",
        .content_type = "text/plain",
    };
    return tw_seal_with (fx, from, &opts, text, id, size_p);
}

void
tw_open (tw_fixture_t *fx, int to, const uint8_t *bytes, size_t size, const uint8_t *want_id,
         const char *want_text)
{
    tw_member_t *member = &fx->members [to];
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

//  ---------------------------------------------------------------------------
//  A scripted broker

zsock_t *
tw_router_new (certbus_identity_t *broker, char *endpoint, size_t size)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert_non_null (router);
    zsock_set_curve_server (router, 1);
    zsock_set_curve_secretkey_bin (router, certbus_identity_curve_secret (broker));
    zsock_set_linger (router, 0);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    assert_true (port > 0);
    snprintf (endpoint, size, "tcp://127.0.0.1:%d", port);
    return router;
}

Certbus__Packet *
tw_router_recv (zsock_t *router, zframe_t **routing_p, int timeout_ms)
{
    zpoller_t *poller = zpoller_new (router, NULL);
    int64_t deadline = zclock_mono () + timeout_ms;
    Certbus__Packet *packet = NULL;
    while (!packet) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0 || !zpoller_wait (poller, (int) left))
            fail_msg ("no packet from the node within %d ms", timeout_ms);
        zframe_t *routing = zframe_recv (router);
        zframe_t *frame = zframe_recv (router);
        assert_non_null (routing);
        assert_non_null (frame);
        if (certbus_packet_decode (frame, &packet) != CERTBUS_OK)
            fail_msg ("the node sent an undecodable packet: %s", certbus_reason ());
        zframe_destroy (&frame);
        zframe_destroy (routing_p);
        *routing_p = routing;
        if (packet->body_case == CERTBUS__PACKET__BODY_PING) {
            assert_int_equal (certbus_packet_send_pong (router, routing, packet->ping->time), 0);
            certbus_codec_free (packet);
            packet = NULL;
        }
    }
    zpoller_destroy (&poller);
    return packet;
}

void
tw_node_ready (zactor_t *node)
{
    assert_non_null (node);
    char *ready = zstr_recv (node);
    assert_non_null (ready);
    if (strncmp (ready, "READY", 5) != 0)
        fail_msg ("node did not start: %s", ready);
    zstr_free (&ready);
}
