/*  cmd_publish.c - the sending commands: publish, seal, open, forward
    SPDX-License-Identifier: MPL-2.0
*/
#include "cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
s_read_payload (node_args_t *args, uint8_t **payload_p, size_t *size_p)
{
    if (args->argc != 1)
        return node_cli_error ("give one FILE, or - for standard input");
    const char *file = args->argv [0];
    int rc = streq (file, "-") ? certbus_stream_read (0, CERTBUS_MAX_PAYLOAD, payload_p, size_p)
                               : certbus_file_read (file, CERTBUS_MAX_PAYLOAD, payload_p, size_p);
    return rc ? node_cli_fail () : 0;
}

//  A sealed envelope and what went into it
typedef struct {
    uint8_t id [CERTBUS_ID_SIZE]; //  its message id
    uint8_t *bytes;               //  the envelope
    size_t size;
    uint8_t *payload; //  the payload sealed (kept only when asked for)
    size_t payload_size;
} s_sealed_t;

//  Seals the payload named in args for its audience into sealed, keeping
//  the payload too when keep_payload. Returns an exit code.
static int
s_seal (node_ctx_t *ctx, node_args_t *args, s_sealed_t *sealed, bool keep_payload)
{
    if (!args->kind || !args->tlp || !args->to)
        return node_cli_error ("--kind, --tlp and --to are required");
    if (!ctx->directory)
        return node_cli_error ("no directory yet: run certbus-node run (it fetches one from the "
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
                                              payload, size, sealed->id, &sealed->bytes,
                                              &sealed->size);
    if (rc == CERTBUS_OK && keep_payload) {
        sealed->payload = payload;
        sealed->payload_size = size;
    }
    else
        free (payload);
    return rc ? node_cli_fail () : 0;
}

//  Opens the node's context and seals the payload args name: the first
//  steps of publish and seal. Returns an exit code; on 0, *ctx_p is the
//  caller's, and sealed is filled.
static int
s_open_and_seal (node_args_t *args, node_ctx_t **ctx_p, s_sealed_t *sealed, bool keep_payload)
{
    memset (sealed, 0, sizeof *sealed);
    *ctx_p = node_ctx_open (args->dir, true);
    if (!*ctx_p)
        return node_cli_fail ();
    return s_seal (*ctx_p, args, sealed, keep_payload);
}

int
node_cmd_publish (node_args_t *args)
{
    node_ctx_t *ctx = NULL;
    s_sealed_t sealed;
    int rc = s_open_and_seal (args, &ctx, &sealed, true);
    if (rc == 0)
        rc = node_cli_submit (ctx, sealed.id, sealed.bytes, sealed.size, sealed.payload,
                              sealed.payload_size, args->wait_s);
    free (sealed.payload);
    free (sealed.bytes);
    node_ctx_destroy (&ctx);
    return rc;
}

int
node_cmd_seal (node_args_t *args)
{
    if (!args->out)
        return node_cli_error ("usage: certbus-node seal --dir DIR --kind K --tlp T --to AUDIENCE "
                               "FILE --out FILE.cbe");
    node_ctx_t *ctx = NULL;
    s_sealed_t sealed;
    int rc = s_open_and_seal (args, &ctx, &sealed, false);
    if (rc == 0 && certbus_file_write (args->out, sealed.bytes, sealed.size, 0644))
        rc = node_cli_fail ();
    if (rc == 0) {
        char text [CERTBUS_ID_STR_SIZE];
        certbus_id_format (sealed.id, text);
        printf ("%s\n", text);
    }
    free (sealed.bytes);
    node_ctx_destroy (&ctx);
    return rc;
}

