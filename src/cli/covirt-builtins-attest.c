/* covirt attest: attest an agent (fresh nonce, evidence over HTTPS, verdict) and show the TLS key
 * that the upload commands then pin. */
#include <stdio.h>
#include <string.h>
#include "covirt-builtins.h"
#include "cv-util.h"
#include "attest-client.h"
#include "policy.h"

int
cv_cli_attest(int argc, char **argv)
{
    g_autofree char *agent = NULL, *policy_path = NULL, *manifest_path = NULL;
    gboolean json = FALSE;
    GOptionEntry entries[] = {
        { "agent", 0, 0, G_OPTION_ARG_STRING, &agent, "the agent's URL (default: $COVIRT_AGENT_URL)",
          "https://HOST:PORT" },
        { "policy", 0, 0, G_OPTION_ARG_FILENAME, &policy_path, "attestation policy (docs/policy.md)", "FILE" },
        { "manifest", 0, 0, G_OPTION_ARG_FILENAME, &manifest_path, "the computation manifest the CVM must hold",
          "FILE" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &json, "print the verdict as JSON", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("--agent URL --policy FILE [--manifest FILE] - attest a CVM's agent");
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) policy = NULL;
    g_autoptr(GBytes) manifest = NULL;
    g_autoptr(GBytes) manifest_sha = NULL;
    g_autoptr(CvAttestVerdict) v = NULL;
    guint8 pin[32] = { 0 };
    gboolean passed;

    g_setenv("TSS2_LOG", "all+NONE", FALSE);
    g_option_context_set_summary(ctx, "Sends a fresh nonce, verifies the evidence bundle against the policy, prints "
                                 "the verdict check by check and the agent's TLS key to pin. Exit 0 only when "
                                 "every check passed.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!cv_cli_parse(ctx, "attest", &argc, &argv))
        return CV_CLI_EXIT_USAGE;
    if (!agent && g_getenv("COVIRT_AGENT_URL") && *g_getenv("COVIRT_AGENT_URL"))
        agent = g_strdup(g_getenv("COVIRT_AGENT_URL"));
    if (!agent || !policy_path)
        return cv_cli_usage("attest", "--agent (or $COVIRT_AGENT_URL) and --policy are required");
    if (!(policy = cv_attest_policy_load(policy_path, NULL, &error)))
        return cv_cli_fail(error);
    if (manifest_path) {
        if (!(manifest = cv_read_file(manifest_path, 64u << 20, &error)) ||
            !(manifest_sha = cv_json_canonical_digest("SHA256", g_bytes_get_data(manifest, NULL), g_bytes_get_size(manifest), &error)))
            return cv_cli_fail(error);
    }
    v = cv_client_attest_agent(agent, policy, manifest_sha ? g_bytes_get_data(manifest_sha, NULL) : NULL, pin, &error);
    if (!v)
        return cv_cli_fail(error);
    passed = cv_attest_verdict_passed(v);
    if (json) {
        g_autoptr(JsonNode) n = cv_attest_verdict_to_json(v);
        g_autofree char *text = NULL;
        if (passed) {
            g_autofree char *hex = cv_hex_encode(pin, 32);
            json_object_set_string_member(json_node_get_object(n), "pinned_key_sha256", hex);
        }
        text = cv_json_to_string(n, TRUE);
        printf("%s\n", text);
    } else {
        g_autofree char *text = cv_attest_verdict_to_text(v);
        fputs(text, stdout);
        if (passed) {
            g_autofree char *hex = cv_hex_encode(pin, 32);
            printf("pinned TLS key sha256: %s\n", hex);
        }
    }
    if (!passed) {
        g_autoptr(GError) e = g_error_new(CV_ERROR, CV_ERROR_VERIFY, "attestation failed");
        return cv_error_exit_code(e);
    }
    return 0;
}
