/* Attest, then pin: the CLI's way to a CvAgentClient (attest-client.h does the attestation). */
#include "agent-client.h"
#include "attest-client.h"
#include "cv-error.h"
#include "cv-util.h"
#include "policy.h"

CvAgentClient *
cv_agent_client_new_attested(const char *url, const char *key_path, const char *policy_path,
                             const char *manifest_path, const char *pin_hex, GError **error)
{
    g_autoptr(JsonNode) policy = NULL;
    g_autoptr(GBytes) manifest = NULL;
    g_autoptr(GBytes) manifest_sha = NULL;
    g_autoptr(CvAttestVerdict) v = NULL;
    g_autofree char *hex = NULL;
    guint8 pin[32];

    if (pin_hex)
        return cv_agent_client_new(url, key_path, pin_hex, error);
    if (!policy_path) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "attest the agent first: --policy FILE (or --pin HEX, the key `covirt attest` printed)");
        return NULL;
    }
    if (!(policy = cv_attest_policy_load(policy_path, NULL, error)))
        return NULL;
    if (manifest_path &&
        (!(manifest = cv_read_file(manifest_path, 1024 * 1024, error)) ||
         !(manifest_sha = cv_json_canonical_digest("SHA256", g_bytes_get_data(manifest, NULL), g_bytes_get_size(manifest), error))))
        return NULL;
    v = cv_client_attest_agent(url, policy, manifest_sha ? g_bytes_get_data(manifest_sha, NULL) : NULL, pin, error);
    if (!v)
        return NULL;
    if (!cv_attest_verdict_passed(v)) {
        g_autofree char *failed = cv_attest_verdict_failed_names(v);
        g_set_error(error, CV_ERROR, CV_ERROR_VERIFY, "the agent does not pass attestation (%s); nothing was sent",
                    failed ? failed : "failed");
        return NULL;
    }
    hex = cv_hex_encode(pin, 32);
    return cv_agent_client_new(url, key_path, hex, error);
}
