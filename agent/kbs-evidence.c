/* RCAR evidence: the runtime-data binding and Trustee's evidence shapes (docs/remote-resources.md). */
#include "kbs-evidence.h"
#include "attest-util.h"
#include "cv-autoptr.h"
#include "cv-error.h"
#include "cv-jcs.h"
#include "cv-util.h"
#include "tpm-quote.h"

#include <string.h>
#include <openssl/x509.h>

#define SNP_REPORT_SIZE 1184
#define ALL_PCRS 0xffffffu
/* Trustee's tpm attester and verifier both cut report data to 32 bytes (TPM_REPORT_DATA_SIZE) */
#define TPM_QUALIFYING_SIZE 32

gboolean
cv_kbs_runtime_digest(JsonNode *tee_pubkey, const char *nonce, const char *additional_evidence,
                      guint8 out[CV_KBS_DIGEST_SIZE], GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *canonical = NULL;
    unsigned int len = CV_KBS_DIGEST_SIZE;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "tee-pubkey");
    json_builder_add_value(b, json_node_copy(tee_pubkey));
    json_builder_set_member_name(b, "nonce");
    json_builder_add_string_value(b, nonce);
    json_builder_set_member_name(b, "additional-evidence");
    json_builder_add_string_value(b, additional_evidence);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    if (!(canonical = cv_jcs_serialize(root, error)))
        return FALSE;
    if (EVP_Digest(canonical, strlen(canonical), out, &len, EVP_sha384(), NULL) != 1) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "SHA-384 failed");
        return FALSE;
    }
    return TRUE;
}

const char *
cv_kbs_tee_for_platform(const char *platform)
{
    if (g_strcmp0(platform, "vtpm") == 0)
        return "tpm";
    if (g_strcmp0(platform, "sev-snp") == 0)
        return "snp";
    if (g_strcmp0(platform, "tdx") == 0)
        return "tdx";
    return NULL;
}

static void
add_b64(JsonBuilder *b, const char *name, GBytes *data)
{
    g_autofree char *text = g_base64_encode(g_bytes_get_data(data, NULL), g_bytes_get_size(data));

    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, text);
}

/* the AK as DER SubjectPublicKeyInfo: what Trustee hashes against its trusted AKs and verifies with */
static GBytes *
ak_spki(CvAgentCollector *c, GError **error)
{
    g_autoptr(GBytes) marshalled = cv_agent_collector_ak_public(c, error);
    TPM2B_PUBLIC pub;
    g_autoptr(EVP_PKEY) key = NULL;
    guint8 *der = NULL;
    int len;

    if (!marshalled ||
        !cv_attest_tpm2b_public_parse(g_bytes_get_data(marshalled, NULL), g_bytes_get_size(marshalled), &pub, error) ||
        !(key = cv_attest_tpm_public_to_pkey(&pub.publicArea, error)))
        return NULL;
    if ((len = i2d_PUBKEY(key, &der)) <= 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "cannot encode the AK");
        return NULL;
    }
    {
        GBytes *out = g_bytes_new(der, len);
        OPENSSL_free(der);
        return out;
    }
}

static JsonNode *
evidence_tpm(CvAgentCollector *c, const guint8 digest[CV_KBS_DIGEST_SIZE], GError **error)
{
    g_autoptr(GBytes) attest = NULL, sig = NULL, ak = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    CvAttestPcrs pcrs;

    if (!(ak = ak_spki(c, error)) ||
        !cv_agent_collector_quote(c, digest, TPM_QUALIFYING_SIZE, ALL_PCRS, &attest, &sig, &pcrs, error))
        return NULL;
    json_builder_begin_object(b);
    add_b64(b, "ak_public", ak);
    json_builder_set_member_name(b, "tpm_quote");
    json_builder_begin_object(b);
    add_b64(b, "message", attest);
    add_b64(b, "signature", sig);
    json_builder_set_member_name(b, "pcrs");
    json_builder_begin_array(b);
    for (guint i = 0; i < 24; i++) {
        g_autofree char *hex = cv_hex_encode(pcrs.value[i], 32);
        json_builder_add_string_value(b, hex);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
cv_kbs_evidence_collect(CvAgentCollector *c, const char *tee, const guint8 digest[CV_KBS_DIGEST_SIZE],
                        GError **error)
{
    guint8 rd[64] = { 0 };
    g_autoptr(GBytes) report = NULL;
    g_autoptr(JsonBuilder) b = NULL;

    if (g_strcmp0(tee, "tpm") == 0)
        return evidence_tpm(c, digest, error);
    if (g_strcmp0(tee, "snp") != 0 && g_strcmp0(tee, "tdx") != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_NOT_SUPPORTED, "no evidence for tee %s", tee);
        return NULL;
    }
    /* Trustee zero-pads the digest to the 64 bytes of report data (regularize_data) */
    memcpy(rd, digest, CV_KBS_DIGEST_SIZE);
    if (!(report = cv_agent_collector_tee_report(c, rd, error)))
        return NULL;
    if (strcmp(tee, "snp") == 0) {
        g_autoptr(JsonNode) snp = cv_kbs_snp_report_json(g_bytes_get_data(report, NULL), g_bytes_get_size(report),
                                                         error);
        if (!snp)
            return NULL;
        b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "attestation_report");
        json_builder_add_value(b, g_steal_pointer(&snp));
        /* null: the verifier fetches the VCEK itself */
        json_builder_set_member_name(b, "cert_chain");
        json_builder_add_null_value(b);
        json_builder_end_object(b);
        return json_builder_get_root(b);
    }
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "cc_eventlog");
    json_builder_add_null_value(b);
    add_b64(b, "quote", report);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static void
