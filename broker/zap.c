/*  zap.c - the broker's ZAP handler (ZeroMQ RFC 27)
    SPDX-License-Identifier: MPL-2.0
*/
#include "zap.h"
#include "certbus.h"
#include <sodium.h>
#include <string.h>

static void
s_reply (zsock_t *handler, const char *request_id, const char *code, const char *text,
         const char *user_id)
{
    zstr_sendm (handler, "1.0");
    zstr_sendm (handler, request_id);
    zstr_sendm (handler, code);
    zstr_sendm (handler, text);
    zstr_sendm (handler, user_id);
    zmq_send (zsock_resolve (handler), NULL, 0, 0); //  no metadata
}

//  Handles one request. Frames: version, request id, domain, address,
//  identity, mechanism, then mechanism credentials.
static void
s_handle (zsock_t *handler, zhashx_t *keys)
{
    zmsg_t *request = zmsg_recv (handler);
    if (!request)
        return;
    char *version = zmsg_popstr (request);
    char *request_id = zmsg_popstr (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    char *identity = zmsg_popstr (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *key = zmsg_pop (request);
    if (!version || strcmp (version, "1.0") != 0 || !request_id)
        s_reply (handler, request_id ? request_id : "", "500", "bad ZAP request", "");
    else if (!mechanism || strcmp (mechanism, "CURVE") != 0 || !key
             || zframe_size (key) != CERTBUS_KEY_SIZE)
        s_reply (handler, request_id, "400", "only CURVE members are admitted", "");
    else {
        char hex [CERTBUS_KEY_SIZE * 2 + 1];
        certbus_hex (zframe_data (key), CERTBUS_KEY_SIZE, hex);
        if (zhashx_lookup (keys, hex))
            s_reply (handler, request_id, "200", "OK", hex);
        else {
            char fp [17];
            certbus_fingerprint (zframe_data (key), CERTBUS_KEY_SIZE, fp);
            if (strcmp (request_id, "selftest") != 0)
                zsys_info ("broker: refused transport key fp=%s address=%s: not a current member",
                           fp, address ? address : "?");
            s_reply (handler, request_id, "400", "not a current member", "");
        }
    }
    zframe_destroy (&key);
    zstr_free (&version);
    zstr_free (&request_id);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&identity);
    zstr_free (&mechanism);
    zmsg_destroy (&request);
}

void
broker_zap_actor (zsock_t *pipe, void *args)
{
    (void) args;
    zsock_t *handler = zsock_new (ZMQ_REP);
    if (!handler || zsock_bind (handler, BROKER_ZAP_ENDPOINT) != 0) {
        zsock_destroy (&handler);
        zsock_signal (pipe, 1);
        //  wait for $TERM so the caller can destroy us cleanly
        char *command = zstr_recv (pipe);
        zstr_free (&command);
        return;
    }
    zsock_signal (pipe, 0);
    zhashx_t *keys = zhashx_new ();
    zpoller_t *poller = zpoller_new (pipe, handler, NULL);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == handler)
            s_handle (handler, keys);
        else if (which == pipe) {
            zmsg_t *msg = zmsg_recv (pipe);
            if (!msg)
                break;
            char *command = zmsg_popstr (msg);
            bool term = !command || streq (command, "$TERM");
            if (command && streq (command, "KEYS")) {
                zhashx_purge (keys);
                for (zframe_t *key = zmsg_first (msg); key; key = zmsg_next (msg))
                    if (zframe_size (key) == CERTBUS_KEY_SIZE) {
                        char hex [CERTBUS_KEY_SIZE * 2 + 1];
                        certbus_hex (zframe_data (key), CERTBUS_KEY_SIZE, hex);
                        zhashx_insert (keys, hex, (void *) 1);
                    }
                zsock_signal (pipe, 0);
            }
            zstr_free (&command);
            zmsg_destroy (&msg);
            if (term)
                break;
        }
        else
            break;
    }
    zpoller_destroy (&poller);
    zhashx_destroy (&keys);
    zsock_destroy (&handler);
}

int
broker_zap_selftest (void)
{
    zsock_t *client = zsock_new_req (BROKER_ZAP_ENDPOINT);
    if (!client)
        return -1;
    zsock_set_rcvtimeo (client, 2000);
    uint8_t stranger [CERTBUS_KEY_SIZE];
    randombytes_buf (stranger, sizeof stranger);
    zmsg_t *request = zmsg_new ();
    zmsg_addstr (request, "1.0");
    zmsg_addstr (request, "selftest");
    zmsg_addstr (request, "certbus");
    zmsg_addstr (request, "127.0.0.1");
    zmsg_addstr (request, "");
    zmsg_addstr (request, "CURVE");
    zmsg_addmem (request, stranger, sizeof stranger);
    int rc = -1;
    if (zmsg_send (&request, client) == 0) {
        zmsg_t *reply = zmsg_recv (client);
        if (reply && zmsg_size (reply) >= 3) {
            zframe_t *code = zmsg_first (reply);
            code = zmsg_next (reply);
            code = zmsg_next (reply);
            if (zframe_streq (code, "400"))
                rc = 0;
        }
        zmsg_destroy (&reply);
    }
    zmsg_destroy (&request);
    zsock_destroy (&client);
    return rc;
}