int
node_cmd_open (node_args_t *args)
{
    if (args->argc != 1)
        return node_cli_error ("usage: certbus-node open --dir DIR FILE.cbe");
    node_ctx_t *ctx = node_ctx_open (args->dir, true);
    if (!ctx)
        return node_cli_fail ();
    int rc = 1;
    uint8_t *bytes = NULL, *payload = NULL;
    size_t size, payload_size;
    certbus_envelope_t *env = NULL;
    uint64_t have = ctx->directory ? certbus_directory_serial (ctx->directory) : 0;
    uint64_t known = node_ctx_directory_known (ctx);
    if (!ctx->directory)
        rc = node_cli_error ("no directory yet: import the Council's directory first");
    else if (known > have)
        //  A newer directory may revoke the sender: nothing opens until we have it
        rc = node_cli_error (
            "directory %llu is older than version %llu, which the broker announced; "
            "run certbus-node run or import the newer directory",
            (unsigned long long) have, (unsigned long long) known);
    else if (certbus_file_read (args->argv [0], CERTBUS_MAX_ENVELOPE, &bytes, &size))
        rc = node_cli_fail ();
    else {
        certbus_err_t err = certbus_envelope_open (bytes, size, ctx->directory, ctx->identity,
                                                   ctx->org, certbus_now (), &env, &payload,
                                                   &payload_size);
        if (err)
            rc = node_cli_error ("cannot open %s: %s (%s)", args->argv [0], certbus_reason (),
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

typedef struct {
    uint8_t *envelope;
    size_t size;
    const char *org; //  our org id
    bool own;        //  the message's origin is us
} s_found_t;

static int
s_keep_envelope (void *arg, const node_message_t *message)
{
    s_found_t *found = arg;
    found->envelope = certbus_malloc (message->envelope_size ? message->envelope_size : 1);
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
        return node_cli_error ("usage: certbus-node forward --dir DIR MESSAGE_ID --to AUDIENCE "
                               "[--note FILE]");
    node_ctx_t *ctx = node_ctx_open (args->dir, true);
    if (!ctx)
        return node_cli_fail ();
    int rc = 1;
    s_found_t found = {.org = ctx->org};
    certbus_envelope_t *original = NULL;
    uint8_t *note = NULL, *payload = NULL, *bytes = NULL;
    size_t note_size = 0, payload_size = 0, size = 0;
    if (!ctx->directory) {
        rc = node_cli_error ("no directory yet");
        goto cleanup;
    }
    int got = node_store_inbox_get (ctx->store, id, s_keep_envelope, &found);
    if (got != 1) {
        rc = got < 0 ? node_cli_fail ()
                     : node_cli_error ("no message %s in the inbox", args->argv [0]);
        goto cleanup;
    }
    if (args->note && certbus_file_read (args->note, 64 * 1024, &note, &note_size)) {
        rc = node_cli_fail ();
        goto cleanup;
    }
    //  The stored envelope is opened again: it yields the content key that
    //  the new recipients need to read the original themselves.
    if (certbus_envelope_decode (found.envelope, found.size, &original)
        || certbus_envelope_verify (original, ctx->directory, certbus_now (), NULL)) {
        rc = node_cli_error ("cannot forward %s: %s", args->argv [0], certbus_reason ());
        goto cleanup;
    }
    const certbus_header_t *header = certbus_envelope_header (original);
    if (!node_cli_tlp_travels (header->tlp)) {
        rc = node_cli_error ("cannot forward %s: TLP %s may not be forwarded: it never travels "
                             "further than the recipients its origin chose",
                             args->argv [0], header->tlp);
        goto cleanup;
    }
    if (found.own) {
        rc = node_cli_error (
            "cannot forward %s: it is this node's own message; publish it again to "
            "the new audience instead",
            args->argv [0]);
        goto cleanup;
    }
    if (certbus_forward_wrap (original, ctx->identity, ctx->org, note, note_size, "text/plain",
                              &payload, &payload_size)) {
        rc = node_cli_error ("cannot forward %s: %s", args->argv [0], certbus_reason ());
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
        rc = node_cli_fail ();
        goto cleanup;
    }
    rc = node_cli_submit (ctx, new_id, bytes, size, NULL, 0, args->wait_s);
cleanup:
    certbus_envelope_destroy (&original);
    free (found.envelope);
    free (note);
    free (payload);
    free (bytes);
    node_ctx_destroy (&ctx);
    return rc;
}
