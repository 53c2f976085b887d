/* The evidence collector inside the CVM: a vTPM through tpm2-tss ESYS (any TCTI), or an SEV-SNP /
 * TDX report through the kernel's configfs-tsm interface. */
#include "collector.h"
#include "evidence.h"
#include "cv-json.h"
#include "cv-tss.h"
#include "cv-util.h"
#include "tpm-quote.h"
#include "event-log.h"
#include "snp-report.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <string.h>
#include <glib/gstdio.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

#define EK_CERT_NV_INDEX 0x01c00002
#define DEFAULT_EVENT_LOG "/sys/kernel/security/tpm0/binary_bios_measurements"
#define TSM_REPORT_DIR "/sys/kernel/config/tsm/report"
/* Linux 6.16+ (tsm-mr): reading gives RTMR 3, writing 48 bytes extends it (TDG.MR.RTMR.EXTEND) */
#define TDX_RTMR3 "/sys/class/misc/tdx_guest/measurements/rtmr3:sha384"

struct _CvAgentCollector {
    char *platform;
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    ESYS_TR ek;
    ESYS_TR ak;
    TPM2B_PUBLIC *ak_public;
    char *event_log;
    char *root;
    gboolean manifest_extended;
    guint8 manifest[32];
};

void
cv_agent_collector_free(CvAgentCollector *c)
{
    if (!c)
        return;
    if (c->esys) {
        if (c->ak != ESYS_TR_NONE)
            Esys_FlushContext(c->esys, c->ak);
        if (c->ek != ESYS_TR_NONE)
            Esys_FlushContext(c->esys, c->ek);
        Esys_Finalize(&c->esys);
    }
    if (c->tcti)
        Tss2_TctiLdr_Finalize(&c->tcti);
    Esys_Free(c->ak_public);
    g_free(c->platform);
    g_free(c->event_log);
    g_free(c->root);
    g_free(c);
}

/* TCG EK Credential Profile, template L-1 (RSA 2048): the key swtpm_setup certified */
static void
ek_template(TPM2B_PUBLIC *t)
{
    static const guint8 policy[32] = {
        0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xB3, 0xF8, 0x1A, 0x90, 0xCC, 0x8D, 0x46, 0xA5, 0xD7, 0x24,
        0xFD, 0x52, 0xD7, 0x6E, 0x06, 0x52, 0x0B, 0x64, 0xF2, 0xA1, 0xDA, 0x1B, 0x33, 0x14, 0x69, 0xAA,
    };

    memset(t, 0, sizeof(*t));
    t->publicArea.type = TPM2_ALG_RSA;
    t->publicArea.nameAlg = TPM2_ALG_SHA256;
    t->publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                                     TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
    t->publicArea.authPolicy.size = 32;
    memcpy(t->publicArea.authPolicy.buffer, policy, 32);
    t->publicArea.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
    t->publicArea.parameters.rsaDetail.symmetric.keyBits.aes = 128;
    t->publicArea.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
    t->publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
    t->publicArea.parameters.rsaDetail.keyBits = 2048;
    t->publicArea.parameters.rsaDetail.exponent = 0;
    t->publicArea.unique.rsa.size = 256;
}

/* A restricted RSA-2048 signing key (RSASSA, SHA-256) in the endorsement hierarchy */
static void
ak_template(TPM2B_PUBLIC *t)
{
    memset(t, 0, sizeof(*t));
    t->publicArea.type = TPM2_ALG_RSA;
    t->publicArea.nameAlg = TPM2_ALG_SHA256;
    t->publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                                     TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
    t->publicArea.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
    t->publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
    t->publicArea.parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
    t->publicArea.parameters.rsaDetail.keyBits = 2048;
}

