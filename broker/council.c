/*  council.c - the Council's offline commands: init, issue, revoke, directory
    SPDX-License-Identifier: MPL-2.0

    The Council also builds and signs each new directory here, from the
    store's plain reads; the store only keeps the signed bytes.
*/
#include "council.h"
#include "conf.h"
#include "control.h"
#include "store.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "default_policy.h"

char *
council_path (const char *dir, const char *name)
{
    return certbus_file_path (dir, name);
}

//  Sets dir (a folder) to mode 0700. Returns 0, or -1 with the reason set.
static int
s_private_dir (const char *dir)
{
    int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return certbus_fail (CERTBUS_E_IO, "cannot open folder %s: %s", dir, strerror (errno)), -1;
    int rc = fchmod (fd, 0700);
    if (rc != 0)
        certbus_fail (CERTBUS_E_IO, "cannot set mode 0700 on %s: %s", dir, strerror (errno));
    close (fd);
    return rc == 0 ? 0 : -1;
}

//  Opens (makes) the store url names for a new Council in dir, refusing
//  one that holds a Council already
static broker_store_t *
s_store_create (const char *dir, const char *url)
{
    char *resolved = broker_conf_url_resolve (dir, url);
    broker_store_t *store = NULL;
    bool local = strncmp (url, "sqlite:", 7) == 0;
    if (local && access (resolved, F_OK) == 0)
        certbus_fail (CERTBUS_E_EXISTS, "%s already holds a store (%s); refusing to overwrite it",
                      dir, resolved);
    else
        store = broker_store_open (resolved, true);
    if (local && store)
        chmod (resolved, 0600);
    char *have = store ? broker_store_meta_get (store, "council_fingerprint") : NULL;
    if (have) {
        certbus_fail (CERTBUS_E_EXISTS,
                      "store %s holds another certbus Council's data (Council %s): give this "
                      "Council a database of its own",
                      broker_store_name (store), have);
        broker_store_destroy (&store);
    }
    free (have);
    free (resolved);
    return store;
}

int
council_init (const char *dir, const char *url)
{
    int rc = -1;
    char *conf = council_path (dir, BROKER_CONF);
    char *council_secret = council_path (dir, COUNCIL_SECRET);
    char *council_pub = council_path (dir, COUNCIL_PUB);
    char *broker_secret = council_path (dir, BROKER_SECRET);
    char *broker_pub = council_path (dir, BROKER_PUB);
    char *policy = council_path (dir, BROKER_POLICY);
    certbus_identity_t *council = NULL, *broker = NULL;
    broker_store_t *store = NULL;
    if (broker_conf_url_check (url))
        goto cleanup;
    if (mkdir (dir, 0700) != 0 && errno != EEXIST) {
        certbus_fail (CERTBUS_E_IO, "cannot create %s: %s", dir, strerror (errno));
        goto cleanup;
    }
    if (access (council_secret, F_OK) == 0 || access (conf, F_OK) == 0
        || access (broker_secret, F_OK) == 0) {
        certbus_fail (CERTBUS_E_EXISTS, "%s already holds a Council (%s); refusing to overwrite it",
                      dir, access (council_secret, F_OK) == 0 ? COUNCIL_SECRET : BROKER_CONF);
        goto cleanup;
    }
    //  The folder will hold the Council's secret key: only its owner may
    //  list or enter it, whatever it was before and whatever the umask
    if (s_private_dir (dir))
        goto cleanup;
    //  The store first: a database that cannot be reached, or that holds
    //  another Council, leaves no keys behind
    store = s_store_create (dir, url);
    if (!store)
        goto cleanup;
    council = certbus_identity_new ();
    broker = certbus_identity_new ();
    if (certbus_identity_save (council, council_secret)
        || certbus_identity_save (broker, broker_secret)
        || certbus_pubfile_write (council_pub, "council", certbus_identity_sign_public (council),
                                  NULL)
        || certbus_pubfile_write (broker_pub, "broker", certbus_identity_sign_public (broker),
                                  certbus_identity_curve_public (broker))
        || certbus_file_write (policy, s_default_policy, strlen ((const char *) s_default_policy),
                               0644)
        || broker_conf_write (dir, url))
        goto cleanup;
    uint64_t serial;
    if (broker_store_begin (store) || council_directory_publish (store, council, &serial)
        || broker_store_meta_set (store, "council_fingerprint",
                                  certbus_identity_fingerprint (council))
        || broker_store_commit (store))
        goto cleanup;
    rc = 0;
cleanup:
    //  A failed init leaves nothing it wrote, so that it can be run again
    if (rc && store) {
        const char *written [] = {council_secret, broker_secret, council_pub,
                                  broker_pub,     policy,        conf};
        for (size_t i = 0; i < sizeof written / sizeof written [0]; i++)
            unlink (written [i]);
        if (strncmp (url, "sqlite:", 7) == 0) {
            char *db = broker_conf_url_resolve (dir, url);
            broker_store_destroy (&store);
            unlink (db);
            free (db);
        }
    }
    broker_store_destroy (&store);
    certbus_identity_destroy (&council);
    certbus_identity_destroy (&broker);
    free (conf);
    free (council_secret);
    free (council_pub);
    free (broker_secret);
    free (broker_pub);
    free (policy);
    return rc;
}

