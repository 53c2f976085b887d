/* The agent's HTTPS front (docs/agent.md): the SoupServer, its TLS identity, the challenges and the
 * uploads in flight; the routes are src/proto/agent-api.h's. Uploads are checked in the early
 * handler, before a byte of the body is read (name, key, challenge, signature, state, declared hash),
 * then stream to a temporary file while hashed; the normal handler, called once the body is in,
 * compares the hash and has the core move the file into place, or deletes it. */
#include "api.h"
#include "agent-api.h"
#include "challenge.h"
#include "sha3.h"
#include "tls.h"
#include "upload-sink.h"
#include "cv-autoptr.h"
#include "cv-error.h"
#include "cv-http.h"
#include "cv-http-listen.h"
#include "cv-sign.h"
#include "cv-util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>

#define HDR_CHALLENGE CV_AGENT_API_HDR_CHALLENGE
#define HDR_SIGNATURE CV_AGENT_API_HDR_SIGNATURE
#define HDR_SHA3 CV_AGENT_API_HDR_CONTENT_SHA3

struct _CvAgentApi {
    CvAgent *agent;                 /* the core it serves (not owned) */
    GTlsCertificate *tls;
    guint8 tls_sha256[32];
    SoupServer *server;
    CvHttpListener *listener;   /* accepts, bounds and times out its connections, sets up TLS */
    guint port;
    CvAgentChallenges *challenges;
    GHashTable *uploads_active;     /* target path set: one upload per target at a time */
};

typedef struct {
    CvAgentApi *api;
    CvAgentFileSlot slot;
    gboolean active;    /* slot.target is in api->uploads_active */
    char *tmp_path;
    CvAgentSink *sink;  /* hashes and writes on a worker thread */
    guint8 declared[32];
    guint64 received;
    guint64 limit;
    char *io_error;
} Upload;

static void
upload_free(Upload *u)
{
    cv_agent_sink_free(u->sink);
    /* still here: the upload did not complete; nothing of it must stay */
    if (u->tmp_path)
        g_unlink(u->tmp_path);
    if (u->active)
        g_hash_table_remove(u->api->uploads_active, u->slot.target);
    cv_agent_file_slot_clear(&u->slot);
    g_free(u->tmp_path);
    g_free(u->io_error);
    g_free(u);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Upload, upload_free)

static void
respond_error(SoupServerMessage *msg, const GError *error)
{
    g_info("%s %s → %u: %s", soup_server_message_get_method(msg),
           g_uri_get_path(soup_server_message_get_uri(msg)), cv_error_http_status(error), error->message);
    cv_http_respond_gerror(msg, error);
    /* an unread body cannot be skipped on a kept-alive connection */
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection", "close");
}

static void
respond_code(SoupServerMessage *msg, CvErrorCode code, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static void
respond_code(SoupServerMessage *msg, CvErrorCode code, const char *fmt, ...)
{
    g_autoptr(GError) error = NULL;
    va_list ap;

    va_start(ap, fmt);
    error = g_error_new_valist(CV_ERROR, code, fmt, ap);
    va_end(ap);
    respond_error(msg, error);
}

/* Checks the signed-request headers against key(s) over the path as the request carries it (percent-
 * encoding kept; see the server's raw-paths); the challenge is spent once a signature verifies.
 * Returns the index of the key that signed; a signature none of them verifies is a `mismatch` error. */
static gboolean
check_signature(CvAgentApi *api, SoupServerMessage *msg, CvUserKey *const *keys, guint n_keys,
                const guint8 body_sha3[32], CvErrorCode mismatch, guint *which, GError **error)
{
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
    const char *challenge = soup_message_headers_get_one(h, HDR_CHALLENGE);
    const char *sig_b64 = soup_message_headers_get_one(h, HDR_SIGNATURE);
    const char *path = g_uri_get_path(soup_server_message_get_uri(msg));
    guint8 raw[CV_AGENT_CHALLENGE_SIZE];
    guint8 digest[CV_SIGN_DIGEST_SIZE];
    g_autoptr(GBytes) sig = NULL;

    if (!challenge || !sig_b64) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAUTHORIZED, "missing %s or %s header", HDR_CHALLENGE, HDR_SIGNATURE);
        return FALSE;
    }
    if (!cv_agent_challenges_check(api->challenges, challenge, raw, error))
        return FALSE;
    sig = cv_base64_decode_strict(sig_b64, NULL);
    if (!sig || g_bytes_get_size(sig) > CV_AGENT_API_SIGNATURE_MAX) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAUTHORIZED, "%s is not base64", HDR_SIGNATURE);
        return FALSE;
    }
    if (!cv_sign_request_digest(raw, sizeof(raw), soup_server_message_get_method(msg), path, body_sha3, digest,
                                error))
        return FALSE;
    for (guint i = 0; i < n_keys; i++) {
        if (cv_user_key_verify(keys[i], digest, g_bytes_get_data(sig, NULL), g_bytes_get_size(sig), NULL)) {
            *which = i;
            return cv_agent_challenges_spend(api->challenges, raw, error);
        }
    }
    g_set_error(error, CV_ERROR, mismatch, "signature does not verify with the key the manifest names");
    return FALSE;
}

