/* The agent's HTTPS API (docs/agent.md). Uploads are checked in the early
 * handler, before a byte of the body is read (state, name, key, challenge,
 * signature, declared hash), then stream to a temporary file while hashed;
 * the normal handler, called once the body is in, compares the hash and moves
 * the file into place, or deletes it. */
#include "agent.h"
#include "sha3.h"
#include "upload-sink.h"
#include "cv-autoptr.h"
#include "cv-error.h"
#include "cv-http.h"
#include "cv-sign.h"
#include "cv-util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#define HDR_CHALLENGE "X-Covirt-Challenge"
#define HDR_SIGNATURE "X-Covirt-Signature"
#define HDR_SHA3 "X-Covirt-Content-SHA3-256"
#define REQUIREMENTS_MAX (1024 * 1024)
#define CREDENTIAL_MAX (64 * 1024)
#define UPLOADS_MAX 8

typedef enum { ROLE_ALGORITHM, ROLE_REQUIREMENTS, ROLE_WHEEL, ROLE_DATASET } Role;

typedef struct {
    CvAgent *agent;
    guint generation;
    Role role;
    char *name;         /* dataset or wheel file name */
    char *target;
    char *tmp_path;
    CvAgentSink *sink;  /* hashes and writes on a worker thread */
    guint8 declared[32];
    guint64 received;
    guint64 limit;
    char *io_error;
} Upload;

static void
upload_free(gpointer p)
{
    Upload *u = p;

    cv_agent_sink_free(u->sink);
    /* still here: the upload did not complete; nothing of it must stay */
    if (u->tmp_path)
        g_unlink(u->tmp_path);
    if (u->target)
        g_hash_table_remove(u->agent->uploads_active, u->target);
    g_free(u->name);
    g_free(u->target);
    g_free(u->tmp_path);
    g_free(u->io_error);
    g_free(u);
}

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

/* Checks the signed-request headers against key(s): consumes the challenge first,
 * so a failed attempt also burns it. Returns the index of the key that signed; a signature
 * none of them verifies is a `mismatch` error. */