static gboolean
create_primary(CvAgentCollector *c, TPM2B_PUBLIC *tmpl, ESYS_TR *out, TPM2B_PUBLIC **pub, GError **error)
{
    TPM2B_SENSITIVE_CREATE sens = { 0 };
    TPM2B_DATA outside = { 0 };
    TPML_PCR_SELECTION none = { 0 };
    TPM2B_CREATION_DATA *cd = NULL;
    TPM2B_DIGEST *hash = NULL;
    TPMT_TK_CREATION *ticket = NULL;
    TSS2_RC rc;

    rc = Esys_CreatePrimary(c->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens, tmpl,
                            &outside, &none, out, pub, &cd, &hash, &ticket);
    Esys_Free(cd);
    Esys_Free(hash);
    Esys_Free(ticket);
    return cv_tss_check(rc, "creating a primary key in the endorsement hierarchy", error);
}

static gboolean
open_tpm(CvAgentCollector *c, const char *tcti, GError **error)
{
    TPM2B_PUBLIC ek, ak;
    TPM2B_PUBLIC *ek_pub = NULL;
    TSS2_RC rc;

    if (!cv_tss_check(Tss2_TctiLdr_Initialize(tcti ? tcti : "device:/dev/tpmrm0", &c->tcti), "opening the TPM", error) ||
        !cv_tss_check(Esys_Initialize(&c->esys, c->tcti, NULL), "Esys_Initialize", error))
        return FALSE;
    /* firmware or the kernel has normally started the TPM already (TPM_RC_INITIALIZE), and the
     * kernel's resource manager may refuse the command: a TPM that really is not started makes
     * the next command fail with a clear error */
    rc = Esys_Startup(c->esys, TPM2_SU_CLEAR);
    (void)rc;
    ek_template(&ek);
    ak_template(&ak);
    if (!create_primary(c, &ek, &c->ek, &ek_pub, error))
        return FALSE;
    Esys_Free(ek_pub);
    return create_primary(c, &ak, &c->ak, &c->ak_public, error);
}

static char *
kernel_path(CvAgentCollector *c, const char *path)
{
    return g_strconcat(c->root, path, NULL);
}

CvAgentCollector *
cv_agent_collector_new_at(const char *platform, const char *tcti, const char *event_log, const char *root,
                          GError **error)
{
    g_autoptr(CvAgentCollector) c = g_new0(CvAgentCollector, 1);

    c->ek = c->ak = ESYS_TR_NONE;
    c->platform = g_strdup(platform);
    c->root = g_strdup(root ? root : "");
    if (g_strcmp0(platform, "vtpm") == 0) {
        c->event_log = g_strdup(event_log ? event_log : DEFAULT_EVENT_LOG);
        if (!open_tpm(c, tcti, error))
            return NULL;
    } else if (g_strcmp0(platform, "sev-snp") == 0 || g_strcmp0(platform, "tdx") == 0) {
        g_autofree char *dir = kernel_path(c, TSM_REPORT_DIR);
        g_autofree char *tpmrm = kernel_path(c, "/dev/tpmrm0");
        if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
            g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "%s is missing (configfs-tsm, Linux 6.7+)", dir);
            return NULL;
        }
        /* SEV-SNP under COCONUT-SVSM has a vTPM: its quote goes in too, its AK bound by the report */
        if (strcmp(platform, "sev-snp") == 0 && (tcti || g_file_test(tpmrm, G_FILE_TEST_EXISTS))) {
            c->event_log = g_strdup(event_log ? event_log : DEFAULT_EVENT_LOG);
            if (!open_tpm(c, tcti, error))
                return NULL;
        }
    } else {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "unknown platform '%s'", platform ? platform : "");
        return NULL;
    }
    return g_steal_pointer(&c);
}

CvAgentCollector *
cv_agent_collector_new(const char *platform, const char *tcti, const char *event_log, GError **error)
{
    return cv_agent_collector_new_at(platform, tcti, event_log, NULL, error);
}

