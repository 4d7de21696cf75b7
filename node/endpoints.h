/*  endpoints.h - the broker endpoints of a node: a comma list of the
    addresses of one broker identity (a broker pair), as node.conf holds it
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef NODE_ENDPOINTS_H_INCLUDED
#define NODE_ENDPOINTS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#define NODE_ENDPOINTS_MAX 8 //  most endpoints one list may name

typedef struct node_endpoints_t node_endpoints_t;

//  Splits a comma list ("tcp://a:7447,tcp://b:7447") into its endpoints.
//  Refuses (NULL, with the reason set, code CERTBUS_E_USAGE) a list that is
//  empty, names more than NODE_ENDPOINTS_MAX endpoints, holds an empty
//  entry, a space, an entry that starts neither with tcp:// nor with
//  ipc://, or the same endpoint twice.
node_endpoints_t *
    node_endpoints_new (const char *list);

//  As node_endpoints_new, but never refuses: a list that does not parse
//  becomes one endpoint, the whole text, so that a node folder written
//  before lists existed (or edited by hand) behaves as it always did.
node_endpoints_t *
    node_endpoints_new_lenient (const char *list);

void
    node_endpoints_destroy (node_endpoints_t **self_p);

//  How many endpoints the list holds (at least 1).
size_t
    node_endpoints_count (const node_endpoints_t *self);

//  Endpoint index (wrapping around the list), borrowed.
const char *
    node_endpoints_at (const node_endpoints_t *self, size_t index);

#endif