static gboolean
check_signature(CvAgent *agent, SoupServerMessage *msg, CvAgentUserKey *const *keys, guint n_keys,
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
    if (!cv_agent_challenges_consume(agent->challenges, challenge, raw, error))
        return FALSE;
    sig = cv_base64_decode_strict(sig_b64, NULL);
    if (!sig || g_bytes_get_size(sig) > 1024) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAUTHORIZED, "%s is not base64", HDR_SIGNATURE);
        return FALSE;
    }
    if (!cv_sign_request_digest(raw, sizeof(raw), soup_server_message_get_method(msg), path, body_sha3, digest,
                                error))
        return FALSE;
    for (guint i = 0; i < n_keys; i++) {
        if (cv_agent_user_key_verify(keys[i], digest, g_bytes_get_data(sig, NULL), g_bytes_get_size(sig), NULL)) {
            *which = i;
            return TRUE;
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

/* Decodes the last path segment; refuses "/", NUL, "..", hidden names (cv_agent_filename_is_safe). */
static char *
segment_name(const char *escaped, GError **error)
{
    g_autofree char *name = g_uri_unescape_string(escaped, "/");

    if (!name || !cv_agent_filename_is_safe(name)) {
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

static Upload *
upload_begin(CvAgent *agent, SoupServerMessage *msg, const char *path, GError **error)
{
    Upload *u = NULL;
    g_autofree char *declared_hex = NULL;
    g_autofree char *name = NULL;
    const char *expected = NULL;
    CvAgentUserKey *key = NULL;
    guint which = 0;
    Role role;
    guint64 limit = G_MAXUINT64;
    g_autofree char *target = NULL;
    g_autofree char *tmp = NULL;
    int fd;

    if (strcmp(path, "/v1/algorithm") == 0) {
        role = ROLE_ALGORITHM;
    } else if (strcmp(path, "/v1/algorithm/requirements") == 0) {
        role = ROLE_REQUIREMENTS;
        limit = REQUIREMENTS_MAX;
    } else if (g_str_has_prefix(path, "/v1/algorithm/wheels/")) {
        role = ROLE_WHEEL;
        if (!(name = segment_name(path + strlen("/v1/algorithm/wheels/"), error)))
            return NULL;
        if (!g_str_has_suffix(name, ".whl")) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "'%s' is not a wheel (*.whl)", name);
            return NULL;
        }
    } else if (g_str_has_prefix(path, "/v1/datasets/")) {
        role = ROLE_DATASET;
        if (!(name = segment_name(path + strlen("/v1/datasets/"), error)))
            return NULL;
    } else {
        g_set_error(error, CV_ERROR, CV_ERROR_NOT_FOUND, "no upload at %s", path);
        return NULL;
    }

    if (!agent->manifest) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "no manifest yet (state %s)",
                    cv_agent_state_to_string(agent->state));
        return NULL;
    }
    /* Who may send it comes first: the request is authenticated (and its challenge
     * spent) before the agent says anything about its state. */
    if (role == ROLE_DATASET) {
        const CvAgentDataset *d = cv_agent_manifest_find_dataset(agent->manifest, name);
        if (!d) {
            g_set_error(error, CV_ERROR, CV_ERROR_NOT_FOUND, "dataset '%s' is not in the manifest", name);
            return NULL;
        }
        key = d->user_key;
        expected = d->hash;
        target = cv_agent_path(agent, "datasets", name, NULL);
    } else {
        key = agent->manifest->algo_key;
        if (role == ROLE_ALGORITHM) {
            expected = agent->manifest->algo_hash;
            target = cv_agent_path(agent, "algo", "algorithm", NULL);
        } else if (role == ROLE_REQUIREMENTS) {
            target = cv_agent_path(agent, "algo", "requirements.txt", NULL);
        } else {
            target = cv_agent_path(agent, "algo", "wheels", name, NULL);
        }
    }
    u = g_new0(Upload, 1);
    u->agent = agent;
    if (!parse_declared_hash(msg, u->declared, &declared_hex, error))
        goto fail;
    if (!check_signature(agent, msg, &key, 1, u->declared, CV_ERROR_UNAUTHORIZED, &which, error))
        goto fail;
    if (role == ROLE_DATASET && agent->state != CV_AGENT_STATE_RECEIVING_DATA) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "not receiving datasets (state %s)",
                    cv_agent_state_to_string(agent->state));
        goto fail;
    }
    if (role != ROLE_DATASET && agent->state != CV_AGENT_STATE_RECEIVING_ALGORITHM) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "not receiving the algorithm (state %s)",
                    cv_agent_state_to_string(agent->state));
        goto fail;
    }
    if (role == ROLE_DATASET && g_hash_table_contains(agent->datasets_received, name)) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "dataset '%s' was already received", name);
        goto fail;
    }
    if (g_hash_table_contains(agent->uploads_active, target)) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "another upload of this file is in progress");
        goto fail;
    }
    /* each upload has a worker thread and its blocks in flight (upload-sink.h): bound how many run at once */
    if (g_hash_table_size(agent->uploads_active) >= UPLOADS_MAX) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "%d uploads are in progress; try again later", UPLOADS_MAX);
        goto fail;
    }
    /* refuse a file the manifest does not name before reading any of it */
    if (expected && strcmp(expected, declared_hex) != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_FORBIDDEN, "SHA3-256 %s does not match the manifest's %s",
                    declared_hex, expected);
        goto fail;
    }

    tmp = cv_agent_path(agent, "tmp", "upload-XXXXXX", NULL);
    fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot create an upload file: %s", g_strerror(errno));
        goto fail;
    }
    u->sink = cv_agent_sink_new(fd, error);
    if (!u->sink) {
        close(fd);
        g_unlink(tmp);
        goto fail;
    }
    u->tmp_path = g_steal_pointer(&tmp);
    u->generation = agent->generation;
    u->role = role;
    u->name = g_steal_pointer(&name);
    u->target = g_strdup(target);
    u->limit = limit;
    g_hash_table_add(agent->uploads_active, g_steal_pointer(&target));
    return u;
 fail:
    upload_free(u);
    return NULL;
}

static void
early_handler(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer data)
{
    CvAgent *agent = data;
    const char *method = soup_server_message_get_method(msg);
    g_autoptr(GError) error = NULL;
    Upload *u;

    /* Only the credential request keeps a (small) body in memory: uploads stream to a file,
     * every other endpoint drops its body. */
    if (strcmp(method, "POST") == 0 && strcmp(path, "/v1/attestation/credential") == 0) {
        goffset len = soup_message_headers_get_content_length(soup_server_message_get_request_headers(msg));
        if (soup_message_headers_get_encoding(soup_server_message_get_request_headers(msg)) !=
                SOUP_ENCODING_CONTENT_LENGTH || len > CREDENTIAL_MAX)
            respond_code(msg, CV_ERROR_TOO_LARGE, "the credential request needs a Content-Length of at most %d bytes",
                         CREDENTIAL_MAX);
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
    u = upload_begin(agent, msg, path, &error);
    if (!u) {
        respond_error(msg, error);
        return;
    }
    g_object_set_data_full(G_OBJECT(msg), "covirt-upload", u, upload_free);
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
upload_commit(CvAgent *agent, Upload *u, char **got_hex, GError **error)
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
    /* a stop or a new manifest while the body was arriving makes this upload stale */
    if (u->generation != agent->generation) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "the computation was reset during the upload");
        return FALSE;
    }
    if (u->role == ROLE_ALGORITHM && g_chmod(u->tmp_path, 0700) < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot make the algorithm executable: %s", g_strerror(errno));
        return FALSE;
    }
    if (rename(u->tmp_path, u->target) < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot store the upload: %s", g_strerror(errno));
        return FALSE;
    }
    g_clear_pointer(&u->tmp_path, g_free);

    switch (u->role) {
    case ROLE_ALGORITHM:
        cv_agent_algorithm_received(agent);
        break;
    case ROLE_REQUIREMENTS:
        agent->requirements_received = TRUE;
        cv_agent_event(agent, "upload", "requirements received");
        break;
    case ROLE_WHEEL: {
        g_autofree char *m = g_strdup_printf("wheel %s received", u->name);
        cv_agent_event(agent, "upload", m);
        break;
    }
    case ROLE_DATASET:
        return cv_agent_dataset_received(agent, u->name, error);
    }
    return TRUE;
}

