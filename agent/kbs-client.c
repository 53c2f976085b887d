/* RCAR 0.4.0 over libsoup, as guest-components' client behaves (docs/remote-resources.md): a new key
 * and session per handshake, the whole handshake retried, a resource 401 answered by a new handshake. */
#include "kbs-client.h"
#include "cv-error.h"
#include "cv-file.h"
#include "cv-json.h"
#include "cv-util.h"

#include <string.h>
#include <libsoup/soup.h>

#define KBS_PROTOCOL_VERSION "0.4.0"
#define KBS_COOKIE "kbs-session-id"
#define KBS_REPLY_MAX (1u << 20)   /* a key in a JWE, or an error; Trustee caps requests at 2 MiB */
#define DETAIL_MAX 300

CV_ENUM_IMPL(cv_kbs_step, CvKbsStep, CV_KBS_STEP_COUNT, "auth", "attest", "resource", "decrypt", "hash");

typedef struct {
    const CvKbsConfig *config;
    SoupSession *session;
    CvKbsKey *key;
    char *cookie;
    char *token;
} Rcar;

static void
rcar_forget(Rcar *r)
{
    g_clear_pointer(&r->key, cv_kbs_key_free);
    g_clear_pointer(&r->cookie, g_free);
    g_clear_pointer(&r->token, g_free);
}

/* Trustee's error body {"type": ".../errors/<Variant>", "detail": "…"}, shortened and printable */
static char *
error_detail(GBytes *body)
{
    g_autoptr(JsonNode) node = body ? cv_json_parse(g_bytes_get_data(body, NULL), g_bytes_get_size(body), NULL) : NULL;
    JsonObject *obj = node && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
    const char *type = cv_json_member_string_or(obj, "type", "");
    const char *detail = cv_json_member_string_or(obj, "detail", "no detail");
    const char *variant = strrchr(type, '/');
    g_autofree char *text = g_strdup_printf("%s%s%s", variant ? variant + 1 : "", variant ? ": " : "", detail);

    if (strlen(text) > DETAIL_MAX)
        text[DETAIL_MAX] = '\0';
    for (char *p = text; *p; p++)
        if (!g_ascii_isprint(*p))
            *p = '?';
    return g_steal_pointer(&text);
}

static void
take_cookie(Rcar *r, SoupMessage *msg)
{
    GSList *cookies = soup_cookies_from_response(msg);

    for (GSList *l = cookies; l; l = l->next)
        if (strcmp(soup_cookie_get_name(l->data), KBS_COOKIE) == 0) {
            g_free(r->cookie);
            r->cookie = g_strdup(soup_cookie_get_value(l->data));
        }
    g_slist_free_full(cookies, (GDestroyNotify)soup_cookie_free);
}

/* One request under /kbs/v0/; the reply body (any status) with *status, or NULL on a transport error */
static GBytes *
exchange(Rcar *r, const char *method, const char *path, JsonNode *body, gboolean bearer, guint *status,
         GError **error)
{
    g_autofree char *url = g_strconcat(r->config->url, "/kbs/v0/", path, NULL);
    g_autoptr(SoupMessage) msg = soup_message_new(method, url);
    g_autoptr(GInputStream) in = NULL;
    SoupMessageHeaders *headers;
    GBytes *reply;

    if (!msg) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "not a usable KBS URL: %s", r->config->url);
        return NULL;
    }
    headers = soup_message_get_request_headers(msg);
    if (body) {
        g_autofree char *text = cv_json_to_string(body, FALSE);
        g_autoptr(GBytes) bytes = g_bytes_new_take(g_steal_pointer(&text), strlen(text));
        soup_message_set_request_body_from_bytes(msg, "application/json", bytes);
    }
    if (bearer && r->token) {
        g_autofree char *value = g_strconcat("Bearer ", r->token, NULL);
        soup_message_headers_replace(headers, "Authorization", value);
    } else if (r->cookie) {
        g_autofree char *value = g_strconcat(KBS_COOKIE "=", r->cookie, NULL);
        soup_message_headers_replace(headers, "Cookie", value);
    }
    if (!(in = soup_session_send(r->session, msg, NULL, error)) || !(reply = cv_stream_read_bounded(in, KBS_REPLY_MAX, "the KBS's reply", error)))
        return NULL;
    *status = soup_message_get_status(msg);
    take_cookie(r, msg);
    return reply;
}

