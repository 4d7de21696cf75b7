/*  test_node_cases.c - the node engine and its CLI against a malicious
    member, with a scripted broker peer: a ROUTER socket in this test, with
    the broker's real CURVE key, that delivers what a hostile member could
    get accepted (any field it signs chosen at will) and reads what the
    node publishes in answer
    SPDX-License-Identifier: MPL-2.0

    The node under test is "bank", made and enrolled through its own init
    and enroll commands; "alpha" and "charlie" are members whose keys the
    test holds, so it can sign as them. CLI commands run in this process
    against the same folder while the engine runs: publishing commands hand
    their envelope to the engine (QUEUE) with a wait of 0 s, so they return
    at once and the test, as the broker, reads the Publish the engine sends.

    Rules shown here, each with the obvious attack and a neighbour:
    - case threads follow the broker's sequence, not the signed `created`;
      case TLP and severity are never lowered, and updates seal at them;
    - case participants come from the broker (Deliver/PubAck), never from
      an audience string; the list of the highest sequence wins;
    - a received forward is refused when its inner envelope is TLP red or
      amber+strict, when it lacks exactly one matching `forwards` reference,
      when the forwarder is the origin; refusals are acknowledged and counted;
    - forward and escalate refuse red and amber+strict; escalation sends
      our own messages as new incident messages;
    - a node whose directory is older than one the broker announced holds
      deliveries after the grace time, and `open` refuses;
    - member-chosen strings cannot forge JSON objects or terminal output;
    - init tightens the folder to 0700, the control socket is 0600.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "certbus.h"
#include "commands.h"
#include "council.h"
#include "../../node/engine.h" //  the node engine, not the broker one on the include path
#include "../../node/store.h"
#include "testutil.h"
#include "wire.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define s_WAIT_MS 10000 //  bound on every wait
#define s_MAX_PUBLISHED 16

typedef struct {
    char *dir; //  the Council's folder
    uint8_t council_key [CERTBUS_KEY_SIZE];
    certbus_identity_t *broker; //  the broker's keys (its CURVE key serves)
    zsock_t *router;            //  the scripted broker
    char endpoint [64];
    char *node_dir; //  bank's folder
    certbus_identity_t *alpha, *charlie;
    certbus_cert_t *alpha_cert, *charlie_cert, *bank_cert;
    certbus_directory_t *directory; //  as the Council last exported it
    uint8_t *dir_bytes;             //  and its bytes
    size_t dir_size;
    zactor_t *node;    //  bank's engine
    zframe_t *routing; //  bank's session at the scripted broker
    int64_t token;     //  next barrier ping
    //  What the barrier collected
    uint64_t acked [256];
    size_t acked_count;
    uint32_t refused;
    uint64_t refused_named [256]; //  DeliverAck.refused_sequences
    size_t refused_named_count;
    size_t refusal_receipts; //  receipts that say "refused"
    size_t directory_requests;
    uint8_t *published [s_MAX_PUBLISHED];
    size_t published_size [s_MAX_PUBLISHED];
    size_t published_count;
} s_fx_t;

//  ---------------------------------------------------------------------
//  The scripted broker

//  Next packet from the node within the bound; pings are answered and skipped
static Certbus__Packet *
s_recv (s_fx_t *fx)
{
    return tw_router_recv (fx->router, &fx->routing, s_WAIT_MS);
}

//  A Ping from the broker, announcing directory version serial
static void
s_send_ping (s_fx_t *fx, int64_t time, uint64_t serial)
{
    assert_int_equal (certbus_packet_send_ping (fx->router, fx->routing, time, serial), 0);
}

static void
s_send_deliver (s_fx_t *fx, uint64_t sequence, uint64_t message_sequence, const uint8_t *bytes,
                size_t size, const char *const *participants, size_t count)
{
    certbus_deliver_t deliver = {.sequence = sequence,
                                 .message_sequence = message_sequence,
                                 .accepted_at = certbus_now_ms (),
                                 .envelope = bytes,
                                 .envelope_size = size,
                                 .participants = (char *const *) participants,
                                 .participant_count = count};
    assert_int_equal (certbus_packet_send_deliver (fx->router, fx->routing, &deliver), 0);
}

static void
s_send_puback (s_fx_t *fx, const uint8_t *id, uint64_t sequence, const char *const *participants,
               size_t count)
{
    certbus_puback_t ack = {.message_id = id,
                            .message_id_size = CERTBUS_ID_SIZE,
                            .status = CERTBUS_PUBACK_ACCEPTED,
                            .reason = "",
                            .rule = "test",
                            .sequence = sequence,
                            .accepted_at = certbus_now_ms (),
                            .participants = (char *const *) participants,
                            .participant_count = count};
    assert_int_equal (certbus_packet_send_puback (fx->router, fx->routing, &ack), 0);
}

static void
s_send_directory (s_fx_t *fx)
{
    assert_int_equal (certbus_packet_send_directory_reply (fx->router, fx->routing, fx->dir_bytes,
                                                           fx->dir_size),
                      0);
}

//  The scripted broker's answer to the node's Hello
static void
s_send_welcome (s_fx_t *fx)
{
    assert_int_equal (certbus_packet_send_hello (fx->router, fx->routing, 16,
                                                 certbus_directory_serial (fx->directory),
                                                 "test_node_cases"),
                      0);
}

//  A Ping/Pong round trip: everything the node sent before it answered
//  arrives first and is collected (acks, refusals, publishes, directory
//  requests). The ping announces the directory version we hold.
static void
s_barrier (s_fx_t *fx)
{
    int64_t token = ++fx->token;
    s_send_ping (fx, token, certbus_directory_serial (fx->directory));
    for (bool ponged = false; !ponged;) {
        Certbus__Packet *packet = s_recv (fx);
        switch (packet->body_case) {
            case CERTBUS__PACKET__BODY_PONG:
                ponged = packet->pong->time == token;
                break;
            case CERTBUS__PACKET__BODY_HELLO:
                //  The node says Hello again each heartbeat until it is
                //  welcomed: on a slow machine (valgrind) a second one comes
                s_send_welcome (fx);
                break;
            case CERTBUS__PACKET__BODY_DELIVER_ACK:
                for (size_t i = 0; i < packet->deliver_ack->n_sequences; i++) {
                    assert_true (fx->acked_count < 256);
                    fx->acked [fx->acked_count++] = packet->deliver_ack->sequences [i];
                }
                fx->refused += packet->deliver_ack->refused;
                for (size_t i = 0; i < packet->deliver_ack->n_refused_sequences; i++) {
                    assert_true (fx->refused_named_count < 256);
                    fx->refused_named [fx->refused_named_count++]
                        = packet->deliver_ack->refused_sequences [i];
                }
                break;
            case CERTBUS__PACKET__BODY_DIRECTORY_REQUEST:
                fx->directory_requests++;
                break;
            case CERTBUS__PACKET__BODY_PUBLISH: {
                //  Receipts for what the node stored go out too: not counted
                certbus_envelope_t *env = NULL;
                assert_int_equal (certbus_envelope_decode (packet->publish->envelope.data,
                                                           packet->publish->envelope.len, &env),
                                  CERTBUS_OK);
                bool receipt = streq (certbus_envelope_header (env)->kind, "receipt");
                if (receipt) {
                    //  A receipt is TLP clear: its ciphertext is the JSON
                    size_t text_size;
                    const uint8_t *text = certbus_envelope_ciphertext (env, &text_size);
                    char *json = strndup ((const char *) text, text_size);
                    if (strstr (json, "\"refused\":"))
                        fx->refusal_receipts++;
                    free (json);
                }
                certbus_envelope_destroy (&env);
                if (receipt)
                    break;
                assert_true (fx->published_count < s_MAX_PUBLISHED);
                fx->published [fx->published_count] = tu_dup (packet->publish->envelope.data,
                                                              packet->publish->envelope.len);
                fx->published_size [fx->published_count++] = packet->publish->envelope.len;
                break;
            }
            default:
                fail_msg ("unexpected %s packet from the node", certbus_packet_name (packet));
        }
        certbus_codec_free (packet);
    }
}

//  Two barriers: the first moves past a loop turn still handling earlier packets
static void
s_settle (s_fx_t *fx)
{
    s_barrier (fx);
    s_barrier (fx);
}

static bool
s_was_acked (s_fx_t *fx, uint64_t sequence)
{
    for (size_t i = 0; i < fx->acked_count; i++)
        if (fx->acked [i] == sequence)
            return true;
    return false;
}

static void
s_forget_published (s_fx_t *fx)
{
    for (size_t i = 0; i < fx->published_count; i++)
        free (fx->published [i]);
    fx->published_count = 0;
}

//  Waits (bounded) until the node published want envelopes
static void
s_await_published (s_fx_t *fx, size_t want)
{
    int64_t deadline = zclock_mono () + s_WAIT_MS;
    while (fx->published_count < want && zclock_mono () < deadline)
        s_barrier (fx);
    assert_int_equal (fx->published_count, want);
}

//  The decoded header of the index-th envelope the node published
static certbus_envelope_t *
s_published (s_fx_t *fx, size_t index)
{
    certbus_envelope_t *env = NULL;
    assert_true (index < fx->published_count);
    assert_int_equal (certbus_envelope_decode (fx->published [index], fx->published_size [index],
                                               &env),
                      CERTBUS_OK);
    return env;
}

//  ---------------------------------------------------------------------
//  Members and what they sign

static certbus_cert_t *
s_issue (s_fx_t *fx, const char *tier, const char *request_path, const char *cert_path)
{
    if (council_issue (fx->dir, tier, NULL, NULL, 30, request_path, cert_path))
        fail_msg ("council_issue: %s", certbus_reason ());
    size_t size;
    uint8_t *bytes = tu_read_file (cert_path, &size);
    certbus_cert_t *cert = NULL;
    assert_int_equal (certbus_cert_decode (bytes, size, fx->council_key, &cert), CERTBUS_OK);
    free (bytes);
    return cert;
}

static certbus_identity_t *
s_member (s_fx_t *fx, const char *org, certbus_cert_t **cert_p)
{
    certbus_identity_t *identity = certbus_identity_new ();
    uint8_t *bytes;
    size_t size;
    assert_int_equal (certbus_request_make (identity, org, org, &bytes, &size), 0);
    char name [64];
    snprintf (name, sizeof name, "%s.req", org);
    char *request = tu_path (fx->dir, name);
    snprintf (name, sizeof name, "%s.cert", org);
    char *cert_path = tu_path (fx->dir, name);
    assert_int_equal (certbus_file_write (request, bytes, size, 0600), 0);
    free (bytes);
    *cert_p = s_issue (fx, "national", request, cert_path);
    free (request);
    free (cert_path);
    return identity;
}

//  Exports the Council's current directory into fx
static void
s_export_directory (s_fx_t *fx)
{
    char *path = tu_path (fx->dir, "directory.cbd");
    assert_int_equal (council_directory (fx->dir, path), 0);
    free (fx->dir_bytes);
    fx->dir_bytes = tu_read_file (path, &fx->dir_size);
    certbus_directory_destroy (&fx->directory);
    assert_int_equal (certbus_directory_decode (fx->dir_bytes, fx->dir_size, fx->council_key, 0,
                                                &fx->directory),
                      CERTBUS_OK);
    free (path);
}

//  Seals text as `identity` to the explicit recipients (the audience in
//  opts is signed as written, whatever it says)
static uint8_t *
s_seal (s_fx_t *fx, certbus_identity_t *identity, const certbus_cert_t *cert,
        const certbus_seal_opts_t *opts, const char *to, const char *text,
        uint8_t id [CERTBUS_ID_SIZE], size_t *size_p)
{
    char *recipients [2] = {(char *) to, (char *) cert->org_id};
    uint8_t *bytes = NULL;
    assert_int_equal (certbus_envelope_seal_to (identity, cert, fx->directory, opts, recipients, 2,
                                                (const uint8_t *) text, strlen (text), id, &bytes,
                                                size_p),
                      CERTBUS_OK);
    return bytes;
}

//  The envelope again with its signed `created` set to created and the
//  header signed anew by identity: what a member's own client can do
//  What s_forge changes: a signed `created` (0 keeps it), a case status
//  (NULL keeps it), references (NULL keeps them)
typedef struct {
    int64_t created;
    const char *status;
    const certbus_ref_t *refs;
    size_t ref_count;
} s_edit_t;

static void
s_edit (Certbus__EnvelopeHeader *hdr, Certbus__Envelope *env, void *arg)
{
    (void) env;
    s_edit_t *edit = arg;
    if (edit->created)
        hdr->created = edit->created;
    if (edit->status)
        tu_set_str (&hdr->case_status, edit->status);
    if (edit->refs) {
        const char *relations [8];
        const uint8_t *ids [8];
        assert_true (edit->ref_count <= 8);
        for (size_t i = 0; i < edit->ref_count; i++) {
            relations [i] = edit->refs [i].relation;
            ids [i] = edit->refs [i].id;
        }
        tu_set_refs (hdr, edit->ref_count, relations, ids);
    }
}

//  The envelope again with its header edited and signed anew by
//  identity: what a member's own client can do
static uint8_t *
s_forge (const uint8_t *bytes, size_t size, certbus_identity_t *identity, int64_t created,
         const char *status, const certbus_ref_t *refs, size_t ref_count, size_t *size_p)
{
    s_edit_t edit = {created, status, refs, ref_count};
    return tu_envelope_resign (bytes, size, certbus_identity_sign_secret (identity), s_edit, &edit,
                               false, size_p);
}

static uint8_t *
s_forge_created (const uint8_t *bytes, size_t size, certbus_identity_t *identity, int64_t created,
                 size_t *size_p)
{
    return s_forge (bytes, size, identity, created, NULL, NULL, 0, size_p);
}

//  A forward envelope from `identity` to bank carrying payload, with refs
static uint8_t *
s_forward_envelope (s_fx_t *fx, certbus_identity_t *identity, const certbus_cert_t *cert,
                    const char *tlp, const certbus_ref_t *refs, size_t ref_count,
                    const uint8_t *payload, size_t payload_size, uint8_t id [CERTBUS_ID_SIZE],
                    size_t *size_p)
{
    certbus_seal_opts_t opts = {.kind = "advisory",
                                .tlp = tlp,
                                .audience = "org:bank",
                                .topic = "forwarded",
                                .severity = "high",
                                .content_type = CERTBUS_FORWARD_TYPE,
                                .refs = ref_count <= 1 ? refs : NULL,
                                .ref_count = ref_count <= 1 ? ref_count : 0};
    char *recipients [1] = {"bank"};
    uint8_t *bytes = NULL;
    assert_int_equal (certbus_envelope_seal_to (identity, cert, fx->directory, &opts, recipients, 1,
                                                payload, payload_size, id, &bytes, size_p),
                      CERTBUS_OK);
    if (ref_count <= 1)
        return bytes;
    //  More references than seal makes: the header is signed anew with them
    uint8_t *forged = s_forge (bytes, *size_p, identity, 0, NULL, refs, ref_count, size_p);
    free (bytes);
    return forged;
}

//  ---------------------------------------------------------------------
//  The CLI in this process, with stdout captured

typedef struct {
    int saved;
    char *path;
} s_capture_t;

static void
s_capture_begin (s_fx_t *fx, s_capture_t *capture)
{
    fflush (stdout);
    capture->path = tu_path (fx->dir, "stdout.txt");
    int fd = open (capture->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true (fd >= 0);
    capture->saved = dup (1);
    dup2 (fd, 1);
    close (fd);
}

//  Ends a capture; returns what was printed (caller frees)
static char *
s_capture_end (s_capture_t *capture)
{
    fflush (stdout);
    dup2 (capture->saved, 1);
    close (capture->saved);
    size_t size;
    uint8_t *bytes = tu_read_file (capture->path, &size);
    char *text = malloc (size + 1);
    memcpy (text, bytes, size);
    text [size] = 0;
    free (bytes);
    free (capture->path);
    return text;
}

//  Runs a node command with the given arguments (a NULL-terminated list
//  after the command's name); returns its exit code, and its stdout in
//  *out_p when out_p is not NULL
static int
s_cli (s_fx_t *fx, int (*fn) (node_args_t *), node_args_t *args, char **out_p)
{
    if (!args->dir)
        args->dir = fx->node_dir;
    s_capture_t capture;
    s_capture_begin (fx, &capture);
    int rc = fn (args);
    char *out = s_capture_end (&capture);
    if (out_p)
        *out_p = out;
    else
        free (out);
    return rc;
}

static int
s_incident (s_fx_t *fx, node_args_t *args, char **out_p, ...)
{
    char *argv [8];
    int argc = 0;
    va_list list;
    va_start (list, out_p);
    for (const char *a = va_arg (list, const char *); a && argc < 8;
         a = va_arg (list, const char *))
        argv [argc++] = (char *) a;
    va_end (list);
    args->argc = argc;
    args->argv = argv;
    return s_cli (fx, node_cmd_incident, args, out_p);
}

//  Writes text into a file of the Council folder; returns its path (caller frees)
static char *
s_file (s_fx_t *fx, const char *name, const char *text)
{
    char *path = tu_path (fx->dir, name);
    assert_int_equal (certbus_file_write (path, text, strlen (text), 0600), 0);
    return path;
}

//  ---------------------------------------------------------------------
//  Fixture

static void
s_node_start (s_fx_t *fx, int grace_ms)
{
    node_config_t config;
    node_config_defaults (&config);
    config.dir = fx->node_dir;
    if (grace_ms >= 0)
        config.directory_grace_ms = grace_ms;
    fx->node = zactor_new (node_engine_actor, &config);
    tw_node_ready (fx->node);
    Certbus__Packet *packet = s_recv (fx);
    assert_int_equal (packet->body_case, CERTBUS__PACKET__BODY_HELLO);
    certbus_codec_free (packet);
    s_send_welcome (fx);
    s_settle (fx);
}

static int
s_setup (void **state)
{
    s_fx_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    fx->dir = tu_tmpdir_new ();
    if (council_init (fx->dir, "sqlite:"))
        fail_msg ("council_init: %s", certbus_reason ());
    char *council_pub = tu_path (fx->dir, COUNCIL_PUB);
    char *broker_pub = tu_path (fx->dir, BROKER_PUB);
    char *broker_secret = tu_path (fx->dir, BROKER_SECRET);
    assert_int_equal (certbus_pubfile_read (council_pub, fx->council_key, NULL), 0);
    fx->broker = certbus_identity_load (broker_secret);
    assert_non_null (fx->broker);
    fx->router = tw_router_new (fx->broker, fx->endpoint, sizeof fx->endpoint);

    fx->node_dir = tu_path (fx->dir, "bank");
    node_args_t args = {.dir = fx->node_dir, .org = "bank", .name = "Bank"};
    assert_int_equal (node_cmd_init (&args), 0);
    char *request = tu_path (fx->node_dir, "request");
    char *node_cert = tu_path (fx->dir, "bank.cert");
    fx->bank_cert = s_issue (fx, "organization", request, node_cert);
    fx->alpha = s_member (fx, "alpha", &fx->alpha_cert);
    fx->charlie = s_member (fx, "charlie", &fx->charlie_cert);
    s_export_directory (fx);
    char *dir_path = tu_path (fx->dir, "directory.cbd");
    args = (node_args_t){.dir = fx->node_dir,
                         .cert = node_cert,
                         .broker = fx->endpoint,
                         .council = council_pub,
                         .broker_key = broker_pub,
                         .directory = dir_path};
    assert_int_equal (node_cmd_enroll (&args), 0);
    free (dir_path);
    free (request);
    free (node_cert);
    free (council_pub);
    free (broker_pub);
    free (broker_secret);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    s_fx_t *fx = *state;
    zactor_destroy (&fx->node);
    zframe_destroy (&fx->routing);
    zsock_destroy (&fx->router);
    s_forget_published (fx);
    certbus_directory_destroy (&fx->directory);
    free (fx->dir_bytes);
    certbus_cert_destroy (&fx->alpha_cert);
    certbus_cert_destroy (&fx->charlie_cert);
    certbus_cert_destroy (&fx->bank_cert);
    certbus_identity_destroy (&fx->alpha);
    certbus_identity_destroy (&fx->charlie);
    certbus_identity_destroy (&fx->broker);
    free (fx->node_dir);
    tu_tmpdir_remove (&fx->dir);
    free (fx);
    return 0;
}

//  An incident message from alpha to bank (and alpha itself)
static uint8_t *
s_incident_msg (s_fx_t *fx, certbus_identity_t *identity, const certbus_cert_t *cert,
                const uint8_t *case_id, const char *tlp, const char *severity, const char *status,
                const char *audience, const char *text, uint8_t id [CERTBUS_ID_SIZE],
                size_t *size_p)
{
    certbus_ref_t ref = {.relation = "updates"};
    if (case_id)
        memcpy (ref.id, case_id, CERTBUS_ID_SIZE);
    certbus_seal_opts_t opts = {.kind = "incident",
                                .tlp = tlp,
                                .audience = audience,
                                .topic = "intrusion",
                                .severity = severity,
                                .content_type = "text/plain",
                                .refs = case_id ? &ref : NULL,
                                .ref_count = case_id ? 1 : 0,
                                .case_status = status};
    return s_seal (fx, identity, cert, &opts, "bank", text, id, size_p);
}

//  bank updates the case (case_text) with status and the text of file, as
//  `certbus-node incident update` does; returns what it published (the
//  caller destroys it)
static certbus_envelope_t *
s_update_published (s_fx_t *fx, const char *case_text, const char *status, const char *file)
{
    node_args_t args = {.status = status, .wait_s = 0};
    assert_int_equal (s_incident (fx, &args, NULL, "update", case_text, file, NULL), 0);
    s_await_published (fx, 1);
    return s_published (fx, 0);
}

//  ---------------------------------------------------------------------
//  1. Cases belong to their participants

//  Attack: alpha's update signs a `created` a day before its report and
//  TLP clear / severity info. The thread still follows the broker's
//  sequence, the case stays amber/high, and bank's update goes out amber/high.
static void
test_case_order_and_tlp (void **state)
{
    s_fx_t *fx = *state;
    s_node_start (fx, -1);
    uint8_t report [CERTBUS_ID_SIZE], update [CERTBUS_ID_SIZE];
    size_t size, forged_size;
    uint8_t *bytes = s_incident_msg (fx, fx->alpha, fx->alpha_cert, NULL, "amber", "high", NULL,
                                     "org:bank", "the report", report, &size);
    const char *both [] = {"alpha", "bank"};
    s_send_deliver (fx, 1, 10, bytes, size, both, 2);
    free (bytes);
    bytes = s_incident_msg (fx, fx->alpha, fx->alpha_cert, report, "clear", "info", "closed",
                            "org:bank", "forged early update", update, &size);
    uint8_t *forged = s_forge_created (bytes, size, fx->alpha, certbus_now_ms () - 86400000,
                                       &forged_size);
    free (bytes);
    s_send_deliver (fx, 2, 11, forged, forged_size, both, 2);
    free (forged);
    s_settle (fx);
    assert_true (s_was_acked (fx, 1) && s_was_acked (fx, 2));
    assert_int_equal (fx->refused, 0);

    char case_text [CERTBUS_ID_STR_SIZE], update_text [CERTBUS_ID_STR_SIZE];
    certbus_id_format (report, case_text);
    certbus_id_format (update, update_text);
    node_args_t args = {.json = true};
    char *out = NULL;
    assert_int_equal (s_incident (fx, &args, &out, "show", case_text, NULL), 0);
    char *first = strstr (out, case_text), *second = strstr (out, update_text);
    assert_non_null (first);
    assert_non_null (second);
    assert_true (first < second); //  broker order, whatever `created` says
    free (out);
    args = (node_args_t){.json = true};
    assert_int_equal (s_incident (fx, &args, &out, "list", NULL), 0);
    assert_non_null (strstr (out, "\"severity\":\"high\",\"tlp\":\"amber\""));
    assert_non_null (strstr (out, "\"status\":\"closed\""));
    free (out);

    //  bank's update seals at the case's TLP and severity
    char *file = s_file (fx, "update.txt", "seen");
    certbus_envelope_t *env = s_update_published (fx, case_text, "acknowledged", file);
    const certbus_header_t *header = certbus_envelope_header (env);
    assert_string_equal (header->tlp, "amber");
    assert_string_equal (header->severity, "high");
    assert_string_equal (header->audience, "org:alpha");
    certbus_envelope_destroy (&env);
    free (file);
    print_message ("forged early update: thread in broker order, update sealed amber/high\n");
}

//  Neighbour: the node holds no report, only two updates; the lower one
//  (green, low) comes later in broker order with an early `created`. The
//  case takes the highest it holds; status is the latest in broker order.
static void
test_case_tlp_without_report (void **state)
{
    s_fx_t *fx = *state;
    s_node_start (fx, -1);
    uint8_t case_id [CERTBUS_ID_SIZE], first [CERTBUS_ID_SIZE], second [CERTBUS_ID_SIZE];
    certbus_uuid7 (case_id);
    size_t size, forged_size;
    const char *both [] = {"alpha", "bank"};
    uint8_t *bytes = s_incident_msg (fx, fx->alpha, fx->alpha_cert, case_id, "red", "critical",
                                     "investigating", "org:bank", "first", first, &size);
    s_send_deliver (fx, 1, 20, bytes, size, both, 2);
    free (bytes);
    bytes = s_incident_msg (fx, fx->alpha, fx->alpha_cert, case_id, "green", "low", "contained",
                            "org:bank", "second", second, &size);
    uint8_t *forged = s_forge_created (bytes, size, fx->alpha, 1000, &forged_size);
    free (bytes);
    s_send_deliver (fx, 2, 21, forged, forged_size, both, 2);
    free (forged);
    s_settle (fx);
    char case_text [CERTBUS_ID_STR_SIZE];
    certbus_id_format (case_id, case_text);
    node_args_t args = {.json = true};
    char *out = NULL;
    assert_int_equal (s_incident (fx, &args, &out, "list", NULL), 0);
    assert_non_null (strstr (out, "\"severity\":\"critical\",\"tlp\":\"red\""));
    assert_non_null (strstr (out, "\"status\":\"contained\""));
    free (out);
    char *file = s_file (fx, "update.txt", "noted");
    certbus_envelope_t *env = s_update_published (fx, case_text, "acknowledged", file);
    assert_string_equal (certbus_envelope_header (env)->tlp, "red");
    assert_string_equal (certbus_envelope_header (env)->severity, "critical");
    certbus_envelope_destroy (&env);
    free (file);
}

//  Attack: alpha's report names "org:bank,org:charlie,tier:national" as its
//  audience but was sealed to bank only; the broker says the participants
//  are alpha and bank. bank's update goes to alpha only. Then the broker's
//  newer list (a PubAck, higher sequence) adds charlie; a late delivery
//  with a lower sequence and a shorter list does not replace it.
static void
test_case_participants_from_broker (void **state)
{
    s_fx_t *fx = *state;
    s_node_start (fx, -1);
    uint8_t report [CERTBUS_ID_SIZE], late [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *bytes = s_incident_msg (fx, fx->alpha, fx->alpha_cert, NULL, "amber", "medium", NULL,
                                     "org:bank,org:charlie,tier:national", "report", report, &size);
    const char *both [] = {"alpha", "bank"};
    s_send_deliver (fx, 1, 30, bytes, size, both, 2);
    free (bytes);
    s_settle (fx);
    char case_text [CERTBUS_ID_STR_SIZE];
    certbus_id_format (report, case_text);
    char *file = s_file (fx, "update.txt", "on it");
    certbus_envelope_t *env = s_update_published (fx, case_text, "acknowledged", file);
    assert_string_equal (certbus_envelope_header (env)->audience, "org:alpha");
    assert_int_equal (certbus_envelope_header (env)->recipient_count, 2); //  alpha and us
    //  The broker accepts it and names charlie too (say, an escalation)
    const char *three [] = {"alpha", "bank", "charlie"};
    s_send_puback (fx, certbus_envelope_header (env)->id, 40, three, 3);
    certbus_envelope_destroy (&env);
    //  A delivery that the broker sequenced before that, arriving late
    bytes = s_incident_msg (fx, fx->alpha, fx->alpha_cert, report, "amber", "medium", "reported",
                            "org:bank", "late", late, &size);
    s_send_deliver (fx, 2, 35, bytes, size, both, 2);
    free (bytes);
    s_settle (fx);
    s_forget_published (fx);
    env = s_update_published (fx, case_text, "investigating", file);
    assert_string_equal (certbus_envelope_header (env)->audience, "org:alpha,org:charlie");
    certbus_envelope_destroy (&env);
    free (file);
    print_message ("participants from the broker, not from the audience string\n");
}

//  The direct CLI path (no daemon) keeps the participants of its PubAck too

static void
s_cli_actor (zsock_t *pipe, void *arg)
{
    node_args_t *args = arg;
    zsock_signal (pipe, 0);
    int rc = node_cmd_incident (args);
    zsock_send (pipe, "i", rc);
    char *command = zstr_recv (pipe);
    zstr_free (&command);
}

static void
test_case_participants_direct (void **state)
{
    s_fx_t *fx = *state;
    //  No engine: the CLI talks to the broker itself
    uint8_t case_id [CERTBUS_ID_SIZE];
    certbus_uuid7 (case_id);
    char case_text [CERTBUS_ID_STR_SIZE];
    certbus_id_format (case_id, case_text);
    char *file = s_file (fx, "update.txt", "joining");
    char *argv [] = {"update", case_text, file};
    node_args_t args = {.dir = fx->node_dir,
                        .status = "reported",
                        .to = "org:alpha",
                        .wait_s = 5,
                        .argc = 3,
                        .argv = argv};
    zactor_t *cli = zactor_new (s_cli_actor, &args);
    Certbus__Packet *packet = s_recv (fx);
    assert_int_equal (packet->body_case, CERTBUS__PACKET__BODY_PUBLISH);
    certbus_envelope_t *env = NULL;
    assert_int_equal (certbus_envelope_decode (packet->publish->envelope.data,
                                               packet->publish->envelope.len, &env),
                      CERTBUS_OK);
    certbus_codec_free (packet);
    const char *three [] = {"alpha", "bank", "charlie"};
    s_send_puback (fx, certbus_envelope_header (env)->id, 7, three, 3);
    certbus_envelope_destroy (&env);
    int rc = -1;
    assert_int_equal (zsock_recv (cli, "i", &rc), 0);
    assert_int_equal (rc, 0);
    zactor_destroy (&cli);
    char *path = tu_path (fx->node_dir, "node.db");
    node_store_t *store = node_store_open (path);
    assert_non_null (store);
    char *list = node_store_case_participants (store, case_id);
    assert_non_null (list);
    assert_string_equal (list, "alpha,bank,charlie");
    free (list);
    node_store_destroy (&store);
    free (path);
    free (file);
}

//  ---------------------------------------------------------------------
//  2. TLP red and amber+strict never travel further

//  Each hostile forward is acknowledged as refused and never stored; a
//  proper one is stored with its forwarder, which tail --exec sees.
static void
test_forward_refusals (void **state)
{
    s_fx_t *fx = *state;
    s_node_start (fx, -1);
    //  alpha's messages to charlie (who forwards them to bank)
    certbus_seal_opts_t red = {.kind = "advisory",
                               .tlp = "red",
                               .audience = "org:charlie",
                               .severity = "high",
                               .content_type = "text/plain"};
    certbus_seal_opts_t strict = red, amber = red;
    strict.tlp = "amber+strict";
    amber.tlp = "amber";
    uint8_t red_id [CERTBUS_ID_SIZE], strict_id [CERTBUS_ID_SIZE], amber_id [CERTBUS_ID_SIZE];
    uint8_t other [CERTBUS_ID_SIZE];
    certbus_uuid7 (other);
    size_t red_size, strict_size, amber_size;
    uint8_t *red_msg = s_seal (fx, fx->alpha, fx->alpha_cert, &red, "charlie", "red text", red_id,
                               &red_size);
    uint8_t *strict_msg = s_seal (fx, fx->alpha, fx->alpha_cert, &strict, "charlie", "strict text",
                                  strict_id, &strict_size);
    uint8_t *amber_msg = s_seal (fx, fx->alpha, fx->alpha_cert, &amber, "charlie", "amber text",
                                 amber_id, &amber_size);
    size_t p_size;
    uint8_t *p_red = tu_forward_payload (red_msg, red_size, fx->charlie, "charlie", &p_size);
    size_t p_strict_size;
    uint8_t *p_strict = tu_forward_payload (strict_msg, strict_size, fx->charlie, "charlie",
                                            &p_strict_size);
    size_t p_amber_size;
    uint8_t *p_amber = tu_forward_payload (amber_msg, amber_size, fx->charlie, "charlie",
                                           &p_amber_size);
    size_t p_self_size;
    uint8_t *p_self = tu_forward_payload (amber_msg, amber_size, fx->alpha, "alpha", &p_self_size);
    certbus_ref_t fwd_red = {.relation = "forwards"}, fwd_strict = fwd_red, fwd_amber = fwd_red,
                  fwd_other = fwd_red;
    memcpy (fwd_red.id, red_id, CERTBUS_ID_SIZE);
    memcpy (fwd_strict.id, strict_id, CERTBUS_ID_SIZE);
    memcpy (fwd_amber.id, amber_id, CERTBUS_ID_SIZE);
    memcpy (fwd_other.id, other, CERTBUS_ID_SIZE);
    certbus_ref_t two [2] = {fwd_amber, fwd_other};

    struct {
        const char *what;
        certbus_identity_t *from;
        const certbus_cert_t *cert;
        const char *tlp;
        const certbus_ref_t *refs;
        size_t ref_count;
        const uint8_t *payload;
        size_t size;
    } cases [] = {
        {"red inner", fx->charlie, fx->charlie_cert, "red", &fwd_red, 1, p_red, p_size},
        {"amber+strict inner", fx->charlie, fx->charlie_cert, "amber+strict", &fwd_strict, 1,
         p_strict, p_strict_size},
        {"no forwards reference", fx->charlie, fx->charlie_cert, "amber", NULL, 0, p_amber,
         p_amber_size},
        {"forwards reference to another message", fx->charlie, fx->charlie_cert, "amber",
         &fwd_other, 1, p_amber, p_amber_size},
        {"two forwards references", fx->charlie, fx->charlie_cert, "amber", two, 2, p_amber,
         p_amber_size},
        {"own message forwarded", fx->alpha, fx->alpha_cert, "amber", &fwd_amber, 1, p_self,
         p_self_size},
    };
    size_t count = sizeof cases / sizeof cases [0];
    size_t receipts = 0;
    for (size_t i = 0; i < count; i++) {
        uint8_t id [CERTBUS_ID_SIZE];
        size_t size;
        uint8_t *bytes = s_forward_envelope (fx, cases [i].from, cases [i].cert, cases [i].tlp,
                                             cases [i].refs, cases [i].ref_count, cases [i].payload,
                                             cases [i].size, id, &size);
        s_send_deliver (fx, 100 + i, 200 + i, bytes, size, NULL, 0);
        free (bytes);
        s_settle (fx);
        if (!s_was_acked (fx, 100 + i) || fx->refused != i + 1)
            fail_msg ("%s: not refused (refused %u)", cases [i].what, fx->refused);
        //  Named as refused in the ack (the broker audits it so), and the
        //  sender is told in a receipt that says why; a header that does
        //  not even decode (two forwards references) names no sender to tell
        assert_int_equal (fx->refused_named_count, i + 1);
        assert_int_equal (fx->refused_named [i], 100 + i);
        if (cases [i].ref_count <= 1)
            receipts++;
        assert_int_equal (fx->refusal_receipts, receipts);
    }
    //  A chain one level down: charlie forwards alpha's forward of its own message
    uint8_t hop_id [CERTBUS_ID_SIZE], chain_id [CERTBUS_ID_SIZE];
    size_t hop_size;
    //  alpha's forward to charlie of alpha's own message (never accepted by
    //  a broker, but a member can sign it)
    certbus_seal_opts_t hop_opts = {.kind = "advisory",
                                    .tlp = "amber",
                                    .audience = "org:charlie",
                                    .severity = "high",
                                    .content_type = CERTBUS_FORWARD_TYPE,
                                    .refs = &fwd_amber,
                                    .ref_count = 1};
    uint8_t *hop = NULL;
    char *hop_to [2] = {"charlie", "alpha"};
    assert_int_equal (certbus_envelope_seal_to (fx->alpha, fx->alpha_cert, fx->directory, &hop_opts,
                                                hop_to, 2, p_self, p_self_size, hop_id, &hop,
                                                &hop_size),
                      CERTBUS_OK);
    size_t p_chain_size;
    uint8_t *p_chain = tu_forward_payload (hop, hop_size, fx->charlie, "charlie", &p_chain_size);
    certbus_ref_t fwd_hop = {.relation = "forwards"};
    memcpy (fwd_hop.id, hop_id, CERTBUS_ID_SIZE);
    size_t chain_size;
    uint8_t *chain = s_forward_envelope (fx, fx->charlie, fx->charlie_cert, "amber", &fwd_hop, 1,
                                         p_chain, p_chain_size, chain_id, &chain_size);
    s_send_deliver (fx, 150, 250, chain, chain_size, NULL, 0);
    s_settle (fx);
    assert_true (s_was_acked (fx, 150));
    assert_int_equal (fx->refused, count + 1);

    //  The proper forward is stored, with its forwarder
    uint8_t good_id [CERTBUS_ID_SIZE];
    size_t good_size;
    uint8_t *good = s_forward_envelope (fx, fx->charlie, fx->charlie_cert, "amber", &fwd_amber, 1,
                                        p_amber, p_amber_size, good_id, &good_size);
    s_send_deliver (fx, 160, 260, good, good_size, NULL, 0);
    s_settle (fx);
    assert_true (s_was_acked (fx, 160));
    assert_int_equal (fx->refused, count + 1);
    char *env_out = tu_path (fx->dir, "forwarders.txt");
    char command [512];
    snprintf (command, sizeof command,
              "printf '%%s|%%s' \"$CERTBUS_ORIGIN\" \"$CERTBUS_FORWARDERS\" > '%s'", env_out);
    node_args_t args = {.all = true, .count = 1, .timeout_s = 5, .exec = command};
    assert_int_equal (s_cli (fx, node_cmd_tail, &args, NULL), 0);
    size_t seen_size;
    uint8_t *seen = tu_read_file (env_out, &seen_size);
    assert_int_equal (seen_size, strlen ("alpha|charlie"));
    assert_memory_equal (seen, "alpha|charlie", seen_size);
    free (seen);
    free (env_out);
    print_message ("%zu hostile forwards refused and acknowledged; the proper one stored\n",
                   count + 1);
    free (good);
    free (chain);
    free (p_chain);
    free (hop);
    free (red_msg);
    free (strict_msg);
    free (amber_msg);
    free (p_red);
    free (p_strict);
    free (p_amber);
    free (p_self);
}

//  The sending side: forward refuses red and amber+strict messages;
//  escalate refuses a red case; escalating an amber case sends our own
//  message as a new incident message and forwards alpha's.
static void
test_forward_and_escalate_sending (void **state)
{
    s_fx_t *fx = *state;
    s_node_start (fx, -1);
    const char *both [] = {"alpha", "bank"};
    uint8_t red_case [CERTBUS_ID_SIZE], strict_msg [CERTBUS_ID_SIZE], amber_case [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *bytes = s_incident_msg (fx, fx->alpha, fx->alpha_cert, NULL, "red", "high", NULL,
                                     "org:bank", "red report", red_case, &size);
    s_send_deliver (fx, 1, 10, bytes, size, both, 2);
    free (bytes);
    certbus_seal_opts_t strict = {.kind = "advisory",
                                  .tlp = "amber+strict",
                                  .audience = "org:bank",
                                  .severity = "high",
                                  .content_type = "text/plain"};
    bytes = s_seal (fx, fx->alpha, fx->alpha_cert, &strict, "bank", "strict", strict_msg, &size);
    s_send_deliver (fx, 2, 11, bytes, size, NULL, 0);
    free (bytes);
    bytes = s_incident_msg (fx, fx->alpha, fx->alpha_cert, NULL, "amber", "high", NULL, "org:bank",
                            "amber report", amber_case, &size);
    s_send_deliver (fx, 3, 12, bytes, size, both, 2);
    free (bytes);
    s_settle (fx);
    assert_int_equal (fx->refused, 0);

    char red_text [CERTBUS_ID_STR_SIZE], strict_text [CERTBUS_ID_STR_SIZE],
        amber_text [CERTBUS_ID_STR_SIZE];
    certbus_id_format (red_case, red_text);
    certbus_id_format (strict_msg, strict_text);
    certbus_id_format (amber_case, amber_text);
    char *argv [1] = {red_text};
    node_args_t args = {.to = "org:charlie", .wait_s = 0, .argc = 1, .argv = argv};
    assert_int_not_equal (s_cli (fx, node_cmd_forward, &args, NULL), 0);
    argv [0] = strict_text;
    args = (node_args_t){.to = "org:charlie", .wait_s = 0, .argc = 1, .argv = argv};
    assert_int_not_equal (s_cli (fx, node_cmd_forward, &args, NULL), 0);
    args = (node_args_t){.to = "org:charlie", .wait_s = 0};
    assert_int_not_equal (s_incident (fx, &args, NULL, "escalate", red_text, NULL), 0);
    s_settle (fx);
    assert_int_equal (fx->published_count, 0); //  nothing went out

    //  Our update of the amber case, accepted; then the escalation
    char *file = s_file (fx, "update.txt", "bank's own words");
    args = (node_args_t){.status = "investigating", .wait_s = 0};
    assert_int_equal (s_incident (fx, &args, NULL, "update", amber_text, file, NULL), 0);
    s_await_published (fx, 1);
    certbus_envelope_t *env = s_published (fx, 0);
    uint8_t own_id [CERTBUS_ID_SIZE];
    memcpy (own_id, certbus_envelope_header (env)->id, CERTBUS_ID_SIZE);
    s_send_puback (fx, own_id, 13, both, 2);
    certbus_envelope_destroy (&env);
    s_settle (fx);
    s_forget_published (fx);
    //  alpha's node refused our update: its receipt says so and why, and
    //  so do our receipts
    certbus_ref_t receipt_ref = {.relation = "receipt-for"};
    memcpy (receipt_ref.id, own_id, CERTBUS_ID_SIZE);
    certbus_seal_opts_t receipt_opts = {.kind = "receipt",
                                        .tlp = "clear",
                                        .audience = "org:bank",
                                        .severity = "info",
                                        .content_type = "application/json",
                                        .refs = &receipt_ref,
                                        .ref_count = 1};
    uint8_t receipt_id [CERTBUS_ID_SIZE];
    size_t receipt_size;
    uint8_t *receipt = s_seal (fx, fx->alpha, fx->alpha_cert, &receipt_opts, "bank",
                               "{\"receipt_for\":\"-\",\"refused\":\"stale directory\"}",
                               receipt_id, &receipt_size);
    s_send_deliver (fx, 900, 900, receipt, receipt_size, NULL, 0);
    free (receipt);
    s_settle (fx);
    char own_text [CERTBUS_ID_STR_SIZE];
    certbus_id_format (own_id, own_text);
    char *receipts_argv [1] = {own_text};
    char *receipts_out = NULL;
    args = (node_args_t){.json = true, .argc = 1, .argv = receipts_argv};
    assert_int_equal (s_cli (fx, node_cmd_receipts, &args, &receipts_out), 0);
    assert_non_null (strstr (receipts_out, "\"org\":\"alpha\",\"state\":\"refused\""));
    assert_non_null (strstr (receipts_out, "stale directory"));
    free (receipts_out);
    args = (node_args_t){.to = "org:charlie", .wait_s = 0};
    assert_int_equal (s_incident (fx, &args, NULL, "escalate", amber_text, NULL), 0);
    s_await_published (fx, 2);
    //  First alpha's report, forwarded; then our update, as a new message
    env = s_published (fx, 0);
    const certbus_header_t *h = certbus_envelope_header (env);
    assert_string_equal (h->content_type, CERTBUS_FORWARD_TYPE);
    assert_int_equal (h->ref_count, 2);
    assert_string_equal (h->refs [1].relation, "forwards");
    assert_memory_equal (h->refs [1].id, amber_case, CERTBUS_ID_SIZE);
    certbus_envelope_destroy (&env);
    env = s_published (fx, 1);
    h = certbus_envelope_header (env);
    assert_string_equal (h->kind, "incident");
    assert_string_equal (h->content_type, "text/plain");
    assert_string_equal (h->tlp, "amber");
    assert_string_equal (h->severity, "high");
    assert_string_equal (h->case_status, "investigating");
    assert_string_equal (h->audience, "org:charlie");
    assert_int_equal (h->ref_count, 1);
    assert_string_equal (h->refs [0].relation, "updates");
    assert_memory_equal (h->refs [0].id, amber_case, CERTBUS_ID_SIZE);
    assert_memory_not_equal (h->id, own_id, CERTBUS_ID_SIZE);
    uint8_t *payload = NULL;
    size_t payload_size = 0;
    certbus_envelope_destroy (&env);
    certbus_identity_t *bank = NULL;
    char *secret = tu_path (fx->node_dir, "node.secret");
    bank = certbus_identity_load (secret);
    assert_int_equal (certbus_envelope_open (fx->published [1], fx->published_size [1],
                                             fx->directory, bank, "bank", certbus_now (), NULL,
                                             &payload, &payload_size),
                      CERTBUS_OK);
    assert_int_equal (payload_size, strlen ("bank's own words"));
    assert_memory_equal (payload, "bank's own words", payload_size);
    free (payload);
    certbus_identity_destroy (&bank);
    free (secret);
    free (file);
}

//  ---------------------------------------------------------------------
//  3. A revocation reaches every node at once

static char *
s_status (s_fx_t *fx)
{
    zstr_send (fx->node, "STATUS");
    return zstr_recv (fx->node);
}

//  Attack: the broker announced directory 2 (charlie revoked) but its
//  reply never reaches bank; charlie keeps sending. After the grace time
//  bank holds charlie's delivery unacknowledged, says so in status, and
//  `open` refuses; the directory arriving releases the delivery.
static void
test_directory_stale_holds (void **state)
{
    s_fx_t *fx = *state;
    s_node_start (fx, 200);
    uint64_t have = certbus_directory_serial (fx->directory);
    //  A sealed file from charlie, for open
    certbus_seal_opts_t opts = {.kind = "advisory",
                                .tlp = "amber",
                                .audience = "org:bank",
                                .severity = "low",
                                .content_type = "text/plain"};
    uint8_t file_id [CERTBUS_ID_SIZE], msg_id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *bytes = s_seal (fx, fx->charlie, fx->charlie_cert, &opts, "bank", "sealed file",
                             file_id, &size);
    char *cbe = tu_path (fx->dir, "file.cbe");
    assert_int_equal (certbus_file_write (cbe, bytes, size, 0600), 0);
    free (bytes);
    uint8_t *msg = s_seal (fx, fx->charlie, fx->charlie_cert, &opts, "bank", "delivered", msg_id,
                           &size);
    char *argv [1] = {cbe};
    node_args_t args = {.argc = 1, .argv = argv};
    assert_int_equal (s_cli (fx, node_cmd_open, &args, NULL), 0); //  fresh: opens

    //  The Council revokes charlie; the broker announces version 2
    assert_int_equal (council_revoke (fx->dir, "charlie", "key-compromise"), 0);
    s_export_directory (fx);
    assert_true (certbus_directory_serial (fx->directory) > have);
    s_send_ping (fx, 1, certbus_directory_serial (fx->directory));
    //  Within the grace time the node asks for it (the barrier's pings
    //  announce it too)...
    s_settle (fx);
    assert_true (fx->directory_requests >= 1);
    //  ...and after it, holds what arrives
    int64_t deadline = zclock_mono () + s_WAIT_MS;
    for (bool stale = false; !stale;) {
        assert_true (zclock_mono () < deadline);
        char *status = s_status (fx);
        stale = strstr (status, "\"directory_stale\":true") != NULL;
        zstr_free (&status);
        if (!stale)
            s_barrier (fx); //  answers the node's requests with nothing
    }
    s_send_deliver (fx, 1, 10, msg, size, NULL, 0);
    s_settle (fx);
    assert_false (s_was_acked (fx, 1));
    char *status = s_status (fx);
    assert_non_null (strstr (status, "\"directory_stale\":true"));
    assert_non_null (strstr (status, "is older than version"));
    zstr_free (&status);
    args = (node_args_t){.argc = 1, .argv = argv};
    assert_int_not_equal (s_cli (fx, node_cmd_open, &args, NULL), 0);
    //  The directory arrives: the delivery is judged with it (charlie is
    //  revoked: refused, and acknowledged as such)
    s_send_directory (fx);
    s_settle (fx);
    assert_true (s_was_acked (fx, 1));
    assert_int_equal (fx->refused, 1);
    status = s_status (fx);
    assert_non_null (strstr (status, "\"directory_stale\":false"));
    zstr_free (&status);
    free (msg);
    free (cbe);
}

//  Neighbour: the announcement comes in the broker's Hello, and the node
//  is stopped before it can fetch: the version it learned is persisted,
//  so `open` refuses while the daemon is down, until the directory is
//  imported.
static void
test_directory_known_persists (void **state)
{
    s_fx_t *fx = *state;
    certbus_seal_opts_t opts = {.kind = "advisory",
                                .tlp = "amber",
                                .audience = "org:bank",
                                .severity = "low",
                                .content_type = "text/plain"};
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *bytes = s_seal (fx, fx->alpha, fx->alpha_cert, &opts, "bank", "sealed", id, &size);
    char *cbe = tu_path (fx->dir, "file.cbe");
    assert_int_equal (certbus_file_write (cbe, bytes, size, 0600), 0);
    free (bytes);
    assert_int_equal (council_revoke (fx->dir, "charlie", "key-compromise"), 0);
    s_export_directory (fx); //  the Hello in s_node_start announces it
    s_node_start (fx, -1);
    assert_true (fx->directory_requests >= 1);
    zactor_destroy (&fx->node); //  never answered
    char *argv [1] = {cbe};
    node_args_t args = {.argc = 1, .argv = argv};
    assert_int_not_equal (s_cli (fx, node_cmd_open, &args, NULL), 0);
    args = (node_args_t){.json = true};
    char *out = NULL;
    assert_int_equal (s_cli (fx, node_cmd_status, &args, &out), 0);
    assert_non_null (strstr (out, "\"directory_stale\":true"));
    free (out);
    char *path = tu_path (fx->dir, "directory.cbd");
    args = (node_args_t){.import = path};
    assert_int_equal (s_cli (fx, node_cmd_directory, &args, NULL), 0);
    args = (node_args_t){.argc = 1, .argv = argv};
    assert_int_equal (s_cli (fx, node_cmd_open, &args, NULL), 0);
    free (path);
    free (cbe);
}

//  ---------------------------------------------------------------------
//  4. Output that cannot be forged; 5. files

//  Attack: a case status that closes the JSON string and adds a key, and
//  a payload with terminal escapes and a forged line
static void
test_output_cannot_be_forged (void **state)
{
    s_fx_t *fx = *state;
    s_node_start (fx, -1);
    uint8_t report [CERTBUS_ID_SIZE], update [CERTBUS_ID_SIZE];
    size_t size;
    const char *both [] = {"alpha", "bank"};
    uint8_t *bytes = s_incident_msg (fx, fx->alpha, fx->alpha_cert, NULL, "amber", "high", NULL,
                                     "org:bank", "report\n\x1b[2J\x1b[31mforged\r line", report,
                                     &size);
    s_send_deliver (fx, 1, 10, bytes, size, both, 2);
    free (bytes);
    bytes = s_incident_msg (fx, fx->alpha, fx->alpha_cert, report, "amber", "high", "closed",
                            "org:bank", "u", update, &size);
    //  A status no list holds, with quotes to break out of a JSON string:
    //  signed anew by alpha, and refused at decode (never stored, never shown)
    size_t forged_size;
    uint8_t *forged = s_forge (bytes, size, fx->alpha, 0, "closed\",\"forged\":\"1", NULL, 0,
                               &forged_size);
    s_send_deliver (fx, 2, 11, forged, forged_size, both, 2);
    free (forged);
    free (bytes);
    s_settle (fx);
    assert_true (s_was_acked (fx, 2));
    assert_int_equal (fx->refused, 1);
    char case_text [CERTBUS_ID_STR_SIZE];
    certbus_id_format (report, case_text);
    node_args_t args = {.json = true};
    char *out = NULL;
    assert_int_equal (s_incident (fx, &args, &out, "list", NULL), 0);
    assert_null (strstr (out, ",\"forged\":\"1\""));
    free (out);
    args = (node_args_t){0};
    assert_int_equal (s_incident (fx, &args, &out, "show", case_text, NULL), 0);
    assert_null (strchr (out, '\x1b'));
    assert_null (strchr (out, '\r'));
    assert_non_null (strstr (out, "forged")); //  shown, escaped
    free (out);
    args = (node_args_t){0};
    assert_int_equal (s_incident (fx, &args, &out, "list", NULL), 0);
    assert_null (strchr (out, '\x1b'));
    free (out);
    //  show keeps its contract: the payload byte for byte
    char *argv [1] = {case_text};
    args = (node_args_t){.argc = 1, .argv = argv};
    assert_int_equal (s_cli (fx, node_cmd_show, &args, &out), 0);
    assert_non_null (strchr (out, '\x1b'));
    free (out);
}

static void
test_files_private (void **state)
{
    s_fx_t *fx = *state;
    //  init tightens a folder that existed with wide modes
    char *dir = tu_path (fx->dir, "loose");
    assert_int_equal (mkdir (dir, 0777), 0);
    assert_int_equal (chmod (dir, 0777), 0);
    node_args_t args = {.dir = dir, .org = "loose"};
    assert_int_equal (s_cli (fx, node_cmd_init, &args, NULL), 0);
    struct stat st;
    assert_int_equal (stat (dir, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0700);
    free (dir);
    //  the control socket is 0600 even under umask 0
    mode_t old = umask (0);
    s_node_start (fx, -1);
    umask (old);
    char *ctl = tu_path (fx->node_dir, "node.ctl");
    assert_int_equal (stat (ctl, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    free (ctl);
}

//  An entry of the cmocka table: test runs between s_setup and s_teardown
#define s_TEST(test) cmocka_unit_test_setup_teardown (test, s_setup, s_teardown)

int
main (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    certbus_init ();
    const struct CMUnitTest tests [] = {
        s_TEST (test_case_order_and_tlp),
        s_TEST (test_case_tlp_without_report),
        s_TEST (test_case_participants_from_broker),
        s_TEST (test_case_participants_direct),
        s_TEST (test_forward_refusals),
        s_TEST (test_forward_and_escalate_sending),
        s_TEST (test_directory_stale_holds),
        s_TEST (test_directory_known_persists),
        s_TEST (test_output_cannot_be_forged),
        s_TEST (test_files_private),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
