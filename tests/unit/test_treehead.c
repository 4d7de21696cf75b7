/*  test_treehead.c - unit tests of certbus_tree_head: signing a tree head
    of the audit log, verifying it, and refusing one that was changed
    SPDX-License-Identifier: MPL-2.0

    A signed tree head is a TreeHead message: the TreeHeadBody bytes and the
    broker's Ed25519 signature over them under the domain
    "certbus-tree-head-v1". Verify must refuse any flipped byte, another
    broker's key, and bytes after the message.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define s_DOMAIN "certbus-tree-head-v1"

typedef struct {
    certbus_identity_t *broker; //  the signing broker
    certbus_identity_t *other;  //  another broker
    certbus_tree_head_t head;   //  what is signed
    uint8_t *bytes;             //  the signed tree head
    size_t size;
} s_fixture_t;

static int
s_setup (void **state)
{
    s_fixture_t *self = tu_fixture_new (state, sizeof *self);
    self->broker = certbus_identity_new ();
    self->other = certbus_identity_new ();
    assert_non_null (self->broker);
    assert_non_null (self->other);
    self->head.size = 1234567;
    self->head.timestamp = 1764547200123; //  2025-12-01, in milliseconds
    tu_fill (self->head.root, sizeof self->head.root, 42);
    self->bytes = certbus_tree_head_sign (self->broker, &self->head, &self->size);
    assert_non_null (self->bytes);
    return 0;
}

static int
s_teardown (void **state)
{
    s_fixture_t *self = *state;
    free (self->bytes);
    certbus_identity_destroy (&self->other);
    certbus_identity_destroy (&self->broker);
    free (self);
    return 0;
}

//  What is signed comes back from verify
static void
test_sign_then_verify (void **state)
{
    s_fixture_t *self = *state;
    certbus_tree_head_t head;
    memset (&head, 0xA5, sizeof head);
    tu_assert_err (certbus_tree_head_verify (self->bytes, self->size,
                                             certbus_identity_sign_public (self->broker), &head),
                   CERTBUS_OK);
    assert_int_equal (head.size, self->head.size);
    assert_int_equal (head.timestamp, self->head.timestamp);
    assert_memory_equal (head.root, self->head.root, sizeof head.root);

    //  The empty log has a tree head too
    certbus_tree_head_t empty = {0};
    size_t size;
    uint8_t *bytes = certbus_tree_head_sign (self->broker, &empty, &size);
    assert_non_null (bytes);
    tu_assert_err (certbus_tree_head_verify (bytes, size,
                                             certbus_identity_sign_public (self->broker), &head),
                   CERTBUS_OK);
    assert_int_equal (head.size, 0);
    assert_int_equal (head.timestamp, 0);
    free (bytes);
}

//  The signature input: the exact TreeHeadBody bytes under the tree head
//  domain, and nothing else
static void
test_signature_input (void **state)
{
    s_fixture_t *self = *state;
    Certbus__TreeHead *signed_head = NULL;
    tu_assert_err (certbus_codec_decode (&certbus__tree_head__descriptor, self->bytes, self->size,
                                         4096, 4, (void **) &signed_head),
                   CERTBUS_OK);
    assert_int_equal (signed_head->version, CERTBUS_WIRE_MAJOR);
    assert_int_equal (signed_head->signature.len, CERTBUS_SIG_SIZE);
    const uint8_t *key = certbus_identity_sign_public (self->broker);
    assert_true (certbus_verify (signed_head->signature.data, signed_head->signature.len, s_DOMAIN,
                                 signed_head->body.data, signed_head->body.len, key,
                                 CERTBUS_KEY_SIZE));
    //  another domain is another signature input
    assert_false (certbus_verify (signed_head->signature.data, signed_head->signature.len,
                                  "certbus-directory-v1", signed_head->body.data,
                                  signed_head->body.len, key, CERTBUS_KEY_SIZE));
    Certbus__TreeHeadBody *body = NULL;
    tu_assert_err (certbus_codec_decode (&certbus__tree_head_body__descriptor,
                                         signed_head->body.data, signed_head->body.len, 4096, 4,
                                         (void **) &body),
                   CERTBUS_OK);
    assert_int_equal (body->version, CERTBUS_WIRE_MAJOR);
    assert_int_equal (body->tree_size, self->head.size);
    assert_int_equal (body->timestamp, self->head.timestamp);
    assert_int_equal (body->root_hash.len, 32);
    assert_memory_equal (body->root_hash.data, self->head.root, 32);
    certbus_codec_free (body);
    certbus_codec_free (signed_head);
}

//  Any one flipped byte, anywhere in the message, is refused
static void
test_flipped_byte_refused (void **state)
{
    s_fixture_t *self = *state;
    const uint8_t *key = certbus_identity_sign_public (self->broker);
    uint8_t *copy = tu_dup (self->bytes, self->size);
    for (size_t i = 0; i < self->size; i++) {
        for (int bit = 0; bit < 8; bit++) {
            copy [i] ^= (uint8_t) (1u << bit);
            certbus_tree_head_t head;
            if (certbus_tree_head_verify (copy, self->size, key, &head) == CERTBUS_OK)
                fail_msg ("bit %d of byte %zu of %zu flipped, and the tree head verifies", bit, i,
                          self->size);
            copy [i] ^= (uint8_t) (1u << bit);
        }
    }
    free (copy);
}

//  Another broker's key does not verify it
static void
test_wrong_key_refused (void **state)
{
    s_fixture_t *self = *state;
    certbus_tree_head_t head;
    tu_assert_err (certbus_tree_head_verify (self->bytes, self->size,
                                             certbus_identity_sign_public (self->other), &head),
                   CERTBUS_E_SIGNATURE);
    //  nor the broker's X25519 key in place of its signing key
    tu_assert_err (certbus_tree_head_verify (self->bytes, self->size,
                                             certbus_identity_box_public (self->broker), &head),
                   CERTBUS_E_SIGNATURE);
}

//  Bytes after the message, or a message cut short, are refused
static void
test_trailing_and_truncated_refused (void **state)
{
    s_fixture_t *self = *state;
    const uint8_t *key = certbus_identity_sign_public (self->broker);
    certbus_tree_head_t head;
    uint8_t *longer = malloc (self->size + 8);
    assert_non_null (longer);
    memcpy (longer, self->bytes, self->size);
    static const uint8_t tails [][2] = {{0x00, 0x00}, {0xFF, 0xFF}, {0x08, 0x01}, {0x12, 0x00}};
    for (size_t t = 0; t < sizeof tails / sizeof tails [0]; t++) {
        memcpy (longer + self->size, tails [t], 2);
        if (certbus_tree_head_verify (longer, self->size + 2, key, &head) == CERTBUS_OK)
            fail_msg ("trailing bytes %02x %02x accepted", tails [t][0], tails [t][1]);
    }
    free (longer);
    for (size_t cut = 0; cut < self->size; cut++)
        if (certbus_tree_head_verify (self->bytes, cut, key, &head) == CERTBUS_OK)
            fail_msg ("the first %zu of %zu bytes verify", cut, self->size);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_sign_then_verify),
        cmocka_unit_test (test_signature_input),
        cmocka_unit_test (test_flipped_byte_refused),
        cmocka_unit_test (test_wrong_key_refused),
        cmocka_unit_test (test_trailing_and_truncated_refused),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
