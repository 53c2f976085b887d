/* The KBS client's byte-exact compatibility checks (the fact sheet's C1–C5, docs/remote-resources.md):
 * the JWE AAD, RFC 8785 + SHA-384, the runtime-data digest, the reply shapes kbs-types parses, and a
 * JWE from python3-jwcrypto (an independent implementation) decrypting with the session key. */
#include "kbs-client.h"
#include "kbs-evidence.h"
#include "kbs-jwe.h"
#include "cv-error.h"
#include "cv-jcs.h"
#include "cv-util.h"

#include <string.h>

static char *
digest_hex(const char *text)
{
    return cv_digest_hex("SHA384", text, strlen(text), NULL);
}

/* C1: kbs-types' protected_header_generate_aad */
static void
test_aad(void)
{
    g_autoptr(JsonNode) header = cv_json_parse("{\"alg\":\"fakealg\",\"enc\":\"fakeenc\"}", -1, NULL);
    g_autofree char *compact = cv_json_to_string(header, FALSE);
    g_autofree char *aad = cv_kbs_b64url_encode((const guint8 *)compact, strlen(compact));
    g_autoptr(GBytes) back = cv_kbs_b64url_decode(aad, NULL);

    g_assert_cmpstr(aad, ==, "eyJhbGciOiJmYWtlYWxnIiwiZW5jIjoiZmFrZWVuYyJ9");
    g_assert_cmpmem(g_bytes_get_data(back, NULL), g_bytes_get_size(back), compact, strlen(compact));
    g_assert_null(cv_kbs_b64url_decode("eyJh=", NULL));
    g_assert_null(cv_kbs_b64url_decode("ey+h", NULL));
    g_assert_null(cv_kbs_b64url_decode("eyJhb", NULL));
}

/* C2: Trustee's attestation-service test of parse_runtime_data */
static void
test_jcs_sha384(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = cv_json_parse("{\"b\":1,\"a\":\"test\",\"c\":{\"d\":\"e\"}}", -1, &error);
    g_autofree char *canonical = cv_jcs_serialize(node, &error);
    g_autofree char *hex = NULL;

    g_assert_no_error(error);
    g_assert_cmpstr(canonical, ==, "{\"a\":\"test\",\"b\":1,\"c\":{\"d\":\"e\"}}");
    hex = digest_hex(canonical);
    g_assert_cmpstr(hex, ==, "e71ce8e70d814ba6639c3612ebee0ff1f76f650f8dbb5e47157e0f3f525cd22c"
                             "4597480a186427c813ca941da78870c3");
}

/* C3: the runtime-data digest for nonce "N" and an EC key with x "X", y "Y" */
static void
test_runtime_digest(void)
{
    g_autoptr(GError) error = NULL;
    /* members in another order than the canonical one: the digest must not depend on it */
    g_autoptr(JsonNode) jwk = cv_json_parse("{\"y\":\"Y\",\"kty\":\"EC\",\"x\":\"X\",\"alg\":\"ECDH-ES+A256KW\","
                                            "\"crv\":\"P-256\"}", -1, NULL);
    guint8 digest[CV_KBS_DIGEST_SIZE];
    g_autofree char *hex = NULL, *b64 = NULL;

    g_assert_true(cv_kbs_runtime_digest(jwk, "N", "", digest, &error));
    g_assert_no_error(error);
    hex = cv_hex_encode(digest, sizeof(digest));
    b64 = g_base64_encode(digest, sizeof(digest));
    g_assert_cmpstr(hex, ==, "ff25231e471f216293f6c58f3da01a666428a776582c59f3afc588e54ce0dd85"
                             "c217f128823e4f1ab11a06d928e516f2");
    g_assert_cmpstr(b64, ==, "/yUjHkcfIWKT9sWPPaAaZmQop3ZYLFnzr8WI5Uzg3YXCF/Eogj5PGrEaBtko5Rby");
}

