/*  commands.c - the certbus-node commands, one function each
    SPDX-License-Identifier: MPL-2.0
*/
#include "commands.h"
#include "context.h"
#include "engine.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sodium.h>

static int
s_error (const char *format, ...) CERTBUS_PRINTF (1, 2);

//  Prints one line on stderr. Errors carry reasons and names that members
//  chose (a broker's rejection reason quotes a header), so the whole line
//  is escaped for the terminal: it can neither recolour the screen nor
//  forge a second line.
static int
s_error (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *text = NULL;
    if (vasprintf (&text, format, args) < 0)
        abort ();
    va_end (args);
    char *escaped = certbus_term_escape (text);
    fprintf (stderr, "certbus-node: %s\n", escaped);
    free (escaped);
    free (text);
    return 1;
}

//  Up to 16 escaped strings for one line of terminal output
typedef struct {
    char *strings [16];
    size_t count;
} s_esc_t;

static const char *
s_esc (s_esc_t *pool, const char *s)
{
    assert (pool->count < sizeof pool->strings / sizeof pool->strings [0]);
    return pool->strings [pool->count++] = certbus_term_escape (s);
}

static void
s_esc_free (s_esc_t *pool)
{
    for (size_t i = 0; i < pool->count; i++)
        free (pool->strings [i]);
    pool->count = 0;
}


//  Ranks for "never lowered": TLP and severity, lowest first
static const char *s_tlps [] = {"clear", "green", "amber", "amber+strict", "red"};
static const char *s_severities [] = {"info", "low", "medium", "high", "critical"};

static int
s_rank (const char *const *names, size_t count, const char *value)
{
    for (size_t i = 0; value && i < count; i++)
        if (streq (value, names [i]))
            return (int) i;
    return -1;
}

//  TLP red and amber+strict never travel further than their recipients
static bool
s_tlp_travels (const char *tlp)
{
    return s_rank (s_tlps, 5, tlp) < s_rank (s_tlps, 5, "amber+strict");
}

static int
s_fail (void)
{
    return s_error ("%s", *certbus_reason () ? certbus_reason () : "failed");
}

//  ---------------------------------------------------------------------
//  Talking to a running daemon

//  Sends request to the daemon's control socket and waits up to
//  timeout_ms for the reply. Returns NULL when no daemon answers.
static zmsg_t *
s_control (const char *dir, zmsg_t **request_p, int timeout_ms)
{
    zmsg_t *reply = NULL;
    char *endpoint = node_control_endpoint (dir);
    char *path = node_path (dir, NODE_CONTROL);
    bool exists = access (path, F_OK) == 0;
    free (path);
    if (endpoint && exists) {
        zsock_t *client = zsock_new (ZMQ_DEALER);
        zsock_set_linger (client, 0);
        zsock_set_sndtimeo (client, 1000);
        zsock_set_rcvtimeo (client, timeout_ms);
        if (zsock_connect (client, "%s", endpoint) == 0 && zmsg_send (request_p, client) == 0)
            reply = zmsg_recv (client);
        zsock_destroy (&client);
    }
    zmsg_destroy (request_p);
    free (endpoint);
    return reply;
}

static char *
s_daemon_status (const char *dir)
{
    zmsg_t *request = zmsg_new ();
    zmsg_addstr (request, "STATUS");
    zmsg_t *reply = s_control (dir, &request, 1500);
    char *json = reply ? zmsg_popstr (reply) : NULL;
    zmsg_destroy (&reply);
    return json;
}

//  ---------------------------------------------------------------------
//  init, enroll, directory

static int
s_write_conf (const char *dir, const char *org, const char *name, const char *broker)
{
    zconfig_t *root = zconfig_new ("root", NULL);
    zconfig_set_comment (root, " certbus node settings");
    zconfig_put (root, "node/org", org);
    zconfig_put (root, "node/name", name ? name : org);
    zconfig_put (root, "node/broker", broker ? broker : "");
    char *text = zconfig_str_save (root);
    zconfig_destroy (&root);
    char *path = node_path (dir, NODE_CONF);
    int rc = certbus_file_write (path, text, strlen (text), 0644);
    free (path);
    free (text);
    return rc;
}

int
node_cmd_init (node_args_t *args)
{
    if (!args->org)
        return s_error ("usage: certbus-node init --dir DIR --org ORG_ID [--name NAME]");
    if (!certbus_name_valid (args->org))
        return s_error ("org id '%s' is not valid: use a-z, 0-9, '.', '_' and '-'", args->org);
    if (mkdir (args->dir, 0700) != 0 && errno != EEXIST)
        return s_error ("cannot create %s: %s", args->dir, strerror (errno));
    //  A folder that existed already is tightened too: it holds the
    //  secret keys and the daemon's control socket
    if (chmod (args->dir, 0700) != 0)
        return s_error ("cannot restrict %s to mode 0700: %s", args->dir, strerror (errno));
    char *secret = node_path (args->dir, NODE_SECRET);
    char *request_path = node_path (args->dir, NODE_REQUEST);
    int rc = 1;
    certbus_identity_t *identity = NULL;
    uint8_t *request = NULL;
    size_t size;
    if (access (secret, F_OK) == 0) {
        s_error ("%s already holds a node identity (%s); refusing to overwrite it", args->dir,
                 NODE_SECRET);
        goto cleanup;
    }
    identity = certbus_identity_new ();
    if (certbus_request_make (identity, args->org, args->name, &request, &size)
        || certbus_identity_save (identity, secret)
        || certbus_file_write (request_path, request, size, 0644)
        || s_write_conf (args->dir, args->org, args->name, NULL)) {
        rc = s_fail ();
        goto cleanup;
    }
    node_ctx_t *ctx = node_ctx_open (args->dir, false);
    if (!ctx) {
        rc = s_fail ();
        goto cleanup;
    }
    node_ctx_destroy (&ctx);
    printf ("initialised node %s (key %s) in %s\nsend %s to the Council to be enrolled\n",
            args->org, certbus_identity_fingerprint (identity), args->dir, request_path);
    rc = 0;
cleanup:
    free (request);
    certbus_identity_destroy (&identity);
    free (secret);
    free (request_path);
    return rc;
}

static int
s_import_directory (node_ctx_t *ctx, const char *file)
{
    uint8_t *bytes;
    size_t size;
    if (certbus_file_read (file, CERTBUS_MAX_DIRECTORY, &bytes, &size))
        return s_fail ();
    certbus_err_t rc = node_ctx_set_directory (ctx, bytes, size);
    free (bytes);
    if (rc)
        return s_error ("directory %s refused: %s", file, certbus_reason ());
    return 0;
}

int
node_cmd_enroll (node_args_t *args)
{
    if (!args->cert || !args->broker || !args->council || !args->broker_key)
        return s_error ("usage: certbus-node enroll --dir DIR --cert CERT --broker ENDPOINT "
                        "--council COUNCIL_PUB --broker-key BROKER_PUB [--directory FILE]");
    node_ctx_t *ctx = node_ctx_open (args->dir, false);
    if (!ctx)
        return s_fail ();
    int rc = 1;
    uint8_t council [CERTBUS_KEY_SIZE], broker_sign [CERTBUS_KEY_SIZE],
        broker_curve [CERTBUS_KEY_SIZE];
    uint8_t *bytes = NULL;
    size_t size;
    certbus_cert_t *cert = NULL;
    char *council_path = node_path (args->dir, NODE_COUNCIL_PUB);
    char *broker_path = node_path (args->dir, NODE_BROKER_PUB);
    char *cert_path = node_path (args->dir, NODE_CERT);
    if (certbus_pubfile_read (args->council, council, NULL)
        || certbus_pubfile_read (args->broker_key, broker_sign, broker_curve)
        || certbus_file_read (args->cert, 64 * 1024, &bytes, &size)) {
        rc = s_fail ();
        goto cleanup;
    }
    if (certbus_cert_decode (bytes, size, council, &cert)) {
        rc = s_error ("certificate %s: %s", args->cert, certbus_reason ());
        goto cleanup;
    }
    if (strcmp (cert->org_id, ctx->org) != 0
        || memcmp (cert->sign_key, certbus_identity_sign_public (ctx->identity), CERTBUS_KEY_SIZE)
        || memcmp (cert->box_key, certbus_identity_box_public (ctx->identity), CERTBUS_KEY_SIZE)
        || memcmp (cert->curve_key, certbus_identity_curve_public (ctx->identity),
                   CERTBUS_KEY_SIZE)) {
        rc = s_error ("certificate %s is for '%s' with other keys, not for this node ('%s')",
                      args->cert, cert->org_id, ctx->org);
        goto cleanup;
    }
    if (certbus_cert_check_time (cert, certbus_now ())) {
        rc = s_fail ();
        goto cleanup;
    }
    if (certbus_pubfile_write (council_path, "council", council, NULL)
        || certbus_pubfile_write (broker_path, "broker", broker_sign, broker_curve)
        || certbus_file_write (cert_path, bytes, size, 0644)) {
        rc = s_fail ();
        goto cleanup;
    }
    char *name = strdup (cert->name);
    if (s_write_conf (args->dir, ctx->org, name, args->broker)) {
        free (name);
        rc = s_fail ();
        goto cleanup;
    }
    free (name);
    if (args->directory) {
        node_ctx_destroy (&ctx);
        ctx = node_ctx_open (args->dir, true);
        if (!ctx || s_import_directory (ctx, args->directory)) {
            rc = ctx ? 1 : s_fail ();
            goto cleanup;
        }
    }
    printf ("enrolled %s (%s%s%s%s%s, certificate %llu) with broker %s\n", cert->org_id,
            certbus_tier_name (cert->tier), *cert->sector ? ", sector " : "", cert->sector,
            *cert->region ? ", region " : "", cert->region, (unsigned long long) cert->serial,
            args->broker);
    rc = 0;
cleanup:
    certbus_cert_destroy (&cert);
    free (bytes);
    free (council_path);
    free (broker_path);
    free (cert_path);
    node_ctx_destroy (&ctx);
    return rc;
}

