/*  policy.h - the Council's policy: which sender may send which kind, at
    which TLP, to which audience terms; default deny
    SPDX-License-Identifier: MPL-2.0

    The policy is a ZPL file (ZeroMQ RFC 4, read with CZMQ's zconfig):

        policy
            rule = sectoral-own-sector
                sender
                    tier = sectoral
                kind = advisory, alert
                tlp = *
                audience = sector:$own, org:*
                org-scope = own-sector

    A rule matches a sender (tier, sector, region, org: each a list, absent
    or "*" for any), a kind list and a TLP list, and allows the audience
    term patterns it lists: "*", "all", "tier:T", "sector:S", "region:R",
    "org:ID", any of them with a "*" value, and "sector:$own" /
    "region:$own" for the sender's own sector or region. For org: terms,
    "org-tier" limits the addressed member's tier and "org-scope" (any,
    own-sector, own-region) its sector or region. "status" limits incident
    case statuses. A message is allowed when every term of its audience is
    allowed by some rule; otherwise it is refused by default.
*/
#ifndef CERTBUS_POLICY_H_INCLUDED
#define CERTBUS_POLICY_H_INCLUDED

#include "audience.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct certbus_policy_t certbus_policy_t;

//  What the policy decided, and the rule that decided it.
typedef struct {
    bool allowed;
    char rule [256];   //  rule name(s), or "default-deny"
    char reason [512]; //  for a refusal: which term, why
} certbus_decision_t;

#define CERTBUS_POLICY_DEFAULT_DENY "default-deny"

//  Parses a policy from ZPL text or a file. Returns NULL with the reason
//  set (a rule without a name, an unknown field, an unknown tier or TLP, a
//  bad audience pattern).
certbus_policy_t *
    certbus_policy_parse (const char *text);
certbus_policy_t *
    certbus_policy_load (const char *path);

void
    certbus_policy_destroy (certbus_policy_t **self_p);

//  Number of rules, and a one-line description of rule index (a new
//  string).
size_t
    certbus_policy_rules (certbus_policy_t *self);
char *
    certbus_policy_describe (certbus_policy_t *self, size_t index);

//  Decides a message from sender of kind at tlp to audience, with case
//  status (NULL or "" when not an incident update). dir resolves org:
//  terms for org-tier and org-scope.
void
    certbus_policy_decide (certbus_policy_t *self, const certbus_cert_t *sender, const char *kind,
                           const char *tlp, const char *status, const certbus_audience_t *audience,
                           certbus_directory_t *dir, certbus_decision_t *decision);

#ifdef __cplusplus
}
#endif

#endif
