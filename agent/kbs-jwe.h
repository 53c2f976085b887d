/* The agent's side of a KBS resource (docs/remote-resources.md): an ephemeral key pair per RCAR
 * session, its public half as Trustee's `tee-pubkey`, and the flattened JWE the KBS wraps a resource
 * in (RFC 7516: A256GCM content, the CEK by ECDH-ES+A256KW on P-256 or RSA-OAEP-256).
 *
 *   g_autoptr(CvKbsKey) key = cv_kbs_key_new(CV_KBS_KEY_EC_P256, &error);
 *   g_autoptr(JsonNode) jwk = cv_kbs_key_jwk(key);          // goes into runtime-data
 *   g_autoptr(GBytes) secret = cv_kbs_jwe_decrypt(key, body, len, &error);
 */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include <openssl/evp.h>

G_BEGIN_DECLS

typedef enum {
    CV_KBS_KEY_EC_P256,   /* ECDH-ES+A256KW, guest-components' default */
    CV_KBS_KEY_RSA,       /* RSA-2048, RSA-OAEP-256 */
} CvKbsKeyType;

typedef struct _CvKbsKey CvKbsKey;

CvKbsKey *cv_kbs_key_new(CvKbsKeyType type, GError **error);
/* takes a reference on pkey (tests give a fixed key); EC P-256 or RSA, else CV_ERROR_INVALID */
CvKbsKey *cv_kbs_key_new_from_pkey(EVP_PKEY *pkey, GError **error);
void cv_kbs_key_free(CvKbsKey *key);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvKbsKey, cv_kbs_key_free)

/* Exactly the members Trustee re-serialises (EC: kty, crv, alg, x, y; RSA: kty, alg, n, e): any other
 * member would be dropped by the KBS and the runtime-data hashes would then differ. */
JsonNode *cv_kbs_key_jwk(CvKbsKey *key);

/* The resource from a KBS's JWE reply. Every malformed or unexpected member, an algorithm other than
 * the key's, or a failed unwrap or tag check: CV_ERROR_VERIFY naming what failed. The AAD is the
 * `protected` member's text as received (plus "." and `aad` when present). */
GBytes *cv_kbs_jwe_decrypt(CvKbsKey *key, const char *text, gsize len, GError **error);

/* base64url without padding (RFC 7515 §2); decoding refuses padding and other alphabets */
char *cv_kbs_b64url_encode(const guint8 *data, gsize len);
GBytes *cv_kbs_b64url_decode(const char *text, GError **error);

G_END_DECLS
