/*  cli.h - what the certbus-node commands share: error lines, terminal
    escaping, TLP and severity ranks, the running daemon, and handing a
    sealed envelope to the broker
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef NODE_CLI_H_INCLUDED
#define NODE_CLI_H_INCLUDED

#include "commands.h"
#include "context.h"

//  Prints "certbus-node: " and the formatted text on stderr, escaped for
//  the terminal (reasons and names come from members). Returns 1, the
//  exit code of a failed command.
int
    node_cli_error (const char *format, ...) CERTBUS_PRINTF (1, 2);

//  node_cli_error with the reason of the last library failure.
int
    node_cli_fail (void);

//  Up to 16 escaped strings for one line of terminal output
typedef struct {
    char *strings [16];
    size_t count;
} node_esc_t;

//  s escaped for the terminal; the string lives in pool until
//  node_esc_free.
const char *
    node_esc (node_esc_t *pool, const char *s);

void
    node_esc_free (node_esc_t *pool);

//  Ranks for "never lowered": TLP and severity names, lowest first
extern const char *const node_cli_tlps [5];
extern const char *const node_cli_severities [5];

//  The index of value in names, or -1 when absent (or value is NULL).
int
    node_cli_rank (const char *const *names, size_t count, const char *value);

//  False for TLP red and amber+strict, which never travel further than
//  their recipients.
bool
    node_cli_tlp_travels (const char *tlp);

//  Sends request to the control socket of the daemon running in dir and
//  waits up to timeout_ms for the reply. Destroys the request. Returns the
//  reply, or NULL when no daemon answers.
zmsg_t *
    node_cli_control (const char *dir, zmsg_t **request_p, int timeout_ms);

//  The running daemon's status JSON (a new string), or NULL when none runs.
char *
    node_cli_daemon_status (const char *dir);

//  Puts a sealed envelope into the outbox and hands it to the broker, and
//  prints the outcome. While the daemon runs it does both (QUEUE on its
//  control socket), so that it stays the database's only writer; else
//  this process does. payload (may be NULL) is kept beside the outbox row.
//  Returns the exit code.
int
    node_cli_submit (node_ctx_t *ctx, const uint8_t *id, const uint8_t *envelope, size_t size,
                     const uint8_t *payload, size_t payload_size, int wait_s);

#endif