/* One write(2) of the whole value: configfs and sysfs attributes take no temporary files or renames
 * (g_file_set_contents would create inblob.XXXXXX beside the attribute, which configfs refuses). */
static gboolean
write_attribute(const char *path, const guint8 *data, gsize len, GError **error)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "%s: %s", path, g_strerror(errno));
        return FALSE;
    }
    n = write(fd, data, len);
    if (n != (ssize_t)len) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "writing %s: %s", path, n < 0 ? g_strerror(errno) : "short write");
        close(fd);
        return FALSE;
    }
    close(fd);
    return TRUE;
}

/* RTMR 3 must still be zero: a value someone else extended in would make the verifier's
 * SHA-384(0 ‖ value) check fail anyway, and saying so here names the cause. */
static gboolean
extend_rtmr3(CvAgentCollector *c, const guint8 manifest_sha256[32], GError **error)
{
    static const guint8 zero[CV_ATTEST_RTMR_SIZE];
    g_autofree char *path = kernel_path(c, TDX_RTMR3);
    g_autoptr(GBytes) now = NULL;
    guint8 value[CV_ATTEST_RTMR_SIZE];

    if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "%s is missing (TDX RTMR extension needs Linux 6.16+)",
                    path);
        return FALSE;
    }
    if (!(now = cv_read_file(path, 4096, error)))
        return FALSE;
    if (g_bytes_get_size(now) != sizeof(zero) || memcmp(g_bytes_get_data(now, NULL), zero, sizeof(zero)) != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "RTMR 3 is not zero: something else was measured into it");
        return FALSE;
    }
    cv_attest_rtmr3_manifest_value(manifest_sha256, value);
    /* one write of exactly 48 bytes is one extension */
    return write_attribute(path, value, sizeof(value), error);
}

gboolean
cv_agent_collector_extend_manifest(CvAgentCollector *c, const guint8 manifest_sha256[32], GError **error)
{
    TPML_DIGEST_VALUES values = { 0 };

    if (c->manifest_extended && memcmp(c->manifest, manifest_sha256, 32) == 0)
        return TRUE;
    if (strcmp(c->platform, "tdx") == 0) {
        /* RTMR 3 cannot be reset: it holds the first manifest for the TD's life */
        if (c->manifest_extended) {
            g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "another manifest is already measured (RTMR 3)");
            return FALSE;
        }
        if (!extend_rtmr3(c, manifest_sha256, error))
            return FALSE;
        memcpy(c->manifest, manifest_sha256, 32);
        c->manifest_extended = TRUE;
        return TRUE;
    }
    if (!c->esys) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "%s without a vTPM has no register to measure the manifest into",
                    c->platform);
        return FALSE;
    }
    /* PCR 16 (the PC Client profile's debug PCR, resettable from locality 0) then holds exactly the
     * current manifest, also after a reset brought another one (docs/agent.md, States) */
    if (!cv_tss_check(Esys_PCR_Reset(c->esys, ESYS_TR_PCR16, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE),
                      "resetting PCR 16", error))
        return FALSE;
    c->manifest_extended = FALSE;
    values.count = 1;
    values.digests[0].hashAlg = TPM2_ALG_SHA256;
    memcpy(values.digests[0].digest.sha256, manifest_sha256, 32);
    if (!cv_tss_check(Esys_PCR_Extend(c->esys, ESYS_TR_PCR16, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &values),
                      "extending PCR 16", error))
        return FALSE;
    memcpy(c->manifest, manifest_sha256, 32);
    c->manifest_extended = TRUE;
    return TRUE;
}

static void
select_pcrs(TPML_PCR_SELECTION *sel, guint32 mask)
{
    memset(sel, 0, sizeof(*sel));
    sel->count = 1;
    sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
    sel->pcrSelections[0].sizeofSelect = 3;
    for (guint i = 0; i < 24; i++)
        if (mask & (1u << i))
            sel->pcrSelections[0].pcrSelect[i / 8] |= 1 << (i % 8);
}

