/* covirt verify sev-snp|tdx|tpm: offline verification of evidence files, verdict check by check. */
#include <stdio.h>
#include <string.h>
#include "covirt-builtins.h"
#include "cv-util.h"
#include "cv-autoptr.h"
#include "policy.h"
#include "snp-report.h"
#include "tdx-quote.h"
#include "tpm-quote.h"
#include "event-log.h"
#include "evidence.h"
#include "attest-util.h"

#define MAX_FILE (1u << 20)

static gboolean
parse_at(const char *text, gint64 *out, GError **error)
{
    g_autoptr(GDateTime) dt = NULL;

    *out = 0;
    if (!text)
        return TRUE;
    dt = g_date_time_new_from_iso8601(text, NULL);
    if (!dt) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "--at '%s' is not an RFC 3339 time (e.g. 2025-06-01T00:00:00Z)",
                    text);
        return FALSE;
    }
    *out = g_date_time_to_unix(dt);
    if (*out <= 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "--at must be after 1970");
        return FALSE;
    }
    return TRUE;
}

static JsonNode *
load_policy(const char *path, const char *platform, GError **error)
{
    if (!path)
        return cv_attest_policy_default(platform);
    return cv_attest_policy_load(path, platform, error);
}

static int
print_verdict(CvAttestVerdict *v, gboolean json)
{
    if (json) {
        g_autoptr(JsonNode) n = cv_attest_verdict_to_json(v);
        g_autofree char *text = cv_json_to_string(n, TRUE);
        printf("%s\n", text);
    } else {
        g_autofree char *text = cv_attest_verdict_to_text(v);
        fputs(text, stdout);
    }
    if (cv_attest_verdict_passed(v))
        return 0;
    {
        g_autoptr(GError) e = g_error_new(CV_ERROR, CV_ERROR_VERIFY, "verification failed");
        return cv_error_exit_code(e);
    }
}

/* the options the forms share, and what they give */
typedef struct {
    char *policy_path;
    char *at_text;
    gboolean json;
    JsonNode *policy;
    gint64 at;
} Common;