static broker_store_t *
s_open_store (const char *dir)
{
    return broker_conf_store_open (dir);
}

static certbus_identity_t *
s_load_council (const char *dir)
{
    char *path = council_path (dir, COUNCIL_SECRET);
    certbus_identity_t *council = certbus_identity_load (path);
    free (path);
    return council;
}

//  One key, one member: refuses a request whose sign, box or CURVE key a
//  current certificate of another org holds, in any role, so that no
//  member can read, sign or connect as another, and no directory the
//  Council signs lists a key twice. The newest directory holds exactly the
//  current certificates (every issue and revocation publishes one in its
//  own transaction). Returns 0, or -1 with the reason set.
static int
s_keys_unheld (broker_store_t *store, certbus_identity_t *council, const certbus_request_t *request)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (broker_store_directory_latest (store, &bytes, &size) != 0)
        return certbus_fail (CERTBUS_E_NOT_FOUND,
                             "the broker folder holds no directory: run certbus-broker init"),
               -1;
    const uint8_t *keys [3] = {request->sign_key, request->box_key, request->curve_key};
    const char *names [3] = {"sign (Ed25519)", "box (X25519)", "CURVE"};
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        char *holder = NULL;
        const char *role = NULL;
        if (certbus_directory_key_holder (bytes, size, certbus_identity_sign_public (council),
                                          request->org_id, keys [i], &holder, &role))
            rc = -1;
        else if (holder) {
            char fingerprint [17];
            certbus_fingerprint (keys [i], CERTBUS_KEY_SIZE, fingerprint);
            certbus_fail (CERTBUS_E_EXISTS,
                          "the %s key of the request for '%s' (fingerprint %s) is held by org "
                          "'%s' as its %s key; one key belongs to one member: the member must "
                          "make a new request with fresh keys (certbus-node init)",
                          names [i], request->org_id, fingerprint, holder, role);
            rc = -1;
        }
        free (holder);
    }
    free (bytes);
    return rc;
}

//  After issue or revoke committed: a running broker loads the new
//  directory at once (and cuts off a revoked member). No broker running
//  is fine: it loads the directory when it starts.
static void
s_tell_broker (const char *dir)
{
    if (broker_control_directory_changed (dir) != 0)
        fprintf (stderr, "certbus-broker: warning: %s\n", certbus_reason ());
}

