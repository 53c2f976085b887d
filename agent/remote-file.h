/* A file the manifest names by URL (docs/remote-resources.md): downloaded over HTTPS (or HTTP) with
 * libsoup, decrypted as it arrives when encrypted (src/common/cv-gcm-file.h: Cocos's AES-256-GCM
 * layout), hashed with SHA3-256 as uploads are, written to a file: never held in memory whole.
 * Synchronous (a private GMainContext): call it from a worker thread. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

typedef struct {
    const char *url;          /* https:// or http:// */
    const char *ca_file;      /* PEM CA for https; NULL: the system store */
    GBytes *key;              /* 32 bytes: the file is encrypted; NULL: it is not */
    guint64 max_bytes;        /* of the download; 0 = no bound */
    guint timeout_s;          /* idle timeout, 0 = 60 */
} CvRemoteFile;

/* Writes the (decrypted) content to `dest` (created 0600, must not exist) and its SHA3-256 to `sha3`.
 * On failure `dest` is removed and the message starts with the step: "download: …" (URL, TLS, HTTP
 * status, size, I/O) or "decrypt: …" (CV_ERROR_VERIFY: too short, the tag does not match). With a
 * key, the content is not to be used before TRUE: the tag is checked at the end. */
gboolean cv_remote_file_fetch(const CvRemoteFile *file, const char *dest, guint8 sha3[32], GError **error);

G_END_DECLS
