#include "snp-measure.h"
#include "measure-file.h"

#include <string.h>

/* 4 GiB: the metadata's GPAs are 32-bit, so its sections can never name more than this */
#define METADATA_MAX_BYTES (G_GUINT64_CONSTANT(1) << 32)
#define FOUR_GIB (G_GUINT64_CONSTANT(1) << 32)
#define RESET_EIP 0xfffffff0u

CV_ENUM_IMPL(cv_snp_vmm, CvSnpVmm, CV_SNP_VMM_COUNT, "QEMU", "ec2", "gce");

/* QEMU's EPYC models (target/i386/cpu.c, builtin_x86_defs) and the CPUID they report */
static const struct {
    const char *name;
    guint family, model, stepping;
} vcpu_types[] = {
    { "EPYC", 23, 1, 2 }, { "EPYC-v1", 23, 1, 2 }, { "EPYC-v2", 23, 1, 2 }, { "EPYC-IBPB", 23, 1, 2 },
    { "EPYC-v3", 23, 1, 2 }, { "EPYC-v4", 23, 1, 2 },
    { "EPYC-Rome", 23, 49, 0 }, { "EPYC-Rome-v1", 23, 49, 0 }, { "EPYC-Rome-v2", 23, 49, 0 },
    { "EPYC-Rome-v3", 23, 49, 0 },
    { "EPYC-Milan", 25, 1, 1 }, { "EPYC-Milan-v1", 25, 1, 1 }, { "EPYC-Milan-v2", 25, 1, 1 },
    { "EPYC-Genoa", 25, 17, 0 }, { "EPYC-Genoa-v1", 25, 17, 0 },
    { "EPYC-Turin", 26, 0, 0 },
};

guint32
cv_snp_cpu_sig(guint family, guint model, guint stepping)
{
    guint family_low = family > 0xf ? 0xf : family;
    guint family_ext = family > 0xf ? (family - 0xf) & 0xff : 0;

    return family_ext << 20 | ((model >> 4) & 0xf) << 16 | family_low << 8 | (model & 0xf) << 4 | (stepping & 0xf);
}

gboolean
cv_snp_vcpu_sig_from_type(const char *name, guint32 *sig)
{
    for (guint i = 0; i < G_N_ELEMENTS(vcpu_types); i++) {
        if (g_strcmp0(name, vcpu_types[i].name) == 0) {
            *sig = cv_snp_cpu_sig(vcpu_types[i].family, vcpu_types[i].model, vcpu_types[i].stepping);
            return TRUE;
        }
    }
    return FALSE;
}

char *
cv_snp_vcpu_type_names(void)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < G_N_ELEMENTS(vcpu_types); i++)
        g_string_append_printf(s, "%s%s", i ? ", " : "", vcpu_types[i].name);
    return g_string_free(s, FALSE);
}

/* The SEV hashes table as QEMU writes it (target/i386/sev.c, SevHashTable): a header GUID and length, then
 * {GUID, length, SHA-256} for the command line, the initrd and the kernel; padded to 16 bytes. */
#define HASH_ENTRY_SIZE (16 + 2 + 32)
#define HASH_TABLE_SIZE (16 + 2 + 3 * HASH_ENTRY_SIZE)
#define HASH_TABLE_PADDED ((HASH_TABLE_SIZE + 15) & ~15)

static guint8 *
put_hash_entry(guint8 *p, const char *guid, const guint8 hash[32])
{
    CvGuid g = cv_guid_from_string(guid);

    memcpy(p, g.bytes, 16);
    p[16] = HASH_ENTRY_SIZE & 0xff;
    p[17] = HASH_ENTRY_SIZE >> 8;
    memcpy(p + 18, hash, 32);
    return p + HASH_ENTRY_SIZE;
}

