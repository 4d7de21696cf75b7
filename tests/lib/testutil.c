/*  testutil.c - shared helpers for the cmocka unit tests
    SPDX-License-Identifier: MPL-2.0
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include <dirent.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void
tu_assert_err_at (certbus_err_t got, certbus_err_t want, const char *expr, const char *file,
                  int line)
{
    if (got == want)
        return;
    print_error ("%s:%d: %s returned %s (%d), expected %s (%d); reason: %s\n", file, line, expr,
                 certbus_err_name (got), (int) got, certbus_err_name (want), (int) want,
                 certbus_reason ());
    _fail (file, line);
}

static char *
s_strdup (const char *s)
{
    char *copy = strdup (s);
    assert_non_null (copy);
    return copy;
}

void *
tu_fixture_new (void **state, size_t size)
{
    void *self = calloc (1, size);
    assert_non_null (self);
    *state = self;
    return self;
}

//  ---------------------------------------------------------------------------
//  Files and folders

char *
tu_tmpdir_new (void)
{
    const char *base = getenv ("TMPDIR");
    char *path = tu_path (base && *base ? base : "/tmp", "certbus-test-XXXXXX");
    assert_non_null (mkdtemp (path));
    return path;
}

static int
s_remove_one (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove (path);
}

void
tu_tmpdir_remove (char **path_p)
{
    if (!*path_p)
        return;
    nftw (*path_p, s_remove_one, 16, FTW_DEPTH | FTW_PHYS);
    free (*path_p);
    *path_p = NULL;
}

int
tu_tmpdir_setup (void **state)
{
    *state = tu_tmpdir_new ();
    return 0;
}

int
tu_tmpdir_teardown (void **state)
{
    char *path = *state;
    tu_tmpdir_remove (&path);
    return 0;
}

char *
tu_path (const char *dir, const char *name)
{
    size_t len = strlen (dir) + strlen (name) + 2;
    char *path = malloc (len);
    assert_non_null (path);
    snprintf (path, len, "%s/%s", dir, name);
    return path;
}

uint8_t *
tu_read_file (const char *path, size_t *size_p)
{
    uint8_t *data = NULL;
    if (certbus_file_read (path, 64u * 1024 * 1024, &data, size_p) != 0)
        fail_msg ("cannot read %s: %s", path, certbus_reason ());
    return data;
}

certbus_directory_t *
tu_directory_read (const char *path, const uint8_t council_key [CERTBUS_KEY_SIZE])
{
    size_t size;
    uint8_t *bytes = tu_read_file (path, &size);
    certbus_directory_t *dir = NULL;
    tu_assert_err (certbus_directory_decode (bytes, size, council_key, 0, &dir), CERTBUS_OK);
    free (bytes);
    return dir;
}

const char *
tu_shared_dir (void)
{
    const char *env = getenv ("CERTBUS_SHARED");
    const char *path = env && *env ? env : "../shared";
    struct stat st;
    if (stat (path, &st) != 0 || !S_ISDIR (st.st_mode))
        return NULL;
    return path;
}

static int
s_strcmp_p (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

char **
tu_corpus_list (const char *sub, size_t *count_p)
{
    *count_p = 0;
    const char *shared = tu_shared_dir ();
    if (!shared)
        return NULL;
    char *corpus = tu_path (shared, "corpus");
    char *folder = tu_path (corpus, sub);
    free (corpus);
    DIR *dir = opendir (folder);
    if (!dir) {
        free (folder);
        return NULL;
    }
    size_t count = 0, cap = 8;
    char **list = malloc (cap * sizeof (char *));
    assert_non_null (list);
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (entry->d_name [0] == '.')
            continue;
        char *path = tu_path (folder, entry->d_name);
        struct stat st;
        if (stat (path, &st) != 0 || !S_ISREG (st.st_mode)) {
            free (path);
            continue;
        }
        if (count == cap) {
            cap *= 2;
            list = realloc (list, cap * sizeof (char *));
            assert_non_null (list);
        }
        list [count++] = path;
    }
    closedir (dir);
    free (folder);
    qsort (list, count, sizeof (char *), s_strcmp_p);
    *count_p = count;
    return list;
}

//  ---------------------------------------------------------------------------
//  Bytes

void
tu_fill (uint8_t *buf, size_t size, uint32_t seed)
{
    uint32_t x = seed ? seed : 0x9e3779b9u;
    for (size_t i = 0; i < size; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf [i] = (uint8_t) (x >> 11);
    }
}

long
tu_find (const uint8_t *haystack, size_t size, const void *needle, size_t needle_size)
{
    const uint8_t *hit = memmem (haystack, size, needle, needle_size);
    return hit ? (long) (hit - haystack) : -1;
}

uint8_t *
tu_dup (const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc (size ? size : 1);
    assert_non_null (copy);
    if (size)
        memcpy (copy, data, size);
    return copy;
}

double
tu_clock_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1000.0 + (double) ts.tv_nsec / 1e6;
}

//  ---------------------------------------------------------------------------
//  An in-memory Council

tu_council_t *
tu_council_new (void)
{
    certbus_init ();
    tu_council_t *self = calloc (1, sizeof *self);
    assert_non_null (self);
    self->council = certbus_identity_new ();
    assert_non_null (self->council);
    self->next_serial = 1;
    return self;
}

static void
s_member_destroy (tu_member_t **self_p)
{
    tu_member_t *self = *self_p;
    if (!self)
        return;
    free (self->org_id);
    if (self->owns_identity)
        certbus_identity_destroy (&self->identity);
    free (self->cert_bytes);
    certbus_cert_destroy (&self->cert);
    free (self);
    *self_p = NULL;
}

void
tu_council_destroy (tu_council_t **self_p)
{
    tu_council_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++)
        s_member_destroy (&self->members [i]);
    free (self->members);
    for (size_t i = 0; i < self->rev_count; i++)
        free (self->revs [i]);
    free (self->revs);
    free (self->rev_sizes);
    free (self->dir_bytes);
    certbus_directory_destroy (&self->dir);
    certbus_identity_destroy (&self->council);
    free (self);
    *self_p = NULL;
}

int
tu_council_teardown (void **state)
{
    tu_council_t *self = *state;
    tu_council_destroy (&self);
    return 0;
}

tu_member_t *
tu_council_enrol_identity (tu_council_t *self, certbus_identity_t *identity, const char *org_id,
                           certbus_tier_t tier, const char *sector, const char *region,
                           int64_t not_before, int64_t not_after)
{
    tu_member_t *member = calloc (1, sizeof *member);
    assert_non_null (member);
    member->org_id = s_strdup (org_id);
    if (identity)
        member->identity = identity;
    else {
        member->identity = certbus_identity_new ();
        member->owns_identity = true;
    }
    assert_non_null (member->identity);

    uint8_t *request_bytes = NULL;
    size_t request_size = 0;
    if (certbus_request_make (member->identity, org_id, NULL, &request_bytes, &request_size) != 0)
        fail_msg ("request for %s: %s", org_id, certbus_reason ());
    certbus_request_t *request = certbus_request_decode (request_bytes, request_size);
    free (request_bytes);
    if (!request)
        fail_msg ("request for %s does not decode: %s", org_id, certbus_reason ());
    member->serial = self->next_serial++;
    if (certbus_cert_issue (self->council, request, member->serial, tier, sector, region,
                            not_before, not_after, &member->cert_bytes, &member->cert_size)
        != 0)
        fail_msg ("certificate for %s: %s", org_id, certbus_reason ());
    certbus_request_destroy (&request);
    tu_assert_err (certbus_cert_decode (member->cert_bytes, member->cert_size,
                                        certbus_identity_sign_public (self->council),
                                        &member->cert),
                   CERTBUS_OK);
    if (self->count == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 16;
        self->members = realloc (self->members, self->cap * sizeof (tu_member_t *));
        assert_non_null (self->members);
    }
    self->members [self->count++] = member;
    return member;
}

tu_member_t *
tu_council_enrol (tu_council_t *self, const char *org_id, certbus_tier_t tier, const char *sector,
                  const char *region, int64_t not_before, int64_t not_after)
{
    return tu_council_enrol_identity (self, NULL, org_id, tier, sector, region, not_before,
                                      not_after);
}

tu_member_t *
tu_council_enrol_simple (tu_council_t *self, const char *org_id)
{
    int64_t now = certbus_now ();
    return tu_council_enrol (self, org_id, CERTBUS_TIER_NATIONAL, "", "", now - 3600, now + 86400);
}

void
tu_council_revoke (tu_council_t *self, const char *org_id, const char *reason)
{
    tu_member_t *member = tu_council_member (self, org_id);
    self->revs = realloc (self->revs, (self->rev_count + 1) * sizeof (uint8_t *));
    self->rev_sizes = realloc (self->rev_sizes, (self->rev_count + 1) * sizeof (size_t));
    assert_non_null (self->revs);
    assert_non_null (self->rev_sizes);
    if (certbus_revocation_issue (self->council, member->serial, org_id, certbus_now (), reason,
                                  &self->revs [self->rev_count], &self->rev_sizes [self->rev_count])
        != 0)
        fail_msg ("revocation of %s: %s", org_id, certbus_reason ());
    self->rev_count++;
}

certbus_directory_t *
tu_council_publish (tu_council_t *self)
{
    uint8_t **certs = calloc (self->count + 1, sizeof (uint8_t *));
    size_t *sizes = calloc (self->count + 1, sizeof (size_t));
    assert_non_null (certs);
    assert_non_null (sizes);
    for (size_t i = 0; i < self->count; i++) {
        certs [i] = self->members [i]->cert_bytes;
        sizes [i] = self->members [i]->cert_size;
    }
    free (self->dir_bytes);
    self->dir_bytes = NULL;
    if (certbus_directory_build (self->council, ++self->dir_serial, certs, sizes, self->count,
                                 self->revs, self->rev_sizes, self->rev_count, &self->dir_bytes,
                                 &self->dir_size)
        != 0)
        fail_msg ("directory: %s", certbus_reason ());
    free (certs);
    free (sizes);
    certbus_directory_destroy (&self->dir);
    tu_assert_err (certbus_directory_decode (self->dir_bytes, self->dir_size,
                                             certbus_identity_sign_public (self->council), 0,
                                             &self->dir),
                   CERTBUS_OK);
    return self->dir;
}

tu_member_t *
tu_council_member (tu_council_t *self, const char *org_id)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp (self->members [i]->org_id, org_id) == 0)
            return self->members [i];
    fail_msg ("no member %s in the test Council", org_id);
    return NULL;
}

//  ---------------------------------------------------------------------------
//  Envelopes as a member's own client can make them

//  The domain lib/envelope.c signs envelope headers under
#define s_DOMAIN_ENVELOPE "certbus-envelope-v1"

void
tu_set_str (char **slot, const char *value)
{
    if (*slot != protobuf_c_empty_string)
        free (*slot);
    *slot = strdup (value);
    assert_non_null (*slot);
}

void
tu_set_refs (Certbus__EnvelopeHeader *header, size_t count, const char *const *relations,
             const uint8_t *const *ids)
{
    for (size_t i = 0; i < header->n_references; i++)
        certbus__reference__free_unpacked (header->references [i], NULL);
    free (header->references);
    header->references = count ? calloc (count, sizeof (Certbus__Reference *)) : NULL;
    header->n_references = count;
    for (size_t i = 0; i < count; i++) {
        Certbus__Reference *ref = malloc (sizeof *ref);
        assert_non_null (ref);
        certbus__reference__init (ref);
        ref->relation = strdup (relations [i]);
        ref->message_id.data = tu_dup (ids [i], CERTBUS_ID_SIZE);
        ref->message_id.len = CERTBUS_ID_SIZE;
        header->references [i] = ref;
    }
}

uint8_t *
tu_envelope_resign (const uint8_t *bytes, size_t size, const uint8_t *sign_secret,
                    tu_mutate_fn *mutate, void *arg, bool fix_hashes, size_t *size_p)
{
    Certbus__Envelope *env = certbus__envelope__unpack (NULL, size, bytes);
    assert_non_null (env);
    Certbus__EnvelopeHeader *hdr = certbus__envelope_header__unpack (NULL, env->header.len,
                                                                     env->header.data);
    assert_non_null (hdr);
    if (mutate)
        mutate (hdr, env, arg);
    if (fix_hashes) {
        crypto_generichash_state state;
        crypto_generichash_init (&state, NULL, 0, CERTBUS_HASH_SIZE);
        for (size_t i = 0; i < env->n_recipients; i++) {
            crypto_generichash_update (&state, (const uint8_t *) env->recipients [i]->org_id,
                                       strlen (env->recipients [i]->org_id));
            crypto_generichash_update (&state, (const uint8_t *) "\n", 1);
        }
        assert_int_equal (hdr->recipients_hash.len, CERTBUS_HASH_SIZE);
        crypto_generichash_final (&state, hdr->recipients_hash.data, CERTBUS_HASH_SIZE);
        hdr->recipient_count = (uint32_t) env->n_recipients;
        assert_int_equal (hdr->ciphertext_hash.len, CERTBUS_HASH_SIZE);
        crypto_hash_sha256 (hdr->ciphertext_hash.data, env->ciphertext.data, env->ciphertext.len);
    }
    size_t header_size;
    uint8_t *header = certbus_codec_encode (hdr, &header_size);
    uint8_t sig [CERTBUS_SIG_SIZE];
    certbus_sign (sig, s_DOMAIN_ENVELOPE, header, header_size, sign_secret);
    ProtobufCBinaryData old_header = env->header, old_sig = env->signature;
    env->header.data = header;
    env->header.len = header_size;
    env->signature.data = sig;
    env->signature.len = sizeof sig;
    uint8_t *out = certbus_codec_encode (env, size_p);
    env->header = old_header;
    env->signature = old_sig;
    free (header);
    certbus__envelope_header__free_unpacked (hdr, NULL);
    certbus__envelope__free_unpacked (env, NULL);
    return out;
}

uint8_t *
tu_forward_payload (const uint8_t *bytes, size_t size, certbus_identity_t *identity,
                    const char *org, size_t *size_p)
{
    certbus_envelope_t *env = NULL;
    assert_int_equal (certbus_envelope_decode (bytes, size, &env), CERTBUS_OK);
    uint8_t key [32];
    bool encrypted = certbus_envelope_header (env)->encrypted;
    if (encrypted)
        assert_int_equal (certbus_envelope_content_key (env, identity, org, key), CERTBUS_OK);
    Certbus__Forward forward = CERTBUS__FORWARD__INIT;
    forward.version = CERTBUS_WIRE_MAJOR;
    forward.header.data = (uint8_t *) certbus_envelope_header_bytes (env, &forward.header.len);
    forward.signature.data = (uint8_t *) certbus_envelope_signature (env, &forward.signature.len);
    forward.ciphertext.data = (uint8_t *) certbus_envelope_ciphertext (env,
                                                                       &forward.ciphertext.len);
    if (encrypted) {
        forward.content_key.data = key;
        forward.content_key.len = sizeof key;
    }
    forward.note_type = "";
    uint8_t *payload = certbus_codec_encode (&forward, size_p);
    sodium_memzero (key, sizeof key);
    certbus_envelope_destroy (&env);
    return payload;
}