static gboolean
read_pcrs(CvAgentCollector *c, guint32 mask, CvAttestPcrs *pcrs, GError **error)
{
    memset(pcrs, 0, sizeof(*pcrs));
    /* PCR_Read returns at most 8 values a call: ask again for what is left */
    for (int round = 0; round < 8 && (pcrs->present & mask) != mask; round++) {
        TPML_PCR_SELECTION sel;
        TPML_PCR_SELECTION *out_sel = NULL;
        TPML_DIGEST *values = NULL;
        UINT32 counter = 0;
        guint k = 0;

        select_pcrs(&sel, mask & ~pcrs->present);
        if (!cv_tss_check(Esys_PCR_Read(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel, &counter, &out_sel,
                                        &values), "reading PCRs", error))
            return FALSE;
        for (guint i = 0; i < 24 && out_sel->count == 1; i++)
            if (out_sel->pcrSelections[0].pcrSelect[i / 8] & (1 << (i % 8)) && k < values->count &&
                values->digests[k].size == 32) {
                memcpy(pcrs->value[i], values->digests[k++].buffer, 32);
                pcrs->present |= 1u << i;
            }
        Esys_Free(out_sel);
        Esys_Free(values);
    }
    if ((pcrs->present & mask) != mask) {
        g_set_error(error, CV_ERROR, CV_ERROR_TPM, "the TPM did not return every SHA-256 PCR");
        return FALSE;
    }
    return TRUE;
}

/* The EK certificate from NV (absent → NULL without error) */
static GBytes *
read_ek_cert(CvAgentCollector *c, GError **error)
{
    ESYS_TR nv = ESYS_TR_NONE;
    TPM2B_NV_PUBLIC *pub = NULL;
    TPM2B_NAME *name = NULL;
    g_autoptr(GByteArray) out = g_byte_array_new();
    guint16 size;
    ESYS_TR auth;

    if (Esys_TR_FromTPMPublic(c->esys, EK_CERT_NV_INDEX, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv) !=
        TSS2_RC_SUCCESS)
        return NULL;
    if (!cv_tss_check(Esys_NV_ReadPublic(c->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, &name),
                      "reading the EK certificate's NV public area", error)) {
        Esys_TR_Close(c->esys, &nv);
        return NULL;
    }
    size = pub->nvPublic.dataSize;
    auth = (pub->nvPublic.attributes & TPMA_NV_AUTHREAD) ? nv : ESYS_TR_RH_OWNER;
    Esys_Free(pub);
    Esys_Free(name);
    while (out->len < size) {
        TPM2B_MAX_NV_BUFFER *data = NULL;
        guint16 chunk = MIN(512, size - out->len);
        if (!cv_tss_check(Esys_NV_Read(c->esys, auth, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, chunk, out->len,
                                       &data), "reading the EK certificate", error)) {
            Esys_TR_Close(c->esys, &nv);
            return NULL;
        }
        g_byte_array_append(out, data->buffer, data->size);
        Esys_Free(data);
    }
    Esys_TR_Close(c->esys, &nv);
    return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

static void
add_b64(JsonBuilder *b, const char *name, const guint8 *data, gsize len)
{
    g_autofree char *text = g_base64_encode(data, len);

    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, text);
}

static void
add_hex(JsonBuilder *b, const char *name, const guint8 *data, gsize len)
{
    g_autofree char *text = cv_hex_encode(data, len);

    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, text);
}

