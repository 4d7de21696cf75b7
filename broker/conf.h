/*  conf.h - DIR/broker.conf: which store a broker folder uses
    SPDX-License-Identifier: MPL-2.0

    `certbus-broker init --store URL` records the store here, and every
    later command on the folder opens it through broker_conf_store_open.
    A folder made before broker.conf existed has DIR/broker.db (SQLite).
*/
#ifndef BROKER_CONF_H_INCLUDED
#define BROKER_CONF_H_INCLUDED

#include "certbus.h"
#include "store.h"

#define BROKER_CONF "broker.conf"
//  The store a folder gets when init is given none
#define BROKER_STORE_DEFAULT "sqlite:"

//  Checks url as `init --store` takes it: "sqlite:" (DIR/broker.db),
//  "sqlite:PATH", or a libpq URI postgresql://... (postgres://...) that
//  holds no password (those come from ~/.pgpass, PGPASSFILE or client
//  certificates). Returns 0, or -1 with the reason set.
int
    broker_conf_url_check (const char *url);

//  The URL broker_store_open takes for url in folder dir: "sqlite:" is
//  DIR/broker.db, a relative SQLite path is under dir (a new string).
char *
    broker_conf_url_resolve (const char *dir, const char *url);

//  Writes DIR/broker.conf recording url. Returns 0 or -1.
int
    broker_conf_write (const char *dir, const char *url);

//  The store URL dir records, as recorded (a new string), or NULL with the
//  reason set when dir is no broker folder.
char *
    broker_conf_store_url (const char *dir);

//  True when dir's store is an SQLite file (one host).
bool
    broker_conf_store_local (const char *dir);

//  Opens dir's store. Refuses a store that holds another certbus
//  Council's data (its Council fingerprint is not DIR/council.pub's) or
//  none. Returns NULL with the reason set.
broker_store_t *
    broker_conf_store_open (const char *dir);

#endif
