/* What the files of the manager's HTTP server share: http-api.c (routes), http-guard.c (who may ask:
 * Host, Content-Type, tokens, client certificates), http-listener.c (accepting connections, their
 * limits and timeouts) and http-stream.c (event streams). */
#pragma once
#include <libsoup/soup.h>
#include "http-api.h"

struct _CvMgrHttpApi {
    CvMgrRegistry *registry;
    CvMgrMetrics *metrics;
    const CvMgrConfig *config;
    SoupServer *server;
    GTlsCertificate *cert;
    GTlsDatabase *client_ca;
    GPtrArray *tokens;       /* GBytes: SHA-256 of each bearer token */
    char **allowed_hosts;    /* Host header values accepted (no port), lower case */
    guint port;
    char *url;
    guint in_flight;
    gboolean stopping;
    GHashTable *streams;     /* SseStream set (http-stream.c) */
    guint keepalive_source;
    /* http-listener.c */
    GSocket *socket;
    GSocket *soup_peer;
    GSource *accept_source;
    guint accept_backoff_ms;
    guint resume_source;
    guint sweep_source;
    GHashTable *conns;       /* CvMgrHttpConn set */
    GHashTable *per_client;  /* client address text -> open connections */
};

/* per request, attached to the SoupServerMessage */
typedef struct {
    gint64 start_us;
    GByteArray *body;
    gsize received;
    gboolean too_large;
    gboolean counted;
    gboolean is_stream;
    gboolean finished;
    const char *route;       /* the route table's template for the metrics; NULL: no route */
    guint refused;           /* a status decided from the headers (401, 415, 421), 0: none */
    const char *refused_code;
    const char *refused_message;
} CvMgrHttpRequest;

CvMgrHttpRequest *cv_mgr_http_request_of(SoupServerMessage *msg);

/* http-guard.c. Loads the token file and checks the certificate against its key. */
gboolean cv_mgr_http_guard_init(CvMgrHttpApi *api, GError **error);
/* Once the listen address is known: refuses an open API off loopback, warns on loopback; fills
 * allowed_hosts. */
gboolean cv_mgr_http_guard_check_exposure(CvMgrHttpApi *api, GInetAddress *addr, GError **error);
/* From the request's headers: sets rq->refused when Host, Content-Type or the token is wrong. */
void cv_mgr_http_guard_request(CvMgrHttpApi *api, SoupServerMessage *msg, CvMgrHttpRequest *rq);
/* A client certificate is accepted only for clientAuth (its extended key usage). */
gboolean cv_mgr_http_guard_client_cert(GTlsCertificate *peer);

/* http-listener.c: accepts on api->socket (already listening) */
gboolean cv_mgr_http_listener_start(CvMgrHttpApi *api, GError **error);
void cv_mgr_http_listener_stop(CvMgrHttpApi *api);
void cv_mgr_http_listener_free(CvMgrHttpApi *api);
/* the connection's deadline: waiting for headers (idle), for the body, or none while the request is
 * served */
void cv_mgr_http_conn_await_request(SoupServerMessage *msg);
void cv_mgr_http_conn_await_body(SoupServerMessage *msg);
void cv_mgr_http_conn_serving(SoupServerMessage *msg);
/* closes the connection in `seconds` unless it ended before */
void cv_mgr_http_conn_close_after(SoupServerMessage *msg, guint seconds);

/* http-stream.c */
void cv_mgr_http_stream_events(CvMgrHttpApi *api, SoupServerMessage *msg, CvMgrCvm *cvm, GHashTable *query);
gboolean cv_mgr_http_stream_keepalive(gpointer api);
void cv_mgr_http_streams_end(CvMgrHttpApi *api);
