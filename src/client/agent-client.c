#include "agent-client.h"
#include "agent-api.h"
#include "attest-client.h"
#include "client-session.h"
#include "cv-archive.h"
#include "cv-autoptr.h"
#include "cv-error.h"
#include "cv-file.h"
#include "cv-sign.h"
#include "cv-json.h"
#include "cv-util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/statvfs.h>
#include <glib/gstdio.h>

struct _CvAgentClient {
    SoupSession *session;
    char *base;
    EVP_PKEY *key;
    char *pin;        /* required TLS key hash, or the first one seen */
    char *mismatch;   /* the key hash that was refused, for the error message */
};

void
cv_agent_client_free(CvAgentClient *c)
{
    if (!c)
        return;
    g_clear_object(&c->session);
    g_free(c->base);
    EVP_PKEY_free(c->key);
    g_free(c->pin);
    g_free(c->mismatch);
    g_free(c);
}

CvAgentClient *
cv_agent_client_new(const char *url, const char *key_path, const char *pin, GError **error)
{
    g_autoptr(CvAgentClient) c = g_new0(CvAgentClient, 1);
    g_autoptr(GUri) uri = NULL;

    uri = url ? g_uri_parse(url, G_URI_FLAGS_NONE, NULL) : NULL;
    if (!uri || g_strcmp0(g_uri_get_scheme(uri), "https") != 0 || !g_uri_get_host(uri)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "'%s' is not an https://HOST:PORT address", url ? url : "");
        return NULL;
    }
    c->base = g_strdup(url);
    while (g_str_has_suffix(c->base, "/"))
        c->base[strlen(c->base) - 1] = '\0';
    if (pin) {
        g_autoptr(GBytes) raw = cv_hex_decode(pin, NULL);
        if (!raw || g_bytes_get_size(raw) != 32) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "the pinned key hash must be 64 hex digits");
            return NULL;
        }
        c->pin = g_ascii_strdown(pin, -1);
    }
    if (key_path && !(c->key = cv_sign_privkey_load(key_path, error)))
        return NULL;
    /* no CA database: the agent's certificate is self-signed; its key is checked against the pin instead */
    c->session = cv_client_session_new(NULL);
    soup_session_set_tls_database(c->session, NULL);
    return g_steal_pointer(&c);
}

const char *
cv_agent_client_peer_key_sha256(CvAgentClient *c)
{
    return c->pin;
}

static char *
cert_key_sha256(GTlsCertificate *cert)
{
    guint8 sha[32];

    return cv_client_tls_key_sha256(cert, sha, NULL) ? cv_hex_encode(sha, 32) : NULL;
}

static gboolean
on_accept_certificate(SoupMessage *msg, GTlsCertificate *cert, GTlsCertificateFlags errors, gpointer data)
{
    CvAgentClient *c = data;
    g_autofree char *hex = cert_key_sha256(cert);

    if (!hex)
        return FALSE;
    if (!c->pin) {
        /* no pin given (tests, benchmarks): the first key seen is the one for this client's lifetime;
         * the CLI always comes with a pin, from attestation (cv_agent_client_new_attested) */
        c->pin = g_steal_pointer(&hex);
        return TRUE;
    }
    if (strcmp(c->pin, hex) == 0)
        return TRUE;
    g_free(c->mismatch);
    c->mismatch = g_steal_pointer(&hex);
    return FALSE;
}

static SoupMessage *
new_message(CvAgentClient *c, const char *method, const char *path, GError **error)
{
    g_autofree char *url = g_strconcat(c->base, path, NULL);
    SoupMessage *msg = soup_message_new(method, url);

    if (!msg) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "bad request address %s", url);
        return NULL;
    }
    g_signal_connect(msg, "accept-certificate", G_CALLBACK(on_accept_certificate), c);
    return msg;
}

static void
transport_error(CvAgentClient *c, GError *local, GError **error)
{
    g_autofree char *why = cv_client_transport_message(local);

    if (c->mismatch)
        g_set_error(error, CV_ERROR, CV_ERROR_VERIFY,
                    "the agent's TLS key %s is not the pinned %s: refusing to talk to it", c->mismatch, c->pin);
    else
        g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "cannot reach the agent at %s: %s", c->base, why);
}

