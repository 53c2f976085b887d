/* The ephemeral RCAR key and the KBS's resource JWE, with OpenSSL 3: GnuTLS has no AES key wrap, and
 * libcrypto is loaded anyway once the collector quotes (docs/agent.md, Memory). */
#include "kbs-jwe.h"
#include "attest-util.h"
#include "cv-autoptr.h"
#include "cv-error.h"
#include "cv-json.h"
#include "cv-util.h"

#include <string.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#define CEK_SIZE 32
#define GCM_IV_SIZE 12
#define GCM_TAG_SIZE 16
#define ECDH_ALG "ECDH-ES+A256KW"
#define RSA_ALG "RSA-OAEP-256"

struct _CvKbsKey {
    CvKbsKeyType type;
    EVP_PKEY *pkey;
};

void
cv_kbs_key_free(CvKbsKey *key)
{
    if (!key)
        return;
    EVP_PKEY_free(key->pkey);
    g_free(key);
}

CvKbsKey *
cv_kbs_key_new_from_pkey(EVP_PKEY *pkey, GError **error)
{
    CvKbsKey *key;
    char group[32] = "";

    if (EVP_PKEY_is_a(pkey, "RSA")) {
        key = g_new0(CvKbsKey, 1);
        key->type = CV_KBS_KEY_RSA;
    } else if (EVP_PKEY_is_a(pkey, "EC") &&
               EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) &&
               (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)) {
        key = g_new0(CvKbsKey, 1);
        key->type = CV_KBS_KEY_EC_P256;
    } else {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "a KBS key is EC P-256 or RSA");
        return NULL;
    }
    EVP_PKEY_up_ref(pkey);
    key->pkey = pkey;
    return key;
}

CvKbsKey *
cv_kbs_key_new(CvKbsKeyType type, GError **error)
{
    g_autoptr(EVP_PKEY) pkey = type == CV_KBS_KEY_RSA ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");

    if (!pkey) {
        g_autofree char *why = cv_openssl_error_text();
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "cannot make a KBS session key: %s", why);
        return NULL;
    }
    return cv_kbs_key_new_from_pkey(pkey, error);
}

char *
cv_kbs_b64url_encode(const guint8 *data, gsize len)
{
    char *text = g_base64_encode(data, len);

    for (char *p = text; *p; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
        else if (*p == '=')
            *p = '\0';
    }
    return text;
}

GBytes *
cv_kbs_b64url_decode(const char *text, GError **error)
{
    gsize len = strlen(text);
    g_autoptr(GString) std = g_string_sized_new(len + 3);
    GError *local = NULL;
    GBytes *out;

    for (gsize i = 0; i < len; i++) {
        char c = text[i];
        if (!(g_ascii_isalnum(c) || c == '-' || c == '_')) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "not base64url without padding");
            return NULL;
        }
        g_string_append_c(std, c == '-' ? '+' : c == '_' ? '/' : c);
    }
    if (len % 4 == 1) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "not base64url without padding");
        return NULL;
    }
    if (len == 0)
        return g_bytes_new(NULL, 0);
    while (std->len % 4)
        g_string_append_c(std, '=');
    out = cv_base64_decode_strict(std->str, &local);
    if (!out)
        g_propagate_error(error, local);
    return out;
}

static void
add_b64url_bn(JsonBuilder *b, const char *name, EVP_PKEY *pkey, const char *param, int pad)
{
    g_autoptr(BIGNUM) bn = NULL;
    g_autofree guint8 *buf = NULL;
    g_autofree char *text = NULL;
    int len;

    EVP_PKEY_get_bn_param(pkey, param, &bn);
    len = pad ? pad : BN_num_bytes(bn);
    buf = g_malloc0(MAX(len, 1));
    BN_bn2binpad(bn, buf, len);
    text = cv_kbs_b64url_encode(buf, len);
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, text);
}

