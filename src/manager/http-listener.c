/* Accepting the API's connections ourselves and handing them to libsoup: libsoup's own listener
 * drops its accept source for good on EMFILE, and knows no connection limit or timeout. Here accept
 * backs off and resumes, connections are bounded per server and per client address, a connection
 * waiting for headers or a body too long is closed, and TLS (1.2 at least, client certificates for
 * clientAuth) is set up before libsoup sees the stream. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include "http-priv.h"
#include "cv-http.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000

typedef struct {
    CvMgrHttpApi *api;
    GSocket *socket;
    char *client;           /* the peer's address, the per-client count's key */
    gint64 deadline;        /* monotonic µs, 0: none */
} CvMgrHttpConn;

static void accept_resume(CvMgrHttpApi *api);

static void
conn_free(gpointer p)
{
    CvMgrHttpConn *c = p;
    CvMgrHttpApi *api = c->api;   /* NULL: the server is gone */
    guint n = api ? GPOINTER_TO_UINT(g_hash_table_lookup(api->per_client, c->client)) : 0;

    if (api)
        g_hash_table_remove(api->conns, c);
    if (n > 1)
        g_hash_table_insert(api->per_client, g_strdup(c->client), GUINT_TO_POINTER(n - 1));
    else if (api)
        g_hash_table_remove(api->per_client, c->client);
    g_object_unref(c->socket);
    g_free(c->client);
    g_free(c);
}

static CvMgrHttpConn *
conn_of(SoupServerMessage *msg)
{
    GSocketAddress *addr = soup_server_message_get_remote_address(msg);

    return addr ? g_object_get_data(G_OBJECT(addr), "cv-conn") : NULL;
}

static void
conn_set_deadline(SoupServerMessage *msg, guint seconds)
{
    CvMgrHttpConn *c = conn_of(msg);

    if (c)
        c->deadline = seconds ? g_get_monotonic_time() + (gint64)seconds * G_USEC_PER_SEC : 0;
}

void
cv_mgr_http_conn_await_request(SoupServerMessage *msg)
{
    CvMgrHttpConn *c = conn_of(msg);

    if (c)
        conn_set_deadline(msg, c->api->config->idle_timeout_s);
}

void
cv_mgr_http_conn_await_body(SoupServerMessage *msg)
{
    CvMgrHttpConn *c = conn_of(msg);

    if (c)
        conn_set_deadline(msg, c->api->config->body_timeout_s);
}

void
cv_mgr_http_conn_serving(SoupServerMessage *msg)
{
    conn_set_deadline(msg, 0);
}

void
cv_mgr_http_conn_close_after(SoupServerMessage *msg, guint seconds)
{
    conn_set_deadline(msg, seconds);
}

/* once a second: a connection past its deadline is shut down; libsoup then sees EOF and lets it go */
static gboolean
sweep(gpointer data)
{
    CvMgrHttpApi *api = data;
    gint64 now = g_get_monotonic_time();
    GHashTableIter it;
    CvMgrHttpConn *c;

    g_hash_table_iter_init(&it, api->conns);
    while (g_hash_table_iter_next(&it, (gpointer *)&c, NULL)) {
        if (c->deadline && now > c->deadline) {
            g_debug("closing the connection of %s: timed out", c->client);
            c->deadline = 0;
            g_socket_shutdown(c->socket, TRUE, TRUE, NULL);
        }
    }
    return G_SOURCE_CONTINUE;
}

static void
hand_to_soup(CvMgrHttpApi *api, GIOStream *stream, GSocketAddress *remote)
{
    g_autoptr(GSocketAddress) local = g_socket_get_local_address(api->socket, NULL);

    if (local)
        soup_server_accept_iostream(api->server, stream, local, remote, NULL);
}

static gboolean
on_accept_certificate(GTlsConnection *tls, GTlsCertificate *peer, GTlsCertificateFlags errors, gpointer data)
{
    /* asked even for a certificate that verified against MANAGER_HTTP_CLIENT_CA_CERTS */
    if (errors != 0 || !cv_mgr_http_guard_client_cert(peer)) {
        g_info("TLS client certificate refused (verification flags 0x%x, or not for clientAuth)", (unsigned)errors);
        return FALSE;
    }
    return TRUE;
}

