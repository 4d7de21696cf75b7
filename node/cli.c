/*  cli.c - what the certbus-node commands share: error lines, terminal
    escaping, TLP and severity ranks, and the running daemon
    SPDX-License-Identifier: MPL-2.0
*/
#include "cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Prints one line on stderr. Errors carry reasons and names that members
//  chose (a broker's rejection reason quotes a header), so the whole line
//  is escaped for the terminal: it can neither recolour the screen nor
//  forge a second line.
int
node_cli_error (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *text = NULL;
    if (vasprintf (&text, format, args) < 0)
        abort ();
    va_end (args);
    char *escaped = certbus_term_escape (text);
    fprintf (stderr, "certbus-node: %s\n", escaped);
    free (escaped);
    free (text);
    return 1;
}

int
node_cli_fail (void)
{
    return node_cli_error ("%s", *certbus_reason () ? certbus_reason () : "failed");
}

const char *
node_esc (node_esc_t *pool, const char *s)
{
    assert (pool->count < sizeof pool->strings / sizeof pool->strings [0]);
    return pool->strings [pool->count++] = certbus_term_escape (s);
}

void
node_esc_free (node_esc_t *pool)
{
    for (size_t i = 0; i < pool->count; i++)
        free (pool->strings [i]);
    pool->count = 0;
}

const char *const node_cli_tlps [5] = {"clear", "green", "amber", "amber+strict", "red"};
const char *const node_cli_severities [5] = {"info", "low", "medium", "high", "critical"};

int
node_cli_rank (const char *const *names, size_t count, const char *value)
{
    for (size_t i = 0; value && i < count; i++)
        if (streq (value, names [i]))
            return (int) i;
    return -1;
}

bool
node_cli_tlp_travels (const char *tlp)
{
    return node_cli_rank (node_cli_tlps, 5, tlp) < node_cli_rank (node_cli_tlps, 5, "amber+strict");
}

//  ---------------------------------------------------------------------
//  Talking to a running daemon

zmsg_t *
node_cli_control (const char *dir, zmsg_t **request_p, int timeout_ms)
{
    zmsg_t *reply = NULL;
    char *endpoint = node_control_endpoint (dir);
    if (endpoint)
        reply = certbus_control_call (endpoint + strlen ("ipc://"), request_p, timeout_ms);
    zmsg_destroy (request_p);
    free (endpoint);
    return reply;
}

char *
node_cli_daemon_status (const char *dir)
{
    zmsg_t *request = zmsg_new ();
    zmsg_addstr (request, "STATUS");
    zmsg_t *reply = node_cli_control (dir, &request, 1500);
    char *json = reply ? zmsg_popstr (reply) : NULL;
    zmsg_destroy (&reply);
    return json;
}
