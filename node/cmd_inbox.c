/*  cmd_inbox.c - the reading commands: inbox, show, tail, status, receipts
    SPDX-License-Identifier: MPL-2.0
*/
#include "cli.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void
s_message_json (const node_message_t *message, certbus_sb_t *sb)
{
    char id [CERTBUS_ID_STR_SIZE], created [40], accepted [40], received [40];
    certbus_id_format (message->id, id);
    certbus_time_format (message->created, created, sizeof created);
    certbus_time_format (message->accepted_at, accepted, sizeof accepted);
    certbus_time_format (message->received_at, received, sizeof received);
    certbus_sb_printf (sb, "{\"id\":\"%s\"", id);
    certbus_sb_json_field (sb, "origin", message->origin);
    certbus_sb_json_field (sb, "kind", message->kind);
    certbus_sb_json_field (sb, "tlp", message->tlp);
    certbus_sb_json_field (sb, "topic", message->topic);
    certbus_sb_json_field (sb, "severity", message->severity);
    certbus_sb_printf (sb, ",\"created\":\"%s\"", created);
    certbus_sb_json_field (sb, "type", message->type);
    certbus_sb_printf (sb, ",\"size\":%zu", message->size);
    certbus_sb_json_field (sb, "audience", message->audience);
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
            certbus_sb_json_field (sb, "note", note);
        }
        free (note);
    }
    certbus_sb_printf (sb, ",\"accepted\":\"%s\",\"received\":\"%s\",\"sequence\":%llu}", accepted,
                       received, (unsigned long long) message->msg_seq);
}

typedef struct {
    node_args_t *args;
    int64_t last; //  highest n seen
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
            node_cli_error ("--exec for %s exited with %d", id, status);
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
        node_esc_t e = {0};
        printf ("%s%s  %-20s %-10s %-12s %-8s %8zu  %s  %s%s%s\n", critical ? "!! " : "", id,
                node_esc (&e, message->origin), node_esc (&e, message->kind),
                node_esc (&e, message->tlp), node_esc (&e, message->severity), message->size,
                received, node_esc (&e, message->topic),
                message->forwarders && *message->forwarders ? "  via " : "",
                node_esc (&e, message->forwarders));
        node_esc_free (&e);
    }
    fflush (stdout);
    return list->args->count > 0 && list->printed >= list->args->count ? 1 : 0;
}

int
node_cmd_inbox (node_args_t *args)
{
    node_ctx_t *ctx = node_ctx_open (args->dir, true);
    if (!ctx)
        return node_cli_fail ();
    s_list_t list = {args, 0, 0};
    int rows = node_store_inbox_list (ctx->store, 0, args->kind, INT32_MAX, s_print_message, &list);
    node_ctx_destroy (&ctx);
    return rows < 0 ? node_cli_fail () : 0;
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
        return node_cli_error ("usage: certbus-node show --dir DIR MESSAGE_ID");
    node_ctx_t *ctx = node_ctx_open (args->dir, true);
    if (!ctx)
        return node_cli_fail ();
    int found = node_store_inbox_get (ctx->store, id, s_write_payload, NULL);
    node_ctx_destroy (&ctx);
    if (found < 0)
        return node_cli_fail ();
    if (found == 0)
        return node_cli_error ("no message %s in the inbox", args->argv [0]);
    return 0;
}

int
node_cmd_tail (node_args_t *args)
{
    node_ctx_t *ctx = node_ctx_open (args->dir, true);
    if (!ctx)
        return node_cli_fail ();
    s_list_t list = {args, args->all ? 0 : node_store_inbox_last (ctx->store), 0};
    int64_t deadline = args->timeout_s > 0 ? certbus_now_ms () + args->timeout_s * 1000LL : 0;
    int rc = 0;
    //  The inbox is the source of truth whether or not the daemon runs, so
    //  tail follows the database: new rows appear as the daemon commits them.
    while (!zsys_interrupted) {
        int rows = node_store_inbox_list (ctx->store, list.last, args->kind, 256, s_print_message,
                                          &list);
        if (rows < 0) {
            rc = node_cli_fail ();
            break;
        }
        if (args->count > 0 && list.printed >= args->count)
            break;
        if (deadline && certbus_now_ms () >= deadline) {
            rc = args->count > 0 ? 1 : 0;
            if (rc)
                node_cli_error ("timed out after %d messages", list.printed);
            break;
        }
        if (rows == 0)
            zclock_sleep (100); //  polling interval of the database
    }
    node_ctx_destroy (&ctx);
    return rc;
}

