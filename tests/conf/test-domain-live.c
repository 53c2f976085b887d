/* What the manager reads from a live domain XML: the values a running domain states, the defaults
 * when it states none, and refusals of text that is not a domain. And from a host's domain
 * capabilities: libvirt 9.0's QEMU driver without KVM (domcaps/), and the elements newer libvirt adds. */
#include <string.h>
#include "domain-live.h"

/* as libvirt 9.0 returns a started vtpm CVM (abridged) */
static const char live_vtpm[] =
    "<domain type='kvm' id='7'>\n"
    "  <name>cvm-a</name>\n"
    "  <memory unit='KiB'>2097152</memory>\n"
    "  <vcpu placement='static'>2</vcpu>\n"
    "  <os>\n"
    "    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>\n"
    "    <loader readonly='yes' secure='no' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>\n"
    "    <nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/libvirt/qemu/nvram/cvm-a_VARS.fd</nvram>\n"
    "    <kernel>/var/lib/covirt/hal/bzImage</kernel>\n"
    "    <initrd>/var/lib/covirt/hal/initramfs.cpio.gz</initrd>\n"
    "    <cmdline>console=hvc0 quiet</cmdline>\n"
    "  </os>\n"
    "  <cpu mode='host-passthrough' check='none' migratable='on'/>\n"
    "  <devices>\n"
    "    <channel type='unix'>\n"
    "      <source mode='bind' path='/run/libvirt/qemu/channel/7-cvm-a/org.qemu.guest_agent.0'/>\n"
    "      <target type='virtio' name='org.qemu.guest_agent.0' state='disconnected'/>\n"
    "    </channel>\n"
    "    <channel type='pty'>\n"
    "      <source path='/dev/pts/4'/>\n"
    "      <target type='virtio' name='org.covirt.agent.0'/>\n"
    "    </channel>\n"
    "    <channel type='unix'>\n"
    "      <source mode='bind' path='/run/libvirt/qemu/channel/7-cvm-a/org.covirt.agent.0'/>\n"
    "      <target type='virtio' name='org.covirt.agent.0' state='connected'/>\n"
    "    </channel>\n"
    "  </devices>\n"
    "</domain>\n";

static void
test_live_values(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CvDomainLive) live = cv_conf_domain_live_parse(live_vtpm, -1, &error);

    g_assert_no_error(error);
    g_assert_nonnull(live);
    g_assert_cmpstr(live->channel_path, ==, "/run/libvirt/qemu/channel/7-cvm-a/org.covirt.agent.0");
    g_assert_cmpstr(live->loader, ==, "/usr/share/OVMF/OVMF_CODE_4M.fd");
    g_assert_cmpstr(live->kernel, ==, "/var/lib/covirt/hal/bzImage");
    g_assert_cmpstr(live->initrd, ==, "/var/lib/covirt/hal/initramfs.cpio.gz");
    g_assert_cmpstr(live->cmdline, ==, "console=hvc0 quiet");
    g_assert_null(live->cpu_model);
    g_assert_cmpstr(live->cpu_mode, ==, "host-passthrough");
    g_assert_cmpuint(live->vcpus, ==, 2);
    g_assert_cmpuint(live->memory_kib, ==, 2097152);
}

static void
test_live_absent(void)
{
    /* the test driver's domains: no channel socket, no direct kernel boot */
    static const char xml[] =
        "<domain type='test'><name>t</name><memory>524288</memory><vcpu> 4 </vcpu>"
        "<os><type>hvm</type><cmdline></cmdline></os><cpu><model fallback='allow'>EPYC</model></cpu>"
        "<devices><channel type='unix'><target type='virtio' name='org.covirt.agent.0'/></channel></devices>"
        "</domain>";
    g_autoptr(CvDomainLive) live = cv_conf_domain_live_parse(xml, strlen(xml), NULL);

    g_assert_nonnull(live);
    g_assert_null(live->channel_path);
    g_assert_null(live->loader);
    g_assert_null(live->kernel);
    g_assert_null(live->initrd);
    g_assert_null(live->cmdline);   /* empty is absent */
    g_assert_cmpstr(live->cpu_model, ==, "EPYC");
    g_assert_null(live->cpu_mode);
    g_assert_cmpuint(live->vcpus, ==, 4);
    g_assert_cmpuint(live->memory_kib, ==, 524288);   /* no unit: KiB */
}