static void
on_got_chunk(SoupServerMessage *msg, GBytes *chunk, gpointer data)
{
    Upload *u = data;
    gsize len = 0;
    const guint8 *p = g_bytes_get_data(chunk, &len);

    if (u->io_error)
        return;
    u->received += len;
    if (u->received > u->limit) {
        u->io_error = g_strdup_printf("upload exceeds %" G_GUINT64_FORMAT " bytes", u->limit);
        return;
    }
    cv_agent_sink_push(u->sink, p, len);
}

/* Decodes the last path segment; refuses "/", NUL, "..", hidden names (cv_manifest_filename_is_safe). */
static char *
segment_name(const char *escaped, GError **error)
{
    g_autofree char *name = g_uri_unescape_string(escaped, "/");

    if (!name || !cv_manifest_filename_is_safe(name)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "'%s' is not an acceptable file name", escaped);
        return NULL;
    }
    return g_steal_pointer(&name);
}

static gboolean
parse_declared_hash(SoupServerMessage *msg, guint8 out[32], char **hex_out, GError **error)
{
    const char *hex = soup_message_headers_get_one(soup_server_message_get_request_headers(msg), HDR_SHA3);
    g_autoptr(GBytes) raw = NULL;

    if (!hex || strlen(hex) != 64 || !(raw = cv_hex_decode(hex, NULL))) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "missing or malformed %s header (64 hex digits)", HDR_SHA3);
        return FALSE;
    }
    memcpy(out, g_bytes_get_data(raw, NULL), 32);
    *hex_out = g_ascii_strdown(hex, -1);
    return TRUE;
}

/* The file a PUT path names; wheel and dataset names are percent-decoded and must be plain file names. */
static gboolean
upload_route(const char *path, CvAgentFileKind *kind, char **name, GError **error)
{
    if (strcmp(path, CV_AGENT_API_ALGORITHM) == 0) {
        *kind = CV_AGENT_FILE_ALGORITHM;
    } else if (strcmp(path, CV_AGENT_API_REQUIREMENTS) == 0) {
        *kind = CV_AGENT_FILE_REQUIREMENTS;
    } else if (g_str_has_prefix(path, CV_AGENT_API_WHEELS_PREFIX)) {
        *kind = CV_AGENT_FILE_WHEEL;
        if (!(*name = segment_name(path + strlen(CV_AGENT_API_WHEELS_PREFIX), error)))
            return FALSE;
        if (!g_str_has_suffix(*name, ".whl")) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "'%s' is not a wheel (*.whl)", *name);
            g_clear_pointer(name, g_free);
            return FALSE;
        }
    } else if (g_str_has_prefix(path, CV_AGENT_API_DATASETS_PREFIX)) {
        *kind = CV_AGENT_FILE_DATASET;
        if (!(*name = segment_name(path + strlen(CV_AGENT_API_DATASETS_PREFIX), error)))
            return FALSE;
    } else {
        g_set_error(error, CV_ERROR, CV_ERROR_NOT_FOUND, "no upload at %s", path);
        return FALSE;
    }
    return TRUE;
}

/* Who may send it comes first: the request is authenticated (and its challenge spent) before the
 * agent says anything about its state; then the state, the uploads in flight and the declared hash. */
