/* What a host can run, in its libvirt's own words (virConnectGetDomainCapabilities) instead of the
 * manager's /proc/cpuinfo: read in the connect's worker, so a host's platforms are known once it is up. */
#include <stdlib.h>
#include <string.h>
#include "registry-priv.h"
#include "domain-live.h"

void
cv_mgr_host_caps_free(CvMgrHostCaps *caps)
{
    if (!caps)
        return;
    for (guint p = 0; p < CV_PLATFORM_COUNT; p++)
        g_free(caps->why_not[p]);
    g_free(caps->domain_type);
    g_free(caps);
}

/* The domain capabilities for the virt type (kvm, then qemu), or NULL; *unsupported when the driver
 * has none at all (the test driver). */
static CvDomainCaps *
domain_caps(virConnectPtr conn, const char *machine, const char *virttype, gboolean *unsupported)
{
    char *xml = virConnectGetDomainCapabilities(conn, NULL, NULL, machine, virttype, 0);
    virErrorPtr e;
    CvDomainCaps *caps;

    if (!xml && machine)
        xml = virConnectGetDomainCapabilities(conn, NULL, NULL, NULL, virttype, 0);
    if (!xml) {
        e = virGetLastError();
        *unsupported = e && e->code == VIR_ERR_NO_SUPPORT;
        return NULL;
    }
    caps = cv_conf_domain_caps_parse(xml, -1, NULL);
    free(xml);
    return caps;
}

static void
refuse(CvMgrHostCaps *out, CvPlatform p, const char *why)
{
    out->platforms &= ~(1u << p);
    if (!out->why_not[p])
        out->why_not[p] = g_strdup(why);
}

/* What the capabilities allow, platform by platform; the first reason for each refusal is kept. */
static void
judge(CvMgrHostCaps *out, const CvDomainCaps *c, const char *domain_type)
{
    gboolean kvm = c && c->domain_type && strcmp(c->domain_type, "kvm") == 0;

    out->platforms = (1u << CV_PLATFORM_COUNT) - 1;
    /* a driver without domain capabilities (the test driver) has nothing to check against: libvirt's
     * define and start decide, as before hosts were read */
    out->checked = c != NULL;
    if (!c)
        return;
    if (strcmp(domain_type, "kvm") == 0 && !kvm)
        for (guint p = 0; p < CV_PLATFORM_COUNT; p++)
            refuse(out, p, "MANAGER_DOMAIN_TYPE is kvm, and the host offers no KVM");
    if (!kvm) {
        refuse(out, CV_PLATFORM_SEV_SNP, "no KVM (its domain capabilities offer emulation only)");
        refuse(out, CV_PLATFORM_TDX, "no KVM (its domain capabilities offer emulation only)");
    }
    if (!c->efi)
        for (guint p = 0; p < CV_PLATFORM_COUNT; p++)
            refuse(out, p, "no UEFI firmware in its domain capabilities (os/loader)");
    if (!c->tpm)
        refuse(out, CV_PLATFORM_VTPM, "no TPM device in its domain capabilities");
    if (!c->sev_snp)
        refuse(out, CV_PLATFORM_SEV_SNP, c->sev ? "SEV only: its domain capabilities offer no sev-snp launch security"
                                                : "its domain capabilities offer no sev-snp launch security");
    if (!c->tdx)
        refuse(out, CV_PLATFORM_TDX, "its domain capabilities offer no tdx launch security");
}

CvMgrHostCaps *
cv_mgr_host_caps_read(virConnectPtr conn, const char *domain_type, gboolean domain_type_auto, const char *machine)
{
    CvMgrHostCaps *out = g_new0(CvMgrHostCaps, 1);
    gboolean unsupported = FALSE;
    g_autoptr(CvDomainCaps) caps = domain_caps(conn, machine, "kvm", &unsupported);

    if (!caps && !unsupported)
        caps = domain_caps(conn, machine, "qemu", &unsupported);
    if (!caps && !unsupported)
        g_warning("cannot read the domain capabilities: %s", virGetLastError() ? virGetLastError()->message : "");
    judge(out, caps, domain_type);
    /* auto: what the host offers; a driver without capabilities gets what the manager resolved */
    out->domain_type = g_strdup(domain_type_auto && caps && caps->domain_type ? caps->domain_type : domain_type);
    out->free_memory = virNodeGetFreeMemory(conn);
    return out;
}

gpointer
cv_mgr_host_probe_work(virConnectPtr conn, gpointer data, GError **error)
{
    guint64 *free_memory = g_new0(guint64, 1);
    unsigned long version;

    /* a round trip to the daemon (virConnectIsAlive only looks at the socket) */
    *free_memory = virNodeGetFreeMemory(conn);
    if (*free_memory == 0 && virConnectGetLibVersion(conn, &version) < 0) {
        cv_mgr_libvirt_error(error, conn, "probing libvirt");
        g_free(free_memory);
        return NULL;
    }
    return free_memory;
}
