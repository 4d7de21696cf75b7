/*  test_council.c - unit tests of the Council's offline commands
    (broker/council.c): a private broker folder, and one key for one member
    SPDX-License-Identifier: MPL-2.0
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include "council.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  A broker folder made by council_init, in a temp folder
typedef struct {
    char *tmp; //  the temp folder, removed at teardown
    char *dir; //  tmp/broker
    uint8_t council_key [CERTBUS_KEY_SIZE];
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *self = tu_fixture_new (state, sizeof *self);
    self->tmp = tu_tmpdir_new ();
    self->dir = tu_path (self->tmp, "broker");
    if (council_init (self->dir, "sqlite:"))
        fail_msg ("council_init: %s", certbus_reason ());
    char *pub = tu_path (self->dir, COUNCIL_PUB);
    assert_int_equal (certbus_pubfile_read (pub, self->council_key, NULL), 0);
    free (pub);
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *self = *state;
    free (self->dir);
    tu_tmpdir_remove (&self->tmp);
    free (self);
    return 0;
}

static mode_t
s_mode (const char *path)
{
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    return st.st_mode & 07777;
}

//  Writes identity's request for org_id to tmp/NAME.request; returns the path
static char *
s_request_file (fixture_t *self, certbus_identity_t *identity, const char *org_id)
{
    uint8_t *bytes;
    size_t size;
    if (certbus_request_make (identity, org_id, NULL, &bytes, &size))
        fail_msg ("request for %s: %s", org_id, certbus_reason ());
    char name [64];
    snprintf (name, sizeof name, "%s.request", org_id);
    char *path = tu_path (self->tmp, name);
    assert_int_equal (certbus_file_write (path, bytes, size, 0644), 0);
    free (bytes);
    return path;
}

//  Issues a certificate to org_id with identity's keys. Returns 0, or -1
//  with the reason set; on -1, no certificate file is left.
static int
s_issue (fixture_t *self, certbus_identity_t *identity, const char *org_id)
{
    char *request = s_request_file (self, identity, org_id);
    char name [64];
    snprintf (name, sizeof name, "%s.cert", org_id);
    char *cert = tu_path (self->tmp, name);
    unlink (cert);
    int rc = council_issue (self->dir, "national", NULL, NULL, 30, request, cert);
    if (rc != 0)
        assert_int_equal (access (cert, F_OK), -1);
    free (request);
    free (cert);
    return rc;
}

//  An identity of the given sign, box and CURVE secrets (64, 32 and 32
//  bytes), through a secret file in the layout identity.c reads
static certbus_identity_t *
s_identity_of (fixture_t *self, const uint8_t *sign, const uint8_t *box, const uint8_t *curve)
{
    uint8_t file [8 + 64 + 32 + 32];
    memcpy (file, "CBIDv1\n", 8);
    memcpy (file + 8, sign, 64);
    memcpy (file + 72, box, 32);
    memcpy (file + 104, curve, 32);
    char *path = tu_path (self->tmp, "mixed.secret");
    assert_int_equal (certbus_file_write (path, file, sizeof file, 0600), 0);
    sodium_memzero (file, sizeof file);
    certbus_identity_t *mixed = certbus_identity_load (path);
    if (!mixed)
        fail_msg ("load mixed identity: %s", certbus_reason ());
    unlink (path);
    free (path);
    return mixed;
}

//  The newest directory of the folder, decoded as every node decodes it
static certbus_directory_t *
s_directory (fixture_t *self)
{
    char *path = tu_path (self->tmp, "directory");
    assert_int_equal (council_directory (self->dir, path), 0);
    certbus_directory_t *dir = tu_directory_read (path, self->council_key);
    free (path);
    return dir;
}

static void
s_assert_reason (const char *want)
{
    if (!strstr (certbus_reason (), want))
        fail_msg ("reason '%s' does not say '%s'", certbus_reason (), want);
}

//  ---------------------------------------------------------------------------
//  init: the folder that holds council.secret is the owner's alone

static void
test_init_makes_private_folder (void **state)
{
    const char *tmp = *state;
    //  A new folder, under a permissive umask
    mode_t old_umask = umask (0);
    char *fresh = tu_path (tmp, "fresh");
    int rc = council_init (fresh, "sqlite:");
    umask (old_umask);
    if (rc)
        fail_msg ("council_init: %s", certbus_reason ());
    assert_int_equal (s_mode (fresh), 0700);
    //  An existing, world-readable (and writable) folder is tightened, and
    //  the neighbour: group access only (0750) is taken away too
    static const struct {
        const char *name;
        mode_t mode;
    } existing [2] = {{"open", 0777}, {"group", 0750}};
    for (size_t i = 0; i < 2; i++) {
        char *dir = tu_path (tmp, existing [i].name);
        assert_int_equal (mkdir (dir, 0700), 0);
        assert_int_equal (chmod (dir, existing [i].mode), 0);
        if (council_init (dir, "sqlite:"))
            fail_msg ("council_init: %s", certbus_reason ());
        assert_int_equal (s_mode (dir), 0700);
        free (dir);
    }
    char *secret = tu_path (tmp, "group/" COUNCIL_SECRET);
    assert_int_equal (s_mode (secret), 0600);
    free (secret);
    free (fresh);
}

//  ---------------------------------------------------------------------------
//  issue: one key, one member

//  A member that holds another member's keys (the same identity under a
//  second org id) is refused, with the key and the holder named
static void
test_issue_refuses_keys_of_another_org (void **state)
{
    fixture_t *self = *state;
    certbus_identity_t *alpha = certbus_identity_new ();
    assert_int_equal (s_issue (self, alpha, "alpha"), 0);
    certbus_reason_clear ();
    assert_int_equal (s_issue (self, alpha, "mallory"), -1);
    s_assert_reason ("the sign (Ed25519) key of the request for 'mallory'");
    s_assert_reason ("held by org 'alpha' as its sign key");
    s_assert_reason ("certbus-node init");
    //  Re-issue to the same org keeps today's answer: revoke first
    certbus_reason_clear ();
    assert_int_equal (s_issue (self, alpha, "alpha"), -1);
    s_assert_reason ("already holds certificate");
    certbus_identity_destroy (&alpha);
}

//  Each of the box and CURVE keys alone, and a key in another role (an
//  X25519 secret used as a CURVE key by one member and a box key by the
//  other), is refused; the directory never lists a key twice
static void
test_issue_refuses_one_shared_key (void **state)
{
    fixture_t *self = *state;
    certbus_identity_t *alpha = certbus_identity_new ();
    certbus_identity_t *own = certbus_identity_new ();
    assert_int_equal (s_issue (self, alpha, "alpha"), 0);
    const uint8_t *own_sign = certbus_identity_sign_secret (own);
    const uint8_t *own_box = certbus_identity_box_secret (own);
    const uint8_t *own_curve = certbus_identity_curve_secret (own);
    const uint8_t *alpha_box = certbus_identity_box_secret (alpha);
    const uint8_t *alpha_curve = certbus_identity_curve_secret (alpha);
    struct {
        const uint8_t *sign, *box, *curve;
        const char *want;
    } cases [] = {
        {own_sign, alpha_box, own_curve, "the box (X25519) key of the request for 'mallory'"},
        {own_sign, own_box, alpha_curve, "the CURVE key of the request for 'mallory'"},
        //  alpha's box secret as mallory's CURVE secret: one public key in
        //  another role
        {own_sign, own_box, alpha_box, "held by org 'alpha' as its box key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        certbus_identity_t *mixed = s_identity_of (self, cases [i].sign, cases [i].box,
                                                   cases [i].curve);
        certbus_reason_clear ();
        assert_int_equal (s_issue (self, mixed, "mallory"), -1);
        s_assert_reason (cases [i].want);
        s_assert_reason ("held by org 'alpha'");
        certbus_identity_destroy (&mixed);
    }

    //  With keys of its own, mallory is enrolled; the directory lists both
    //  and decodes (no key twice)
    assert_int_equal (s_issue (self, own, "mallory"), 0);
    certbus_directory_t *dir = s_directory (self);
    assert_int_equal (certbus_directory_count (dir), 2);
    assert_non_null (certbus_directory_find (dir, "alpha"));
    assert_non_null (certbus_directory_find (dir, "mallory"));
    certbus_directory_destroy (&dir);
    certbus_identity_destroy (&alpha);
    certbus_identity_destroy (&own);
}

//  A request that does not prove possession of its keys is refused by
//  issue with the plain reason
static void
test_issue_refuses_request_without_proofs (void **state)
{
    fixture_t *self = *state;
    certbus_identity_t *member = certbus_identity_new ();
    char *path = s_request_file (self, member, "oldnode");
    size_t size;
    uint8_t *bytes = tu_read_file (path, &size);
    Certbus__Request *request = NULL;
    tu_assert_err (certbus_codec_decode (&certbus__request__descriptor, bytes, size, 64 * 1024, 16,
                                         (void **) &request),
                   CERTBUS_OK);
    //  As an older certbus-node init wrote it: body and signature only
    Certbus__Request old = *request;
    old.box_proof_key.len = old.box_proof_sig.len = 0;
    old.curve_proof_key.len = old.curve_proof_sig.len = 0;
    size_t old_size;
    uint8_t *old_bytes = certbus_codec_encode (&old, &old_size);
    assert_int_equal (certbus_file_write (path, old_bytes, old_size, 0644), 0);
    char *cert = tu_path (self->tmp, "oldnode.cert");
    certbus_reason_clear ();
    assert_int_equal (council_issue (self->dir, "national", NULL, NULL, 30, path, cert), -1);
    s_assert_reason ("does not prove possession of its box key: make a new request with "
                     "certbus-node init of this version");
    assert_int_equal (access (cert, F_OK), -1);
    //  Only the CURVE proof missing
    old.box_proof_key = request->box_proof_key;
    old.box_proof_sig = request->box_proof_sig;
    free (old_bytes);
    old_bytes = certbus_codec_encode (&old, &old_size);
    assert_int_equal (certbus_file_write (path, old_bytes, old_size, 0644), 0);
    assert_int_equal (council_issue (self->dir, "national", NULL, NULL, 30, path, cert), -1);
    s_assert_reason ("does not prove possession of its CURVE key");
    //  The request as made is issued
    assert_int_equal (certbus_file_write (path, bytes, size, 0644), 0);
    if (council_issue (self->dir, "national", NULL, NULL, 30, path, cert))
        fail_msg ("issue: %s", certbus_reason ());
    free (old_bytes);
    free (cert);
    certbus_codec_free (request);
    free (bytes);
    free (path);
    certbus_identity_destroy (&member);
}

int
main (void)
{
    certbus_init ();
    const struct CMUnitTest tests [] = {
        tu_unit_test_in_tmpdir (test_init_makes_private_folder),
        cmocka_unit_test_setup_teardown (test_issue_refuses_keys_of_another_org, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_issue_refuses_one_shared_key, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_issue_refuses_request_without_proofs, s_setup,
                                         s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
