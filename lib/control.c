/*  control.c - the client of a daemon's control socket
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus/control.h"
#include <unistd.h>

zmsg_t *
certbus_control_call (const char *path, zmsg_t **request_p, int timeout_ms)
{
    assert (path);
    assert (request_p);
    zmsg_t *reply = NULL;
    if (*request_p && access (path, F_OK) == 0) {
        zsock_t *client = zsock_new (ZMQ_DEALER);
        zsock_set_linger (client, 0);
        zsock_set_sndtimeo (client, CERTBUS_CONTROL_SEND_MS);
        zsock_set_rcvtimeo (client, timeout_ms);
        if (zsock_connect (client, "ipc://%s", path) == 0 && zmsg_send (request_p, client) == 0)
            reply = zmsg_recv (client);
        zsock_destroy (&client);
    }
    zmsg_destroy (request_p);
    return reply;
}

char *
certbus_control_call_str (const char *path, const char *command, int timeout_ms)
{
    assert (command);
    zmsg_t *request = zmsg_new ();
    zmsg_addstr (request, command);
    zmsg_t *reply = certbus_control_call (path, &request, timeout_ms);
    char *text = reply ? zmsg_popstr (reply) : NULL;
    zmsg_destroy (&reply);
    return text;
}