int
council_issue (const char *dir, const char *tier_name, const char *sector, const char *region,
               int days, const char *request_path, const char *out_path)
{
    int rc = -1;
    uint8_t *request_bytes = NULL, *cert_bytes = NULL;
    size_t request_size = 0, cert_size = 0;
    certbus_request_t *request = NULL;
    certbus_cert_t *cert = NULL;
    broker_store_t *store = NULL;
    certbus_identity_t *council = NULL;
    certbus_tier_t tier = certbus_tier_parse (tier_name);
    if (tier == CERTBUS_TIER_NONE) {
        certbus_fail (CERTBUS_E_USAGE, "unknown tier '%s' (tiers: %s)", tier_name ? tier_name : "",
                      certbus_tier_list ());
        goto cleanup;
    }
    if (days <= 0 || days > 3650) {
        certbus_fail (CERTBUS_E_USAGE, "--days must be between 1 and 3650");
        goto cleanup;
    }
    if (certbus_file_read (request_path, 64 * 1024, &request_bytes, &request_size))
        goto cleanup;
    request = certbus_request_decode (request_bytes, request_size);
    if (!request)
        goto cleanup;
    store = s_open_store (dir);
    council = store ? s_load_council (dir) : NULL;
    if (!council)
        goto cleanup;
    if (broker_store_begin (store))
        goto cleanup;
    uint64_t existing = broker_store_cert_active (store, request->org_id);
    if (existing) {
        certbus_fail (CERTBUS_E_EXISTS,
                      "org '%s' already holds certificate %llu; revoke it first "
                      "(certbus-broker revoke --dir %s %s)",
                      request->org_id, (unsigned long long) existing, dir, request->org_id);
        broker_store_rollback (store);
        goto cleanup;
    }
    if (s_keys_unheld (store, council, request)) {
        broker_store_rollback (store);
        goto cleanup;
    }
    uint64_t serial = broker_store_next_serial (store);
    int64_t now = certbus_now ();
    //  A minute of slack for clocks that run a little behind ours
    if (certbus_cert_issue (council, request, serial, tier, sector, region, now - 60,
                            now + (int64_t) days * 86400, &cert_bytes, &cert_size)
        || certbus_cert_decode (cert_bytes, cert_size, certbus_identity_sign_public (council),
                                &cert)) {
        broker_store_rollback (store);
        goto cleanup;
    }
    uint64_t dir_serial;
    if (broker_store_cert_insert (store, cert, now)
        || council_directory_publish (store, council, &dir_serial)) {
        broker_store_rollback (store);
        goto cleanup;
    }
    //  The certificate file is written before the commit: a failed write
    //  leaves no member the Council cannot hand a certificate to.
    if (certbus_file_write (out_path, cert_bytes, cert_size, 0644)) {
        broker_store_rollback (store);
        goto cleanup;
    }
    if (broker_store_commit (store))
        goto cleanup;
    printf ("issued certificate %llu to %s (%s%s%s%s%s), valid %d days; directory version %llu\n",
            (unsigned long long) serial, cert->org_id, certbus_tier_name (tier),
            *cert->sector ? ", sector " : "", cert->sector, *cert->region ? ", region " : "",
            cert->region, days, (unsigned long long) dir_serial);
    rc = 0;
cleanup:
    certbus_cert_destroy (&cert);
    certbus_request_destroy (&request);
    certbus_identity_destroy (&council);
    broker_store_destroy (&store);
    free (request_bytes);
    free (cert_bytes);
    if (rc == 0)
        s_tell_broker (dir);
    return rc;
}

int
council_revoke (const char *dir, const char *org_id, const char *reason)
{
    int rc = -1;
    broker_store_t *store = s_open_store (dir);
    certbus_identity_t *council = store ? s_load_council (dir) : NULL;
    uint8_t *bytes = NULL;
    size_t size;
    if (!council)
        goto cleanup;
    if (broker_store_begin (store))
        goto cleanup;
    uint64_t serial = broker_store_cert_active (store, org_id);
    if (!serial) {
        certbus_fail (CERTBUS_E_NOT_FOUND, "org '%s' holds no current certificate", org_id);
        broker_store_rollback (store);
        goto cleanup;
    }
    int64_t now = certbus_now ();
    uint64_t dir_serial;
    if (certbus_revocation_issue (council, serial, org_id, now, reason, &bytes, &size)
        || broker_store_cert_revoke (store, serial, bytes, size, now, reason)
        || council_directory_publish (store, council, &dir_serial)) {
        broker_store_rollback (store);
        goto cleanup;
    }
    if (broker_store_commit (store))
        goto cleanup;
    printf ("revoked certificate %llu of %s; directory version %llu\n", (unsigned long long) serial,
            org_id, (unsigned long long) dir_serial);
    rc = 0;
cleanup:
    free (bytes);
    certbus_identity_destroy (&council);
    broker_store_destroy (&store);
    if (rc == 0)
        s_tell_broker (dir);
    return rc;
}

int
council_directory (const char *dir, const char *out_path)
{
    int rc = -1;
    broker_store_t *store = s_open_store (dir);
    uint8_t *bytes = NULL;
    size_t size;
    if (store && broker_store_directory_latest (store, &bytes, &size) == 0
        && certbus_file_write (out_path, bytes, size, 0644) == 0)
        rc = 0;
    free (bytes);
    broker_store_destroy (&store);
    return rc;
}

int
council_policy_check (const char *dir, const char *file)
{
    char *path = file ? strdup (file) : council_path (dir, BROKER_POLICY);
    certbus_policy_t *policy = certbus_policy_load (path);
    if (policy) {
        printf ("%s: %zu rules, default deny\n", path, certbus_policy_rules (policy));
        for (size_t i = 0; i < certbus_policy_rules (policy); i++) {
            char *line = certbus_policy_describe (policy, i);
            printf ("  %s\n", line);
            free (line);
        }
    }
    free (path);
    int rc = policy ? 0 : -1;
    certbus_policy_destroy (&policy);
    return rc;
}

