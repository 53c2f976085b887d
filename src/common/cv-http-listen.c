#include "cv-http-listen.h"
#include "cv-error.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 3200
#define ACCEPT_BATCH 32   /* per wakeup, so a flood of connections does not starve the requests */

struct _CvHttpListener {
    SoupServer *server;
    GSocket *listening;
    GSocket *soup_end, *idle_end;   /* the socket pair that stands in for libsoup's own listener */
    GTlsCertificate *cert;
    CvHttpListenLimits limits;
    GSource *accept_source;         /* NULL while paused */
    guint backoff_ms;               /* > 0: accept failed for want of descriptors */
    guint resume_id, sweep_id;
    gulong started_id;
    GHashTable *conns;              /* Conn set */
    GHashTable *per_client;         /* address text -> open connections (GUINT_TO_POINTER) */
};

/* One accepted connection; it lives as long as its socket (data on it), and its remote address, which
 * libsoup hands to each request, points to it meanwhile. The socket caches that address: a reference
 * from here to the socket would make a cycle and keep both forever. */
typedef struct {
    CvHttpListener *l;   /* NULL once the listener is gone */
    GSocket *socket;     /* not a reference */
    GSocketAddress *remote;
    char *client;
    gint64 deadline;     /* monotonic µs; 0: none (a request being served) */
} Conn;

static void accept_start(CvHttpListener *l);

void
cv_http_listen_tls_init(void)
{
    g_setenv("G_TLS_GNUTLS_PRIORITY", "NORMAL:%COMPAT:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1", FALSE);
}

static void
conn_free(gpointer data)
{
    Conn *c = data;
    CvHttpListener *l = c->l;

    if (l) {
        guint n = GPOINTER_TO_UINT(g_hash_table_lookup(l->per_client, c->client));
        if (n > 1)
            g_hash_table_insert(l->per_client, g_strdup(c->client), GUINT_TO_POINTER(n - 1));
        else
            g_hash_table_remove(l->per_client, c->client);
        g_hash_table_remove(l->conns, c);
        /* paused at max_conns: there is room again */
        if (!l->accept_source && !l->backoff_ms)
            accept_start(l);
    }
    g_object_set_data(G_OBJECT(c->remote), "cv-http-conn", NULL);
    g_object_unref(c->remote);
    g_free(c->client);
    g_free(c);
}

static void
conn_wait(Conn *c, guint seconds)
{
    if (c)
        c->deadline = seconds ? g_get_monotonic_time() + (gint64)seconds * G_USEC_PER_SEC : 0;
}

static Conn *
conn_of(SoupServerMessage *msg)
{
    GSocketAddress *remote = soup_server_message_get_remote_address(msg);
    Conn *c = remote ? g_object_get_data(G_OBJECT(remote), "cv-http-conn") : NULL;

    return c && c->l ? c : NULL;
}

static void
on_io(SoupServerMessage *msg)
{
    Conn *c = conn_of(msg);

    conn_wait(c, c ? c->l->limits.io_timeout_s : 0);
}

static void
on_got_body(SoupServerMessage *msg)
{
    conn_wait(conn_of(msg), 0);
}

static void
on_finished(SoupServerMessage *msg)
{
    Conn *c = conn_of(msg);

    conn_wait(c, c ? c->l->limits.header_timeout_s : 0);
}

static void
on_request_started(SoupServer *server, SoupServerMessage *msg, gpointer data)
{
    g_signal_connect(msg, "got-headers", G_CALLBACK(on_io), NULL);
    g_signal_connect(msg, "got-chunk", G_CALLBACK(on_io), NULL);
    g_signal_connect(msg, "got-body", G_CALLBACK(on_got_body), NULL);
    g_signal_connect(msg, "wrote-headers", G_CALLBACK(on_io), NULL);
    g_signal_connect(msg, "wrote-body-data", G_CALLBACK(on_io), NULL);
    g_signal_connect(msg, "finished", G_CALLBACK(on_finished), NULL);
}

/* Once a second: a connection past its deadline is shut down; libsoup (or the handshake) sees the end
 * of the stream and lets it go, and with it whatever its request held. */
static gboolean
sweep(gpointer data)
{
    CvHttpListener *l = data;
    gint64 now = g_get_monotonic_time();
    GHashTableIter it;
    Conn *c;

    g_hash_table_iter_init(&it, l->conns);
    while (g_hash_table_iter_next(&it, (gpointer *)&c, NULL)) {
        if (c->deadline && now > c->deadline) {
            g_info("closing the connection of %s: no progress within its timeout", c->client);
            c->deadline = 0;
            g_socket_shutdown(c->socket, TRUE, TRUE, NULL);
        }
    }
    return G_SOURCE_CONTINUE;
}

