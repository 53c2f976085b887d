/* Event streams (Server-Sent Events): a CVM's history, then its live events. A client that stops
 * reading is dropped once MANAGER_HTTP_STREAM_QUEUE bytes wait for it, so it cannot make the manager
 * keep what it does not read. */
#include <string.h>
#include "http-priv.h"
#include "cv-http.h"
#include "cv-util.h"

#define CV_MGR_MAX_STREAMS 256
/* a dropped client gets this long to read what was queued and the reason */
#define DROP_GRACE_S 5

typedef struct {
    CvMgrHttpApi *api;
    SoupServerMessage *msg;
    char *cvm_id;
    guint token;
    gsize queued;        /* appended, not yet written */
    gboolean done;
} SseStream;

static void sse_drop(SseStream *s);

static void
sse_queue(SseStream *s, char *text, gsize len)
{
    soup_message_body_append(soup_server_message_get_response_body(s->msg), SOUP_MEMORY_TAKE, text, len);
    s->queued += len;
    if (!s->done && s->queued > s->api->config->stream_queue_max)
        sse_drop(s);
}

static void
sse_append(SseStream *s, const char *cvm_id, const CvMgrEvent *ev)
{
    g_autofree char *json = cv_mgr_event_to_json(ev, cvm_id);
    char *chunk = g_strdup_printf("id: %" G_GUINT64_FORMAT "\nevent: %s\ndata: %s\n\n", ev->seq, ev->kind, json);

    sse_queue(s, chunk, strlen(chunk));
}

static void
sse_end(SseStream *s)
{
    if (s->done)
        return;
    s->done = TRUE;
    if (s->token)
        cv_mgr_registry_unsubscribe(s->api->registry, s->token);
    s->token = 0;
    soup_message_body_complete(soup_server_message_get_response_body(s->msg));
    soup_server_message_unpause(s->msg);
}

static void
sse_drop(SseStream *s)
{
    g_autofree char *why = g_strdup_printf(": dropped: %" G_GSIZE_FORMAT " bytes of events were not read "
                                           "(MANAGER_HTTP_STREAM_QUEUE)\n\n", s->queued);

    g_warning("event stream of %s to %s dropped: the client left %" G_GSIZE_FORMAT " bytes unread", s->cvm_id,
              soup_server_message_get_remote_host(s->msg), s->queued);
    s->done = TRUE;   /* no further events, and no recursion from sse_queue */
    sse_queue(s, g_steal_pointer(&why), strlen(why));
    s->done = FALSE;
    sse_end(s);
    /* what is queued goes with the connection if the client does not take it */
    cv_mgr_http_conn_close_after(s->msg, DROP_GRACE_S);
}

static void
sse_on_event(const char *cvm_id, const CvMgrEvent *ev, gboolean last, gpointer data)
{
    SseStream *s = data;

    if (s->done)
        return;
    sse_append(s, cvm_id, ev);
    if (last) {
        s->token = 0;   /* the registry drops the subscription itself */
        sse_end(s);
        return;
    }
    soup_server_message_unpause(s->msg);
}

static void
sse_on_wrote(SoupServerMessage *msg, guint n, gpointer data)
{
    SseStream *s = data;

    s->queued -= MIN(s->queued, n);
}

static void
sse_free(SseStream *s)
{
    g_object_unref(s->msg);
    g_free(s->cvm_id);
    g_free(s);
}

static void
sse_on_finished(SoupServerMessage *msg, gpointer data)
{
    SseStream *s = data;

    if (s->token)
        cv_mgr_registry_unsubscribe(s->api->registry, s->token);
    s->token = 0;
    g_signal_handlers_disconnect_by_data(msg, s);
    g_hash_table_remove(s->api->streams, s);
    sse_free(s);
}

gboolean
cv_mgr_http_stream_keepalive(gpointer data)
{
    CvMgrHttpApi *api = data;
    g_autoptr(GList) streams = g_hash_table_get_keys(api->streams);

    /* a comment line: proxies keep the stream open and dead clients are found by the write */
    for (GList *l = streams; l; l = l->next) {
        SseStream *s = l->data;

        if (s->done)
            continue;
        sse_queue(s, g_strdup(": keepalive\n\n"), 13);
        soup_server_message_unpause(s->msg);
    }
    return G_SOURCE_CONTINUE;
}

void
cv_mgr_http_stream_events(CvMgrHttpApi *api, SoupServerMessage *msg, CvMgrCvm *cvm, GHashTable *query)
{
    CvMgrHttpRequest *rq = cv_mgr_http_request_of(msg);
    SoupMessageHeaders *rh = soup_server_message_get_response_headers(msg);
    const char *last_id = soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Last-Event-ID");
    const char *follow = query ? g_hash_table_lookup(query, "follow") : NULL;
    gboolean no_follow = follow && (strcmp(follow, "0") == 0 || strcmp(follow, "false") == 0);
    guint64 after = 0;
    SseStream *s;

    /* each follower holds a connection and a subscription: bounded */
    if (!no_follow && g_hash_table_size(api->streams) >= CV_MGR_MAX_STREAMS) {
        cv_http_respond_error(msg, 503, "unavailable", "too many event streams are open");
        return;
    }
    if (last_id && !cv_parse_uint(last_id, 0, G_MAXUINT64, &after, NULL))
        after = 0;
    rq->is_stream = TRUE;
    soup_server_message_set_status(msg, 200, NULL);
    soup_message_headers_set_content_type(rh, "text/event-stream", NULL);
    soup_message_headers_replace(rh, "Cache-Control", "no-cache");
    soup_message_headers_set_encoding(rh, SOUP_ENCODING_CHUNKED);
    /* what was written is freed, not kept for the stream's lifetime */
    soup_message_body_set_accumulate(soup_server_message_get_response_body(msg), FALSE);
    s = g_new0(SseStream, 1);
    s->api = api;
    s->msg = g_object_ref(msg);
    s->cvm_id = g_strdup(cvm->id);
    g_signal_connect(msg, "wrote-body-data", G_CALLBACK(sse_on_wrote), s);
    /* a late client gets the recent history first */
    for (const CvMgrEvent *ev = cvm->events; ev; ev = ev->next)
        if (ev->seq > after)
            sse_append(s, cvm->id, ev);
    if (no_follow || api->stopping || s->done) {
        if (!s->done)
            soup_message_body_complete(soup_server_message_get_response_body(msg));
        g_signal_handlers_disconnect_by_data(msg, s);
        sse_free(s);
        return;
    }
    s->token = cv_mgr_registry_subscribe(api->registry, cvm->id, sse_on_event, s);
    g_hash_table_add(api->streams, s);
    g_signal_connect(msg, "finished", G_CALLBACK(sse_on_finished), s);
}

void
cv_mgr_http_streams_end(CvMgrHttpApi *api)
{
    g_autoptr(GList) streams = g_hash_table_get_keys(api->streams);

    for (GList *l = streams; l; l = l->next)
        sse_end(l->data);
}