int
node_cmd_directory (node_args_t *args)
{
    node_ctx_t *ctx = node_ctx_open (args->dir, true);
    if (!ctx)
        return s_fail ();
    int rc = 0;
    if (args->import)
        rc = s_import_directory (ctx, args->import);
    if (rc == 0 && !ctx->directory)
        rc = s_error ("no directory yet: import one or run the node to fetch it");
    if (rc == 0) {
        certbus_directory_t *dir = ctx->directory;
        if (!args->json)
            printf ("directory version %llu, %zu members, %zu revoked\n",
                    (unsigned long long) certbus_directory_serial (dir),
                    certbus_directory_count (dir), certbus_directory_revocation_count (dir));
        for (size_t i = 0; i < certbus_directory_count (dir); i++) {
            const certbus_cert_t *cert = certbus_directory_at (dir, i);
            if (args->json) {
                certbus_sb_t sb = {0};
                certbus_sb_printf (&sb, "{\"org\":");
                certbus_sb_json_str (&sb, cert->org_id);
                certbus_sb_printf (&sb, ",\"serial\":%llu,\"tier\":",
                                   (unsigned long long) cert->serial);
                certbus_sb_json_str (&sb, certbus_tier_name (cert->tier));
                certbus_sb_printf (&sb, ",\"sector\":");
                certbus_sb_json_str (&sb, cert->sector);
                certbus_sb_printf (&sb, ",\"region\":");
                certbus_sb_json_str (&sb, cert->region);
                certbus_sb_printf (&sb, ",\"not_after\":%lld}", (long long) cert->not_after);
                printf ("%s\n", sb.data);
                certbus_sb_free (&sb);
            }
            else {
                s_esc_t e = {0};
                printf ("  %-24s %-13s %-12s %-12s serial %llu\n", s_esc (&e, cert->org_id),
                        certbus_tier_name (cert->tier),
                        *cert->sector ? s_esc (&e, cert->sector) : "-",
                        *cert->region ? s_esc (&e, cert->region) : "-",
                        (unsigned long long) cert->serial);
                s_esc_free (&e);
            }
        }
    }
    node_ctx_destroy (&ctx);
    return rc;
}

//  ---------------------------------------------------------------------
//  run

int
node_cmd_run (node_args_t *args)
{
    node_config_t config;
    node_config_defaults (&config);
    config.dir = args->dir;
    zsys_set_logident ("certbus-node");
    zsys_set_logstream (stderr);
    if (args->verbose)
        zsys_set_logsystem (true);
    zactor_t *engine = zactor_new (node_engine_actor, &config);
    char *status = zstr_recv (engine);
    if (!status || strcmp (status, "READY") != 0) {
        int rc = s_error ("%s", status && strlen (status) > 6 ? status + 6 : "engine did not start");
        zstr_free (&status);
        zactor_destroy (&engine);
        return rc;
    }
    zstr_free (&status);
    zpoller_t *poller = zpoller_new (engine, NULL);
    while (!zsys_interrupted) {
        zpoller_wait (poller, 500);
        if (zpoller_terminated (poller))
            break;
    }
    zsys_info ("node: shutting down");
    zpoller_destroy (&poller);
    zactor_destroy (&engine);
    char *ctl = node_path (args->dir, NODE_CONTROL);
    unlink (ctl);
    free (ctl);
    return 0;
}

//  ---------------------------------------------------------------------
//  publish and seal

static int
s_read_payload (node_args_t *args, uint8_t **payload_p, size_t *size_p)
{
    if (args->argc != 1)
        return s_error ("give one FILE, or - for standard input");
    const char *file = args->argv [0];
    int rc = streq (file, "-") ? certbus_stream_read (0, CERTBUS_MAX_PAYLOAD, payload_p, size_p)
                               : certbus_file_read (file, CERTBUS_MAX_PAYLOAD, payload_p, size_p);
    return rc ? s_fail () : 0;
}

//  Seals the payload named in args for its audience. Returns an exit code.
static int
s_seal (node_ctx_t *ctx, node_args_t *args, uint8_t id [CERTBUS_ID_SIZE], uint8_t **bytes_p,
        size_t *size_p, uint8_t **payload_p, size_t *payload_size_p)
{
    if (!args->kind || !args->tlp || !args->to)
        return s_error ("--kind, --tlp and --to are required");
    if (!ctx->directory)
        return s_error ("no directory yet: run certbus-node run (it fetches one from the "
                        "broker) or enroll with --directory FILE");
    uint8_t *payload;
    size_t size;
    if (s_read_payload (args, &payload, &size))
        return 1;
    certbus_seal_opts_t opts = {
        .kind = args->kind,
        .tlp = args->tlp,
        .audience = args->to,
        .topic = args->topic,
        .severity = args->severity,
        .content_type = args->type,
        .self_copy = true,
        .case_status = streq (args->kind, "incident") ? "reported" : NULL,
    };
    certbus_err_t rc = certbus_envelope_seal (ctx->identity, ctx->cert, ctx->directory, &opts,
                                              payload, size, id, bytes_p, size_p);
    if (rc == CERTBUS_OK && payload_p) {
        *payload_p = payload;
        *payload_size_p = size;
    }
    else
        free (payload);
    return rc ? s_fail () : 0;
}

//  Keeps the case participants the broker named in its acknowledgement of
//  our message id (as the daemon does for what it sends)
static void
s_keep_participants (node_ctx_t *ctx, const uint8_t *id, const Certbus__PubAck *ack)
{
    uint8_t case_id [CERTBUS_ID_SIZE];
    char *list = ack->n_participants
                     ? node_participants_join (ack->participants, ack->n_participants)
                     : NULL;
    if (list && node_store_outbox_case (ctx->store, id, case_id) == 1
        && node_store_case_participants_set (ctx->store, case_id, ack->sequence, list))
        s_fail ();
    free (list);
}

//  Sends one outbox row straight to the broker when no daemon runs, and
//  waits for its acknowledgement. Returns the state it reached.
static char *
s_publish_direct (node_ctx_t *ctx, const uint8_t *id, const uint8_t *envelope, size_t size,
                  int wait_ms, uint32_t *code_p, char **reason_p, char **rule_p)
{
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zsock_set_curve_serverkey_bin (dealer, ctx->broker_curve);
    zsock_set_curve_publickey_bin (dealer, certbus_identity_curve_public (ctx->identity));
    zsock_set_curve_secretkey_bin (dealer, certbus_identity_curve_secret (ctx->identity));
    zsock_set_linger (dealer, 0);
    zsock_set_sndtimeo (dealer, wait_ms);
    char *state = NULL;
    if (zsock_connect (dealer, "%s", ctx->endpoint) != 0) {
        *reason_p = zsys_sprintf ("cannot connect to %s", ctx->endpoint);
        zsock_destroy (&dealer);
        return strdup ("queued");
    }
    int64_t deadline = certbus_now_ms () + wait_ms;
    if (certbus_packet_send_publish (dealer, NULL, envelope, size) == 0) {
        node_store_outbox_sent (ctx->store, id, certbus_now_ms ());
        zpoller_t *poller = zpoller_new (dealer, NULL);
        while (!state && certbus_now_ms () < deadline) {
            if (!zpoller_wait (poller, (int) (deadline - certbus_now_ms ())))
                break;
            zframe_t *frame = zframe_recv (dealer);
            Certbus__Packet *reply = NULL;
            if (frame && certbus_packet_decode (frame, &reply) == CERTBUS_OK) {
                if (reply->body_case == CERTBUS__PACKET__BODY_PUBACK
                    && reply->puback->message_id.len == CERTBUS_ID_SIZE
                    && memcmp (reply->puback->message_id.data, id, CERTBUS_ID_SIZE) == 0) {
                    Certbus__PubAck *ack = reply->puback;
                    bool accepted = ack->status == CERTBUS__STATUS__STATUS_ACCEPTED
                                    || ack->status == CERTBUS__STATUS__STATUS_DUPLICATE;
                    bool retry = !accepted
                                 && (ack->code == CERTBUS_E_STORAGE_FULL
                                     || ack->code == CERTBUS_E_IO
                                     || ack->status != CERTBUS__STATUS__STATUS_REJECTED);
                    state = strdup (retry ? "queued" : accepted ? "accepted" : "rejected");
                    *code_p = ack->code;
                    *reason_p = strdup (ack->reason);
                    *rule_p = strdup (ack->rule);
                    if (!retry)
                        node_store_outbox_result (ctx->store, id, state, ack->code, ack->reason,
                                                  ack->rule, ack->sequence, ack->accepted_at);
                    if (accepted)
                        s_keep_participants (ctx, id, ack);
                }
                else if (reply->body_case == CERTBUS__PACKET__BODY_ERROR
                         && reply->error->code == CERTBUS_E_REVOKED) {
                    state = strdup ("rejected");
                    *code_p = reply->error->code;
                    *reason_p = strdup (reply->error->reason);
                }
            }
            certbus_codec_free (reply);
            zframe_destroy (&frame);
        }
        zpoller_destroy (&poller);
    }
    zsock_destroy (&dealer);
    if (!state) {
        state = strdup ("queued");
        if (!*reason_p)
            *reason_p = zsys_sprintf ("no broker reachable at %s", ctx->endpoint);
    }
    return state;
}

