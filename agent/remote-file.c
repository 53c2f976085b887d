/* Remote files: libsoup's stream read in 64 KiB blocks, through the GCM decryptor when encrypted,
 * into SHA3-256 and the file. */
#include "remote-file.h"
#include "cv-autoptr.h"
#include "cv-error.h"
#include "cv-file.h"
#include "cv-gcm-file.h"
#include "cv-util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <libsoup/soup.h>

#define BLOCK (64 * 1024)

typedef struct {
    int fd;
    const char *dest;
    EVP_MD_CTX *sha3;
} Sink;

static gboolean
sink_write(gpointer data, const guint8 *bytes, gsize len, GError **error)
{
    Sink *s = data;

    if (EVP_DigestUpdate(s->sha3, bytes, len) != 1) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "SHA3-256 failed");
        return FALSE;
    }
    while (len > 0) {
        gssize n = write(s->fd, bytes, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot write %s: %s", s->dest, g_strerror(errno));
            return FALSE;
        }
        bytes += n;
        len -= n;
    }
    return TRUE;
}

static GInputStream *
open_download(const CvRemoteFile *file, SoupSession **session_out, GError **error)
{
    g_autoptr(SoupSession) session = NULL;
    g_autoptr(SoupMessage) msg = NULL;
    g_autoptr(GTlsDatabase) db = NULL;
    g_autoptr(GInputStream) in = NULL;
    guint status;

    if (!g_str_has_prefix(file->url, "https://") && !g_str_has_prefix(file->url, "http://")) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s is not an http or https URL", file->url);
        return NULL;
    }
    if (!(msg = soup_message_new("GET", file->url))) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s is not a usable URL", file->url);
        return NULL;
    }
    if (file->ca_file && !(db = g_tls_file_database_new(file->ca_file, error)))
        return NULL;
    session = soup_session_new_with_options("timeout", file->timeout_s ? file->timeout_s : 60,
                                            "user-agent", "covirt-agent/" COVIRT_VERSION, NULL);
    if (db)
        soup_session_set_tls_database(session, db);
    if (!(in = soup_session_send(session, msg, NULL, error)))
        return NULL;
    status = soup_message_get_status(msg);
    if (status != SOUP_STATUS_OK) {
        g_set_error(error, CV_ERROR, status == 404 ? CV_ERROR_NOT_FOUND : CV_ERROR_UNAVAILABLE, "HTTP %u", status);
        return NULL;
    }
    if (file->max_bytes && soup_message_headers_get_content_length(soup_message_get_response_headers(msg)) >
                               (goffset)file->max_bytes) {
        g_set_error(error, CV_ERROR, CV_ERROR_TOO_LARGE, "over %" G_GUINT64_FORMAT " bytes", file->max_bytes);
        return NULL;
    }
    *session_out = g_steal_pointer(&session);
    return g_steal_pointer(&in);
}

/* the body through the decryptor (or straight) into the sink; *decrypting says which step failed */
static gboolean
copy_body(const CvRemoteFile *file, GInputStream *in, Sink *sink, gboolean *decrypting, GError **error)
{
    g_autoptr(CvGcmDecrypt) gcm = NULL;
    g_autofree guint8 *buf = g_malloc(BLOCK);
    guint64 total = 0;

    if (file->key && !(gcm = cv_gcm_decrypt_new(file->key, sink_write, sink, error)))
        return FALSE;
    for (;;) {
        gssize n = g_input_stream_read(in, buf, BLOCK, NULL, error);
        if (n < 0)
            return FALSE;
        if (n == 0)
            break;
        total += n;
        if (file->max_bytes && total > file->max_bytes) {
            g_set_error(error, CV_ERROR, CV_ERROR_TOO_LARGE, "over %" G_GUINT64_FORMAT " bytes", file->max_bytes);
            return FALSE;
        }
        if (!(gcm ? cv_gcm_decrypt_push(gcm, buf, n, error) : sink_write(sink, buf, n, error)))
            return FALSE;
    }
    *decrypting = TRUE;
    return !gcm || cv_gcm_decrypt_finish(gcm, error);
}

gboolean
cv_remote_file_fetch(const CvRemoteFile *file, const char *dest, guint8 sha3[32], GError **error)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(SoupSession) session = NULL;
    g_autoptr(GInputStream) in = NULL;
    g_autoptr(EVP_MD_CTX) md = EVP_MD_CTX_new();
    g_autoptr(GError) local = NULL;
    g_auto(CvFd) fd = -1;
    Sink sink = { .dest = dest, .sha3 = md };
    gboolean decrypting = FALSE, ok = FALSE;
    unsigned int len = 32;

    if ((fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        g_set_error(error, CV_ERROR, errno == EEXIST ? CV_ERROR_CONFLICT : CV_ERROR_IO, "download: cannot create %s: %s",
                    dest, g_strerror(errno));
        return FALSE;
    }
    sink.fd = fd;
    g_main_context_push_thread_default(context);
    if (!md || EVP_DigestInit_ex2(md, EVP_sha3_256(), NULL) != 1)
        g_set_error(&local, CV_ERROR, CV_ERROR_INTERNAL, "SHA3-256 is not available");
    else if ((in = open_download(file, &session, &local)))
        ok = copy_body(file, in, &sink, &decrypting, &local) && EVP_DigestFinal_ex(md, sha3, &len) == 1;
    g_clear_object(&in);
    g_clear_object(&session);
    g_main_context_pop_thread_default(context);
    if (ok && fsync(fd) != 0) {
        g_set_error(&local, CV_ERROR, CV_ERROR_IO, "cannot write %s: %s", dest, g_strerror(errno));
        ok = FALSE;
    }
    if (!ok) {
        unlink(dest);
        if (decrypting && file->key)
            g_propagate_prefixed_error(error, g_steal_pointer(&local), "decrypt: ");
        else
            g_propagate_prefixed_error(error, g_steal_pointer(&local), "download: ");
    }
    return ok;
}
