/*  council.h - the Council's offline commands: init, issue, revoke, directory
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef BROKER_COUNCIL_H_INCLUDED
#define BROKER_COUNCIL_H_INCLUDED

#include "certbus.h"
#include "store.h"

#define BROKER_DB "broker.db"
#define BROKER_SECRET "broker.secret"
#define BROKER_PUB "broker.pub"
#define COUNCIL_SECRET "council.secret"
#define COUNCIL_PUB "council.pub"
#define BROKER_POLICY "policy.zpl"

//  Each returns 0, or -1 with the reason set. init creates dir, or
//  tightens an existing one, with mode 0700. issue refuses a request whose
//  keys do not prove possession, or whose sign, box or CURVE key a current
//  certificate of another org holds.
int
    council_init (const char *dir, const char *store_url);
//  Writes out, a new folder (mode 0700), for the second broker of a pair
//  on dir's PostgreSQL store: the broker identity, the public files, the
//  policy and broker.conf, never council.secret. Returns 0 or -1.
int
    council_pair (const char *dir, const char *out);
int
    council_issue (const char *dir, const char *tier, const char *sector, const char *region,
                   int days, const char *request_path, const char *out_path);
int
    council_revoke (const char *dir, const char *org_id, const char *reason);
int
    council_directory (const char *dir, const char *out_path);

//  Checks a policy file (DIR/policy.zpl when file is NULL) and prints its
//  rules.
int
    council_policy_check (const char *dir, const char *file);

//  Signs and stores, in store's open transaction, a new directory of every
//  unrevoked certificate and every revocation, one version above the
//  last; sets *serial_p to its version. Returns 0, or -1 with the reason
//  set.
int
    council_directory_publish (broker_store_t *store, certbus_identity_t *council,
                               uint64_t *serial_p) CERTBUS_WARN_UNUSED;

//  A new string "dir/name"; the caller frees it.
char *
    council_path (const char *dir, const char *name);

#endif