static void
handshake_done(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GSocketAddress) remote = data;
    GTlsConnection *tls = G_TLS_CONNECTION(src);
    CvMgrHttpConn *c = g_object_get_data(G_OBJECT(remote), "cv-conn");
    g_autoptr(GError) error = NULL;

    if (!g_tls_connection_handshake_finish(tls, res, &error)) {
        g_info("TLS handshake with %s failed: %s", c->client, error->message);
    } else if (g_tls_connection_get_protocol_version(tls) < G_TLS_PROTOCOL_VERSION_TLS_1_2) {
        g_info("TLS handshake with %s refused: older than TLS 1.2", c->client);
    } else if (c->api->client_ca && !cv_mgr_http_guard_client_cert(g_tls_connection_get_peer_certificate(tls))) {
        g_info("TLS client certificate of %s refused: not for clientAuth", c->client);
    } else {
        hand_to_soup(c->api, G_IO_STREAM(tls), remote);
    }
    g_object_unref(tls);
}

static void
start_tls(CvMgrHttpApi *api, GIOStream *plain, GSocketAddress *remote)
{
    g_autoptr(GError) error = NULL;
    GIOStream *tls = g_tls_server_connection_new(plain, api->cert, &error);

    if (!tls) {
        g_warning("TLS: %s", error->message);
        return;
    }
    g_object_set(tls, "require-close-notify", FALSE, NULL);
    if (api->client_ca) {
        /* no certificate, or one the CA did not sign: the handshake fails */
        g_object_set(tls, "database", api->client_ca, "authentication-mode", G_TLS_AUTHENTICATION_REQUIRED, NULL);
        g_signal_connect(tls, "accept-certificate", G_CALLBACK(on_accept_certificate), api);
    }
    g_tls_connection_handshake_async(G_TLS_CONNECTION(tls), G_PRIORITY_DEFAULT, NULL, handshake_done,
                                     g_object_ref(remote));
}

/* the per-server and per-client bounds; a refused plain-HTTP client is told why when the socket
 * takes it at once */
static gboolean
admit(CvMgrHttpApi *api, GSocket *sock, const char *client)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                               "Connection: close\r\nRetry-After: " G_STRINGIFY(CV_HTTP_RETRY_AFTER_S) "\r\n"
                               "Content-Length: 70\r\n\r\n"
                               "{\"error\":{\"code\":\"unavailable\",\"message\":\"too many open connections\"}}";
    guint mine = GPOINTER_TO_UINT(g_hash_table_lookup(api->per_client, client));

    if (g_hash_table_size(api->conns) < api->config->max_conns && mine < api->config->max_conns_per_client)
        return TRUE;
    g_debug("connection from %s refused: %u open, %u from it", client, g_hash_table_size(api->conns), mine);
    if (!api->cert) {
        g_socket_set_blocking(sock, FALSE);
        g_socket_send(sock, busy, sizeof(busy) - 1, NULL, NULL);
    }
    return FALSE;
}

static void
serve(CvMgrHttpApi *api, GSocket *sock)
{
    g_autoptr(GSocketAddress) remote = g_socket_get_remote_address(sock, NULL);
    g_autoptr(GSocketConnection) stream = NULL;
    g_autofree char *client = NULL;
    CvMgrHttpConn *c;

    if (!remote || !G_IS_INET_SOCKET_ADDRESS(remote))
        return;
    client = g_inet_address_to_string(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(remote)));
    if (!admit(api, sock, client))
        return;
    c = g_new0(CvMgrHttpConn, 1);
    c->api = api;
    c->socket = g_object_ref(sock);
    c->client = g_steal_pointer(&client);
    c->deadline = g_get_monotonic_time() + (gint64)api->config->idle_timeout_s * G_USEC_PER_SEC;
    g_hash_table_add(api->conns, c);
    g_hash_table_insert(api->per_client, g_strdup(c->client),
                        GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(api->per_client, c->client)) + 1));
    /* the connection lives as long as libsoup's, which holds this address */
    g_object_set_data_full(G_OBJECT(remote), "cv-conn", c, conn_free);
    g_socket_set_option(sock, IPPROTO_TCP, TCP_NODELAY, TRUE, NULL);
    stream = g_socket_connection_factory_create_connection(sock);
    if (api->cert)
        start_tls(api, G_IO_STREAM(stream), remote);
    else
        hand_to_soup(api, G_IO_STREAM(stream), remote);
}

static gboolean
on_resume(gpointer data)
{
    CvMgrHttpApi *api = data;

    api->resume_source = 0;
    accept_resume(api);
    return G_SOURCE_REMOVE;
}

/* out of descriptors: stop polling the listening socket (it would wake us at once, forever) and try
 * again later; connections that end or time out meanwhile give descriptors back */