static void
common_clear(Common *c)
{
    g_clear_pointer(&c->policy_path, g_free);
    g_clear_pointer(&c->at_text, g_free);
    g_clear_pointer(&c->policy, json_node_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Common, common_clear)

/* The form's own entries, then --policy (when policy_help is given), --at (when with_at) and --json. */
static GOptionContext *
make_context(const char *usage, const char *summary, const GOptionEntry *entries, Common *c, const char *policy_help,
             gboolean with_at)
{
    GOptionContext *ctx = g_option_context_new(usage);
    const GOptionEntry policy[] = {
        { "policy", 0, 0, G_OPTION_ARG_FILENAME, &c->policy_path, policy_help, "FILE" }, { NULL },
    };
    const GOptionEntry at[] = {
        { "at", 0, 0, G_OPTION_ARG_STRING, &c->at_text, "verify certificates as of this RFC 3339 time", "TIME" }, { NULL },
    };
    const GOptionEntry json[] = { { "json", 0, 0, G_OPTION_ARG_NONE, &c->json, "print the verdict as JSON", NULL }, { NULL } };

    g_option_context_set_summary(ctx, summary);
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (policy_help)
        g_option_context_add_main_entries(ctx, policy, NULL);
    if (with_at)
        g_option_context_add_main_entries(ctx, at, NULL);
    g_option_context_add_main_entries(ctx, json, NULL);
    return ctx;
}

/* Parses the options and checks the ones this form requires: both kinds of mistake are usage errors. */
static gboolean
parse_options(GOptionContext *ctx, const char *command, int *argc, char ***argv, char **const required[],
              const char *missing)
{
    if (!cv_cli_parse(ctx, command, argc, argv))
        return FALSE;
    for (gsize i = 0; required[i]; i++) {
        if (!*required[i]) {
            cv_cli_usage(command, "%s", missing);
            return FALSE;
        }
    }
    return TRUE;
}

/* --at, the policy (or the platform's default) and the evidence file of sev-snp and tdx */
static gboolean
load_inputs(Common *c, const char *platform, const char *path, GBytes **data, GError **error)
{
    return parse_at(c->at_text, &c->at, error) && (c->policy = load_policy(c->policy_path, platform, error)) &&
           (*data = cv_read_file(path, MAX_FILE, error));
}

/* The trust anchors: the file the option names, else the policy's ca_pem, else an error naming the option. */
static GBytes *
load_ca(const char *path, JsonNode *policy, const char *missing, GError **error)
{
    const char *policy_ca = json_object_get_string_member_with_default(json_node_get_object(policy), "ca_pem", NULL);

    if (path)
        return cv_read_file(path, MAX_FILE, error);
    if (policy_ca)
        return g_bytes_new(policy_ca, strlen(policy_ca));
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s is required when the policy names none", missing);
    return NULL;
}

static int
verify_snp(int argc, char **argv)
{
    g_auto(Common) c = { 0 };
    g_autofree char *report_path = NULL, *ca = NULL, *vcek = NULL;
    GOptionEntry entries[] = {
        { "report", 0, 0, G_OPTION_ARG_FILENAME, &report_path, "SNP attestation report (1184 bytes)", "FILE" },
        { "ca", 0, 0, G_OPTION_ARG_FILENAME, &ca, "AMD ASK (or ASVK) + ARK, PEM", "ASK_ARK.pem" },
        { "vcek", 0, 0, G_OPTION_ARG_FILENAME, &vcek, "VCEK or VLEK certificate (DER or PEM)", "FILE" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = make_context("- verify an SEV-SNP report", "Verifies the report's signature, "
                                                 "its VCEK/VLEK → ASK → ARK chain, the TCB and the policy.", entries,
                                                 &c, "sev-snp policy (default: debug refused)", TRUE);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) report = NULL, cert = NULL, ca_pem = NULL;
    g_autoptr(CvAttestSnpTrust) trust = NULL;
    g_autoptr(CvAttestVerdict) v = NULL;
    char **const required[] = { &report_path, NULL };

    if (!parse_options(ctx, "verify sev-snp", &argc, &argv, required, "--report is required"))
        return CV_CLI_EXIT_USAGE;
    if (!load_inputs(&c, "sev-snp", report_path, &report, &error) ||
        (vcek && !(cert = cv_read_file(vcek, MAX_FILE, &error))) ||
        !(ca_pem = load_ca(ca, c.policy, "--ca (AMD ASK + ARK)", &error)) ||
        !(trust = cv_attest_snp_trust_new(g_bytes_get_data(ca_pem, NULL), g_bytes_get_size(ca_pem), &error)))
        return cv_cli_fail(error);
    v = cv_attest_snp_verify(trust, g_bytes_get_data(report, NULL), g_bytes_get_size(report),
                             cert ? g_bytes_get_data(cert, NULL) : NULL, cert ? g_bytes_get_size(cert) : 0,
                             json_node_get_object(c.policy), c.at, &error);
    if (!v)
        return cv_cli_fail(error);
    return print_verdict(v, c.json);
}

static int
verify_tdx(int argc, char **argv)
{
    g_auto(Common) c = { 0 };
    g_autofree char *quote_path = NULL, *root = NULL;
    GOptionEntry entries[] = {
        { "quote", 0, 0, G_OPTION_ARG_FILENAME, &quote_path, "TDX quote, version 4 or 5", "FILE" },
        { "root", 0, 0, G_OPTION_ARG_FILENAME, &root, "Intel SGX Root CA, PEM", "ROOT.pem" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = make_context("- verify a TDX quote", "Verifies the quote signature, the QE "
                                                 "report and its PCK chain to the Intel root, and the policy.", entries,
                                                 &c, "tdx policy (default: debug refused)", TRUE);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) quote = NULL, root_pem = NULL;
    g_autoptr(CvAttestVerdict) v = NULL;
    char **const required[] = { &quote_path, NULL };

    if (!parse_options(ctx, "verify tdx", &argc, &argv, required, "--quote is required"))
        return CV_CLI_EXIT_USAGE;
    if (!load_inputs(&c, "tdx", quote_path, &quote, &error) ||
        !(root_pem = load_ca(root, c.policy, "--root (Intel SGX Root CA)", &error)))
        return cv_cli_fail(error);
    v = cv_attest_tdx_verify(g_bytes_get_data(quote, NULL), g_bytes_get_size(quote), g_bytes_get_data(root_pem, NULL),
                             g_bytes_get_size(root_pem), json_node_get_object(c.policy), c.at, &error);
    if (!v)
        return cv_cli_fail(error);
    return print_verdict(v, c.json);
}

static int
verify_tpm(int argc, char **argv)
{
    g_autofree char *ak_path = NULL, *msg_path = NULL, *sig_path = NULL, *pcr_path = NULL, *nonce_hex = NULL;
    g_autofree char *log_path = NULL;
    g_auto(Common) c = { 0 };
    GOptionEntry entries[] = {
        { "ak", 0, 0, G_OPTION_ARG_FILENAME, &ak_path, "AK public key (tpm2_readpublic -f pem), PEM or DER", "AK.pem" },
        { "message", 0, 0, G_OPTION_ARG_FILENAME, &msg_path, "TPMS_ATTEST (tpm2_quote -m)", "FILE" },
        { "signature", 0, 0, G_OPTION_ARG_FILENAME, &sig_path, "TPMT_SIGNATURE (tpm2_quote -s)", "FILE" },
        { "pcrs", 0, 0, G_OPTION_ARG_FILENAME, &pcr_path, "PCR values (tpm2_quote -o)", "FILE" },
        { "nonce", 0, 0, G_OPTION_ARG_STRING, &nonce_hex, "expected qualifying data (tpm2_quote -q)", "HEX" },
        { "event-log", 0, 0, G_OPTION_ARG_FILENAME, &log_path, "TCG event log (binary_bios_measurements)", "FILE" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = make_context("- verify a TPM 2.0 quote", "Verifies the AK signature, the PCR "
                                                 "digest, the nonce, the event log and the policy.", entries, &c,
                                                 "vtpm policy (PCR values, boot events)", FALSE);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) ak_data = NULL, msg = NULL, sig = NULL, pcr_data = NULL, nonce = NULL, log = NULL;
    g_autoptr(EVP_PKEY) ak = NULL;
    g_autoptr(CvAttestVerdict) v = cv_attest_verdict_new("vtpm");
    CvAttestPcrs pcrs;
    CvAttestTpmInput in = { 0 };

    char **const required[] = { &ak_path, &msg_path, &sig_path, &pcr_path, NULL };

    if (!parse_options(ctx, "verify tpm", &argc, &argv, required, "--ak, --message, --signature and --pcrs are required"))
        return CV_CLI_EXIT_USAGE;
    if (!(c.policy = load_policy(c.policy_path, "vtpm", &error)) || !(ak_data = cv_read_file(ak_path, MAX_FILE, &error)) ||
        !(msg = cv_read_file(msg_path, MAX_FILE, &error)) || !(sig = cv_read_file(sig_path, MAX_FILE, &error)) ||
        !(pcr_data = cv_read_file(pcr_path, MAX_FILE, &error)) ||
        (nonce_hex && !(nonce = cv_hex_decode(nonce_hex, &error))) ||
        (log_path && !(log = cv_read_file(log_path, CV_ATTEST_EVENT_LOG_MAX, &error))) ||
        !(ak = cv_attest_pkey_from_pem_or_der(g_bytes_get_data(ak_data, NULL), g_bytes_get_size(ak_data), &error)) ||
        !cv_attest_pcrs_from_tpm2_tools(g_bytes_get_data(pcr_data, NULL), g_bytes_get_size(pcr_data), NULL, &pcrs,
                                        &error))
        return cv_cli_fail(error);
    in.ak = ak;
    in.pcrs = &pcrs;
    if (nonce)
        in.nonce = g_bytes_get_data(nonce, &in.nonce_len);
    in.event_log = log;
    in.policy = json_node_get_object(c.policy);
    if (!cv_attest_tpm_verify(v, g_bytes_get_data(msg, NULL), g_bytes_get_size(msg), g_bytes_get_data(sig, NULL),
                              g_bytes_get_size(sig), &in, &error))
        return cv_cli_fail(error);
    return print_verdict(v, c.json);
}

static int
verify_evidence(int argc, char **argv)
{
    g_auto(Common) c = { 0 };
    g_autofree char *bundle_path = NULL, *nonce_hex = NULL, *manifest_path = NULL;
    GOptionEntry entries[] = {
        { "bundle", 0, 0, G_OPTION_ARG_FILENAME, &bundle_path, "evidence bundle (GET /v1/attestation)", "FILE" },
        { "policy", 0, 0, G_OPTION_ARG_FILENAME, &c.policy_path, "attestation policy", "FILE" },
        { "nonce", 0, 0, G_OPTION_ARG_STRING, &nonce_hex, "the nonce the bundle was requested with", "HEX" },
        { "manifest", 0, 0, G_OPTION_ARG_FILENAME, &manifest_path, "the manifest the CVM must hold", "FILE" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = make_context("- verify an evidence bundle offline", "Verifies a bundle saved "
                                                 "from an agent (docs/evidence.md) for the nonce it was asked with. "
                                                 "A vtpm bundle cannot pass tpm.credential offline: that takes "
                                                 "covirt attest.", entries, &c, NULL, TRUE);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) text = NULL, nonce = NULL, manifest = NULL, manifest_sha = NULL;
    g_autoptr(JsonNode) bundle = NULL;
    g_autoptr(CvAttestVerdict) v = NULL;

    char **const required[] = { &bundle_path, &c.policy_path, &nonce_hex, NULL };

    if (!parse_options(ctx, "verify evidence", &argc, &argv, required, "--bundle, --policy and --nonce are required"))
        return CV_CLI_EXIT_USAGE;
    if (!parse_at(c.at_text, &c.at, &error) || !(c.policy = cv_attest_policy_load(c.policy_path, NULL, &error)) ||
        !(nonce = cv_hex_decode(nonce_hex, &error)) || !(text = cv_read_file(bundle_path, 32u << 20, &error)) ||
        !(bundle = cv_json_parse(g_bytes_get_data(text, NULL), g_bytes_get_size(text), &error)))
        return cv_cli_fail(error);
    if (manifest_path &&
        (!(manifest = cv_read_file(manifest_path, 64u << 20, &error)) ||
         !(manifest_sha = cv_json_canonical_digest("SHA256", g_bytes_get_data(manifest, NULL), g_bytes_get_size(manifest), &error))))
        return cv_cli_fail(error);
    v = cv_attest_evidence_verify(bundle, c.policy, g_bytes_get_data(nonce, NULL), g_bytes_get_size(nonce),
                                  manifest_sha ? g_bytes_get_data(manifest_sha, NULL) : NULL, c.at, &error);
    if (!v)
        return cv_cli_fail(error);
    return print_verdict(v, c.json);
}

int
cv_cli_verify(int argc, char **argv)
{
    static const CvCliCommand subs[] = {
        { "sev-snp", "verify an SEV-SNP report", verify_snp },
        { "tdx", "verify a TDX quote", verify_tdx },
        { "tpm", "verify a TPM 2.0 quote", verify_tpm },
        { "evidence", "verify an evidence bundle", verify_evidence },
        { NULL, NULL, NULL },
    };

    /* tpm2-tss logs every refused structure to stderr; the verdict already says what failed */
    g_setenv("TSS2_LOG", "all+NONE", FALSE);
    return cv_cli_dispatch("verify", subs,
                           "Usage: covirt verify sev-snp|tdx|tpm|evidence [OPTION…]\n\n"
                           "Verifies evidence offline and prints the verdict check by check; exit 0 only when\n"
                           "every check passed. Run 'covirt verify PLATFORM --help' for its options.\n",
                           argc, argv);
}
