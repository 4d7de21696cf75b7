/*  metrics.c - the broker's Prometheus endpoint (HTTP on libmicrohttpd)
    SPDX-License-Identifier: MPL-2.0

    libmicrohttpd runs the listening socket and every connection in one
    internal thread (MHD_USE_INTERNAL_POLLING_THREAD). MHD_USE_AUTO lets it
    pick epoll on Linux rather than select, whose FD_SETSIZE limit a broker
    holding many ZeroMQ and SQLite descriptors could pass. One thread means
    requests, and so calls to fn, never run at the same time: a scraper
    every few seconds needs no more.
*/
#include "metrics.h"
#include "certbus.h"
#include <czmq.h>
#include <microhttpd.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

//  Access handlers return enum MHD_Result since 0.9.71, int before it.
#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result s_result_t;
#else
typedef int s_result_t;
#endif

#define S_CONNECTION_LIMIT 32   //  scrapers, health checks, an operator's curl
#define S_CONNECTION_TIMEOUT 10 //  seconds of silence before a connection is closed
#define S_ADDRESS_MAX 256       //  longest HOST:PORT we accept
#define S_LOG_MAX 256           //  longest libmicrohttpd message we keep

struct broker_metrics_t {
    struct MHD_Daemon *daemon; //  the server and its thread
    broker_metrics_fn *fn;     //  makes the exposition; runs in that thread
    void *arg;                 //  fn's argument, not ours
    int port;                  //  the bound port
};

//  While broker_metrics_start runs in the caller's thread, libmicrohttpd's
//  messages (such as why bind failed) are kept here and become the reason
//  the caller sees; afterwards they come from the server thread and go to
//  the log.
static _Thread_local bool s_starting;
static _Thread_local char s_start_error [S_LOG_MAX];

static void
s_log (void *cls, const char *format, va_list ap)
{
    (void) cls;
    char line [S_LOG_MAX];
    vsnprintf (line, sizeof line, format, ap);
    size_t len = strlen (line);
    while (len && (line [len - 1] == '\n' || line [len - 1] == '\r'))
        line [--len] = 0;
    if (s_starting)
        snprintf (s_start_error, sizeof s_start_error, "%s", line);
    else
        zsys_warning ("broker: metrics: %s", line);
}

//  Queues a response; takes ownership of body, a malloc'd string when
//  must_free, else a static one. Returns MHD_NO (which closes the
//  connection) only when libmicrohttpd cannot take the response.
static s_result_t
s_respond (struct MHD_Connection *connection, unsigned int status, const char *content_type,
           char *body, bool must_free)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (
        strlen (body), body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!response) {
        if (must_free)
            free (body);
        return MHD_NO;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    s_result_t rc = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return rc;
}

static s_result_t
s_text (struct MHD_Connection *connection, unsigned int status, const char *text)
{
    return s_respond (connection, status, "text/plain; charset=utf-8", (char *) text, false);
}

//  Answers each request on its first call: we take no request bodies, so
//  there is nothing to wait for, and answering a POST at once is how
//  libmicrohttpd declines its body (no "100 Continue" is sent).
static s_result_t
s_answer (void *cls, struct MHD_Connection *connection, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void) version;
    (void) upload_data;
    (void) upload_data_size;
    (void) con_cls;
    broker_metrics_t *self = (broker_metrics_t *) cls;
    //  HEAD is GET without the body, which libmicrohttpd leaves out itself.
    if (strcmp (method, MHD_HTTP_METHOD_GET) != 0 && strcmp (method, MHD_HTTP_METHOD_HEAD) != 0)
        return s_text (connection, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");

    bool metrics = strcmp (url, "/metrics") == 0;
    if (!metrics && strcmp (url, "/healthz") != 0)
        return s_text (connection, MHD_HTTP_NOT_FOUND, "not found: try /metrics or /healthz\n");

    char *exposition = self->fn (self->arg);
    if (!exposition)
        return s_text (connection, MHD_HTTP_SERVICE_UNAVAILABLE, "engine not answering\n");
    if (!metrics) {
        free (exposition);
        return s_text (connection, MHD_HTTP_OK, "ok\n");
    }
    return s_respond (connection, MHD_HTTP_OK, BROKER_METRICS_CONTENT_TYPE, exposition, true);
}