static void
accept_pause(CvMgrHttpApi *api, const GError *error)
{
    if (api->accept_backoff_ms == 0)
        g_warning("cannot accept API connections (%s, %u open): pausing accept, retrying with backoff",
                  error->message, g_hash_table_size(api->conns));
    api->accept_backoff_ms = CLAMP(api->accept_backoff_ms * 2, BACKOFF_MIN_MS, BACKOFF_MAX_MS);
    g_debug("accept paused for %u ms", api->accept_backoff_ms);
    g_source_destroy(api->accept_source);
    g_clear_pointer(&api->accept_source, g_source_unref);
    api->resume_source = g_timeout_add(api->accept_backoff_ms, on_resume, api);
}

static gboolean
on_incoming(GSocket *listener, GIOCondition cond, gpointer data)
{
    CvMgrHttpApi *api = data;

    /* a bounded batch, so that a flood of connections does not starve the requests */
    for (int i = 0; i < 64; i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GSocket) sock = g_socket_accept(listener, NULL, &error);

        if (sock) {
            if (api->accept_backoff_ms)
                g_info("accepting API connections again (%u open)", g_hash_table_size(api->conns));
            api->accept_backoff_ms = 0;
            serve(api, sock);
            continue;
        }
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            break;
        /* out of descriptors or memory (and what GIO cannot name): not the client's doing */
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES) ||
            g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE) ||
            g_error_matches(error, G_IO_ERROR, G_IO_ERROR_FAILED)) {
            accept_pause(api, error);
            return G_SOURCE_REMOVE;
        }
        /* a client that went away before being accepted: its own problem */
        g_debug("accept: %s", error->message);
    }
    return G_SOURCE_CONTINUE;
}

static void
accept_resume(CvMgrHttpApi *api)
{
    if (api->stopping || api->accept_source)
        return;
    api->accept_source = g_socket_create_source(api->socket, G_IO_IN, NULL);
    g_source_set_callback(api->accept_source, G_SOURCE_FUNC(on_incoming), api, NULL);
    g_source_attach(api->accept_source, NULL);
}

/* libsoup keeps a connection alive after a response only while it has a listener of its own: it gets
 * one end of a socket pair, where no one can connect */
static gboolean
give_soup_a_listener(CvMgrHttpApi *api, GError **error)
{
    int fds[2];
    g_autoptr(GSocket) mine = NULL;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "socketpair: %s", g_strerror(errno));
        return FALSE;
    }
    mine = g_socket_new_from_fd(fds[0], error);
    if (!mine) {
        close(fds[0]);
        close(fds[1]);
        return FALSE;
    }
    api->soup_peer = g_socket_new_from_fd(fds[1], error);
    if (!api->soup_peer) {
        close(fds[1]);
        return FALSE;
    }
    return soup_server_listen_socket(api->server, mine, 0, error);
}

gboolean
cv_mgr_http_listener_start(CvMgrHttpApi *api, GError **error)
{
    struct rlimit rl;

    if (!give_soup_a_listener(api, error))
        return FALSE;
    /* libvirt, the control channels and the log files need descriptors too */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)api->config->max_conns + 64)
        g_warning("MANAGER_HTTP_MAX_CONNECTIONS %u is not under the descriptor limit %llu: accept will run "
                  "out of descriptors first (it recovers, but lower one or raise the other)",
                  api->config->max_conns, (unsigned long long)rl.rlim_cur);
    api->conns = g_hash_table_new(g_direct_hash, g_direct_equal);
    api->per_client = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_socket_set_blocking(api->socket, FALSE);
    accept_resume(api);
    api->sweep_source = g_timeout_add_seconds(1, sweep, api);
    return TRUE;
}

void
cv_mgr_http_listener_stop(CvMgrHttpApi *api)
{
    if (api->accept_source) {
        g_source_destroy(api->accept_source);
        g_clear_pointer(&api->accept_source, g_source_unref);
    }
    g_clear_handle_id(&api->resume_source, g_source_remove);
    if (api->socket)
        g_socket_close(api->socket, NULL);
}

void
cv_mgr_http_listener_free(CvMgrHttpApi *api)
{
    GHashTableIter it;
    CvMgrHttpConn *c;

    cv_mgr_http_listener_stop(api);
    g_clear_handle_id(&api->sweep_source, g_source_remove);
    g_clear_object(&api->socket);
    g_clear_object(&api->soup_peer);
    if (!api->conns)
        return;
    /* connections libsoup still holds outlive the server */
    g_hash_table_iter_init(&it, api->conns);
    while (g_hash_table_iter_next(&it, (gpointer *)&c, NULL))
        c->api = NULL;
    g_clear_pointer(&api->conns, g_hash_table_unref);
    g_clear_pointer(&api->per_client, g_hash_table_unref);
}