static gboolean
upload_admit(CvAgentApi *api, SoupServerMessage *msg, Upload *u, GError **error)
{
    g_autofree char *declared_hex = NULL;
    guint which = 0;

    if (!parse_declared_hash(msg, u->declared, &declared_hex, error) ||
        !check_signature(api, msg, &u->slot.key, 1, u->declared, CV_ERROR_UNAUTHORIZED, &which, error) ||
        !cv_agent_file_wanted(api->agent, &u->slot, error))
        return FALSE;
    if (g_hash_table_contains(api->uploads_active, u->slot.target)) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "another upload of this file is in progress");
        return FALSE;
    }
    /* each upload has a worker thread and its blocks in flight (upload-sink.h): bound how many run at once */
    if (g_hash_table_size(api->uploads_active) >= CV_AGENT_API_UPLOADS_MAX) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "%d uploads are in progress; try again later",
                    CV_AGENT_API_UPLOADS_MAX);
        return FALSE;
    }
    /* refuse a file the manifest does not name before reading any of it */
    if (u->slot.expected_sha3 && strcmp(u->slot.expected_sha3, declared_hex) != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_FORBIDDEN, "SHA3-256 %s does not match the manifest's %s",
                    declared_hex, u->slot.expected_sha3);
        return FALSE;
    }
    return TRUE;
}

/* The temporary file the body streams to, 0600 in the work dir's tmp/. */
static gboolean
upload_open(CvAgentApi *api, Upload *u, GError **error)
{
    g_autofree char *tmp = cv_agent_path(api->agent, "tmp", "upload-XXXXXX", NULL);
    int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);

    if (fd < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot create an upload file: %s", g_strerror(errno));
        return FALSE;
    }
    u->sink = cv_agent_sink_new(fd, error);
    if (!u->sink) {
        close(fd);
        g_unlink(tmp);
        return FALSE;
    }
    u->tmp_path = g_steal_pointer(&tmp);
    return TRUE;
}

static Upload *
upload_begin(CvAgentApi *api, SoupServerMessage *msg, const char *path, GError **error)
{
    g_autoptr(Upload) u = NULL;
    g_autofree char *name = NULL;
    CvAgentFileKind kind;

    if (!upload_route(path, &kind, &name, error))
        return NULL;
    u = g_new0(Upload, 1);
    u->api = api;
    u->limit = kind == CV_AGENT_FILE_REQUIREMENTS ? CV_AGENT_API_REQUIREMENTS_MAX : G_MAXUINT64;
    if (!cv_agent_file_slot(api->agent, kind, name, &u->slot, error) || !upload_admit(api, msg, u, error) ||
        !upload_open(api, u, error))
        return NULL;
    g_hash_table_add(api->uploads_active, g_strdup(u->slot.target));
    u->active = TRUE;
    return g_steal_pointer(&u);
}

static void
early_handler(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer data)
{
    CvAgentApi *api = data;
    const char *method = soup_server_message_get_method(msg);
    g_autoptr(GError) error = NULL;
    Upload *u;

    /* Only the credential request keeps a (small) body in memory: uploads stream to a file,
     * every other endpoint drops its body. */
    if (strcmp(method, "POST") == 0 && strcmp(path, CV_AGENT_API_CREDENTIAL) == 0) {
        goffset len = soup_message_headers_get_content_length(soup_server_message_get_request_headers(msg));
        if (soup_message_headers_get_encoding(soup_server_message_get_request_headers(msg)) !=
                SOUP_ENCODING_CONTENT_LENGTH || len > CV_AGENT_API_CREDENTIAL_MAX)
            respond_code(msg, CV_ERROR_TOO_LARGE, "the credential request needs a Content-Length of at most %d bytes",
                         CV_AGENT_API_CREDENTIAL_MAX);
        return;
    }
    soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return;
    if (strcmp(method, "PUT") != 0) {
        respond_code(msg, CV_ERROR_INVALID, "method %s is not allowed here", method);
        soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, NULL);
        return;
    }
    u = upload_begin(api, msg, path, &error);
    if (!u) {
        respond_error(msg, error);
        return;
    }
    g_object_set_data_full(G_OBJECT(msg), "covirt-upload", u, (GDestroyNotify)upload_free);
    g_signal_connect(msg, "got-chunk", G_CALLBACK(on_got_chunk), u);
}

/* Deletes what an upload left behind, before its answer goes out (not when the message dies later). */
static void
upload_discard(Upload *u)
{
    g_clear_pointer(&u->sink, cv_agent_sink_free);
    if (u->tmp_path)
        g_unlink(u->tmp_path);
    g_clear_pointer(&u->tmp_path, g_free);
}

