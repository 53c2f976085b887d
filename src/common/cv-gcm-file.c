/* AES-256-GCM files in Cocos's layout, streamed through OpenSSL's EVP interface. */
#include "cv-gcm-file.h"
#include "cv-autoptr.h"
#include "cv-error.h"
#include "cv-file.h"
#include "cv-util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define CHUNK (64 * 1024)

struct _CvGcmDecrypt {
    EVP_CIPHER_CTX *ctx;
    guint8 key[CV_GCM_FILE_KEY];
    guint8 head[CV_GCM_FILE_NONCE];
    gsize head_len;
    guint8 tail[CV_GCM_FILE_TAG];   /* the last bytes seen: the tag once the stream ends */
    gsize tail_len;
    guint8 *out;
    CvGcmOutput output;
    gpointer data;
};

void
cv_gcm_decrypt_free(CvGcmDecrypt *d)
{
    if (!d)
        return;
    EVP_CIPHER_CTX_free(d->ctx);
    OPENSSL_cleanse(d->key, sizeof(d->key));
    g_free(d->out);
    g_free(d);
}

static gboolean
cipher_failed(const char *what, GError **error)
{
    g_autofree char *why = cv_openssl_error_text();

    g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "AES-256-GCM %s failed: %s", what, why);
    return FALSE;
}

CvGcmDecrypt *
cv_gcm_decrypt_new(GBytes *key, CvGcmOutput output, gpointer data, GError **error)
{
    g_autoptr(CvGcmDecrypt) d = NULL;

    if (!key || g_bytes_get_size(key) != CV_GCM_FILE_KEY) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "the key is not %d bytes", CV_GCM_FILE_KEY);
        return NULL;
    }
    d = g_new0(CvGcmDecrypt, 1);
    memcpy(d->key, g_bytes_get_data(key, NULL), CV_GCM_FILE_KEY);
    d->output = output;
    d->data = data;
    d->out = g_malloc(CHUNK + CV_GCM_FILE_TAG);
    if (!(d->ctx = EVP_CIPHER_CTX_new())) {
        cipher_failed("setup", error);
        return NULL;
    }
    return g_steal_pointer(&d);
}

/* ciphertext that is certainly not the tag */
static gboolean
decrypt_some(CvGcmDecrypt *d, const guint8 *bytes, gsize len, GError **error)
{
    while (len > 0) {
        int n = (int)MIN(len, (gsize)CHUNK), out = 0;
        if (EVP_DecryptUpdate(d->ctx, d->out, &out, bytes, n) != 1)
            return cipher_failed("decryption", error);
        if (out > 0 && !d->output(d->data, d->out, out, error))
            return FALSE;
        bytes += n;
        len -= n;
    }
    return TRUE;
}

gboolean
cv_gcm_decrypt_push(CvGcmDecrypt *d, const guint8 *bytes, gsize len, GError **error)
{
    gsize take;

    if (d->head_len < CV_GCM_FILE_NONCE) {
        take = MIN(len, CV_GCM_FILE_NONCE - d->head_len);
        memcpy(d->head + d->head_len, bytes, take);
        d->head_len += take;
        bytes += take;
        len -= take;
        if (d->head_len == CV_GCM_FILE_NONCE &&
            (EVP_DecryptInit_ex2(d->ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
             EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_GCM_SET_IVLEN, CV_GCM_FILE_NONCE, NULL) != 1 ||
             EVP_DecryptInit_ex2(d->ctx, NULL, d->key, d->head, NULL) != 1))
            return cipher_failed("setup", error);
    }
    if (len == 0)
        return TRUE;
    /* what the held-back tail and the new bytes have beyond the last 16 is ciphertext */
    if (d->tail_len + len > CV_GCM_FILE_TAG) {
        gsize from_tail = MIN(d->tail_len, d->tail_len + len - CV_GCM_FILE_TAG);
        if (!decrypt_some(d, d->tail, from_tail, error))
            return FALSE;
        memmove(d->tail, d->tail + from_tail, d->tail_len - from_tail);
        d->tail_len -= from_tail;
        if (len > CV_GCM_FILE_TAG - d->tail_len) {
            take = len - (CV_GCM_FILE_TAG - d->tail_len);
            if (!decrypt_some(d, bytes, take, error))
                return FALSE;
            bytes += take;
            len -= take;
        }
    }
    memcpy(d->tail + d->tail_len, bytes, len);
    d->tail_len += len;
    return TRUE;
}

