/*  err.c - names and descriptions of certbus error codes
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus.h"

static const struct {
    const char *name;
    const char *text;
} s_errors [CERTBUS_E__COUNT] = {
    [CERTBUS_OK] = {"ok", "success"},
    [CERTBUS_E_INTERNAL] = {"internal", "internal error"},
    [CERTBUS_E_IO] = {"io", "file or database error"},
    [CERTBUS_E_PERM] = {"permissions", "secret file is readable by group or others"},
    [CERTBUS_E_DECODE] = {"decode", "malformed or truncated data"},
    [CERTBUS_E_TOO_LARGE] = {"too-large", "data exceeds a size or count limit"},
    [CERTBUS_E_VERSION] = {"version", "unknown major version"},
    [CERTBUS_E_FIELD] = {"field", "a field is missing, too long or malformed"},
    [CERTBUS_E_CERT_SIGNATURE] = {"cert-signature", "certificate is not signed by this Council"},
    [CERTBUS_E_CERT_EXPIRED] = {"cert-expired", "certificate has expired"},
    [CERTBUS_E_CERT_NOT_YET_VALID] = {"cert-not-yet-valid", "certificate is not yet valid"},
    [CERTBUS_E_REVOKED] = {"revoked", "member has been revoked by the Council"},
    [CERTBUS_E_UNKNOWN_ORIGIN] = {"unknown-origin", "origin is not in the directory"},
    [CERTBUS_E_SIGNATURE] = {"signature", "envelope signature does not verify"},
    [CERTBUS_E_CIPHERTEXT_HASH] = {"ciphertext-hash", "ciphertext does not match its signed hash"},
    [CERTBUS_E_RECIPIENTS_HASH] = {"recipients-hash",
                                   "recipient list does not match its signed hash"},
    [CERTBUS_E_NOT_RECIPIENT] = {"not-recipient", "this member is not a recipient"},
    [CERTBUS_E_WRAPPED_KEY] = {"wrapped-key", "wrapped content key does not open"},
    [CERTBUS_E_DECRYPT] = {"decrypt", "payload does not decrypt"},
    [CERTBUS_E_DIRECTORY_SIGNATURE] = {"directory-signature",
                                       "directory is not signed by this Council"},
    [CERTBUS_E_DIRECTORY_OLD] = {"directory-old", "directory is older than the one held"},
    [CERTBUS_E_AUDIENCE] = {"audience", "audience does not parse"},
    [CERTBUS_E_AUDIENCE_EMPTY] = {"audience-empty", "audience resolves to nobody"},
    [CERTBUS_E_TLP] = {"tlp", "TLP rule violated"},
    [CERTBUS_E_POLICY] = {"policy", "refused by the Council policy"},
    [CERTBUS_E_DUPLICATE] = {"duplicate", "message id seen before"},
    [CERTBUS_E_ORIGIN_MISMATCH] = {"origin-mismatch", "sender is not the envelope's origin"},
    [CERTBUS_E_PROTOCOL] = {"protocol", "unexpected packet"},
    [CERTBUS_E_UNAVAILABLE] = {"unavailable", "peer not reachable"},
    [CERTBUS_E_NOT_FOUND] = {"not-found", "not found"},
    [CERTBUS_E_EXISTS] = {"exists", "already exists"},
    [CERTBUS_E_STORAGE_FULL] = {"storage-full", "storage is full"},
    [CERTBUS_E_USAGE] = {"usage", "bad arguments"},
    [CERTBUS_E_RECIPIENTS] = {"recipients", "recipient list is outside the audience"},
    [CERTBUS_E_EXPIRED] = {"expired", "message has expired"},
    [CERTBUS_E_QUOTA] = {"quota", "a quota of this member is used up"},
    [CERTBUS_E_CLOCK] = {"clock", "a signed time lies ahead of the broker's clock"},
    [CERTBUS_E_SESSION_EXPIRED] = {"session-expired", "session expired: say Hello again"},
    [CERTBUS_E_FENCED] = {"fenced", "another broker holds the lease: this one stepped down"},
    [CERTBUS_E_OUTCOME_UNKNOWN] = {"outcome-unknown",
                                   "the commit may or may not have happened: resend"},
};

const char *
certbus_err_name (certbus_err_t code)
{
    if ((int) code < 0 || code >= CERTBUS_E__COUNT || !s_errors [code].name)
        return "unknown";
    return s_errors [code].name;
}

const char *
certbus_err_text (certbus_err_t code)
{
    if ((int) code < 0 || code >= CERTBUS_E__COUNT || !s_errors [code].text)
        return "unknown error";
    return s_errors [code].text;
}