JsonNode *
cv_agent_client_answer(guint status, const char *reason, const char *text, gsize len, GError **error)
{
    g_autoptr(JsonNode) root = NULL;
    JsonObject *e = NULL;
    const char *message = NULL;

    if (text && len)
        root = cv_json_parse(text, len, NULL);
    if (status >= 200 && status < 300) {
        if (!root) {
            g_set_error(error, CV_ERROR, CV_ERROR_IO, "the agent answered with something that is not JSON");
            return NULL;
        }
        return g_steal_pointer(&root);
    }
    if (root && JSON_NODE_HOLDS_OBJECT(root) &&
        cv_json_member_object(json_node_get_object(root), "error", FALSE, &e, NULL) &&
        cv_json_member_string(e, "message", FALSE, &message, NULL) && message) {
        g_set_error(error, CV_ERROR, cv_error_code_from_http_status(status, CV_ERROR_IO), "agent refused (HTTP %u): %s",
                    status, message);
        return NULL;
    }
    g_set_error(error, CV_ERROR, cv_error_code_from_http_status(status, CV_ERROR_IO), "agent answered HTTP %u %s",
                status, reason ? reason : "");
    return NULL;
}

static JsonNode *
response_json(SoupMessage *msg, GBytes *body, GError **error)
{
    gsize len = 0;
    const char *text = body ? g_bytes_get_data(body, &len) : NULL;

    return cv_agent_client_answer(soup_message_get_status(msg), soup_message_get_reason_phrase(msg), text, len, error);
}

JsonNode *
cv_agent_client_get_json(CvAgentClient *c, const char *path, GError **error)
{
    g_autoptr(SoupMessage) msg = new_message(c, "GET", path, error);
    g_autoptr(GError) local = NULL;
    g_autoptr(GBytes) body = NULL;

    if (!msg)
        return NULL;
    body = soup_session_send_and_read(c->session, msg, NULL, &local);
    if (!body) {
        transport_error(c, local, error);
        return NULL;
    }
    return response_json(msg, body, error);
}

char *
cv_agent_client_challenge(CvAgentClient *c, GError **error)
{
    g_autoptr(JsonNode) root = cv_agent_client_get_json(c, CV_AGENT_API_CHALLENGE, error);
    const char *challenge = NULL;

    if (!root)
        return NULL;
    if (!JSON_NODE_HOLDS_OBJECT(root) ||
        !cv_json_member_string(json_node_get_object(root), "challenge", TRUE, &challenge, NULL)) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "the agent sent no challenge");
        return NULL;
    }
    return g_strdup(challenge);
}

char *
cv_agent_client_sign(CvAgentClient *c, const char *challenge_hex, const char *method, const char *path,
                     const guint8 body_sha3[32], GError **error)
{
    g_autoptr(GBytes) raw = cv_hex_decode(challenge_hex, error);
    g_autoptr(GBytes) sig = NULL;
    g_autoptr(SoupMessage) msg = NULL;
    guint8 d[CV_SIGN_DIGEST_SIZE];

    if (!c->key) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "a key is needed to sign (--key)");
        return NULL;
    }
    /* the path as it goes on the wire: libsoup decodes %2E and the like and removes dot segments */
    if (!raw || !(msg = new_message(c, method, path, error)) ||
        !cv_sign_request_digest(g_bytes_get_data(raw, NULL), g_bytes_get_size(raw), method,
                                g_uri_get_path(soup_message_get_uri(msg)), body_sha3, d, error))
        return NULL;
    sig = cv_sign_digest(c->key, d, error);
    if (!sig)
        return NULL;
    return g_base64_encode(g_bytes_get_data(sig, NULL), g_bytes_get_size(sig));
}

typedef struct {
    CvAgentClientProgress cb;
    gpointer user_data;
    guint64 done, total;
} Progress;

static void
on_wrote_body_data(SoupMessage *msg, guint chunk, gpointer data)
{
    Progress *p = data;

    p->done += chunk;
    if (p->cb)
        p->cb(p->done, p->total, p->user_data);
}

