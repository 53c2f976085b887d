/* What the manager reads from libvirt: a domain's live XML (virDomainGetXMLDesc): the agent channel's socket,
 * the firmware, the direct kernel boot, CPUs and memory; and a host's domain capabilities. Pure: the text comes from libvirt, which
 * anyone with libvirt access can change, so nothing in it is trusted beyond its syntax. */
#pragma once
#include <glib.h>
#include "cv-error.h"

G_BEGIN_DECLS

typedef struct {
    char *channel_path;   /* devices/channel[@type='unix'][target/@name=CV_AGENT_CHANNEL]/source/@path */
    char *loader;         /* os/loader */
    char *kernel;         /* os/kernel */
    char *initrd;         /* os/initrd */
    char *cmdline;        /* os/cmdline */
    char *cpu_model;      /* cpu/model */
    char *cpu_mode;       /* cpu/@mode */
    guint64 vcpus;        /* vcpu; 0 when absent or not a number */
    guint64 memory_kib;   /* memory; 0 when absent, not a number or in a unit other than KiB */
} CvDomainLive;

/* Every string member is NULL when the domain does not state it (or states it empty). */
CvDomainLive *cv_conf_domain_live_parse(const char *xml, gssize len, GError **error);
void cv_conf_domain_live_free(CvDomainLive *live);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvDomainLive, cv_conf_domain_live_free)

/* What a host's libvirt says it can run (virConnectGetDomainCapabilities): as untrusted as the live XML,
 * and as pure. Absent elements are "not offered", except the TPM, which older libvirt does not list. */
typedef struct {
    char *domain_type;    /* domain: kvm or qemu */
    gboolean efi;         /* os supported, with firmware 'efi' or a supported loader */
    gboolean tpm;         /* devices/tpm supported, or not listed */
    gboolean sev;         /* features/sev supported (SEV, SEV-ES: not enough for sev-snp) */
    gboolean sev_snp;     /* launchSecurity sectype sev-snp */
    gboolean tdx;         /* launchSecurity sectype tdx, or features/tdx supported */
} CvDomainCaps;

CvDomainCaps *cv_conf_domain_caps_parse(const char *xml, gssize len, GError **error);
void cv_conf_domain_caps_free(CvDomainCaps *caps);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvDomainCaps, cv_conf_domain_caps_free)

G_END_DECLS
