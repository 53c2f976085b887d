/* Accepting a SoupServer's connections ourselves, for both servers (the manager's API, the agent's
 * HTTPS front): libsoup's own listener drops its accept source for good on EMFILE (the server then
 * answers nothing, silently) and knows no connection bound or timeout. Here accept backs off and resumes,
 * connections are bounded in all and per client address, a connection is closed when it waits too long
 * for a request's headers or goes quiet while a request is read or answered, and TLS (1.2 at least) is
 * set up before libsoup sees the stream. */
#pragma once
#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct {
    guint max_conns;             /* open connections at once, all clients; more wait in the backlog */
    guint max_conns_per_client;  /* from one address; more are closed at once */
    guint header_timeout_s;      /* from accept (TLS handshake included) or the end of the last answer until
                                  * the next request's headers are in */
    guint io_timeout_s;          /* without a byte in or out while a request's body is read or its answer
                                  * written (a stalled upload, a body shorter than its Content-Length) */
} CvHttpListenLimits;

/* 512 connections, 64 per client, 30 s for headers, 60 s of silence. */
#define CV_HTTP_LISTEN_LIMITS_DEFAULT { 512, 64, 30, 60 }

typedef struct _CvHttpListener CvHttpListener;

/* Restricts glib-networking's GnuTLS to TLS 1.2 and later (G_TLS_GNUTLS_PRIORITY, unless already set):
 * call before the process makes its first TLS connection, client or server. The listener refuses an
 * older handshake either way. */
void cv_http_listen_tls_init(void);

/* A TCP socket listening on address (NULL: every address, IPv6 and IPv4) and port (0: any free one). */
GSocket *cv_http_listen_socket(const char *address, guint port, GError **error);

/* Serves server's connections from listening (bound and listening; the listener keeps a reference),
 * over TLS with cert when it is not NULL. server must not listen itself, and outlive the listener. */
CvHttpListener *cv_http_listener_new(SoupServer *server, GSocket *listening, GTlsCertificate *cert,
                                     const CvHttpListenLimits *limits, GError **error);
void cv_http_listener_free(CvHttpListener *l);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvHttpListener, cv_http_listener_free)

/* The bound port. */
guint cv_http_listener_port(CvHttpListener *l);

G_END_DECLS
