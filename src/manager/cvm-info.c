/* What the API reads from a CVM's live domain: its XML (read in a worker, bounded), then from that XML
 * in the main loop the seed's CVMInfo (with the firmware's version) and the attestation policy of its boot
 * (vtpm: PCRs; sev-snp: the launch digest; both from files of the image directories). */
#include <stdlib.h>
#include <string.h>
#include "registry-priv.h"
#include "domain-live.h"
#include "policy.h"
#include "cv-util.h"
#include "cv-file.h"
#include "igvm.h"
#include "measure-file.h"
#include "measure-policy.h"
#include "snp-measure.h"

void
cv_mgr_info_init(CvMgrRegistry *r)
{
    r->ovmf_versions = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

static gpointer
live_xml_work(virConnectPtr conn, gpointer data, GError **error)
{
    const char *name = data;
    g_autoptr(virDomain) dom = virDomainLookupByName(conn, name);
    char *xml = dom ? virDomainGetXMLDesc(dom, 0) : NULL;
    char *copy;

    if (!xml) {
        cv_mgr_libvirt_error(error, conn, dom ? "reading the domain XML" : name);
        return NULL;
    }
    copy = g_strdup(xml);
    free(xml);
    return copy;
}

void
cv_mgr_registry_live_xml_async(CvMgrRegistry *r, const char *id_or_name, GAsyncReadyCallback cb, gpointer data)
{
    GError *error = NULL;
    CvMgrCvm *cvm = cv_mgr_registry_lookup(r, id_or_name, &error);

    if (!cvm || !cv_mgr_host_check_conn(cv_mgr_host_of(cvm), &error)) {
        cv_mgr_task_fail(g_task_new(NULL, NULL, cb, data), error);
        return;
    }
    cv_mgr_libvirt_call(cv_mgr_host_of(cvm), live_xml_work, g_strdup(cvm->name), g_free, g_free, cb, data);
}

char *
cv_mgr_registry_live_xml_finish(CvMgrRegistry *r, GAsyncResult *res, GError **error)
{
    return cv_mgr_libvirt_call_finish(res, error);
}

/* The CVM (still there after the wait) and its domain as libvirt held it. */
static CvDomainLive *
read_live(CvMgrRegistry *r, const char *id, const char *xml, CvMgrCvm **cvm_out, GError **error)
{
    CvDomainLive *live;

    *cvm_out = cv_mgr_registry_lookup(r, id, error);
    if (!*cvm_out)
        return NULL;
    live = cv_conf_domain_live_parse(xml, -1, NULL);
    if (!live)
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "libvirt returned domain XML that does not parse");
    return live;
}

/* The Debian package that owns the firmware file tells its version. */
static char *
dpkg_version_of(const char *path)
{
    g_autofree char *list = NULL;
    g_autofree char *status = NULL;
    g_autofree char *line = g_strdup_printf("\n%s\n", path);
    g_autofree char *withnl = NULL;
    const char *p;

    if (!g_file_get_contents("/var/lib/dpkg/info/ovmf.list", &list, NULL, NULL))
        return NULL;
    withnl = g_strconcat("\n", list, NULL);
    if (!strstr(withnl, line))
        return NULL;
    if (!g_file_get_contents("/var/lib/dpkg/status", &status, NULL, NULL))
        return NULL;
    p = strstr(status, "Package: ovmf\n");
    if (!p)
        return NULL;
    p = strstr(p, "\nVersion: ");
    if (!p)
        return NULL;
    p += strlen("\nVersion: ");
    return g_strndup(p, strcspn(p, "\n"));
}

static const char *
ovmf_version(CvMgrRegistry *r, const char *loader)
{
    char *v;
    g_autofree char *real = NULL;

    if (r->config->ovmf_version)
        return r->config->ovmf_version;
    if (!loader)
        return "unknown";
    v = g_hash_table_lookup(r->ovmf_versions, loader);
    if (v)
        return v;
    real = realpath(loader, NULL);
    v = dpkg_version_of(loader);
    if (!v && real)
        v = dpkg_version_of(real);
    if (!v)
        v = g_strdup("unknown");
    g_hash_table_insert(r->ovmf_versions, g_strdup(loader), v);
    return v;
}