static void
hand_to_soup(CvHttpListener *l, GIOStream *stream, GSocketAddress *remote)
{
    g_autoptr(GSocketAddress) local = g_socket_get_local_address(l->listening, NULL);

    if (local)
        soup_server_accept_iostream(l->server, stream, local, remote, NULL);
}

static void
handshake_done(GObject *source, GAsyncResult *res, gpointer data)
{
    g_autoptr(GSocketAddress) remote = data;
    g_autoptr(GTlsConnection) tls = G_TLS_CONNECTION(source);
    Conn *c = g_object_get_data(G_OBJECT(remote), "cv-http-conn");
    g_autoptr(GError) error = NULL;

    if (!g_tls_connection_handshake_finish(tls, res, &error))
        g_info("TLS handshake with %s failed: %s", c->client, error->message);
    else if (g_tls_connection_get_protocol_version(tls) < G_TLS_PROTOCOL_VERSION_TLS_1_2)
        g_info("TLS handshake with %s refused: older than TLS 1.2", c->client);
    else if (c->l)
        hand_to_soup(c->l, G_IO_STREAM(tls), remote);
}

/* The address a connection is counted under: an IPv4 client of a dual-stack socket as IPv4. */
static char *
client_name(GSocketAddress *remote)
{
    GInetAddress *a = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(remote));
    const guint8 *b = g_inet_address_to_bytes(a);

    if (g_inet_address_get_family(a) == G_SOCKET_FAMILY_IPV6 && g_inet_address_get_native_size(a) == 16 &&
        memcmp(b, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)
        return g_strdup_printf("%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
    return g_inet_address_to_string(a);
}

static gboolean
start_tls(GSocket *sock, GIOCondition cond, gpointer data)
{
    GSocketAddress *remote = data;
    Conn *c = g_object_get_data(G_OBJECT(remote), "cv-http-conn");
    g_autoptr(GSocketConnection) stream = NULL;
    g_autoptr(GError) error = NULL;
    GIOStream *tls;

    /* gone before saying anything (or shut down by the sweep): not worth a TLS connection, which costs */
    if (!c->l || !(cond & G_IO_IN) || (cond & (G_IO_HUP | G_IO_ERR)))
        return G_SOURCE_REMOVE;
    stream = g_socket_connection_factory_create_connection(sock);
    /* no CA database: no client certificate is asked for, and glib-networking would otherwise load the
     * system's CA list for every connection (0.8 s each under AddressSanitizer) */
    tls = g_initable_new(g_tls_backend_get_server_connection_type(g_tls_backend_get_default()), NULL, &error,
                         "base-io-stream", stream, "certificate", c->l->cert, "database", NULL, NULL);
    if (!tls) {
        g_warning("TLS: %s", error->message);
        return G_SOURCE_REMOVE;
    }
    g_object_set(tls, "require-close-notify", FALSE, NULL);
    g_tls_connection_handshake_async(G_TLS_CONNECTION(tls), G_PRIORITY_DEFAULT, NULL, handshake_done,
                                     g_object_ref(remote));
    return G_SOURCE_REMOVE;
}

static void
serve(CvHttpListener *l, GSocket *sock)
{
    g_autoptr(GSocketAddress) remote = g_socket_get_remote_address(sock, NULL);
    g_autoptr(GSocketConnection) stream = NULL;
    g_autoptr(GSource) hello = NULL;
    g_autofree char *client = NULL;
    guint mine;
    Conn *c;

    if (!remote || !G_IS_INET_SOCKET_ADDRESS(remote))
        return;
    client = client_name(remote);
    mine = GPOINTER_TO_UINT(g_hash_table_lookup(l->per_client, client));
    if (mine >= l->limits.max_conns_per_client) {
        g_debug("connection from %s closed: it has %u open", client, mine);
        return;
    }
    c = g_new0(Conn, 1);
    c->l = l;
    c->socket = sock;
    c->remote = g_object_ref(remote);
    c->client = g_steal_pointer(&client);
    conn_wait(c, l->limits.header_timeout_s);
    g_hash_table_add(l->conns, c);
    g_hash_table_insert(l->per_client, g_strdup(c->client), GUINT_TO_POINTER(mine + 1));
    g_object_set_data_full(G_OBJECT(sock), "cv-http-conn", c, conn_free);
    g_object_set_data(G_OBJECT(remote), "cv-http-conn", c);
    g_socket_set_option(sock, IPPROTO_TCP, TCP_NODELAY, TRUE, NULL);
    if (!l->cert) {
        stream = g_socket_connection_factory_create_connection(sock);
        hand_to_soup(l, G_IO_STREAM(stream), remote);
        return;
    }
    /* glib-networking's handshake waits for the client on one of GIO's worker threads: a client that
     * connects and says nothing must not hold one, so the handshake starts once its first bytes are in */
    hello = g_socket_create_source(sock, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
    g_source_set_callback(hello, G_SOURCE_FUNC(start_tls), g_steal_pointer(&remote), g_object_unref);
    g_source_attach(hello, NULL);
}

static gboolean
on_resume(gpointer data)
{
    CvHttpListener *l = data;

    l->resume_id = 0;
    accept_start(l);
    return G_SOURCE_REMOVE;
}

/* Stops polling the listening socket, which would wake us at once, forever: out of descriptors, accept
 * is tried again after a growing pause (connections that end or time out meanwhile give some back); at
 * max_conns, as soon as one closes. */
static void
accept_pause(CvHttpListener *l, const GError *error)
{
    g_source_destroy(l->accept_source);
    g_clear_pointer(&l->accept_source, g_source_unref);
    if (!error)
        return;
    l->backoff_ms = CLAMP(l->backoff_ms * 2, BACKOFF_FIRST_MS, BACKOFF_MAX_MS);
    g_warning("cannot accept connections (%s; %u open): trying again in %u ms", error->message,
              g_hash_table_size(l->conns), l->backoff_ms);
    l->resume_id = g_timeout_add(l->backoff_ms, on_resume, l);
}

static gboolean
on_incoming(GSocket *listening, GIOCondition cond, gpointer data)
{
    CvHttpListener *l = data;

    for (guint i = 0; i < ACCEPT_BATCH; i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GSocket) sock = NULL;

        if (g_hash_table_size(l->conns) >= l->limits.max_conns) {
            g_debug("%u connections open: accepting again when one closes", g_hash_table_size(l->conns));
            accept_pause(l, NULL);
            return G_SOURCE_REMOVE;
        }
        sock = g_socket_accept(listening, NULL, &error);
        if (sock) {
            if (l->backoff_ms)
                g_info("accepting connections again (%u open)", g_hash_table_size(l->conns));
            l->backoff_ms = 0;
            serve(l, sock);
        } else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
            break;
        } else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES) ||
                   g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE) || error->code == G_IO_ERROR_FAILED) {
            /* EMFILE, ENFILE, ENOBUFS, ENOMEM */
            accept_pause(l, error);
            return G_SOURCE_REMOVE;
        } else {
            g_debug("accept: %s", error->message);   /* a client that left before it was accepted */
        }
    }
    return G_SOURCE_CONTINUE;
}