JsonNode *
cv_kbs_key_jwk(CvKbsKey *key)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    gboolean ec = key->type == CV_KBS_KEY_EC_P256;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "kty");
    json_builder_add_string_value(b, ec ? "EC" : "RSA");
    if (ec) {
        json_builder_set_member_name(b, "crv");
        json_builder_add_string_value(b, "P-256");
    }
    json_builder_set_member_name(b, "alg");
    json_builder_add_string_value(b, ec ? ECDH_ALG : RSA_ALG);
    if (ec) {
        /* Trustee decodes the coordinates into fixed 32-byte arrays: always left-padded */
        add_b64url_bn(b, "x", key->pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32);
        add_b64url_bn(b, "y", key->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    } else {
        add_b64url_bn(b, "n", key->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        add_b64url_bn(b, "e", key->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static gboolean
openssl_failed(const char *what, GError **error)
{
    ERR_clear_error();
    g_set_error(error, CV_ERROR, CV_ERROR_VERIFY, "%s failed", what);
    return FALSE;
}

/* a base64url member of exactly `size` bytes (0: any size, at least 1) */
static GBytes *
jwe_member(JsonObject *obj, const char *name, gsize size, GError **error)
{
    const char *text = NULL;
    g_autoptr(GError) local = NULL;
    g_autoptr(GBytes) out = NULL;

    if (!cv_json_member_string(obj, name, TRUE, &text, error))
        return NULL;
    out = cv_kbs_b64url_decode(text, &local);
    if (!out || (size ? g_bytes_get_size(out) != size : g_bytes_get_size(out) == 0)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: %s", name,
                    local ? local->message : size ? "wrong length" : "empty");
        return NULL;
    }
    return g_steal_pointer(&out);
}

/* ECDH with the sender's `epk`, then the Concat KDF of RFC 7518 §4.6.2 (empty apu and apv) */
static gboolean
ecdh_kek(CvKbsKey *key, JsonObject *header, guint8 kek[32], GError **error)
{
    JsonObject *epk = NULL;
    const char *kty = NULL, *crv = NULL;
    g_autoptr(GBytes) x = NULL, y = NULL;
    g_autoptr(EVP_PKEY) peer = NULL;
    g_autoptr(EVP_PKEY_CTX) ctx = NULL;
    guint8 xy[64], z[32];
    gsize zlen = sizeof(z);
    g_autoptr(GByteArray) kdf = g_byte_array_new();
    static const guint8 round1[4] = { 0, 0, 0, 1 }, alg_len[4] = { 0, 0, 0, 14 }, empty[4] = { 0 },
                        keydatalen[4] = { 0, 0, 1, 0 };
    unsigned int outlen = 32;

    if (!cv_json_member_object(header, "epk", TRUE, &epk, error) ||
        !cv_json_member_string(epk, "kty", TRUE, &kty, error) || !cv_json_member_string(epk, "crv", TRUE, &crv, error))
        return FALSE;
    if (strcmp(kty, "EC") != 0 || strcmp(crv, "P-256") != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "epk: not an EC P-256 key");
        return FALSE;
    }
    if (!(x = jwe_member(epk, "x", 32, error)) || !(y = jwe_member(epk, "y", 32, error)))
        return FALSE;
    memcpy(xy, g_bytes_get_data(x, NULL), 32);
    memcpy(xy + 32, g_bytes_get_data(y, NULL), 32);
    if (!(peer = cv_attest_p256_from_xy(xy, error)))
        return FALSE;
    ctx = EVP_PKEY_CTX_new(key->pkey, NULL);
    if (!ctx || EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer(ctx, peer) != 1 ||
        EVP_PKEY_derive(ctx, z, &zlen) != 1 || zlen != sizeof(z))
        return openssl_failed("ECDH", error);
    g_byte_array_append(kdf, round1, 4);
    g_byte_array_append(kdf, z, sizeof(z));
    g_byte_array_append(kdf, alg_len, 4);
    g_byte_array_append(kdf, (const guint8 *)ECDH_ALG, 14);
    g_byte_array_append(kdf, empty, 4);
    g_byte_array_append(kdf, empty, 4);
    g_byte_array_append(kdf, keydatalen, 4);
    OPENSSL_cleanse(z, sizeof(z));
    if (EVP_Digest(kdf->data, kdf->len, kek, &outlen, EVP_sha256(), NULL) != 1)
        return openssl_failed("the Concat KDF", error);
    OPENSSL_cleanse(kdf->data, kdf->len);
    return TRUE;
}

/* RFC 3394 AES-256 key unwrap of a 32-byte CEK */
static gboolean
aes_unwrap(const guint8 kek[32], GBytes *wrapped, guint8 cek[CEK_SIZE], GError **error)
{
    g_autoptr(EVP_CIPHER) cipher = EVP_CIPHER_fetch(NULL, "AES-256-WRAP", NULL);
    g_autoptr(EVP_CIPHER_CTX) ctx = EVP_CIPHER_CTX_new();
    guint8 out[CEK_SIZE + 16];
    int len = 0, fin = 0;

    if (g_bytes_get_size(wrapped) != CEK_SIZE + 8) {
        g_set_error(error, CV_ERROR, CV_ERROR_VERIFY, "encrypted_key: not a wrapped 32-byte key");
        return FALSE;
    }
    if (!cipher || !ctx || EVP_DecryptInit_ex2(ctx, cipher, kek, NULL, NULL) != 1 ||
        EVP_DecryptUpdate(ctx, out, &len, g_bytes_get_data(wrapped, NULL), g_bytes_get_size(wrapped)) != 1 ||
        EVP_DecryptFinal_ex(ctx, out + len, &fin) != 1 || len + fin != CEK_SIZE)
        return openssl_failed("AES key unwrap (wrong key?)", error);
    memcpy(cek, out, CEK_SIZE);
    OPENSSL_cleanse(out, sizeof(out));
    return TRUE;
}

static gboolean
rsa_unwrap(CvKbsKey *key, GBytes *wrapped, guint8 cek[CEK_SIZE], GError **error)
{
    g_autoptr(EVP_PKEY_CTX) ctx = EVP_PKEY_CTX_new(key->pkey, NULL);
    g_autofree guint8 *out = g_malloc(EVP_PKEY_get_size(key->pkey));
    gsize len = EVP_PKEY_get_size(key->pkey);

    if (!ctx || EVP_PKEY_decrypt_init(ctx) != 1 || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) != 1 ||
        EVP_PKEY_decrypt(ctx, out, &len, g_bytes_get_data(wrapped, NULL), g_bytes_get_size(wrapped)) != 1)
        return openssl_failed("RSA-OAEP-256 decryption (wrong key?)", error);
    if (len != CEK_SIZE) {
        OPENSSL_cleanse(out, len);
        g_set_error(error, CV_ERROR, CV_ERROR_VERIFY, "encrypted_key: not a 32-byte key");
        return FALSE;
    }
    memcpy(cek, out, CEK_SIZE);
    OPENSSL_cleanse(out, len);
    return TRUE;
}

static GBytes *
gcm_open(const guint8 cek[CEK_SIZE], GBytes *iv, const char *aad, GBytes *ciphertext, GBytes *tag, GError **error)
{
    g_autoptr(EVP_CIPHER_CTX) ctx = EVP_CIPHER_CTX_new();
    gsize n = g_bytes_get_size(ciphertext);
    guint8 *out = g_malloc(n + 16);
    int len = 0, fin = 0;

    if (!ctx || EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, GCM_IV_SIZE, NULL) != 1 ||
        EVP_DecryptInit_ex2(ctx, NULL, cek, g_bytes_get_data(iv, NULL), NULL) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &len, (const guint8 *)aad, strlen(aad)) != 1 ||
        EVP_DecryptUpdate(ctx, out, &len, g_bytes_get_data(ciphertext, NULL), n) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_SIZE, (void *)g_bytes_get_data(tag, NULL)) != 1 ||
        EVP_DecryptFinal_ex(ctx, out + len, &fin) != 1) {
        OPENSSL_cleanse(out, n);
        g_free(out);
        openssl_failed("A256GCM (the tag does not match)", error);
        return NULL;
    }
    return g_bytes_new_take(out, len + fin);
}