static JsonNode *
request_message(const char *tee)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "version");
    json_builder_add_string_value(b, KBS_PROTOCOL_VERSION);
    json_builder_set_member_name(b, "tee");
    json_builder_add_string_value(b, tee);
    json_builder_set_member_name(b, "extra-params");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "supported-hash-algorithms");
    json_builder_begin_array(b);
    json_builder_add_string_value(b, "sha384");
    json_builder_end_array(b);
    json_builder_end_object(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

gboolean
cv_kbs_parse_challenge(const char *text, gsize len, char **nonce, GError **error)
{
    g_autoptr(JsonNode) node = cv_json_parse_object(text, len, "the challenge", error);
    JsonObject *obj;
    JsonNode *extra;
    const char *value = NULL, *hash = NULL;

    if (!node)
        return FALSE;
    obj = json_node_get_object(node);
    if (!cv_json_member_string(obj, "nonce", TRUE, &value, error))
        return FALSE;
    extra = json_object_get_member(obj, "extra-params");
    /* Trustee sends "" (every tee but se); its documentation shows an object: both are taken */
    if (extra && JSON_NODE_HOLDS_OBJECT(extra)) {
        if (!cv_json_member_string(json_node_get_object(extra), "selected-hash-algorithm", FALSE, &hash, error))
            return FALSE;
        if (hash && strcmp(hash, "sha384") != 0) {
            g_set_error(error, CV_ERROR, CV_ERROR_NOT_SUPPORTED, "the KBS selected hash %s; only sha384 is done here",
                        hash);
            return FALSE;
        }
    } else if (extra && !JSON_NODE_HOLDS_NULL(extra) && !(JSON_NODE_HOLDS_VALUE(extra) &&
                                                          json_node_get_value_type(extra) == G_TYPE_STRING)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "extra-params: must be a string or an object");
        return FALSE;
    }
    *nonce = g_strdup(value);
    return TRUE;
}

char *
cv_kbs_parse_token(const char *text, gsize len, GError **error)
{
    g_autoptr(JsonNode) node = cv_json_parse_object(text, len, "the attestation reply", error);
    const char *token = NULL;

    if (!node || !cv_json_member_string(json_node_get_object(node), "token", TRUE, &token, error))
        return NULL;
    if (!*token || strpbrk(token, "\r\n ")) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "token: not a JWT");
        return NULL;
    }
    return g_strdup(token);
}

static JsonNode *
attestation_message(JsonNode *jwk, const char *nonce, JsonNode *evidence)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "runtime-data");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "nonce");
    json_builder_add_string_value(b, nonce);
    json_builder_set_member_name(b, "tee-pubkey");
    json_builder_add_value(b, json_node_copy(jwk));
    json_builder_end_object(b);
    json_builder_set_member_name(b, "tee-evidence");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "primary_evidence");
    json_builder_add_value(b, json_node_ref(evidence));
    json_builder_set_member_name(b, "additional_evidence");
    json_builder_add_string_value(b, "");
    json_builder_end_object(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static gboolean
http_failed(GBytes *reply, guint status, GError **error)
{
    g_autofree char *detail = error_detail(reply);

    g_set_error(error, CV_ERROR, status == 404 ? CV_ERROR_NOT_FOUND : CV_ERROR_UNAUTHORIZED, "HTTP %u (%s)", status,
                detail);
    return FALSE;
}

/* auth then attest; on failure *step says which */
static gboolean
handshake(Rcar *r, CvKbsStep *step, GError **error)
{
    g_autoptr(JsonNode) request = request_message(r->config->tee);
    g_autoptr(JsonNode) jwk = NULL, evidence = NULL, attestation = NULL;
    g_autoptr(GBytes) reply = NULL;
    g_autofree char *nonce = NULL;
    guint8 digest[CV_KBS_DIGEST_SIZE];
    guint status = 0;

    rcar_forget(r);
    *step = CV_KBS_STEP_AUTH;
    if (!(reply = exchange(r, "POST", "auth", request, FALSE, &status, error)))
        return FALSE;
    if (status != SOUP_STATUS_OK)
        return http_failed(reply, status, error);
    if (!cv_kbs_parse_challenge(g_bytes_get_data(reply, NULL), g_bytes_get_size(reply), &nonce, error))
        return FALSE;
    if (!r->cookie) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "no " KBS_COOKIE " cookie with the challenge");
        return FALSE;
    }
    *step = CV_KBS_STEP_ATTEST;
    if (!(r->key = cv_kbs_key_new(r->config->key_type, error)))
        return FALSE;
    jwk = cv_kbs_key_jwk(r->key);
    if (!cv_kbs_runtime_digest(jwk, nonce, "", digest, error) ||
        !(evidence = r->config->evidence(r->config->evidence_data, r->config->tee, digest, error)))
        return FALSE;
    attestation = attestation_message(jwk, nonce, evidence);
    g_clear_pointer(&reply, g_bytes_unref);
    if (!(reply = exchange(r, "POST", "attest", attestation, FALSE, &status, error)))
        return FALSE;
    if (status != SOUP_STATUS_OK)
        return http_failed(reply, status, error);
    return (r->token = cv_kbs_parse_token(g_bytes_get_data(reply, NULL), g_bytes_get_size(reply), error)) != NULL;
}

