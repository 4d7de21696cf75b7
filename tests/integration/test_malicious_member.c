/*  test_malicious_member.c - an enrolled member that links libcertbus and
    sets every field it signs, against a live broker
    SPDX-License-Identifier: MPL-2.0

    The broker engine runs in-process on the fixture of tests/lib/wire.h
    (three national members: alpha, bravo, charlie). The hostile member
    seals envelopes with libcertbus, then rewrites any header field and
    re-signs the header with its own key (s_forge), exactly as a client of
    its own could. Each test tries one promise of the Council (DESIGN.md,
    "Rules a malicious member must not break") with the example attack and
    a neighbouring variant, and asserts the observable outcome: the reason
    code of the refusal, that nothing was delivered, that a counter the
    broker keeps stayed bounded, that the case kept its participants.

    Nothing sleeps to let things settle (see wire.h).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "certbus.h"
#include "council.h"
#include "testutil.h"
#include "wire.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
s_setup (void **state)
{
    tw_options_t options = {.agent = "test_malicious_member"};
    return tw_setup (state, &options);
}

//  ---------------------------------------------------------------------------
//  The hostile member's tools

//  The hostile member's edit, with a fresh id first (the edit may set one)
typedef struct {
    tu_mutate_fn *mutate;
    void *arg;
    uint8_t *id_out;
} s_forge_t;

static void
s_forge_edit (Certbus__EnvelopeHeader *hdr, Certbus__Envelope *env, void *arg)
{
    s_forge_t *forge = arg;
    assert_int_equal (hdr->id.len, CERTBUS_ID_SIZE);
    certbus_uuid7 (hdr->id.data);
    if (forge->mutate)
        forge->mutate (hdr, env, forge->arg);
    memcpy (forge->id_out, hdr->id.data, CERTBUS_ID_SIZE);
}

//  Rewrites an envelope as its signer chooses: a fresh id, then whatever
//  mutate does to the header and the envelope; the recipient and
//  ciphertext hashes are made to match what travels, and the header is
//  signed again with signer's key. Returns new bytes; *id_out is the id.
static uint8_t *
s_forge (tw_fixture_t *fx, const uint8_t *bytes, size_t size, int signer, tu_mutate_fn *mutate,
         void *arg, uint8_t id_out [CERTBUS_ID_SIZE], size_t *size_p)
{
    s_forge_t forge = {mutate, arg, id_out};
    return tu_envelope_resign (bytes, size,
                               certbus_identity_sign_secret (fx->members [signer].identity),
                               s_forge_edit, &forge, true, size_p);
}

//  A member that rewrites an envelope and sends it on its connection
typedef struct {
    tw_fixture_t *fx;
    zsock_t *client; //  the connection it sends on
    int signer;      //  the member whose key signs the forgery
    uint8_t *base;   //  the envelope it rewrites
    size_t size;
} s_attacker_t;

//  An attacker whose envelope is text that signer sealed to audience (the
//  caller frees base); id gets the envelope's id
static s_attacker_t
s_attacker_sealed (tw_fixture_t *fx, zsock_t *client, int signer, const char *audience,
                   const char *text, uint8_t id [CERTBUS_ID_SIZE])
{
    size_t size;
    uint8_t *base = tw_seal (fx, signer, audience, text, id, &size);
    return (s_attacker_t){fx, client, signer, base, size};
}

//  The attacker sends its envelope forged by mutate (arg, see s_forge);
//  *id gets the forged id. The broker must refuse it with code and a
//  reason containing text (NULL: any), naming want_id (NULL: no id).
static void
s_refused (const s_attacker_t *attacker, tu_mutate_fn *mutate, void *arg,
           uint8_t id [CERTBUS_ID_SIZE], const uint8_t *want_id, certbus_err_t code,
           const char *text)
{
    size_t forged_size;
    uint8_t *forged = s_forge (attacker->fx, attacker->base, attacker->size, attacker->signer,
                               mutate, arg, id, &forged_size);
    tw_send_publish (attacker->client, forged, forged_size);
    tw_expect_reject (attacker->client, want_id, code, text);
    free (forged);
}

//  Seals payload bytes from member `from` with opts (no NUL-terminated text)
static uint8_t *
s_seal_bytes (tw_fixture_t *fx, int from, const certbus_seal_opts_t *opts, const uint8_t *payload,
              size_t payload_size, uint8_t id [CERTBUS_ID_SIZE], size_t *size_p)
{
    tw_member_t *member = &fx->members [from];
    uint8_t *bytes = NULL;
    if (certbus_envelope_seal (member->identity, member->cert, fx->directory, opts, payload,
                               payload_size, id, &bytes, size_p))
        fail_msg ("cannot seal: %s", certbus_reason ());
    return bytes;
}

//  Member `from` seals payload with opts and sends it on client; the
//  broker must refuse it, naming its id, with code and a reason that
//  contains text
static void
s_sealed_refused (tw_fixture_t *fx, zsock_t *client, int from, const certbus_seal_opts_t *opts,
                  const uint8_t *payload, size_t payload_size, certbus_err_t code, const char *text)
{
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *bytes = s_seal_bytes (fx, from, opts, payload, payload_size, id, &size);
    tw_send_publish (client, bytes, size);
    tw_expect_reject (client, id, code, text);
    free (bytes);
}

//  Seals a message from member `from`; *bytes_p keeps the envelope
static void
s_publish (tw_fixture_t *fx, zsock_t *client, int from, const certbus_seal_opts_t *opts,
           const char *text, uint8_t id [CERTBUS_ID_SIZE], uint8_t **bytes_p, size_t *size_p)
{
    size_t size;
    uint8_t *bytes = tw_seal_with (fx, from, opts, text, id, &size);
    tw_send_publish (client, bytes, size);
    tw_expect_accepted (client, id);
    if (bytes_p) {
        *bytes_p = bytes;
        *size_p = size;
    }
    else
        free (bytes);
}

//  ---------------------------------------------------------------------------
//  1. Incident cases belong to their participants

typedef struct {
    const char *kind, *tlp, *audience, *status;
    int64_t created;        //  0: kept
    const uint8_t *updates; //  case id for an updates reference, or NULL
    const uint8_t *id;      //  the id to use, or NULL for a fresh one
} s_edit_t;

static void
s_edit (Certbus__EnvelopeHeader *hdr, Certbus__Envelope *env, void *arg)
{
    (void) env;
    s_edit_t *edit = arg;
    if (edit->kind)
        tu_set_str (&hdr->kind, edit->kind);
    if (edit->tlp)
        tu_set_str (&hdr->tlp, edit->tlp);
    if (edit->audience)
        tu_set_str (&hdr->audience, edit->audience);
    if (edit->status)
        tu_set_str (&hdr->case_status, edit->status);
    if (edit->created)
        hdr->created = edit->created;
    if (edit->updates) {
        const char *relations [] = {"updates"};
        const uint8_t *ids [] = {edit->updates};
        tu_set_refs (hdr, 1, relations, ids);
    }
    if (edit->id)
        memcpy (hdr->id.data, edit->id, CERTBUS_ID_SIZE);
}

//  The participants the broker named in a PubAck of id
static char *
s_accepted_participants (zsock_t *client, const uint8_t *id)
{
    Certbus__Packet *packet = tw_expect_puback (client, id, CERTBUS__STATUS__STATUS_ACCEPTED);
    certbus_sb_t sb = {0};
    certbus_sb_printf (&sb, "%s", "");
    for (size_t i = 0; i < packet->puback->n_participants; i++)
        certbus_sb_printf (&sb, "%s%s", i ? "," : "", packet->puback->participants [i]);
    certbus_codec_free (packet);
    return sb.data;
}

static void
test_case_takeover (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_session (fx, TW_ALPHA);
    zsock_t *bravo = tw_session (fx, TW_BRAVO);
    zsock_t *charlie = tw_session (fx, TW_CHARLIE);
    //  alpha reports an amber incident to bravo: the case
    certbus_seal_opts_t report = {.kind = "incident",
                                  .tlp = "amber",
                                  .audience = "org:bravo",
                                  .severity = "high",
                                  .content_type = "text/plain"};
    uint8_t case_id [CERTBUS_ID_SIZE], id [CERTBUS_ID_SIZE];
    size_t size, forged_size;
    uint8_t *bytes = tw_seal_with (fx, TW_ALPHA, &report, "the report", case_id, &size);
    tw_send_publish (alpha, bytes, size);
    char *participants = s_accepted_participants (alpha, case_id);
    assert_string_equal (participants, "alpha,bravo");
    free (participants);
    free (bytes);
    tw_inbox_t *inbox = tw_inbox_new ();
    tw_await_deliveries (bravo, inbox, 1);

    //  charlie learned the case id. Attack: an advisory that updates it,
    //  to the case's participants
    certbus_seal_opts_t advisory = {.kind = "advisory",
                                    .tlp = "amber",
                                    .audience = "org:alpha,org:bravo",
                                    .content_type = "text/plain"};
    uint8_t *base = tw_seal_with (fx, TW_CHARLIE, &advisory, "I take this case", id, &size);
    s_attacker_t attacker = {fx, charlie, TW_CHARLIE, base, size};
    s_edit_t edit = {.updates = case_id, .status = "closed"};
    //  Refused at decode: updates only on incidents (the id is not read)
    s_refused (&attacker, s_edit, &edit, id, NULL, CERTBUS_E_FIELD, "incident");
    //  Variant: an incident update, the kind that may carry updates, from
    //  a non-participant, dated 2100 to sort last
    edit = (s_edit_t){.kind = "incident", .updates = case_id, .status = "closed"};
    s_refused (&attacker, s_edit, &edit, id, id, CERTBUS_E_POLICY, "not a participant of case");
    //  Variant: a new "report" that reuses the case id, to replace the case
    edit = (s_edit_t){.kind = "incident", .id = case_id};
    s_refused (&attacker, s_edit, &edit, id, case_id, CERTBUS_E_FIELD, "new case");
    free (base);

    //  bravo is a participant. Attack: an update dated in the year 2100
    certbus_seal_opts_t update = {.kind = "incident",
                                  .tlp = "amber",
                                  .audience = "org:alpha",
                                  .content_type = "text/plain",
                                  .case_status = "acknowledged"};
    base = tw_seal_with (fx, TW_BRAVO, &update, "on it", id, &size);
    attacker = (s_attacker_t){fx, bravo, TW_BRAVO, base, size};
    edit = (s_edit_t){.updates = case_id, .created = 4102444800000LL};
    s_refused (&attacker, s_edit, &edit, id, id, CERTBUS_E_CLOCK, "ahead of the broker's clock");
    //  ...and an update at TLP clear, so that the plaintext is stored
    edit = (s_edit_t){.updates = case_id, .tlp = "clear"};
    s_refused (&attacker, s_edit, &edit, id, id, CERTBUS_E_TLP, "is TLP amber");
    //  An update dated at the epoch is allowed (outboxes wait), and its
    //  place in the thread is the broker's sequence, after the report's.
    //  Its audience names the whole national tier, its recipient only
    //  alpha: participants stay the recipients the broker delivered to.
    edit = (s_edit_t){.updates = case_id, .created = 1, .audience = "tier:national"};
    uint8_t *forged = s_forge (fx, base, size, TW_BRAVO, s_edit, &edit, id, &forged_size);
    tw_send_publish (bravo, forged, forged_size);
    participants = s_accepted_participants (bravo, id);
    assert_string_equal (participants, "alpha,bravo");
    free (participants);
    free (forged);
    free (base);
    //  So charlie, named by that audience, is still no participant
    base = tw_seal_with (fx, TW_CHARLIE, &update, "now I am in", id, &size);
    attacker = (s_attacker_t){fx, charlie, TW_CHARLIE, base, size};
    edit = (s_edit_t){.updates = case_id};
    s_refused (&attacker, s_edit, &edit, id, id, CERTBUS_E_POLICY, "not a participant");
    free (base);
    //  alpha got bravo's update, carrying the broker's participant list
    tw_inbox_purge (inbox);
    tw_await_deliveries (alpha, inbox, 1);
    tw_barrier (fx, charlie, NULL); //  charlie got nothing of the case
    tw_inbox_destroy (&inbox);
}

//  ---------------------------------------------------------------------------
//  2. TLP red and amber+strict never travel further

static void
test_forward_rules (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_session (fx, TW_ALPHA);
    zsock_t *bravo = tw_session (fx, TW_BRAVO);
    zsock_t *charlie = tw_session (fx, TW_CHARLIE);
    certbus_seal_opts_t red
        = {.kind = "advisory", .tlp = "red", .audience = "org:bravo", .content_type = "text/plain"};
    uint8_t red_id [CERTBUS_ID_SIZE];
    uint8_t *red_bytes;
    size_t red_size, payload_size;
    s_publish (fx, alpha, TW_ALPHA, &red, "for bravo's eyes only", red_id, &red_bytes, &red_size);
    tw_inbox_t *inbox = tw_inbox_new ();
    tw_await_deliveries (bravo, inbox, 1);
    //  bravo forwards the red message to charlie, origin signature intact
    uint8_t *payload = tu_forward_payload (inbox->envelopes [0], inbox->sizes [0],
                                           fx->members [TW_BRAVO].identity, "bravo", &payload_size);
    certbus_ref_t ref = {.relation = "forwards"};
    memcpy (ref.id, red_id, CERTBUS_ID_SIZE);
    certbus_seal_opts_t forward = {.kind = "advisory",
                                   .tlp = "red",
                                   .audience = "org:charlie",
                                   .content_type = CERTBUS_FORWARD_TYPE,
                                   .refs = &ref,
                                   .ref_count = 1};
    s_sealed_refused (fx, bravo, TW_BRAVO, &forward, payload, payload_size, CERTBUS_E_TLP,
                      "may not be forwarded");
    //  Variant: the outer envelope claims amber; the broker knows better
    forward.tlp = "amber";
    s_sealed_refused (fx, bravo, TW_BRAVO, &forward, payload, payload_size, CERTBUS_E_TLP,
                      "is TLP red");
    //  Variant: the forward type with no forwards reference at all
    forward.refs = NULL;
    forward.ref_count = 0;
    s_sealed_refused (fx, bravo, TW_BRAVO, &forward, payload, payload_size, CERTBUS_E_FIELD,
                      "exactly one forwards reference");
    free (payload);
    //  alpha forwards its own message to launder it past policy (it sealed
    //  a copy for itself)
    certbus_seal_opts_t amber = {.kind = "advisory",
                                 .tlp = "amber",
                                 .audience = "org:charlie",
                                 .content_type = "text/plain",
                                 .self_copy = true};
    uint8_t amber_id [CERTBUS_ID_SIZE];
    uint8_t *amber_bytes;
    size_t amber_size;
    s_publish (fx, alpha, TW_ALPHA, &amber, "amber for charlie", amber_id, &amber_bytes,
               &amber_size);
    payload = tu_forward_payload (amber_bytes, amber_size, fx->members [TW_ALPHA].identity, "alpha",
                                  &payload_size);
    memcpy (ref.id, amber_id, CERTBUS_ID_SIZE);
    certbus_seal_opts_t own = {.kind = "advisory",
                               .tlp = "amber",
                               .audience = "org:bravo",
                               .content_type = CERTBUS_FORWARD_TYPE,
                               .refs = &ref,
                               .ref_count = 1};
    s_sealed_refused (fx, alpha, TW_ALPHA, &own, payload, payload_size, CERTBUS_E_POLICY,
                      "its own message");
    //  Variant: bravo forwards amber it never received (it was charlie's)
    own.audience = "org:charlie";
    s_sealed_refused (fx, bravo, TW_BRAVO, &own, payload, payload_size, CERTBUS_E_POLICY,
                      "never delivered to 'bravo'");
    free (payload);
    //  None of it reached anyone: charlie holds only alpha's amber message
    tw_inbox_purge (inbox);
    tw_await_deliveries (charlie, inbox, 1);
    tw_barrier (fx, charlie, inbox);
    assert_int_equal (inbox->count, 1);
    tw_barrier (fx, bravo, NULL);
    tw_inbox_destroy (&inbox);
    free (red_bytes);
    free (amber_bytes);
}

//  ---------------------------------------------------------------------------
//  3. No member can exhaust the broker or stall others

#define s_BIG (1024 * 1024)
#define s_BIG_COUNT 10
#define s_HELLOS 40

//  Fills charlie's queue with s_BIG_COUNT messages of 1 MiB from alpha
static void
s_big_backlog (tw_fixture_t *fx, zsock_t *alpha)
{
    char *text = malloc (s_BIG + 1);
    assert_non_null (text);
    memset (text, 'x', s_BIG);
    text [s_BIG] = 0;
    for (int i = 0; i < s_BIG_COUNT; i++) {
        uint8_t id [CERTBUS_ID_SIZE];
        s_publish (fx, alpha, TW_ALPHA,
                   &(certbus_seal_opts_t){.kind = "advisory",
                                          .tlp = "amber",
                                          .audience = "org:charlie",
                                          .content_type = "text/plain"},
                   text, id, NULL, NULL);
    }
    free (text);
}

static void
test_hello_flood (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_session (fx, TW_ALPHA);
    //  charlie says hello and never reads
    zsock_t *charlie = tw_session (fx, TW_CHARLIE);
    s_big_backlog (fx, alpha);
    int64_t cap = tw_stat (fx, "inflight_bytes_cap");
    //  40 more Hellos on the same connection
    for (int i = 0; i < s_HELLOS; i++)
        tw_send_hello (fx, charlie, 0);
    //  A barrier on alpha's connection: every Hello before it was read
    tw_barrier (fx, alpha, NULL);
    int64_t deliveries = tw_stat (fx, "deliveries");
    //  Nothing was sent twice (nothing was acknowledged, so every delivery
    //  is still in flight), the bytes in flight stayed within the cap, most
    //  Hellos cost nothing
    assert_int_equal (deliveries, tw_session_stat (fx, "charlie", "inflight"));
    assert_true (deliveries < s_BIG_COUNT);
    assert_true (tw_session_stat (fx, "charlie", "inflight_bytes") <= cap);
    assert_true (tw_stat (fx, "inflight_bytes_max") <= cap);
    assert_true (tw_stat (fx, "hellos_ignored") >= s_HELLOS - BROKER_HELLO_BURST);
    print_message ("%d Hellos: %lld deliveries sent once, %lld bytes in flight at most "
                   "(cap %lld), %lld Hellos ignored\n",
                   s_HELLOS, (long long) deliveries, (long long) tw_stat (fx, "inflight_bytes_max"),
                   (long long) cap, (long long) tw_stat (fx, "hellos_ignored"));
    assert_true (tw_stat (fx, "inflight_bytes_max") <= cap);
    //  bravo's traffic still goes through
    zsock_t *bravo = tw_session (fx, TW_BRAVO);
    uint8_t id [CERTBUS_ID_SIZE];
    s_publish (fx, bravo, TW_BRAVO,
               &(certbus_seal_opts_t){.kind = "advisory",
                                      .tlp = "green",
                                      .audience = "org:alpha",
                                      .content_type = "text/plain"},
               "still served", id, NULL, NULL);
    tw_inbox_t *inbox = tw_inbox_new ();
    tw_await_deliveries (alpha, inbox, 1);
    tw_inbox_destroy (&inbox);
}

static void
test_connection_takeover (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_client (fx, fx->members [TW_ALPHA].identity);
    s_big_backlog (fx, alpha);
    int64_t cap = tw_stat (fx, "inflight_bytes_cap");
    zsock_t *charlie = tw_session (fx, TW_CHARLIE);
    tw_barrier_count (fx, charlie); //  what came is left unacknowledged
    assert_true (tw_session_stat (fx, "charlie", "inflight_bytes") > 0);
    //  Variant: new connections, each taking the session over while the
    //  earlier ones stay open and unread. libzmq keeps what it queued on
    //  each of them, so the cap holds over all of the member's connections.
    for (int i = 0; i < 3; i++) {
        zsock_t *again = tw_client (fx, fx->members [TW_CHARLIE].identity);
        tw_send_hello (fx, again, 0);
        tw_expect_welcome (fx, again);
        tw_barrier_count (fx, again); //  read, never acknowledged
        assert_true (tw_session_stat (fx, "charlie", "member_bytes") <= cap);
    }
    assert_true (tw_stat (fx, "inflight_bytes_max") <= cap);
    //  ...and a connection that closes gives its bytes back
    int64_t held = tw_session_stat (fx, "charlie", "member_bytes");
    assert_true (held > tw_session_stat (fx, "charlie", "inflight_bytes"));
    tw_destroy_clients (fx);
    int64_t deadline = zclock_mono () + TW_WAIT_MS;
    while (tw_session_stat (fx, "charlie", "member_bytes")
               > tw_session_stat (fx, "charlie", "inflight_bytes")
           && zclock_mono () < deadline)
        zclock_sleep (20);
    assert_int_equal (tw_session_stat (fx, "charlie", "member_bytes"),
                      tw_session_stat (fx, "charlie", "inflight_bytes"));
}

//  A directory is large and a request small: a flood of requests gets a
//  few answers, never one each
static void
test_directory_request_flood (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *bravo = tw_client (fx, fx->members [TW_BRAVO].identity);
    for (int i = 0; i < 50; i++)
        assert_int_equal (certbus_packet_send_directory_request (bravo, NULL), 0);
    //  A Ping without a session is answered with an Error, in order: a
    //  barrier behind every request
    tw_send_ping (bravo, 1);
    int replies = 0;
    for (bool done = false; !done;) {
        Certbus__Packet *in = tw_recv (bravo, TW_WAIT_MS);
        assert_non_null (in);
        if (in->body_case == CERTBUS__PACKET__BODY_DIRECTORY_REPLY)
            replies++;
        else {
            assert_int_equal (in->body_case, CERTBUS__PACKET__BODY_ERROR);
            done = true;
        }
        certbus_codec_free (in);
    }
    assert_true (replies >= 1 && replies < 50);
    assert_int_equal (tw_stat (fx, "directory_requests_ignored"), 50 - replies);
}

//  Each connection's pipe holds what the broker queued for it: a member
//  may hold only so many open at once; closed ones make room again
static void
test_connection_flood (void **state)
{
    tw_fixture_t *fx = *state;
    enum { s_OPEN = BROKER_MEMBER_CONNECTIONS + 4 };
    zsock_t *open [s_OPEN];
    for (int i = 0; i < s_OPEN; i++) {
        open [i] = tw_client (fx, fx->members [TW_BRAVO].identity);
        tw_send_ping (open [i], i);
    }
    //  Handshakes finish in any order: the first connections to speak are
    //  served up to the limit (a Ping before Hello is answered with an
    //  Error), the ones beyond get nothing
    int64_t deadline = zclock_mono () + TW_WAIT_MS;
    while ((tw_stat (fx, "received") < s_OPEN || tw_stat (fx, "connections_refused") < 4)
           && zclock_mono () < deadline)
        zclock_sleep (20);
    assert_int_equal (tw_stat (fx, "received"), s_OPEN);
    assert_int_equal (tw_stat (fx, "connections_refused"), 4);
    //  Every answer was sent before the counters moved; each connection
    //  is read until a short quiet poll sees nothing more (the broker's
    //  probes of the connections it serves are Pings, which tw_recv skips)
    int answered = 0;
    for (int i = 0; i < s_OPEN; i++) {
        Certbus__Packet *in;
        while ((in = tw_recv (open [i], 200))) {
            assert_int_equal (in->body_case, CERTBUS__PACKET__BODY_ERROR);
            certbus_codec_free (in);
            answered++;
        }
    }
    assert_int_equal (answered, BROKER_MEMBER_CONNECTIONS);
    //  Variant: the member closes its connections; a new one is served
    tw_destroy_clients (fx);
    zsock_t *again = tw_client (fx, fx->members [TW_BRAVO].identity);
    deadline = zclock_mono () + TW_WAIT_MS;
    Certbus__Packet *answer = NULL;
    while (!answer && zclock_mono () < deadline) {
        tw_send_ping (again, 99);
        answer = tw_recv (again, 200);
    }
    assert_non_null (answer);
    assert_int_equal (answer->body_case, CERTBUS__PACKET__BODY_ERROR);
    certbus_codec_free (answer);
}

static int
s_setup_quota (void **state)
{
    tw_options_t options = {.agent = "test_malicious_member",
                            .quota_rate = 1,
                            .quota_burst = 5,
                            .quota_bytes = 64 * 1024};
    return tw_setup (state, &options);
}

static void
test_quotas (void **state)
{
    tw_fixture_t *fx = *state;
    //  Publishers only: no Hello, so that no delivery comes between answers
    zsock_t *alpha = tw_client (fx, fx->members [TW_ALPHA].identity);
    zsock_t *bravo = tw_client (fx, fx->members [TW_BRAVO].identity);
    certbus_seal_opts_t opts = {.kind = "advisory",
                                .tlp = "green",
                                .audience = "org:bravo",
                                .content_type = "text/plain"};
    //  A burst of 5 is allowed; the next ones are refused, naming the limit
    uint8_t ids [8][CERTBUS_ID_SIZE];
    for (int i = 0; i < 8; i++) {
        size_t size;
        uint8_t *bytes = tw_seal_with (fx, TW_ALPHA, &opts, "burst", ids [i], &size);
        tw_send_publish (alpha, bytes, size);
        free (bytes);
    }
    int accepted = 0, refused = 0;
    for (int i = 0; i < 8; i++) {
        Certbus__Packet *packet = tw_expect (alpha, CERTBUS__PACKET__BODY_PUBACK);
        if (packet->puback->status == CERTBUS__STATUS__STATUS_ACCEPTED)
            accepted++;
        else {
            assert_int_equal (packet->puback->code, CERTBUS_E_QUOTA);
            assert_non_null (strstr (packet->puback->reason, "1 messages per second"));
            refused++;
        }
        certbus_codec_free (packet);
    }
    //  The bucket may have refilled by one while the test ran
    assert_true (accepted >= 5 && accepted <= 6);
    assert_int_equal (accepted + refused, 8);
    assert_int_equal (tw_stat (fx, "quota_refusals"), refused);
    //  Variant: bytes. bravo stores 64 KiB at most; a 60 KiB message fits,
    //  a second does not
    char *text = malloc (60 * 1024 + 1);
    assert_non_null (text);
    memset (text, 'y', 60 * 1024);
    text [60 * 1024] = 0;
    opts.audience = "org:alpha";
    uint8_t id [CERTBUS_ID_SIZE], receipt_id [CERTBUS_ID_SIZE];
    s_publish (fx, bravo, TW_BRAVO, &opts, text, id, NULL, NULL);
    //  alpha's rate is spent, but a receipt answers what others sent: a
    //  flood sent to a member cannot spend its quota for it
    certbus_ref_t ref = {.relation = "receipt-for"};
    memcpy (ref.id, id, CERTBUS_ID_SIZE);
    s_publish (fx, alpha, TW_ALPHA,
               &(certbus_seal_opts_t){.kind = "receipt",
                                      .tlp = "clear",
                                      .audience = "org:bravo",
                                      .severity = "info",
                                      .content_type = "application/json",
                                      .refs = &ref,
                                      .ref_count = 1},
               "{}", receipt_id, NULL, NULL);
    size_t size;
    uint8_t *bytes = tw_seal_with (fx, TW_BRAVO, &opts, text, id, &size);
    tw_send_publish (bravo, bytes, size);
    tw_expect_reject (bravo, id, CERTBUS_E_QUOTA, "at most 65536 bytes stored per member");
    free (bytes);
    free (text);
}

static void
test_receipts_and_noise (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_session (fx, TW_ALPHA);
    zsock_t *bravo = tw_client (fx, fx->members [TW_BRAVO].identity);
    uint8_t id [CERTBUS_ID_SIZE], receipt_id [CERTBUS_ID_SIZE];
    s_publish (fx, alpha, TW_ALPHA,
               &(certbus_seal_opts_t){.kind = "advisory",
                                      .tlp = "amber",
                                      .audience = "org:bravo",
                                      .content_type = "text/plain"},
               "please acknowledge", id, NULL, NULL);
    certbus_ref_t ref = {.relation = "receipt-for"};
    memcpy (ref.id, id, CERTBUS_ID_SIZE);
    certbus_seal_opts_t receipt = {.kind = "receipt",
                                   .tlp = "clear",
                                   .audience = "org:alpha",
                                   .severity = "info",
                                   .content_type = "application/json",
                                   .refs = &ref,
                                   .ref_count = 1};
    s_publish (fx, bravo, TW_BRAVO, &receipt, "{\"stored\":1}", receipt_id, NULL, NULL);
    //  A second receipt for the same message, with another id
    size_t size;
    uint8_t *bytes = tw_seal_with (fx, TW_BRAVO, &receipt, "{\"stored\":2}", receipt_id, &size);
    tw_send_publish (bravo, bytes, size);
    tw_expect_reject (bravo, receipt_id, CERTBUS_E_POLICY, "one per recipient");
    free (bytes);
    //  Variant: a large "receipt" (to make alpha store megabytes)
    char *text = malloc (8192 + 1);
    memset (text, 'r', 8192);
    text [8192] = 0;
    bytes = tw_seal_with (fx, TW_BRAVO, &receipt, text, receipt_id, &size);
    tw_send_publish (bravo, bytes, size);
    tw_expect_reject (bravo, receipt_id, CERTBUS_E_TOO_LARGE, "at most");
    free (bytes);
    free (text);

    //  Garbage frames: audited one by one up to the burst, then counted
    int64_t before = tw_audit_count (fx, "bad-packet");
    for (int i = 0; i < 200; i++) {
        tw_send_raw (bravo, "\xff\xff\xff", 3);
        tw_expect_error (bravo, CERTBUS_E_DECODE, NULL);
    }
    int64_t rows = tw_audit_count (fx, "bad-packet") - before;
    assert_true (rows <= BROKER_DEFAULT_NOISE_BURST);
    assert_true (tw_stat (fx, "noise_aggregated") >= 200 - BROKER_DEFAULT_NOISE_BURST);
    //  The one receipt that was accepted reached alpha
    tw_inbox_t *inbox = tw_inbox_new ();
    tw_await_deliveries (alpha, inbox, 1);
    tw_barrier (fx, alpha, inbox);
    assert_int_equal (inbox->count, 1);
    tw_inbox_destroy (&inbox);
}

static int
s_setup_noise (void **state)
{
    tw_options_t options
        = {.agent = "test_malicious_member", .noise_burst = 2, .noise_interval_ms = 200};
    return tw_setup (state, &options);
}

//  After the interval, the frames that were only counted get one record
static void
test_noise_aggregated (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *bravo = tw_session (fx, TW_BRAVO);
    //  Sent at once, so that the broker reads them within one interval
    for (int i = 0; i < 50; i++)
        tw_send_raw (bravo, "\x08", 1);
    for (int i = 0; i < 50; i++)
        tw_expect_error (bravo, CERTBUS_E_DECODE, NULL);
    assert_int_equal (tw_audit_count (fx, "bad-packet"), 2);
    int64_t deadline = zclock_mono () + TW_WAIT_MS;
    while (tw_audit_count (fx, "suppressed") == 0 && zclock_mono () < deadline)
        zclock_sleep (20);
    assert_int_equal (tw_audit_count (fx, "suppressed"), 1);
    assert_int_equal (tw_audit_count (fx, "bad-packet"), 2);
    //  Variant: a revoked member's frames, on the connection it opened
    //  before the revocation, cost one record per interval
    zsock_t *charlie = tw_session (fx, TW_CHARLIE);
    assert_int_equal (council_revoke (fx->dir, "charlie", "test"), 0);
    tw_expect_error (charlie, CERTBUS_E_REVOKED, "revoked");
    deadline = zclock_mono () + TW_WAIT_MS;
    //  The broker sees the revocation on its next tick
    while (tw_stat (fx, "directory") == (int64_t) certbus_directory_serial (fx->directory)
           && zclock_mono () < deadline)
        zclock_sleep (20);
    for (int i = 0; i < 30; i++)
        tw_send_hello (fx, charlie, 0);
    deadline = zclock_mono () + TW_WAIT_MS;
    while (tw_stat (fx, "refused_frames") < 30 && zclock_mono () < deadline)
        zclock_sleep (20);
    assert_int_equal (tw_stat (fx, "refused_frames"), 30);
    assert_true (tw_audit_count (fx, "refused") <= 2);
}

//  Recipients the Council never knew are refused, not logged one by one
static void
s_ghost (Certbus__EnvelopeHeader *hdr, Certbus__Envelope *env, void *arg)
{
    (void) hdr;
    (void) arg;
    assert_int_equal (env->n_recipients, 1);
    tu_set_str (&env->recipients [0]->org_id, "ghost");
}

static void
test_unknown_recipient (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_session (fx, TW_ALPHA);
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size, forged_size;
    uint8_t *bytes = tw_seal (fx, TW_ALPHA, "org:bravo", "to a ghost", id, &size);
    s_attacker_t attacker = {fx, alpha, TW_ALPHA, bytes, size};
    s_refused (&attacker, s_ghost, NULL, id, id, CERTBUS_E_RECIPIENTS,
               "not a member of this Council");
    free (bytes);
    //  Kinds a member makes up count as `other` in the metrics
    s_edit_t edit = {.kind = "kind-of-my-own"};
    bytes = tw_seal (fx, TW_ALPHA, "org:bravo", "made-up kind", id, &size);
    uint8_t *forged = s_forge (fx, bytes, size, TW_ALPHA, s_edit, &edit, id, &forged_size);
    tw_send_publish (alpha, forged, forged_size);
    tw_expect_accepted (alpha, id);
    free (forged);
    free (bytes);
    zstr_send (fx->broker, "METRICS");
    char *metrics = zstr_recv (fx->broker);
    assert_non_null (strstr (metrics, "certbus_messages_received_total{kind=\"other\"} 1"));
    assert_null (strstr (metrics, "kind-of-my-own"));
    zstr_free (&metrics);
}

//  ---------------------------------------------------------------------------
//  4. A revocation reaches every node at once

static void
test_directory_push (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_session (fx, TW_ALPHA);
    uint64_t before = certbus_directory_serial (fx->directory);
    assert_int_equal (council_revoke (fx->dir, "bravo", "key lost"), 0);
    //  Pushed without being asked for
    Certbus__Packet *packet = tw_expect (alpha, CERTBUS__PACKET__BODY_DIRECTORY_REPLY);
    certbus_directory_t *dir = NULL;
    assert_int_equal (certbus_directory_decode (packet->directory_reply->directory.data,
                                                packet->directory_reply->directory.len,
                                                fx->council_key, 0, &dir),
                      CERTBUS_OK);
    assert_true (certbus_directory_serial (dir) > before);
    assert_null (certbus_directory_find (dir, "bravo"));
    certbus_codec_free (packet);
    //  Variant: a node that missed the push learns of it from the Ping
    bool seen = false;
    int64_t deadline = zclock_mono () + TW_WAIT_MS;
    while (!seen && zclock_mono () < deadline) {
        zframe_t *frame = NULL;
        zpoller_t *poller = zpoller_new (alpha, NULL);
        if (zpoller_wait (poller, 200))
            frame = zframe_recv (alpha);
        zpoller_destroy (&poller);
        Certbus__Packet *p = NULL;
        if (frame && certbus_packet_decode (frame, &p) == CERTBUS_OK
            && p->body_case == CERTBUS__PACKET__BODY_PING)
            seen = p->ping->directory_serial == certbus_directory_serial (dir);
        certbus_codec_free (p);
        zframe_destroy (&frame);
    }
    assert_true (seen);
    certbus_directory_destroy (&dir);
}

//  ---------------------------------------------------------------------------
//  6. Metadata only to those who were told

static void
s_send_proof_request (zsock_t *client, const uint8_t *id)
{
    assert_int_equal (certbus_packet_send_proof_request (client, NULL, id, CERTBUS_ID_SIZE, 0), 0);
}

static uint32_t
s_proof_code (zsock_t *client, const uint8_t *id)
{
    s_send_proof_request (client, id);
    Certbus__Packet *packet = tw_expect (client, CERTBUS__PACKET__BODY_PROOF_REPLY);
    uint32_t code = packet->proof_reply->code;
    if (code == 0)
        assert_true (packet->proof_reply->leaf.len > 0);
    else
        assert_int_equal (packet->proof_reply->leaf.len, 0);
    certbus_codec_free (packet);
    return code;
}

static void
s_with_id (Certbus__EnvelopeHeader *hdr, Certbus__Envelope *env, void *arg)
{
    (void) env;
    memcpy (hdr->id.data, arg, CERTBUS_ID_SIZE);
}

static void
test_metadata (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_session (fx, TW_ALPHA);
    zsock_t *bravo = tw_session (fx, TW_BRAVO);
    zsock_t *charlie = tw_session (fx, TW_CHARLIE);
    uint8_t id [CERTBUS_ID_SIZE], other [CERTBUS_ID_SIZE];
    uint8_t *bytes;
    size_t size, forged_size;
    s_publish (fx, alpha, TW_ALPHA,
               &(certbus_seal_opts_t){.kind = "advisory",
                                      .tlp = "red",
                                      .audience = "org:bravo",
                                      .content_type = "text/plain"},
               "red", id, &bytes, &size);
    //  charlie asks for the proof (and so the recipient list) of a red message
    assert_int_equal (s_proof_code (charlie, id), CERTBUS_E_NOT_FOUND);
    //  ...the recipient and the publisher get it (bravo asks on a
    //  connection of its own, which gets no deliveries)
    zsock_t *bravo_asks = tw_client (fx, fx->members [TW_BRAVO].identity);
    assert_int_equal (s_proof_code (bravo_asks, id), 0);
    assert_int_equal (s_proof_code (alpha, id), 0);
    //  Deduplication by (origin, id): charlie's envelope with alpha's id is
    //  charlie's own message, not a "duplicate" that confirms alpha's
    size_t mine_size;
    uint8_t *mine = tw_seal (fx, TW_CHARLIE, "org:bravo", "same id", other, &mine_size);
    uint8_t *forged = s_forge (fx, mine, mine_size, TW_CHARLIE, s_with_id, id, other, &forged_size);
    tw_send_publish (charlie, forged, forged_size);
    Certbus__Packet *packet = tw_expect_puback (charlie, id, CERTBUS__STATUS__STATUS_ACCEPTED);
    assert_true (packet->puback->sequence > 0);
    certbus_codec_free (packet);
    free (forged);
    free (mine);
    //  Variant: alpha's own resend is a duplicate
    tw_send_publish (alpha, bytes, size);
    certbus_codec_free (tw_expect_puback (alpha, id, CERTBUS__STATUS__STATUS_DUPLICATE));
    free (bytes);
    //  Variant: bravo, which received alpha's message, reuses its id to
    //  shadow it at the nodes that hold it: refused (bravo knows the id)
    mine = tw_seal (fx, TW_BRAVO, "org:charlie", "shadow", other, &mine_size);
    s_attacker_t attacker = {fx, bravo_asks, TW_BRAVO, mine, mine_size};
    s_refused (&attacker, s_with_id, id, other, id, CERTBUS_E_FIELD, "delivered to 'bravo'");
    free (mine);
    //  DeliverAck.refused: bravo refuses what it got; audited as refused
    tw_inbox_t *inbox = tw_inbox_new ();
    tw_await_deliveries (bravo, inbox, 2);
    assert_int_equal (certbus_packet_send_deliver_ack (bravo, NULL, inbox->sequences, 2,
                                                       &inbox->sequences [1], 1),
                      0);
    tw_barrier (fx, bravo, NULL);
    assert_int_equal (tw_audit_count (fx, "refused-delivery"), 1);
    assert_int_equal (tw_audit_count (fx, "deliver"), 1);
    assert_int_equal (tw_stat (fx, "refused_deliveries"), 1);
    tw_inbox_destroy (&inbox);
}

//  ---------------------------------------------------------------------------
//  5. One key, one member; 7. output; 8. files

//  A request for `org` that carries another member's CURVE key, signed
//  with a key of the requester's own (what a squatter can make)
static void
test_key_squatting (void **state)
{
    tw_fixture_t *fx = *state;
    certbus_identity_t *squatter = certbus_identity_new ();
    Certbus__RequestBody body = CERTBUS__REQUEST_BODY__INIT;
    body.version = CERTBUS_WIRE_MAJOR;
    body.org_id = "squatter";
    body.name = "Squatter";
    body.sign_key.data = (uint8_t *) certbus_identity_sign_public (squatter);
    body.sign_key.len = CERTBUS_KEY_SIZE;
    body.box_key.data = (uint8_t *) certbus_identity_box_public (squatter);
    body.box_key.len = CERTBUS_KEY_SIZE;
    body.curve_key.data
        = (uint8_t *) certbus_identity_curve_public (fx->members [TW_BRAVO].identity);
    body.curve_key.len = CERTBUS_KEY_SIZE;
    body.created = certbus_now ();
    uint8_t *request = NULL;
    size_t request_size = 0;
    assert_int_equal (certbus_request_make (squatter, "squatter", "Squatter", &request,
                                            &request_size),
                      0);
    //  Rebuild the request with the borrowed key, signed by the squatter
    Certbus__Request *made = certbus__request__unpack (NULL, request_size, request);
    assert_non_null (made);
    size_t body_size;
    uint8_t *body_bytes = certbus_codec_encode (&body, &body_size);
    Certbus__RequestBody *good = certbus__request_body__unpack (NULL, made->body.len,
                                                                made->body.data);
    assert_non_null (good);
    free (made->body.data);
    made->body.data = body_bytes;
    made->body.len = body_size;
    free (request);
    request = certbus_codec_encode (made, &request_size);
    certbus__request_body__free_unpacked (good, NULL);
    certbus__request__free_unpacked (made, NULL);
    char *path = tu_path (fx->dir, "squatter.req");
    char *out = tu_path (fx->dir, "squatter.cert");
    assert_int_equal (certbus_file_write (path, request, request_size, 0600), 0);
    assert_int_not_equal (council_issue (fx->dir, "national", NULL, NULL, 30, path, out), 0);
    //  No certificate came of it, and bravo is still the only holder
    assert_int_not_equal (access (out, F_OK), 0);
    free (request);
    free (path);
    free (out);
    certbus_identity_destroy (&squatter);
}

static void
test_forged_output (void **state)
{
    tw_fixture_t *fx = *state;
    zsock_t *alpha = tw_session (fx, TW_ALPHA);
    uint8_t id [CERTBUS_ID_SIZE];
    s_attacker_t attacker = s_attacker_sealed (fx, alpha, TW_ALPHA, "org:bravo", "forged log line",
                                               id);
    //  A newline in the audience, to forge a broker log line
    s_edit_t edit = {.audience = "org:bravo\nN: broker: hello org=council"};
    s_refused (&attacker, s_edit, &edit, id, NULL, CERTBUS_E_FIELD, NULL);
    //  Variant: an escape sequence in the kind, to recolour a terminal
    edit = (s_edit_t){.kind = "advisory\x1b[2J"};
    s_refused (&attacker, s_edit, &edit, id, NULL, CERTBUS_E_FIELD, NULL);
    free (attacker.base);
    assert_int_equal (tw_stat (fx, "messages"), 0);
    //  The terminal escape of what a member chose
    char *shown = certbus_term_escape ("bank\x1b[31m\nforged");
    assert_string_equal (shown, "bank\\x1b[31m\\x0aforged");
    free (shown);
}

static void
test_file_symlinks (void **state)
{
    tw_fixture_t *fx = *state;
    //  A file only we may read, and links planted where a writer of
    //  DIR/target might put its temporary file
    char *victim = tu_path (fx->dir, "victim");
    char *target = tu_path (fx->dir, "target");
    assert_int_equal (certbus_file_write (victim, "secret", 6, 0600), 0);
    char planted [4096];
    snprintf (planted, sizeof planted, "%s.tmp%05d", target, (int) (getpid () % 100000));
    assert_int_equal (symlink (victim, planted), 0);
    snprintf (planted, sizeof planted, "%s.tmp", target);
    assert_int_equal (symlink (victim, planted), 0);
    assert_int_equal (certbus_file_write (target, "public", 6, 0644), 0);
    size_t size;
    uint8_t *content = tu_read_file (victim, &size);
    assert_int_equal (size, 6);
    assert_memory_equal (content, "secret", 6);
    free (content);
    struct stat st;
    assert_int_equal (stat (victim, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    //  Variant: the target itself is a link: it is replaced, not followed
    char *link_target = tu_path (fx->dir, "link-target");
    assert_int_equal (symlink (victim, link_target), 0);
    assert_int_equal (certbus_file_write (link_target, "other", 5, 0644), 0);
    content = tu_read_file (victim, &size);
    assert_memory_equal (content, "secret", 6);
    free (content);
    assert_int_equal (lstat (link_target, &st), 0);
    assert_true (S_ISREG (st.st_mode));
    free (victim);
    free (target);
    free (link_target);
    //  The control socket is private whatever the umask
    char *ctl = tu_path (fx->dir, BROKER_CONTROL);
    assert_int_equal (stat (ctl, &st), 0);
    assert_int_equal (st.st_mode & 0077, 0);
    free (ctl);
}

int
main (int argc, char *argv [])
{
    tw_main_init (argc, argv);
    umask (0); //  the modes asserted here must not come from the umask
    const struct CMUnitTest tests [] = {
        TW_TEST (test_case_takeover),
        TW_TEST (test_forward_rules),
        TW_TEST (test_hello_flood),
        TW_TEST (test_connection_takeover),
        TW_TEST (test_directory_request_flood),
        TW_TEST (test_connection_flood),
        TW_TEST_WITH (test_quotas, s_setup_quota),
        TW_TEST (test_receipts_and_noise),
        TW_TEST_WITH (test_noise_aggregated, s_setup_noise),
        TW_TEST (test_unknown_recipient),
        TW_TEST (test_directory_push),
        TW_TEST (test_metadata),
        TW_TEST (test_key_squatting),
        TW_TEST (test_forged_output),
        TW_TEST (test_file_symlinks),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
