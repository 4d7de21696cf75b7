/*  report.c - incident response times for the Council
    SPDX-License-Identifier: MPL-2.0
*/
#include "conf.h"
#include "report.h"
#include "council.h"
#include "store.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_severities [] = {"critical", "high", "medium", "low", "info"};
#define s_SEVERITIES 5

typedef struct {
    char key [300]; //  tier|sector|severity
    char tier [32], sector [CERTBUS_MAX_NAME + 1], severity [16];
    size_t cases, open;
    double *ack, *resolve; //  seconds
    size_t ack_n, resolve_n;
} s_group_t;

typedef struct {
    certbus_directory_t *dir;
    s_group_t *groups;
    size_t group_count;
    bool json;
    int64_t thresholds [s_SEVERITIES]; //  ms
    int64_t now;
    broker_case_t *overdue; //  open, unacknowledged past their threshold
    size_t overdue_count;
} s_report_t;

//  Prints one line of JSON or text and frees it. Every string a member
//  chose (org ids, severities, statuses) reaches the line through
//  certbus_sb_json_str or certbus_sb_term, so that it can neither break
//  out of its JSON string nor send a control character to a terminal.
static void
s_line (certbus_sb_t *sb)
{
    printf ("%s\n", sb->data ? sb->data : "");
    certbus_sb_free (sb);
}

//  Appends s for a terminal, escaped, padded with spaces to width bytes
static void
s_cell (certbus_sb_t *sb, const char *s, int width)
{
    size_t before = sb->len;
    certbus_sb_term (sb, s, s ? strlen (s) : 0, false);
    for (size_t used = sb->len - before; (int) used < width; used++)
        certbus_sb_printf (sb, " ");
}

static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

//  Nearest-rank percentile of n sorted values.
static double
s_percentile (double *values, size_t n, double p)
{
    if (n == 0)
        return -1;
    qsort (values, n, sizeof (double), s_cmp);
    size_t rank = (size_t) (p * (double) n + 0.999999);
    if (rank < 1)
        rank = 1;
    return values [rank > n ? n - 1 : rank - 1];
}

static void
s_push (double **values, size_t *n, double value)
{
    *values = certbus_realloc (*values, *n + 1, sizeof (double));
    (*values) [(*n)++] = value;
}

static int
s_case (void *arg, const broker_case_t *c)
{
    s_report_t *r = arg;
    const certbus_cert_t *cert = r->dir ? certbus_directory_find (r->dir, c->origin) : NULL;
    const char *tier = cert ? certbus_tier_name (cert->tier) : "unknown";
    const char *sector = cert && *cert->sector ? cert->sector : "-";
    char key [300];
    snprintf (key, sizeof key, "%s|%s|%s", tier, sector, c->severity);
    s_group_t *group = NULL;
    for (size_t i = 0; i < r->group_count && !group; i++)
        if (strcmp (r->groups [i].key, key) == 0)
            group = &r->groups [i];
    if (!group) {
        r->groups = certbus_realloc (r->groups, r->group_count + 1, sizeof (s_group_t));
        group = &r->groups [r->group_count++];
        memset (group, 0, sizeof *group);
        snprintf (group->key, sizeof group->key, "%s", key);
        snprintf (group->tier, sizeof group->tier, "%s", tier);
        snprintf (group->sector, sizeof group->sector, "%s", sector);
        snprintf (group->severity, sizeof group->severity, "%s", c->severity);
    }
    group->cases++;
    double ack = c->first_ack_at ? (double) (c->first_ack_at - c->opened_at) / 1000.0 : -1;
    double resolve = c->resolved_at ? (double) (c->resolved_at - c->opened_at) / 1000.0 : -1;
    if (ack >= 0)
        s_push (&group->ack, &group->ack_n, ack);
    if (resolve >= 0)
        s_push (&group->resolve, &group->resolve_n, resolve);
    else
        group->open++;
    char id [CERTBUS_ID_STR_SIZE], opened [40];
    certbus_id_format (c->case_id, id);
    certbus_time_format (c->opened_at, opened, sizeof opened);
    if (r->json) {
        certbus_sb_t sb = {0};
        certbus_sb_printf (&sb, "{\"case\":\"%s\"", id);
        certbus_sb_json_field (&sb, "reporter", c->origin);
        certbus_sb_json_field (&sb, "tier", tier);
        certbus_sb_json_field (&sb, "sector", sector);
        certbus_sb_json_field (&sb, "severity", c->severity);
        certbus_sb_json_field (&sb, "status", c->status);
        certbus_sb_printf (&sb,
                           ",\"opened\":\"%s\",\"opened_ms\":%lld,\"ack_ms\":%lld,"
                           "\"resolve_ms\":%lld}",
                           opened, (long long) c->opened_at,
                           (long long) (c->first_ack_at ? c->first_ack_at - c->opened_at : -1),
                           (long long) (c->resolved_at ? c->resolved_at - c->opened_at : -1));
        s_line (&sb);
    }
    //  Open and unacknowledged past its severity's threshold
    for (int s = 0; s < s_SEVERITIES; s++)
        if (strcmp (c->severity, s_severities [s]) == 0 && !c->resolved_at && !c->first_ack_at
            && r->now - c->opened_at > r->thresholds [s]) {
            r->overdue = certbus_realloc (r->overdue, r->overdue_count + 1, sizeof (broker_case_t));
            r->overdue [r->overdue_count++] = *c;
        }
    return 0;
}