#define S_EXAMPLE "write HOST:PORT, e.g. 127.0.0.1:9464, [::1]:9464 or :9464"

//  Splits HOST:PORT or [HOST]:PORT into host (S_ADDRESS_MAX bytes) and a
//  port. Returns 0, or -1 with the reason set.
static int
s_split_address (const char *host_port, char *host, bool *bracketed, long *port)
{
    if (!host_port || !*host_port) {
        certbus_fail (CERTBUS_E_USAGE, "metrics address is empty: " S_EXAMPLE);
        return -1;
    }
    if (strlen (host_port) >= S_ADDRESS_MAX) {
        certbus_fail (CERTBUS_E_USAGE, "metrics address is longer than %d characters",
                      S_ADDRESS_MAX - 1);
        return -1;
    }
    const char *port_text;
    *bracketed = host_port [0] == '[';
    if (*bracketed) {
        const char *close = strchr (host_port, ']');
        if (!close || close [1] != ':') {
            certbus_fail (CERTBUS_E_USAGE, "metrics address '%s': " S_EXAMPLE, host_port);
            return -1;
        }
        size_t host_len = (size_t) (close - host_port - 1);
        memcpy (host, host_port + 1, host_len);
        host [host_len] = 0;
        port_text = close + 2;
    }
    else {
        const char *colon = strrchr (host_port, ':');
        if (!colon) {
            certbus_fail (CERTBUS_E_USAGE, "metrics address '%s' has no port: " S_EXAMPLE,
                          host_port);
            return -1;
        }
        size_t host_len = (size_t) (colon - host_port);
        if (memchr (host_port, ':', host_len)) {
            certbus_fail (CERTBUS_E_USAGE,
                          "metrics address '%s': write an IPv6 address in brackets, "
                          "e.g. [::1]:9464",
                          host_port);
            return -1;
        }
        memcpy (host, host_port, host_len);
        host [host_len] = 0;
        port_text = colon + 1;
    }
    //  Digits only: strtol alone would take " 12", "+12" and "-0".
    size_t digits = strspn (port_text, "0123456789");
    *port = digits >= 1 && digits <= 5 && !port_text [digits] ? strtol (port_text, NULL, 10) : -1;
    if (*port < 0 || *port > 65535) {
        certbus_fail (CERTBUS_E_USAGE, "metrics address '%s': the port must be a number 0..65535",
                      host_port);
        return -1;
    }
    return 0;
}

//  Parses HOST:PORT into addr: a numeric address or a host name's first
//  address, or every IPv4 interface for an empty host. Returns 0, or -1
//  with the reason set.
static int
s_parse_address (const char *host_port, struct sockaddr_storage *addr)
{
    char host [S_ADDRESS_MAX];
    bool bracketed;
    long port;
    if (s_split_address (host_port, host, &bracketed, &port))
        return -1;
    memset (addr, 0, sizeof *addr);
    if (!*host && !bracketed) {
        struct sockaddr_in *in = (struct sockaddr_in *) addr;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl (INADDR_ANY);
        in->sin_port = htons ((uint16_t) port);
        return 0;
    }
    struct addrinfo hints = {0};
    hints.ai_family = bracketed ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = bracketed ? AI_NUMERICHOST : 0;
    struct addrinfo *found = NULL;
    int rc = getaddrinfo (host, NULL, &hints, &found);
    if (rc != 0 || !found) {
        certbus_fail (CERTBUS_E_USAGE, "metrics address '%s': host '%s': %s", host_port, host,
                      rc ? gai_strerror (rc) : "no address");
        if (found)
            freeaddrinfo (found);
        return -1;
    }
    rc = 0;
    if (found->ai_family == AF_INET && found->ai_addrlen == sizeof (struct sockaddr_in)) {
        memcpy (addr, found->ai_addr, found->ai_addrlen);
        ((struct sockaddr_in *) addr)->sin_port = htons ((uint16_t) port);
    }
    else if (found->ai_family == AF_INET6 && found->ai_addrlen == sizeof (struct sockaddr_in6)) {
        memcpy (addr, found->ai_addr, found->ai_addrlen);
        ((struct sockaddr_in6 *) addr)->sin6_port = htons ((uint16_t) port);
    }
    else {
        certbus_fail (CERTBUS_E_USAGE, "metrics address '%s': not an IP address", host_port);
        rc = -1;
    }
    freeaddrinfo (found);
    return rc;
}