static void
upload_finish(CvAgent *agent, SoupServerMessage *msg)
{
    Upload *u = g_object_get_data(G_OBJECT(msg), "covirt-upload");
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonBuilder) b = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *got_hex = NULL;

    if (!u) {
        respond_code(msg, CV_ERROR_NOT_FOUND, "no upload at this path");
        return;
    }
    if (!upload_commit(agent, u, &got_hex, &error)) {
        upload_discard(u);
        respond_error(msg, error);
        return;
    }
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "sha3_256");
    json_builder_add_string_value(b, got_hex);
    json_builder_set_member_name(b, "size");
    json_builder_add_int_value(b, u->received);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, cv_agent_state_to_string(agent->state));
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    cv_http_respond_json(msg, SOUP_STATUS_OK, root);
}

static void
handle_result(CvAgent *agent, SoupServerMessage *msg)
{
    g_autoptr(GError) error = NULL;
    guint8 empty[32];
    g_autofree char *zip = cv_agent_path(agent, "result.zip", NULL);
    g_autoptr(GMappedFile) mapped = NULL;
    g_autoptr(GBytes) body = NULL;
    guint which = 0;

    if (!agent->manifest) {
        respond_code(msg, CV_ERROR_CONFLICT, "no computation (state %s)", cv_agent_state_to_string(agent->state));
        return;
    }
    if (!cv_agent_sha3_256("", 0, empty, &error) ||
        !check_signature(agent, msg, (CvAgentUserKey *const *)agent->manifest->consumer_keys->pdata,
                         agent->manifest->consumer_keys->len, empty, CV_ERROR_FORBIDDEN, &which, &error)) {
        respond_error(msg, error);
        return;
    }
    if (agent->state != CV_AGENT_STATE_CONSUMING_RESULTS && agent->state != CV_AGENT_STATE_COMPLETE) {
        respond_code(msg, CV_ERROR_CONFLICT, "no result yet (state %s)", cv_agent_state_to_string(agent->state));
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
    cv_agent_result_served(agent, which);
}

static void
handle_attestation(CvAgent *agent, SoupServerMessage *msg, GHashTable *query)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) bundle = NULL;
    const char *nonce = query ? g_hash_table_lookup(query, "nonce") : NULL;

    bundle = cv_agent_attestation(agent, nonce, &error);
    if (!bundle) {
        respond_error(msg, error);
        return;
    }
    cv_http_respond_json(msg, SOUP_STATUS_OK, bundle);
}

static void
handle_credential(CvAgent *agent, SoupServerMessage *msg)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) body = soup_message_body_flatten(soup_server_message_get_request_body(msg));
    g_autoptr(JsonNode) request = NULL;
    g_autoptr(JsonNode) answer = NULL;

    request = cv_json_parse(g_bytes_get_data(body, NULL), g_bytes_get_size(body), &error);
    if (request)
        answer = cv_agent_attestation_credential(agent, request, &error);
    if (!answer) {
        respond_error(msg, error);
        return;
    }
    cv_http_respond_json(msg, SOUP_STATUS_OK, answer);
}

static void
handler(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer data)
{
    CvAgent *agent = data;
    const char *method = soup_server_message_get_method(msg);
    g_autoptr(GError) error = NULL;

    if (strcmp(method, "PUT") == 0) {
        upload_finish(agent, msg);
        return;
    }
    if (strcmp(method, "POST") == 0) {
        handle_credential(agent, msg);
        return;
    }
    if (strcmp(path, "/v1/state") == 0) {
        g_autoptr(JsonNode) root = cv_agent_state_json(agent);
        cv_http_respond_json(msg, SOUP_STATUS_OK, root);
    } else if (strcmp(path, "/v1/challenge") == 0) {
        g_autofree char *c = cv_agent_challenges_issue(agent->challenges, &error);
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
    } else if (strcmp(path, "/v1/result") == 0) {
        handle_result(agent, msg);
    } else if (strcmp(path, "/v1/attestation") == 0) {
        handle_attestation(agent, msg, query);
    } else {
        respond_code(msg, CV_ERROR_NOT_FOUND, "no such endpoint: %s", path);
    }
}

void
cv_agent_api_register(CvAgent *agent)
{
    soup_server_add_early_handler(agent->server, NULL, early_handler, agent, NULL);
    soup_server_add_handler(agent->server, NULL, handler, agent, NULL);
}