/* RFC 7516 §4's JOSE header: `protected` and, when present, the unprotected `header` and `unprotected`
 * (Trustee puts everything in `protected`; python3-jwcrypto and go-jose put `epk` in `header`). A member
 * in two of them is refused. */
static gboolean
merge_header(JsonObject *into, JsonObject *obj, const char *name, GError **error)
{
    JsonObject *part = NULL;
    g_autoptr(GList) members = NULL;

    if (!cv_json_member_object(obj, name, FALSE, &part, error))
        return FALSE;
    if (!part)
        return TRUE;
    members = json_object_get_members(part);
    for (GList *l = members; l; l = l->next) {
        if (json_object_has_member(into, l->data)) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: %s is also in another header", name,
                        (const char *)l->data);
            return FALSE;
        }
        json_object_set_member(into, l->data, json_node_copy(json_object_get_member(part, l->data)));
    }
    return TRUE;
}

/* the JOSE header: alg and enc checked against the key */
static JsonNode *
jwe_header(CvKbsKey *key, JsonObject *obj, const char *protected_b64, GError **error)
{
    g_autoptr(GBytes) raw = NULL;
    g_autoptr(JsonNode) node = NULL;
    JsonObject *header;
    const char *alg = NULL, *enc = NULL;
    const char *want = key->type == CV_KBS_KEY_EC_P256 ? ECDH_ALG : RSA_ALG;

    if (!(raw = cv_kbs_b64url_decode(protected_b64, error)) ||
        !(node = cv_json_parse_object(g_bytes_get_data(raw, NULL), g_bytes_get_size(raw), "protected", error)))
        return NULL;
    header = json_node_get_object(node);
    if (!merge_header(header, obj, "header", error) || !merge_header(header, obj, "unprotected", error) ||
        !cv_json_member_string(header, "alg", TRUE, &alg, error) ||
        !cv_json_member_string(header, "enc", TRUE, &enc, error))
        return NULL;
    if (strcmp(enc, "A256GCM") != 0 || strcmp(alg, want) != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "alg %s, enc %s where %s, A256GCM was asked for", alg, enc,
                    want);
        return NULL;
    }
    return g_steal_pointer(&node);
}