JsonNode *
cv_mgr_registry_info(CvMgrRegistry *r, const char *id, const char *xml, GError **error)
{
    CvMgrCvm *cvm = NULL;
    g_autoptr(CvDomainLive) live = read_live(r, id, xml, &cvm, error);
    g_autoptr(JsonBuilder) b = json_builder_new();

    if (!live)
        return NULL;
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, cvm->id);
    json_builder_set_member_name(b, "ovmf_version");
    json_builder_add_string_value(b, ovmf_version(r, live->loader));
    json_builder_set_member_name(b, "cpu_num");
    json_builder_add_int_value(b, (gint64)live->vcpus);
    json_builder_set_member_name(b, "cpu_type");
    json_builder_add_string_value(b, live->cpu_model ? live->cpu_model : live->cpu_mode ? live->cpu_mode : "default");
    json_builder_set_member_name(b, "kernel_cmd");
    json_builder_add_string_value(b, live->cmdline ? live->cmdline : "");
    json_builder_set_member_name(b, "eos_version");
    json_builder_add_string_value(b, cvm->hal_version ? cvm->hal_version : "unknown");
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* The EK roots as PEM text: the policy a user downloads is whole, and the user decides whether to
 * trust a CA this host made (development; docs/policy.md says so). FALSE while a file is missing. */
static gboolean
add_ek_ca(JsonObject *policy, char **files)
{
    g_autoptr(GString) ca = g_string_new(NULL);

    for (char **f = files; *f; f++) {
        g_autoptr(GBytes) pem = cv_read_file(*f, 1 << 20, NULL);

        if (!pem)
            return FALSE;
        g_string_append_len(ca, g_bytes_get_data(pem, NULL), g_bytes_get_size(pem));
        g_string_append_c(ca, '\n');
    }
    json_object_set_string_member(policy, "ca_pem", ca->str);
    json_object_set_boolean_member(policy, "require_credential", TRUE);
    return TRUE;
}

/* What a policy is computed from: the files libvirt was given, opened from the image directories only */
typedef struct {
    CvFd ovmf, kernel, initrd;
} BootFds;