gboolean
cv_gcm_decrypt_finish(CvGcmDecrypt *d, GError **error)
{
    int out = 0;

    if (d->head_len < CV_GCM_FILE_NONCE || d->tail_len < CV_GCM_FILE_TAG) {
        g_set_error(error, CV_ERROR, CV_ERROR_VERIFY, "the file is shorter than a nonce and a tag");
        return FALSE;
    }
    if (EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_GCM_SET_TAG, CV_GCM_FILE_TAG, d->tail) != 1 ||
        EVP_DecryptFinal_ex(d->ctx, d->out, &out) != 1) {
        g_set_error(error, CV_ERROR, CV_ERROR_VERIFY, "the tag does not match: a wrong key or a changed file");
        return FALSE;
    }
    return TRUE;
}

static gboolean
write_all(int fd, const guint8 *data, gsize len, const char *path, GError **error)
{
    while (len > 0) {
        gssize n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot write %s: %s", path, g_strerror(errno));
            return FALSE;
        }
        data += n;
        len -= n;
    }
    return TRUE;
}

static gboolean
encrypt_stream(int in, int out, const char *out_path, GBytes *key, GError **error)
{
    g_autoptr(EVP_CIPHER_CTX) ctx = EVP_CIPHER_CTX_new();
    g_autofree guint8 *buf = g_malloc(CHUNK), *enc = g_malloc(CHUNK + CV_GCM_FILE_TAG);
    guint8 nonce[CV_GCM_FILE_NONCE], tag[CV_GCM_FILE_TAG];
    int n = 0;

    if (RAND_bytes(nonce, sizeof(nonce)) != 1 || !ctx ||
        EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CV_GCM_FILE_NONCE, NULL) != 1 ||
        EVP_EncryptInit_ex2(ctx, NULL, g_bytes_get_data(key, NULL), nonce, NULL) != 1)
        return cipher_failed("setup", error);
    if (!write_all(out, nonce, sizeof(nonce), out_path, error))
        return FALSE;
    for (;;) {
        gssize r = read(in, buf, CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot read: %s", g_strerror(errno));
            return FALSE;
        }
        if (r == 0)
            break;
        if (EVP_EncryptUpdate(ctx, enc, &n, buf, (int)r) != 1)
            return cipher_failed("encryption", error);
        if (!write_all(out, enc, n, out_path, error))
            return FALSE;
    }
    if (EVP_EncryptFinal_ex(ctx, enc, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CV_GCM_FILE_TAG, tag) != 1)
        return cipher_failed("encryption", error);
    return write_all(out, enc, n, out_path, error) && write_all(out, tag, sizeof(tag), out_path, error);
}

gboolean
cv_gcm_file_encrypt(const char *in_path, const char *out_path, GBytes *key, GError **error)
{
    g_auto(CvFd) in = -1, out = -1;

    if (!key || g_bytes_get_size(key) != CV_GCM_FILE_KEY) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "the key is not %d bytes", CV_GCM_FILE_KEY);
        return FALSE;
    }
    if ((in = open(in_path, O_RDONLY | O_CLOEXEC)) < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot open %s: %s", in_path, g_strerror(errno));
        return FALSE;
    }
    if ((out = open(out_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        g_set_error(error, CV_ERROR, errno == EEXIST ? CV_ERROR_CONFLICT : CV_ERROR_IO, "cannot create %s: %s",
                    out_path, g_strerror(errno));
        return FALSE;
    }
    if (!encrypt_stream(in, out, out_path, key, error)) {
        unlink(out_path);
        return FALSE;
    }
    if (fsync(out) != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot write %s: %s", out_path, g_strerror(errno));
        unlink(out_path);
        return FALSE;
    }
    return TRUE;
}
