/*  test_metrics.c - the broker's Prometheus endpoint over real TCP sockets
    SPDX-License-Identifier: MPL-2.0

    Each test starts the server on 127.0.0.1 port 0 with a fake exposition
    function, speaks HTTP/1.1 to it through a plain socket (no HTTP client
    library, so we see exactly what a scraper sees), and checks the status
    line, the headers that matter and the body.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "certbus.h"
#include "testutil.h"
#include "metrics.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define EXPOSITION                                                          \
    "# HELP certbus_deliveries_total Deliveries acknowledged by members.\n" \
    "# TYPE certbus_deliveries_total counter\n"                             \
    "certbus_deliveries_total 42\n"                                         \
    "# HELP certbus_queue_depth Messages queued per member.\n"              \
    "# TYPE certbus_queue_depth gauge\n"                                    \
    "certbus_queue_depth{member=\"bank-01\"} 3\n"

//  The fake engine: answers with text, or not at all when text is NULL.
typedef struct {
    const char *text; //  what fn returns a copy of, or NULL
    size_t repeat;    //  copies of text to return (0 = 1)
    atomic_int calls; //  how often fn ran (in the server thread)
} fake_t;

static char *
s_fake_fn (void *arg)
{
    fake_t *fake = (fake_t *) arg;
    atomic_fetch_add (&fake->calls, 1);
    if (!fake->text)
        return NULL;
    size_t len = strlen (fake->text), copies = fake->repeat ? fake->repeat : 1;
    char *out = (char *) malloc (len * copies + 1);
    assert_non_null (out);
    for (size_t i = 0; i < copies; i++)
        memcpy (out + i * len, fake->text, len);
    out [len * copies] = 0;
    return out;
}

//  One HTTP exchange as a scraper sees it.
typedef struct {
    int status; //  from the status line
    char *head; //  status line and headers
    char *body; //  everything after the blank line
    size_t body_size;
} reply_t;

static void
s_reply_free (reply_t *reply)
{
    free (reply->head);
    free (reply->body);
    memset (reply, 0, sizeof *reply);
}

//  Sends request (a whole HTTP request) to 127.0.0.1:port and reads the
//  reply until the server closes (every request says Connection: close).
static reply_t
s_exchange (int port, const char *request)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (fd >= 0);
    struct timeval timeout = {.tv_sec = 10};
    assert_int_equal (setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout), 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert_int_equal (connect (fd, (struct sockaddr *) &addr, sizeof addr), 0);
    size_t sent = 0, length = strlen (request);
    while (sent < length) {
        ssize_t rc = send (fd, request + sent, length - sent, MSG_NOSIGNAL);
        assert_true (rc > 0);
        sent += (size_t) rc;
    }
    size_t size = 0, cap = 4096;
    char *data = (char *) malloc (cap);
    assert_non_null (data);
    while (true) {
        if (cap - size < 4096) {
            cap *= 2;
            data = (char *) realloc (data, cap);
            assert_non_null (data);
        }
        ssize_t rc = recv (fd, data + size, cap - size - 1, 0);
        if (rc < 0 && errno == EINTR)
            continue;
        assert_true (rc >= 0); //  a timeout here means the server hung
        if (rc == 0)
            break;
        size += (size_t) rc;
    }
    close (fd);
    data [size] = 0;

    reply_t reply = {0};
    char *blank = strstr (data, "\r\n\r\n");
    assert_non_null (blank);
    size_t head_size = (size_t) (blank - data);
    reply.head = strndup (data, head_size);
    reply.body_size = size - head_size - 4;
    reply.body = (char *) malloc (reply.body_size + 1);
    memcpy (reply.body, blank + 4, reply.body_size);
    reply.body [reply.body_size] = 0;
    free (data);
    assert_int_equal (sscanf (reply.head, "HTTP/1.1 %d ", &reply.status), 1);
    return reply;
}

static reply_t
s_get (int port, const char *method, const char *path)
{
    char request [512];
    snprintf (request, sizeof request,
              "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test_metrics\r\n"
              "Connection: close\r\n\r\n",
              method, path);
    return s_exchange (port, request);
}

//  The value of header name in head (case-insensitive name), as a new
//  string, or NULL.
static char *
s_header (const char *head, const char *name)
{
    size_t name_len = strlen (name);
    for (const char *line = strstr (head, "\r\n"); line; line = strstr (line, "\r\n")) {
        line += 2;
        if (strncasecmp (line, name, name_len) == 0 && line [name_len] == ':') {
            const char *value = line + name_len + 1;
            while (*value == ' ')
                value++;
            const char *end = strstr (value, "\r\n");
            return end ? strndup (value, (size_t) (end - value)) : strdup (value);
        }
    }
    return NULL;
}

static void
s_assert_header (const char *head, const char *name, const char *want)
{
    char *value = s_header (head, name);
    if (!value)
        fail_msg ("no %s header in:\n%s", name, head);
    assert_string_equal (value, want);
    free (value);
}

//  GETs (or method) path and checks the reply's status and, unless want_body
//  is NULL, its body
static void
s_expect_reply (int port, const char *method, const char *path, int want_status,
                const char *want_body)
{
    reply_t reply = s_get (port, method, path);
    assert_int_equal (reply.status, want_status);
    if (want_body)
        assert_string_equal (reply.body, want_body);
    s_reply_free (&reply);
}

static broker_metrics_t *
s_start (fake_t *fake)
{
    broker_metrics_t *metrics = broker_metrics_start ("127.0.0.1:0", s_fake_fn, fake);
    if (!metrics)
        fail_msg ("broker_metrics_start: %s", certbus_reason ());
    int port = broker_metrics_port (metrics);
    assert_true (port > 0 && port <= 65535);
    return metrics;
}

//  A metrics endpoint in front of a fake engine that answers EXPOSITION, for
//  one test
typedef struct {
    fake_t fake;
    broker_metrics_t *metrics;
    int port; //  where it listens, on 127.0.0.1
} served_t;

static int
s_setup (void **state)
{
    served_t *self = tu_fixture_new (state, sizeof *self);
    self->fake.text = EXPOSITION;
    self->metrics = s_start (&self->fake);
    self->port = broker_metrics_port (self->metrics);
    return 0;
}

static int
s_teardown (void **state)
{
    served_t *self = *state;
    broker_metrics_stop (&self->metrics);
    free (self);
    return 0;
}

//  ---------------------------------------------------------------------------

static void
test_metrics_serves_exposition (void **state)
{
    (void) state;
    fake_t fake = {.text = EXPOSITION};
    broker_metrics_t *metrics = s_start (&fake);
    reply_t reply = s_get (broker_metrics_port (metrics), "GET", "/metrics");
    assert_int_equal (reply.status, 200);
    assert_string_equal (reply.body, EXPOSITION);
    s_assert_header (reply.head, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    char length [32];
    snprintf (length, sizeof length, "%zu", strlen (EXPOSITION));
    s_assert_header (reply.head, "Content-Length", length);
    assert_int_equal (atomic_load (&fake.calls), 1);
    s_reply_free (&reply);

    //  A query string (as some scrapers add) names the same resource.
    s_expect_reply (broker_metrics_port (metrics), "GET", "/metrics?name%5B%5D=x", 200, EXPOSITION);
    broker_metrics_stop (&metrics);
    assert_null (metrics);
    broker_metrics_stop (&metrics); //  twice is harmless
}

static void
test_metrics_large_exposition (void **state)
{
    (void) state;
    //  about 1.5 MB: many members, each with a few series
    fake_t fake = {.text = EXPOSITION, .repeat = 6000};
    broker_metrics_t *metrics = s_start (&fake);
    reply_t reply = s_get (broker_metrics_port (metrics), "GET", "/metrics");
    assert_int_equal (reply.status, 200);
    assert_int_equal (reply.body_size, strlen (EXPOSITION) * 6000);
    for (size_t i = 0; i < 6000; i += 997)
        assert_memory_equal (reply.body + i * strlen (EXPOSITION), EXPOSITION, strlen (EXPOSITION));
    s_reply_free (&reply);
    broker_metrics_stop (&metrics);
}

static void
test_metrics_healthz (void **state)
{
    served_t *self = *state;
    s_expect_reply (self->port, "GET", "/healthz", 200, "ok\n");
    assert_int_equal (atomic_load (&self->fake.calls), 1); //  health means the engine answers
}

static void
test_metrics_engine_silent (void **state)
{
    served_t *self = *state;
    self->fake.text = NULL;
    reply_t reply = s_get (self->port, "GET", "/healthz");
    assert_int_equal (reply.status, 503);
    assert_string_not_equal (reply.body, "ok\n");
    s_reply_free (&reply);
    s_expect_reply (self->port, "GET", "/metrics", 503, "engine not answering\n");
    assert_int_equal (atomic_load (&self->fake.calls), 2);

    //  the engine recovers: so does the endpoint
    self->fake.text = EXPOSITION;
    s_expect_reply (self->port, "GET", "/healthz", 200, "ok\n");
}

static void
test_metrics_not_found (void **state)
{
    served_t *self = *state;
    const char *paths [] = {"/", "/nope", "/metrics/", "/metricsx", "/healthz/x", "/METRICS"};
    for (size_t i = 0; i < sizeof paths / sizeof paths [0]; i++) {
        reply_t reply = s_get (self->port, "GET", paths [i]);
        if (reply.status != 404)
            fail_msg ("GET %s: status %d, want 404", paths [i], reply.status);
        assert_non_null (strstr (reply.body, "not found"));
        s_reply_free (&reply);
    }
    assert_int_equal (atomic_load (&self->fake.calls), 0); //  the engine is not asked
}

static void
test_metrics_methods (void **state)
{
    served_t *self = *state;
    const char *methods [] = {"POST", "PUT", "DELETE", "OPTIONS"};
    for (size_t i = 0; i < sizeof methods / sizeof methods [0]; i++) {
        reply_t reply = s_get (self->port, methods [i], "/metrics");
        if (reply.status != 405)
            fail_msg ("%s /metrics: status %d, want 405", methods [i], reply.status);
        s_assert_header (reply.head, "Allow", "GET, HEAD");
        s_reply_free (&reply);
    }
    //  a POST with a body is refused without reading it
    reply_t reply = s_exchange (self->port, "POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                            "Content-Length: 5\r\nConnection: close\r\n\r\nhello");
    assert_int_equal (reply.status, 405);
    s_reply_free (&reply);
    assert_int_equal (atomic_load (&self->fake.calls), 0);

    //  HEAD: GET's status and headers, no body
    reply = s_get (self->port, "HEAD", "/metrics");
    assert_int_equal (reply.status, 200);
    assert_int_equal (reply.body_size, 0);
    s_assert_header (reply.head, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    s_reply_free (&reply);
}

static void
test_metrics_bad_addresses (void **state)
{
    (void) state;
    fake_t fake = {.text = EXPOSITION};
    struct {
        const char *address;
        const char *reason; //  a part of the reason we expect
    } cases [] = {
        {"", "empty"},
        {"9464", "no port"},
        {"127.0.0.1", "no port"},
        {"127.0.0.1:", "0..65535"},
        {"127.0.0.1:65536", "0..65535"},
        {"127.0.0.1:94x", "0..65535"},
        {"127.0.0.1:-1", "0..65535"},
        {"127.0.0.1: 80", "0..65535"},
        {"::1:9464", "brackets"},
        {"[::1]9464", "HOST:PORT"},
        {"[::1:9464", "HOST:PORT"},
        {"[127.0.0.1]:9464", "host '127.0.0.1'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        certbus_reason_clear ();
        broker_metrics_t *metrics = broker_metrics_start (cases [i].address, s_fake_fn, &fake);
        if (metrics)
            fail_msg ("'%s' accepted", cases [i].address);
        if (!strstr (certbus_reason (), cases [i].reason))
            fail_msg ("'%s': reason '%s' lacks '%s'", cases [i].address, certbus_reason (),
                      cases [i].reason);
    }
    assert_null (broker_metrics_start (NULL, s_fake_fn, &fake));
}

static void
test_metrics_port_taken (void **state)
{
    served_t *self = *state;
    char address [64];
    snprintf (address, sizeof address, "127.0.0.1:%d", self->port);
    certbus_reason_clear ();
    broker_metrics_t *second = broker_metrics_start (address, s_fake_fn, &self->fake);
    assert_null (second);
    //  the reason names the address and the cause
    if (!strstr (certbus_reason (), address) || !strstr (certbus_reason (), "in use"))
        fail_msg ("unclear reason: %s", certbus_reason ());
    //  the first one still serves
    s_expect_reply (self->port, "GET", "/healthz", 200, NULL);
}

static void
test_metrics_ipv6_loopback (void **state)
{
    (void) state;
    //  skip quietly on a host without IPv6 loopback (some containers)
    int probe = socket (AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 addr = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool has_ipv6 = probe >= 0 && bind (probe, (struct sockaddr *) &addr, sizeof addr) == 0;
    if (probe >= 0)
        close (probe);
    if (!has_ipv6) {
        print_message ("no IPv6 loopback here: [::1] not tested\n");
        skip ();
    }
    fake_t fake = {.text = EXPOSITION};
    broker_metrics_t *metrics = broker_metrics_start ("[::1]:0", s_fake_fn, &fake);
    if (!metrics)
        fail_msg ("[::1]:0: %s", certbus_reason ());
    int port = broker_metrics_port (metrics);
    assert_true (port > 0);

    int fd = socket (AF_INET6, SOCK_STREAM, 0);
    assert_true (fd >= 0);
    addr.sin6_port = htons ((uint16_t) port);
    assert_int_equal (connect (fd, (struct sockaddr *) &addr, sizeof addr), 0);
    const char *request = "GET /healthz HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n";
    ssize_t length = (ssize_t) strlen (request);
    assert_int_equal (send (fd, request, (size_t) length, MSG_NOSIGNAL), length);
    char buf [1024];
    size_t size = 0;
    ssize_t rc;
    while ((rc = recv (fd, buf + size, sizeof buf - 1 - size, 0)) > 0)
        size += (size_t) rc;
    close (fd);
    buf [size] = 0;
    assert_true (strncmp (buf, "HTTP/1.1 200 ", 13) == 0);
    assert_non_null (strstr (buf, "\r\n\r\nok\n"));

    //  bound to ::1 only: IPv4 loopback on that port is not served by us
    int fd4 = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr4 = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    addr4.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert_int_not_equal (connect (fd4, (struct sockaddr *) &addr4, sizeof addr4), 0);
    close (fd4);
    broker_metrics_stop (&metrics);
}

//  A test that runs on a fresh endpoint (s_setup, s_teardown)
#define s_test(test) cmocka_unit_test_setup_teardown (test, s_setup, s_teardown)

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_metrics_serves_exposition),
        cmocka_unit_test (test_metrics_large_exposition),
        s_test (test_metrics_healthz),
        s_test (test_metrics_engine_silent),
        s_test (test_metrics_not_found),
        s_test (test_metrics_methods),
        cmocka_unit_test (test_metrics_bad_addresses),
        s_test (test_metrics_port_taken),
        cmocka_unit_test (test_metrics_ipv6_loopback),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
