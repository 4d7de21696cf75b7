/*  context.c - a node folder, as the CLI and the engine load it
    SPDX-License-Identifier: MPL-2.0
*/
#include "context.h"
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *
node_path (const char *dir, const char *name)
{
    return certbus_file_path (dir, name);
}

char *
node_control_endpoint (const char *dir)
{
    char *real = realpath (dir, NULL);
    if (!real)
        return NULL;
    char *endpoint = NULL;
    //  ipc endpoints are bounded by sun_path (108 bytes)
    if (strlen (real) + strlen (NODE_CONTROL) + 2 < 107)
        endpoint = zsys_sprintf ("ipc://%s/%s", real, NODE_CONTROL);
    free (real);
    return endpoint;
}

node_ctx_t *
node_ctx_open (const char *dir, bool enrolled)
{
    node_ctx_t *self = certbus_calloc (1, sizeof *self);
    self->dir = strdup (dir);
    char *path = node_path (dir, NODE_CONF);
    zconfig_t *conf = zconfig_load (path);
    free (path);
    if (!conf) {
        certbus_fail (CERTBUS_E_NOT_FOUND, "%s is not a node folder (no %s): run certbus-node init",
                      dir, NODE_CONF);
        goto failed;
    }
    self->org = strdup (zconfig_get (conf, "node/org", ""));
    self->endpoint = strdup (zconfig_get (conf, "node/broker", ""));
    //  enroll checked the list; one it did not write is used as it is
    self->endpoints = node_endpoints_new_lenient (self->endpoint);
    self->receipts = atoi (zconfig_get (conf, "node/receipts", "1")) != 0;
    zconfig_destroy (&conf);
    path = node_path (dir, NODE_SECRET);
    self->identity = certbus_identity_load (path);
    free (path);
    if (!self->identity)
        goto failed;
    path = node_path (dir, NODE_DB);
    self->store = node_store_open (path);
    free (path);
    if (!self->store)
        goto failed;
    path = node_path (dir, NODE_CERT);
    bool have_cert = access (path, F_OK) == 0;
    free (path);
    if (!have_cert) {
        if (enrolled) {
            certbus_fail (CERTBUS_E_NOT_FOUND,
                          "%s is not enrolled yet: run certbus-node enroll with the Council's "
                          "certificate",
                          dir);
            goto failed;
        }
        return self;
    }
    path = node_path (dir, NODE_COUNCIL_PUB);
    int rc = certbus_pubfile_read (path, self->council_key, NULL);
    free (path);
    if (rc)
        goto failed;
    path = node_path (dir, NODE_BROKER_PUB);
    rc = certbus_pubfile_read (path, self->broker_sign, self->broker_curve);
    free (path);
    if (rc)
        goto failed;
    path = node_path (dir, NODE_CERT);
    uint8_t *bytes;
    size_t size;
    rc = certbus_file_read (path, 64 * 1024, &bytes, &size);
    free (path);
    if (rc)
        goto failed;
    rc = certbus_cert_decode (bytes, size, self->council_key, &self->cert);
    free (bytes);
    if (rc)
        goto failed;
    if (node_store_directory_get (self->store, &bytes, &size) == 0) {
        certbus_err_t err = certbus_directory_decode (bytes, size, self->council_key, 0,
                                                      &self->directory);
        free (bytes);
        if (err)
            goto failed;
    }
    return self;
failed:
    node_ctx_destroy (&self);
    return NULL;
}

void
node_ctx_destroy (node_ctx_t **self_p)
{
    assert (self_p);
    node_ctx_t *self = *self_p;
    if (!self)
        return;
    free (self->dir);
    free (self->org);
    free (self->endpoint);
    node_endpoints_destroy (&self->endpoints);
    certbus_identity_destroy (&self->identity);
    certbus_cert_destroy (&self->cert);
    node_store_destroy (&self->store);
    certbus_directory_destroy (&self->directory);
    free (self);
    *self_p = NULL;
}

certbus_err_t
node_ctx_set_directory (node_ctx_t *self, const uint8_t *bytes, size_t size)
{
    uint64_t have = self->directory ? certbus_directory_serial (self->directory) : 0;
    certbus_directory_t *dir;
    certbus_err_t rc = certbus_directory_decode (bytes, size, self->council_key, have, &dir);
    if (rc)
        return rc;
    if (node_store_directory_set (self->store, bytes, size)) {
        certbus_directory_destroy (&dir);
        return CERTBUS_E_IO;
    }
    certbus_directory_destroy (&self->directory);
    self->directory = dir;
    return CERTBUS_OK;
}

int
node_ctx_queue (node_ctx_t *self, const uint8_t *bytes, size_t size, const uint8_t *payload,
                size_t payload_size)
{
    certbus_envelope_t *env = NULL;
    if (certbus_envelope_decode (bytes, size, &env))
        return -1;
    certbus_sb_t recipients = {0};
    for (size_t i = 0; i < certbus_envelope_recipients (env); i++)
        certbus_sb_printf (&recipients, "%s\n", certbus_envelope_recipient (env, i));
    int rc = node_store_outbox_add (self->store, certbus_envelope_header (env), bytes, size,
                                    recipients.data, payload, payload_size);
    certbus_sb_free (&recipients);
    certbus_envelope_destroy (&env);
    return rc;
}

uint64_t
node_ctx_directory_known (node_ctx_t *self)
{
    char *known = node_store_meta_get (self->store, NODE_META_DIRECTORY_KNOWN);
    uint64_t serial = known ? strtoull (known, NULL, 10) : 0;
    free (known);
    uint64_t have = self->directory ? certbus_directory_serial (self->directory) : 0;
    return serial > have ? serial : have;
}

char *
node_participants_join (char **orgs, size_t count)
{
    if (count > CERTBUS_MAX_REPEATED)
        return NULL;
    certbus_sb_t sb = {0};
    for (size_t i = 0; i < count; i++) {
        if (!orgs [i] || !certbus_name_valid (orgs [i])) {
            certbus_sb_free (&sb);
            return NULL;
        }
        certbus_sb_printf (&sb, "%s%s", i ? "," : "", orgs [i]);
    }
    return sb.data;
}