static void
accept_start(CvHttpListener *l)
{
    if (l->accept_source || l->resume_id)
        return;
    l->accept_source = g_socket_create_source(l->listening, G_IO_IN, NULL);
    g_source_set_callback(l->accept_source, G_SOURCE_FUNC(on_incoming), l, NULL);
    g_source_attach(l->accept_source, NULL);
}

/* libsoup keeps a connection alive after an answer only while it has a listener of its own: it gets one
 * end of a socket pair, on which no one can connect. */
static gboolean
give_soup_a_listener(CvHttpListener *l, GError **error)
{
    int fds[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "socketpair: %s", g_strerror(errno));
        return FALSE;
    }
    l->soup_end = g_socket_new_from_fd(fds[0], NULL);
    l->idle_end = g_socket_new_from_fd(fds[1], NULL);
    if (!l->soup_end || !l->idle_end) {
        if (!l->soup_end)
            close(fds[0]);
        if (!l->idle_end)
            close(fds[1]);
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot wrap a socket pair");
        return FALSE;
    }
    return soup_server_listen_socket(l->server, l->soup_end, 0, error);
}

/* Each connection takes a descriptor and its requests may take more (an upload's file): when the limit
 * would run out first, accept fails with EMFILE and backs off instead of waiting at max_conns. */
