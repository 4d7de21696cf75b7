/*  control.c - the client side of a running broker's control socket
    SPDX-License-Identifier: MPL-2.0
*/
#include "control.h"
#include "council.h"
#include "engine.h"
#include <czmq.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *
broker_control_call (const char *dir, const char *command)
{
    char *real = realpath (dir, NULL);
    if (!real)
        return NULL;
    char *ctl = council_path (real, BROKER_CONTROL);
    free (real);
    char *reply = NULL;
    if (access (ctl, F_OK) == 0) {
        zsock_t *client = zsock_new (ZMQ_DEALER);
        zsock_set_rcvtimeo (client, 2000);
        zsock_set_sndtimeo (client, 2000);
        zsock_set_linger (client, 0);
        if (zsock_connect (client, "ipc://%s", ctl) == 0 && zstr_send (client, command) == 0)
            reply = zstr_recv (client);
        zsock_destroy (&client);
    }
    free (ctl);
    return reply;
}

int
broker_control_directory_changed (const char *dir)
{
    char *reply = broker_control_call (dir, "DIRECTORY");
    int rc = 0;
    if (reply && strncmp (reply, "OK", 2) != 0) {
        certbus_fail (CERTBUS_E_INTERNAL, "the running broker could not load the new directory: %s",
                      reply);
        rc = -1;
    }
    free (reply);
    return rc;
}