gboolean
cv_snp_hashes_page(const CvFirmware *fw, const guint8 kernel_hash[32], const guint8 initrd_hash[32],
                   const char *append, guint8 page[CV_PAGE_SIZE], GError **error)
{
    CvGuid header = cv_guid_from_string("9438d606-4f22-4cc9-b479-a793d411fd21");
    guint8 cmdline_hash[32];
    g_autofree char *cmdline = g_strdup(append ? append : "");
    guint32 gpa;
    guint8 *p;

    if (!cv_firmware_entry_u32(fw, CV_GUID_SEV_HASH_TABLE_RV, "SEV hashes table", &gpa, error))
        return FALSE;
    if ((gpa & (CV_PAGE_SIZE - 1)) + HASH_TABLE_PADDED > CV_PAGE_SIZE) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: its SEV hashes table at 0x%x crosses a page", fw->what,
                    gpa);
        return FALSE;
    }
    /* QEMU hashes the command line with its terminating NUL */
    if (!cv_measure_sha256_mem(cmdline, strlen(cmdline) + 1, cmdline_hash))
        return FALSE;
    memset(page, 0, CV_PAGE_SIZE);
    p = page + (gpa & (CV_PAGE_SIZE - 1));
    memcpy(p, header.bytes, 16);
    p[16] = HASH_TABLE_SIZE & 0xff;
    p[17] = HASH_TABLE_SIZE >> 8;
    p = put_hash_entry(p + 18, "97d02dd8-bd20-4c94-aa78-e7714d36ab2a", cmdline_hash);
    p = put_hash_entry(p, "44baf731-3a2f-4bd7-9af1-41e29169781d", initrd_hash);
    put_hash_entry(p, "4de79437-abd2-427f-b835-d5b172d2045b", kernel_hash);
    return TRUE;
}

static gboolean
measure_section(CvSnpChain *chain, const CvFirmware *fw, const CvSevSection *s, const guint8 *hashes_page,
                CvSnpVmm vmm, GError **error)
{
    switch (s->type) {
    case CV_SEV_SECTION_SNP_SEC_MEM:
        /* GCE's VMM leaves the SEC memory unmeasured */
        cv_snp_chain_empty(chain, vmm == CV_SNP_VMM_GCE ? CV_SNP_PAGE_UNMEASURED : CV_SNP_PAGE_ZERO, s->gpa,
                           s->size);
        return TRUE;
    case CV_SEV_SECTION_SNP_SECRETS:
        cv_snp_chain_update(chain, CV_SNP_PAGE_SECRETS, s->gpa, NULL);
        return TRUE;
    case CV_SEV_SECTION_CPUID:
        /* EC2 adds the CPUID page last (cv_snp_measure_metadata) */
        if (vmm != CV_SNP_VMM_EC2)
            cv_snp_chain_update(chain, CV_SNP_PAGE_CPUID, s->gpa, NULL);
        return TRUE;
    case CV_SEV_SECTION_SNP_KERNEL_HASHES:
        if (!hashes_page) {
            cv_snp_chain_empty(chain, CV_SNP_PAGE_ZERO, s->gpa, s->size);
            return TRUE;
        }
        if (s->size != CV_PAGE_SIZE) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: its kernel hashes section is %u bytes, not one page",
                        fw->what, s->size);
            return FALSE;
        }
        cv_snp_chain_normal(chain, s->gpa, hashes_page, CV_PAGE_SIZE);
        return TRUE;
    case CV_SEV_SECTION_SVSM_CAA:
        cv_snp_chain_empty(chain, CV_SNP_PAGE_ZERO, s->gpa, s->size);
        return TRUE;
    }
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: its SEV metadata has a section of unknown type %u", fw->what,
                (guint)s->type);
    return FALSE;
}

static gboolean
check_sections(const CvFirmware *fw, GError **error)
{
    guint64 total = 0;

    for (guint i = 0; i < fw->sev_sections->len; i++) {
        const CvSevSection *s = &g_array_index(fw->sev_sections, CvSevSection, i);

        if (s->gpa % CV_PAGE_SIZE || s->size % CV_PAGE_SIZE) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                        "%s: its SEV metadata section at 0x%x (%u bytes) is not page-aligned", fw->what, s->gpa,
                        s->size);
            return FALSE;
        }
        total += s->size;
    }
    if (total > METADATA_MAX_BYTES) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: its SEV metadata names more than 4 GiB", fw->what);
        return FALSE;
    }
    return TRUE;
}

