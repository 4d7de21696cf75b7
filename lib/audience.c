/*  audience.c - parse and resolve audiences
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_term_names [] = {"all", "org", "tier", "sector", "region"};

const char *
certbus_term_type_name (certbus_term_type_t type)
{
    return type <= CERTBUS_TERM_REGION ? s_term_names [type] : "unknown";
}

bool
certbus_tlp_valid (const char *tlp)
{
    static const char *known [] = {"clear", "green", "amber", "amber+strict", "red"};
    return certbus_str_index (tlp, known, sizeof known / sizeof known [0]) >= 0;
}

certbus_audience_t *
certbus_audience_parse (const char *text)
{
    if (!text || !*text) {
        certbus_fail (CERTBUS_E_AUDIENCE, "audience is empty");
        return NULL;
    }
    if (strlen (text) > CERTBUS_MAX_STRING) {
        certbus_fail (CERTBUS_E_AUDIENCE, "audience is longer than %d bytes", CERTBUS_MAX_STRING);
        return NULL;
    }
    certbus_audience_t *self = certbus_calloc (1, sizeof *self);
    self->terms = certbus_calloc (CERTBUS_MAX_TERMS, sizeof (certbus_term_t));
    char *copy = strdup (text);
    if (!copy)
        abort ();
    char *save = NULL;
    bool ok = true;
    for (char *item = strtok_r (copy, ",", &save); item && ok; item = strtok_r (NULL, ",", &save)) {
        while (*item == ' ')
            item++;
        size_t len = strlen (item);
        while (len && item [len - 1] == ' ')
            item [--len] = 0;
        if (self->count == CERTBUS_MAX_TERMS) {
            certbus_fail (CERTBUS_E_AUDIENCE, "audience has more than %d terms", CERTBUS_MAX_TERMS);
            ok = false;
            break;
        }
        certbus_term_t *term = &self->terms [self->count];
        if (strcmp (item, "all") == 0) {
            term->type = CERTBUS_TERM_ALL;
            self->count++;
            continue;
        }
        char *colon = strchr (item, ':');
        if (!colon) {
            char *quoted = certbus_term_escape (item);
            certbus_fail (CERTBUS_E_AUDIENCE,
                          "audience term '%s' is not one of org:ID, tier:T, sector:S, "
                          "region:R, all",
                          quoted);
            free (quoted);
            ok = false;
            break;
        }
        *colon = 0;
        const char *value = colon + 1;
        int type = -1;
        for (int t = CERTBUS_TERM_ORG; t <= CERTBUS_TERM_REGION; t++)
            if (strcmp (item, s_term_names [t]) == 0)
                type = t;
        if (type < 0) {
            char *quoted = certbus_term_escape (item);
            certbus_fail (CERTBUS_E_AUDIENCE,
                          "unknown audience term type '%s' (use org, tier, sector, region or "
                          "all)",
                          quoted);
            free (quoted);
            ok = false;
        }
        else if (!certbus_name_valid (value)) {
            char *quoted = certbus_term_escape (value);
            certbus_fail (CERTBUS_E_AUDIENCE, "audience term '%s:%s' has an invalid value", item,
                          quoted);
            free (quoted);
            ok = false;
        }
        else if (type == CERTBUS_TERM_TIER && certbus_tier_parse (value) == CERTBUS_TIER_NONE) {
            certbus_fail (CERTBUS_E_AUDIENCE, "unknown tier '%s' (tiers: %s)", value,
                          certbus_tier_list ());
            ok = false;
        }
        else {
            term->type = (certbus_term_type_t) type;
            snprintf (term->value, sizeof term->value, "%s", value);
            self->count++;
        }
    }
    free (copy);
    if (ok && self->count == 0) {
        certbus_fail (CERTBUS_E_AUDIENCE, "audience has no terms");
        ok = false;
    }
    if (!ok)
        certbus_audience_destroy (&self);
    return self;
}

void
certbus_audience_destroy (certbus_audience_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->terms);
        free (*self_p);
        *self_p = NULL;
    }
}

bool
certbus_term_matches (const certbus_term_t *term, const certbus_cert_t *cert)
{
    switch (term->type) {
        case CERTBUS_TERM_ALL:
            return true;
        case CERTBUS_TERM_ORG:
            return strcmp (term->value, cert->org_id) == 0;
        case CERTBUS_TERM_TIER:
            return certbus_tier_parse (term->value) == cert->tier;
        case CERTBUS_TERM_SECTOR:
            return strcmp (term->value, cert->sector) == 0;
        case CERTBUS_TERM_REGION:
            return strcmp (term->value, cert->region) == 0;
    }
    return false;
}

bool
certbus_audience_only_orgs (const certbus_audience_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        if (self->terms [i].type != CERTBUS_TERM_ORG)
            return false;
    return true;
}

void
certbus_strv_free (char **strv, size_t count)
{
    if (!strv)
        return;
    for (size_t i = 0; i < count; i++)
        free (strv [i]);
    free (strv);
}

certbus_err_t
certbus_audience_resolve (const char *text, const char *tlp, certbus_directory_t *dir,
                          const char *exclude_org, int64_t when_s, char ***orgs_p, size_t *count_p)
{
    *orgs_p = NULL;
    *count_p = 0;
    certbus_audience_t *audience = certbus_audience_parse (text);
    if (!audience)
        return CERTBUS_E_AUDIENCE;
    certbus_err_t rc = CERTBUS_OK;
    if (tlp && strcmp (tlp, "red") == 0 && !certbus_audience_only_orgs (audience)) {
        char *quoted = certbus_term_escape (text);
        rc = certbus_fail (CERTBUS_E_TLP,
                           "TLP red may be sent only to named organisations (org:ID terms), "
                           "not to '%s'",
                           quoted);
        free (quoted);
        goto cleanup;
    }
    for (size_t t = 0; t < audience->count; t++) {
        const certbus_term_t *term = &audience->terms [t];
        if (term->type != CERTBUS_TERM_ORG)
            continue;
        const certbus_cert_t *cert = certbus_directory_find (dir, term->value);
        if (!cert || certbus_cert_check_time (cert, when_s) != CERTBUS_OK
            || certbus_directory_revocation (dir, cert->serial)) {
            rc = certbus_fail (CERTBUS_E_AUDIENCE_EMPTY,
                               "org '%s' is not a current member in directory version %llu",
                               term->value, (unsigned long long) certbus_directory_serial (dir));
            goto cleanup;
        }
    }
    size_t total = certbus_directory_count (dir);
    char **orgs = certbus_calloc (total + 1, sizeof (char *));
    size_t count = 0;
    //  The directory is sorted by org id, so the result is sorted and unique
    for (size_t i = 0; i < total; i++) {
        const certbus_cert_t *cert = certbus_directory_at (dir, i);
        if (exclude_org && strcmp (cert->org_id, exclude_org) == 0)
            continue;
        if (certbus_cert_check_time (cert, when_s) != CERTBUS_OK
            || certbus_directory_revocation (dir, cert->serial))
            continue;
        for (size_t t = 0; t < audience->count; t++)
            if (certbus_term_matches (&audience->terms [t], cert)) {
                orgs [count] = strdup (cert->org_id);
                if (!orgs [count++])
                    abort ();
                break;
            }
    }
    if (count == 0) {
        free (orgs);
        char *quoted = certbus_term_escape (text);
        rc = certbus_fail (CERTBUS_E_AUDIENCE_EMPTY,
                           "audience '%s' resolves to nobody in directory version %llu", quoted,
                           (unsigned long long) certbus_directory_serial (dir));
        free (quoted);
        goto cleanup;
    }
    *orgs_p = orgs;
    *count_p = count;
cleanup:
    certbus_audience_destroy (&audience);
    return rc;
}
