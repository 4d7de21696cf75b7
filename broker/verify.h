/*  verify.h - a small pool of threads that checks the signatures of a
    batch of publishes at once
    SPDX-License-Identifier: MPL-2.0

    The engine decodes a batch of publishes and looks up each origin's
    signing key on its own thread (the directory's hash tables are not safe
    to read from several threads: CZMQ's zhashx caches its last bucket);
    then the Ed25519 checks, which are most of a publish's CPU, run here on
    every core. The engine's later certbus_envelope_verify makes every
    other check and reuses the result.
*/
#ifndef BROKER_VERIFY_H_INCLUDED
#define BROKER_VERIFY_H_INCLUDED

#include "certbus.h"

typedef struct broker_verifier_t broker_verifier_t;

typedef struct {
    certbus_envelope_t *env; //  checked by one thread only
    const uint8_t *sign_key; //  the origin's key, per the directory
} broker_verify_job_t;

//  A pool of threads helpers (0: everything runs on the caller's thread).
broker_verifier_t *
    broker_verifier_new (int threads);
void
    broker_verifier_destroy (broker_verifier_t **self_p);

//  Checks every job's signature (certbus_envelope_check_signature), spread
//  over the helpers and the calling thread; returns when all are done.
void
    broker_verifier_run (broker_verifier_t *self, broker_verify_job_t *jobs, size_t count);

//  Threads the pool was made with.
int
    broker_verifier_threads (broker_verifier_t *self);

#endif