JsonNode *
cv_agent_client_put_signed(CvAgentClient *c, const char *path, const char *file, const char *sha3_hex,
                           const char *challenge_hex, const char *signature_b64, CvAgentClientProgress progress,
                           gpointer user_data, GError **error)
{
    g_autoptr(SoupMessage) msg = new_message(c, "PUT", path, error);
    g_autoptr(GFile) gf = g_file_new_for_path(file);
    g_autoptr(GFileInputStream) in = NULL;
    g_autoptr(GFileInfo) info = NULL;
    g_autoptr(GError) local = NULL;
    g_autoptr(GBytes) body = NULL;
    SoupMessageHeaders *h;
    Progress p = { progress, user_data, 0, 0 };

    if (!msg)
        return NULL;
    in = g_file_read(gf, NULL, &local);
    info = in ? g_file_input_stream_query_info(in, G_FILE_ATTRIBUTE_STANDARD_SIZE, NULL, &local) : NULL;
    if (!info) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot read %s: %s", file, local->message);
        return NULL;
    }
    p.total = g_file_info_get_size(info);
    h = soup_message_get_request_headers(msg);
    soup_message_headers_replace(h, CV_AGENT_API_HDR_CHALLENGE, challenge_hex);
    soup_message_headers_replace(h, CV_AGENT_API_HDR_SIGNATURE, signature_b64);
    soup_message_headers_replace(h, CV_AGENT_API_HDR_CONTENT_SHA3, sha3_hex);
    /* streamed from the file: an upload is never held whole in memory here either */
    soup_message_set_request_body(msg, "application/octet-stream", G_INPUT_STREAM(in), p.total);
    g_signal_connect(msg, "wrote-body-data", G_CALLBACK(on_wrote_body_data), &p);
    body = soup_session_send_and_read(c->session, msg, NULL, &local);
    if (!body) {
        /* the agent may refuse early and close: its answer is still the better message */
        if (soup_message_get_status(msg) >= 400)
            return response_json(msg, NULL, error);
        transport_error(c, local, error);
        return NULL;
    }
    return response_json(msg, body, error);
}

JsonNode *
cv_agent_client_upload(CvAgentClient *c, const char *path, const char *file, CvAgentClientProgress progress,
                       gpointer user_data, GError **error)
{
    g_autofree char *sha3_hex = cv_file_digest_hex("SHA3-256", file, error);
    g_autoptr(GBytes) sha3 = NULL;
    g_autofree char *challenge = NULL;
    g_autofree char *sig = NULL;

    if (!sha3_hex || !(sha3 = cv_hex_decode(sha3_hex, error)))
        return NULL;
    challenge = cv_agent_client_challenge(c, error);
    if (!challenge)
        return NULL;
    sig = cv_agent_client_sign(c, challenge, "PUT", path, g_bytes_get_data(sha3, NULL), error);
    if (!sig)
        return NULL;
    return cv_agent_client_put_signed(c, path, file, sha3_hex, challenge, sig, progress, user_data, error);
}

