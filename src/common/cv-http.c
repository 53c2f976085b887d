#include "cv-http.h"
#include "cv-error.h"
#include "cv-util.h"

#include <string.h>

void
cv_http_respond_json(SoupServerMessage *msg, guint status, JsonNode *node)
{
    g_autofree char *text = cv_json_to_string(node, FALSE);
    gsize len = strlen(text);

    soup_server_message_set_status(msg, status, NULL);
    /* every 503 is a passing state (busy, libvirt away, stopping): say when to come back */
    if (status == SOUP_STATUS_SERVICE_UNAVAILABLE)
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Retry-After",
                                     G_STRINGIFY(CV_HTTP_RETRY_AFTER_S));
    soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE, g_steal_pointer(&text), len);
}

void
cv_http_respond_error(SoupServerMessage *msg, guint status, const char *code, const char *message)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "error");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "code");
    json_builder_add_string_value(b, code);
    json_builder_set_member_name(b, "message");
    json_builder_add_string_value(b, message);
    json_builder_end_object(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    cv_http_respond_json(msg, status, root);
}

void
cv_http_respond_gerror(SoupServerMessage *msg, const GError *error)
{
    cv_http_respond_error(msg, cv_error_http_status(error), cv_error_code_name(error), error->message);
}

/* ---- libsoup's own answers ---- */

#define PARSED_KEY "cv-http-head-parsed"

static void
respond_refusal(SoupServerMessage *msg, guint status)
{
    static const struct {
        guint status;
        const char *code, *message;
    } refusals[] = {
        { SOUP_STATUS_BAD_REQUEST, "invalid", "malformed HTTP request" },
        { SOUP_STATUS_NOT_FOUND, "not_found", "no such route" },
        { SOUP_STATUS_NOT_IMPLEMENTED, "not_supported", "unsupported Transfer-Encoding" },
        { SOUP_STATUS_HTTP_VERSION_NOT_SUPPORTED, "not_supported", "unsupported HTTP version" },
    };
    g_autoptr(GError) e = NULL;

    for (guint i = 0; i < G_N_ELEMENTS(refusals); i++)
        if (refusals[i].status == status) {
            cv_http_respond_error(msg, status, refusals[i].code, refusals[i].message);
            return;
        }
    e = g_error_new_literal(CV_ERROR, cv_error_code_from_http_status(status, CV_ERROR_INVALID), "");
    cv_http_respond_error(msg, status, cv_error_code_name(e), soup_status_get_phrase(status));
}

static gboolean
answered(SoupServerMessage *msg)
{
    SoupMessageBody *body = soup_server_message_get_response_body(msg);

    return body->length > 0 || soup_message_headers_get_content_type(soup_server_message_get_response_headers(msg),
                                                                      NULL);
}

/* after libsoup's own got-headers (which may refuse the head, or run an early handler that answers) */
static void
on_got_headers(SoupServerMessage *msg, gpointer data)
{
    SoupMessageHeaders *out = soup_server_message_get_response_headers(msg);
    guint status = soup_server_message_get_status(msg);

    if (status != 0 && soup_server_message_get_response_body(msg)->length == 0)
        return;   /* refused by libsoup: on_wrote_headers writes the body */
    g_object_set_data(G_OBJECT(msg), PARSED_KEY, GINT_TO_POINTER(1));
    if (status == 0)
        soup_message_headers_remove(out, "Content-Type");
    soup_message_headers_set_encoding(out, SOUP_ENCODING_CONTENT_LENGTH);
}

/* after libsoup's got-body, which calls the handler, or answers 404 itself when none covers the path */
static void
on_got_body(SoupServerMessage *msg, gpointer data)
{
    guint status = soup_server_message_get_status(msg);

    if (status >= 400 && !answered(msg))
        respond_refusal(msg, status);
}

/* a head libsoup refused: no handler ran, and the status is known only now that the head is out; the body
 * ends with the connection */
static void
on_wrote_headers(SoupServerMessage *msg, gpointer data)
{
    if (g_object_get_data(G_OBJECT(msg), PARSED_KEY))
        return;
    respond_refusal(msg, soup_server_message_get_status(msg));
    soup_message_body_complete(soup_server_message_get_response_body(msg));
}

static void
on_request_started(SoupServer *server, SoupServerMessage *msg, gpointer data)
{
    SoupMessageHeaders *out = soup_server_message_get_response_headers(msg);

    /* for a refusal written before any handler runs; undone once the head parsed */
    soup_message_headers_replace(out, "Content-Type", "application/json");
    soup_message_headers_set_encoding(out, SOUP_ENCODING_EOF);
    g_signal_connect(msg, "got-headers", G_CALLBACK(on_got_headers), NULL);
    g_signal_connect(msg, "got-body", G_CALLBACK(on_got_body), NULL);
    g_signal_connect(msg, "wrote-headers", G_CALLBACK(on_wrote_headers), NULL);
}

void
cv_http_server_json_errors(SoupServer *server)
{
    g_signal_connect(server, "request-started", G_CALLBACK(on_request_started), NULL);
}