static void
boot_fds_clear(BootFds *b)
{
    cv_fd_close(b->ovmf);
    cv_fd_close(b->kernel);
    cv_fd_close(b->initrd);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(BootFds, boot_fds_clear)

/* An IGVM boot: the file the manager handed QEMU (-object igvm-cfg) holds firmware and VMSA alike, so its
 * digest depends on nothing else (docs/measure.md); read from the image directories only */
static JsonNode *
snp_igvm_policy(CvMgrRegistry *r, const CvMgrCvm *cvm, const CvCvmSpec *spec, GError **error)
{
    g_auto(CvFd) fd = cv_defaults_open_image(r->config->defaults, "igvm", spec->igvm, NULL, error);
    g_autoptr(GBytes) image = fd >= 0 ? cv_measure_read_image_fd(fd, spec->igvm, error) : NULL;
    g_autofree char *description = NULL;
    guint8 digest[CV_SNP_DIGEST_SIZE];
    gsize len;
    const guint8 *data;

    if (!image)
        return NULL;
    data = g_bytes_get_data(image, &len);
    if (!cv_igvm_snp_measure(data, len, spec->igvm, digest, error))
        return NULL;
    description = g_strdup_printf("covirt-manager: the IGVM launch of CVM %s (%s)", cvm->name, cvm->id);
    return cv_measure_snp_policy(digest, spec->sev_snp.host_data, description);
}

/* The SEV-SNP launch digest of the domain as libvirt holds it: its OVMF, the kernel hashes of its direct
 * boot, its vCPUs and CPU model (docs/measure.md); the spec's host data. SEV_FEATURES are taken as 0x1
 * (SNPActive): QEMU's default with KVM_SEV_INIT2. */
static JsonNode *
snp_policy(CvMgrRegistry *r, const CvMgrCvm *cvm, const CvDomainLive *live, GError **error)
{
    g_autoptr(CvCvmSpec) spec = cv_cvm_spec_from_data(cvm->spec_json, -1, r->config->defaults, error);
    g_auto(BootFds) fds = { -1, -1, -1 };
    CvSnpInputs in = { .vcpus = live->vcpus, .vmm = CV_SNP_VMM_QEMU, .guest_features = 0x1, .ovmf = live->loader,
                       .kernel = live->kernel, .initrd = live->initrd, .append = live->cmdline };
    CvSnpFds in_fds;
    guint8 digest[CV_SNP_DIGEST_SIZE];
    g_autofree char *description = NULL;

    if (!spec)
        return NULL;
    if (spec->igvm)
        return snp_igvm_policy(r, cvm, spec, error);
    if (!live->loader) {
        g_set_error(error, CV_ERROR, CV_ERROR_NOT_SUPPORTED, "the launch digest of an OVMF-less boot is not computed "
                    "here: give its measurement to 'covirt policy sev-snp'");
        return NULL;
    }
    if (!live->cpu_model || !cv_snp_vcpu_sig_from_type(live->cpu_model, &in.vcpu_sig)) {
        g_set_error(error, CV_ERROR, CV_ERROR_NOT_SUPPORTED, "the domain's CPU model '%s' has no known signature",
                    live->cpu_model ? live->cpu_model : "(none)");
        return NULL;
    }
    if ((fds.ovmf = cv_defaults_open_image(r->config->defaults, "ovmf", live->loader, NULL, error)) < 0 ||
        (live->kernel &&
         (fds.kernel = cv_defaults_open_image(r->config->defaults, "kernel", live->kernel, NULL, error)) < 0) ||
        (live->initrd &&
         (fds.initrd = cv_defaults_open_image(r->config->defaults, "initrd", live->initrd, NULL, error)) < 0))
        return NULL;
    in_fds = (CvSnpFds){ fds.ovmf, fds.kernel, fds.initrd };
    if (!cv_snp_measure_fds(&in, &in_fds, digest, error))
        return NULL;
    description = g_strdup_printf("covirt-manager: the launch of CVM %s (%s)", cvm->name, cvm->id);
    return cv_measure_snp_policy(digest, spec->sev_snp.host_data, description);
}

JsonNode *
cv_mgr_registry_attestation_policy(CvMgrRegistry *r, const char *id, const char *xml, GError **error)
{
    CvMgrCvm *cvm = NULL;
    /* the boot as libvirt holds it: that is what QEMU measures */
    g_autoptr(CvDomainLive) live = read_live(r, id, xml, &cvm, error);
    g_auto(CvFd) kernel = -1;
    g_auto(CvFd) initrd = -1;
    JsonNode *policy;

    if (!live)
        return NULL;
    if (cvm->platform == CV_PLATFORM_SEV_SNP)
        return snp_policy(r, cvm, live, error);
    if (cvm->platform != CV_PLATFORM_VTPM) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "an attestation policy is computed for vtpm and sev-snp CVMs only, not %s",
                    cv_platform_to_string(cvm->platform));
        return NULL;
    }
    if (!live->kernel || !live->initrd || !live->memory_kib) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "the domain has no direct kernel boot to compute a policy for");
        return NULL;
    }
    /* the paths may be a spec's: read only from the image directories, what was checked */
    kernel = cv_defaults_open_image(r->config->defaults, "kernel", live->kernel, NULL, error);
    initrd = kernel >= 0 ? cv_defaults_open_image(r->config->defaults, "initrd", live->initrd, NULL, error) : -1;
    if (initrd < 0)
        return NULL;
    policy = cv_attest_vtpm_policy_new_fd(kernel, initrd, live->cmdline ? live->cmdline : "",
                                          live->memory_kib * 1024, error);
    /* no CA yet: the verdict reports the EK chain as failed */
    if (policy)
        (void)add_ek_ca(json_node_get_object(policy), r->config->vtpm_ek_ca);
    return policy;
}
