/*  cmd_setup.c - the setup commands: init, enroll, directory, run
    SPDX-License-Identifier: MPL-2.0
*/
#include "cli.h"
#include "engine.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
        return node_cli_error ("usage: certbus-node init --dir DIR --org ORG_ID [--name NAME]");
    if (!certbus_name_valid (args->org))
        return node_cli_error ("org id '%s' is not valid: use a-z, 0-9, '.', '_' and '-'",
                               args->org);
    if (mkdir (args->dir, 0700) != 0 && errno != EEXIST)
        return node_cli_error ("cannot create %s: %s", args->dir, strerror (errno));
    //  A folder that existed already is tightened too: it holds the
    //  secret keys and the daemon's control socket
    if (chmod (args->dir, 0700) != 0)
        return node_cli_error ("cannot restrict %s to mode 0700: %s", args->dir, strerror (errno));
    char *secret = node_path (args->dir, NODE_SECRET);
    char *request_path = node_path (args->dir, NODE_REQUEST);
    int rc = 1;
    certbus_identity_t *identity = NULL;
    uint8_t *request = NULL;
    size_t size;
    if (access (secret, F_OK) == 0) {
        node_cli_error ("%s already holds a node identity (%s); refusing to overwrite it",
                        args->dir, NODE_SECRET);
        goto cleanup;
    }
    identity = certbus_identity_new ();
    if (certbus_request_make (identity, args->org, args->name, &request, &size)
        || certbus_identity_save (identity, secret)
        || certbus_file_write (request_path, request, size, 0644)
        || s_write_conf (args->dir, args->org, args->name, NULL)) {
        rc = node_cli_fail ();
        goto cleanup;
    }
    node_ctx_t *ctx = node_ctx_open (args->dir, false);
    if (!ctx) {
        rc = node_cli_fail ();
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
        return node_cli_fail ();
    certbus_err_t rc = node_ctx_set_directory (ctx, bytes, size);
    free (bytes);
    if (rc)
        return node_cli_error ("directory %s refused: %s", file, certbus_reason ());
    return 0;
}

int
node_cmd_enroll (node_args_t *args)
{
    if (!args->cert || !args->broker || !args->council || !args->broker_key)
        return node_cli_error ("usage: certbus-node enroll --dir DIR --cert CERT --broker "
                               "ENDPOINT[,ENDPOINT...] --council COUNCIL_PUB --broker-key "
                               "BROKER_PUB [--directory FILE]");
    //  Several endpoints are the addresses of one broker identity (a
    //  broker pair); the list is kept as given
    node_endpoints_t *endpoints = node_endpoints_new (args->broker);
    if (!endpoints)
        return node_cli_error ("--broker: %s", certbus_reason ());
    node_endpoints_destroy (&endpoints);
    node_ctx_t *ctx = node_ctx_open (args->dir, false);
    if (!ctx)
        return node_cli_fail ();
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
        rc = node_cli_fail ();
        goto cleanup;
    }
    if (certbus_cert_decode (bytes, size, council, &cert)) {
        rc = node_cli_error ("certificate %s: %s", args->cert, certbus_reason ());
        goto cleanup;
    }
    if (strcmp (cert->org_id, ctx->org) != 0
        || memcmp (cert->sign_key, certbus_identity_sign_public (ctx->identity), CERTBUS_KEY_SIZE)
        || memcmp (cert->box_key, certbus_identity_box_public (ctx->identity), CERTBUS_KEY_SIZE)
        || memcmp (cert->curve_key, certbus_identity_curve_public (ctx->identity),
                   CERTBUS_KEY_SIZE)) {
        rc = node_cli_error ("certificate %s is for '%s' with other keys, not for this node ('%s')",
                             args->cert, cert->org_id, ctx->org);
        goto cleanup;
    }
    if (certbus_cert_check_time (cert, certbus_now ())) {
        rc = node_cli_fail ();
        goto cleanup;
    }
    if (certbus_pubfile_write (council_path, "council", council, NULL)
        || certbus_pubfile_write (broker_path, "broker", broker_sign, broker_curve)
        || certbus_file_write (cert_path, bytes, size, 0644)) {
        rc = node_cli_fail ();
        goto cleanup;
    }
    char *name = strdup (cert->name);
    if (s_write_conf (args->dir, ctx->org, name, args->broker)) {
        free (name);
        rc = node_cli_fail ();
        goto cleanup;
    }
    free (name);
    if (args->directory) {
        node_ctx_destroy (&ctx);
        ctx = node_ctx_open (args->dir, true);
        if (!ctx || s_import_directory (ctx, args->directory)) {
            rc = ctx ? 1 : node_cli_fail ();
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
        return node_cli_fail ();
    int rc = 0;
    if (args->import)
        rc = s_import_directory (ctx, args->import);
    if (rc == 0 && !ctx->directory)
        rc = node_cli_error ("no directory yet: import one or run the node to fetch it");
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
                certbus_sb_printf (&sb,
                                   ",\"serial\":%llu,\"tier\":", (unsigned long long) cert->serial);
                certbus_sb_json_str (&sb, certbus_tier_name (cert->tier));
                certbus_sb_json_field (&sb, "sector", cert->sector);
                certbus_sb_json_field (&sb, "region", cert->region);
                certbus_sb_printf (&sb, ",\"not_after\":%lld}", (long long) cert->not_after);
                printf ("%s\n", sb.data);
                certbus_sb_free (&sb);
            }
            else {
                node_esc_t e = {0};
                printf ("  %-24s %-13s %-12s %-12s serial %llu\n", node_esc (&e, cert->org_id),
                        certbus_tier_name (cert->tier),
                        *cert->sector ? node_esc (&e, cert->sector) : "-",
                        *cert->region ? node_esc (&e, cert->region) : "-",
                        (unsigned long long) cert->serial);
                node_esc_free (&e);
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
        int rc = node_cli_error ("%s", status && strlen (status) > 6 ? status + 6
                                                                     : "engine did not start");
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