gboolean
cv_agent_collector_quote(CvAgentCollector *c, const guint8 *qualifying, gsize len, guint32 pcr_mask,
                         GBytes **attest, GBytes **signature, CvAttestPcrs *pcrs, GError **error)
{
    TPM2B_DATA data = { .size = len };
    TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
    TPML_PCR_SELECTION sel;
    TPM2B_ATTEST *quoted = NULL;
    TPMT_SIGNATURE *sig = NULL;
    guint8 buf[sizeof(TPMT_SIGNATURE)];
    size_t off = 0;
    TSS2_RC rc;

    if (!c->esys || len > sizeof(data.buffer)) {
        g_set_error(error, CV_ERROR, c->esys ? CV_ERROR_INVALID : CV_ERROR_UNAVAILABLE,
                    c->esys ? "qualifying data over %zu bytes" : "no TPM to quote", sizeof(data.buffer));
        return FALSE;
    }
    memcpy(data.buffer, qualifying, len);
    select_pcrs(&sel, pcr_mask);
    rc = Esys_Quote(c->esys, c->ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &data, &scheme, &sel, &quoted, &sig);
    if (!cv_tss_check(rc, "TPM2_Quote", error))
        return FALSE;
    rc = Tss2_MU_TPMT_SIGNATURE_Marshal(sig, buf, sizeof(buf), &off);
    Esys_Free(sig);
    if (!cv_tss_check(rc, "marshalling the signature", error)) {
        Esys_Free(quoted);
        return FALSE;
    }
    /* values read after the quote: the verifier checks them against its pcrDigest */
    if (!read_pcrs(c, pcr_mask, pcrs, error)) {
        Esys_Free(quoted);
        return FALSE;
    }
    *attest = g_bytes_new(quoted->attestationData, quoted->size);
    *signature = g_bytes_new(buf, off);
    Esys_Free(quoted);
    return TRUE;
}

GBytes *
cv_agent_collector_ak_public(CvAgentCollector *c, GError **error)
{
    guint8 buf[sizeof(TPM2B_PUBLIC)];
    size_t off = 0;

    if (!c->esys) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "no TPM, so no AK");
        return NULL;
    }
    if (!cv_tss_check(Tss2_MU_TPM2B_PUBLIC_Marshal(c->ak_public, buf, sizeof(buf), &off), "marshalling the AK", error))
        return NULL;
    return g_bytes_new(buf, off);
}

static gboolean
collect_vtpm(CvAgentCollector *c, JsonBuilder *b, const guint8 rd[64], GError **error)
{
    g_autoptr(GBytes) attest = NULL, sig = NULL, ak = NULL;
    CvAttestPcrs pcrs;
    g_autoptr(GBytes) ek = NULL;
    g_autoptr(JsonNode) pcr_json = NULL;

    if (!cv_agent_collector_quote(c, rd, CV_ATTEST_REPORT_DATA_SIZE, CV_ATTEST_QUOTE_PCR_MASK, &attest, &sig, &pcrs,
                                  error) ||
        !(ak = cv_agent_collector_ak_public(c, error)))
        return FALSE;
    json_builder_set_member_name(b, "tpm");
    json_builder_begin_object(b);
    add_b64(b, "quote", g_bytes_get_data(attest, NULL), g_bytes_get_size(attest));
    add_b64(b, "signature", g_bytes_get_data(sig, NULL), g_bytes_get_size(sig));
    add_b64(b, "ak_public", g_bytes_get_data(ak, NULL), g_bytes_get_size(ak));
    pcr_json = cv_attest_pcrs_to_json(&pcrs);
    json_builder_set_member_name(b, "pcrs");
    json_builder_add_value(b, g_steal_pointer(&pcr_json));
    ek = read_ek_cert(c, error);
    if (!ek && error && *error)
        return FALSE;
    if (ek)
        add_b64(b, "ek_certificate", g_bytes_get_data(ek, NULL), g_bytes_get_size(ek));
    if (g_file_test(c->event_log, G_FILE_TEST_EXISTS)) {
        g_autoptr(GBytes) log = cv_read_file(c->event_log, CV_ATTEST_EVENT_LOG_MAX, error);
        if (!log)
            return FALSE;
        add_b64(b, "event_log", g_bytes_get_data(log, NULL), g_bytes_get_size(log));
    }
    json_builder_end_object(b);
    return TRUE;
}

