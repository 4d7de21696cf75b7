/*  control.h - the client of a daemon's control socket, as the CLIs of
    certbus-broker and certbus-node talk to their running daemon
    SPDX-License-Identifier: MPL-2.0

    A control socket is an ipc ROUTER that the daemon binds in its folder.
    One call is one request (a multipart message) and one reply, on a
    connection of its own.
*/
#ifndef CERTBUS_CONTROL_H_INCLUDED
#define CERTBUS_CONTROL_H_INCLUDED

#include <czmq.h>

//  How long a request may wait to be sent, in ms: a socket file with no
//  daemon behind it fails the call after this.
#define CERTBUS_CONTROL_SEND_MS 1000

//  Sends *request_p to the control socket at path (a file path, not an
//  endpoint) and waits up to timeout_ms for the reply. Destroys the
//  request and nulls the caller's pointer. Returns the reply (the
//  caller's), or NULL when the socket file is absent or no daemon answers.
zmsg_t *
    certbus_control_call (const char *path, zmsg_t **request_p, int timeout_ms);

//  certbus_control_call for a one-frame command: returns the first frame
//  of the reply as a new string, or NULL.
char *
    certbus_control_call_str (const char *path, const char *command, int timeout_ms);

#endif
