/*  context.h - a node folder: keys, certificate, Council and broker keys,
    settings, database and directory, as the CLI and the engine load them
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef NODE_CONTEXT_H_INCLUDED
#define NODE_CONTEXT_H_INCLUDED

#include "certbus.h"
#include "store.h"
#include "endpoints.h"

#define NODE_SECRET "node.secret"
#define NODE_REQUEST "request"
#define NODE_CONF "node.conf"
#define NODE_CERT "cert"
#define NODE_COUNCIL_PUB "council.pub"
#define NODE_BROKER_PUB "broker.pub"
#define NODE_DB "node.db"
#define NODE_CONTROL "node.ctl"

//  Node meta key: the highest directory version the broker announced
#define NODE_META_DIRECTORY_KNOWN "directory_known"

typedef struct {
    char *dir;                    //  the node folder
    char *org;                    //  our org id
    char *endpoint;               //  broker endpoints, a comma list ("" before enrol)
    node_endpoints_t *endpoints;  //  the same, split (one "" before enrol)
    certbus_identity_t *identity; //  our keys
    certbus_cert_t *cert;         //  our certificate (NULL before enrol)
    uint8_t council_key [CERTBUS_KEY_SIZE];
    uint8_t broker_sign [CERTBUS_KEY_SIZE];
    uint8_t broker_curve [CERTBUS_KEY_SIZE];
    node_store_t *store;
    certbus_directory_t *directory; //  NULL until one is imported
    bool receipts;                  //  send signed receipts (node/receipts)
} node_ctx_t;

//  Opens a node folder. With enrolled, refuses a folder that has no
//  certificate yet. Returns NULL with the reason set.
node_ctx_t *
    node_ctx_open (const char *dir, bool enrolled);

void
    node_ctx_destroy (node_ctx_t **self_p);

//  Verifies a directory against our Council, refuses one older than the
//  one held, then stores and uses it. Returns CERTBUS_OK or the error.
certbus_err_t
    node_ctx_set_directory (node_ctx_t *self, const uint8_t *bytes, size_t size);

//  Puts a sealed envelope into the outbox, with its recipient list for
//  receipts. Returns 0 or -1 with the reason set.
int
    node_ctx_queue (node_ctx_t *self, const uint8_t *bytes, size_t size, const uint8_t *payload,
                    size_t payload_size) CERTBUS_WARN_UNUSED;

//  The highest directory version this node knows exists (announced by the
//  broker, or held), 0 when none.
uint64_t
    node_ctx_directory_known (node_ctx_t *self);

//  Joins the broker's participant list (org ids) with commas: a new
//  string, or NULL when an entry is not a valid org id or there are more
//  than CERTBUS_MAX_REPEATED of them.
char *
    node_participants_join (char **orgs, size_t count);

//  A new string "dir/name".
char *
    node_path (const char *dir, const char *name);

//  Path of the control socket endpoint ("ipc://..."), new string, or NULL
//  when the folder path is too long for an ipc endpoint.
char *
    node_control_endpoint (const char *dir);

#endif
