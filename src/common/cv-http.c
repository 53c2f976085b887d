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