static int
s_parse_thresholds (s_report_t *r, const char *text)
{
    static const int64_t defaults [s_SEVERITIES] = {15 * 60000LL, 3600000LL, 4 * 3600000LL,
                                                    24 * 3600000LL, 72 * 3600000LL};
    memcpy (r->thresholds, defaults, sizeof defaults);
    if (!text)
        return 0;
    char *copy = strdup (text), *save = NULL;
    int rc = 0;
    for (char *item = strtok_r (copy, ",", &save); item && rc == 0;
         item = strtok_r (NULL, ",", &save)) {
        char *eq = strchr (item, '=');
        int found = -1;
        if (eq) {
            *eq = 0;
            for (int s = 0; s < s_SEVERITIES; s++)
                if (strcmp (item, s_severities [s]) == 0)
                    found = s;
        }
        int64_t ms = eq ? certbus_duration_parse (eq + 1) : -1;
        if (found < 0 || ms < 0)
            rc = certbus_fail (
                CERTBUS_E_USAGE,
                "--overdue takes SEVERITY=DURATION[,...], e.g. critical=15m,high=1h"),
            rc = -1;
        else
            r->thresholds [found] = ms;
    }
    free (copy);
    return rc;
}

//  Prints one group's line: its cases and response-time percentiles
static void
s_print_group (s_group_t *g, bool json)
{
    double a50 = s_percentile (g->ack, g->ack_n, 0.5), a90 = s_percentile (g->ack, g->ack_n, 0.9);
    double r50 = s_percentile (g->resolve, g->resolve_n, 0.5),
           r90 = s_percentile (g->resolve, g->resolve_n, 0.9);
    certbus_sb_t sb = {0};
    if (json) {
        certbus_sb_printf (&sb, "{\"group\":{\"tier\":");
        certbus_sb_json_str (&sb, g->tier);
        certbus_sb_json_field (&sb, "sector", g->sector);
        certbus_sb_json_field (&sb, "severity", g->severity);
        certbus_sb_printf (&sb,
                           "},\"cases\":%zu,\"open\":%zu,\"ack_p50_s\":%.3f,"
                           "\"ack_p90_s\":%.3f,\"resolve_p50_s\":%.3f,"
                           "\"resolve_p90_s\":%.3f}",
                           g->cases, g->open, a50, a90, r50, r90);
    }
    else {
        char cells [4][24];
        double values [4] = {a50, a90, r50, r90};
        for (int v = 0; v < 4; v++)
            if (values [v] < 0)
                snprintf (cells [v], sizeof cells [v], "-");
            else
                snprintf (cells [v], sizeof cells [v], "%.1fs", values [v]);
        s_cell (&sb, g->tier, 13);
        certbus_sb_printf (&sb, " ");
        s_cell (&sb, g->sector, 12);
        certbus_sb_printf (&sb, " ");
        s_cell (&sb, g->severity, 9);
        certbus_sb_printf (&sb, " %5zu %5zu %10s %10s %12s %12s", g->cases, g->open, cells [0],
                           cells [1], cells [2], cells [3]);
    }
    s_line (&sb);
}

