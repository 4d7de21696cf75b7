/*  verify.c - a small pool of threads that checks the signatures of a
    batch of publishes at once
    SPDX-License-Identifier: MPL-2.0

    Plain pthreads rather than CZMQ actors: a run hands out slices of one
    array and waits for them, with no messages to copy, and must cost
    microseconds. Jobs are taken one at a time from a shared counter, so a
    slow thread (or one waiting for a core) simply takes fewer.
*/
#include "verify.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

struct broker_verifier_t {
    pthread_t *threads;
    int thread_count;
    pthread_mutex_t lock;
    pthread_cond_t work;       //  a new run, or stop
    pthread_cond_t done;       //  the last helper finished a run
    broker_verify_job_t *jobs; //  the current run
    size_t count;
    atomic_size_t next; //  next job to take
    uint64_t run;       //  runs started
    int busy;           //  helpers not finished with this run
    bool stopping;
};

static void
s_drain (broker_verifier_t *self)
{
    size_t at;
    while ((at = atomic_fetch_add (&self->next, 1)) < self->count)
        certbus_envelope_check_signature (self->jobs [at].env, self->jobs [at].sign_key);
}

static void *
s_helper (void *arg)
{
    broker_verifier_t *self = arg;
    uint64_t seen = 0;
    pthread_mutex_lock (&self->lock);
    while (true) {
        while (!self->stopping && self->run == seen)
            pthread_cond_wait (&self->work, &self->lock);
        if (self->stopping)
            break;
        seen = self->run;
        pthread_mutex_unlock (&self->lock);
        s_drain (self);
        pthread_mutex_lock (&self->lock);
        if (--self->busy == 0)
            pthread_cond_signal (&self->done);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

broker_verifier_t *
broker_verifier_new (int threads)
{
    broker_verifier_t *self = certbus_calloc (1, sizeof *self);
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->work, NULL);
    pthread_cond_init (&self->done, NULL);
    atomic_init (&self->next, 0);
    if (threads > 0) {
        self->threads = certbus_calloc ((size_t) threads, sizeof (pthread_t));
        for (int i = 0; i < threads; i++) {
            if (pthread_create (&self->threads [i], NULL, s_helper, self) != 0)
                break; //  fewer helpers; the caller does the rest
            self->thread_count++;
        }
    }
    return self;
}

void
broker_verifier_destroy (broker_verifier_t **self_p)
{
    broker_verifier_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock (&self->lock);
    self->stopping = true;
    pthread_cond_broadcast (&self->work);
    pthread_mutex_unlock (&self->lock);
    for (int i = 0; i < self->thread_count; i++)
        pthread_join (self->threads [i], NULL);
    free (self->threads);
    pthread_cond_destroy (&self->work);
    pthread_cond_destroy (&self->done);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

void
broker_verifier_run (broker_verifier_t *self, broker_verify_job_t *jobs, size_t count)
{
    if (count == 0)
        return;
    self->jobs = jobs;
    self->count = count;
    atomic_store (&self->next, 0);
    //  One job gains nothing from a hand-off
    if (self->thread_count == 0 || count == 1) {
        s_drain (self);
        return;
    }
    pthread_mutex_lock (&self->lock);
    self->busy = self->thread_count;
    self->run++;
    pthread_cond_broadcast (&self->work);
    pthread_mutex_unlock (&self->lock);
    s_drain (self);
    pthread_mutex_lock (&self->lock);
    while (self->busy > 0)
        pthread_cond_wait (&self->done, &self->lock);
    pthread_mutex_unlock (&self->lock);
}

int
broker_verifier_threads (broker_verifier_t *self)
{
    return self->thread_count;
}