//  Puts a sealed envelope into the outbox and hands it to the broker, and
//  prints the outcome. While the daemon runs it does both (QUEUE on its
//  control socket), so that it stays the database's only writer; else
//  this process does. payload (may be NULL) is kept beside the outbox row.
//  Returns the exit code.
static int
s_submit (node_ctx_t *ctx, const uint8_t *id, const uint8_t *envelope, size_t size,
          const uint8_t *payload, size_t payload_size, int wait_s)
{
    int wait_ms = wait_s > 0 ? wait_s * 1000 : 1;
    char *state = NULL, *reason = NULL, *rule = NULL;
    uint32_t code = 0;
    char *status = s_daemon_status (ctx->dir);
    if (status) {
        free (status);
        zmsg_t *request = zmsg_new ();
        zmsg_addstr (request, "QUEUE");
        zmsg_addmem (request, id, CERTBUS_ID_SIZE);
        zmsg_addmem (request, envelope, size);
        zmsg_addmem (request, payload, payload ? payload_size : 0);
        zmsg_addstrf (request, "%d", wait_ms);
        zmsg_t *reply = s_control (ctx->dir, &request, wait_ms + 3000);
        if (reply && zmsg_size (reply) == 4) {
            state = zmsg_popstr (reply);
            char *code_text = zmsg_popstr (reply);
            code = (uint32_t) atoi (code_text);
            free (code_text);
            reason = zmsg_popstr (reply);
            rule = zmsg_popstr (reply);
        }
        zmsg_destroy (&reply);
    }
    char text [CERTBUS_ID_STR_SIZE];
    certbus_id_format (id, text);
    if (state && streq (state, "error")) {
        s_error ("could not queue %s: %s", text, reason ? reason : "unknown error");
        free (state);
        free (reason);
        free (rule);
        return 1;
    }
    if (!state) {
        //  No daemon, or no answer from it: into the outbox here, unless
        //  the daemon got as far as that
        char *known = NULL, *known_reason = NULL, *known_rule = NULL;
        uint32_t known_code;
        int found = node_store_outbox_get (ctx->store, id, &known, &known_code, &known_reason,
                                           &known_rule);
        free (known);
        free (known_reason);
        free (known_rule);
        if (found != 1 && node_ctx_queue (ctx, envelope, size, payload, payload_size) != 0) {
            free (reason);
            return s_fail ();
        }
        free (reason);
        reason = NULL;
        state = s_publish_direct (ctx, id, envelope, size, wait_ms, &code, &reason, &rule);
    }
    int rc = 0;
    if (streq (state, "accepted") || streq (state, "duplicate"))
        printf ("%s\n", text);
    else if (streq (state, "rejected")) {
        s_error ("the broker rejected %s: %s (%s)%s%s", text, reason ? reason : "",
                 certbus_err_name ((certbus_err_t) code), rule && *rule ? "; rule: " : "",
                 rule && *rule ? rule : "");
        rc = 1;
    }
    else {
        printf ("%s\n", text);
        s_error ("%s is queued in the outbox (%s); it will be sent when certbus-node run "
                 "reaches the broker",
                 text, reason ? reason : "no answer yet");
    }
    free (state);
    free (reason);
    free (rule);
    return rc;
}

int
node_cmd_publish (node_args_t *args)
{
    node_ctx_t *ctx = node_ctx_open (args->dir, true);
    if (!ctx)
        return s_fail ();
    uint8_t id [CERTBUS_ID_SIZE];
    uint8_t *bytes = NULL;
    size_t size = 0;
    uint8_t *payload = NULL;
    size_t payload_size = 0;
    int rc = s_seal (ctx, args, id, &bytes, &size, &payload, &payload_size);
    if (rc == 0)
        rc = s_submit (ctx, id, bytes, size, payload, payload_size, args->wait_s);
    free (payload);
    free (bytes);
    node_ctx_destroy (&ctx);
    return rc;
}

int
node_cmd_seal (node_args_t *args)
{
    if (!args->out)
        return s_error ("usage: certbus-node seal --dir DIR --kind K --tlp T --to AUDIENCE "
                        "FILE --out FILE.cbe");
    node_ctx_t *ctx = node_ctx_open (args->dir, true);
    if (!ctx)
        return s_fail ();
    uint8_t id [CERTBUS_ID_SIZE];
    uint8_t *bytes = NULL;
    size_t size = 0;
    int rc = s_seal (ctx, args, id, &bytes, &size, NULL, NULL);
    if (rc == 0 && certbus_file_write (args->out, bytes, size, 0644))
        rc = s_fail ();
    if (rc == 0) {
        char text [CERTBUS_ID_STR_SIZE];
        certbus_id_format (id, text);
        printf ("%s\n", text);
    }
    free (bytes);
    node_ctx_destroy (&ctx);
    return rc;
}

int
node_cmd_open (node_args_t *args)
{
    if (args->argc != 1)
        return s_error ("usage: certbus-node open --dir DIR FILE.cbe");
    node_ctx_t *ctx = node_ctx_open (args->dir, true);
    if (!ctx)
        return s_fail ();
    int rc = 1;
    uint8_t *bytes = NULL, *payload = NULL;
    size_t size, payload_size;
    certbus_envelope_t *env = NULL;
    uint64_t have = ctx->directory ? certbus_directory_serial (ctx->directory) : 0;
    uint64_t known = node_ctx_directory_known (ctx);
    if (!ctx->directory)
        rc = s_error ("no directory yet: import the Council's directory first");
    else if (known > have)
        //  A newer directory may revoke the sender: nothing opens until we have it
        rc = s_error ("directory %llu is older than version %llu, which the broker announced; "
                      "run certbus-node run or import the newer directory",
                      (unsigned long long) have, (unsigned long long) known);
    else if (certbus_file_read (args->argv [0], CERTBUS_MAX_ENVELOPE, &bytes, &size))
        rc = s_fail ();
    else {
        certbus_err_t err = certbus_envelope_open (bytes, size, ctx->directory, ctx->identity,
                                                   ctx->org, certbus_now (), &env, &payload,
                                                   &payload_size);
        if (err)
            rc = s_error ("cannot open %s: %s (%s)", args->argv [0], certbus_reason (),
                          certbus_err_name (err));
        else {
            fwrite (payload, 1, payload_size, stdout);
            fflush (stdout);
            rc = 0;
        }
    }
    free (bytes);
    free (payload);
    certbus_envelope_destroy (&env);
    node_ctx_destroy (&ctx);
    return rc;
}

//  ---------------------------------------------------------------------
//  inbox, show, tail

static void
s_message_json (const node_message_t *message, certbus_sb_t *sb)
{
    char id [CERTBUS_ID_STR_SIZE], created [40], accepted [40], received [40];
    certbus_id_format (message->id, id);
    certbus_time_format (message->created, created, sizeof created);
    certbus_time_format (message->accepted_at, accepted, sizeof accepted);
    certbus_time_format (message->received_at, received, sizeof received);
    certbus_sb_printf (sb, "{\"id\":\"%s\",\"origin\":", id);
    certbus_sb_json_str (sb, message->origin);
    certbus_sb_printf (sb, ",\"kind\":");
    certbus_sb_json_str (sb, message->kind);
    certbus_sb_printf (sb, ",\"tlp\":");
    certbus_sb_json_str (sb, message->tlp);
    certbus_sb_printf (sb, ",\"topic\":");
    certbus_sb_json_str (sb, message->topic);
    certbus_sb_printf (sb, ",\"severity\":");
    certbus_sb_json_str (sb, message->severity);
    certbus_sb_printf (sb, ",\"created\":\"%s\",\"type\":", created);
    certbus_sb_json_str (sb, message->type);
    certbus_sb_printf (sb, ",\"size\":%zu,\"audience\":", message->size);
    certbus_sb_json_str (sb, message->audience);
    certbus_sb_printf (sb, ",\"forwarders\":[");
    if (message->forwarders && *message->forwarders) {
        char *copy = strdup (message->forwarders), *save = NULL;
        bool first = true;
        for (char *f = strtok_r (copy, ",", &save); f; f = strtok_r (NULL, ",", &save)) {
            certbus_sb_printf (sb, "%s", first ? "" : ",");
            certbus_sb_json_str (sb, f);
            first = false;
        }
        free (copy);
    }
    certbus_sb_printf (sb, "]");
    if (message->note_size && message->note_size < 4096) {
        char *note = strndup ((const char *) message->note, message->note_size);
        if (note && certbus_utf8_valid (note, 4096)) {
            certbus_sb_printf (sb, ",\"note\":");
            certbus_sb_json_str (sb, note);
        }
        free (note);
    }
    certbus_sb_printf (sb, ",\"accepted\":\"%s\",\"received\":\"%s\",\"sequence\":%llu}",
                       accepted, received, (unsigned long long) message->msg_seq);
}