static void
test_live_numbers(void)
{
    static const struct { const char *body; guint64 vcpus, kib; } cases[] = {
        { "<memory unit='MiB'>2048</memory><vcpu>x</vcpu>", 0, 0 },
        { "<memory unit='KiB'>0</memory><vcpu>-1</vcpu>", 0, 0 },
        { "<memory unit='KiB'>99999999999999999999</memory><vcpu>100001</vcpu>", 0, 0 },
        { "<memory unit=''>1024</memory><vcpu>100000</vcpu>", 100000, 1024 },
        { "<vcpu/>", 0, 0 },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *xml = g_strdup_printf("<domain>%s</domain>", cases[i].body);
        g_autoptr(CvDomainLive) live = cv_conf_domain_live_parse(xml, -1, NULL);

        g_assert_nonnull(live);
        g_assert_cmpuint(live->vcpus, ==, cases[i].vcpus);
        g_assert_cmpuint(live->memory_kib, ==, cases[i].kib);
    }
}

static void
test_live_refused(void)
{
    static const char *const bad[] = {
        "", "<domain>", "<network><name>default</name></network>", "not xml at all",
        "<!DOCTYPE domain SYSTEM 'http://example.com/x.dtd'><domain><name>x</name></domain",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;

        g_assert_null(cv_conf_domain_live_parse(bad[i], -1, &error));
        g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
    }
    {
        g_autoptr(GError) error = NULL;

        g_assert_null(cv_conf_domain_live_parse(NULL, -1, &error));
        g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
    }
}

static void
test_caps_tcg(void)
{
    g_autofree char *path = g_build_filename(COVIRT_DOMCAPS_DIR, "qemu-9.0-tcg-session.xml", NULL);
    g_autofree char *xml = NULL;
    g_autoptr(CvDomainCaps) caps = NULL;

    g_assert_true(g_file_get_contents(path, &xml, NULL, NULL));
    caps = cv_conf_domain_caps_parse(xml, -1, NULL);
    g_assert_nonnull(caps);
    g_assert_cmpstr(caps->domain_type, ==, "qemu");
    g_assert_true(caps->efi);
    g_assert_true(caps->tpm);
    g_assert_false(caps->sev);
    g_assert_false(caps->sev_snp);
    g_assert_false(caps->tdx);
}

/* launchSecurity's sectype (libvirt 10.5+ for sev-snp, 11 for tdx), under features or at the top */
static void
test_caps_launch_security(void)
{
    static const char snp[] =
        "<domainCapabilities><domain>kvm</domain><os supported='yes'><loader supported='yes'/></os>"
        "<features><sev supported='yes'/><launchSecurity supported='yes'><enum name='sectype'>"
        "<value>sev</value><value> sev-snp </value></enum></launchSecurity></features></domainCapabilities>";
    static const char tdx[] =
        "<domainCapabilities><domain>kvm</domain><os supported='no'/><devices><tpm supported='no'/></devices>"
        "<features><tdx supported='yes'/></features></domainCapabilities>";
    static const char unsupported[] =
        "<domainCapabilities><launchSecurity supported='no'><enum name='sectype'><value>sev-snp</value>"
        "</enum></launchSecurity></domainCapabilities>";
    g_autoptr(CvDomainCaps) a = cv_conf_domain_caps_parse(snp, -1, NULL);
    g_autoptr(CvDomainCaps) b = cv_conf_domain_caps_parse(tdx, -1, NULL);
    g_autoptr(CvDomainCaps) c = cv_conf_domain_caps_parse(unsupported, -1, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(CvDomainCaps) d = cv_conf_domain_caps_parse("<domain/>", -1, &error);

    g_assert_true(a->sev_snp && a->sev && a->efi && a->tpm && !a->tdx);
    g_assert_cmpstr(a->domain_type, ==, "kvm");
    g_assert_true(b->tdx && !b->efi && !b->tpm && !b->sev_snp);
    g_assert_false(c->sev_snp);
    g_assert_null(c->domain_type);
    g_assert_null(d);
    g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/conf/domain-live/values", test_live_values);
    g_test_add_func("/conf/domain-live/absent", test_live_absent);
    g_test_add_func("/conf/domain-live/numbers", test_live_numbers);
    g_test_add_func("/conf/domain-live/refused", test_live_refused);
    g_test_add_func("/conf/domain-caps/tcg", test_caps_tcg);
    g_test_add_func("/conf/domain-caps/launch-security", test_caps_launch_security);
    return g_test_run();
}