gboolean
cv_agent_client_download_result(CvAgentClient *c, const char *out_file, CvAgentClientProgress progress,
                                gpointer user_data, GError **error)
{
    g_autoptr(SoupMessage) msg = new_message(c, "GET", CV_AGENT_API_RESULT, error);
    g_autoptr(GBytes) empty = cv_digest("SHA3-256", "", 0, error);
    g_autoptr(GInputStream) in = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree char *challenge = NULL;
    g_autofree char *sig = NULL;
    g_autofree char *tmp = NULL;
    g_autofree guint8 *buf = NULL;
    guint64 done = 0, total;
    gssize n;
    int fd;

    if (!msg || !empty)
        return FALSE;
    challenge = cv_agent_client_challenge(c, error);
    if (!challenge)
        return FALSE;
    sig = cv_agent_client_sign(c, challenge, "GET", CV_AGENT_API_RESULT, g_bytes_get_data(empty, NULL), error);
    if (!sig)
        return FALSE;
    soup_message_headers_replace(soup_message_get_request_headers(msg), CV_AGENT_API_HDR_CHALLENGE, challenge);
    soup_message_headers_replace(soup_message_get_request_headers(msg), CV_AGENT_API_HDR_SIGNATURE, sig);
    in = soup_session_send(c->session, msg, NULL, &local);
    if (!in) {
        transport_error(c, local, error);
        return FALSE;
    }
    if (soup_message_get_status(msg) != 200) {
        g_autoptr(GBytes) body = g_input_stream_read_bytes(in, 65536, NULL, NULL);
        g_autoptr(JsonNode) ignored = response_json(msg, body, error);
        return FALSE;
    }
    total = soup_message_headers_get_content_length(soup_message_get_response_headers(msg));
    tmp = g_strdup_printf("%s.XXXXXX", out_file);
    fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot create %s: %s", out_file, g_strerror(errno));
        return FALSE;
    }
    buf = g_malloc(65536);
    while ((n = g_input_stream_read(in, buf, 65536, NULL, &local)) > 0) {
        if (write(fd, buf, n) != n) {
            g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot write %s: %s", out_file, g_strerror(errno));
            goto fail;
        }
        done += n;
        if (progress)
            progress(done, total, user_data);
    }
    if (n < 0) {
        g_autofree char *why = cv_client_transport_message(local);

        g_set_error(error, CV_ERROR, CV_ERROR_IO, "download interrupted: %s", why);
        goto fail;
    }
    if (close(fd) < 0 || rename(tmp, out_file) < 0) {
        fd = -1;
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot write %s: %s", out_file, g_strerror(errno));
        goto fail;
    }
    return TRUE;
 fail:
    if (fd >= 0)
        close(fd);
    g_unlink(tmp);
    return FALSE;
}

char *
cv_agent_client_dataset_path(const char *filename)
{
    g_autofree char *esc = g_uri_escape_string(filename, NULL, FALSE);

    return g_strconcat(CV_AGENT_API_DATASETS_PREFIX, esc, NULL);
}

/* Every top-level entry of from into to, none replacing what is there: all are checked before
 * the first moves, so a clash leaves to as it was. */
static gboolean
move_entries(const char *from, const char *to, GError **error)
{
    g_autoptr(GDir) d = g_dir_open(from, 0, error);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    if (!d)
        return FALSE;
    while ((name = g_dir_read_name(d))) {
        g_autofree char *dst = g_build_filename(to, name, NULL);

        if (g_file_test(dst, G_FILE_TEST_EXISTS) || g_file_test(dst, G_FILE_TEST_IS_SYMLINK)) {
            g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "%s already exists: the result is not unpacked over it",
                        dst);
            return FALSE;
        }
        g_ptr_array_add(names, g_strdup(name));
    }
    for (guint i = 0; i < names->len; i++) {
        g_autofree char *src = g_build_filename(from, names->pdata[i], NULL);
        g_autofree char *dst = g_build_filename(to, names->pdata[i], NULL);

        if (cv_file_rename_noreplace(src, dst) < 0) {
            g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot move the result's %s into %s: %s",
                        (char *)names->pdata[i], to, g_strerror(errno));
            return FALSE;
        }
    }
    return TRUE;
}

gboolean
cv_agent_client_unpack(const char *zip, const char *dir, guint64 max_bytes, GError **error)
{
    g_autofree char *tmpl = g_build_filename(dir, ".covirt-result-XXXXXX", NULL);
    CvArchiveExtract how = { .format = CV_ARCHIVE_FORMAT_ARCHIVE, .strict = TRUE,
                             .max_entries = CV_AGENT_CLIENT_RESULT_MAX_ENTRIES };
    struct statvfs fs;
    gboolean ok;

    if (g_mkdir_with_parents(dir, 0700) < 0 || !g_mkdtemp_full(tmpl, 0700)) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot create a folder in %s: %s", dir, g_strerror(errno));
        return FALSE;
    }
    how.max_bytes = max_bytes;
    if (statvfs(dir, &fs) == 0) {
        guint64 free_bytes = (guint64)fs.f_bavail * fs.f_frsize;
        how.max_bytes = max_bytes ? MIN(max_bytes, free_bytes) : free_bytes;
    }
    ok = cv_archive_extract_with(zip, tmpl, &how, error) && move_entries(tmpl, dir, error);
    cv_file_remove_tree(tmpl);
    return ok;
}