static gboolean
tsm_report(CvAgentCollector *c, const guint8 rd[64], GBytes **out, GBytes **aux, GError **error)
{
    g_autofree char *dir = g_strdup_printf("%s" TSM_REPORT_DIR "/covirt-%u-%u", c->root, (guint)getpid(),
                                           g_random_int());
    g_autofree char *inblob = g_build_filename(dir, "inblob", NULL);
    g_autofree char *outblob = g_build_filename(dir, "outblob", NULL);
    g_autofree char *auxblob = g_build_filename(dir, "auxblob", NULL);
    gboolean ok;

    if (g_mkdir(dir, 0700) != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot create %s: %s", dir, g_strerror(errno));
        return FALSE;
    }
    ok = write_attribute(inblob, rd, 64, error) && (*out = cv_read_file(outblob, 1 << 16, error));
    if (ok && aux && g_file_test(auxblob, G_FILE_TEST_EXISTS))
        *aux = cv_read_file(auxblob, 1 << 16, NULL);
    g_rmdir(dir);
    return ok;
}

GBytes *
cv_agent_collector_tee_report(CvAgentCollector *c, const guint8 report_data[64], GError **error)
{
    GBytes *out = NULL;

    if (strcmp(c->platform, "sev-snp") != 0 && strcmp(c->platform, "tdx") != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "platform %s has no TEE report", c->platform);
        return NULL;
    }
    if (!tsm_report(c, report_data, &out, NULL, error))
        return NULL;
    return out;
}

JsonNode *
cv_agent_collector_collect(CvAgentCollector *c, const guint8 *nonce, gsize nonce_len,
                           const guint8 tls_key_sha256[32], const guint8 *manifest_sha256, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    guint8 rd[CV_ATTEST_REPORT_DATA_SIZE];

    if (manifest_sha256 && (c->esys || strcmp(c->platform, "tdx") == 0) &&
        !cv_agent_collector_extend_manifest(c, manifest_sha256, error))
        return NULL;
    if (!cv_attest_report_data(nonce, nonce_len, tls_key_sha256, manifest_sha256, rd, error))
        return NULL;
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "version");
    json_builder_add_int_value(b, 1);
    json_builder_set_member_name(b, "platform");
    json_builder_add_string_value(b, c->platform);
    add_hex(b, "nonce", nonce, nonce_len);
    add_hex(b, "tls_key_sha256", tls_key_sha256, 32);
    if (manifest_sha256)
        add_hex(b, "manifest_sha256", manifest_sha256, 32);
    add_hex(b, "report_data", rd, sizeof(rd));
    if (strcmp(c->platform, "vtpm") == 0) {
        if (!collect_vtpm(c, b, rd, error))
            return NULL;
    } else {
        g_autoptr(GBytes) out = NULL, aux = NULL;
        gboolean snp = strcmp(c->platform, "sev-snp") == 0;
        guint8 tee_rd[CV_ATTEST_REPORT_DATA_SIZE];
        memcpy(tee_rd, rd, sizeof(rd));
        if (c->esys) {
            guint8 ak[sizeof(TPM2B_PUBLIC)];
            size_t off = 0;
            if (!collect_vtpm(c, b, rd, error) ||
                !cv_tss_check(Tss2_MU_TPM2B_PUBLIC_Marshal(c->ak_public, ak, sizeof(ak), &off), "marshalling the AK",
                              error) ||
                !cv_attest_tee_vtpm_report_data(rd, ak, off, tee_rd, error))
                return NULL;
        }
        if (!tsm_report(c, tee_rd, &out, snp ? &aux : NULL, error))
            return NULL;
        json_builder_set_member_name(b, snp ? "sev_snp" : "tdx");
        json_builder_begin_object(b);
        add_b64(b, snp ? "report" : "quote", g_bytes_get_data(out, NULL), g_bytes_get_size(out));
        if (snp) {
            g_autoptr(GBytes) cert = aux ? cv_attest_snp_cert_table_find(aux, error) : NULL;
            if (!cert) {
                if (error && !*error)
                    g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "no SNP certificate table from the host");
                return NULL;
            }
            add_b64(b, "vcek", g_bytes_get_data(cert, NULL), g_bytes_get_size(cert));
        }
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

