/*  err.h - certbus error codes and their human-readable reasons
    SPDX-License-Identifier: MPL-2.0

    Every failure caused by something from outside (a peer, a file, a
    signature, the disk) is reported as one of these codes. Codes travel on
    the wire in PubAck and Error packets, so their numbers never change.
*/
#ifndef CERTBUS_ERR_H_INCLUDED
#define CERTBUS_ERR_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CERTBUS_OK = 0,
    CERTBUS_E_INTERNAL = 1,       //  a bug or an impossible state
    CERTBUS_E_IO = 2,             //  a file or database operation failed
    CERTBUS_E_PERM = 3,           //  a secret file readable by others
    CERTBUS_E_DECODE = 4,         //  garbage or truncated bytes
    CERTBUS_E_TOO_LARGE = 5,      //  above a size or count limit
    CERTBUS_E_VERSION = 6,        //  unknown major version
    CERTBUS_E_FIELD = 7,          //  a field missing, too long or malformed
    CERTBUS_E_CERT_SIGNATURE = 8, //  certificate not signed by our Council
    CERTBUS_E_CERT_EXPIRED = 9,
    CERTBUS_E_CERT_NOT_YET_VALID = 10,
    CERTBUS_E_REVOKED = 11,
    CERTBUS_E_UNKNOWN_ORIGIN = 12,  //  origin not in the directory
    CERTBUS_E_SIGNATURE = 13,       //  envelope signature does not verify
    CERTBUS_E_CIPHERTEXT_HASH = 14, //  ciphertext differs from signed hash
    CERTBUS_E_RECIPIENTS_HASH = 15, //  recipient list differs from signed hash
    CERTBUS_E_NOT_RECIPIENT = 16,   //  the envelope is not for us
    CERTBUS_E_WRAPPED_KEY = 17,     //  our wrapped key does not open
    CERTBUS_E_DECRYPT = 18,         //  payload does not decrypt
    CERTBUS_E_DIRECTORY_SIGNATURE = 19,
    CERTBUS_E_DIRECTORY_OLD = 20,   //  older than the directory we hold
    CERTBUS_E_AUDIENCE = 21,        //  audience does not parse
    CERTBUS_E_AUDIENCE_EMPTY = 22,  //  audience resolves to nobody
    CERTBUS_E_TLP = 23,             //  TLP rule broken (e.g. red to a tier)
    CERTBUS_E_POLICY = 24,          //  refused by the broker's policy
    CERTBUS_E_DUPLICATE = 25,       //  message id seen before
    CERTBUS_E_ORIGIN_MISMATCH = 26, //  sender is not the envelope's origin
    CERTBUS_E_PROTOCOL = 27,        //  packet out of order or unexpected
    CERTBUS_E_UNAVAILABLE = 28,     //  broker or daemon not reachable
    CERTBUS_E_NOT_FOUND = 29,
    CERTBUS_E_EXISTS = 30,
    CERTBUS_E_STORAGE_FULL = 31,    //  disk or database full
    CERTBUS_E_USAGE = 32,           //  bad command-line arguments
    CERTBUS_E_RECIPIENTS = 33,      //  recipient list outside the audience
    CERTBUS_E_EXPIRED = 34,         //  message past its expiry
    CERTBUS_E_QUOTA = 35,           //  a member's storage or rate quota is used up
    CERTBUS_E_CLOCK = 36,           //  a signed time lies too far ahead of the broker's
    CERTBUS_E_SESSION_EXPIRED = 37, //  the broker closed the session: say Hello again
    CERTBUS_E_FENCED = 38,          //  a broker's lease moved to another: it stepped down
    CERTBUS_E_OUTCOME_UNKNOWN = 39, //  a commit that may or may not have happened
    CERTBUS_E__COUNT
} certbus_err_t;

//  Returns a short stable name for the code, e.g. "signature".
const char *
    certbus_err_name (certbus_err_t code);

//  Returns a one-line description of the code for operators.
const char *
    certbus_err_text (certbus_err_t code);

#ifdef __cplusplus
}
#endif

#endif
