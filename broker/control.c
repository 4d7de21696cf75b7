/*  control.c - the client side of a running broker's control socket
    SPDX-License-Identifier: MPL-2.0
*/
#include "control.h"
#include "council.h"
#include "engine.h"
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

char *
broker_control_call (const char *dir, const char *command)
{
    char *real = realpath (dir, NULL);
    if (!real)
        return NULL;
    char *ctl = council_path (real, BROKER_CONTROL);
    free (real);
    char *reply = certbus_control_call_str (ctl, command, 2000);
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