static gboolean
upload_commit(CvAgentApi *api, Upload *u, char **got_hex, GError **error)
{
    guint8 got[32];
    g_autofree char *declared_hex = NULL;

    if (u->io_error) {
        g_set_error(error, CV_ERROR, strstr(u->io_error, "exceeds") ? CV_ERROR_TOO_LARGE : CV_ERROR_IO, "%s",
                    u->io_error);
        return FALSE;
    }
    if (!cv_agent_sink_finish(u->sink, got, error))
        return FALSE;
    *got_hex = cv_hex_encode(got, 32);
    declared_hex = cv_hex_encode(u->declared, 32);
    if (memcmp(got, u->declared, 32) != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_FORBIDDEN,
                    "the body's SHA3-256 %s is not the declared %s; upload deleted", *got_hex, declared_hex);
        return FALSE;
    }
    if (!cv_agent_file_place(api->agent, &u->slot, u->tmp_path, error))
        return FALSE;
    g_clear_pointer(&u->tmp_path, g_free);
    return TRUE;
}

/* The answer waits for the core (a dataset's decompression), the message paused meanwhile. */
static void
upload_received(GObject *source, GAsyncResult *result, gpointer data)
{
    g_autoptr(SoupServerMessage) msg = data;
    Upload *u = g_object_get_data(G_OBJECT(msg), "covirt-upload");
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *got_hex = cv_hex_encode(u->declared, 32);

    soup_server_message_unpause(msg);
    if (!cv_agent_file_received_finish(result, &error)) {
        respond_error(msg, error);
        return;
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "sha3_256");
    json_builder_add_string_value(b, got_hex);
    json_builder_set_member_name(b, "size");
    json_builder_add_int_value(b, u->received);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, cv_agent_state_to_string(cv_agent_get_state(u->api->agent)));
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    cv_http_respond_json(msg, SOUP_STATUS_OK, root);
}

static void
upload_finish(CvAgentApi *api, SoupServerMessage *msg)
{
    Upload *u = g_object_get_data(G_OBJECT(msg), "covirt-upload");
    g_autoptr(GError) error = NULL;
    g_autofree char *got_hex = NULL;

    if (!u) {
        respond_code(msg, CV_ERROR_NOT_FOUND, "no upload at this path");
        return;
    }
    if (!upload_commit(api, u, &got_hex, &error)) {
        upload_discard(u);
        respond_error(msg, error);
        return;
    }
    soup_server_message_pause(msg);
    cv_agent_file_received(api->agent, &u->slot, upload_received, g_object_ref(msg));
}

static void
handle_result(CvAgentApi *api, SoupServerMessage *msg)
{
    const CvManifest *m = cv_agent_get_manifest(api->agent);
    g_autoptr(GError) error = NULL;
    guint8 empty[32];
    g_autofree char *zip = NULL;
    g_autoptr(GMappedFile) mapped = NULL;
    g_autoptr(GBytes) body = NULL;
    guint which = 0;

    if (!m) {
        respond_code(msg, CV_ERROR_CONFLICT, "no computation (state %s)",
                     cv_agent_state_to_string(cv_agent_get_state(api->agent)));
        return;
    }
    if (!cv_agent_sha3_256("", 0, empty, &error) ||
        !check_signature(api, msg, (CvUserKey *const *)m->consumer_keys->pdata, m->consumer_keys->len, empty,
                         CV_ERROR_FORBIDDEN, &which, &error)) {
        respond_error(msg, error);
        return;
    }
    if (!(zip = cv_agent_result_file(api->agent, &error))) {
        respond_error(msg, error);
        return;
    }
    /* mapped, not read: a large result does not sit in the heap */
    mapped = g_mapped_file_new(zip, FALSE, &error);
    if (!mapped) {
        respond_code(msg, CV_ERROR_IO, "cannot read the result: %s", error->message);
        return;
    }
    body = g_mapped_file_get_bytes(mapped);
    soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
    soup_message_headers_set_content_type(soup_server_message_get_response_headers(msg), "application/zip", NULL);
    soup_message_body_append_bytes(soup_server_message_get_response_body(msg), body);
    cv_agent_result_served(api->agent, which);
}

static void
handle_attestation(CvAgentApi *api, SoupServerMessage *msg, GHashTable *query)
{
    const CvManifest *m = cv_agent_get_manifest(api->agent);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) bundle = NULL;
    const char *nonce = query ? g_hash_table_lookup(query, CV_AGENT_API_ATTESTATION_NONCE) : NULL;

    bundle = cv_agent_attestation_collect(cv_agent_get_attestation(api->agent), nonce, api->tls_sha256,
                                          m ? m->sha256 : NULL, &error);
    if (!bundle) {
        respond_error(msg, error);
        return;
    }
    cv_http_respond_json(msg, SOUP_STATUS_OK, bundle);
}

