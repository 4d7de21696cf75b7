/*  conf.c - DIR/broker.conf: which store a broker folder uses
    SPDX-License-Identifier: MPL-2.0

    broker.conf is ZPL (CZMQ's zconfig), like node.conf:

        store
            url = "postgresql://certbus@db1:5432,db2:5432/certbus?target_session_attrs=read-write"

    It never holds a password: libpq reads those from ~/.pgpass,
    PGPASSFILE or a client certificate.
*/
#include "conf.h"
#include "council.h"
#include <czmq.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool
s_is_postgres (const char *url)
{
    return strncmp (url, "postgresql://", 13) == 0 || strncmp (url, "postgres://", 11) == 0;
}

//  True when a libpq URI carries a password or a key's passphrase, as
//  libpq itself reads it (so that percent-encoded names are caught too);
//  a URI libpq cannot parse is refused with its reason
static int
s_password_check (const char *url)
{
    char *error = NULL;
    PQconninfoOption *options = PQconninfoParse (url, &error);
    if (!options) {
        int rc = certbus_fail (CERTBUS_E_USAGE, "--store: %s",
                               error ? error : "not a PostgreSQL connection URI");
        PQfreemem (error);
        return rc;
    }
    bool secret = false;
    for (PQconninfoOption *option = options; option->keyword; option++)
        if ((streq (option->keyword, "password") || streq (option->keyword, "sslpassword"))
            && option->val && *option->val)
            secret = true;
    PQconninfoFree (options);
    if (secret)
        return certbus_fail (CERTBUS_E_USAGE,
                             "--store: a password never goes into broker.conf; give it to libpq "
                             "in ~/.pgpass (mode 0600), PGPASSFILE or a client certificate "
                             "(sslcert, sslkey)");
    return 0;
}

int
broker_conf_url_check (const char *url)
{
    assert (url);
    if (strncmp (url, "sqlite:", 7) == 0)
        return 0;
    if (!s_is_postgres (url))
        return certbus_fail (CERTBUS_E_USAGE,
                             "--store takes sqlite: (the default) or a PostgreSQL URI "
                             "postgresql://user@host:port/dbname, not '%s'",
                             url);
    return s_password_check (url);
}

char *
broker_conf_url_resolve (const char *dir, const char *url)
{
    if (strncmp (url, "sqlite:", 7) != 0)
        return strdup (url);
    const char *path = url + 7;
    if (!*path)
        return certbus_file_path (dir, BROKER_DB);
    if (*path == '/')
        return strdup (path);
    return certbus_file_path (dir, path);
}

int
broker_conf_write (const char *dir, const char *url)
{
    zconfig_t *root = zconfig_new ("root", NULL);
    zconfig_put (root, "store/url", url);
    zconfig_set_comment (root, " certbus broker folder: the store every command here uses");
    char *path = certbus_file_path (dir, BROKER_CONF);
    int rc = zconfig_save (root, path);
    if (rc)
        certbus_fail (CERTBUS_E_IO, "cannot write %s", path);
    free (path);
    zconfig_destroy (&root);
    return rc ? -1 : 0;
}

char *
broker_conf_store_url (const char *dir)
{
    char *path = certbus_file_path (dir, BROKER_CONF);
    char *url = NULL;
    if (access (path, F_OK) == 0) {
        zconfig_t *root = zconfig_load (path);
        const char *value = root ? zconfig_get (root, "store/url", NULL) : NULL;
        if (!value || !*value)
            certbus_fail (CERTBUS_E_FIELD, "%s names no store (store/url)", path);
        else if (broker_conf_url_check (value) == 0)
            url = strdup (value);
        zconfig_destroy (&root);
    }
    else {
        char *db = certbus_file_path (dir, BROKER_DB);
        if (access (db, F_OK) == 0)
            url = strdup (BROKER_STORE_DEFAULT);
        else
            certbus_fail (CERTBUS_E_NOT_FOUND,
                          "%s is not a broker folder (no %s or %s): run certbus-broker init", dir,
                          BROKER_CONF, BROKER_DB);
        free (db);
    }
    free (path);
    return url;
}

bool
broker_conf_store_local (const char *dir)
{
    char *url = broker_conf_store_url (dir);
    bool local = url && strncmp (url, "sqlite:", 7) == 0;
    free (url);
    return local;
}

//  The store's Council is the folder's: its fingerprint is council.pub's
static int
s_council_check (const char *dir, broker_store_t *store)
{
    uint8_t key [CERTBUS_KEY_SIZE];
    char *path = certbus_file_path (dir, COUNCIL_PUB);
    int rc = certbus_pubfile_read (path, key, NULL);
    free (path);
    if (rc)
        return -1;
    char want [17];
    certbus_fingerprint (key, sizeof key, want);
    char *have = broker_store_meta_get (store, "council_fingerprint");
    if (!have)
        rc = certbus_fail (CERTBUS_E_NOT_FOUND,
                           "store %s holds no Council: run certbus-broker init --store on it",
                           broker_store_name (store));
    else if (strcmp (have, want) != 0)
        rc = certbus_fail (CERTBUS_E_FIELD,
                           "store %s holds another certbus Council's data (Council %s; this "
                           "folder's council.pub is %s): refusing it",
                           broker_store_name (store), have, want);
    free (have);
    return rc;
}

broker_store_t *
broker_conf_store_open (const char *dir)
{
    char *url = broker_conf_store_url (dir);
    if (!url)
        return NULL;
    char *resolved = broker_conf_url_resolve (dir, url);
    broker_store_t *store = NULL;
    if (strncmp (url, "sqlite:", 7) == 0 && access (resolved, F_OK) != 0)
        certbus_fail (CERTBUS_E_NOT_FOUND, "%s: the store %s is missing", dir, resolved);
    else
        store = broker_store_open (resolved, false);
    if (store && s_council_check (dir, store))
        broker_store_destroy (&store);
    free (url);
    free (resolved);
    return store;
}
