/*  test_vectors.c - known-answer vectors of the wire protocol (tests/vectors)
    SPDX-License-Identifier: MPL-2.0

    Builds, for a fixed set of keys and a fixed clock, one envelope of each
    TLP, a forward, a receipt, a request, a certificate, a revocation, a
    directory and a tree head with libcertbus, writes each as the text
    vector format of tests/vectors/README.md and compares it with the file
    there byte for byte. Then, from the values in the files alone and with
    libsodium primitives only (no libcertbus), it redoes every step
    PROTOCOL.md describes: signature inputs, recipients hash, wrap key and
    nonce, key wrap, payload AEAD, ciphertext hash and Merkle hashes.

    Determinism: randombytes is a ChaCha20 stream keyed by SHA-256 of a
    label, restarted before each key pair and each vector; the wall clock
    (clock_gettime CLOCK_REALTIME, which certbus_now_ms reads) is pinned.

    Usage: test_vectors             check against tests/vectors
           test_vectors --write DIR regenerate the vector files into DIR
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "certbus.h"
#include <sodium.h>
#include "random_source.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define s_T0 1767225600 //  2026-01-01T00:00:00Z, unix seconds
#define s_T0_MS (s_T0 * INT64_C (1000) + 250)
#define s_STREAM_SIZE 8192 //  random bytes one label may draw
#define s_DRAWS_MAX 32

//  ---------------------------------------------------------------------------
//  The pinned clock: CLOCK_REALTIME reads s_T0_MS; other clocks are real

int
clock_gettime (clockid_t clock, struct timespec *ts)
{
    if (clock == CLOCK_REALTIME) {
        ts->tv_sec = (time_t) (s_T0_MS / 1000);
        ts->tv_nsec = (long) (s_T0_MS % 1000) * 1000000L;
        return 0;
    }
    return (int) syscall (SYS_clock_gettime, clock, ts);
}

//  ---------------------------------------------------------------------------
//  The random stream: ChaCha20 (crypto_stream_chacha20, 8-byte zero nonce)
//  keyed by SHA-256 ("certbus-vectors " || label); each draw takes the next
//  bytes of the keystream. Draws are logged so vectors can show them.

static uint8_t s_stream [s_STREAM_SIZE];
static size_t s_stream_used;
static struct {
    size_t offset, size;
} s_draws [s_DRAWS_MAX];
static size_t s_draw_count;

static void
s_reseed (const char *label)
{
    uint8_t key [crypto_stream_chacha20_KEYBYTES];
    uint8_t nonce [crypto_stream_chacha20_NONCEBYTES] = {0};
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init (&state);
    crypto_hash_sha256_update (&state, (const uint8_t *) "certbus-vectors ", 16);
    crypto_hash_sha256_update (&state, (const uint8_t *) label, strlen (label));
    crypto_hash_sha256_final (&state, key);
    crypto_stream_chacha20 (s_stream, sizeof s_stream, nonce, key);
    s_stream_used = 0;
    s_draw_count = 0;
}

static void
s_random_buf (void *const buf, const size_t size)
{
    if (s_stream_used + size > sizeof s_stream)
        abort ();
    memcpy (buf, s_stream + s_stream_used, size);
    if (s_draw_count < s_DRAWS_MAX) {
        s_draws [s_draw_count].offset = s_stream_used;
        s_draws [s_draw_count].size = size;
        s_draw_count++;
    }
    s_stream_used += size;
}

//  The bytes of draw index since the last reseed; asserts its size
static const uint8_t *
s_draw (size_t index, size_t size)
{
    assert_true (index < s_draw_count);
    assert_int_equal (s_draws [index].size, size);
    return s_stream + s_draws [index].offset;
}

//  ---------------------------------------------------------------------------
//  The vector text format: "name = value" lines; bytes in lowercase hex,
//  integers in decimal, text in double quotes (printable ASCII, no quote)

static const char *s_write_dir; //  --write DIR, else NULL
static const char *s_read_dir = "tests/vectors";

typedef struct {
    certbus_sb_t text;
} s_vec_t;

static void
s_vec_bytes (s_vec_t *vec, const char *name, const uint8_t *data, size_t size)
{
    certbus_sb_printf (&vec->text, "%s = ", name);
    for (size_t i = 0; i < size; i++)
        certbus_sb_printf (&vec->text, "%02x", data [i]);
    certbus_sb_printf (&vec->text, "\n");
}

static void
s_vec_int (s_vec_t *vec, const char *name, int64_t value)
{
    certbus_sb_printf (&vec->text, "%s = %lld\n", name, (long long) value);
}

static void
s_vec_text (s_vec_t *vec, const char *name, const char *value)
{
    for (const char *p = value; *p; p++)
        assert_true (*p >= ' ' && *p <= '~' && *p != '"');
    certbus_sb_printf (&vec->text, "%s = \"%s\"\n", name, value);
}

static void
s_vec_comment (s_vec_t *vec, const char *comment)
{
    certbus_sb_printf (&vec->text, "# %s\n", comment);
}

//  "DOMAIN" 0x00 DATA, as certbus_sign signs it
static uint8_t *
s_sig_input (const char *domain, const uint8_t *data, size_t size, size_t *size_p)
{
    size_t dlen = strlen (domain);
    uint8_t *input = malloc (dlen + 1 + size);
    assert_non_null (input);
    memcpy (input, domain, dlen);
    input [dlen] = 0;
    memcpy (input + dlen + 1, data, size);
    *size_p = dlen + 1 + size;
    return input;
}

static void
s_vec_signed (s_vec_t *vec, const char *prefix, const char *domain, const uint8_t *data,
              size_t size, const uint8_t *sig)
{
    char name [64];
    snprintf (name, sizeof name, "%s_domain", prefix);
    s_vec_text (vec, name, domain);
    size_t input_size;
    uint8_t *input = s_sig_input (domain, data, size, &input_size);
    snprintf (name, sizeof name, "%s_input", prefix);
    s_vec_bytes (vec, name, input, input_size);
    snprintf (name, sizeof name, "%s_signature", prefix);
    s_vec_bytes (vec, name, sig, 64);
    free (input);
}

static char *
s_vec_path (const char *dir, const char *name)
{
    char *path = malloc (strlen (dir) + strlen (name) + 8);
    assert_non_null (path);
    sprintf (path, "%s/%s.vec", dir, name);
    return path;
}

//  Writes the vector (--write) or compares it with the stored file
static void
s_vec_finish (s_vec_t *vec, const char *name)
{
    if (s_write_dir) {
        char *path = s_vec_path (s_write_dir, name);
        FILE *file = fopen (path, "w");
        assert_non_null (file);
        assert_int_equal (fwrite (vec->text.data, 1, vec->text.len, file), vec->text.len);
        assert_int_equal (fclose (file), 0);
        free (path);
    }
    else {
        char *path = s_vec_path (s_read_dir, name);
        char *stored = NULL;
        size_t size = 0;
        FILE *file = fopen (path, "r");
        if (!file)
            fail_msg ("cannot read %s: %s", path, strerror (errno));
        FILE *mem = open_memstream (&stored, &size);
        int c;
        while ((c = fgetc (file)) != EOF)
            fputc (c, mem);
        fclose (mem);
        fclose (file);
        if (size != vec->text.len || memcmp (stored, vec->text.data, size) != 0) {
            //  Name the first line that differs
            size_t line = 1, i = 0;
            while (i < size && i < vec->text.len && stored [i] == vec->text.data [i])
                line += stored [i++] == '\n';
            fail_msg ("%s differs from what libcertbus makes, from line %zu", path, line);
        }
        free (stored);
        free (path);
    }
    certbus_sb_free (&vec->text);
}

//  ---------------------------------------------------------------------------
//  Reading a vector file back, for the independent checks

typedef struct {
    char *names [128];
    char *values [128];
    size_t count;
} s_file_t;

static void
s_file_load (s_file_t *self, const char *name)
{
    memset (self, 0, sizeof *self);
    char *path = s_vec_path (s_write_dir ? s_write_dir : s_read_dir, name);
    FILE *file = fopen (path, "r");
    if (!file)
        fail_msg ("cannot read %s", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline (&line, &cap, file)) > 0) {
        if (line [len - 1] == '\n')
            line [--len] = 0;
        char *eq = strstr (line, " = ");
        if (line [0] == '#' || !eq)
            continue;
        assert_true (self->count < 128);
        *eq = 0;
        self->names [self->count] = strdup (line);
        self->values [self->count] = strdup (eq + 3);
        self->count++;
    }
    free (line);
    fclose (file);
    free (path);
}

static void
s_file_free (s_file_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        free (self->names [i]);
        free (self->values [i]);
    }
}

static const char *
s_file_value (s_file_t *self, const char *name)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp (self->names [i], name) == 0)
            return self->values [i];
    fail_msg ("vector has no field %s", name);
    return NULL;
}

static bool
s_file_has (s_file_t *self, const char *name)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp (self->names [i], name) == 0)
            return true;
    return false;
}

//  A new buffer with the field's bytes
static uint8_t *
s_file_bytes (s_file_t *self, const char *name, size_t *size_p)
{
    const char *hex = s_file_value (self, name);
    size_t size = strlen (hex) / 2;
    uint8_t *out = malloc (size + 1);
    assert_non_null (out);
    assert_int_equal (sodium_hex2bin (out, size + 1, hex, strlen (hex), NULL, size_p, NULL), 0);
    assert_int_equal (*size_p, size);
    return out;
}

//  Copies a field of exactly size bytes into out
static void
s_file_fixed (s_file_t *self, const char *name, uint8_t *out, size_t size)
{
    size_t got;
    uint8_t *bytes = s_file_bytes (self, name, &got);
    assert_int_equal (got, size);
    memcpy (out, bytes, size);
    free (bytes);
}

//  A new copy of a text field, without its quotes
static char *
s_file_text (s_file_t *self, const char *name)
{
    const char *value = s_file_value (self, name);
    size_t len = strlen (value);
    assert_true (len >= 2 && value [0] == '"' && value [len - 1] == '"');
    return strndup (value + 1, len - 2);
}

//  Checks a signature field group: input is domain 0x00 data, the
//  signature verifies under key (pure Ed25519)
static void
s_check_signed (s_file_t *file, const char *prefix, const uint8_t *data, size_t size,
                const uint8_t key [32])
{
    char name [64];
    snprintf (name, sizeof name, "%s_domain", prefix);
    char *domain = s_file_text (file, name);
    size_t want_size, input_size;
    uint8_t *want = s_sig_input (domain, data, size, &want_size);
    snprintf (name, sizeof name, "%s_input", prefix);
    uint8_t *input = s_file_bytes (file, name, &input_size);
    assert_int_equal (input_size, want_size);
    assert_memory_equal (input, want, want_size);
    uint8_t sig [64];
    snprintf (name, sizeof name, "%s_signature", prefix);
    s_file_fixed (file, name, sig, sizeof sig);
    assert_int_equal (crypto_sign_verify_detached (sig, input, input_size, key), 0);
    free (domain);
    free (want);
    free (input);
}

//  ---------------------------------------------------------------------------
//  The fixed world: a Council, a broker and three members

typedef struct {
    const char *org_id;
    certbus_tier_t tier;
    const char *sector;
    const char *region;
} s_org_t;

static const s_org_t s_orgs [3] = {
    {"alpha", CERTBUS_TIER_NATIONAL, "", ""},
    {"bravo", CERTBUS_TIER_SECTORAL, "banking", ""},
    {"charlie", CERTBUS_TIER_ORGANIZATION, "banking", "punjab"},
};

typedef struct {
    certbus_identity_t *council, *broker;
    certbus_identity_t *member [3];
    uint8_t *cert_bytes [3];
    size_t cert_size [3];
    uint8_t *rev_bytes;
    size_t rev_size;
    certbus_directory_t *dir;
    const certbus_cert_t *cert [3];
    uint8_t green_id [CERTBUS_ID_SIZE]; //  the green envelope, forwarded and receipted
    uint8_t *green;
    size_t green_size;
} s_world_t;

static s_world_t s_world;

static certbus_identity_t *
s_identity (const char *name)
{
    char label [64];
    snprintf (label, sizeof label, "key %s", name);
    s_reseed (label);
    certbus_identity_t *identity = certbus_identity_new ();
    assert_non_null (identity);
    //  sign seed, box secret, CURVE secret: the first three draws
    assert_int_equal (s_draw_count, 3);
    assert_memory_equal (s_draw (0, 32), certbus_identity_sign_secret (identity), 32);
    assert_memory_equal (s_draw (1, 32), certbus_identity_box_secret (identity), 32);
    assert_memory_equal (s_draw (2, 32), certbus_identity_curve_secret (identity), 32);
    return identity;
}

static void
s_vec_identity (s_vec_t *vec, const char *name, certbus_identity_t *identity)
{
    //  The fields of one identity, in file order
    static const struct {
        const char *suffix;
        const uint8_t *(*key) (certbus_identity_t *self);
    } keys [] = {
        {"sign_seed", certbus_identity_sign_secret},
        {"sign_public", certbus_identity_sign_public},
        {"box_secret", certbus_identity_box_secret},
        {"box_public", certbus_identity_box_public},
        {"curve_secret", certbus_identity_curve_secret},
        {"curve_public", certbus_identity_curve_public},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys [0]; i++) {
        char field [64];
        snprintf (field, sizeof field, "%s_%s", name, keys [i].suffix);
        s_vec_bytes (vec, field, keys [i].key (identity), 32);
    }
}

//  keys.vec: every key pair, from its seed
static void
s_make_keys (void)
{
    s_world.council = s_identity ("council");
    s_world.broker = s_identity ("broker");
    for (size_t i = 0; i < 3; i++)
        s_world.member [i] = s_identity (s_orgs [i].org_id);
    s_vec_t vec = {{0}};
    s_vec_comment (&vec, "every key pair of the vectors; see README.md");
    s_vec_int (&vec, "clock_ms", s_T0_MS);
    s_vec_identity (&vec, "council", s_world.council);
    s_vec_identity (&vec, "broker", s_world.broker);
    for (size_t i = 0; i < 3; i++)
        s_vec_identity (&vec, s_orgs [i].org_id, s_world.member [i]);
    s_vec_finish (&vec, "keys");
}

//  request.vec (alpha's) and the certificates of all three members;
//  certificate.vec shows alpha's
static void
s_make_request_and_certs (void)
{
    for (size_t i = 0; i < 3; i++) {
        char label [64];
        snprintf (label, sizeof label, "request %s", s_orgs [i].org_id);
        s_reseed (label);
        uint8_t *bytes;
        size_t size;
        assert_int_equal (certbus_request_make (s_world.member [i], s_orgs [i].org_id, NULL, &bytes,
                                                &size),
                          0);
        certbus_request_t *request = certbus_request_decode (bytes, size);
        assert_non_null (request);
        if (i == 0) {
            Certbus__Request *wire = certbus__request__unpack (NULL, size, bytes);
            assert_non_null (wire);
            s_vec_t vec = {{0}};
            s_vec_comment (&vec, "alpha's membership request (the file DIR/request)");
            s_vec_text (&vec, "org_id", "alpha");
            s_vec_int (&vec, "created", s_T0);
            s_vec_bytes (&vec, "body", wire->body.data, wire->body.len);
            s_vec_signed (&vec, "sign", "certbus-request-v1", wire->body.data, wire->body.len,
                          wire->signature.data);
            s_vec_bytes (&vec, "box_proof_key", wire->box_proof_key.data, 32);
            s_vec_signed (&vec, "box_proof", "certbus-request-box-v1", wire->body.data,
                          wire->body.len, wire->box_proof_sig.data);
            s_vec_bytes (&vec, "curve_proof_key", wire->curve_proof_key.data, 32);
            s_vec_signed (&vec, "curve_proof", "certbus-request-curve-v1", wire->body.data,
                          wire->body.len, wire->curve_proof_sig.data);
            s_vec_bytes (&vec, "request", bytes, size);
            s_vec_finish (&vec, "request");
            certbus__request__free_unpacked (wire, NULL);
        }
        assert_int_equal (certbus_cert_issue (s_world.council, request, i + 1, s_orgs [i].tier,
                                              s_orgs [i].sector, s_orgs [i].region, s_T0 - 86400,
                                              s_T0 + 365 * 86400, &s_world.cert_bytes [i],
                                              &s_world.cert_size [i]),
                          0);
        certbus_request_destroy (&request);
        free (bytes);
    }
    Certbus__Certificate *wire = certbus__certificate__unpack (NULL, s_world.cert_size [0],
                                                               s_world.cert_bytes [0]);
    assert_non_null (wire);
    s_vec_t vec = {{0}};
    s_vec_comment (&vec, "alpha's certificate, serial 1, signed by the Council");
    s_vec_int (&vec, "serial", 1);
    s_vec_int (&vec, "not_before", s_T0 - 86400);
    s_vec_int (&vec, "not_after", s_T0 + 365 * 86400);
    s_vec_bytes (&vec, "body", wire->body.data, wire->body.len);
    s_vec_signed (&vec, "council", "certbus-certificate-v1", wire->body.data, wire->body.len,
                  wire->signature.data);
    s_vec_bytes (&vec, "certificate", s_world.cert_bytes [0], s_world.cert_size [0]);
    s_vec_finish (&vec, "certificate");
    certbus__certificate__free_unpacked (wire, NULL);
}

//  revocation.vec and directory.vec: serial 1 with the three certificates
//  and one revocation (of a serial 9 that is not listed)
static void
s_make_directory (void)
{
    assert_int_equal (certbus_revocation_issue (s_world.council, 9, "delta", s_T0 - 3600,
                                                "key compromise", &s_world.rev_bytes,
                                                &s_world.rev_size),
                      0);
    Certbus__Revocation *rev = certbus__revocation__unpack (NULL, s_world.rev_size,
                                                            s_world.rev_bytes);
    assert_non_null (rev);
    s_vec_t vec = {{0}};
    s_vec_comment (&vec, "the Council revokes serial 9 of delta");
    s_vec_bytes (&vec, "body", rev->body.data, rev->body.len);
    s_vec_signed (&vec, "council", "certbus-revocation-v1", rev->body.data, rev->body.len,
                  rev->signature.data);
    s_vec_bytes (&vec, "revocation", s_world.rev_bytes, s_world.rev_size);
    s_vec_finish (&vec, "revocation");
    certbus__revocation__free_unpacked (rev, NULL);

    uint8_t *bytes;
    size_t size;
    assert_int_equal (certbus_directory_build (s_world.council, 1, s_world.cert_bytes,
                                               s_world.cert_size, 3, &s_world.rev_bytes,
                                               &s_world.rev_size, 1, &bytes, &size),
                      0);
    Certbus__Directory *wire = certbus__directory__unpack (NULL, size, bytes);
    assert_non_null (wire);
    vec = (s_vec_t){{0}};
    s_vec_comment (&vec, "directory serial 1: alpha, bravo, charlie; delta's serial 9 revoked");
    s_vec_int (&vec, "serial", 1);
    s_vec_int (&vec, "issued_at", s_T0);
    s_vec_bytes (&vec, "body", wire->body.data, wire->body.len);
    s_vec_signed (&vec, "council", "certbus-directory-v1", wire->body.data, wire->body.len,
                  wire->signature.data);
    s_vec_bytes (&vec, "directory", bytes, size);
    s_vec_finish (&vec, "directory");
    certbus__directory__free_unpacked (wire, NULL);
    assert_int_equal (certbus_directory_decode (bytes, size,
                                                certbus_identity_sign_public (s_world.council), 0,
                                                &s_world.dir),
                      CERTBUS_OK);
    for (size_t i = 0; i < 3; i++) {
        s_world.cert [i] = certbus_directory_find (s_world.dir, s_orgs [i].org_id);
        assert_non_null (s_world.cert [i]);
    }
    free (bytes);
}

//  Writes the fields of a sealed envelope: header, signature input, the
//  recipients hash input, the payload AEAD and each recipient's wrap. For
//  an encrypted envelope the draws since the reseed are uuid random (16),
//  content key (32), payload nonce (24), ephemeral secret (32).
static void
s_vec_envelope (s_vec_t *vec, const uint8_t *bytes, size_t size, const uint8_t *payload,
                size_t payload_size)
{
    Certbus__Envelope *env = certbus__envelope__unpack (NULL, size, bytes);
    assert_non_null (env);
    Certbus__EnvelopeHeader *hdr = certbus__envelope_header__unpack (NULL, env->header.len,
                                                                     env->header.data);
    assert_non_null (hdr);
    s_vec_bytes (vec, "payload", payload, payload_size);
    s_vec_bytes (vec, "id", hdr->id.data, hdr->id.len);
    s_vec_bytes (vec, "id_random", s_draw (0, 16), 16);
    s_vec_int (vec, "created", hdr->created);
    certbus_sb_t list = {0};
    for (size_t i = 0; i < env->n_recipients; i++)
        certbus_sb_printf (&list, "%s\n", env->recipients [i]->org_id);
    s_vec_bytes (vec, "recipients_hash_input", (const uint8_t *) list.data, list.len);
    certbus_sb_free (&list);
    s_vec_bytes (vec, "recipients_hash", hdr->recipients_hash.data, hdr->recipients_hash.len);
    if (hdr->encrypted) {
        //  The content key as recipient 0 unwraps it
        size_t who = 0;
        while (strcmp (s_orgs [who].org_id, env->recipients [0]->org_id) != 0)
            who++;
        certbus_envelope_t *opened;
        assert_int_equal (certbus_envelope_decode (bytes, size, &opened), CERTBUS_OK);
        uint8_t key [32];
        assert_int_equal (certbus_envelope_content_key (opened, s_world.member [who],
                                                        s_orgs [who].org_id, key),
                          CERTBUS_OK);
        certbus_envelope_destroy (&opened);
        assert_memory_equal (key, s_draw (1, 32), 32);
        assert_memory_equal (hdr->nonce.data, s_draw (2, 24), 24);
        const uint8_t *ephemeral = s_draw (3, 32);
        uint8_t ephemeral_public [32];
        assert_int_equal (crypto_scalarmult_base (ephemeral_public, ephemeral), 0);
        assert_memory_equal (ephemeral_public, hdr->ephemeral_key.data, 32);
        s_vec_bytes (vec, "content_key", key, 32);
        s_vec_bytes (vec, "nonce", hdr->nonce.data, 24);
        s_vec_bytes (vec, "aead_additional_data", hdr->id.data, 16);
        s_vec_bytes (vec, "ephemeral_secret", ephemeral, 32);
        s_vec_bytes (vec, "ephemeral_public", ephemeral_public, 32);
        for (size_t i = 0; i < env->n_recipients; i++) {
            const certbus_cert_t *cert = certbus_directory_find (s_world.dir,
                                                                 env->recipients [i]->org_id);
            assert_non_null (cert);
            uint8_t shared [32], wrap_nonce [24];
            assert_int_equal (crypto_box_beforenm (shared, cert->box_key, ephemeral), 0);
            crypto_generichash_state state;
            crypto_generichash_init (&state, NULL, 0, sizeof wrap_nonce);
            crypto_generichash_update (&state, ephemeral_public, 32);
            crypto_generichash_update (&state, cert->box_key, 32);
            crypto_generichash_final (&state, wrap_nonce, sizeof wrap_nonce);
            char field [80];
            snprintf (field, sizeof field, "recipient_%zu", i);
            s_vec_text (vec, field, cert->org_id);
            snprintf (field, sizeof field, "recipient_%zu_box_public", i);
            s_vec_bytes (vec, field, cert->box_key, 32);
            snprintf (field, sizeof field, "recipient_%zu_wrap_key", i);
            s_vec_bytes (vec, field, shared, 32);
            snprintf (field, sizeof field, "recipient_%zu_wrap_nonce", i);
            s_vec_bytes (vec, field, wrap_nonce, 24);
            snprintf (field, sizeof field, "recipient_%zu_wrapped_key", i);
            s_vec_bytes (vec, field, env->recipients [i]->wrapped_key.data,
                         env->recipients [i]->wrapped_key.len);
        }
    }
    else
        for (size_t i = 0; i < env->n_recipients; i++) {
            char field [80];
            snprintf (field, sizeof field, "recipient_%zu", i);
            s_vec_text (vec, field, env->recipients [i]->org_id);
        }
    s_vec_bytes (vec, "ciphertext", env->ciphertext.data, env->ciphertext.len);
    s_vec_bytes (vec, "ciphertext_hash", hdr->ciphertext_hash.data, hdr->ciphertext_hash.len);
    s_vec_bytes (vec, "header", env->header.data, env->header.len);
    s_vec_signed (vec, "origin", "certbus-envelope-v1", env->header.data, env->header.len,
                  env->signature.data);
    s_vec_bytes (vec, "envelope", bytes, size);
    certbus__envelope_header__free_unpacked (hdr, NULL);
    certbus__envelope__free_unpacked (env, NULL);
}

typedef struct {
    const char *file; //  vector name
    const char *tlp;
    bool self_copy;
} s_tlp_case_t;

static const s_tlp_case_t s_tlp_cases [] = {
    {"envelope-clear", "clear", false}, {"envelope-green", "green", false},
    {"envelope-amber", "amber", true},  {"envelope-amber-strict", "amber+strict", false},
    {"envelope-red", "red", false},
};

//  One envelope of each TLP from alpha to org:bravo,org:charlie (amber
//  with alpha's self-copy)
static void
s_make_envelopes (void)
{
    for (size_t c = 0; c < sizeof s_tlp_cases / sizeof s_tlp_cases [0]; c++) {
        const s_tlp_case_t *tc = &s_tlp_cases [c];
        char text [128];
        snprintf (text, sizeof text, "certbus test vector: a TLP %s advisory\n", tc->tlp);
        certbus_seal_opts_t opts = {.kind = "advisory",
                                    .tlp = tc->tlp,
                                    .audience = "org:bravo,org:charlie",
                                    .topic = "vectors",
                                    .severity = "high",
                                    .content_type = "text/plain",
                                    .self_copy = tc->self_copy};
        s_reseed (tc->file);
        uint8_t id [CERTBUS_ID_SIZE], *bytes;
        size_t size;
        assert_int_equal (certbus_envelope_seal (s_world.member [0], s_world.cert [0], s_world.dir,
                                                 &opts, (const uint8_t *) text, strlen (text), id,
                                                 &bytes, &size),
                          CERTBUS_OK);
        s_vec_t vec = {{0}};
        s_vec_comment (&vec, "alpha seals an advisory to audience org:bravo,org:charlie");
        s_vec_text (&vec, "tlp", tc->tlp);
        s_vec_text (&vec, "audience", opts.audience);
        s_vec_int (&vec, "self_copy", tc->self_copy);
        s_vec_envelope (&vec, bytes, size, (const uint8_t *) text, strlen (text));
        s_vec_finish (&vec, tc->file);
        if (strcmp (tc->tlp, "green") == 0) {
            memcpy (s_world.green_id, id, sizeof id);
            s_world.green = bytes;
            s_world.green_size = size;
        }
        else
            free (bytes);
    }
}

//  Seals payload from member from to the one recipient, with opts and one
//  reference (relation) to the green envelope, after reseeding the random
//  stream with label. Returns the envelope's bytes (caller frees).
static uint8_t *
s_seal_about_green (size_t from, const char *recipient, certbus_seal_opts_t *opts,
                    const char *relation, const uint8_t *payload, size_t payload_size,
                    const char *label, uint8_t id [CERTBUS_ID_SIZE], size_t *size_p)
{
    certbus_ref_t ref = {.relation = ""};
    snprintf (ref.relation, sizeof ref.relation, "%s", relation);
    memcpy (ref.id, s_world.green_id, CERTBUS_ID_SIZE);
    opts->refs = &ref;
    opts->ref_count = 1;
    char *recipients [1] = {(char *) recipient};
    s_reseed (label);
    uint8_t *bytes = NULL;
    assert_int_equal (certbus_envelope_seal_to (s_world.member [from], s_world.cert [from],
                                                s_world.dir, opts, recipients, 1, payload,
                                                payload_size, id, &bytes, size_p),
                      CERTBUS_OK);
    opts->refs = NULL; //  ref ends here
    opts->ref_count = 0;
    return bytes;
}

//  forward.vec: bravo forwards alpha's green envelope to charlie
static void
s_make_forward (void)
{
    certbus_envelope_t *original;
    assert_int_equal (certbus_envelope_decode (s_world.green, s_world.green_size, &original),
                      CERTBUS_OK);
    const char *note = "for your bank, from bravo";
    uint8_t *payload;
    size_t payload_size;
    assert_int_equal (certbus_forward_wrap (original, s_world.member [1], "bravo",
                                            (const uint8_t *) note, strlen (note), "text/plain",
                                            &payload, &payload_size),
                      CERTBUS_OK);
    certbus_seal_opts_t opts = {.kind = "advisory",
                                .tlp = "green",
                                .audience = "org:charlie",
                                .severity = "high",
                                .content_type = CERTBUS_FORWARD_TYPE};
    uint8_t id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *bytes = s_seal_about_green (1, "charlie", &opts, "forwards", payload, payload_size,
                                         "forward", id, &size);
    s_vec_t vec = {{0}};
    s_vec_comment (&vec, "bravo forwards alpha's green advisory (envelope-green) to charlie;");
    s_vec_comment (&vec, "payload is the Forward, forward_content_key alpha's content key");
    s_vec_text (&vec, "note", note);
    s_vec_bytes (&vec, "forwarded_id", s_world.green_id, CERTBUS_ID_SIZE);
    s_vec_envelope (&vec, bytes, size, payload, payload_size);
    s_vec_finish (&vec, "forward");

    //  charlie opens it: outer envelope, then the Forward inside
    certbus_envelope_t *outer;
    uint8_t *plain;
    size_t plain_size;
    assert_int_equal (certbus_envelope_open (bytes, size, s_world.dir, s_world.member [2],
                                             "charlie", s_T0, &outer, &plain, &plain_size),
                      CERTBUS_OK);
    certbus_forwarded_t *forwarded;
    assert_int_equal (certbus_forward_open (s_world.dir, outer, plain, plain_size, &forwarded),
                      CERTBUS_OK);
    assert_string_equal (forwarded->forwarders, "bravo");
    certbus_forwarded_destroy (&forwarded);
    certbus_envelope_destroy (&outer);
    certbus_envelope_destroy (&original);
    free (plain);
    free (payload);
    free (bytes);
}

//  receipt.vec: charlie's receipt for alpha's green envelope, as a node
//  makes it on storing a delivery
static void
s_make_receipt (void)
{
    char id [CERTBUS_ID_STR_SIZE], when [40], json [160];
    certbus_id_format (s_world.green_id, id);
    certbus_time_format (s_T0_MS, when, sizeof when);
    snprintf (json, sizeof json, "{\"receipt_for\":\"%s\",\"stored\":\"%s\"}", id, when);
    certbus_seal_opts_t opts = {.kind = "receipt",
                                .tlp = "clear",
                                .audience = "org:alpha",
                                .severity = "info",
                                .content_type = "application/json"};
    uint8_t receipt_id [CERTBUS_ID_SIZE];
    size_t size;
    uint8_t *bytes = s_seal_about_green (2, "alpha", &opts, "receipt-for", (const uint8_t *) json,
                                         strlen (json), "receipt", receipt_id, &size);
    s_vec_t vec = {{0}};
    s_vec_comment (&vec, "charlie's receipt for envelope-green, back to alpha");
    s_vec_bytes (&vec, "receipt_for", s_world.green_id, CERTBUS_ID_SIZE);
    s_vec_envelope (&vec, bytes, size, (const uint8_t *) json, strlen (json));
    s_vec_finish (&vec, "receipt");
    free (bytes);
}

//  The perfect nodes of the example audit tree, for the proof functions
static certbus_merkle_node_t s_nodes [16];
static size_t s_node_count;

static int
s_get_node (void *ctx, unsigned level, uint64_t index, uint8_t out [32])
{
    (void) ctx;
    for (size_t i = 0; i < s_node_count; i++)
        if (s_nodes [i].level == level && s_nodes [i].index == index) {
            memcpy (out, s_nodes [i].hash, 32);
            return 0;
        }
    return certbus_fail (CERTBUS_E_NOT_FOUND, "no node %u/%llu", level, (unsigned long long) index);
}

//  tree-head.vec: an audit log of three records, its signed tree heads at
//  sizes 2 and 3, the inclusion proof of record 2 and the consistency proof
//  from 2 to 3
static void
s_make_tree_head (void)
{
    static const char *events [3] = {"publish", "deliver", "receipt"};
    static const char *orgs [3] = {"alpha", "bravo", "charlie"};
    s_vec_t vec = {{0}};
    s_vec_comment (&vec, "an audit log of three records; tree heads signed by the broker");
    certbus_merkle_frontier_t frontier;
    certbus_merkle_frontier_init (&frontier);
    s_node_count = 0;
    uint8_t root2 [32], root3 [32];
    for (size_t i = 0; i < 3; i++) {
        Certbus__AuditRecord record = CERTBUS__AUDIT_RECORD__INIT;
        record.version = 1;
        record.index = i;
        record.time = s_T0_MS + (int64_t) i;
        record.event = (char *) events [i];
        record.org = (char *) orgs [i];
        record.message_id.data = s_world.green_id;
        record.message_id.len = CERTBUS_ID_SIZE;
        record.kind = "advisory";
        record.tlp = "green";
        record.decision = "accept";
        record.sequence = 1;
        size_t size;
        uint8_t *leaf = certbus_codec_encode (&record, &size);
        uint8_t hash [32];
        certbus_merkle_leaf_hash (hash, leaf, size);
        char field [32];
        snprintf (field, sizeof field, "leaf_%zu", i);
        s_vec_bytes (&vec, field, leaf, size);
        snprintf (field, sizeof field, "leaf_%zu_hash", i);
        s_vec_bytes (&vec, field, hash, 32);
        certbus_merkle_node_t added [CERTBUS_MERKLE_MAX_LEVELS];
        size_t added_count;
        assert_int_equal (certbus_merkle_frontier_append (&frontier, hash, added, &added_count),
                          CERTBUS_OK);
        for (size_t j = 0; j < added_count; j++)
            s_nodes [s_node_count++] = added [j];
        if (i == 1)
            certbus_merkle_frontier_root (&frontier, root2);
        free (leaf);
    }
    certbus_merkle_frontier_root (&frontier, root3);
    s_vec_bytes (&vec, "root_2", root2, 32);
    s_vec_bytes (&vec, "root_3", root3, 32);
    uint8_t proof [CERTBUS_MERKLE_PROOF_MAX_BYTES];
    size_t proof_len;
    assert_int_equal (certbus_merkle_inclusion_proof (proof, &proof_len, 2, 3, s_get_node, NULL),
                      CERTBUS_OK);
    s_vec_bytes (&vec, "inclusion_2_of_3", proof, proof_len);
    assert_int_equal (certbus_merkle_consistency_proof (proof, &proof_len, 2, 3, s_get_node, NULL),
                      CERTBUS_OK);
    s_vec_bytes (&vec, "consistency_2_to_3", proof, proof_len);
    for (uint64_t tree_size = 2; tree_size <= 3; tree_size++) {
        certbus_tree_head_t head = {.size = tree_size,
                                    .timestamp = s_T0_MS + 10 * (int64_t) tree_size};
        memcpy (head.root, tree_size == 2 ? root2 : root3, 32);
        size_t size;
        uint8_t *bytes = certbus_tree_head_sign (s_world.broker, &head, &size);
        Certbus__TreeHead *wire = certbus__tree_head__unpack (NULL, size, bytes);
        assert_non_null (wire);
        char field [32];
        snprintf (field, sizeof field, "head_%llu_body", (unsigned long long) tree_size);
        s_vec_bytes (&vec, field, wire->body.data, wire->body.len);
        snprintf (field, sizeof field, "head_%llu", (unsigned long long) tree_size);
        s_vec_signed (&vec, field, "certbus-tree-head-v1", wire->body.data, wire->body.len,
                      wire->signature.data);
        snprintf (field, sizeof field, "tree_head_%llu", (unsigned long long) tree_size);
        s_vec_bytes (&vec, field, bytes, size);
        certbus__tree_head__free_unpacked (wire, NULL);
        free (bytes);
    }
    s_vec_finish (&vec, "tree-head");
}

//  ---------------------------------------------------------------------------
//  The independent checks: from the files alone, with libsodium primitives

//  recipients_hash = BLAKE2b-256 over "id\n" of each recipient, sorted
static void
s_check_recipients_hash (s_file_t *f)
{
    certbus_sb_t list = {0};
    char *previous = NULL;
    for (size_t i = 0;; i++) {
        char field [32];
        snprintf (field, sizeof field, "recipient_%zu", i);
        if (!s_file_has (f, field))
            break;
        char *org = s_file_text (f, field);
        if (previous)
            assert_true (strcmp (previous, org) < 0);
        certbus_sb_printf (&list, "%s\n", org);
        free (previous);
        previous = org;
    }
    free (previous);
    size_t input_size;
    uint8_t *input = s_file_bytes (f, "recipients_hash_input", &input_size);
    assert_int_equal (input_size, list.len);
    assert_memory_equal (input, list.data, list.len);
    uint8_t hash [32], want [32];
    crypto_generichash (hash, 32, input, input_size, NULL, 0);
    s_file_fixed (f, "recipients_hash", want, 32);
    assert_memory_equal (hash, want, 32);
    free (input);
    certbus_sb_free (&list);
}

//  Each recipient's wrap of content key K from ephemeral key pair (e, E)
static void
s_check_wraps (s_file_t *f, const uint8_t key [32], const uint8_t eph [32],
               const uint8_t eph_pub [32])
{
    for (size_t i = 0;; i++) {
        char field [64];
        snprintf (field, sizeof field, "recipient_%zu_box_public", i);
        if (!s_file_has (f, field))
            break;
        uint8_t box [32], wrap_key [32], wrap_nonce [24], wrapped [48], x [32], hash [32];
        uint8_t zero [16] = {0}, check [48];
        s_file_fixed (f, field, box, 32);
        snprintf (field, sizeof field, "recipient_%zu_wrap_key", i);
        s_file_fixed (f, field, wrap_key, 32);
        snprintf (field, sizeof field, "recipient_%zu_wrap_nonce", i);
        s_file_fixed (f, field, wrap_nonce, 24);
        snprintf (field, sizeof field, "recipient_%zu_wrapped_key", i);
        s_file_fixed (f, field, wrapped, 48);
        //  wrap key = HSalsa20 (X25519 (ephemeral, box), zero input)
        assert_int_equal (crypto_scalarmult (x, eph, box), 0);
        crypto_core_hsalsa20 (hash, zero, x, NULL);
        assert_memory_equal (hash, wrap_key, 32);
        //  wrap nonce = BLAKE2b-192 (ephemeral public || box public)
        uint8_t both [64];
        memcpy (both, eph_pub, 32);
        memcpy (both + 32, box, 32);
        crypto_generichash (hash, 24, both, 64, NULL, 0);
        assert_memory_equal (hash, wrap_nonce, 24);
        //  wrapped = XSalsa20-Poly1305 (content key): MAC then ciphertext
        crypto_secretbox_easy (check, key, 32, wrap_nonce, wrap_key);
        assert_memory_equal (check, wrapped, 48);
    }
}

//  Everything PROTOCOL.md says about a sealed envelope
static void
s_check_envelope_file (const char *name, const uint8_t origin_key [32])
{
    s_file_t f;
    s_file_load (&f, name);
    s_check_recipients_hash (&f);
    size_t payload_size, ct_size;
    uint8_t *payload = s_file_bytes (&f, "payload", &payload_size);
    uint8_t *ct = s_file_bytes (&f, "ciphertext", &ct_size);
    uint8_t id [16], hash [32], want [32];
    s_file_fixed (&f, "id", id, 16);
    if (s_file_has (&f, "content_key")) {
        uint8_t key [32], nonce [24], ad [16], eph [32], eph_pub [32];
        s_file_fixed (&f, "content_key", key, 32);
        s_file_fixed (&f, "nonce", nonce, 24);
        s_file_fixed (&f, "aead_additional_data", ad, 16);
        assert_memory_equal (ad, id, 16);
        s_file_fixed (&f, "ephemeral_secret", eph, 32);
        s_file_fixed (&f, "ephemeral_public", eph_pub, 32);
        assert_int_equal (crypto_scalarmult_base (hash, eph), 0);
        assert_memory_equal (hash, eph_pub, 32);
        //  XChaCha20-Poly1305 (IETF) of the payload, additional data the id
        uint8_t *sealed = malloc (payload_size + 16);
        assert_non_null (sealed);
        unsigned long long sealed_size;
        crypto_aead_xchacha20poly1305_ietf_encrypt (sealed, &sealed_size, payload, payload_size, ad,
                                                    16, NULL, nonce, key);
        assert_int_equal (sealed_size, ct_size);
        assert_memory_equal (sealed, ct, ct_size);
        free (sealed);
        s_check_wraps (&f, key, eph, eph_pub);
    }
    else {
        //  clear: the ciphertext is the payload
        assert_int_equal (ct_size, payload_size);
        assert_memory_equal (ct, payload, ct_size);
    }
    crypto_hash_sha256 (hash, ct, ct_size);
    s_file_fixed (&f, "ciphertext_hash", want, 32);
    assert_memory_equal (hash, want, 32);
    size_t header_size;
    uint8_t *header = s_file_bytes (&f, "header", &header_size);
    s_check_signed (&f, "origin", header, header_size, origin_key);
    free (header);
    free (payload);
    free (ct);
    s_file_free (&f);
}

static void
s_check_signed_file (const char *name, const char *prefix, const uint8_t key [32])
{
    s_file_t f;
    s_file_load (&f, name);
    size_t size;
    uint8_t *body = s_file_bytes (&f, "body", &size);
    s_check_signed (&f, prefix, body, size, key);
    free (body);
    s_file_free (&f);
}

static void
s_check_tree_head_file (void)
{
    s_file_t f;
    s_file_load (&f, "tree-head");
    uint8_t leaf_hash [3][32];
    for (size_t i = 0; i < 3; i++) {
        char field [32];
        snprintf (field, sizeof field, "leaf_%zu", i);
        size_t size;
        uint8_t *leaf = s_file_bytes (&f, field, &size);
        uint8_t *prefixed = malloc (size + 1);
        prefixed [0] = 0x00;
        memcpy (prefixed + 1, leaf, size);
        crypto_hash_sha256 (leaf_hash [i], prefixed, size + 1);
        snprintf (field, sizeof field, "leaf_%zu_hash", i);
        uint8_t want [32];
        s_file_fixed (&f, field, want, 32);
        assert_memory_equal (leaf_hash [i], want, 32);
        free (prefixed);
        free (leaf);
    }
    //  MTH: node = SHA-256 (0x01 || left || right); 3 leaves split 2 + 1
    uint8_t node [65], root2 [32], root3 [32], want [32];
    node [0] = 0x01;
    memcpy (node + 1, leaf_hash [0], 32);
    memcpy (node + 33, leaf_hash [1], 32);
    crypto_hash_sha256 (root2, node, 65);
    memcpy (node + 1, root2, 32);
    memcpy (node + 33, leaf_hash [2], 32);
    crypto_hash_sha256 (root3, node, 65);
    s_file_fixed (&f, "root_2", want, 32);
    assert_memory_equal (root2, want, 32);
    s_file_fixed (&f, "root_3", want, 32);
    assert_memory_equal (root3, want, 32);
    //  inclusion of leaf 2 in 3: [root2]; consistency 2 -> 3: [leaf 2]
    s_file_fixed (&f, "inclusion_2_of_3", want, 32);
    assert_memory_equal (want, root2, 32);
    s_file_fixed (&f, "consistency_2_to_3", want, 32);
    assert_memory_equal (want, leaf_hash [2], 32);
    const uint8_t *broker_key = certbus_identity_sign_public (s_world.broker);
    for (int tree_size = 2; tree_size <= 3; tree_size++) {
        char field [32];
        snprintf (field, sizeof field, "head_%d_body", tree_size);
        size_t size;
        uint8_t *body = s_file_bytes (&f, field, &size);
        snprintf (field, sizeof field, "head_%d", tree_size);
        s_check_signed (&f, field, body, size, broker_key);
        free (body);
    }
    s_file_free (&f);
}

//  ---------------------------------------------------------------------------

static void
test_vectors_reproduce (void **state)
{
    (void) state;
    s_make_keys ();
    s_make_request_and_certs ();
    s_make_directory ();
    s_make_envelopes ();
    s_make_forward ();
    s_make_receipt ();
    s_make_tree_head ();
}

static void
test_vectors_independent (void **state)
{
    (void) state;
    assert_non_null (s_world.dir);
    const uint8_t *council = certbus_identity_sign_public (s_world.council);
    s_check_signed_file ("certificate", "council", council);
    s_check_signed_file ("revocation", "council", council);
    s_check_signed_file ("directory", "council", council);
    s_check_signed_file ("request", "sign", certbus_identity_sign_public (s_world.member [0]));
    //  the proofs' keys are the Ed25519 forms of the X25519 keys
    s_file_t f;
    s_file_load (&f, "request");
    size_t size;
    uint8_t *body = s_file_bytes (&f, "body", &size);
    uint8_t a [32], montgomery [32];
    s_file_fixed (&f, "box_proof_key", a, 32);
    assert_int_equal (crypto_sign_ed25519_pk_to_curve25519 (montgomery, a), 0);
    assert_memory_equal (montgomery, certbus_identity_box_public (s_world.member [0]), 32);
    s_check_signed (&f, "box_proof", body, size, a);
    s_file_fixed (&f, "curve_proof_key", a, 32);
    assert_int_equal (crypto_sign_ed25519_pk_to_curve25519 (montgomery, a), 0);
    assert_memory_equal (montgomery, certbus_identity_curve_public (s_world.member [0]), 32);
    s_check_signed (&f, "curve_proof", body, size, a);
    free (body);
    s_file_free (&f);
    for (size_t c = 0; c < sizeof s_tlp_cases / sizeof s_tlp_cases [0]; c++)
        s_check_envelope_file (s_tlp_cases [c].file,
                               certbus_identity_sign_public (s_world.member [0]));
    s_check_envelope_file ("forward", certbus_identity_sign_public (s_world.member [1]));
    s_check_envelope_file ("receipt", certbus_identity_sign_public (s_world.member [2]));
    s_check_tree_head_file ();
}

int
main (int argc, char *argv [])
{
    //  Before sodium_init, which certbus_init calls
    rs_install (s_random_buf, "certbus-vectors-chacha20");
    s_reseed ("init");
    certbus_init ();
    if (argc == 3 && strcmp (argv [1], "--write") == 0)
        s_write_dir = argv [2];
    else if (argc != 1) {
        fprintf (stderr, "usage: test_vectors [--write DIR]\n");
        return 2;
    }
    if (getenv ("CERTBUS_VECTORS"))
        s_read_dir = getenv ("CERTBUS_VECTORS");
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_vectors_reproduce),
        cmocka_unit_test (test_vectors_independent),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
