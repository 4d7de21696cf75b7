/*  commands.h - the certbus-node commands, one function each
    SPDX-License-Identifier: MPL-2.0

    cmd_setup.c     init, enroll, directory, run
    cmd_publish.c   publish, seal, open, forward
    cmd_inbox.c     inbox, show, tail, status, receipts
    cmd_incident.c  incident list | show | update | escalate
    cmd_audit.c     audit prove
    (cli.h: what they share; submit.c: handing an envelope to the broker)
*/
#ifndef NODE_COMMANDS_H_INCLUDED
#define NODE_COMMANDS_H_INCLUDED

#include <stdbool.h>

typedef struct {
    const char *dir, *org, *name, *cert, *broker, *council, *broker_key, *directory;
    const char *kind, *tlp, *to, *topic, *severity, *type, *out, *exec, *import, *note;
    const char *status, *assign;
    int wait_s;    //  publish: seconds to wait for the broker
    int count;     //  tail: stop after this many messages
    int timeout_s; //  tail: stop after this many seconds
    bool json, all, help, verbose;
    int argc; //  positional arguments
    char **argv;
} node_args_t;

//  Each returns the process exit code, having printed any error.
int
    node_cmd_init (node_args_t *args);
int
    node_cmd_enroll (node_args_t *args);
int
    node_cmd_directory (node_args_t *args);
int
    node_cmd_run (node_args_t *args);
int
    node_cmd_publish (node_args_t *args);
int
    node_cmd_inbox (node_args_t *args);
int
    node_cmd_show (node_args_t *args);
int
    node_cmd_tail (node_args_t *args);
int
    node_cmd_status (node_args_t *args);
int
    node_cmd_seal (node_args_t *args);
int
    node_cmd_open (node_args_t *args);
int
    node_cmd_forward (node_args_t *args);
int
    node_cmd_receipts (node_args_t *args);
int
    node_cmd_audit (node_args_t *args);
int
    node_cmd_incident (node_args_t *args);

#endif