static gboolean
handshake_retried(Rcar *r, CvKbsStep *step, GError **error)
{
    guint attempts = r->config->handshakes ? r->config->handshakes : 5;
    guint delay = r->config->retry_delay_ms ? r->config->retry_delay_ms : 1000;

    for (guint i = 1;; i++) {
        g_autoptr(GError) local = NULL;
        if (handshake(r, step, &local))
            return TRUE;
        /* a 401 or a transport failure may pass; a reply that makes no sense will not */
        if (i >= attempts || (local->domain == CV_ERROR && !g_error_matches(local, CV_ERROR, CV_ERROR_UNAUTHORIZED))) {
            g_propagate_prefixed_error(error, g_steal_pointer(&local), "after %u attempt%s: ", i, i > 1 ? "s" : "");
            return FALSE;
        }
        g_usleep((gulong)delay * 1000);
    }
}

static gboolean
valid_path(const char *path)
{
    g_auto(GStrv) parts = g_strsplit(path, "/", -1);

    if (g_strv_length(parts) != 3)
        return FALSE;
    for (guint i = 0; i < 3; i++) {
        if (!parts[i][0] || parts[i][0] == '.')
            return FALSE;
        for (const char *p = parts[i]; *p; p++)
            if (!g_ascii_isalnum(*p) && !strchr("_-.", *p))
                return FALSE;
    }
    return TRUE;
}

/* GETs with a new handshake after a 401; the resource's JWE, or NULL with *step */
static GBytes *
get_resource(Rcar *r, const char *path, CvKbsStep *step, GError **error)
{
    guint attempts = r->config->resource_attempts ? r->config->resource_attempts : 3;
    g_autofree char *route = g_strconcat("resource/", path, NULL);
    g_autoptr(GError) last = NULL;

    for (guint i = 0; i < attempts; i++) {
        g_autoptr(GBytes) reply = NULL;
        g_autofree char *detail = NULL;
        guint status = 0;

        if (!r->token && !handshake_retried(r, step, error))
            return NULL;
        *step = CV_KBS_STEP_RESOURCE;
        if (!(reply = exchange(r, "GET", route, NULL, r->config->bearer, &status, error)))
            return NULL;
        if (status == SOUP_STATUS_OK)
            return g_steal_pointer(&reply);
        detail = error_detail(reply);
        /* Trustee answers a missing resource with 401 PluginInternalError: no new session helps */
        if (status == 404 || (status == 401 && g_str_has_prefix(detail, "PluginInternalError"))) {
            g_set_error(error, CV_ERROR, CV_ERROR_NOT_FOUND, "the KBS has no resource %s (HTTP %u, %s)", path, status,
                        detail);
            return NULL;
        }
        g_clear_error(&last);
        http_failed(reply, status, &last);
        if (status != 401)
            break;
        rcar_forget(r);
    }
    g_propagate_error(error, g_steal_pointer(&last));
    return NULL;
}

static SoupSession *
kbs_session(const CvKbsConfig *config, GError **error)
{
    g_autoptr(GTlsDatabase) db = NULL;
    SoupSession *session;

    if (config->ca_file && !(db = g_tls_file_database_new(config->ca_file, error)))
        return NULL;
    session = soup_session_new_with_options("timeout", config->timeout_s ? config->timeout_s : 30,
                                            "user-agent", "covirt-agent/" COVIRT_VERSION, NULL);
    if (db)
        soup_session_set_tls_database(session, db);
    return session;
}

GBytes *
cv_kbs_fetch(const CvKbsConfig *config, const char *path, CvKbsStep *failed, GError **error)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(GError) local = NULL;
    g_autoptr(GBytes) jwe = NULL;
    Rcar r = { .config = config };
    CvKbsStep step = CV_KBS_STEP_RESOURCE;
    GBytes *out = NULL;

    if (!valid_path(path)) {
        *failed = CV_KBS_STEP_RESOURCE;
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "kbs resource: %s is not <repo>/<type>/<tag>", path);
        return NULL;
    }
    g_main_context_push_thread_default(context);
    if ((r.session = kbs_session(config, &local)) && (jwe = get_resource(&r, path, &step, &local))) {
        step = CV_KBS_STEP_DECRYPT;
        out = cv_kbs_jwe_decrypt(r.key, g_bytes_get_data(jwe, NULL), g_bytes_get_size(jwe), &local);
    }
    rcar_forget(&r);
    g_clear_object(&r.session);
    g_main_context_pop_thread_default(context);
    if (!out) {
        *failed = step;
        g_propagate_prefixed_error(error, g_steal_pointer(&local), "kbs %s: ", cv_kbs_step_to_string(step));
    }
    return out;
}

JsonNode *
cv_kbs_collector_evidence(gpointer collector, const char *tee, const guint8 digest[CV_KBS_DIGEST_SIZE],
                          GError **error)
{
    return cv_kbs_evidence_collect(collector, tee, digest, error);
}
