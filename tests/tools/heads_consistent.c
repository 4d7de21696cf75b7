/*  heads_consistent.c - checks every pair of stored signed tree heads
    SPDX-License-Identifier: MPL-2.0

    Run by tests/integration/pair_failover.sh and pg_failover.sh after a
    run with failovers: heads_consistent URL BROKER_PUB, where URL is the
    broker's store (broker.conf's store url) and BROKER_PUB the broker's
    public key file. `audit verify` checks each head against the records
    and consecutive heads against each other; this checks what a member
    holding any two heads would: for every pair of stored heads (i < j) a
    consistency proof built from the stored tree nodes verifies from the
    older root to the newer one, no two heads of one size have different
    roots, and every head's signature verifies with the broker's key.
    Prints one summary line; exits 0 when all hold, 1 otherwise.
*/
#include "certbus.h"
#include "store.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    certbus_tree_head_t *heads;     //  every stored head, in size order
    size_t count;                   //  heads collected
    uint8_t key [CERTBUS_KEY_SIZE]; //  the broker's public key
    int failures;                   //  problems found (signatures)
} s_heads_t;

static int
s_collect (void *arg, const certbus_tree_head_t *head, const uint8_t *bytes, size_t size)
{
    s_heads_t *self = arg;
    certbus_tree_head_t signed_head;
    if (certbus_tree_head_verify (bytes, size, self->key, &signed_head)
        || signed_head.size != head->size || memcmp (signed_head.root, head->root, 32) != 0) {
        printf ("FAIL: tree head at size %llu: signature or fields do not verify\n",
                (unsigned long long) head->size);
        self->failures++;
    }
    self->heads = certbus_realloc (self->heads, self->count + 1, sizeof (certbus_tree_head_t));
    self->heads [self->count++] = *head;
    return 0;
}

//  Checks heads i < j; returns 0 when consistent, -1 (and prints why)
static int
s_check_pair (broker_store_t *store, const certbus_tree_head_t *older,
              const certbus_tree_head_t *newer)
{
    if (older->size == newer->size) {
        if (memcmp (older->root, newer->root, 32) == 0)
            return 0;
        printf ("FAIL: two signed heads of size %llu have different roots (a fork)\n",
                (unsigned long long) older->size);
        return -1;
    }
    if (older->size == 0)
        return 0; //  the empty tree is a prefix of every tree
    uint8_t proof [CERTBUS_MERKLE_PROOF_MAX_BYTES];
    size_t len = 0;
    if (certbus_merkle_consistency_proof (proof, &len, older->size, newer->size,
                                          broker_store_node_get, store)
        || certbus_merkle_verify_consistency (older->size, newer->size, proof, len, older->root, 32,
                                              newer->root, 32)) {
        printf ("FAIL: heads of sizes %llu and %llu are not consistent: %s\n",
                (unsigned long long) older->size, (unsigned long long) newer->size,
                certbus_reason ());
        return -1;
    }
    return 0;
}

int
main (int argc, char *argv [])
{
    if (argc != 3) {
        fprintf (stderr, "usage: heads_consistent STORE_URL BROKER_PUB\n");
        return 2;
    }
    s_heads_t self;
    memset (&self, 0, sizeof self);
    if (certbus_pubfile_read (argv [2], self.key, NULL)) {
        fprintf (stderr, "heads_consistent: %s: %s\n", argv [2], certbus_reason ());
        return 1;
    }
    broker_store_t *store = broker_store_open (argv [1], false);
    if (!store) {
        fprintf (stderr, "heads_consistent: cannot open %s: %s\n", argv [1], certbus_reason ());
        return 1;
    }
    int rc = 1;
    if (broker_store_tree_heads_each (store, s_collect, &self) < 0) {
        fprintf (stderr, "heads_consistent: cannot read the tree heads: %s\n", certbus_reason ());
        goto cleanup;
    }
    int failures = self.failures;
    size_t pairs = 0;
    for (size_t i = 0; i < self.count; i++)
        for (size_t j = i + 1; j < self.count; j++) {
            pairs++;
            if (s_check_pair (store, &self.heads [i], &self.heads [j]))
                failures++;
        }
    printf ("%s: %zu signed tree heads, %zu pairs checked, %d problems\n", failures ? "FAIL" : "ok",
            self.count, pairs, failures);
    rc = failures ? 1 : 0;
cleanup:
    free (self.heads);
    broker_store_destroy (&store);
    return rc;
}
