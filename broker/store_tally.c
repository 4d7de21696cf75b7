/*  store_tally.c - row counts a store backend keeps in memory
    SPDX-License-Identifier: MPL-2.0
*/
#include "store_tally.h"
#include <stdlib.h>

static void
s_depth_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

void
broker_store_tally_init (broker_store_tally_t *self)
{
    memset (self, 0, sizeof *self);
    self->depths = zhashx_new ();
    zhashx_set_destructor (self->depths, s_depth_free);
}

void
broker_store_tally_fini (broker_store_tally_t *self)
{
    zhashx_destroy (&self->depths);
    free (self->touched);
    self->touched = NULL;
}

void
broker_store_tally_reset (broker_store_tally_t *self)
{
    zhashx_purge (self->depths);
    self->touched_count = 0;
    self->messages = self->messages_delta = 0;
    self->audits = self->audits_delta = 0;
    self->valid = false;
}

static broker_store_depth_t *
s_depth_entry (broker_store_tally_t *self, const char *recipient)
{
    broker_store_depth_t *entry = zhashx_lookup (self->depths, recipient);
    if (!entry) {
        entry = certbus_calloc (1, sizeof *entry);
        zhashx_insert (self->depths, recipient, entry);
    }
    return entry;
}

void
broker_store_tally_set_depth (broker_store_tally_t *self, const char *recipient, int64_t depth)
{
    s_depth_entry (self, recipient)->depth = depth;
}

void
broker_store_tally_loaded (broker_store_tally_t *self, int64_t messages, int64_t audits)
{
    self->messages = messages;
    self->audits = audits;
    self->messages_delta = self->audits_delta = 0;
    self->valid = true;
}

void
broker_store_tally_move (broker_store_tally_t *self, bool in_tx, const char *recipient,
                         int64_t delta)
{
    if (!self->valid)
        return;
    broker_store_depth_t *entry = s_depth_entry (self, recipient);
    if (!in_tx) {
        entry->depth += delta; //  a statement outside a transaction
        return;
    }
    if (!entry->touched) {
        if (self->touched_count == self->touched_cap) {
            self->touched_cap = self->touched_cap ? self->touched_cap * 2 : 64;
            self->touched = certbus_realloc (self->touched, self->touched_cap,
                                             sizeof (broker_store_depth_t *));
        }
        self->touched [self->touched_count++] = entry;
        entry->touched = true;
    }
    entry->delta += delta;
}

void
broker_store_tally_message (broker_store_tally_t *self, bool in_tx)
{
    if (in_tx)
        self->messages_delta++;
    else
        self->messages++;
}

void
broker_store_tally_audit (broker_store_tally_t *self, bool in_tx)
{
    if (in_tx)
        self->audits_delta++;
    else
        self->audits++;
}

void
broker_store_tally_settle (broker_store_tally_t *self, bool committed)
{
    for (size_t i = 0; i < self->touched_count; i++) {
        broker_store_depth_t *entry = self->touched [i];
        if (committed)
            entry->depth += entry->delta;
        entry->delta = 0;
        entry->touched = false;
    }
    self->touched_count = 0;
    if (committed) {
        self->messages += self->messages_delta;
        self->audits += self->audits_delta;
    }
    self->messages_delta = 0;
    self->audits_delta = 0;
}

int64_t
broker_store_tally_depth (broker_store_tally_t *self, const char *recipient)
{
    broker_store_depth_t *entry = zhashx_lookup (self->depths, recipient);
    return entry ? entry->depth : 0;
}

int64_t
broker_store_tally_queued (broker_store_tally_t *self)
{
    int64_t queued = 0;
    for (broker_store_depth_t *entry = zhashx_first (self->depths); entry;
         entry = zhashx_next (self->depths))
        queued += entry->depth;
    return queued;
}
