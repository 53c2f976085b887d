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

static GOptionContext *
make_context(const char *usage, const char *summary, GOptionEntry *entries)
{
    GOptionContext *ctx = g_option_context_new(usage);

    g_option_context_set_summary(ctx, summary);
    g_option_context_add_main_entries(ctx, entries, NULL);
    return ctx;
}

/* Parses the options and checks the ones this form requires; both kinds of mistake are usage errors. */
static gboolean
parse_options(GOptionContext *ctx, int *argc, char ***argv, char **const required[], const char *missing,
              GError **error)
{
    if (!g_option_context_parse(ctx, argc, argv, error)) {
        (*error)->code = CV_ERROR_INVALID, (*error)->domain = CV_ERROR;
        return FALSE;
    }
    for (gsize i = 0; required[i]; i++) {
        if (!*required[i]) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s", missing);
            return FALSE;
        }
    }
    return TRUE;
}

/* --at, the policy (or the platform's default) and the evidence file of sev-snp and tdx */
static gboolean
load_inputs(const char *at_text, gint64 *at, const char *policy_path, const char *platform, JsonNode **policy,
            const char *path, GBytes **data, GError **error)
{
    return parse_at(at_text, at, error) && (*policy = load_policy(policy_path, platform, error)) &&
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
    g_autofree char *report_path = NULL, *ca = NULL, *vcek = NULL, *policy_path = NULL, *at_text = NULL;
    gboolean json = FALSE;
    GOptionEntry entries[] = {
        { "report", 0, 0, G_OPTION_ARG_FILENAME, &report_path, "SNP attestation report (1184 bytes)", "FILE" },
        { "ca", 0, 0, G_OPTION_ARG_FILENAME, &ca, "AMD ASK (or ASVK) + ARK, PEM", "ASK_ARK.pem" },
        { "vcek", 0, 0, G_OPTION_ARG_FILENAME, &vcek, "VCEK or VLEK certificate (DER or PEM)", "FILE" },
        { "policy", 0, 0, G_OPTION_ARG_FILENAME, &policy_path, "sev-snp policy (default: debug refused)", "FILE" },
        { "at", 0, 0, G_OPTION_ARG_STRING, &at_text, "verify certificates as of this RFC 3339 time", "TIME" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &json, "print the verdict as JSON", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = make_context("- verify an SEV-SNP report", "Verifies the report's signature, "
                                                 "its VCEK/VLEK → ASK → ARK chain, the TCB and the policy.", entries);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) report = NULL, cert = NULL, ca_pem = NULL;
    g_autoptr(JsonNode) policy = NULL;
    g_autoptr(CvAttestSnpTrust) trust = NULL;
    g_autoptr(CvAttestVerdict) v = NULL;
    gint64 at = 0;

    char **const required[] = { &report_path, NULL };

    if (!parse_options(ctx, &argc, &argv, required, "--report is required", &error) ||
        !load_inputs(at_text, &at, policy_path, "sev-snp", &policy, report_path, &report, &error))
        return cv_cli_fail(error);
    if (vcek && !(cert = cv_read_file(vcek, MAX_FILE, &error)))
        return cv_cli_fail(error);
    if (!(ca_pem = load_ca(ca, policy, "--ca (AMD ASK + ARK)", &error)))
        return cv_cli_fail(error);
    if (!(trust = cv_attest_snp_trust_new(g_bytes_get_data(ca_pem, NULL), g_bytes_get_size(ca_pem), &error)))
        return cv_cli_fail(error);
    v = cv_attest_snp_verify(trust, g_bytes_get_data(report, NULL), g_bytes_get_size(report),
                             cert ? g_bytes_get_data(cert, NULL) : NULL, cert ? g_bytes_get_size(cert) : 0,
                             json_node_get_object(policy), at, &error);
    if (!v)
        return cv_cli_fail(error);
    return print_verdict(v, json);
}

static int
verify_tdx(int argc, char **argv)
{
    g_autofree char *quote_path = NULL, *root = NULL, *policy_path = NULL, *at_text = NULL;
    gboolean json = FALSE;
    GOptionEntry entries[] = {
        { "quote", 0, 0, G_OPTION_ARG_FILENAME, &quote_path, "TDX quote, version 4 or 5", "FILE" },
        { "root", 0, 0, G_OPTION_ARG_FILENAME, &root, "Intel SGX Root CA, PEM", "ROOT.pem" },
        { "policy", 0, 0, G_OPTION_ARG_FILENAME, &policy_path, "tdx policy (default: debug refused)", "FILE" },
        { "at", 0, 0, G_OPTION_ARG_STRING, &at_text, "verify certificates as of this RFC 3339 time", "TIME" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &json, "print the verdict as JSON", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = make_context("- verify a TDX quote", "Verifies the quote signature, the QE "
                                                 "report and its PCK chain to the Intel root, and the policy.", entries);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) quote = NULL, root_pem = NULL;
    g_autoptr(JsonNode) policy = NULL;
    g_autoptr(CvAttestVerdict) v = NULL;
    gint64 at = 0;

    char **const required[] = { &quote_path, NULL };

    if (!parse_options(ctx, &argc, &argv, required, "--quote is required", &error) ||
        !load_inputs(at_text, &at, policy_path, "tdx", &policy, quote_path, &quote, &error))
        return cv_cli_fail(error);
    if (!(root_pem = load_ca(root, policy, "--root (Intel SGX Root CA)", &error)))
        return cv_cli_fail(error);
    v = cv_attest_tdx_verify(g_bytes_get_data(quote, NULL), g_bytes_get_size(quote), g_bytes_get_data(root_pem, NULL),
                             g_bytes_get_size(root_pem), json_node_get_object(policy), at, &error);
    if (!v)
        return cv_cli_fail(error);
    return print_verdict(v, json);
}

static int
verify_tpm(int argc, char **argv)
{
    g_autofree char *ak_path = NULL, *msg_path = NULL, *sig_path = NULL, *pcr_path = NULL, *nonce_hex = NULL;
    g_autofree char *policy_path = NULL, *log_path = NULL;
    gboolean json = FALSE;
    GOptionEntry entries[] = {
        { "ak", 0, 0, G_OPTION_ARG_FILENAME, &ak_path, "AK public key (tpm2_readpublic -f pem), PEM or DER", "AK.pem" },
        { "message", 0, 0, G_OPTION_ARG_FILENAME, &msg_path, "TPMS_ATTEST (tpm2_quote -m)", "FILE" },
        { "signature", 0, 0, G_OPTION_ARG_FILENAME, &sig_path, "TPMT_SIGNATURE (tpm2_quote -s)", "FILE" },
        { "pcrs", 0, 0, G_OPTION_ARG_FILENAME, &pcr_path, "PCR values (tpm2_quote -o)", "FILE" },
        { "nonce", 0, 0, G_OPTION_ARG_STRING, &nonce_hex, "expected qualifying data (tpm2_quote -q)", "HEX" },
        { "event-log", 0, 0, G_OPTION_ARG_FILENAME, &log_path, "TCG event log (binary_bios_measurements)", "FILE" },
        { "policy", 0, 0, G_OPTION_ARG_FILENAME, &policy_path, "vtpm policy (PCR values, boot events)", "FILE" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &json, "print the verdict as JSON", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = make_context("- verify a TPM 2.0 quote", "Verifies the AK signature, the PCR "
                                                 "digest, the nonce, the event log and the policy.", entries);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) ak_data = NULL, msg = NULL, sig = NULL, pcr_data = NULL, nonce = NULL, log = NULL;
    g_autoptr(JsonNode) policy = NULL;
    g_autoptr(EVP_PKEY) ak = NULL;
    g_autoptr(CvAttestVerdict) v = cv_attest_verdict_new("vtpm");
    CvAttestPcrs pcrs;
    CvAttestTpmInput in = { 0 };

    char **const required[] = { &ak_path, &msg_path, &sig_path, &pcr_path, NULL };

    if (!parse_options(ctx, &argc, &argv, required, "--ak, --message, --signature and --pcrs are required", &error))
        return cv_cli_fail(error);
    if (!(policy = load_policy(policy_path, "vtpm", &error)) || !(ak_data = cv_read_file(ak_path, MAX_FILE, &error)) ||
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
    in.policy = json_node_get_object(policy);
    if (!cv_attest_tpm_verify(v, g_bytes_get_data(msg, NULL), g_bytes_get_size(msg), g_bytes_get_data(sig, NULL),
                              g_bytes_get_size(sig), &in, &error))
        return cv_cli_fail(error);
    return print_verdict(v, json);
}

static int
verify_evidence(int argc, char **argv)
{
    g_autofree char *bundle_path = NULL, *policy_path = NULL, *nonce_hex = NULL, *manifest_path = NULL;
    g_autofree char *at_text = NULL;
    gboolean json = FALSE;
    GOptionEntry entries[] = {
        { "bundle", 0, 0, G_OPTION_ARG_FILENAME, &bundle_path, "evidence bundle (GET /v1/attestation)", "FILE" },
        { "policy", 0, 0, G_OPTION_ARG_FILENAME, &policy_path, "attestation policy", "FILE" },
        { "nonce", 0, 0, G_OPTION_ARG_STRING, &nonce_hex, "the nonce the bundle was requested with", "HEX" },
        { "manifest", 0, 0, G_OPTION_ARG_FILENAME, &manifest_path, "the manifest the CVM must hold", "FILE" },
        { "at", 0, 0, G_OPTION_ARG_STRING, &at_text, "verify certificates as of this RFC 3339 time", "TIME" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &json, "print the verdict as JSON", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = make_context("- verify an evidence bundle offline", "Verifies a bundle saved "
                                                 "from an agent (docs/evidence.md) for the nonce it was asked with. "
                                                 "A vtpm bundle cannot pass tpm.credential offline: that takes "
                                                 "covirt attest.", entries);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) text = NULL, nonce = NULL, manifest = NULL, manifest_sha = NULL;
    g_autoptr(JsonNode) bundle = NULL, policy = NULL;
    g_autoptr(CvAttestVerdict) v = NULL;
    gint64 at = 0;

    char **const required[] = { &bundle_path, &policy_path, &nonce_hex, NULL };

    if (!parse_options(ctx, &argc, &argv, required, "--bundle, --policy and --nonce are required", &error))
        return cv_cli_fail(error);
    if (!parse_at(at_text, &at, &error) || !(policy = cv_attest_policy_load(policy_path, NULL, &error)) ||
        !(nonce = cv_hex_decode(nonce_hex, &error)) || !(text = cv_read_file(bundle_path, 32u << 20, &error)) ||
        !(bundle = cv_json_parse(g_bytes_get_data(text, NULL), g_bytes_get_size(text), &error)))
        return cv_cli_fail(error);
    if (manifest_path &&
        (!(manifest = cv_read_file(manifest_path, 64u << 20, &error)) ||
         !(manifest_sha = cv_json_canonical_digest("SHA256", g_bytes_get_data(manifest, NULL), g_bytes_get_size(manifest), &error))))
        return cv_cli_fail(error);
    v = cv_attest_evidence_verify(bundle, policy, g_bytes_get_data(nonce, NULL), g_bytes_get_size(nonce),
                                  manifest_sha ? g_bytes_get_data(manifest_sha, NULL) : NULL, at, &error);
    if (!v)
        return cv_cli_fail(error);
    return print_verdict(v, json);
}

int
cv_cli_verify(int argc, char **argv)
{
    /* tpm2-tss logs every refused structure to stderr; the verdict already says what failed */
    g_setenv("TSS2_LOG", "all+NONE", FALSE);
    if (argc >= 2 && strcmp(argv[1], "sev-snp") == 0)
        return verify_snp(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "tdx") == 0)
        return verify_tdx(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "tpm") == 0)
        return verify_tpm(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "evidence") == 0)
        return verify_evidence(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("Usage: covirt verify sev-snp|tdx|tpm|evidence [OPTION…]\n\n"
               "Verifies evidence offline and prints the verdict check by check; exit 0 only when\n"
               "every check passed. Run 'covirt verify PLATFORM --help' for its options.\n");
        return 0;
    }
    fprintf(stderr, "covirt: verify needs what to verify: sev-snp, tdx, tpm or evidence (see covirt verify --help)\n");
    return 2;
}