static void
warn_descriptors(const CvHttpListenLimits *lim)
{
    struct rlimit r;

    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur != RLIM_INFINITY && r.rlim_cur < (rlim_t)lim->max_conns + 64)
        g_warning("%u connections are allowed, but the descriptor limit is %lu", lim->max_conns,
                  (unsigned long)r.rlim_cur);
}

CvHttpListener *
cv_http_listener_new(SoupServer *server, GSocket *listening, GTlsCertificate *cert,
                     const CvHttpListenLimits *limits, GError **error)
{
    g_autoptr(CvHttpListener) l = g_new0(CvHttpListener, 1);
    static const CvHttpListenLimits defaults = CV_HTTP_LISTEN_LIMITS_DEFAULT;

    l->server = server;
    l->listening = g_object_ref(listening);
    l->cert = cert ? g_object_ref(cert) : NULL;
    l->limits = limits ? *limits : defaults;
    warn_descriptors(&l->limits);
    l->conns = g_hash_table_new(g_direct_hash, g_direct_equal);
    l->per_client = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    if (!give_soup_a_listener(l, error))
        return NULL;
    g_socket_set_blocking(listening, FALSE);
    l->started_id = g_signal_connect(server, "request-started", G_CALLBACK(on_request_started), NULL);
    l->sweep_id = g_timeout_add_seconds(1, sweep, l);
    accept_start(l);
    return g_steal_pointer(&l);
}

void
cv_http_listener_free(CvHttpListener *l)
{
    GHashTableIter it;
    Conn *c;

    if (!l)
        return;
    if (l->accept_source)
        g_source_destroy(l->accept_source);
    g_clear_pointer(&l->accept_source, g_source_unref);
    g_clear_handle_id(&l->resume_id, g_source_remove);
    g_clear_handle_id(&l->sweep_id, g_source_remove);
    g_clear_signal_handler(&l->started_id, l->server);
    /* connections libsoup still holds may outlive the listener */
    g_hash_table_iter_init(&it, l->conns);
    while (g_hash_table_iter_next(&it, (gpointer *)&c, NULL))
        c->l = NULL;
    g_hash_table_unref(l->conns);
    g_hash_table_unref(l->per_client);
    g_clear_object(&l->listening);
    g_clear_object(&l->soup_end);
    g_clear_object(&l->idle_end);
    g_clear_object(&l->cert);
    g_free(l);
}

guint
cv_http_listener_port(CvHttpListener *l)
{
    g_autoptr(GSocketAddress) a = g_socket_get_local_address(l->listening, NULL);

    return a && G_IS_INET_SOCKET_ADDRESS(a) ? g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(a)) : 0;
}

static GSocket *
listen_on(GInetAddress *ia, guint port, GError **error)
{
    g_autoptr(GSocket) s = g_socket_new(g_inet_address_get_family(ia), G_SOCKET_TYPE_STREAM,
                                        G_SOCKET_PROTOCOL_TCP, error);
    g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(ia, port);

    if (!s)
        return NULL;
    /* every address: one socket for IPv6 and IPv4 */
    if (g_inet_address_get_family(ia) == G_SOCKET_FAMILY_IPV6 && g_inet_address_get_is_any(ia))
        g_socket_set_option(s, IPPROTO_IPV6, IPV6_V6ONLY, FALSE, NULL);
    /* GLib's default of 10 drops connections while accept is paused */
    g_socket_set_listen_backlog(s, 128);
    if (!g_socket_bind(s, addr, TRUE, error) || !g_socket_listen(s, error))
        return NULL;
    return g_steal_pointer(&s);
}

GSocket *
cv_http_listen_socket(const char *address, guint port, GError **error)
{
    g_autoptr(GInetAddress) ia = address ? g_inet_address_new_from_string(address) : NULL;
    g_autoptr(GError) local = NULL;
    GSocket *s;

    if (address && !ia) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "'%s' is not an IP address", address);
        return NULL;
    }
    if (ia) {
        s = listen_on(ia, port, &local);
    } else {
        g_autoptr(GInetAddress) any6 = g_inet_address_new_any(G_SOCKET_FAMILY_IPV6);
        g_autoptr(GInetAddress) any4 = g_inet_address_new_any(G_SOCKET_FAMILY_IPV4);
        /* a kernel without IPv6: IPv4 only */
        if (!(s = listen_on(any6, port, NULL)))
            s = listen_on(any4, port, &local);
    }
    if (!s)
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot listen on port %u: %s", port, local->message);
    return s;
}
