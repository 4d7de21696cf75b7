/*  endpoints.c - the broker endpoints of a node, a checked comma list
    SPDX-License-Identifier: MPL-2.0
*/
#include "endpoints.h"
#include "certbus.h"
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node_endpoints_t {
    char *text;                          //  the list, commas replaced by NULs
    const char *at [NODE_ENDPOINTS_MAX]; //  each endpoint, inside text
    size_t count;                        //  how many, 1..NODE_ENDPOINTS_MAX
};

//  Checks one entry (NUL-terminated) against those before it; returns 0
//  or -1 with the reason set
static int
s_check_entry (const node_endpoints_t *self, const char *entry, size_t index)
{
    if (!*entry)
        certbus_fail (CERTBUS_E_USAGE, "broker endpoint %zu of the list is empty", index + 1);
    else if (strncmp (entry, "tcp://", 6) != 0 && strncmp (entry, "ipc://", 6) != 0)
        certbus_fail (CERTBUS_E_USAGE, "broker endpoint '%s' must start with tcp:// or ipc://",
                      entry);
    else if (!entry [6])
        certbus_fail (CERTBUS_E_USAGE, "broker endpoint '%s' names no address", entry);
    else {
        for (size_t i = 0; i < self->count; i++)
            if (streq (self->at [i], entry)) {
                certbus_fail (CERTBUS_E_USAGE, "broker endpoint '%s' is listed twice", entry);
                return -1;
            }
        return 0;
    }
    return -1;
}

node_endpoints_t *
node_endpoints_new (const char *list)
{
    assert (list);
    if (!*list) {
        certbus_fail (CERTBUS_E_USAGE, "no broker endpoint given");
        return NULL;
    }
    if (strpbrk (list, " \t\r\n")) {
        certbus_fail (CERTBUS_E_USAGE,
                      "the broker endpoint list '%s' holds a space: separate endpoints with "
                      "commas only",
                      list);
        return NULL;
    }
    node_endpoints_t *self = certbus_calloc (1, sizeof *self);
    self->text = strdup (list);
    char *entry = self->text;
    while (entry) {
        char *comma = strchr (entry, ',');
        if (comma)
            *comma = 0;
        if (self->count == NODE_ENDPOINTS_MAX) {
            certbus_fail (CERTBUS_E_USAGE, "more than %d broker endpoints listed",
                          NODE_ENDPOINTS_MAX);
            node_endpoints_destroy (&self);
            return NULL;
        }
        if (s_check_entry (self, entry, self->count) != 0) {
            node_endpoints_destroy (&self);
            return NULL;
        }
        self->at [self->count++] = entry;
        entry = comma ? comma + 1 : NULL;
    }
    return self;
}

node_endpoints_t *
node_endpoints_new_lenient (const char *list)
{
    assert (list);
    //  A refusal here is no failure of the caller's: keep its reason
    char reason [CERTBUS_REASON_MAX];
    snprintf (reason, sizeof reason, "%s", certbus_reason ());
    certbus_err_t code = certbus_reason_code ();
    node_endpoints_t *self = node_endpoints_new (list);
    if (!self) {
        if (code)
            certbus_fail (code, "%s", reason);
        else
            certbus_reason_clear ();
        self = certbus_calloc (1, sizeof *self);
        self->text = strdup (list);
        self->at [0] = self->text;
        self->count = 1;
    }
    return self;
}

void
node_endpoints_destroy (node_endpoints_t **self_p)
{
    assert (self_p);
    node_endpoints_t *self = *self_p;
    if (!self)
        return;
    free (self->text);
    free (self);
    *self_p = NULL;
}

size_t
node_endpoints_count (const node_endpoints_t *self)
{
    assert (self);
    return self->count;
}

const char *
node_endpoints_at (const node_endpoints_t *self, size_t index)
{
    assert (self);
    return self->at [index % self->count];
}