add_uint(JsonBuilder *b, const char *name, guint64 v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, (gint64)v);
}

static void
add_bytes(JsonBuilder *b, const char *name, const guint8 *p, gsize n)
{
    json_builder_set_member_name(b, name);
    json_builder_begin_array(b);
    for (gsize i = 0; i < n; i++)
        json_builder_add_int_value(b, p[i]);
    json_builder_end_array(b);
}

/* A TCB_VERSION u64: Turin (CPUID family 0x1A) has an FMC byte first and SNP moves up */
static void
add_tcb(JsonBuilder *b, const char *name, const guint8 *p, gboolean turin)
{
    json_builder_set_member_name(b, name);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "fmc");
    if (turin)
        json_builder_add_int_value(b, p[0]);
    else
        json_builder_add_null_value(b);
    add_uint(b, "bootloader", p[turin ? 1 : 0]);
    add_uint(b, "tee", p[turin ? 2 : 1]);
    add_uint(b, "snp", p[turin ? 3 : 6]);
    add_uint(b, "microcode", p[7]);
    json_builder_end_object(b);
}

static void
add_version(JsonBuilder *b, const char *name, const guint8 *p)
{
    json_builder_set_member_name(b, name);
    json_builder_begin_object(b);
    add_uint(b, "major", p[2]);
    add_uint(b, "minor", p[1]);
    add_uint(b, "build", p[0]);
    json_builder_end_object(b);
}

static void
add_optional(JsonBuilder *b, const char *name, gboolean present, guint64 v)
{
    json_builder_set_member_name(b, name);
    if (present)
        json_builder_add_int_value(b, (gint64)v);
    else
        json_builder_add_null_value(b);
}

static void
add_snp_measurements(JsonBuilder *b, const guint8 *r)
{
    add_bytes(b, "report_data", r + 0x50, 64);
    add_bytes(b, "measurement", r + 0x90, 48);
    add_bytes(b, "host_data", r + 0xC0, 32);
    add_bytes(b, "id_key_digest", r + 0xE0, 48);
    add_bytes(b, "author_key_digest", r + 0x110, 48);
    add_bytes(b, "report_id", r + 0x140, 32);
    add_bytes(b, "report_id_ma", r + 0x160, 32);
}

JsonNode *
cv_kbs_snp_report_json(const guint8 *r, gsize len, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    guint32 version = len >= 4 ? cv_attest_le32(r) : 0;
    gboolean turin;

    if (len != SNP_REPORT_SIZE || version < 3 || version > 5) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "not an SEV-SNP report of version 3 to 5 (%zu bytes, version %u)",
                    len, version);
        return NULL;
    }
    turin = r[0x188] == 0x1A;
    json_builder_begin_object(b);
    add_uint(b, "version", version);
    add_uint(b, "guest_svn", cv_attest_le32(r + 0x04));
    add_uint(b, "policy", cv_attest_le64(r + 0x08));
    add_bytes(b, "family_id", r + 0x10, 16);
    add_bytes(b, "image_id", r + 0x20, 16);
    add_uint(b, "vmpl", cv_attest_le32(r + 0x30));
    add_uint(b, "sig_algo", cv_attest_le32(r + 0x34));
    add_tcb(b, "current_tcb", r + 0x38, turin);
    add_uint(b, "plat_info", cv_attest_le64(r + 0x40));
    add_uint(b, "key_info", cv_attest_le32(r + 0x48));
    add_snp_measurements(b, r);
    add_tcb(b, "reported_tcb", r + 0x180, turin);
    add_optional(b, "cpuid_fam_id", TRUE, r[0x188]);
    add_optional(b, "cpuid_mod_id", TRUE, r[0x189]);
    add_optional(b, "cpuid_step", TRUE, r[0x18A]);
    add_bytes(b, "chip_id", r + 0x1A0, 64);
    add_tcb(b, "committed_tcb", r + 0x1E0, turin);
    add_version(b, "current", r + 0x1E8);
    add_version(b, "committed", r + 0x1EC);
    add_tcb(b, "launch_tcb", r + 0x1F0, turin);
    add_optional(b, "launch_mit_vector", version >= 5, cv_attest_le64(r + 0x1F8));
    add_optional(b, "current_mit_vector", version >= 5, cv_attest_le64(r + 0x200));
    json_builder_set_member_name(b, "signature");
    json_builder_begin_object(b);
    add_bytes(b, "r", r + 0x2A0, 72);
    add_bytes(b, "s", r + 0x2E8, 72);
    json_builder_end_object(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}