GBytes *
cv_agent_collector_activate_credential(CvAgentCollector *c, GBytes *credential_blob, GBytes *encrypted_secret,
                                       GError **error)
{
    TPM2B_ID_OBJECT blob = { 0 };
    TPM2B_ENCRYPTED_SECRET secret = { 0 };
    TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
    TPM2B_DIGEST *cert_info = NULL;
    ESYS_TR session = ESYS_TR_NONE;
    size_t off = 0;
    gsize len = 0;
    const guint8 *d;
    TSS2_RC rc;
    GBytes *out;

    if (strcmp(c->platform, "vtpm") != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "credential activation is for vtpm");
        return NULL;
    }
    d = g_bytes_get_data(credential_blob, &len);
    if (!cv_tss_check_input(Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(d, len, &off, &blob), "credential blob", error))
        return NULL;
    if (off != len) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "credential blob: trailing bytes");
        return NULL;
    }
    off = 0;
    d = g_bytes_get_data(encrypted_secret, &len);
    if (!cv_tss_check_input(Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(d, len, &off, &secret), "encrypted secret", error))
        return NULL;
    if (off != len) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "encrypted secret: trailing bytes");
        return NULL;
    }
    /* the EK is used through PolicySecret(TPM_RH_ENDORSEMENT), its authPolicy */
    if (!cv_tss_check(Esys_StartAuthSession(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                            ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256, &session),
                      "starting a policy session", error))
        return NULL;
    rc = Esys_PolicySecret(c->esys, ESYS_TR_RH_ENDORSEMENT, session, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                           NULL, NULL, NULL, 0, NULL, NULL);
    if (rc == TSS2_RC_SUCCESS)
        rc = Esys_ActivateCredential(c->esys, c->ak, c->ek, ESYS_TR_PASSWORD, session, ESYS_TR_NONE, &blob, &secret,
                                     &cert_info);
    Esys_FlushContext(c->esys, session);
    /* a blob made for another TPM or AK fails inside the TPM: that is the verifier's input at fault */
    if (!cv_tss_check_as(rc, "TPM2_ActivateCredential", CV_ERROR_INVALID, error))
        return NULL;
    out = g_bytes_new(cert_info->buffer, cert_info->size);
    Esys_Free(cert_info);
    return out;
}

JsonNode *
cv_agent_collector_activate_json(CvAgentCollector *c, JsonNode *request, GError **error)
{
    JsonObject *o = request && JSON_NODE_HOLDS_OBJECT(request) ? json_node_get_object(request) : NULL;
    /* the host's request: a member of another type counts as absent */
    const char *blob64 = cv_json_member_string_or(o, "credential_blob", NULL);
    const char *enc64 = cv_json_member_string_or(o, "encrypted_secret", NULL);
    g_autoptr(GBytes) blob = NULL, enc = NULL, secret = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *secret64 = NULL;

    if (!blob64 || !enc64 || strlen(blob64) > 4096 || strlen(enc64) > 4096 ||
        !(blob = cv_base64_decode_strict(blob64, NULL)) || !(enc = cv_base64_decode_strict(enc64, NULL))) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "expected {\"credential_blob\": base64, \"encrypted_secret\": base64}");
        return NULL;
    }
    if (!(secret = cv_agent_collector_activate_credential(c, blob, enc, error)))
        return NULL;
    secret64 = g_base64_encode(g_bytes_get_data(secret, NULL), g_bytes_get_size(secret));
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "secret");
    json_builder_add_string_value(b, secret64);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}