static void
handle_credential(CvAgentApi *api, SoupServerMessage *msg)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) body = soup_message_body_flatten(soup_server_message_get_request_body(msg));
    g_autoptr(JsonNode) request = NULL;
    g_autoptr(JsonNode) answer = NULL;

    request = cv_json_parse(g_bytes_get_data(body, NULL), g_bytes_get_size(body), &error);
    if (request)
        answer = cv_agent_attestation_credential(cv_agent_get_attestation(api->agent), request, &error);
    if (!answer) {
        respond_error(msg, error);
        return;
    }
    cv_http_respond_json(msg, SOUP_STATUS_OK, answer);
}

static void
handle_challenge(CvAgentApi *api, SoupServerMessage *msg)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *c = cv_agent_challenges_issue(api->challenges, &error);
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    if (!c) {
        respond_error(msg, error);
        return;
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "challenge");
    json_builder_add_string_value(b, c);
    json_builder_set_member_name(b, "expires_in");
    json_builder_add_int_value(b, CV_AGENT_CHALLENGE_TTL_S);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    cv_http_respond_json(msg, SOUP_STATUS_OK, root);
}

static void
handler(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer data)
{
    CvAgentApi *api = data;
    const char *method = soup_server_message_get_method(msg);

    if (strcmp(method, "PUT") == 0) {
        upload_finish(api, msg);
        return;
    }
    if (strcmp(method, "POST") == 0) {
        handle_credential(api, msg);
        return;
    }
    if (strcmp(path, CV_AGENT_API_STATE) == 0) {
        g_autoptr(JsonNode) root = cv_agent_state_json(api->agent);
        cv_http_respond_json(msg, SOUP_STATUS_OK, root);
    } else if (strcmp(path, CV_AGENT_API_CHALLENGE) == 0) {
        handle_challenge(api, msg);
    } else if (strcmp(path, CV_AGENT_API_RESULT) == 0) {
        handle_result(api, msg);
    } else if (strcmp(path, CV_AGENT_API_ATTESTATION) == 0) {
        handle_attestation(api, msg, query);
    } else {
        respond_code(msg, CV_ERROR_NOT_FOUND, "no such endpoint: %s", path);
    }
}

CvAgentApi *
cv_agent_api_new(GError **error)
{
    g_autoptr(CvAgentApi) api = g_new0(CvAgentApi, 1);

    /* before any TLS connection, and before the agent makes threads */
    cv_http_listen_tls_init();
    api->tls = cv_agent_tls_identity_new(api->tls_sha256, error);
    if (!api->tls)
        return NULL;
    api->challenges = cv_agent_challenges_new(error);
    if (!api->challenges)
        return NULL;
    api->uploads_active = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return g_steal_pointer(&api);
}

const guint8 *
cv_agent_api_tls_sha256(CvAgentApi *api)
{
    return api->tls_sha256;
}

gboolean
cv_agent_api_listen(CvAgentApi *api, CvAgent *agent, guint port, const char *listen_address,
                    const CvHttpListenLimits *limits, GError **error)
{
    g_autoptr(GSocket) sock = NULL;

    api->agent = agent;
    /* raw-paths: a path keeps its percent-encoding (libsoup still decodes unreserved characters such as
     * %2E and removes dot segments, as clients' libsoup does before sending), so signatures cover the path
     * as sent and a file name is decoded once, by segment_name() */
    api->server = soup_server_new("server-header", "covirt-agent", "raw-paths", TRUE, NULL);
    cv_http_server_json_errors(api->server);
    soup_server_add_early_handler(api->server, NULL, early_handler, api, NULL);
    soup_server_add_handler(api->server, NULL, handler, api, NULL);
    sock = cv_http_listen_socket(listen_address, port, error);
    if (!sock || !(api->listener = cv_http_listener_new(api->server, sock, api->tls, limits, error)))
        return FALSE;
    api->port = cv_http_listener_port(api->listener);
    return TRUE;
}

guint
cv_agent_api_port(CvAgentApi *api)
{
    return api->port;
}

void
cv_agent_api_free(CvAgentApi *api)
{
    if (!api)
        return;
    /* uploads still in flight go with their messages; they need the table below */
    cv_http_listener_free(api->listener);
    if (api->server)
        soup_server_disconnect(api->server);
    g_clear_object(&api->server);
    g_clear_object(&api->tls);
    cv_agent_challenges_free(api->challenges);
    if (api->uploads_active)
        g_hash_table_unref(api->uploads_active);
    g_free(api);
}
