/* Request signatures between covirt's CLI and covirt-agent (docs/agent.md):
 * D = SHA-256(challenge ‖ method ‖ path ‖ SHA3-256(body)), signed with the
 * uploader's key: RSA (PKCS#1 v1.5, SHA-256 over D), ECDSA P-256 (SHA-256 over
 * D, DER signature) or Ed25519 (over D itself). */
#pragma once
#include <glib.h>
#include <openssl/evp.h>

G_BEGIN_DECLS

#define CV_SIGN_DIGEST_SIZE 32

/* Public key from PEM SubjectPublicKeyInfo; only RSA >= 2048 bits, ECDSA P-256 and Ed25519. */
EVP_PKEY *cv_sign_pubkey_from_pem(const char *pem, gsize len, GError **error);
/* Private key from a PEM file (same key types). */
EVP_PKEY *cv_sign_privkey_load(const char *path, GError **error);
/* "rsa", "ecdsa", "ed25519" or NULL for other types. */
const char *cv_sign_key_type(EVP_PKEY *key);
/* SHA-256 of the DER SubjectPublicKeyInfo (32 bytes), as hex. */
char *cv_sign_pubkey_sha256_hex(EVP_PKEY *key, GError **error);
GBytes *cv_sign_pubkey_sha256(EVP_PKEY *key, GError **error);
/* PEM text of the public key. */
char *cv_sign_pubkey_to_pem(EVP_PKEY *key, GError **error);

/* D above; challenge is raw bytes, body_sha3 is 32 raw bytes. */
gboolean cv_sign_request_digest(const guint8 *challenge, gsize challenge_len, const char *method,
                                const char *path, const guint8 body_sha3[32],
                                guint8 out[CV_SIGN_DIGEST_SIZE], GError **error);
GBytes *cv_sign_digest(EVP_PKEY *key, const guint8 digest[CV_SIGN_DIGEST_SIZE], GError **error);

G_END_DECLS
