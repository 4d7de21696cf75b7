/*  util.c - errors, files, time, ids, hex, allocation and domain-separated
    signatures (text and its escaping: text.c)
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus.h"
#include <sodium.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char s_reason [CERTBUS_REASON_MAX];
static _Thread_local certbus_err_t s_reason_code;

certbus_err_t
certbus_fail (certbus_err_t code, const char *format, ...)
{
    s_reason_code = code;
    va_list args;
    va_start (args, format);
    int len = vsnprintf (s_reason, sizeof s_reason, format, args);
    va_end (args);
    //  A reason cut short must still be UTF-8: it travels in PubAck and
    //  Error packets, whose decoders refuse anything else
    if (len >= (int) sizeof s_reason) {
        size_t end = sizeof s_reason - 1, lead = end;
        while (lead > 0 && end - lead < 4 && ((unsigned char) s_reason [lead - 1] & 0xc0) == 0x80)
            lead--;
        if (lead > 0 && ((unsigned char) s_reason [lead - 1] & 0x80)) {
            unsigned char c = (unsigned char) s_reason [lead - 1];
            size_t want = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
            if (end - (lead - 1) < want)
                s_reason [lead - 1] = 0;
        }
    }
    return code;
}

const char *
certbus_reason (void)
{
    return s_reason;
}

certbus_err_t
certbus_reason_code (void)
{
    return s_reason_code;
}

void
certbus_reason_clear (void)
{
    s_reason [0] = 0;
    s_reason_code = CERTBUS_OK;
}

void
certbus_init (void)
{
    if (sodium_init () < 0) {
        fprintf (stderr, "certbus: libsodium failed to initialise\n");
        abort ();
    }
}

int64_t
certbus_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
certbus_now (void)
{
    return certbus_now_ms () / 1000;
}

void
certbus_time_format (int64_t ms, char *out, size_t out_size)
{
    time_t secs = (time_t) (ms / 1000);
    struct tm tm;
    gmtime_r (&secs, &tm);
    char base [24];
    strftime (base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (out, out_size, "%s.%03dZ", base, (int) (ms % 1000 < 0 ? 0 : ms % 1000));
}

int64_t
certbus_duration_parse (const char *text)
{
    if (!text || !*text)
        return -1;
    char *end;
    errno = 0;
    long long value = strtoll (text, &end, 10);
    if (errno || value < 0 || end == text)
        return -1;
    int64_t unit = 1000;
    if (*end == 's' || *end == 0)
        unit = 1000;
    else if (*end == 'm')
        unit = 60 * 1000;
    else if (*end == 'h')
        unit = 3600 * 1000;
    else if (*end == 'd')
        unit = 86400 * 1000;
    else
        return -1;
    if (*end && end [1])
        return -1;
    if (value > INT64_MAX / unit)
        return -1;
    return value * unit;
}

int64_t
certbus_time_parse (const char *text)
{
    if (!text || !*text)
        return -1;
    if (*text == '-' || (*text >= '0' && *text <= '9' && !strchr (text, '-'))) {
        int64_t ago = certbus_duration_parse (*text == '-' ? text + 1 : text);
        return ago < 0 ? -1 : certbus_now_ms () - ago;
    }
    struct tm tm;
    memset (&tm, 0, sizeof tm);
    const char *rest = strptime (text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest) {
        memset (&tm, 0, sizeof tm);
        rest = strptime (text, "%Y-%m-%d", &tm);
    }
    if (!rest || (*rest && strcmp (rest, "Z") != 0))
        return -1;
    time_t secs = timegm (&tm);
    return secs == (time_t) -1 ? -1 : (int64_t) secs * 1000;
}

void
certbus_uuid7 (uint8_t id [CERTBUS_ID_SIZE])
{
    uint64_t ms = (uint64_t) certbus_now_ms ();
    randombytes_buf (id, CERTBUS_ID_SIZE);
    for (int i = 0; i < 6; i++)
        id [i] = (uint8_t) (ms >> (40 - 8 * i));
    id [6] = (uint8_t) (0x70 | (id [6] & 0x0F));
    id [8] = (uint8_t) (0x80 | (id [8] & 0x3F));
}

void
certbus_id_format (const uint8_t id [CERTBUS_ID_SIZE], char out [CERTBUS_ID_STR_SIZE])
{
    static const char digits [] = "0123456789abcdef";
    size_t pos = 0;
    for (int i = 0; i < CERTBUS_ID_SIZE; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out [pos++] = '-';
        out [pos++] = digits [id [i] >> 4];
        out [pos++] = digits [id [i] & 15];
    }
    out [pos] = 0;
}

int
certbus_id_parse (const char *text, uint8_t id [CERTBUS_ID_SIZE])
{
    if (!text)
        return -1;
    char hex [33];
    size_t n = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '-')
            continue;
        if (n == 32)
            return -1;
        hex [n++] = *p;
    }
    hex [n] = 0;
    if (n != 32)
        return -1;
    return certbus_unhex (hex, id, CERTBUS_ID_SIZE);
}

void
certbus_hex (const uint8_t *bin, size_t bin_len, char *out)
{
    sodium_bin2hex (out, bin_len * 2 + 1, bin, bin_len);
}

int
certbus_unhex (const char *hex, uint8_t *bin, size_t bin_len)
{
    size_t got = 0;
    const char *end = NULL;
    if (!hex || strlen (hex) != bin_len * 2)
        return -1;
    if (sodium_hex2bin (bin, bin_len, hex, bin_len * 2, NULL, &got, &end) != 0 || got != bin_len)
        return -1;
    return 0;
}

//  The signed message is domain || 0 || data. Copying costs far less than
//  the signature itself for the small structures we sign.
static uint8_t *
s_signed_message (const char *domain, const uint8_t *data, size_t data_len, size_t *len_p)
{
    size_t dlen = strlen (domain);
    uint8_t *msg = certbus_malloc (dlen + 1 + data_len + 1);
    memcpy (msg, domain, dlen);
    msg [dlen] = 0;
    if (data_len)
        memcpy (msg + dlen + 1, data, data_len);
    *len_p = dlen + 1 + data_len;
    return msg;
}

void
certbus_sign (uint8_t sig [64], const char *domain, const uint8_t *data, size_t data_len,
              const uint8_t *secret_key)
{
    size_t len;
    uint8_t *msg = s_signed_message (domain, data, data_len, &len);
    crypto_sign_detached (sig, NULL, msg, len, secret_key);
    free (msg);
}

bool
certbus_verify (const uint8_t *sig, size_t sig_len, const char *domain, const uint8_t *data,
                size_t data_len, const uint8_t *public_key, size_t public_key_len)
{
    if (sig_len != crypto_sign_BYTES || public_key_len != crypto_sign_PUBLICKEYBYTES)
        return false;
    size_t len;
    uint8_t *msg = s_signed_message (domain, data, data_len, &len);
    bool ok = crypto_sign_verify_detached (sig, msg, len, public_key) == 0;
    free (msg);
    return ok;
}

//  libsodium has no signature made with an X25519 key, so a member proves
//  that it holds one by turning it into the Ed25519 scalar it stands for
//  and making a plain Ed25519 (Schnorr) signature with that scalar, from
//  libsodium's public group operations. Ed25519 signing cannot be used as
//  it is: it derives its scalar from a hash of a seed, and an X25519 key
//  is the scalar itself. The X25519 public key is the Montgomery form of
//  clamp(s)·B, and B generates a group of prime order L, so the point
//  A = (clamp(s) mod L)·B converts back to it, and anyone can check the
//  signature with crypto_sign_verify_detached and A.
typedef struct {
    uint8_t wide [64]; //  clamp(s), zero-padded for the reduction
    uint8_t a [32];    //  clamp(s) mod L, the secret scalar
    uint8_t r [32];    //  the signature's random nonce
    uint8_t ha [32];   //  h·a mod L
} s_prove_secrets_t;

int
certbus_x25519_prove (uint8_t key [32], uint8_t sig [64], const char *domain, const uint8_t *data,
                      size_t data_len, const uint8_t *x25519_secret, const uint8_t *x25519_public)
{
    int rc = -1;
    s_prove_secrets_t *sec = certbus_secret_alloc (sizeof *sec);
    size_t msg_len = 0;
    uint8_t *msg = s_signed_message (domain, data, data_len, &msg_len);
    uint8_t curve [crypto_scalarmult_curve25519_BYTES];
    uint8_t h_wide [crypto_hash_sha512_BYTES], h [32];
    memset (sec->wide, 0, sizeof sec->wide);
    memcpy (sec->wide, x25519_secret, 32);
    sec->wide [0] &= 248;
    sec->wide [31] &= 127;
    sec->wide [31] |= 64;
    crypto_core_ed25519_scalar_reduce (sec->a, sec->wide);
    if (crypto_scalarmult_ed25519_base_noclamp (key, sec->a) != 0
        || crypto_sign_ed25519_pk_to_curve25519 (curve, key) != 0
        || sodium_memcmp (curve, x25519_public, sizeof curve) != 0) {
        certbus_fail (CERTBUS_E_FIELD, "the X25519 public key does not belong to its secret key");
        goto cleanup;
    }
    //  R = r·B; h = SHA-512 (R || A || M) mod L; S = r + h·a mod L
    do
        crypto_core_ed25519_scalar_random (sec->r);
    while (crypto_scalarmult_ed25519_base_noclamp (sig, sec->r) != 0);
    crypto_hash_sha512_state state;
    crypto_hash_sha512_init (&state);
    crypto_hash_sha512_update (&state, sig, 32);
    crypto_hash_sha512_update (&state, key, 32);
    crypto_hash_sha512_update (&state, msg, msg_len);
    crypto_hash_sha512_final (&state, h_wide);
    crypto_core_ed25519_scalar_reduce (h, h_wide);
    crypto_core_ed25519_scalar_mul (sec->ha, h, sec->a);
    crypto_core_ed25519_scalar_add (sig + 32, sec->r, sec->ha);
    rc = 0;
cleanup:
    if (rc != 0) {
        memset (key, 0, 32);
        memset (sig, 0, 64);
    }
    certbus_secret_free (sec, sizeof *sec);
    free (msg);
    return rc;
}

bool
certbus_x25519_verify (const uint8_t *key, size_t key_len, const uint8_t *sig, size_t sig_len,
                       const char *domain, const uint8_t *data, size_t data_len,
                       const uint8_t *x25519_public)
{
    uint8_t curve [crypto_scalarmult_curve25519_BYTES];
    if (key_len != crypto_sign_PUBLICKEYBYTES
        || crypto_sign_ed25519_pk_to_curve25519 (curve, key) != 0
        || sodium_memcmp (curve, x25519_public, sizeof curve) != 0)
        return false;
    return certbus_verify (sig, sig_len, domain, data, data_len, key, key_len);
}

void
certbus_fingerprint (const uint8_t *key, size_t key_len, char out [17])
{
    uint8_t hash [8];
    crypto_generichash (hash, sizeof hash, key, key_len, NULL, 0);
    certbus_hex (hash, sizeof hash, out);
}

//  Syncs the folder that holds path, so that a rename in it is durable.
//  Returns 0, or -1 with the reason set; a file system that cannot sync a
//  folder at all (EINVAL) counts as done.
static int
s_fsync_dir (const char *path)
{
    char *copy = strdup (path);
    if (!copy)
        abort ();
    const char *dir = dirname (copy);
    int rc = 0;
    int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || (fsync (fd) != 0 && errno != EINVAL)) {
        certbus_fail (CERTBUS_E_IO, "cannot sync folder %s: %s", dir, strerror (errno));
        rc = -1;
    }
    if (fd >= 0)
        close (fd);
    free (copy);
    return rc;
}

//  Creates a new temporary file beside path under a random name, never
//  through a symbolic link and never over a file that is there already
//  (O_EXCL), so that nobody who can write to the folder can plant a name
//  for us to follow or truncate. Writes its name into tmp (tmp_size bytes).
//  Returns the descriptor, or -1 with the reason set.
static int
s_temp_open (const char *path, char *tmp, size_t tmp_size)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        uint8_t random [8];
        char hex [sizeof random * 2 + 1];
        randombytes_buf (random, sizeof random);
        certbus_hex (random, sizeof random, hex);
        snprintf (tmp, tmp_size, "%s.tmp-%s", path, hex);
        int fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0)
            return fd;
        if (errno != EEXIST)
            return certbus_fail (CERTBUS_E_IO, "cannot create %s: %s", tmp, strerror (errno)), -1;
    }
    return certbus_fail (CERTBUS_E_IO, "cannot create a temporary file beside %s", path), -1;
}

int
certbus_str_index (const char *s, const char *const *list, size_t count)
{
    for (size_t i = 0; s && i < count; i++)
        if (list [i] && strcmp (s, list [i]) == 0)
            return (int) i;
    return -1;
}

void *
certbus_malloc (size_t size)
{
    void *block = malloc (size);
    if (!block)
        abort ();
    return block;
}

void *
certbus_calloc (size_t count, size_t size)
{
    void *block = calloc (count, size);
    if (!block)
        abort ();
    return block;
}

void *
certbus_realloc (void *ptr, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        abort ();
    void *grown = realloc (ptr, count * size);
    if (!grown && count > 0 && size > 0)
        abort ();
    return grown;
}

char *
certbus_file_path (const char *dir, const char *name)
{
    size_t len = strlen (dir) + strlen (name) + 2;
    char *path = certbus_malloc (len);
    snprintf (path, len, "%s/%s", dir, name);
    return path;
}

int
certbus_file_write (const char *path, const void *data, size_t size, mode_t mode)
{
    size_t tmp_len = strlen (path) + 32;
    char *tmp = certbus_malloc (tmp_len);
    int rc = -1;
    bool created = false;
    int fd = s_temp_open (path, tmp, tmp_len);
    if (fd < 0)
        goto cleanup;
    created = true;
    //  The file is made 0600 whatever the umask; the mode we promise is
    //  exact, so it is set on the descriptor, never through the name
    if (fchmod (fd, mode) != 0) {
        certbus_fail (CERTBUS_E_IO, "cannot set mode of %s: %s", tmp, strerror (errno));
        goto cleanup;
    }
    const uint8_t *cursor = data;
    size_t left = size;
    while (left) {
        ssize_t n = write (fd, cursor, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            certbus_fail (CERTBUS_E_IO, "cannot write %s: %s", tmp, strerror (errno));
            goto cleanup;
        }
        cursor += n;
        left -= (size_t) n;
    }
    if (fsync (fd) != 0) {
        certbus_fail (CERTBUS_E_IO, "cannot sync %s: %s", tmp, strerror (errno));
        goto cleanup;
    }
    int closed = close (fd);
    fd = -1;
    if (closed != 0) {
        certbus_fail (CERTBUS_E_IO, "cannot close %s: %s", tmp, strerror (errno));
        goto cleanup;
    }
    //  rename replaces whatever path names, a symbolic link included,
    //  without following it
    if (rename (tmp, path) != 0) {
        certbus_fail (CERTBUS_E_IO, "cannot rename %s to %s: %s", tmp, path, strerror (errno));
        goto cleanup;
    }
    created = false;
    if (s_fsync_dir (path))
        goto cleanup;
    rc = 0;
cleanup:
    if (fd >= 0)
        close (fd);
    if (created)
        unlink (tmp);
    free (tmp);
    return rc;
}

static int
s_read_fd (int fd, const char *name, size_t max_size, uint8_t **data_p, size_t *size_p)
{
    size_t cap = 4096, len = 0;
    uint8_t *buf = certbus_malloc (cap);
    while (true) {
        if (len == cap) {
            if (cap > max_size) {
                free (buf);
                return certbus_fail (CERTBUS_E_TOO_LARGE, "%s is larger than %zu bytes", name,
                                     max_size),
                       -1;
            }
            cap *= 2;
            buf = realloc (buf, cap);
            if (!buf)
                abort ();
        }
        ssize_t n = read (fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free (buf);
            return certbus_fail (CERTBUS_E_IO, "cannot read %s: %s", name, strerror (errno)), -1;
        }
        if (n == 0)
            break;
        len += (size_t) n;
    }
    if (len > max_size) {
        free (buf);
        return certbus_fail (CERTBUS_E_TOO_LARGE, "%s is larger than %zu bytes", name, max_size),
               -1;
    }
    *data_p = buf;
    *size_p = len;
    return 0;
}

int
certbus_file_read (const char *path, size_t max_size, uint8_t **data_p, size_t *size_p)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return certbus_fail (CERTBUS_E_IO, "cannot open %s: %s", path, strerror (errno)), -1;
    int rc = s_read_fd (fd, path, max_size, data_p, size_p);
    close (fd);
    return rc;
}

int
certbus_stream_read (int fd, size_t max_size, uint8_t **data_p, size_t *size_p)
{
    return s_read_fd (fd, "standard input", max_size, data_p, size_p);
}

int
certbus_file_read_secret (const char *path, uint8_t *out, size_t size)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return certbus_fail (CERTBUS_E_IO, "cannot open secret file %s: %s", path,
                             strerror (errno)),
               -1;
    int rc = -1;
    struct stat st;
    if (fstat (fd, &st) != 0) {
        certbus_fail (CERTBUS_E_IO, "cannot stat %s: %s", path, strerror (errno));
        goto cleanup;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        certbus_fail (CERTBUS_E_PERM,
                      "secret file %s has mode %04o and may be read by others; "
                      "refusing to load it (fix: chmod 600 %s)",
                      path, (unsigned) (st.st_mode & 07777), path);
        goto cleanup;
    }
    if (!S_ISREG (st.st_mode) || (size_t) st.st_size != size) {
        certbus_fail (CERTBUS_E_FIELD, "secret file %s is not a %zu-byte key file", path, size);
        goto cleanup;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read (fd, out + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            certbus_fail (CERTBUS_E_IO, "cannot read %s", path);
            sodium_memzero (out, size);
            goto cleanup;
        }
        got += (size_t) n;
    }
    rc = 0;
cleanup:
    close (fd);
    return rc;
}
