/*  header.c - the rules on an envelope header's strings, case fields and
    references, shared by seal and decode
    SPDX-License-Identifier: MPL-2.0

    A member running its own client signs whatever it likes, so decode
    applies these rules to every header it reads (the broker on every
    publish, nodes on every delivery and on the inner envelope of a
    forward). Seal applies the same function, so the stock tools never make
    an envelope that a receiver refuses.
*/
#include "certbus.h"
#include <stdlib.h>
#include <string.h>

#define s_QUOTE_MAX 64 //  bytes of a quoted value in a reason

static const char *s_statuses [] = {"reported", "acknowledged", "investigating", "contained",
                                    "resolved", "closed",       "reopened"};
#define s_STATUS_LIST "reported, acknowledged, investigating, contained, resolved, closed, reopened"

static const char *s_relations [] = {"updates", "forwards", "receipt-for"};
#define s_RELATION_LIST "updates, forwards, receipt-for"

bool
certbus_case_status_valid (const char *status)
{
    if (!status)
        return false;
    if (!*status)
        return true;
    return certbus_str_index (status, s_statuses, sizeof s_statuses / sizeof s_statuses [0]) >= 0;
}

//  value escaped for a terminal (a reason may be logged or printed), cut to
//  at most s_QUOTE_MAX bytes on a character boundary. Returns out.
static const char *
s_quote (const char *value, char out [s_QUOTE_MAX + 4])
{
    char *escaped = certbus_term_escape (value);
    size_t len = strlen (escaped);
    if (len <= s_QUOTE_MAX)
        memcpy (out, escaped, len + 1);
    else {
        len = s_QUOTE_MAX;
        while (len > 0 && ((unsigned char) escaped [len] & 0xc0) == 0x80)
            len--;
        memcpy (out, escaped, len);
        memcpy (out + len, "...", 4);
    }
    free (escaped);
    return out;
}

static bool
s_relation_known (const char *relation)
{
    return certbus_str_index (relation, s_relations, sizeof s_relations / sizeof s_relations [0])
           >= 0;
}

//  How many of the references have this relation
static size_t
s_relation_count (const certbus_header_text_t *h, const char *relation)
{
    size_t count = 0;
    for (size_t i = 0; i < h->ref_count; i++)
        if (strcmp (h->relations [i], relation) == 0)
            count++;
    return count;
}

certbus_err_t
certbus_header_check (const certbus_header_text_t *h)
{
    assert (h);
    char quoted [s_QUOTE_MAX + 4];
    const struct {
        const char *name;
        const char *value;
    } strings [] = {{"origin", h->origin},
                    {"kind", h->kind},
                    {"topic", h->topic},
                    {"tlp", h->tlp},
                    {"severity", h->severity},
                    {"audience", h->audience},
                    {"content_type", h->content_type},
                    {"case_status", h->case_status},
                    {"assign", h->assign}};
    for (size_t i = 0; i < sizeof strings / sizeof strings [0]; i++)
        if (certbus_text_has_control (strings [i].value))
            return certbus_fail (CERTBUS_E_FIELD,
                                 "envelope header field %s holds a control character: '%s'",
                                 strings [i].name, s_quote (strings [i].value, quoted));
    const char *kind = h->kind ? h->kind : "";
    const char *status = h->case_status ? h->case_status : "";
    const char *assign = h->assign ? h->assign : "";
    if (!certbus_case_status_valid (status))
        return certbus_fail (CERTBUS_E_FIELD, "case status '%s' is not one of %s",
                             s_quote (status, quoted), s_STATUS_LIST);
    if (*assign && !certbus_name_valid (assign))
        return certbus_fail (CERTBUS_E_FIELD, "assign '%s' is not a valid org id",
                             s_quote (assign, quoted));
    for (size_t i = 0; i < h->ref_count; i++) {
        if (!s_relation_known (h->relations [i]))
            return certbus_fail (CERTBUS_E_FIELD, "reference %zu has relation '%s', not one of %s",
                                 i, s_quote (h->relations [i], quoted), s_RELATION_LIST);
        if (s_relation_count (h, h->relations [i]) > 1)
            return certbus_fail (CERTBUS_E_FIELD,
                                 "relation '%s' appears more than once: each relation at most "
                                 "once per envelope",
                                 h->relations [i]);
    }
    bool incident = strcmp (kind, "incident") == 0;
    bool receipt = strcmp (kind, "receipt") == 0;
    if (!incident && s_relation_count (h, "updates"))
        return certbus_fail (CERTBUS_E_FIELD,
                             "only an incident may update a case (relation 'updates'), not "
                             "kind '%s'",
                             s_quote (kind, quoted));
    if (!incident && *status)
        return certbus_fail (CERTBUS_E_FIELD,
                             "only an incident may carry a case status, not kind '%s'",
                             s_quote (kind, quoted));
    if (!incident && *assign)
        return certbus_fail (CERTBUS_E_FIELD, "only an incident may assign a case, not kind '%s'",
                             s_quote (kind, quoted));
    if (!receipt && s_relation_count (h, "receipt-for"))
        return certbus_fail (CERTBUS_E_FIELD,
                             "only a receipt may reference a message as receipt-for, not kind "
                             "'%s'",
                             s_quote (kind, quoted));
    if (receipt && (h->ref_count != 1 || strcmp (h->relations [0], "receipt-for") != 0))
        return certbus_fail (CERTBUS_E_FIELD,
                             "a receipt carries exactly one reference, receipt-for, and no "
                             "other");
    return CERTBUS_OK;
}