//  ---------------------------------------------------------------------
//  Directories

//  Signed blobs gathered from the store, in its order
typedef struct {
    uint8_t **blobs; //  copies, ours
    size_t *sizes;
    size_t count, cap;
} s_blobs_t;

static int
s_blobs_add (void *arg, const uint8_t *bytes, size_t size)
{
    s_blobs_t *list = arg;
    if (list->count == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 16;
        list->blobs = certbus_realloc (list->blobs, list->cap, sizeof (uint8_t *));
        list->sizes = certbus_realloc (list->sizes, list->cap, sizeof (size_t));
    }
    uint8_t *copy = certbus_malloc (size ? size : 1);
    if (size)
        memcpy (copy, bytes, size);
    list->blobs [list->count] = copy;
    list->sizes [list->count++] = size;
    return 0;
}

static void
s_blobs_free (s_blobs_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        free (list->blobs [i]);
    free (list->blobs);
    free (list->sizes);
}

int
council_directory_publish (broker_store_t *store, certbus_identity_t *council, uint64_t *serial_p)
{
    s_blobs_t certs = {0}, revs = {0};
    int rc = -1;
    if (broker_store_certs_each (store, s_blobs_add, &certs)
        || broker_store_revocations_each (store, s_blobs_add, &revs))
        goto cleanup;
    int64_t latest = broker_store_directory_serial (store);
    if (latest < 0)
        goto cleanup;
    uint64_t serial = (uint64_t) latest + 1;
    uint8_t *bytes;
    size_t size;
    if (certbus_directory_build (council, serial, certs.blobs, certs.sizes, certs.count, revs.blobs,
                                 revs.sizes, revs.count, &bytes, &size))
        goto cleanup;
    rc = broker_store_directory_put (store, serial, certbus_now (), bytes, size);
    free (bytes);
    if (rc == 0)
        *serial_p = serial;
cleanup:
    s_blobs_free (&certs);
    s_blobs_free (&revs);
    return rc;
}

//  Copies dir/name to out/name with mode. Returns 0 or -1.
static int
s_copy (const char *dir, const char *out, const char *name, mode_t mode)
{
    char *from = council_path (dir, name);
    char *to = council_path (out, name);
    uint8_t *bytes = NULL;
    size_t size = 0;
    int rc = certbus_file_read (from, 1024 * 1024, &bytes, &size);
    if (rc == 0)
        rc = certbus_file_write (to, bytes, size, mode);
    free (bytes);
    free (from);
    free (to);
    return rc ? -1 : 0;
}

int
council_pair (const char *dir, const char *out)
{
    char *url = broker_conf_store_url (dir);
    if (!url)
        return -1;
    bool local = strncmp (url, "sqlite:", 7) == 0;
    free (url);
    if (local)
        return certbus_fail (CERTBUS_E_USAGE,
                             "%s keeps its store in SQLite, on this host only: a pair shares one "
                             "PostgreSQL database (certbus-broker init --store postgresql://...)",
                             dir),
               -1;
    //  The second broker must open the same store as the same Council
    broker_store_t *store = broker_conf_store_open (dir);
    if (!store)
        return -1;
    broker_store_destroy (&store);
    if (mkdir (out, 0700) != 0) {
        certbus_fail (CERTBUS_E_EXISTS, "cannot make %s: %s (give a new folder)", out,
                      strerror (errno));
        return -1;
    }
    if (s_private_dir (out))
        return -1;
    //  The broker's identity travels (the pair is one broker to members);
    //  the Council's secret key never does
    certbus_identity_t *broker = NULL;
    char *secret = council_path (dir, BROKER_SECRET);
    char *secret_out = council_path (out, BROKER_SECRET);
    broker = certbus_identity_load (secret);
    int rc = broker ? certbus_identity_save (broker, secret_out) : -1;
    certbus_identity_destroy (&broker);
    free (secret);
    free (secret_out);
    if (rc == 0)
        rc = s_copy (dir, out, BROKER_PUB, 0644) || s_copy (dir, out, COUNCIL_PUB, 0644)
                     || s_copy (dir, out, BROKER_POLICY, 0644)
                     || s_copy (dir, out, BROKER_CONF, 0600)
                 ? -1
                 : 0;
    return rc;
}