//  Prints one overdue case's line
static void
s_print_overdue (const broker_case_t *c, int64_t now, bool json)
{
    char id [CERTBUS_ID_STR_SIZE];
    certbus_id_format (c->case_id, id);
    long long age = (long long) (now - c->opened_at);
    certbus_sb_t sb = {0};
    if (json) {
        certbus_sb_printf (&sb, "{\"overdue\":\"%s\"", id);
        certbus_sb_json_field (&sb, "reporter", c->origin);
        certbus_sb_json_field (&sb, "severity", c->severity);
        certbus_sb_json_field (&sb, "status", c->status);
        certbus_sb_printf (&sb, ",\"age_s\":%lld}", age / 1000);
    }
    else {
        certbus_sb_printf (&sb, "  %s  ", id);
        s_cell (&sb, c->origin, 16);
        certbus_sb_printf (&sb, " ");
        s_cell (&sb, c->severity, 9);
        certbus_sb_printf (&sb, " ");
        s_cell (&sb, c->status, 13);
        certbus_sb_printf (&sb, " open %lld min", age / 60000);
    }
    s_line (&sb);
}

int
report_print (const char *dir, int64_t since, bool json, const char *overdue)
{
    s_report_t r;
    memset (&r, 0, sizeof r);
    r.json = json;
    r.now = certbus_now_ms ();
    if (s_parse_thresholds (&r, overdue))
        return -1;
    broker_store_t *store = broker_conf_store_open (dir);
    if (!store)
        return -1;
    uint8_t council [CERTBUS_KEY_SIZE], *bytes = NULL;
    size_t size;
    char *path = council_path (dir, COUNCIL_PUB);
    if (certbus_pubfile_read (path, council, NULL) == 0
        && broker_store_directory_latest (store, &bytes, &size) == 0
        && certbus_directory_decode (bytes, size, council, 0, &r.dir) != CERTBUS_OK)
        r.dir = NULL; //  tiers then show as "unknown"
    free (path);
    free (bytes);
    int64_t count = broker_store_cases_each (store, since, s_case, &r);
    int rc = count < 0 ? -1 : 0;
    if (rc == 0 && !json) {
        char from [40];
        certbus_time_format (since, from, sizeof from);
        printf ("incident cases opened since %s: %lld\n\n", since ? from : "the start",
                (long long) count);
        printf ("%-13s %-12s %-9s %5s %5s %10s %10s %12s %12s\n", "tier", "sector", "severity",
                "cases", "open", "ack p50", "ack p90", "resolve p50", "resolve p90");
    }
    for (size_t i = 0; rc == 0 && i < r.group_count; i++) {
        s_print_group (&r.groups [i], json);
        free (r.groups [i].ack);
        free (r.groups [i].resolve);
    }
    if (rc == 0) {
        if (!json)
            printf ("\nopen cases unacknowledged past their threshold:%s\n",
                    r.overdue_count ? "" : " none");
        for (size_t i = 0; i < r.overdue_count; i++) {
            s_print_overdue (&r.overdue [i], r.now, json);
        }
    }
    free (r.overdue);
    free (r.groups);
    certbus_directory_destroy (&r.dir);
    broker_store_destroy (&store);
    return rc;
}