GBytes *
cv_kbs_jwe_decrypt(CvKbsKey *key, const char *text, gsize len, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(JsonNode) root = NULL, header = NULL;
    g_autoptr(GBytes) wrapped = NULL, iv = NULL, ciphertext = NULL, tag = NULL;
    g_autofree char *aad = NULL;
    JsonObject *obj;
    const char *protected_b64 = NULL, *aad_member = NULL;
    guint8 kek[32], cek[CEK_SIZE];
    gboolean ok;
    GBytes *out;

    if (!(root = cv_json_parse_object(text, len, "the JWE", &local)))
        goto invalid;
    obj = json_node_get_object(root);
    if (!cv_json_member_string(obj, "protected", TRUE, &protected_b64, &local) ||
        !cv_json_member_string(obj, "aad", FALSE, &aad_member, &local) ||
        !(header = jwe_header(key, obj, protected_b64, &local)) ||
        !(wrapped = jwe_member(obj, "encrypted_key", 0, &local)) || !(iv = jwe_member(obj, "iv", GCM_IV_SIZE, &local)) ||
        !(ciphertext = jwe_member(obj, "ciphertext", 0, &local)) ||
        !(tag = jwe_member(obj, "tag", GCM_TAG_SIZE, &local)))
        goto invalid;
    if (key->type == CV_KBS_KEY_EC_P256)
        ok = ecdh_kek(key, json_node_get_object(header), kek, &local) && aes_unwrap(kek, wrapped, cek, &local);
    else
        ok = rsa_unwrap(key, wrapped, cek, &local);
    OPENSSL_cleanse(kek, sizeof(kek));
    if (!ok)
        goto invalid;
    /* RFC 7516 §5.2 step 14: ASCII(protected), and "." ‖ aad when the sender gave one */
    aad = aad_member ? g_strconcat(protected_b64, ".", aad_member, NULL) : g_strdup(protected_b64);
    out = gcm_open(cek, iv, aad, ciphertext, tag, &local);
    OPENSSL_cleanse(cek, sizeof(cek));
    if (!out)
        goto invalid;
    return out;
 invalid:
    g_set_error(error, CV_ERROR, CV_ERROR_VERIFY, "the KBS's JWE: %s", local->message);
    return NULL;
}
