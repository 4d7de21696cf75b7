/*  policy.c - the Council's policy: default deny, rules in ZPL
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus.h"
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#define s_MAX_ITEMS 32

//  A comma-separated list; no items means "any".
typedef struct {
    size_t count;
    char *items [s_MAX_ITEMS];
} s_list_t;

typedef enum { s_SCOPE_ANY = 0, s_SCOPE_SECTOR, s_SCOPE_REGION } s_scope_t;

typedef struct {
    char *name;
    s_list_t tiers, sectors, regions, orgs; //  sender
    s_list_t kinds, tlps, statuses;
    s_list_t audience;  //  term patterns
    s_list_t org_tiers; //  for org: terms
    s_scope_t org_scope;
} s_rule_t;

struct certbus_policy_t {
    s_rule_t *rules;
    size_t count;
};

static void
s_list_free (s_list_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        free (list->items [i]);
    list->count = 0;
}

static int
s_list_parse (s_list_t *list, const char *text, const char *rule, const char *field)
{
    s_list_free (list);
    char *copy = strdup (text);
    if (!copy)
        abort ();
    char *save = NULL;
    int rc = 0;
    for (char *item = strtok_r (copy, ",", &save); item; item = strtok_r (NULL, ",", &save)) {
        while (*item == ' ' || *item == '\t')
            item++;
        size_t len = strlen (item);
        while (len && (item [len - 1] == ' ' || item [len - 1] == '\t'))
            item [--len] = 0;
        if (!len)
            continue;
        if (list->count == s_MAX_ITEMS) {
            certbus_fail (CERTBUS_E_FIELD, "rule '%s': %s has more than %d items", rule, field,
                          s_MAX_ITEMS);
            rc = -1;
            break;
        }
        if (strcmp (item, "*") == 0) {
            //  "*" anywhere makes the whole list "any"
            s_list_free (list);
            break;
        }
        list->items [list->count] = strdup (item);
        if (!list->items [list->count++])
            abort ();
    }
    free (copy);
    return rc;
}

static bool
s_list_has (const s_list_t *list, const char *value)
{
    if (list->count == 0)
        return true;
    for (size_t i = 0; i < list->count; i++)
        if (value && strcmp (list->items [i], value) == 0)
            return true;
    return false;
}

static void
s_rule_free (s_rule_t *rule)
{
    free (rule->name);
    s_list_free (&rule->tiers);
    s_list_free (&rule->sectors);
    s_list_free (&rule->regions);
    s_list_free (&rule->orgs);
    s_list_free (&rule->kinds);
    s_list_free (&rule->tlps);
    s_list_free (&rule->statuses);
    s_list_free (&rule->audience);
    s_list_free (&rule->org_tiers);
}

static int
s_check_pattern (const char *pattern, const char *rule)
{
    if (strcmp (pattern, "all") == 0)
        return 0;
    const char *colon = strchr (pattern, ':');
    if (!colon)
        return certbus_fail (CERTBUS_E_FIELD,
                             "rule '%s': audience pattern '%s' is not *, all, or TYPE:VALUE", rule,
                             pattern),
               -1;
    size_t type_len = (size_t) (colon - pattern);
    const char *value = colon + 1;
    bool known = (type_len == 3 && strncmp (pattern, "org", 3) == 0)
                 || (type_len == 4 && strncmp (pattern, "tier", 4) == 0)
                 || (type_len == 6 && strncmp (pattern, "sector", 6) == 0)
                 || (type_len == 6 && strncmp (pattern, "region", 6) == 0);
    if (!known)
        return certbus_fail (CERTBUS_E_FIELD, "rule '%s': unknown audience term type in '%s'", rule,
                             pattern),
               -1;
    if (strcmp (value, "*") == 0)
        return 0;
    if (strcmp (value, "$own") == 0) {
        if (strncmp (pattern, "sector", 6) != 0 && strncmp (pattern, "region", 6) != 0)
            return certbus_fail (CERTBUS_E_FIELD,
                                 "rule '%s': $own applies to sector: and region: only", rule),
                   -1;
        return 0;
    }
    if (strncmp (pattern, "tier", 4) == 0 && certbus_tier_parse (value) == CERTBUS_TIER_NONE)
        return certbus_fail (CERTBUS_E_FIELD, "rule '%s': unknown tier '%s' (tiers: %s)", rule,
                             value, certbus_tier_list ()),
               -1;
    if (!certbus_name_valid (value))
        return certbus_fail (CERTBUS_E_FIELD, "rule '%s': invalid value in '%s'", rule, pattern),
               -1;
    return 0;
}

//  The list fields of a rule, by their name in the policy file (the
//  sender's as "sender/NAME"), and where each goes
static const struct {
    const char *field;
    size_t offset;
} s_list_fields [] = {
    {"sender/tier", offsetof (s_rule_t, tiers)},
    {"sender/sector", offsetof (s_rule_t, sectors)},
    {"sender/region", offsetof (s_rule_t, regions)},
    {"sender/org", offsetof (s_rule_t, orgs)},
    {"kind", offsetof (s_rule_t, kinds)},
    {"tlp", offsetof (s_rule_t, tlps)},
    {"status", offsetof (s_rule_t, statuses)},
    {"audience", offsetof (s_rule_t, audience)},
    {"org-tier", offsetof (s_rule_t, org_tiers)},
};

//  The list of rule that field names, or NULL when it names none
static s_list_t *
s_list_field (s_rule_t *rule, const char *field)
{
    for (size_t i = 0; i < sizeof s_list_fields / sizeof s_list_fields [0]; i++)
        if (strcmp (field, s_list_fields [i].field) == 0)
            return (s_list_t *) ((char *) rule + s_list_fields [i].offset);
    return NULL;
}

static int
s_rule_parse (s_rule_t *rule, zconfig_t *section)
{
    const char *name = zconfig_value (section);
    if (!name || !*name || !certbus_name_valid (name))
        return certbus_fail (CERTBUS_E_FIELD,
                             "every rule needs a name of a-z, 0-9, '-', '_' (rule = NAME)"),
               -1;
    rule->name = strdup (name);
    for (zconfig_t *child = zconfig_child (section); child; child = zconfig_next (child)) {
        const char *field = zconfig_name (child);
        const char *value = zconfig_value (child) ? zconfig_value (child) : "";
        int rc = 0;
        if (strcmp (field, "sender") == 0) {
            for (zconfig_t *s = zconfig_child (child); s && rc == 0; s = zconfig_next (s)) {
                const char *key = zconfig_name (s);
                const char *val = zconfig_value (s) ? zconfig_value (s) : "";
                char path [CERTBUS_MAX_NAME + 8];
                snprintf (path, sizeof path, "sender/%s", key);
                s_list_t *list = strchr (key, '/') ? NULL : s_list_field (rule, path);
                if (list)
                    rc = s_list_parse (list, val, name, path);
                else
                    rc = certbus_fail (CERTBUS_E_FIELD,
                                       "rule '%s': unknown sender field '%s' (tier, sector, "
                                       "region, org)",
                                       name, key),
                    rc = -1;
            }
        }
        else if (!strchr (field, '/') && s_list_field (rule, field))
            rc = s_list_parse (s_list_field (rule, field), value, name, field);
        else if (strcmp (field, "org-scope") == 0) {
            if (strcmp (value, "any") == 0)
                rule->org_scope = s_SCOPE_ANY;
            else if (strcmp (value, "own-sector") == 0)
                rule->org_scope = s_SCOPE_SECTOR;
            else if (strcmp (value, "own-region") == 0)
                rule->org_scope = s_SCOPE_REGION;
            else
                rc = certbus_fail (CERTBUS_E_FIELD,
                                   "rule '%s': org-scope '%s' is not any, own-sector or "
                                   "own-region",
                                   name, value),
                rc = -1;
        }
        else
            rc = certbus_fail (CERTBUS_E_FIELD,
                               "rule '%s': unknown field '%s' (sender, kind, tlp, status, "
                               "audience, org-tier, org-scope)",
                               name, field),
            rc = -1;
        if (rc)
            return -1;
    }
    for (size_t i = 0; i < rule->tiers.count; i++)
        if (certbus_tier_parse (rule->tiers.items [i]) == CERTBUS_TIER_NONE)
            return certbus_fail (CERTBUS_E_FIELD, "rule '%s': unknown sender tier '%s'", name,
                                 rule->tiers.items [i]),
                   -1;
    for (size_t i = 0; i < rule->org_tiers.count; i++)
        if (certbus_tier_parse (rule->org_tiers.items [i]) == CERTBUS_TIER_NONE)
            return certbus_fail (CERTBUS_E_FIELD, "rule '%s': unknown org-tier '%s'", name,
                                 rule->org_tiers.items [i]),
                   -1;
    for (size_t i = 0; i < rule->tlps.count; i++)
        if (!certbus_tlp_valid (rule->tlps.items [i]))
            return certbus_fail (CERTBUS_E_FIELD, "rule '%s': unknown TLP '%s'", name,
                                 rule->tlps.items [i]),
                   -1;
    for (size_t i = 0; i < rule->audience.count; i++)
        if (s_check_pattern (rule->audience.items [i], name))
            return -1;
    return 0;
}

static certbus_policy_t *
s_from_config (zconfig_t *root, const char *origin)
{
    zconfig_t *policy = zconfig_locate (root, "policy");
    if (!policy) {
        certbus_fail (CERTBUS_E_FIELD, "%s has no 'policy' section", origin);
        return NULL;
    }
    certbus_policy_t *self = certbus_calloc (1, sizeof *self);
    size_t cap = 0;
    for (zconfig_t *child = zconfig_child (policy); child; child = zconfig_next (child)) {
        if (strcmp (zconfig_name (child), "rule") != 0) {
            certbus_fail (CERTBUS_E_FIELD, "%s: unknown entry '%s' in policy (only rule = NAME)",
                          origin, zconfig_name (child));
            certbus_policy_destroy (&self);
            return NULL;
        }
        if (self->count == cap) {
            cap = cap ? cap * 2 : 16;
            self->rules = certbus_realloc (self->rules, cap, sizeof (s_rule_t));
        }
        s_rule_t *rule = &self->rules [self->count++];
        memset (rule, 0, sizeof *rule);
        if (s_rule_parse (rule, child)) {
            char reason [CERTBUS_REASON_MAX];
            snprintf (reason, sizeof reason, "%s", certbus_reason ());
            certbus_fail (CERTBUS_E_FIELD, "%s: %s", origin, reason);
            certbus_policy_destroy (&self);
            return NULL;
        }
        for (size_t i = 0; i + 1 < self->count; i++)
            if (strcmp (self->rules [i].name, rule->name) == 0) {
                certbus_fail (CERTBUS_E_FIELD, "%s: two rules are named '%s'", origin, rule->name);
                certbus_policy_destroy (&self);
                return NULL;
            }
    }
    return self;
}

certbus_policy_t *
certbus_policy_parse (const char *text)
{
    if (!text || strlen (text) > 1024 * 1024) {
        certbus_fail (CERTBUS_E_TOO_LARGE, "policy text is missing or larger than 1 MiB");
        return NULL;
    }
    zconfig_t *root = zconfig_str_load (text);
    if (!root) {
        certbus_fail (CERTBUS_E_DECODE, "policy is not valid ZPL");
        return NULL;
    }
    certbus_policy_t *self = s_from_config (root, "policy");
    zconfig_destroy (&root);
    return self;
}

certbus_policy_t *
certbus_policy_load (const char *path)
{
    uint8_t *data;
    size_t size;
    if (certbus_file_read (path, 1024 * 1024, &data, &size))
        return NULL;
    char *text = certbus_malloc (size + 1);
    memcpy (text, data, size);
    text [size] = 0;
    free (data);
    zconfig_t *root = memchr (text, 0, size) ? NULL : zconfig_str_load (text);
    free (text);
    if (!root) {
        certbus_fail (CERTBUS_E_DECODE, "%s is not valid ZPL", path);
        return NULL;
    }
    certbus_policy_t *self = s_from_config (root, path);
    zconfig_destroy (&root);
    return self;
}

void
certbus_policy_destroy (certbus_policy_t **self_p)
{
    assert (self_p);
    certbus_policy_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++)
        s_rule_free (&self->rules [i]);
    free (self->rules);
    free (self);
    *self_p = NULL;
}

size_t
certbus_policy_rules (certbus_policy_t *self)
{
    return self->count;
}

static void
s_describe_list (certbus_sb_t *sb, const char *label, const s_list_t *list)
{
    certbus_sb_printf (sb, " %s=", label);
    if (list->count == 0)
        certbus_sb_printf (sb, "*");
    for (size_t i = 0; i < list->count; i++)
        certbus_sb_printf (sb, "%s%s", i ? "," : "", list->items [i]);
}

char *
certbus_policy_describe (certbus_policy_t *self, size_t index)
{
    assert (index < self->count);
    s_rule_t *rule = &self->rules [index];
    certbus_sb_t sb = {0};
    certbus_sb_printf (&sb, "%s:", rule->name);
    s_describe_list (&sb, "sender-tier", &rule->tiers);
    if (rule->sectors.count)
        s_describe_list (&sb, "sender-sector", &rule->sectors);
    if (rule->regions.count)
        s_describe_list (&sb, "sender-region", &rule->regions);
    if (rule->orgs.count)
        s_describe_list (&sb, "sender-org", &rule->orgs);
    s_describe_list (&sb, "kind", &rule->kinds);
    s_describe_list (&sb, "tlp", &rule->tlps);
    if (rule->statuses.count)
        s_describe_list (&sb, "status", &rule->statuses);
    s_describe_list (&sb, "audience", &rule->audience);
    if (rule->org_tiers.count)
        s_describe_list (&sb, "org-tier", &rule->org_tiers);
    if (rule->org_scope != s_SCOPE_ANY)
        certbus_sb_printf (&sb, " org-scope=%s",
                           rule->org_scope == s_SCOPE_SECTOR ? "own-sector" : "own-region");
    return sb.data;
}

//  True when rule lets sender address term.
static bool
s_term_allowed (const s_rule_t *rule, const certbus_cert_t *sender, const certbus_term_t *term,
                certbus_directory_t *dir)
{
    const char *type = certbus_term_type_name (term->type);
    bool pattern_ok = rule->audience.count == 0;
    for (size_t i = 0; i < rule->audience.count && !pattern_ok; i++) {
        const char *pattern = rule->audience.items [i];
        if (term->type == CERTBUS_TERM_ALL) {
            pattern_ok = strcmp (pattern, "all") == 0;
            continue;
        }
        size_t type_len = strlen (type);
        if (strncmp (pattern, type, type_len) != 0 || pattern [type_len] != ':')
            continue;
        const char *value = pattern + type_len + 1;
        if (strcmp (value, "*") == 0)
            pattern_ok = true;
        else if (strcmp (value, "$own") == 0)
            pattern_ok = (term->type == CERTBUS_TERM_SECTOR && *sender->sector
                          && strcmp (term->value, sender->sector) == 0)
                         || (term->type == CERTBUS_TERM_REGION && *sender->region
                             && strcmp (term->value, sender->region) == 0);
        else
            pattern_ok = strcmp (value, term->value) == 0;
    }
    if (!pattern_ok)
        return false;
    if (term->type != CERTBUS_TERM_ORG
        || (rule->org_tiers.count == 0 && rule->org_scope == s_SCOPE_ANY))
        return true;
    const certbus_cert_t *target = dir ? certbus_directory_find (dir, term->value) : NULL;
    if (!target)
        return false;
    if (!s_list_has (&rule->org_tiers, certbus_tier_name (target->tier)))
        return false;
    if (rule->org_scope == s_SCOPE_SECTOR)
        return *sender->sector && strcmp (sender->sector, target->sector) == 0;
    if (rule->org_scope == s_SCOPE_REGION)
        return *sender->region && strcmp (sender->region, target->region) == 0;
    return true;
}

void
certbus_policy_decide (certbus_policy_t *self, const certbus_cert_t *sender, const char *kind,
                       const char *tlp, const char *status, const certbus_audience_t *audience,
                       certbus_directory_t *dir, certbus_decision_t *decision)
{
    memset (decision, 0, sizeof *decision);
    certbus_sb_t rules = {0};
    for (size_t t = 0; t < audience->count; t++) {
        const certbus_term_t *term = &audience->terms [t];
        const s_rule_t *match = NULL;
        for (size_t r = 0; r < self->count && !match; r++) {
            const s_rule_t *rule = &self->rules [r];
            if (s_list_has (&rule->tiers, certbus_tier_name (sender->tier))
                && (rule->sectors.count == 0 || s_list_has (&rule->sectors, sender->sector))
                && (rule->regions.count == 0 || s_list_has (&rule->regions, sender->region))
                && s_list_has (&rule->orgs, sender->org_id) && s_list_has (&rule->kinds, kind)
                && s_list_has (&rule->tlps, tlp)
                && (rule->statuses.count == 0 || (status && s_list_has (&rule->statuses, status)))
                && s_term_allowed (rule, sender, term, dir))
                match = rule;
        }
        if (!match) {
            snprintf (decision->rule, sizeof decision->rule, "%s", CERTBUS_POLICY_DEFAULT_DENY);
            snprintf (decision->reason, sizeof decision->reason,
                      "no rule lets %s '%s' send %s at TLP %s%s%s to '%s%s%s' (default deny)",
                      certbus_tier_name (sender->tier), sender->org_id, kind, tlp,
                      status && *status ? " with status " : "", status ? status : "",
                      certbus_term_type_name (term->type), term->type ? ":" : "", term->value);
            certbus_sb_free (&rules);
            return;
        }
        //  Name each deciding rule once
        bool seen = rules.data && strstr (rules.data, match->name) != NULL;
        if (!seen && rules.len + strlen (match->name) + 2 < sizeof decision->rule)
            certbus_sb_printf (&rules, "%s%s", rules.len ? "," : "", match->name);
    }
    decision->allowed = audience->count > 0;
    snprintf (decision->rule, sizeof decision->rule, "%s",
              rules.data ? rules.data : CERTBUS_POLICY_DEFAULT_DENY);
    certbus_sb_free (&rules);
}
