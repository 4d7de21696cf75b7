/*  testutil.h - shared helpers for the cmocka unit tests: temp folders, the
    shared corpus, and an in-memory Council with members and a signed directory
    SPDX-License-Identifier: MPL-2.0

    Helpers fail the running test (cmocka asserts) when the library refuses
    something they expect to work, so a test body can stay about what it
    checks. Include <cmocka.h> (and its prerequisites) before this header.
*/
#ifndef CERTBUS_TESTUTIL_H_INCLUDED
#define CERTBUS_TESTUTIL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "certbus.h"

//  Asserts that expr returns the certbus_err_t want; on a mismatch prints
//  both codes by name and the library's reason, then fails the test.
#define tu_assert_err(expr, want) tu_assert_err_at ((expr), (want), #expr, __FILE__, __LINE__)
void
    tu_assert_err_at (certbus_err_t got, certbus_err_t want, const char *expr, const char *file,
                      int line);

//  ---------------------------------------------------------------------------
//  cmocka fixtures and test entries

//  A new zeroed fixture of size bytes for a cmocka setup function: stores it
//  in *state, where the test and its teardown (which frees it) find it.
void *
    tu_fixture_new (void **state, size_t size);

//  A cmocka setup and teardown for a test that works in a temp folder of its
//  own: *state is the folder's path (char *), removed with all in it after.
int
    tu_tmpdir_setup (void **state);
int
    tu_tmpdir_teardown (void **state);
#define tu_unit_test_in_tmpdir(test) \
    cmocka_unit_test_setup_teardown (test, tu_tmpdir_setup, tu_tmpdir_teardown)

//  A cmocka teardown for a test whose state is a tu_council_t (see below):
//  destroys it.
int
    tu_council_teardown (void **state);

//  A cmocka test entry called name that runs test_fn with the given initial
//  state, so that one test function can serve several named cases.
#define tu_unit_test_case(name, test_fn, state) \
    {                                           \
        (name), (test_fn), NULL, NULL, (state)  \
    }

//  ---------------------------------------------------------------------------
//  Files and folders

//  Makes a new private temp folder; returns its path (caller frees with
//  tu_tmpdir_remove, which deletes the folder and everything in it).
char *
    tu_tmpdir_new (void);
void
    tu_tmpdir_remove (char **path_p);

//  Returns a new string "dir/name".
char *
    tu_path (const char *dir, const char *name);

//  Reads a whole file into a new buffer; fails the test when it cannot.
uint8_t *
    tu_read_file (const char *path, size_t *size_p);

//  Reads the directory file at path and decodes it against council_key as
//  every node does; fails the test when it cannot. Free with
//  certbus_directory_destroy.
certbus_directory_t *
    tu_directory_read (const char *path, const uint8_t council_key [CERTBUS_KEY_SIZE]);

//  The shared folder: $CERTBUS_SHARED when set, else "../shared" (relative
//  to the repository root, where `make check` runs). Returns a borrowed
//  path, or NULL when the folder is absent.
const char *
    tu_shared_dir (void);

//  The regular files of shared corpus folder sub ("csaf", "stix"), sorted,
//  as new full paths; NULL when the folder is absent. Free with
//  certbus_strv_free (list, count).
char **
    tu_corpus_list (const char *sub, size_t *count_p);

//  ---------------------------------------------------------------------------
//  Bytes

//  Deterministic pseudo-random bytes (xorshift) from seed.
void
    tu_fill (uint8_t *buf, size_t size, uint32_t seed);

//  Offset of needle in haystack, or -1 when absent.
long
    tu_find (const uint8_t *haystack, size_t size, const void *needle, size_t needle_size);

//  A new copy of size bytes.
uint8_t *
    tu_dup (const uint8_t *data, size_t size);

//  ---------------------------------------------------------------------------
//  Envelopes as a member's own client can make them

//  Edits an unpacked envelope header (and the envelope beside it) before
//  tu_envelope_resign signs it again. Strings it sets go through
//  tu_set_str: protobuf-c frees them with the rest.
typedef void (tu_mutate_fn) (Certbus__EnvelopeHeader *header, Certbus__Envelope *envelope,
                             void *arg);

//  Rewrites envelope bytes as the holder of sign_secret could: mutate
//  edits the header and the envelope; with fix_hashes the recipient and
//  ciphertext hashes (and the count) are made to match what travels; the
//  header is encoded and signed anew under the envelope domain. Returns
//  new bytes (caller frees).
uint8_t *
    tu_envelope_resign (const uint8_t *bytes, size_t size, const uint8_t *sign_secret,
                        tu_mutate_fn *mutate, void *arg, bool fix_hashes, size_t *size_p);

//  The Forward payload a holder of envelope bytes (identity, as org) makes
//  by hand, as a hostile forwarder would (certbus_forward_wrap refuses what
//  the tests try): its signed header, signature, ciphertext and the content
//  key identity unwraps (none when it is not encrypted). Caller frees.
uint8_t *
    tu_forward_payload (const uint8_t *bytes, size_t size, certbus_identity_t *identity,
                        const char *org, size_t *size_p);

//  Replaces a string protobuf-c unpacked.
void
    tu_set_str (char **slot, const char *value);

//  Replaces a header's references with count (relation, id) pairs.
void
    tu_set_refs (Certbus__EnvelopeHeader *header, size_t count, const char *const *relations,
                 const uint8_t *const *ids);

//  Monotonic clock in milliseconds, for printed measurements only.
double
    tu_clock_ms (void);

//  ---------------------------------------------------------------------------
//  An in-memory Council

