/* libFuzzer: evidence bundles and policies as JSON, through the whole verifier. */
#include "evidence.h"
#include "policy.h"
#include "cv-util.h"
#include "attest-util.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    static const guint8 nonce[32] = { 1 };
    JsonNode *n = cv_json_parse((const char *)data, size, NULL);
    JsonNode *p;

    if (n) {
        CvAttestVerdict *v = cv_attest_evidence_verify(n, NULL, nonce, sizeof(nonce), NULL, 0, NULL);
        if (v && cv_attest_verdict_passed(v))
            __builtin_trap();   /* no bundle can pass without a valid signature */
        cv_attest_verdict_free(v);
        json_node_unref(n);
    }
    p = cv_attest_policy_parse((const char *)data, size, NULL, "/nonexistent", NULL);
    if (p)
        json_node_unref(p);
    return 0;
}