/* the session key's JWK: exactly the members Trustee keeps, coordinates of full length */
static void
test_jwk_members(void)
{
    for (int t = CV_KBS_KEY_EC_P256; t <= CV_KBS_KEY_RSA; t++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(CvKbsKey) key = cv_kbs_key_new(t, &error);
        g_autoptr(JsonNode) jwk = NULL;
        g_autoptr(GList) names = NULL;
        JsonObject *obj;

        g_assert_no_error(error);
        jwk = cv_kbs_key_jwk(key);
        obj = json_node_get_object(jwk);
        names = json_object_get_members(obj);
        if (t == CV_KBS_KEY_EC_P256) {
            g_autoptr(GBytes) x = cv_kbs_b64url_decode(json_object_get_string_member(obj, "x"), NULL);
            g_autoptr(GBytes) y = cv_kbs_b64url_decode(json_object_get_string_member(obj, "y"), NULL);
            g_assert_cmpuint(g_list_length(names), ==, 5);
            g_assert_cmpstr(json_object_get_string_member(obj, "alg"), ==, "ECDH-ES+A256KW");
            g_assert_cmpstr(json_object_get_string_member(obj, "crv"), ==, "P-256");
            g_assert_cmpuint(g_bytes_get_size(x), ==, 32);
            g_assert_cmpuint(g_bytes_get_size(y), ==, 32);
        } else {
            g_autoptr(GBytes) n = cv_kbs_b64url_decode(json_object_get_string_member(obj, "n"), NULL);
            g_assert_cmpuint(g_list_length(names), ==, 4);
            g_assert_cmpstr(json_object_get_string_member(obj, "alg"), ==, "RSA-OAEP-256");
            g_assert_cmpuint(g_bytes_get_size(n), ==, 256);
        }
    }
}

/* C4: a Challenge with extra-params "" (Trustee), {} (its documentation); a hash other than sha384 refused */
static void
test_challenge(void)
{
    static const char *const good[] = {
        "{\"nonce\":\"dGVzdA==\",\"extra-params\":\"\"}",
        "{\"nonce\":\"dGVzdA==\",\"extra-params\":{}}",
        "{\"nonce\":\"dGVzdA==\",\"extra-params\":{\"selected-hash-algorithm\":\"sha384\"}}",
        "{\"nonce\":\"dGVzdA==\"}",
    };
    static const char *const bad[] = {
        "{\"nonce\":\"dGVzdA==\",\"extra-params\":{\"selected-hash-algorithm\":\"sha512\"}}",
        "{\"nonce\":7,\"extra-params\":\"\"}",
        "{\"extra-params\":\"\"}",
        "{\"nonce\":\"x\",\"extra-params\":[]}",
        "[]",
    };

    for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autofree char *nonce = NULL;
        g_autoptr(GError) error = NULL;
        g_assert_true(cv_kbs_parse_challenge(good[i], strlen(good[i]), &nonce, &error));
        g_assert_no_error(error);
        g_assert_cmpstr(nonce, ==, "dGVzdA==");
    }
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *nonce = NULL;
        g_autoptr(GError) error = NULL;
        g_assert_false(cv_kbs_parse_challenge(bad[i], strlen(bad[i]), &nonce, &error));
        g_assert_nonnull(error);
        g_assert_null(nonce);
    }
}

/* Debian's python3, which has python3-jwcrypto (meson passes KBS_PYTHON) */
static const char *
kbs_python(void)
{
    return g_getenv("KBS_PYTHON") ? g_getenv("KBS_PYTHON") : "python3";
}

/* python3-jwcrypto's JWE for this key (protected header optionally ending in "\n", optional aad) */
static char *
jwcrypto_jwe(CvKbsKey *key, const char *plaintext_hex, const char *aad, gboolean newline)
{
    g_autoptr(JsonNode) jwk = cv_kbs_key_jwk(key);
    g_autofree char *jwk_text = cv_json_to_string(jwk, FALSE);
    g_autofree char *script = g_build_filename(COVIRT_SOURCE_DIR, "tests", "kbs", "test-kbs.py", NULL);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    char *out = NULL;
    int status = 0;

    g_ptr_array_add(argv, (char *)kbs_python());
    g_ptr_array_add(argv, script);
    g_ptr_array_add(argv, "jwe");
    g_ptr_array_add(argv, "--jwk");
    g_ptr_array_add(argv, jwk_text);
    g_ptr_array_add(argv, "--plaintext-hex");
    g_ptr_array_add(argv, (char *)plaintext_hex);
    if (aad) {
        g_ptr_array_add(argv, "--aad");
        g_ptr_array_add(argv, (char *)aad);
    }
    if (newline)
        g_ptr_array_add(argv, "--newline");
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, NULL,
                               &status, &error));
    g_assert_no_error(error);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    return out;
}

