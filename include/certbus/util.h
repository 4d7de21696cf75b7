/*  util.h - files, time, ids, hex and domain-separated signatures
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef CERTBUS_UTIL_H_INCLUDED
#define CERTBUS_UTIL_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>
#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CERTBUS_WARN_UNUSED __attribute__ ((warn_unused_result))
#define CERTBUS_PRINTF(a, b) __attribute__ ((format (printf, a, b)))

#define CERTBUS_ID_SIZE 16     //  UUIDv7 message ids
#define CERTBUS_ID_STR_SIZE 37 //  36 characters and a NUL
#define CERTBUS_REASON_MAX 512

//  Sets this thread's failure reason and code and returns code, so that a
//  function can `return certbus_fail (CERTBUS_E_X, "what went wrong: %s", ...)`.
certbus_err_t
    certbus_fail (certbus_err_t code, const char *format, ...) CERTBUS_PRINTF (2, 3);

//  Returns the reason of this thread's last failure (never NULL).
const char *
    certbus_reason (void);

//  Returns the code of this thread's last failure, as given to
//  certbus_fail: callers tell failures apart by it, never by the reason's
//  words. CERTBUS_OK when nothing failed since certbus_reason_clear.
certbus_err_t
    certbus_reason_code (void);

//  Clears this thread's failure reason and code.
void
    certbus_reason_clear (void);

//  Initialises libsodium once; aborts if it cannot (no randomness).
void
    certbus_init (void);

//  Wall clock, unix milliseconds and seconds.
int64_t
    certbus_now_ms (void);
int64_t
    certbus_now (void);

//  Formats a unix-millisecond time as RFC 3339 UTC into out (>= 32 bytes).
void
    certbus_time_format (int64_t ms, char *out, size_t out_size);

//  Parses "2026-11-27T10:00:00Z", "2026-11-27", or a relative "-15m"/"2h"/
//  "30d" (before now). Returns unix milliseconds, or -1.
int64_t
    certbus_time_parse (const char *text);

//  Parses a duration "90s", "15m", "2h", "7d" or plain seconds; returns
//  milliseconds or -1.
int64_t
    certbus_duration_parse (const char *text);

//  Makes a new UUIDv7: 48-bit millisecond time, version, random bits.
void
    certbus_uuid7 (uint8_t id [CERTBUS_ID_SIZE]);

//  Formats an id as 8-4-4-4-12 lowercase hex.
void
    certbus_id_format (const uint8_t id [CERTBUS_ID_SIZE], char out [CERTBUS_ID_STR_SIZE]);

//  Parses an id in 8-4-4-4-12 or plain 32-digit hex. Returns 0 or -1.
int
    certbus_id_parse (const char *text, uint8_t id [CERTBUS_ID_SIZE]) CERTBUS_WARN_UNUSED;

//  Lowercase hex of bin into out, which must hold 2 * bin_len + 1 bytes.
void
    certbus_hex (const uint8_t *bin, size_t bin_len, char *out);

//  Parses exactly bin_len bytes of hex. Returns 0 or -1.
int
    certbus_unhex (const char *hex, uint8_t *bin, size_t bin_len) CERTBUS_WARN_UNUSED;

//  Signs domain || 0x00 || data with an Ed25519 secret key. The domain keeps
//  a signature over one kind of structure from passing as another.
void
    certbus_sign (uint8_t sig [64], const char *domain, const uint8_t *data, size_t data_len,
                  const uint8_t *secret_key);

//  Verifies a signature made by certbus_sign. Returns true when it holds.
bool
    certbus_verify (const uint8_t *sig, size_t sig_len, const char *domain, const uint8_t *data,
                    size_t data_len, const uint8_t *public_key,
                    size_t public_key_len) CERTBUS_WARN_UNUSED;

//  Proof of possession of an X25519 secret key (a box or CURVE key):
//  signs domain || 0x00 || data with the Ed25519 form of the key, a Schnorr
//  signature that crypto_sign_verify_detached checks (PROTOCOL.md,
//  "Membership requests", gives every step). Writes the Ed25519 public form
//  of the key into key and the signature into sig. Returns 0, or -1 with
//  the reason set when x25519_public is not the public key of x25519_secret.
int
    certbus_x25519_prove (uint8_t key [32], uint8_t sig [64], const char *domain,
                          const uint8_t *data, size_t data_len, const uint8_t *x25519_secret,
                          const uint8_t *x25519_public) CERTBUS_WARN_UNUSED;

//  Checks a proof made by certbus_x25519_prove: key is an Ed25519 point
//  whose Montgomery form is x25519_public, and sig is its signature over
//  domain || 0x00 || data. Returns true when both hold.
bool
    certbus_x25519_verify (const uint8_t *key, size_t key_len, const uint8_t *sig, size_t sig_len,
                           const char *domain, const uint8_t *data, size_t data_len,
                           const uint8_t *x25519_public) CERTBUS_WARN_UNUSED;

//  Guarded, locked memory (libsodium's) for a short-lived secret: a
//  content key, an ephemeral key, a shared secret. Pieces come from one
//  region per thread, so a call costs no system call. Free every piece
//  with certbus_secret_free and its size, which wipes it.
void *
    certbus_secret_alloc (size_t size);
void
    certbus_secret_free (void *secret, size_t size);

//  Short printable fingerprint of a public key for logs: 16 hex digits.
void
    certbus_fingerprint (const uint8_t *key, size_t key_len, char out [17]);

//  The index of s in the count strings of list (NULL entries match
//  nothing), or -1 when s is NULL or not there.
int
    certbus_str_index (const char *s, const char *const *list, size_t count);

//  malloc and calloc that abort when out of memory (as CZMQ's zmalloc
//  does): they never return NULL.
void *
    certbus_malloc (size_t size);
void *
    certbus_calloc (size_t count, size_t size);

//  realloc of ptr to an array of count items of size bytes each; aborts
//  when out of memory or when the size overflows, so it never returns NULL
//  for a count above 0.
void *
    certbus_realloc (void *ptr, size_t count, size_t size);

//  A new string "dir/name" for the caller to free; aborts when out of
//  memory.
char *
    certbus_file_path (const char *dir, const char *name);

//  Writes data to path through a temporary file in the same folder, fsync
//  and rename, so readers see the old file or the whole new one. The
//  temporary file has a random name and is created new (never through a
//  symbolic link); the file gets exactly mode, whatever the umask; a
//  symbolic link at path is replaced, not followed; the folder is synced
//  after the rename. Returns 0, or -1 with the reason set (and no
//  temporary file left behind).
int
    certbus_file_write (const char *path, const void *data, size_t size,
                        mode_t mode) CERTBUS_WARN_UNUSED;

//  Reads a whole file of at most max_size bytes into a new malloc buffer.
//  Returns 0, or -1 with the reason set.
int
    certbus_file_read (const char *path, size_t max_size, uint8_t **data_p,
                       size_t *size_p) CERTBUS_WARN_UNUSED;

//  Reads a secret file of exactly size bytes into out (sodium_malloc memory).
//  Refuses a file that group or others may read, naming the file and the
//  fix. Returns 0, or -1 with the reason set.
int
    certbus_file_read_secret (const char *path, uint8_t *out, size_t size) CERTBUS_WARN_UNUSED;

//  Reads all of a stream (stdin) up to max_size bytes. Returns 0 or -1.
int
    certbus_stream_read (int fd, size_t max_size, uint8_t **data_p,
                         size_t *size_p) CERTBUS_WARN_UNUSED;

//  True when s is valid UTF-8 of at most max_len bytes with no NUL.
bool
    certbus_utf8_valid (const char *s, size_t max_len);

//  True when s (UTF-8) holds a control character: C0 (below 0x20), DEL
//  (0x7f) or C1 (U+0080..U+009F). Header strings and names that a member
//  chose must hold none, so that no reader can be made to print one.
bool
    certbus_text_has_control (const char *s);

//  certbus_sb_json_str appends s to sb as a JSON string, with its quotes:
//  '"' and '\' escaped, every control character (C0, DEL, C1) as a \u
//  escape (newline as \n), and a byte that is not UTF-8 as \ufffd, so a
//  value can never end its string early nor reach a reader as a control.
//  sb is a growable string builder: see certbus_sb_t.
typedef struct {
    char *data; //  NUL-terminated contents
    size_t len; //  bytes used, without the NUL
    size_t cap; //  bytes allocated
} certbus_sb_t;

void
    certbus_sb_printf (certbus_sb_t *sb, const char *format, ...) CERTBUS_PRINTF (2, 3);
void
    certbus_sb_json_str (certbus_sb_t *sb, const char *s);
//  Appends ,"name": and then value as certbus_sb_json_str does: one more
//  member of an object already open. name is a literal key, written as is.
void
    certbus_sb_json_field (certbus_sb_t *sb, const char *name, const char *value);
void
    certbus_sb_free (certbus_sb_t *sb);

//  Appends size bytes of s for a terminal: control characters (C0, DEL and
//  the C1 range U+0080..U+009F) and bytes that are not UTF-8 become \xNN
//  (or \u00NN), so that text a member chose can neither move the cursor,
//  nor recolour the screen, nor forge a line. With multiline, newline and
//  tab pass unchanged (a payload's own lines); otherwise they are escaped.
void
    certbus_sb_term (certbus_sb_t *sb, const char *s, size_t size, bool multiline);

//  A new NUL-terminated string of s escaped as certbus_sb_term does, with
//  multiline false (one header field on one line). NULL prints as "".
//  Caller frees.
char *
    certbus_term_escape (const char *s);

//  Picks a top-level number or string field out of JSON that certbus wrote
//  itself (status replies); not a general JSON parser. number returns -1
//  when absent; string writes "" when absent.
long long
    certbus_json_number (const char *json, const char *key);
void
    certbus_json_string (const char *json, const char *key, char *out, size_t out_size);

#ifdef __cplusplus
}
#endif

#endif
