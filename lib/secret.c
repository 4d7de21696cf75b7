/*  secret.c - guarded memory for short-lived secrets
    SPDX-License-Identifier: MPL-2.0

    Every envelope sealed or opened needs a few 32-byte secrets for a moment
    (the content key, the ephemeral key, the shared X25519 secret). They
    belong in sodium_malloc memory (guard pages, mlock, no core dumps), but
    sodium_malloc costs an mmap, mprotects, an mlock and a getrandom on
    every call, and sodium_free as much again: more than the X25519 they
    protect. So each thread takes one sodium_malloc region on first use
    and hands out pieces of it; pieces are wiped when freed, the region is
    reused once all are back, and sodium_free releases it when the thread
    ends. Hand-written because libsodium has no such pool.
*/
#include "certbus/util.h"
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>

#define s_REGION_SIZE 4096

static _Thread_local struct {
    uint8_t *base; //  sodium_malloc region, or NULL
    size_t used;   //  bytes handed out since it was last empty
    size_t live;   //  pieces not freed yet
} s_region;

static pthread_key_t s_key;
static pthread_once_t s_key_once = PTHREAD_ONCE_INIT;

static void
s_region_release (void *base)
{
    sodium_free (base);
}

static void
s_key_create (void)
{
    if (pthread_key_create (&s_key, s_region_release) != 0)
        abort ();
}

void *
certbus_secret_alloc (size_t size)
{
    size_t rounded = (size + 15) & ~(size_t) 15;
    if (!s_region.base) {
        pthread_once (&s_key_once, s_key_create);
        s_region.base = sodium_malloc (s_REGION_SIZE);
        if (!s_region.base)
            abort ();
        pthread_setspecific (s_key, s_region.base);
    }
    if (rounded == 0 || s_region.used + rounded > s_REGION_SIZE) {
        //  More than the region holds at once: a region of its own
        void *own = sodium_malloc (size ? size : 1);
        if (!own)
            abort ();
        return own;
    }
    void *piece = s_region.base + s_region.used;
    s_region.used += rounded;
    s_region.live++;
    return piece;
}

void
certbus_secret_free (void *secret, size_t size)
{
    if (!secret)
        return;
    uint8_t *at = secret;
    if (s_region.base && at >= s_region.base && at < s_region.base + s_REGION_SIZE) {
        sodium_memzero (at, size);
        if (--s_region.live == 0)
            s_region.used = 0;
    }
    else
        sodium_free (secret); //  wipes before it releases
}
