/*  audience.h - parse and resolve audiences: org:ID, tier:T, sector:S,
    region:R, all, and comma lists of them
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef CERTBUS_AUDIENCE_H_INCLUDED
#define CERTBUS_AUDIENCE_H_INCLUDED

#include "directory.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CERTBUS_TERM_ALL = 0,
    CERTBUS_TERM_ORG = 1,
    CERTBUS_TERM_TIER = 2,
    CERTBUS_TERM_SECTOR = 3,
    CERTBUS_TERM_REGION = 4,
} certbus_term_type_t;

typedef struct {
    certbus_term_type_t type;
    char value [CERTBUS_MAX_NAME + 1]; //  "" for all
} certbus_term_t;

typedef struct {
    size_t count;
    certbus_term_t *terms;
} certbus_audience_t;

#define CERTBUS_MAX_TERMS 64

//  Parses an audience. Returns a new audience or NULL with the reason set:
//  an unknown term type, an unknown tier, an empty or invalid value.
certbus_audience_t *
    certbus_audience_parse (const char *text);

void
    certbus_audience_destroy (certbus_audience_t **self_p);

//  Returns the name of a term type ("org", "tier", ...).
const char *
    certbus_term_type_name (certbus_term_type_t type);

//  True when cert is addressed by term.
bool
    certbus_term_matches (const certbus_term_t *term, const certbus_cert_t *cert);

//  True when every term of the audience is an org: term.
bool
    certbus_audience_only_orgs (const certbus_audience_t *self);

//  Checks TLP names: clear, green, amber, amber+strict, red. Returns true
//  when known.
bool
    certbus_tlp_valid (const char *tlp);

//  Resolves audience text against dir for a sender: the sorted, unique org
//  ids of every current member (valid at when_s, not revoked) that a term
//  addresses, leaving out exclude_org. Refuses TLP red with any term but
//  org: (CERTBUS_E_TLP), an org: that is not a current member, and an
//  audience that resolves to nobody (CERTBUS_E_AUDIENCE_EMPTY). On success
//  *orgs_p is a new array of new strings; free with certbus_strv_free.
certbus_err_t
    certbus_audience_resolve (const char *text, const char *tlp, certbus_directory_t *dir,
                              const char *exclude_org, int64_t when_s, char ***orgs_p,
                              size_t *count_p) CERTBUS_WARN_UNUSED;

//  Frees an array of count strings.
void
    certbus_strv_free (char **strv, size_t count);

#ifdef __cplusplus
}
#endif

#endif
