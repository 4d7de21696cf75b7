/*  metrics.h - the broker's Prometheus endpoint (HTTP on libmicrohttpd)
    SPDX-License-Identifier: MPL-2.0

    A small HTTP server with its own thread that answers:

        GET /metrics   200, the text exposition format 0.0.4 that fn returns
                       (503 when fn returns NULL)
        GET /healthz   200 "ok\n" when fn answers, 503 when it returns NULL
        other paths    404
        other methods  405 with "Allow: GET, HEAD" (HEAD is served as GET
                       without a body, as HTTP requires)

    fn runs in the server's thread, never in the caller's, once per request
    to /metrics or /healthz, one request at a time. It must therefore not
    touch the caller's ZeroMQ sockets (they are not thread-safe): ask the
    engine over a socket of its own, with a timeout, and return NULL when
    no answer comes, so that /healthz tells a scraper the engine is stuck.
*/
#ifndef BROKER_METRICS_H_INCLUDED
#define BROKER_METRICS_H_INCLUDED

typedef struct broker_metrics_t broker_metrics_t;

//  Returns a new malloc'd, NUL-terminated Prometheus text exposition (the
//  server frees it), or NULL when the engine does not answer.
typedef char *(broker_metrics_fn) (void *arg);

#define BROKER_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define BROKER_METRICS_DEFAULT_ADDRESS "127.0.0.1:9464"

//  Starts serving on host_port: "127.0.0.1:9464", "[::1]:9464", a host
//  name ("localhost:9464", its first address), or ":9464" for every IPv4
//  interface ("[::]:9464" for every IPv6 one). Port 0 picks a free port;
//  read it back with broker_metrics_port. Binds only to that address.
//  Returns NULL with certbus_reason() set when the address does not parse
//  or cannot be bound.
broker_metrics_t *
    broker_metrics_start (const char *host_port, broker_metrics_fn *fn, void *arg);

//  Stops the server, waiting for a request in progress (and so for fn) to
//  end, frees it and nulls the caller's pointer. Accepts NULL.
void
    broker_metrics_stop (broker_metrics_t **self_p);

//  The port the server is bound to.
int
    broker_metrics_port (broker_metrics_t *self);

#endif