typedef struct {
    node_args_t *args;
    int64_t last;                    //  highest n seen
    int printed;
} s_list_t;

static int
s_run_exec (const char *command, const node_message_t *message)
{
    int fds [2];
    if (pipe (fds) != 0)
        return -1;
    pid_t pid = fork ();
    if (pid < 0) {
        close (fds [0]);
        close (fds [1]);
        return -1;
    }
    if (pid == 0) {
        char id [CERTBUS_ID_STR_SIZE], created [40], size [32];
        certbus_id_format (message->id, id);
        certbus_time_format (message->created, created, sizeof created);
        snprintf (size, sizeof size, "%zu", message->size);
        setenv ("CERTBUS_ID", id, 1);
        setenv ("CERTBUS_ORIGIN", message->origin ? message->origin : "", 1);
        setenv ("CERTBUS_KIND", message->kind ? message->kind : "", 1);
        setenv ("CERTBUS_TLP", message->tlp ? message->tlp : "", 1);
        setenv ("CERTBUS_TOPIC", message->topic ? message->topic : "", 1);
        setenv ("CERTBUS_SEVERITY", message->severity ? message->severity : "", 1);
        setenv ("CERTBUS_TYPE", message->type ? message->type : "", 1);
        setenv ("CERTBUS_CREATED", created, 1);
        setenv ("CERTBUS_SIZE", size, 1);
        setenv ("CERTBUS_FORWARDERS", message->forwarders ? message->forwarders : "", 1);
        dup2 (fds [0], 0);
        close (fds [0]);
        close (fds [1]);
        execl ("/bin/sh", "sh", "-c", command, (char *) NULL);
        _exit (127);
    }
    close (fds [0]);
    signal (SIGPIPE, SIG_IGN);
    const uint8_t *cursor = message->payload;
    size_t left = message->size;
    while (left) {
        ssize_t n = write (fds [1], cursor, left);
        if (n <= 0)
            break;
        cursor += n;
        left -= (size_t) n;
    }
    close (fds [1]);
    int status = 0;
    waitpid (pid, &status, 0);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static int
s_print_message (void *arg, const node_message_t *message)
{
    s_list_t *list = arg;
    list->last = message->n;
    list->printed++;
    char id [CERTBUS_ID_STR_SIZE];
    certbus_id_format (message->id, id);
    if (list->args->exec) {
        int status = s_run_exec (list->args->exec, message);
        if (status != 0)
            s_error ("--exec for %s exited with %d", id, status);
    }
    else if (list->args->json) {
        certbus_sb_t sb = {0};
        s_message_json (message, &sb);
        printf ("%s\n", sb.data);
        certbus_sb_free (&sb);
    }
    else {
        char received [40];
        certbus_time_format (message->received_at, received, sizeof received);
        bool critical = message->severity && streq (message->severity, "critical");
        s_esc_t e = {0};
        printf ("%s%s  %-20s %-10s %-12s %-8s %8zu  %s  %s%s%s\n", critical ? "!! " : "", id,
                s_esc (&e, message->origin), s_esc (&e, message->kind),
                s_esc (&e, message->tlp), s_esc (&e, message->severity), message->size,
                received, s_esc (&e, message->topic),
                message->forwarders && *message->forwarders ? "  via " : "",
                s_esc (&e, message->forwarders));
        s_esc_free (&e);
    }
    fflush (stdout);
    return list->args->count > 0 && list->printed >= list->args->count ? 1 : 0;
}

int
node_cmd_inbox (node_args_t *args)
{
    node_ctx_t *ctx = node_ctx_open (args->dir, true);
    if (!ctx)
        return s_fail ();
    s_list_t list = {args, 0, 0};
    int rows = node_store_inbox_list (ctx->store, 0, args->kind, INT32_MAX, s_print_message,
                                      &list);
    node_ctx_destroy (&ctx);
    return rows < 0 ? s_fail () : 0;
}

static int
s_write_payload (void *arg, const node_message_t *message)
{
    (void) arg;
    fwrite (message->payload, 1, message->size, stdout);
    fflush (stdout);
    return 0;
}

int
node_cmd_show (node_args_t *args)
{
    uint8_t id [CERTBUS_ID_SIZE];
    if (args->argc != 1 || certbus_id_parse (args->argv [0], id) != 0)
        return s_error ("usage: certbus-node show --dir DIR MESSAGE_ID");
    node_ctx_t *ctx = node_ctx_open (args->dir, true);
    if (!ctx)
        return s_fail ();
    int found = node_store_inbox_get (ctx->store, id, s_write_payload, NULL);
    node_ctx_destroy (&ctx);
    if (found < 0)
        return s_fail ();
    if (found == 0)
        return s_error ("no message %s in the inbox", args->argv [0]);
    return 0;
}

int
node_cmd_tail (node_args_t *args)
{
    node_ctx_t *ctx = node_ctx_open (args->dir, true);
    if (!ctx)
        return s_fail ();
    s_list_t list = {args, args->all ? 0 : node_store_inbox_last (ctx->store), 0};
    int64_t deadline = args->timeout_s > 0 ? certbus_now_ms () + args->timeout_s * 1000LL : 0;
    int rc = 0;
    //  The inbox is the source of truth whether or not the daemon runs, so
    //  tail follows the database: new rows appear as the daemon commits them.
    while (!zsys_interrupted) {
        int rows = node_store_inbox_list (ctx->store, list.last, args->kind, 256,
                                          s_print_message, &list);
        if (rows < 0) {
            rc = s_fail ();
            break;
        }
        if (args->count > 0 && list.printed >= args->count)
            break;
        if (deadline && certbus_now_ms () >= deadline) {
            rc = args->count > 0 ? 1 : 0;
            if (rc)
                s_error ("timed out after %d messages", list.printed);
            break;
        }
        if (rows == 0)
            zclock_sleep (100);   //  polling interval of the database
    }
    node_ctx_destroy (&ctx);
    return rc;
}

//  ---------------------------------------------------------------------
//  status

int
node_cmd_status (node_args_t *args)
{
    char *json = s_daemon_status (args->dir);
    if (json) {
        if (args->json)
            printf ("%s\n", json);
        else {
            char org [CERTBUS_MAX_NAME + 1], broker [256], error [256];
            certbus_json_string (json, "org", org, sizeof org);
            certbus_json_string (json, "broker", broker, sizeof broker);
            certbus_json_string (json, "last_error", error, sizeof error);
            bool connected = strstr (json, "\"connected\":true") != NULL;
            bool stale = strstr (json, "\"directory_stale\":true") != NULL;
            long long have = certbus_json_number (json, "directory");
            long long known = certbus_json_number (json, "directory_known");
            char directory [160];
            snprintf (directory, sizeof directory, "%lld%s", have,
                      known > have ? stale ? " (STALE: the broker announced a newer version, "
                                             "deliveries are held)"
                                           : " (fetching the newer version the broker announced)"
                                   : "");
            s_esc_t e = {0};
            printf ("certbus-node: %s running\n"
                    "  broker              %s (%s, last heard %lld ms ago)\n"
                    "  directory version   %s\n"
                    "  outbox              %lld pending, %lld rejected\n"
                    "  inbox               %lld messages (%lld delivered this run, %lld refused)\n"
                    "  reconnects          %lld\n"
                    "  last error          %s\n",
                    s_esc (&e, org), s_esc (&e, broker), connected ? "connected" : "NOT connected",
                    certbus_json_number (json, "broker_silent_ms"), directory,
                    certbus_json_number (json, "outbox_pending"),
                    certbus_json_number (json, "outbox_rejected"), certbus_json_number (json, "inbox"),
                    certbus_json_number (json, "delivered"), certbus_json_number (json, "refused"),
                    certbus_json_number (json, "reconnects"), *error ? s_esc (&e, error) : "none");
            s_esc_free (&e);
        }
        free (json);
        return 0;
    }
    node_ctx_t *ctx = node_ctx_open (args->dir, false);
    if (!ctx)
        return s_fail ();
    unsigned long long version
        = ctx->directory ? (unsigned long long) certbus_directory_serial (ctx->directory) : 0;
    long long pending = node_store_outbox_count (ctx->store, "pending");
    long long inbox = node_store_inbox_count (ctx->store);
    unsigned long long known = (unsigned long long) node_ctx_directory_known (ctx);
    if (args->json) {
        certbus_sb_t sb = {0};
        certbus_sb_printf (&sb, "{\"org\":");
        certbus_sb_json_str (&sb, ctx->org);
        certbus_sb_printf (&sb, ",\"running\":false,\"enrolled\":%s,\"broker\":",
                           ctx->cert ? "true" : "false");
        certbus_sb_json_str (&sb, ctx->endpoint);
        certbus_sb_printf (&sb,
                           ",\"directory\":%llu,\"directory_known\":%llu,"
                           "\"directory_stale\":%s,\"outbox_pending\":%lld,\"inbox\":%lld}",
                           version, known, known > version ? "true" : "false", pending, inbox);
        printf ("%s\n", sb.data);
        certbus_sb_free (&sb);
    }
    else {
        s_esc_t e = {0};
        printf ("certbus-node: %s not running\nenrolled: %s\nbroker: %s\ndirectory version: "
                "%llu%s\noutbox pending: %lld\ninbox: %lld\n",
                s_esc (&e, ctx->org), ctx->cert ? "yes" : "no",
                *ctx->endpoint ? s_esc (&e, ctx->endpoint) : "-", version,
                known > version ? " (STALE: the broker announced a newer version)" : "", pending,
                inbox);
        s_esc_free (&e);
    }
    node_ctx_destroy (&ctx);
    return 0;
}

//  ---------------------------------------------------------------------
//  forward, receipts, audit prove

typedef struct {
    uint8_t *envelope;
    size_t size;
    const char *org;                 //  our org id
    bool own;                        //  the message's origin is us
} s_found_t;

static int
s_keep_envelope (void *arg, const node_message_t *message)
{
    s_found_t *found = arg;
    found->envelope = malloc (message->envelope_size ? message->envelope_size : 1);
    if (!found->envelope)
        abort ();
    memcpy (found->envelope, message->envelope, message->envelope_size);
    found->size = message->envelope_size;
    found->own = message->origin && streq (message->origin, found->org);
    return 0;
}

int
node_cmd_forward (node_args_t *args)
{
    uint8_t id [CERTBUS_ID_SIZE];
    if (args->argc != 1 || certbus_id_parse (args->argv [0], id) != 0 || !args->to)
        return s_error ("usage: certbus-node forward --dir DIR MESSAGE_ID --to AUDIENCE "
                        "[--note FILE]");
    node_ctx_t *ctx = node_ctx_open (args->dir, true);
    if (!ctx)
        return s_fail ();
    int rc = 1;
    s_found_t found = {.org = ctx->org};
    certbus_envelope_t *original = NULL;
    uint8_t *note = NULL, *payload = NULL, *bytes = NULL;
    size_t note_size = 0, payload_size = 0, size = 0;
    if (!ctx->directory) {
        rc = s_error ("no directory yet");
        goto cleanup;
    }
    int got = node_store_inbox_get (ctx->store, id, s_keep_envelope, &found);
    if (got != 1) {
        rc = got < 0 ? s_fail () : s_error ("no message %s in the inbox", args->argv [0]);
        goto cleanup;
    }
    if (args->note && certbus_file_read (args->note, 64 * 1024, &note, &note_size)) {
        rc = s_fail ();
        goto cleanup;
    }
    //  The stored envelope is opened again: it yields the content key that
    //  the new recipients need to read the original themselves.
    if (certbus_envelope_decode (found.envelope, found.size, &original)
        || certbus_envelope_verify (original, ctx->directory, certbus_now (), NULL)) {
        rc = s_error ("cannot forward %s: %s", args->argv [0], certbus_reason ());
        goto cleanup;
    }
    const certbus_header_t *header = certbus_envelope_header (original);
    if (!s_tlp_travels (header->tlp)) {
        rc = s_error ("cannot forward %s: TLP %s may not be forwarded: it never travels "
                      "further than the recipients its origin chose",
                      args->argv [0], header->tlp);
        goto cleanup;
    }
    if (found.own) {
        rc = s_error ("cannot forward %s: it is this node's own message; publish it again to "
                      "the new audience instead",
                      args->argv [0]);
        goto cleanup;
    }
    if (certbus_forward_wrap (original, ctx->identity, ctx->org, note, note_size, "text/plain",
                              &payload, &payload_size)) {
        rc = s_error ("cannot forward %s: %s", args->argv [0], certbus_reason ());
        goto cleanup;
    }
    certbus_ref_t ref = {.relation = "forwards"};
    memcpy (ref.id, header->id, CERTBUS_ID_SIZE);
    certbus_seal_opts_t opts = {.kind = header->kind,
                                .tlp = header->tlp,
                                .audience = args->to,
                                .topic = header->topic,
                                .severity = header->severity,
                                .content_type = CERTBUS_FORWARD_TYPE,
                                .refs = &ref,
                                .ref_count = 1,
                                .self_copy = true};
    uint8_t new_id [CERTBUS_ID_SIZE];
    if (certbus_envelope_seal (ctx->identity, ctx->cert, ctx->directory, &opts, payload,
                               payload_size, new_id, &bytes, &size)) {
        rc = s_fail ();
        goto cleanup;
    }
    rc = s_submit (ctx, new_id, bytes, size, NULL, 0, args->wait_s);
cleanup:
    certbus_envelope_destroy (&original);
    free (found.envelope);
    free (note);
    free (payload);
    free (bytes);
    node_ctx_destroy (&ctx);
    return rc;
}

typedef struct {
    bool json;
    zhashx_t *have;                  //  org -> 1, those with a receipt
    certbus_sb_t out;
    size_t refused;                  //  of them, receipts that say "refused"
} s_receipts_t;

static void
s_print_receipt (void *arg, const char *org, int64_t received_at, const char *refused)
{
    s_receipts_t *r = arg;
    char when [40];
    certbus_time_format (received_at, when, sizeof when);
    zhashx_insert (r->have, org, (void *) 1);
    if (refused)
        r->refused++;
    if (r->json) {
        certbus_sb_t sb = {0};
        certbus_sb_printf (&sb, "{\"org\":");
        certbus_sb_json_str (&sb, org);
        certbus_sb_printf (&sb, ",\"state\":\"%s\",\"time\":\"%s\"",
                           refused ? "refused" : "received", when);
        if (refused) {
            certbus_sb_printf (&sb, ",\"reason\":");
            certbus_sb_json_str (&sb, refused);
        }
        certbus_sb_printf (&sb, "}");
        printf ("%s\n", sb.data);
        certbus_sb_free (&sb);
    }
    else {
        char *escaped = certbus_term_escape (org);
        char *reason = certbus_term_escape (refused);
        printf ("  %-28s %s  %s%s%s\n", escaped, refused ? "refused " : "received", when,
                refused ? "  " : "", reason);
        free (escaped);
        free (reason);
    }
}

int
node_cmd_receipts (node_args_t *args)
{
    uint8_t id [CERTBUS_ID_SIZE];
    if (args->argc != 1 || certbus_id_parse (args->argv [0], id) != 0)
        return s_error ("usage: certbus-node receipts --dir DIR MESSAGE_ID [--json]");
    node_ctx_t *ctx = node_ctx_open (args->dir, true);
    if (!ctx)
        return s_fail ();
    s_receipts_t r = {args->json, zhashx_new (), {0}, 0};
    char *recipients = NULL;
    int found = node_store_receipts (ctx->store, id, &recipients, s_print_receipt, &r);
    int rc = 0;
    if (found < 0)
        rc = s_fail ();
    else if (found == 0)
        rc = s_error ("%s is not a message this node published", args->argv [0]);
    else {
        size_t pending = 0;
        char *save = NULL;
        for (char *org = strtok_r (recipients, "\n", &save); org;
             org = strtok_r (NULL, "\n", &save)) {
            if (zhashx_lookup (r.have, org) || streq (org, ctx->org))
                continue;   //  our own copy needs no receipt
            pending++;
            if (args->json) {
                certbus_sb_t sb = {0};
                certbus_sb_printf (&sb, "{\"org\":");
                certbus_sb_json_str (&sb, org);
                certbus_sb_printf (&sb, ",\"state\":\"pending\"}");
                printf ("%s\n", sb.data);
                certbus_sb_free (&sb);
            }
            else {
                char *escaped = certbus_term_escape (org);
                printf ("  %-28s pending\n", escaped);
                free (escaped);
            }
        }
        if (!args->json && r.refused)
            printf ("%zu received, %zu refused, %zu pending\n", zhashx_size (r.have) - r.refused,
                    r.refused, pending);
        else if (!args->json)
            printf ("%zu received, %zu pending\n", zhashx_size (r.have), pending);
    }
    free (recipients);
    zhashx_destroy (&r.have);
    node_ctx_destroy (&ctx);
    return rc;
}

//  Asks the broker for proofs about message id (one request on a
//  connection of its own) and verifies them against the last tree head
//  this node has seen; keeps the newer head.
int
node_cmd_audit (node_args_t *args)
{
    uint8_t id [CERTBUS_ID_SIZE];
    if (args->argc != 2 || !streq (args->argv [0], "prove")
        || certbus_id_parse (args->argv [1], id) != 0)
        return s_error ("usage: certbus-node audit prove --dir DIR MESSAGE_ID");
    node_ctx_t *ctx = node_ctx_open (args->dir, true);
    if (!ctx)
        return s_fail ();
    int rc = 1;
    certbus_tree_head_t old_head = {0}, head;
    bool have_old = false;
    uint8_t *old_bytes = NULL;
    size_t old_size;
    if (node_store_blob_get (ctx->store, "tree_head", &old_bytes, &old_size) == 0)
        have_old = certbus_tree_head_verify (old_bytes, old_size, ctx->broker_sign, &old_head)
                   == CERTBUS_OK;
    free (old_bytes);
    //  A message that reached us inside a forward: the broker proves only
    //  to a message's publisher and recipients, and we were a recipient of
    //  the forward, which carries the origin's signed envelope. So the
    //  forward is what is proved.
    uint8_t *held = NULL;
    size_t held_size = 0;
    certbus_envelope_t *outer = NULL;
    char via [CERTBUS_ID_STR_SIZE] = "";
    if (node_store_inbox_envelope (ctx->store, id, &held, &held_size) == 1
        && certbus_envelope_decode (held, held_size, &outer) == CERTBUS_OK
        && memcmp (certbus_envelope_header (outer)->id, id, CERTBUS_ID_SIZE) != 0) {
        memcpy (id, certbus_envelope_header (outer)->id, CERTBUS_ID_SIZE);
        certbus_id_format (id, via);
    }
    certbus_envelope_destroy (&outer);
    free (held);
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zsock_set_curve_serverkey_bin (dealer, ctx->broker_curve);
    zsock_set_curve_publickey_bin (dealer, certbus_identity_curve_public (ctx->identity));
    zsock_set_curve_secretkey_bin (dealer, certbus_identity_curve_secret (ctx->identity));
    zsock_set_linger (dealer, 0);
    zsock_set_sndtimeo (dealer, 5000);
    zsock_set_rcvtimeo (dealer, 10000);
    Certbus__Packet *reply = NULL;
    zframe_t *frame = NULL;
    Certbus__ProofRequest request = CERTBUS__PROOF_REQUEST__INIT;
    request.message_id.data = id;
    request.message_id.len = sizeof id;
    request.old_size = have_old ? old_head.size : 0;
    Certbus__Packet packet = CERTBUS__PACKET__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_PROOF_REQUEST;
    packet.proof_request = &request;
    if (zsock_connect (dealer, "%s", ctx->endpoint) != 0
        || certbus_packet_send (dealer, NULL, &packet) != 0) {
        rc = s_error ("cannot reach the broker at %s", ctx->endpoint);
        goto cleanup;
    }
    //  Skip anything but the proof (an error, or nothing, says why)
    while (!reply) {
        frame = zframe_recv (dealer);
        if (!frame) {
            rc = s_error ("no answer from the broker at %s", ctx->endpoint);
            goto cleanup;
        }
        Certbus__Packet *packet_in = NULL;
        if (certbus_packet_decode (frame, &packet_in) == CERTBUS_OK) {
            if (packet_in->body_case == CERTBUS__PACKET__BODY_PROOF_REPLY)
                reply = packet_in;
            else if (packet_in->body_case == CERTBUS__PACKET__BODY_ERROR) {
                rc = s_error ("the broker refused: %s", packet_in->error->reason);
                certbus_codec_free (packet_in);
                goto cleanup;
            }
            else
                certbus_codec_free (packet_in);
        }
        zframe_destroy (&frame);
    }
    Certbus__ProofReply *proof = reply->proof_reply;
    if (proof->code) {
        rc = s_error ("the broker cannot prove it: %s", proof->reason);
        goto cleanup;
    }
    if (certbus_tree_head_verify (proof->tree_head.data, proof->tree_head.len, ctx->broker_sign,
                                  &head)) {
        rc = s_error ("tree head refused: %s", certbus_reason ());
        goto cleanup;
    }
    //  The record must be the accepted publish of this very message
    Certbus__AuditRecord *record = NULL;
    if (certbus_codec_decode (&certbus__audit_record__descriptor, proof->leaf.data,
                              proof->leaf.len, CERTBUS_MAX_PACKET, CERTBUS_MAX_REPEATED,
                              (void **) &record)) {
        rc = s_error ("audit record does not decode: %s", certbus_reason ());
        goto cleanup;
    }
    bool matches = record->message_id.len == CERTBUS_ID_SIZE
                   && memcmp (record->message_id.data, id, CERTBUS_ID_SIZE) == 0
                   && streq (record->event, "publish") && record->index == proof->leaf_index;
    char origin [CERTBUS_MAX_NAME + 1];
    snprintf (origin, sizeof origin, "%s", record->org);
    certbus_codec_free (record);
    if (!matches) {
        rc = s_error ("the broker proved a record of another message");
        goto cleanup;
    }
    uint8_t leaf [32], path [CERTBUS_MERKLE_PROOF_MAX_BYTES];
    certbus_merkle_leaf_hash (leaf, proof->leaf.data, proof->leaf.len);
    size_t path_len = 0;
    for (size_t i = 0; i < proof->n_inclusion && i < CERTBUS_MERKLE_PROOF_MAX; i++) {
        if (proof->inclusion [i].len != 32) {
            path_len = SIZE_MAX;
            break;
        }
        memcpy (path + path_len, proof->inclusion [i].data, 32);
        path_len += 32;
    }
    if (path_len == SIZE_MAX || proof->n_inclusion > CERTBUS_MERKLE_PROOF_MAX
        || certbus_merkle_verify_inclusion (leaf, 32, proof->leaf_index, head.size, path, path_len,
                                            head.root, 32)) {
        rc = s_error ("inclusion proof FAILED: %s", certbus_reason ());
        goto cleanup;
    }
    if (have_old) {
        if (head.size < old_head.size) {
            rc = s_error ("the broker's tree head (size %llu) is older than one already seen "
                          "(size %llu): the log was rolled back",
                          (unsigned long long) head.size, (unsigned long long) old_head.size);
            goto cleanup;
        }
        path_len = 0;
        for (size_t i = 0; i < proof->n_consistency && i < CERTBUS_MERKLE_PROOF_MAX; i++) {
            if (proof->consistency [i].len != 32) {
                path_len = SIZE_MAX;
                break;
            }
            memcpy (path + path_len, proof->consistency [i].data, 32);
            path_len += 32;
        }
        if (path_len == SIZE_MAX || proof->n_consistency > CERTBUS_MERKLE_PROOF_MAX
            || certbus_merkle_verify_consistency (old_head.size, head.size, path, path_len,
                                                  old_head.root, 32, head.root, 32)) {
            rc = s_error ("consistency proof FAILED from size %llu to %llu: %s",
                          (unsigned long long) old_head.size, (unsigned long long) head.size,
                          certbus_reason ());
            goto cleanup;
        }
    }
    if (node_store_blob_set (ctx->store, "tree_head", proof->tree_head.data, proof->tree_head.len)) {
        rc = s_fail ();
        goto cleanup;
    }
    char root_hex [65];
    certbus_hex (head.root, 32, root_hex);
    s_esc_t e = {0};
    if (*via)
        printf ("message %s reached us forwarded in %s: proving that forward\n",
                args->argv [1], via);
    printf ("message %s (publish by %s) is record %llu of the audit log\n"
            "inclusion proof verified against the signed tree head of size %llu, root %s\n",
            *via ? via : args->argv [1], s_esc (&e, origin),
            (unsigned long long) proof->leaf_index, (unsigned long long) head.size, root_hex);
    if (have_old)
        printf ("consistency proof verified from the head seen before (size %llu)\n",
                (unsigned long long) old_head.size);
    s_esc_free (&e);
    rc = 0;
cleanup:
    certbus_codec_free (reply);
    zframe_destroy (&frame);
    zsock_destroy (&dealer);
    node_ctx_destroy (&ctx);
    return rc;
}

//  ---------------------------------------------------------------------
//  incident list | show | update | escalate

static const char *s_statuses [] = {"reported",  "acknowledged", "investigating", "contained",
                                    "resolved",  "closed",       "reopened"};

static bool
s_status_valid (const char *status)
{
    for (size_t i = 0; status && i < sizeof s_statuses / sizeof s_statuses [0]; i++)
        if (streq (status, s_statuses [i]))
            return true;
    return false;
}

//  Replaces *field with value when value ranks higher (or *field is unset)
static void
s_raise (char **field, const char *const *names, size_t count, const char *value)
{
    int rank = s_rank (names, count, value);
    if (rank < 0 || (*field && s_rank (names, count, *field) >= rank))
        return;
    free (*field);
    *field = strdup (value);
}

static void
s_replace (char **field, const char *value)
{
    free (*field);
    *field = strdup (value ? value : "");
}

//  What a case thread adds up to
typedef struct {
    const uint8_t *case_id;
    size_t count;
    bool have_report;                //  we hold the entry whose id is the case id
    char *reporter, *topic;          //  the report's (else the first entry's)
    char *severity, *tlp;            //  the highest of the thread: never lowered
    char *status, *assign;           //  of the latest entry in broker order with one
    int64_t opened, updated;         //  broker accept times (signed time when unknown)
    zhashx_t *origins;               //  org -> 1: every sender of a message we hold
} s_case_t;

static int
s_case_collect (void *arg, const node_thread_entry_t *entry)
{
    s_case_t *c = arg;
    int64_t when = entry->accepted_at ? entry->accepted_at : entry->created;
    bool report = memcmp (entry->id, c->case_id, CERTBUS_ID_SIZE) == 0;
    if (c->count++ == 0 || (report && !c->have_report)) {
        s_replace (&c->reporter, entry->origin);
        s_replace (&c->topic, entry->topic);
        c->opened = when;
    }
    c->have_report = c->have_report || report;
    //  Every entry can only raise them: a member that signs an early time
    //  or a lower TLP on its update changes neither
    s_raise (&c->tlp, s_tlps, 5, entry->tlp);
    s_raise (&c->severity, s_severities, 5, entry->severity);
    if (entry->status && *entry->status)
        s_replace (&c->status, entry->status);
    if (entry->assign && *entry->assign)
        s_replace (&c->assign, entry->assign);
    if (when > c->updated)
        c->updated = when;
    if (c->origins && entry->origin)
        zhashx_insert (c->origins, entry->origin, (void *) 1);
    return 0;
}

static void
s_case_free (s_case_t *c)
{
    free (c->reporter);
    free (c->severity);
    free (c->topic);
    free (c->tlp);
    free (c->status);
    free (c->assign);
    zhashx_destroy (&c->origins);
}

typedef struct {
    node_ctx_t *ctx;
    node_args_t *args;
} s_cases_t;

static int
s_list_case (void *arg, const uint8_t *case_id)
{
    s_cases_t *cases = arg;
    s_case_t c = {.case_id = case_id};
    node_store_case_thread (cases->ctx->store, case_id, cases->ctx->org, s_case_collect, &c);
    const char *status = c.status ? c.status : "reported";
    if (!cases->args->status || streq (cases->args->status, status)) {
        char id [CERTBUS_ID_STR_SIZE], opened [40], updated [40];
        certbus_id_format (case_id, id);
        certbus_time_format (c.opened, opened, sizeof opened);
        certbus_time_format (c.updated, updated, sizeof updated);
        if (cases->args->json) {
            certbus_sb_t sb = {0};
            certbus_sb_printf (&sb, "{\"case\":\"%s\",\"reporter\":", id);
            certbus_sb_json_str (&sb, c.reporter);
            certbus_sb_printf (&sb, ",\"severity\":");
            certbus_sb_json_str (&sb, c.severity ? c.severity : "");
            certbus_sb_printf (&sb, ",\"tlp\":");
            certbus_sb_json_str (&sb, c.tlp ? c.tlp : "");
            certbus_sb_printf (&sb, ",\"status\":");
            certbus_sb_json_str (&sb, status);
            certbus_sb_printf (&sb, ",\"assigned\":");
            certbus_sb_json_str (&sb, c.assign ? c.assign : "");
            certbus_sb_printf (&sb, ",\"topic\":");
            certbus_sb_json_str (&sb, c.topic);
            certbus_sb_printf (&sb, ",\"opened\":\"%s\",\"updated\":\"%s\",\"messages\":%zu}",
                               opened, updated, c.count);
            printf ("%s\n", sb.data);
            certbus_sb_free (&sb);
        }
        else {
            s_esc_t e = {0};
            printf ("%s  %-14s %-9s %-13s %3zu msgs  opened %s  %s\n", id, s_esc (&e, c.reporter),
                    s_esc (&e, c.severity), s_esc (&e, status), c.count, opened,
                    s_esc (&e, c.topic));
            s_esc_free (&e);
        }
    }
    s_case_free (&c);
    return 0;
}

typedef struct {
    bool json;
    size_t n;
} s_show_t;

static int
s_show_entry (void *arg, const node_thread_entry_t *entry)
{
    s_show_t *show = arg;
    char id [CERTBUS_ID_STR_SIZE], when [40];
    certbus_id_format (entry->id, id);
    certbus_time_format (entry->created, when, sizeof when);
    char *text = entry->payload ? strndup ((const char *) entry->payload, entry->size) : strdup ("");
    bool printable = text && strlen (text) == entry->size && certbus_utf8_valid (text, SIZE_MAX);
    if (show->json) {
        certbus_sb_t sb = {0};
        certbus_sb_printf (&sb, "{\"n\":%zu,\"id\":\"%s\",\"origin\":", ++show->n, id);
        certbus_sb_json_str (&sb, entry->origin);
        certbus_sb_printf (&sb, ",\"created\":\"%s\",\"status\":", when);
        certbus_sb_json_str (&sb, entry->status);
        certbus_sb_printf (&sb, ",\"assigned\":");
        certbus_sb_json_str (&sb, entry->assign);
        certbus_sb_printf (&sb, ",\"forwarders\":");
        certbus_sb_json_str (&sb, entry->forwarders);
        certbus_sb_printf (&sb, ",\"size\":%zu", entry->size);
        if (printable) {
            certbus_sb_printf (&sb, ",\"payload\":");
            certbus_sb_json_str (&sb, text);
        }
        else if (entry->payload) {
            char *b64 = malloc (sodium_base64_ENCODED_LEN (entry->size,
                                                            sodium_base64_VARIANT_ORIGINAL));
            sodium_bin2base64 (b64,
                               sodium_base64_ENCODED_LEN (entry->size,
                                                          sodium_base64_VARIANT_ORIGINAL),
                               entry->payload, entry->size, sodium_base64_VARIANT_ORIGINAL);
            certbus_sb_printf (&sb, ",\"payload_base64\":\"%s\"", b64);
            free (b64);
        }
        certbus_sb_printf (&sb, "}");
        printf ("%s\n", sb.data);
        certbus_sb_free (&sb);
    }
    else {
        s_esc_t e = {0};
        printf ("%zu. %s  %s  %-14s %s%s%s%s%s\n", ++show->n, when, id,
                s_esc (&e, entry->origin),
                entry->status && *entry->status ? s_esc (&e, entry->status) : "-",
                entry->assign && *entry->assign ? " assigned to " : "",
                s_esc (&e, entry->assign),
                entry->forwarders && *entry->forwarders ? " via " : "",
                s_esc (&e, entry->forwarders));
        s_esc_free (&e);
        if (printable) {
            //  The payload's own lines, indented; control characters escaped
            certbus_sb_t sb = {0};
            certbus_sb_term (&sb, text, entry->size, true);
            printf ("   %s\n", sb.data ? sb.data : "");
            certbus_sb_free (&sb);
        }
        else
            printf ("   (%zu bytes)\n", entry->size);
    }
    free (text);
    return 0;
}

//  Seals payload as opts says and hands it to the broker. Returns the
//  exit code.
static int
s_case_send (node_ctx_t *ctx, node_args_t *args, const certbus_seal_opts_t *opts,
             const uint8_t *payload, size_t size, bool keep_payload)
{
    uint8_t id [CERTBUS_ID_SIZE], *bytes = NULL;
    size_t bytes_size = 0;
    int rc;
    if (certbus_envelope_seal (ctx->identity, ctx->cert, ctx->directory, opts, payload, size, id,
                               &bytes, &bytes_size))
        rc = s_fail ();
    else
        rc = s_submit (ctx, id, bytes, bytes_size, keep_payload ? payload : NULL,
                       keep_payload ? size : 0, args->wait_s);
    free (bytes);
    return rc;
}

//  The thread is read first and sent afterwards: a write while the read
//  is still open could not upgrade its snapshot once the daemon has written.
typedef struct {
    uint8_t id [CERTBUS_ID_SIZE];
    bool own;                        //  we published it ourselves
    char *status, *assign, *topic, *type;   //  own: what the new message repeats
    uint8_t *payload;
    size_t size;
} s_entry_t;

typedef struct {
    node_ctx_t *ctx;
    node_args_t *args;
    const uint8_t *case_id;
    const s_case_t *c;
    int rc;
    size_t sent;
    zlist_t *entries;                //  s_entry_t, collected before sending
} s_escalate_t;

static void
s_entry_free (s_entry_t **entry_p)
{
    s_entry_t *entry = *entry_p;
    if (!entry)
        return;
    free (entry->status);
    free (entry->assign);
    free (entry->topic);
    free (entry->type);
    free (entry->payload);
    free (entry);
    *entry_p = NULL;
}

static int
s_escalate_collect (void *arg, const node_thread_entry_t *entry)
{
    s_escalate_t *e = arg;
    s_entry_t *item = calloc (1, sizeof *item);
    if (!item)
        abort ();
    memcpy (item->id, entry->id, CERTBUS_ID_SIZE);
    item->own = entry->own || streq (entry->origin, e->ctx->org);
    if (item->own) {
        item->status = strdup (entry->status ? entry->status : "");
        item->assign = strdup (entry->assign ? entry->assign : "");
        item->topic = strdup (entry->topic ? entry->topic : "");
        item->type = strdup (entry->type && *entry->type ? entry->type : "text/plain");
        item->size = entry->size;
        item->payload = malloc (entry->size ? entry->size : 1);
        if (!item->payload)
            abort ();
        if (entry->size)
            memcpy (item->payload, entry->payload, entry->size);
    }
    zlist_append (e->entries, item);
    return 0;
}

//  Our own message of the case goes to the new audience as a new incident
//  message (the broker refuses a forward of one's own message, which could
//  launder its kind or status past policy); another member's is forwarded,
//  its origin signature kept.
static int
s_escalate_one (s_escalate_t *e, const s_entry_t *entry)
{
    certbus_ref_t refs [2] = {{.relation = "updates"}, {.relation = "forwards"}};
    memcpy (refs [0].id, e->case_id, CERTBUS_ID_SIZE);
    if (entry->own) {
        certbus_seal_opts_t opts = {.kind = "incident",
                                    .tlp = e->c->tlp,
                                    .audience = e->args->to,
                                    .topic = entry->topic,
                                    .severity = e->c->severity,
                                    .content_type = entry->type,
                                    .refs = refs,
                                    .ref_count = 1,
                                    .case_status = *entry->status ? entry->status : NULL,
                                    .assign = *entry->assign ? entry->assign : NULL,
                                    .self_copy = true};
        e->rc = s_case_send (e->ctx, e->args, &opts, entry->payload, entry->size, true);
        if (e->rc == 0)
            e->sent++;
        return e->rc ? 1 : 0;
    }
    uint8_t *bytes = NULL, *payload = NULL;
    size_t size = 0, payload_size = 0;
    certbus_envelope_t *original = NULL;
    if (node_store_inbox_envelope (e->ctx->store, entry->id, &bytes, &size) != 1) {
        e->rc = s_error ("a message of the case is no longer stored");
        return 1;
    }
    //  A message that reached us forwarded is re-forwarded as its outer
    //  envelope; recipients unwrap the chain down to the origin.
    if (certbus_envelope_decode (bytes, size, &original)
        || certbus_envelope_verify (original, e->ctx->directory, certbus_now (), NULL)
        || certbus_forward_wrap (original, e->ctx->identity, e->ctx->org, NULL, 0, NULL, &payload,
                                 &payload_size)) {
        e->rc = s_error ("cannot escalate: %s", certbus_reason ());
        free (bytes);
        certbus_envelope_destroy (&original);
        return 1;
    }
    const certbus_header_t *header = certbus_envelope_header (original);
    memcpy (refs [1].id, header->id, CERTBUS_ID_SIZE);
    certbus_seal_opts_t opts = {.kind = "incident",
                                .tlp = header->tlp,
                                .audience = e->args->to,
                                .topic = header->topic,
                                .severity = header->severity,
                                .content_type = CERTBUS_FORWARD_TYPE,
                                .refs = refs,
                                .ref_count = 2,
                                .case_status = header->case_status,
                                .assign = header->assign,
                                .self_copy = true};
    e->rc = s_case_send (e->ctx, e->args, &opts, payload, payload_size, false);
    if (e->rc == 0)
        e->sent++;
    free (bytes);
    free (payload);
    certbus_envelope_destroy (&original);
    return e->rc ? 1 : 0;
}

//  The audience of an update: every participant the broker named for the
//  case but us (or, before the broker named any, every sender of a message
//  we hold). An audience string a member wrote is never read back.
static void
s_case_audience (node_ctx_t *ctx, const uint8_t *case_id, const s_case_t *c,
                 certbus_sb_t *audience)
{
    char *list = node_store_case_participants (ctx->store, case_id);
    if (list) {
        char *save = NULL;
        for (char *org = strtok_r (list, ",", &save); org; org = strtok_r (NULL, ",", &save))
            if (!streq (org, ctx->org) && certbus_name_valid (org))
                certbus_sb_printf (audience, "%sorg:%s", audience->len ? "," : "", org);
        free (list);
        return;
    }
    zlistx_t *orgs = zhashx_keys (c->origins);
    zlistx_set_comparator (orgs, (zlistx_comparator_fn *) strcmp);
    zlistx_sort (orgs);
    for (const char *org = zlistx_first (orgs); org; org = zlistx_next (orgs))
        if (!streq (org, ctx->org))
            certbus_sb_printf (audience, "%sorg:%s", audience->len ? "," : "", org);
    zlistx_destroy (&orgs);
}

static int
s_incident_update (node_ctx_t *ctx, node_args_t *args, const uint8_t *case_id, const s_case_t *c)
{
    uint8_t *payload = NULL;
    size_t size = 0;
    int rc;
    if (!s_status_valid (args->status))
        return s_error ("--status must be one of reported, acknowledged, investigating, "
                        "contained, resolved, closed, reopened");
    if (args->argc != 3)
        return s_error ("give the update as FILE, or - for standard input");
    if (streq (args->argv [2], "-")
            ? certbus_stream_read (0, CERTBUS_MAX_PAYLOAD, &payload, &size)
            : certbus_file_read (args->argv [2], CERTBUS_MAX_PAYLOAD, &payload, &size))
        return s_fail ();
    certbus_sb_t audience = {0};
    if (args->to)
        certbus_sb_printf (&audience, "%s", args->to);
    else
        s_case_audience (ctx, case_id, c, &audience);
    certbus_ref_t ref = {.relation = "updates"};
    memcpy (ref.id, case_id, CERTBUS_ID_SIZE);
    //  At the case's TLP and severity: an update never lowers them
    certbus_seal_opts_t opts = {.kind = "incident",
                                .tlp = c->tlp,
                                .audience = audience.data,
                                .topic = c->topic,
                                .severity = c->severity,
                                .content_type = args->type ? args->type : "text/plain",
                                .refs = &ref,
                                .ref_count = 1,
                                .case_status = args->status,
                                .assign = args->assign,
                                .self_copy = true};
    if (!audience.data)
        rc = s_error ("this case has no other participant");
    else
        rc = s_case_send (ctx, args, &opts, payload, size, true);
    certbus_sb_free (&audience);
    free (payload);
    return rc;
}

static int
s_incident_escalate (node_ctx_t *ctx, node_args_t *args, const uint8_t *case_id,
                     const s_case_t *c)
{
    if (!args->to)
        return s_error ("usage: certbus-node incident escalate --dir DIR CASE_ID --to AUDIENCE");
    if (!s_tlp_travels (c->tlp))
        return s_error ("case %s is TLP %s, which never travels further than its "
                        "participants: it cannot be escalated. Its originator can bring in "
                        "another CERT with a new message: certbus-node incident update %s "
                        "--status STATUS --to AUDIENCE FILE",
                        args->argv [1], c->tlp, args->argv [1]);
    s_escalate_t e = {ctx, args, case_id, c, 0, 0, zlist_new ()};
    node_store_case_thread (ctx->store, case_id, ctx->org, s_escalate_collect, &e);
    for (s_entry_t *entry = zlist_first (e.entries); entry && e.rc == 0;
         entry = zlist_next (e.entries))
        s_escalate_one (&e, entry);
    s_entry_t *entry;
    while ((entry = zlist_pop (e.entries)))
        s_entry_free (&entry);
    zlist_destroy (&e.entries);
    if (e.rc == 0) {
        char *to = certbus_term_escape (args->to);
        fprintf (stderr, "certbus-node: escalated case %s to %s with %zu messages\n",
                 args->argv [1], to, e.sent);
        free (to);
    }
    return e.rc;
}

int
node_cmd_incident (node_args_t *args)
{
    const char *sub = args->argc > 0 ? args->argv [0] : "";
    uint8_t case_id [CERTBUS_ID_SIZE];
    bool needs_case = streq (sub, "show") || streq (sub, "update") || streq (sub, "escalate");
    if (!(streq (sub, "list") || needs_case)
        || (needs_case && (args->argc < 2 || certbus_id_parse (args->argv [1], case_id) != 0)))
        return s_error ("usage: certbus-node incident list|show|update|escalate --dir DIR "
                        "[CASE_ID] ... (see certbus-node --help)");
    node_ctx_t *ctx = node_ctx_open (args->dir, true);
    if (!ctx)
        return s_fail ();
    int rc = 0;
    if (streq (sub, "list")) {
        s_cases_t cases = {ctx, args};
        if (node_store_cases (ctx->store, s_list_case, &cases) < 0)
            rc = s_fail ();
    }
    else if (streq (sub, "show")) {
        s_show_t show = {args->json, 0};
        int rows = node_store_case_thread (ctx->store, case_id, ctx->org, s_show_entry, &show);
        if (rows <= 0)
            rc = rows < 0 ? s_fail () : s_error ("no case %s here", args->argv [1]);
    }
    else {
        s_case_t c = {.case_id = case_id, .origins = zhashx_new ()};
        int rows = node_store_case_thread (ctx->store, case_id, ctx->org, s_case_collect, &c);
        if (rows == 0 && streq (sub, "update") && args->to) {
            //  A case this node has not seen: --to says where; the broker
            //  decides whether we may take part
            c.tlp = strdup ("amber");
            c.severity = strdup ("medium");
            c.topic = strdup ("");
            rows = 1;
        }
        if (rows > 0 && !c.tlp)
            c.tlp = strdup ("amber");
        if (rows > 0 && !c.severity)
            c.severity = strdup ("medium");
        if (rows <= 0)
            rc = rows < 0 ? s_fail () : s_error ("no case %s here", args->argv [1]);
        else if (!ctx->directory)
            rc = s_error ("no directory yet");
        else if (streq (sub, "update"))
            rc = s_incident_update (ctx, args, case_id, &c);
        else
            rc = s_incident_escalate (ctx, args, case_id, &c);
        s_case_free (&c);
    }
    node_ctx_destroy (&ctx);
    return rc;
}
