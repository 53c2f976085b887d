/* AES-256-GCM files in Cocos's layout (pkg/resource/decrypt.go): 12-byte nonce ‖ ciphertext ‖ 16-byte
 * tag, no AAD, a 32-byte key. Both ways stream: the agent decrypts a download as it arrives
 * (agent/remote-file.c), `covirt kbs encrypt` writes one (docs/remote-resources.md). */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

#define CV_GCM_FILE_NONCE 12
#define CV_GCM_FILE_TAG 16
#define CV_GCM_FILE_KEY 32

typedef struct _CvGcmDecrypt CvGcmDecrypt;

/* plaintext as it comes out; FALSE + error stops the stream */
typedef gboolean (*CvGcmOutput)(gpointer data, const guint8 *plain, gsize len, GError **error);

/* key: CV_GCM_FILE_KEY bytes, else CV_ERROR_INVALID */
CvGcmDecrypt *cv_gcm_decrypt_new(GBytes *key, CvGcmOutput output, gpointer data, GError **error);
/* the file's bytes in order, any chunking; the last 16 seen are held back as the tag */
gboolean cv_gcm_decrypt_push(CvGcmDecrypt *d, const guint8 *bytes, gsize len, GError **error);
/* at the end: CV_ERROR_VERIFY when the file is shorter than nonce + tag or the tag does not match
 * (a wrong key or a changed byte). Plaintext already output is then not to be used. */
gboolean cv_gcm_decrypt_finish(CvGcmDecrypt *d, GError **error);
void cv_gcm_decrypt_free(CvGcmDecrypt *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvGcmDecrypt, cv_gcm_decrypt_free)

/* in_path encrypted under key into out_path (created 0600, must not exist), with a random nonce */
gboolean cv_gcm_file_encrypt(const char *in_path, const char *out_path, GBytes *key, GError **error);

G_END_DECLS