//  ---------------------------------------------------------------------
//  status

int
node_cmd_status (node_args_t *args)
{
    char *json = node_cli_daemon_status (args->dir);
    if (json) {
        if (args->json)
            printf ("%s\n", json);
        else {
            char org [CERTBUS_MAX_NAME + 1], broker [1024], current [256], error [256];
            certbus_json_string (json, "org", org, sizeof org);
            certbus_json_string (json, "broker", broker, sizeof broker);
            certbus_json_string (json, "broker_current", current, sizeof current);
            certbus_json_string (json, "last_error", error, sizeof error);
            bool connected = strstr (json, "\"connected\":true") != NULL;
            bool several = *current && !streq (current, broker);
            bool stale = strstr (json, "\"directory_stale\":true") != NULL;
            long long have = certbus_json_number (json, "directory");
            long long known = certbus_json_number (json, "directory_known");
            char directory [160];
            snprintf (directory, sizeof directory, "%lld%s", have,
                      known > have ? stale ? " (STALE: the broker announced a newer version, "
                                             "deliveries are held)"
                                           : " (fetching the newer version the broker announced)"
                                   : "");
            node_esc_t e = {0};
            printf ("certbus-node: %s running\n"
                    "  broker              %s (%s, last heard %lld ms ago)\n"
                    "%s%s%s"
                    "  directory version   %s\n"
                    "  outbox              %lld pending, %lld rejected\n"
                    "  inbox               %lld messages (%lld delivered this run, %lld refused)\n"
                    "  reconnects          %lld\n"
                    "  last error          %s\n",
                    node_esc (&e, org), node_esc (&e, broker),
                    connected ? "connected" : "NOT connected",
                    certbus_json_number (json, "broker_silent_ms"),
                    //  with a list of endpoints, the one in use
                    several ? "  broker in use       " : "", several ? node_esc (&e, current) : "",
                    several ? "\n" : "", directory, certbus_json_number (json, "outbox_pending"),
                    certbus_json_number (json, "outbox_rejected"),
                    certbus_json_number (json, "inbox"), certbus_json_number (json, "delivered"),
                    certbus_json_number (json, "refused"), certbus_json_number (json, "reconnects"),
                    *error ? node_esc (&e, error) : "none");
            node_esc_free (&e);
        }
        free (json);
        return 0;
    }
    node_ctx_t *ctx = node_ctx_open (args->dir, false);
    if (!ctx)
        return node_cli_fail ();
    unsigned long long version
        = ctx->directory ? (unsigned long long) certbus_directory_serial (ctx->directory) : 0;
    long long pending = node_store_outbox_count (ctx->store, NODE_OUTBOX_PENDING);
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
        node_esc_t e = {0};
        printf ("certbus-node: %s not running\nenrolled: %s\nbroker: %s\ndirectory version: "
                "%llu%s\noutbox pending: %lld\ninbox: %lld\n",
                node_esc (&e, ctx->org), ctx->cert ? "yes" : "no",
                *ctx->endpoint ? node_esc (&e, ctx->endpoint) : "-", version,
                known > version ? " (STALE: the broker announced a newer version)" : "", pending,
                inbox);
        node_esc_free (&e);
    }
    node_ctx_destroy (&ctx);
    return 0;
}

typedef struct {
    bool json;
    zhashx_t *have; //  org -> 1, those with a receipt
    certbus_sb_t out;
    size_t refused; //  of them, receipts that say "refused"
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
            certbus_sb_json_field (&sb, "reason", refused);
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
        return node_cli_error ("usage: certbus-node receipts --dir DIR MESSAGE_ID [--json]");
    node_ctx_t *ctx = node_ctx_open (args->dir, true);
    if (!ctx)
        return node_cli_fail ();
    s_receipts_t r = {args->json, zhashx_new (), {0}, 0};
    char *recipients = NULL;
    int found = node_store_receipts (ctx->store, id, &recipients, s_print_receipt, &r);
    int rc = 0;
    if (found < 0)
        rc = node_cli_fail ();
    else if (found == 0)
        rc = node_cli_error ("%s is not a message this node published", args->argv [0]);
    else {
        size_t pending = 0;
        char *save = NULL;
        for (char *org = strtok_r (recipients, "\n", &save); org;
             org = strtok_r (NULL, "\n", &save)) {
            if (zhashx_lookup (r.have, org) || streq (org, ctx->org))
                continue; //  our own copy needs no receipt
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