//  The port the daemon listens on, or -1.
static int
s_bound_port (struct MHD_Daemon *daemon)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info && info->port)
        return info->port;
    //  Older libmicrohttpd, or one that could not tell: ask the socket.
    info = MHD_get_daemon_info (daemon, MHD_DAEMON_INFO_LISTEN_FD);
    if (!info)
        return -1;
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    if (getsockname (info->listen_fd, (struct sockaddr *) &addr, &len) != 0)
        return -1;
    if (addr.ss_family == AF_INET)
        return ntohs (((struct sockaddr_in *) &addr)->sin_port);
    if (addr.ss_family == AF_INET6)
        return ntohs (((struct sockaddr_in6 *) &addr)->sin6_port);
    return -1;
}

broker_metrics_t *
broker_metrics_start (const char *host_port, broker_metrics_fn *fn, void *arg)
{
    assert (fn);
    struct sockaddr_storage addr;
    if (s_parse_address (host_port, &addr))
        return NULL;

    broker_metrics_t *self = (broker_metrics_t *) calloc (1, sizeof *self);
    assert (self);
    self->fn = fn;
    self->arg = arg;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6; //  without MHD_USE_DUAL_STACK: IPv6 only, as asked
    uint16_t port = addr.ss_family == AF_INET6 ? ntohs (((struct sockaddr_in6 *) &addr)->sin6_port)
                                               : ntohs (((struct sockaddr_in *) &addr)->sin_port);
    s_starting = true;
    s_start_error [0] = 0;
    self->daemon = MHD_start_daemon (flags, port, NULL, NULL, s_answer, self,
                                     MHD_OPTION_EXTERNAL_LOGGER, s_log,
                                     NULL, //  first, so startup messages reach it
                                     MHD_OPTION_SOCK_ADDR, (const struct sockaddr *) &addr,
                                     MHD_OPTION_CONNECTION_LIMIT, (unsigned int) S_CONNECTION_LIMIT,
                                     MHD_OPTION_CONNECTION_TIMEOUT,
                                     (unsigned int) S_CONNECTION_TIMEOUT, MHD_OPTION_END);
    s_starting = false;
    if (!self->daemon) {
        certbus_fail (CERTBUS_E_IO, "cannot serve metrics on %s: %s", host_port,
                      *s_start_error ? s_start_error : "libmicrohttpd did not start");
        free (self);
        return NULL;
    }
    self->port = s_bound_port (self->daemon);
    if (self->port < 0) {
        certbus_fail (CERTBUS_E_IO, "cannot serve metrics on %s: no bound port", host_port);
        broker_metrics_stop (&self);
        return NULL;
    }
    return self;
}

void
broker_metrics_stop (broker_metrics_t **self_p)
{
    assert (self_p);
    broker_metrics_t *self = *self_p;
    if (!self)
        return;
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    free (self);
    *self_p = NULL;
}

int
broker_metrics_port (broker_metrics_t *self)
{
    assert (self);
    return self->port;
}