/* C5 and the rest of C4: jwcrypto's JWEs open; a changed byte anywhere, or another key, does not */
static void
test_jwcrypto(gconstpointer data)
{
    CvKbsKeyType type = GPOINTER_TO_INT(data);
    static const guint8 secret[32] = "0123456789abcdef0123456789abcde";
    g_autofree char *hex = cv_hex_encode(secret, sizeof(secret));
    g_autoptr(CvKbsKey) key = cv_kbs_key_new(type, NULL);
    g_autoptr(CvKbsKey) other = cv_kbs_key_new(type, NULL);

    g_autofree char *probe = g_strdup_printf("%s -c 'import jwcrypto' 2>/dev/null", kbs_python());

    if (system(probe) != 0) {
        g_test_skip("python3-jwcrypto is not installed (scripts/deps.txt)");
        return;
    }
    for (guint variant = 0; variant < 3; variant++) {
        g_autofree char *jwe = jwcrypto_jwe(key, hex, variant == 1 ? "fakeaad" : NULL, variant == 2);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) plain = cv_kbs_jwe_decrypt(key, jwe, strlen(jwe), &error);
        g_autoptr(GBytes) wrong = NULL;
        g_autoptr(JsonNode) node = cv_json_parse(jwe, -1, NULL);
        JsonObject *obj = json_node_get_object(node);
        g_autofree char *tag = g_strdup(json_object_get_string_member(obj, "tag"));
        g_autofree char *tampered = NULL;

        g_assert_no_error(error);
        g_assert_cmpmem(g_bytes_get_data(plain, NULL), g_bytes_get_size(plain), secret, sizeof(secret));
        wrong = cv_kbs_jwe_decrypt(other, jwe, strlen(jwe), &error);
        g_assert_null(wrong);
        g_assert_error(error, CV_ERROR, CV_ERROR_VERIFY);
        g_clear_error(&error);
        tag[0] = tag[0] == 'A' ? 'B' : 'A';
        json_object_set_string_member(obj, "tag", tag);
        tampered = cv_json_to_string(node, FALSE);
        g_assert_null(cv_kbs_jwe_decrypt(key, tampered, strlen(tampered), &error));
        g_assert_error(error, CV_ERROR, CV_ERROR_VERIFY);
    }
}

/* replies that are not JWEs: named errors, nothing else */
static void
test_jwe_garbage(void)
{
    static const char *const bad[] = {
        "", "{}", "[]", "{\"protected\":1}", "{\"protected\":\"!!\"}",
        "{\"protected\":\"eyJhbGciOiJmYWtlYWxnIiwiZW5jIjoiZmFrZWVuYyJ9\",\"encrypted_key\":\"AA\",\"iv\":\"AA\","
        "\"ciphertext\":\"AA\",\"tag\":\"AA\"}",
    };
    g_autoptr(CvKbsKey) key = cv_kbs_key_new(CV_KBS_KEY_EC_P256, NULL);

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_assert_null(cv_kbs_jwe_decrypt(key, bad[i], strlen(bad[i]), &error));
        g_assert_error(error, CV_ERROR, CV_ERROR_VERIFY);
        g_assert_true(g_str_has_prefix(error->message, "the KBS's JWE: "));
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/kbs/c1-aad", test_aad);
    g_test_add_func("/kbs/c2-jcs-sha384", test_jcs_sha384);
    g_test_add_func("/kbs/c3-runtime-digest", test_runtime_digest);
    g_test_add_func("/kbs/jwk-members", test_jwk_members);
    g_test_add_func("/kbs/c4-challenge", test_challenge);
    g_test_add_data_func("/kbs/c5-jwcrypto/ec", GINT_TO_POINTER(CV_KBS_KEY_EC_P256), test_jwcrypto);
    g_test_add_data_func("/kbs/c5-jwcrypto/rsa", GINT_TO_POINTER(CV_KBS_KEY_RSA), test_jwcrypto);
    g_test_add_func("/kbs/jwe-garbage", test_jwe_garbage);
    return g_test_run();
}
