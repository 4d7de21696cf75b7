/*  control.h - the client side of a running broker's control socket
    SPDX-License-Identifier: MPL-2.0

    A broker serving a folder binds ipc://DIR/broker.ctl (engine.h lists
    its commands). The CLI uses it for status and reload, and to tell the
    broker that issue or revoke changed the directory.
*/
#ifndef BROKER_CONTROL_H_INCLUDED
#define BROKER_CONTROL_H_INCLUDED

//  Sends one command to the broker running in dir; returns its reply
//  (caller frees), or NULL when no broker answers within two seconds.
char *
    broker_control_call (const char *dir, const char *command);

//  Tells the broker running in dir, if any, to load the directory the
//  Council commands stored (DIRECTORY). Returns 0 when it loaded it or no
//  broker runs, -1 when it answered an error (reason set).
int
    broker_control_directory_changed (const char *dir);

#endif