typedef struct {
    char *org_id;
    certbus_identity_t *identity; //  the member's keys
    bool owns_identity;           //  false when borrowed from another member
    uint64_t serial;              //  certificate serial
    uint8_t *cert_bytes;          //  serialised Certificate
    size_t cert_size;
    certbus_cert_t *cert; //  decoded against the Council key
} tu_member_t;

typedef struct {
    certbus_identity_t *council; //  the Council root key
    tu_member_t **members;       //  in enrolment order
    size_t count;
    size_t cap;
    uint8_t **revs; //  serialised Revocations
    size_t *rev_sizes;
    size_t rev_count;
    uint64_t next_serial; //  next certificate serial
    uint64_t dir_serial;  //  version of the last published directory
    uint8_t *dir_bytes;   //  the last published directory
    size_t dir_size;
    certbus_directory_t *dir; //  decoded dir_bytes
} tu_council_t;

//  A new Council with no members and no directory.
tu_council_t *
    tu_council_new (void);
void
    tu_council_destroy (tu_council_t **self_p);

//  Enrols org_id with fresh keys through a request and a certificate valid
//  from not_before to not_after (unix seconds). Returns the member.
tu_member_t *
    tu_council_enrol (tu_council_t *self, const char *org_id, certbus_tier_t tier,
                      const char *sector, const char *region, int64_t not_before,
                      int64_t not_after);

//  As tu_council_enrol, but with an existing identity (borrowed, not freed).
tu_member_t *
    tu_council_enrol_identity (tu_council_t *self, certbus_identity_t *identity, const char *org_id,
                               certbus_tier_t tier, const char *sector, const char *region,
                               int64_t not_before, int64_t not_after);

//  Enrols a national-tier member valid from an hour ago for a day.
tu_member_t *
    tu_council_enrol_simple (tu_council_t *self, const char *org_id);

//  Revokes the certificate of org_id.
void
    tu_council_revoke (tu_council_t *self, const char *org_id, const char *reason);

//  Signs the next directory version with every member and revocation, and
//  decodes it into self->dir (replacing the last one). Returns self->dir.
certbus_directory_t *
    tu_council_publish (tu_council_t *self);

//  The member named org_id; fails the test when absent.
tu_member_t *
    tu_council_member (tu_council_t *self, const char *org_id);

//  ---------------------------------------------------------------------------
//  The shared Merkle corpus: transparency-dev/merkle's RFC 6962 proof
//  vectors, one JSON object a file, under $CERTBUS_SHARED/corpus/merkle

//  The RFC 6962 reference tree of eight leaves (as hex), and the root of
//  each of its prefixes: tu_rfc6962_roots [n] is the root of the first n
//  leaves (n = 0, the empty tree, to 8)
extern const char *const tu_rfc6962_leaves [8];
extern const char *const tu_rfc6962_roots [9];

#define TU_VEC_MAX_BYTES 64 //  longest hash field we accept
#define TU_VEC_MAX_PROOF 80 //  most proof entries we accept
#define TU_VEC_MAX_FILE 65536

typedef struct {
    uint8_t data [TU_VEC_MAX_BYTES];
    size_t len;
} tu_blob_t;

typedef struct {
    uint64_t leaf_index, tree_size, size1, size2;
    tu_blob_t root, leaf_hash, root1, root2;
    tu_blob_t proof [TU_VEC_MAX_PROOF];
    size_t proof_count;
    bool want_err;
    bool has_want_err;
    char desc [256];
} tu_merkle_vector_t;

typedef struct {
    char **paths;
    size_t count;
    size_t cap;
} tu_path_list_t;

//  Reads one vector file's text. Returns false when it does not parse (or
//  holds a field this reader does not know).
bool
    tu_merkle_vector_parse (const char *text, size_t size, tu_merkle_vector_t *vec);

//  Fills out with the folder of the corpus's KIND vectors ("inclusion",
//  "consistency"): $CERTBUS_SHARED/corpus/merkle/KIND, else
//  ../shared/corpus/merkle/KIND. Returns false when there is no such folder.
bool
    tu_merkle_corpus_dir (char *out, size_t size, const char *kind);

//  Collects the paths of the *.json files below dir, sorted.
void
    tu_json_files (tu_path_list_t *list, const char *dir);

void
    tu_path_list_free (tu_path_list_t *list);

//  Checks one vector: sets *rc_p to what the code under test says of it
//  (an inclusion proof when inclusion, else a consistency one), or returns false
//  when the vector is one the code cannot be asked about (counted unfit).
typedef bool (tu_merkle_check_fn) (const tu_merkle_vector_t *vec, bool inclusion,
                                   certbus_err_t *rc_p, void *arg);

//  What a corpus run saw
typedef struct {
    char dir [512];  //  the corpus folder read
    size_t files;    //  vector files in it
    size_t unfit;    //  vectors check passed over
    size_t accepted; //  vectors check said CERTBUS_OK of
    size_t rejected; //  vectors check refused
    size_t wrong;    //  files that do not parse, or disagree with wantErr
} tu_merkle_tally_t;

//  Runs every vector file of the corpus's KIND folder ("inclusion" or
//  "consistency", found by tu_merkle_corpus_dir) through check, printing a
//  FAIL line for each file that does not parse or whose verdict disagrees
//  with its wantErr, and counts them in tally. Skips the running test when
//  the corpus is not present.
void
    tu_merkle_corpus_run (const char *kind, tu_merkle_check_fn *check, void *arg,
                          tu_merkle_tally_t *tally);

#endif
