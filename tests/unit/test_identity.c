/*  test_identity.c - unit tests of certbus_identity: keys, secret files
    (mode 0600, refused when readable by others) and public key files
    SPDX-License-Identifier: MPL-2.0
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include <sodium.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const uint8_t s_zero [CERTBUS_KEY_SIZE];

static mode_t
s_mode (const char *path)
{
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    return st.st_mode & 07777;
}

//  Number of entries in folder path, besides . and ..
static size_t
s_entries (const char *path)
{
    DIR *dir = opendir (path);
    assert_non_null (dir);
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)))
        if (strcmp (entry->d_name, ".") != 0 && strcmp (entry->d_name, "..") != 0)
            count++;
    closedir (dir);
    return count;
}

static void
test_new_makes_distinct_usable_keys (void **state)
{
    (void) state;
    certbus_identity_t *a = certbus_identity_new ();
    certbus_identity_t *b = certbus_identity_new ();
    assert_non_null (a);
    assert_non_null (b);

    //  Each public key is set, the three differ, and two identities differ
    assert_memory_not_equal (certbus_identity_sign_public (a), s_zero, CERTBUS_KEY_SIZE);
    assert_memory_not_equal (certbus_identity_box_public (a), s_zero, CERTBUS_KEY_SIZE);
    assert_memory_not_equal (certbus_identity_curve_public (a), s_zero, CERTBUS_KEY_SIZE);
    assert_memory_not_equal (certbus_identity_box_public (a), certbus_identity_curve_public (a),
                             CERTBUS_KEY_SIZE);
    assert_memory_not_equal (certbus_identity_sign_public (a), certbus_identity_sign_public (b),
                             CERTBUS_KEY_SIZE);
    assert_memory_not_equal (certbus_identity_box_public (a), certbus_identity_box_public (b),
                             CERTBUS_KEY_SIZE);

    //  Public halves match the secrets
    uint8_t pk [CERTBUS_KEY_SIZE];
    crypto_scalarmult_base (pk, certbus_identity_box_secret (a));
    assert_memory_equal (pk, certbus_identity_box_public (a), CERTBUS_KEY_SIZE);
    crypto_scalarmult_base (pk, certbus_identity_curve_secret (a));
    assert_memory_equal (pk, certbus_identity_curve_public (a), CERTBUS_KEY_SIZE);
    crypto_sign_ed25519_sk_to_pk (pk, certbus_identity_sign_secret (a));
    assert_memory_equal (pk, certbus_identity_sign_public (a), CERTBUS_KEY_SIZE);

    //  The fingerprint is 16 hex digits of the signing key
    char fp [17];
    certbus_fingerprint (certbus_identity_sign_public (a), CERTBUS_KEY_SIZE, fp);
    assert_string_equal (certbus_identity_fingerprint (a), fp);
    assert_int_equal (strlen (fp), 16);
    assert_string_not_equal (certbus_identity_fingerprint (a), certbus_identity_fingerprint (b));

    certbus_identity_destroy (&a);
    certbus_identity_destroy (&b);
    assert_null (a);
    certbus_identity_destroy (&a); //  safe twice
}

static void
test_sign_and_verify_with_domain (void **state)
{
    (void) state;
    certbus_identity_t *id = certbus_identity_new ();
    certbus_identity_t *other = certbus_identity_new ();
    const uint8_t data [] = "advisory body";
    uint8_t sig [CERTBUS_SIG_SIZE];
    certbus_sign (sig, "certbus-test-v1", data, sizeof data, certbus_identity_sign_secret (id));
    const uint8_t *pk = certbus_identity_sign_public (id);
    assert_true (certbus_verify (sig, sizeof sig, "certbus-test-v1", data, sizeof data, pk,
                                 CERTBUS_KEY_SIZE));
    //  another domain, other data, a flipped bit, a wrong key, short lengths
    assert_false (certbus_verify (sig, sizeof sig, "certbus-other-v1", data, sizeof data, pk,
                                  CERTBUS_KEY_SIZE));
    assert_false (certbus_verify (sig, sizeof sig, "certbus-test-v1", data, sizeof data - 1, pk,
                                  CERTBUS_KEY_SIZE));
    sig [10] ^= 0x01;
    assert_false (certbus_verify (sig, sizeof sig, "certbus-test-v1", data, sizeof data, pk,
                                  CERTBUS_KEY_SIZE));
    sig [10] ^= 0x01;
    assert_false (certbus_verify (sig, sizeof sig, "certbus-test-v1", data, sizeof data,
                                  certbus_identity_sign_public (other), CERTBUS_KEY_SIZE));
    assert_false (certbus_verify (sig, sizeof sig - 1, "certbus-test-v1", data, sizeof data, pk,
                                  CERTBUS_KEY_SIZE));
    assert_false (certbus_verify (sig, sizeof sig, "certbus-test-v1", data, sizeof data, pk,
                                  CERTBUS_KEY_SIZE - 1));
    certbus_identity_destroy (&id);
    certbus_identity_destroy (&other);
}

static void
test_save_is_0600_and_loads_back (void **state)
{
    const char *dir = *state;
    char *path = tu_path (dir, "secret");
    certbus_identity_t *id = certbus_identity_new ();

    //  A permissive umask must not widen the mode
    mode_t old_umask = umask (0);
    int rc = certbus_identity_save (id, path);
    umask (old_umask);
    assert_int_equal (rc, 0);
    assert_int_equal (s_mode (path), 0600);

    certbus_identity_t *loaded = certbus_identity_load (path);
    assert_non_null (loaded);
    assert_memory_equal (certbus_identity_sign_public (loaded), certbus_identity_sign_public (id),
                         CERTBUS_KEY_SIZE);
    assert_memory_equal (certbus_identity_box_public (loaded), certbus_identity_box_public (id),
                         CERTBUS_KEY_SIZE);
    assert_memory_equal (certbus_identity_curve_public (loaded), certbus_identity_curve_public (id),
                         CERTBUS_KEY_SIZE);
    assert_int_equal (sodium_memcmp (certbus_identity_sign_secret (loaded),
                                     certbus_identity_sign_secret (id), CERTBUS_SIGN_SECRET_SIZE),
                      0);
    assert_int_equal (sodium_memcmp (certbus_identity_box_secret (loaded),
                                     certbus_identity_box_secret (id), CERTBUS_KEY_SIZE),
                      0);
    assert_string_equal (certbus_identity_fingerprint (loaded), certbus_identity_fingerprint (id));

    //  Saving over a world-readable file leaves a 0600 file
    certbus_identity_t *second = certbus_identity_new ();
    assert_int_equal (chmod (path, 0644), 0);
    assert_int_equal (certbus_identity_save (second, path), 0);
    assert_int_equal (s_mode (path), 0600);
    certbus_identity_t *reloaded = certbus_identity_load (path);
    assert_non_null (reloaded);
    assert_memory_equal (certbus_identity_sign_public (reloaded),
                         certbus_identity_sign_public (second), CERTBUS_KEY_SIZE);

    //  No temporary file is left beside it
    assert_int_equal (s_entries (dir), 1);

    certbus_identity_destroy (&id);
    certbus_identity_destroy (&second);
    certbus_identity_destroy (&loaded);
    certbus_identity_destroy (&reloaded);
    free (path);
}

static void
s_expect_refused_mode (const char *path, mode_t mode)
{
    assert_int_equal (chmod (path, mode), 0);
    certbus_reason_clear ();
    certbus_identity_t *id = certbus_identity_load (path);
    assert_null (id);
    const char *reason = certbus_reason ();
    if (!strstr (reason, path) || !strstr (reason, "chmod 600"))
        fail_msg ("reason for mode %04o does not name %s and the fix: '%s'", (unsigned) mode, path,
                  reason);
}

static void
test_readable_secret_is_refused (void **state)
{
    const char *dir = *state;
    char *path = tu_path (dir, "secret");
    certbus_identity_t *id = certbus_identity_new ();
    assert_int_equal (certbus_identity_save (id, path), 0);

    s_expect_refused_mode (path, 0644);
    s_expect_refused_mode (path, 0640);
    s_expect_refused_mode (path, 0604);
    s_expect_refused_mode (path, 0660);
    s_expect_refused_mode (path, 0601); //  others may execute: still refused

    //  Owner-only modes load
    assert_int_equal (chmod (path, 0400), 0);
    certbus_identity_t *loaded = certbus_identity_load (path);
    assert_non_null (loaded);
    certbus_identity_destroy (&loaded);
    assert_int_equal (chmod (path, 0600), 0);
    loaded = certbus_identity_load (path);
    assert_non_null (loaded);
    assert_memory_equal (certbus_identity_sign_public (loaded), certbus_identity_sign_public (id),
                         CERTBUS_KEY_SIZE);
    certbus_identity_destroy (&loaded);

    certbus_identity_destroy (&id);
    free (path);
}

static void
test_bad_secret_files_are_refused (void **state)
{
    const char *dir = *state;

    //  Missing
    char *missing = tu_path (dir, "missing");
    certbus_reason_clear ();
    assert_null (certbus_identity_load (missing));
    assert_non_null (strstr (certbus_reason (), missing));

    //  Wrong size
    char *small = tu_path (dir, "small");
    assert_int_equal (certbus_file_write (small, "CBIDv1\n", 8, 0600), 0);
    certbus_reason_clear ();
    assert_null (certbus_identity_load (small));
    assert_non_null (strstr (certbus_reason (), small));

    //  Right size, wrong magic
    char *good = tu_path (dir, "good");
    certbus_identity_t *id = certbus_identity_new ();
    assert_int_equal (certbus_identity_save (id, good), 0);
    size_t size;
    uint8_t *bytes = tu_read_file (good, &size);
    bytes [0] ^= 0x20;
    char *bad_magic = tu_path (dir, "bad-magic");
    assert_int_equal (certbus_file_write (bad_magic, bytes, size, 0600), 0);
    sodium_memzero (bytes, size);
    free (bytes);
    certbus_reason_clear ();
    assert_null (certbus_identity_load (bad_magic));
    assert_non_null (strstr (certbus_reason (), "not a certbus secret key file"));

    //  A symbolic link is not followed
    char *link = tu_path (dir, "link");
    assert_int_equal (symlink (good, link), 0);
    assert_null (certbus_identity_load (link));

    //  A folder is not a key file
    assert_null (certbus_identity_load (dir));

    certbus_identity_destroy (&id);
    free (missing);
    free (small);
    free (good);
    free (bad_magic);
    free (link);
}

static void
test_pubfile_round_trip (void **state)
{
    const char *dir = *state;
    char *path = tu_path (dir, "council.pub");
    certbus_identity_t *id = certbus_identity_new ();
    assert_int_equal (certbus_pubfile_write (path, "council", certbus_identity_sign_public (id),
                                             certbus_identity_curve_public (id)),
                      0);
    //  Public key files are for everyone to read
    assert_int_equal (s_mode (path), 0644);

    uint8_t sign [CERTBUS_KEY_SIZE], curve [CERTBUS_KEY_SIZE];
    assert_int_equal (certbus_pubfile_read (path, sign, curve), 0);
    assert_memory_equal (sign, certbus_identity_sign_public (id), CERTBUS_KEY_SIZE);
    assert_memory_equal (curve, certbus_identity_curve_public (id), CERTBUS_KEY_SIZE);
    memset (sign, 0, sizeof sign);
    assert_int_equal (certbus_pubfile_read (path, sign, NULL), 0);
    assert_memory_equal (sign, certbus_identity_sign_public (id), CERTBUS_KEY_SIZE);
    memset (curve, 0, sizeof curve);
    assert_int_equal (certbus_pubfile_read (path, NULL, curve), 0);
    assert_memory_equal (curve, certbus_identity_curve_public (id), CERTBUS_KEY_SIZE);

    //  A file written without a curve key has none to read
    char *sign_only = tu_path (dir, "sign-only.pub");
    assert_int_equal (certbus_pubfile_write (sign_only, "broker", certbus_identity_sign_public (id),
                                             NULL),
                      0);
    assert_int_equal (certbus_pubfile_read (sign_only, sign, NULL), 0);
    assert_int_equal (certbus_pubfile_read (sign_only, sign, curve), -1);

    //  Missing and malformed files
    char *missing = tu_path (dir, "missing.pub");
    assert_int_equal (certbus_pubfile_read (missing, sign, curve), -1);
    char *bad = tu_path (dir, "bad.pub");
    const char *text = "council\n    sign = \"zz\"\n    curve = \"00\"\n";
    assert_int_equal (certbus_file_write (bad, text, strlen (text), 0644), 0);
    assert_int_equal (certbus_pubfile_read (bad, sign, curve), -1);
    assert_non_null (strstr (certbus_reason (), "sign"));

    certbus_identity_destroy (&id);
    free (path);
    free (sign_only);
    free (missing);
    free (bad);
}

//  Short-lived secrets: pieces of one guarded region per thread, wiped
//  when freed (in any order), the region reused once all are back; a
//  request larger than the region gets a guarded allocation of its own
static void
test_secret_pieces (void **state)
{
    (void) state;
    uint8_t *a = certbus_secret_alloc (32);
    uint8_t *b = certbus_secret_alloc (24);
    uint8_t *c = certbus_secret_alloc (32);
    assert_non_null (a);
    assert_true (b >= a + 32);
    assert_true (c >= b + 24);
    memset (a, 0xAA, 32);
    memset (b, 0xBB, 24);
    memset (c, 0xCC, 32);
    certbus_secret_free (a, 32);
    for (int i = 0; i < 32; i++)
        assert_int_equal (a [i], 0);
    assert_int_equal (b [0], 0xBB);
    certbus_secret_free (c, 32);
    certbus_secret_free (b, 24);
    for (int i = 0; i < 24; i++)
        assert_int_equal (b [i], 0);
    //  All back: the next piece is the region's first again
    uint8_t *again = certbus_secret_alloc (16);
    assert_ptr_equal (again, a);
    uint8_t *big = certbus_secret_alloc (10000);
    assert_non_null (big);
    memset (big, 0x11, 10000);
    certbus_secret_free (big, 10000);
    certbus_secret_free (again, 16);
}

int
main (void)
{
    certbus_init ();
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_new_makes_distinct_usable_keys),
        cmocka_unit_test (test_sign_and_verify_with_domain),
        tu_unit_test_in_tmpdir (test_save_is_0600_and_loads_back),
        tu_unit_test_in_tmpdir (test_readable_secret_is_refused),
        tu_unit_test_in_tmpdir (test_bad_secret_files_are_refused),
        tu_unit_test_in_tmpdir (test_pubfile_round_trip),
        cmocka_unit_test (test_secret_pieces),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