gboolean
cv_snp_measure_metadata(CvSnpChain *chain, const CvFirmware *fw, const guint8 *hashes_page, CvSnpVmm vmm,
                        GError **error)
{
    if (!check_sections(fw, error))
        return FALSE;
    for (guint i = 0; i < fw->sev_sections->len; i++) {
        if (!measure_section(chain, fw, &g_array_index(fw->sev_sections, CvSevSection, i), hashes_page, vmm, error))
            return FALSE;
    }
    for (guint i = 0; vmm == CV_SNP_VMM_EC2 && i < fw->sev_sections->len; i++) {
        const CvSevSection *s = &g_array_index(fw->sev_sections, CvSevSection, i);

        if (s->type == CV_SEV_SECTION_CPUID)
            cv_snp_chain_update(chain, CV_SNP_PAGE_CPUID, s->gpa, NULL);
    }
    if (hashes_page && !cv_firmware_has_section(fw, CV_SEV_SECTION_SNP_KERNEL_HASHES)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "%s has no SNP kernel hashes section in its SEV metadata: it cannot boot a measured kernel "
                    "(build OvmfPkg/AmdSev)", fw->what);
        return FALSE;
    }
    return TRUE;
}

/* An image loaded to end at `end`: whole pages, below it */
static CvFirmware *
load_image(GBytes *bytes, const char *path, guint64 end, guint64 *gpa, GError **error)
{
    gsize size = g_bytes_get_size(bytes);

    if (size == 0 || size % CV_PAGE_SIZE || size > end) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s is %" G_GSIZE_FORMAT " bytes: not whole pages below 0x%"
                    G_GINT64_MODIFIER "x", path, size, end);
        return NULL;
    }
    *gpa = end - size;
    return cv_firmware_parse(g_bytes_get_data(bytes, NULL), size, path, error);
}

static void
measure_vmsas(CvSnpChain *chain, const CvSnpVmsaParams *ap, guint vcpus)
{
    CvSnpVmsaParams bsp = *ap;
    guint8 page[CV_PAGE_SIZE];

    /* the BSP starts at the reset vector, the APs at OVMF's SEV-ES reset block; SVSM starts all alike */
    if (!ap->svsm)
        bsp.eip = RESET_EIP;
    for (guint i = 0; i < vcpus; i++) {
        cv_snp_vmsa_build(i == 0 ? &bsp : ap, page);
        cv_snp_chain_vmsa(chain, page);
    }
}

static gboolean
measure_svsm(const CvSnpInputs *in, CvSnpChain *chain, const CvFirmware *ovmf, guint64 ovmf_gpa, GError **error)
{
    g_autoptr(GBytes) bytes = cv_measure_read_image(in->svsm, error);
    g_autoptr(CvFirmware) svsm = NULL;
    CvSnpVmsaParams ap = { .sev_features = 0x1, .vcpu_sig = in->vcpu_sig, .vmm = in->vmm, .svsm = TRUE };
    guint64 gpa;
    guint32 entry;

    if (!bytes)
        return FALSE;
    if (in->vars_size > ovmf_gpa) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "a variable store of %" G_GUINT64_FORMAT " bytes does not fit "
                    "below %s", in->vars_size, in->ovmf);
        return FALSE;
    }
    if (!(svsm = load_image(bytes, in->svsm, ovmf_gpa - in->vars_size, &gpa, error)) ||
        !cv_firmware_entry_u32(svsm, CV_GUID_SVSM_INFO, "SVSM information", &entry, error))
        return FALSE;
    cv_snp_chain_normal(chain, ovmf_gpa, ovmf->data, ovmf->size);
    cv_snp_chain_normal(chain, gpa, svsm->data, svsm->size);
    if (!cv_snp_measure_metadata(chain, svsm, NULL, CV_SNP_VMM_QEMU, error))
        return FALSE;
    /* SEV_FEATURES is SNPActive alone: the SVSM turns on the rest for the guest's VMSAs itself */
    ap.eip = gpa + entry;
    measure_vmsas(chain, &ap, in->vcpus);
    return TRUE;
}

static gboolean
check_inputs(const CvSnpInputs *in, GError **error)
{
    const char *wrong = NULL;

    if (in->vcpus == 0 || in->vcpus > 4096)
        wrong = "the number of vCPUs must be 1 to 4096";
    else if (in->svsm && in->vmm != CV_SNP_VMM_QEMU)
        wrong = "SVSM mode is measured for QEMU only";
    else if (in->svsm && (in->kernel || in->ovmf_hash))
        wrong = "SVSM mode takes neither a kernel nor an OVMF hash";
    else if (!in->kernel && (in->initrd || in->append))
        wrong = "an initrd or a command line needs a kernel";
    if (wrong)
        g_set_error_literal(error, CV_ERROR, CV_ERROR_INVALID, wrong);
    return wrong == NULL;
}

