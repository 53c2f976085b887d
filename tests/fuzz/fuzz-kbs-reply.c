/* libFuzzer: a KBS's replies as the agent reads them (agent/kbs-client.c, kbs-jwe.c): the Challenge,
 * the attestation token, the resource JWE for an EC and an RSA session key, and an SEV-SNP report
 * turned into Trustee's JSON. A json-glib critical is a crash here. */
#include "kbs-client.h"
#include "kbs-evidence.h"
#include "kbs-jwe.h"
#include "cv-error.h"
#include "fuzz-fatal-criticals.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    static CvKbsKey *keys[2];
    GError *error = NULL;
    char *nonce = NULL, *token;
    JsonNode *snp;

    if (!keys[0]) {
        keys[0] = cv_kbs_key_new(CV_KBS_KEY_EC_P256, NULL);
        keys[1] = cv_kbs_key_new(CV_KBS_KEY_RSA, NULL);
    }
    /* a result or an error of the domain, never both or neither */
    if (cv_kbs_parse_challenge((const char *)data, size, &nonce, &error) == !nonce || (error && error->domain != CV_ERROR))
        __builtin_trap();
    g_free(nonce);
    g_clear_error(&error);
    token = cv_kbs_parse_token((const char *)data, size, &error);
    if (!token == !error)
        __builtin_trap();
    g_free(token);
    g_clear_error(&error);
    for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
        GBytes *plain = cv_kbs_jwe_decrypt(keys[i], (const char *)data, size, &error);
        /* nobody can make a JWE for these keys: only errors come back */
        if (plain || !g_error_matches(error, CV_ERROR, CV_ERROR_VERIFY))
            __builtin_trap();
        g_clear_error(&error);
    }
    snp = cv_kbs_snp_report_json(data, size, &error);
    if (!snp == !error)
        __builtin_trap();
    if (snp)
        json_node_unref(snp);
    g_clear_error(&error);
    return 0;
}
