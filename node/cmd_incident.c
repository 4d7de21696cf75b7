/*  cmd_incident.c - the incident command: list, show, update, escalate
    SPDX-License-Identifier: MPL-2.0
*/
#include "cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

//  A status an update may set: a case status, not ""
static bool
s_status_valid (const char *status)
{
    return status && *status && certbus_case_status_valid (status);
}

//  Replaces *field with value when value ranks higher (or *field is unset)
static void
s_raise (char **field, const char *const *names, size_t count, const char *value)
{
    int rank = node_cli_rank (names, count, value);
    if (rank < 0 || (*field && node_cli_rank (names, count, *field) >= rank))
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
    bool have_report;        //  we hold the entry whose id is the case id
    char *reporter, *topic;  //  the report's (else the first entry's)
    char *severity, *tlp;    //  the highest of the thread: never lowered
    char *status, *assign;   //  of the latest entry in broker order with one
    int64_t opened, updated; //  broker accept times (signed time when unknown)
    zhashx_t *origins;       //  org -> 1: every sender of a message we hold
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
    s_raise (&c->tlp, node_cli_tlps, 5, entry->tlp);
    s_raise (&c->severity, node_cli_severities, 5, entry->severity);
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
            certbus_sb_printf (&sb, "{\"case\":\"%s\"", id);
            certbus_sb_json_field (&sb, "reporter", c.reporter);
            certbus_sb_json_field (&sb, "severity", c.severity ? c.severity : "");
            certbus_sb_json_field (&sb, "tlp", c.tlp ? c.tlp : "");
            certbus_sb_json_field (&sb, "status", status);
            certbus_sb_json_field (&sb, "assigned", c.assign ? c.assign : "");
            certbus_sb_json_field (&sb, "topic", c.topic);
            certbus_sb_printf (&sb, ",\"opened\":\"%s\",\"updated\":\"%s\",\"messages\":%zu}",
                               opened, updated, c.count);
            printf ("%s\n", sb.data);
            certbus_sb_free (&sb);
        }
        else {
            node_esc_t e = {0};
            printf ("%s  %-14s %-9s %-13s %3zu msgs  opened %s  %s\n", id,
                    node_esc (&e, c.reporter), node_esc (&e, c.severity), node_esc (&e, status),
                    c.count, opened, node_esc (&e, c.topic));
            node_esc_free (&e);
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
    char *text = entry->payload ? strndup ((const char *) entry->payload, entry->size)
                                : strdup ("");
    bool printable = text && strlen (text) == entry->size && certbus_utf8_valid (text, SIZE_MAX);
    if (show->json) {
        certbus_sb_t sb = {0};
        certbus_sb_printf (&sb, "{\"n\":%zu,\"id\":\"%s\"", ++show->n, id);
        certbus_sb_json_field (&sb, "origin", entry->origin);
        certbus_sb_printf (&sb, ",\"created\":\"%s\"", when);
        certbus_sb_json_field (&sb, "status", entry->status);
        certbus_sb_json_field (&sb, "assigned", entry->assign);
        certbus_sb_json_field (&sb, "forwarders", entry->forwarders);
        certbus_sb_printf (&sb, ",\"size\":%zu", entry->size);
        if (printable) {
            certbus_sb_json_field (&sb, "payload", text);
        }
        else if (entry->payload) {
            char *b64
                = malloc (sodium_base64_ENCODED_LEN (entry->size, sodium_base64_VARIANT_ORIGINAL));
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
        node_esc_t e = {0};
        printf ("%zu. %s  %s  %-14s %s%s%s%s%s\n", ++show->n, when, id,
                node_esc (&e, entry->origin),
                entry->status && *entry->status ? node_esc (&e, entry->status) : "-",
                entry->assign && *entry->assign ? " assigned to " : "",
                node_esc (&e, entry->assign),
                entry->forwarders && *entry->forwarders ? " via " : "",
                node_esc (&e, entry->forwarders));
        node_esc_free (&e);
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
        rc = node_cli_fail ();
    else
        rc = node_cli_submit (ctx, id, bytes, bytes_size, keep_payload ? payload : NULL,
                              keep_payload ? size : 0, args->wait_s);
    free (bytes);
    return rc;
}

//  The thread is read first and sent afterwards: a write while the read
//  is still open could not upgrade its snapshot once the daemon has written.
typedef struct {
    uint8_t id [CERTBUS_ID_SIZE];
    bool own;                             //  we published it ourselves
    char *status, *assign, *topic, *type; //  own: what the new message repeats
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
    zlist_t *entries; //  s_entry_t, collected before sending
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
    s_entry_t *item = certbus_calloc (1, sizeof *item);
    memcpy (item->id, entry->id, CERTBUS_ID_SIZE);
    item->own = entry->own || streq (entry->origin, e->ctx->org);
    if (item->own) {
        item->status = strdup (entry->status ? entry->status : "");
        item->assign = strdup (entry->assign ? entry->assign : "");
        item->topic = strdup (entry->topic ? entry->topic : "");
        item->type = strdup (entry->type && *entry->type ? entry->type : "text/plain");
        item->size = entry->size;
        item->payload = certbus_malloc (entry->size ? entry->size : 1);
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
        e->rc = node_cli_error ("a message of the case is no longer stored");
        return 1;
    }
    //  A message that reached us forwarded is re-forwarded as its outer
    //  envelope; recipients unwrap the chain down to the origin.
    if (certbus_envelope_decode (bytes, size, &original)
        || certbus_envelope_verify (original, e->ctx->directory, certbus_now (), NULL)
        || certbus_forward_wrap (original, e->ctx->identity, e->ctx->org, NULL, 0, NULL, &payload,
                                 &payload_size)) {
        e->rc = node_cli_error ("cannot escalate: %s", certbus_reason ());
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
s_case_audience (node_ctx_t *ctx, const uint8_t *case_id, const s_case_t *c, certbus_sb_t *audience)
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
        return node_cli_error ("--status must be one of reported, acknowledged, investigating, "
                               "contained, resolved, closed, reopened");
    if (args->argc != 3)
        return node_cli_error ("give the update as FILE, or - for standard input");
    if (streq (args->argv [2], "-")
            ? certbus_stream_read (0, CERTBUS_MAX_PAYLOAD, &payload, &size)
            : certbus_file_read (args->argv [2], CERTBUS_MAX_PAYLOAD, &payload, &size))
        return node_cli_fail ();
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
        rc = node_cli_error ("this case has no other participant");
    else
        rc = s_case_send (ctx, args, &opts, payload, size, true);
    certbus_sb_free (&audience);
    free (payload);
    return rc;
}

static int
s_incident_escalate (node_ctx_t *ctx, node_args_t *args, const uint8_t *case_id, const s_case_t *c)
{
    if (!args->to)
        return node_cli_error (
            "usage: certbus-node incident escalate --dir DIR CASE_ID --to AUDIENCE");
    if (!node_cli_tlp_travels (c->tlp))
        return node_cli_error ("case %s is TLP %s, which never travels further than its "
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
        return node_cli_error ("usage: certbus-node incident list|show|update|escalate --dir DIR "
                               "[CASE_ID] ... (see certbus-node --help)");
    node_ctx_t *ctx = node_ctx_open (args->dir, true);
    if (!ctx)
        return node_cli_fail ();
    int rc = 0;
    if (streq (sub, "list")) {
        s_cases_t cases = {ctx, args};
        if (node_store_cases (ctx->store, s_list_case, &cases) < 0)
            rc = node_cli_fail ();
    }
    else if (streq (sub, "show")) {
        s_show_t show = {args->json, 0};
        int rows = node_store_case_thread (ctx->store, case_id, ctx->org, s_show_entry, &show);
        if (rows <= 0)
            rc = rows < 0 ? node_cli_fail () : node_cli_error ("no case %s here", args->argv [1]);
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
            rc = rows < 0 ? node_cli_fail () : node_cli_error ("no case %s here", args->argv [1]);
        else if (!ctx->directory)
            rc = node_cli_error ("no directory yet");
        else if (streq (sub, "update"))
            rc = s_incident_update (ctx, args, case_id, &c);
        else
            rc = s_incident_escalate (ctx, args, case_id, &c);
        s_case_free (&c);
    }
    node_ctx_destroy (&ctx);
    return rc;
}