/* The kernel hashes page of in's kernel, initrd and command line, read from fds when given */
static gboolean
kernel_hashes_page(const CvSnpInputs *in, const CvSnpFds *fds, const CvFirmware *ovmf, guint8 page[CV_PAGE_SIZE],
                   GError **error)
{
    guint8 kernel[32], initrd[32];

    if (fds) {
        if (!cv_measure_sha256_fd(fds->kernel, in->kernel, kernel, error) ||
            !cv_measure_sha256_fd(in->initrd ? fds->initrd : -1, in->initrd, initrd, error))
            return FALSE;
    } else if (!cv_measure_sha256_file(in->kernel, kernel, error) ||
               !cv_measure_sha256_file(in->initrd, initrd, error)) {
        return FALSE;
    }
    return cv_snp_hashes_page(ovmf, kernel, initrd, in->append, page, error);
}

gboolean
cv_snp_measure_fds(const CvSnpInputs *in, const CvSnpFds *fds, guint8 digest[CV_SNP_DIGEST_SIZE], GError **error)
{
    g_autoptr(GBytes) bytes = NULL;
    g_autoptr(CvFirmware) ovmf = NULL;
    g_autoptr(CvSnpChain) chain = cv_snp_chain_new(in->ovmf_hash);
    CvSnpVmsaParams ap = { .sev_features = in->guest_features, .vcpu_sig = in->vcpu_sig, .vmm = in->vmm };
    guint8 hashes_page[CV_PAGE_SIZE];
    guint64 gpa;
    guint32 eip;

    g_return_val_if_fail(!(fds && in->svsm), FALSE); /* SVSM mode reads its images by path */
    if (!check_inputs(in, error))
        return FALSE;
    bytes = fds ? cv_measure_read_image_fd(fds->ovmf, in->ovmf, error) : cv_measure_read_image(in->ovmf, error);
    if (!bytes || !(ovmf = load_image(bytes, in->ovmf, FOUR_GIB, &gpa, error)))
        return FALSE;
    if (in->svsm) {
        if (!measure_svsm(in, chain, ovmf, gpa, error))
            return FALSE;
        memcpy(digest, cv_snp_chain_digest(chain), CV_SNP_DIGEST_SIZE);
        return TRUE;
    }
    if (ovmf->sev_sections->len == 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s has no SEV metadata: it is not an OVMF built for SEV-SNP",
                    in->ovmf);
        return FALSE;
    }
    if (!cv_firmware_entry_u32(ovmf, CV_GUID_SEV_ES_RESET_BLOCK, "SEV-ES reset block", &eip, error))
        return FALSE;
    if (!in->ovmf_hash)
        cv_snp_chain_normal(chain, gpa, ovmf->data, ovmf->size);
    if (in->kernel && !kernel_hashes_page(in, fds, ovmf, hashes_page, error))
        return FALSE;
    if (!cv_snp_measure_metadata(chain, ovmf, in->kernel ? hashes_page : NULL, in->vmm, error))
        return FALSE;
    ap.eip = eip;
    measure_vmsas(chain, &ap, in->vcpus);
    memcpy(digest, cv_snp_chain_digest(chain), CV_SNP_DIGEST_SIZE);
    return TRUE;
}

gboolean
cv_snp_measure(const CvSnpInputs *in, guint8 digest[CV_SNP_DIGEST_SIZE], GError **error)
{
    return cv_snp_measure_fds(in, NULL, digest, error);
}

gboolean
cv_snp_ovmf_hash(const char *path, guint8 digest[CV_SNP_DIGEST_SIZE], GError **error)
{
    g_autoptr(GBytes) bytes = cv_measure_read_image(path, error);
    g_autoptr(CvFirmware) ovmf = NULL;
    g_autoptr(CvSnpChain) chain = cv_snp_chain_new(NULL);
    guint64 gpa;

    if (!bytes || !(ovmf = load_image(bytes, path, FOUR_GIB, &gpa, error)))
        return FALSE;
    cv_snp_chain_normal(chain, gpa, ovmf->data, ovmf->size);
    memcpy(digest, cv_snp_chain_digest(chain), CV_SNP_DIGEST_SIZE);
    return TRUE;
}
