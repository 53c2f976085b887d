/* A manifest user's public key and the request signatures it makes (docs/agent.md), for the agent
 * that verifies them and for the manifest parser (src/conf/manifest.c) that the manager shares:
 * RSA (>= 2048 bits, PKCS#1 v1.5 with SHA-256 over D), ECDSA P-256 (SHA-256 over D,
 * DER signature) or Ed25519 (over D itself), as src/common/cv-sign.h signs them.
 * GnuTLS, not OpenSSL: the agent's HTTPS already runs on GnuTLS (glib-networking), and
 * OpenSSL 3's first use maps about 2 MiB of libcrypto (docs/agent.md, "Memory"). */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

typedef struct _CvUserKey CvUserKey;

/* PEM SubjectPublicKeyInfo; other key types and sizes are refused (CV_ERROR_INVALID). */
CvUserKey *cv_user_key_new_from_pem(const char *pem, gsize len, GError **error);
/* the same from DER, as Cocos's manifests carry it (base64 of the DER in `user_key`) */
CvUserKey *cv_user_key_new_from_der(const guint8 *der, gsize len, GError **error);
void cv_user_key_free(CvUserKey *key);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvUserKey, cv_user_key_free)

/* "rsa", "ecdsa" or "ed25519" */
const char *cv_user_key_type(const CvUserKey *key);
/* FALSE + CV_ERROR_UNAUTHORIZED when sig is not the key's signature of digest. */
gboolean cv_user_key_verify(const CvUserKey *key, const guint8 digest[32], const guint8 *sig,
                                  gsize sig_len, GError **error);

G_END_DECLS
