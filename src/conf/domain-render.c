#include "domain-render.h"
#include "cv-autoptr.h"
#include "cv-util.h"

#include <string.h>
#include <libxml/xmlsave.h>

#define QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"

gboolean
cv_libvirt_version_parse(const char *text, unsigned long *out, GError **error)
{
    g_auto(GStrv) parts = g_strsplit(text ? text : "", ".", -1);
    guint64 v[3] = { 0, 0, 0 };
    guint n = g_strv_length(parts);

    if (n < 2 || n > 3)
        goto bad;
    for (guint i = 0; i < n; i++)
        if (!cv_parse_uint(parts[i], 0, 999, &v[i], NULL))
            goto bad;
    *out = v[0] * 1000000UL + v[1] * 1000UL + v[2];
    return TRUE;
 bad:
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "libvirt version: '%s' is not like 9.0.0", text ? text : "");
    return FALSE;
}

/* $COVIRT_TEMPLATE_DIR (the tests and scripts point it at the source tree), else the installed directory:
 * an installed program never reads a source tree that happens to exist */
const char *
cv_domain_template_dir(void)
{
    const char *env = g_getenv("COVIRT_TEMPLATE_DIR");

    return env && *env ? env : COVIRT_TEMPLATE_DIR;
}

/* ---- tree helpers: every value goes in as text or attribute, which libxml2 escapes ---- */

static xmlNodePtr
find_child(xmlNodePtr parent, const char *name)
{
    for (xmlNodePtr c = parent->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, BAD_CAST name) == 0)
            return c;
    return NULL;
}

static xmlNodePtr
child(xmlNodePtr parent, const char *name)
{
    xmlNodePtr c = find_child(parent, name);

    return c ? c : xmlNewChild(parent, NULL, BAD_CAST name, NULL);
}

static void
set_text(xmlNodePtr node, const char *text)
{
    xmlNodePtr c = node->children;

    while (c) {
        xmlNodePtr next = c->next;
        xmlUnlinkNode(c);
        xmlFreeNode(c);
        c = next;
    }
    xmlAddChild(node, xmlNewText(BAD_CAST text));
}

static xmlNodePtr
text_child(xmlNodePtr parent, const char *name, const char *text)
{
    return xmlNewTextChild(parent, NULL, BAD_CAST name, BAD_CAST text);
}

static void
prop(xmlNodePtr node, const char *name, const char *value)
{
    xmlSetProp(node, BAD_CAST name, BAD_CAST value);
}

static void
propf(xmlNodePtr node, const char *name, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static void
propf(xmlNodePtr node, const char *name, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *v = NULL;

    va_start(ap, fmt);
    v = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    prop(node, name, v);
}

static char *
b64(GBytes *b)
{
    return b ? g_base64_encode(g_bytes_get_data(b, NULL), g_bytes_get_size(b)) : NULL;
}

/* <qemu:commandline> for what this libvirt has no element for. */
typedef struct {
    xmlNodePtr root;
    xmlNsPtr ns;
    xmlNodePtr cmdline;
} QemuArgs;

static void
qemu_arg(QemuArgs *q, const char *value)
{
    xmlNodePtr a;

    if (!q->ns)
        q->ns = xmlNewNs(q->root, BAD_CAST QEMU_NS, BAD_CAST "qemu");
    if (!q->cmdline)
        q->cmdline = xmlNewChild(q->root, q->ns, BAD_CAST "commandline", NULL);
    a = xmlNewChild(q->cmdline, q->ns, BAD_CAST "arg", NULL);
    prop(a, "value", value);
}

static void
qemu_arg2(QemuArgs *q, const char *opt, const char *value)
{
    qemu_arg(q, opt);
    qemu_arg(q, value);
}

/* ---- pieces ---- */

static char *
effective_cmdline(const CvCvmSpec *s)
{
    g_auto(GStrv) words = NULL;
    g_autoptr(GPtrArray) out = g_ptr_array_new();
    gboolean console = FALSE;

    if (!s->debug)
        return g_strdup(s->cmdline);
    /* debug: the console goes to the serial port the domain logs to, and the HAL opens a shell there. */
    words = g_strsplit(s->cmdline, " ", -1);
    for (char **w = words; *w; w++) {
        if (!**w || !strcmp(*w, "quiet"))
            continue;
        if (g_str_has_prefix(*w, "console=")) {
            if (!console)
                g_ptr_array_add(out, "console=ttyS0");
            console = TRUE;
            continue;
        }
        g_ptr_array_add(out, *w);
    }
    if (!console)
        g_ptr_array_add(out, "console=ttyS0");
    g_ptr_array_add(out, "covirt.debug");
    g_ptr_array_add(out, NULL);
    return g_strjoinv(" ", (char **)out->pdata);
}

static void
render_os(xmlNodePtr os, const CvCvmSpec *s)
{
    xmlNodePtr type = child(os, "type");
    g_autofree char *cmdline = effective_cmdline(s);

    prop(type, "machine", s->machine);
    if (s->platform == CV_PLATFORM_VTPM) {
        /* explicit split pflash, secure boot off: what measured-boot.md's expected PCRs assume */
        xmlNodePtr loader = text_child(os, "loader", s->ovmf);
        prop(loader, "readonly", "yes");
        prop(loader, "secure", "no");
        prop(loader, "type", "pflash");
        if (s->ovmf_vars)
            prop(xmlNewChild(os, NULL, BAD_CAST "nvram", NULL), "template", s->ovmf_vars);
    } else if (!(s->platform == CV_PLATFORM_SEV_SNP && s->igvm)) {
        /* confidential guests boot one read-only image: no split pflash, no NVRAM to tamper with */
        xmlNodePtr loader = text_child(os, "loader", s->ovmf);
        prop(loader, "readonly", "yes");
        prop(loader, "type", "rom");
    }
    if (s->kernel)
        text_child(os, "kernel", s->kernel);
    if (s->initrd)
        text_child(os, "initrd", s->initrd);
    text_child(os, "cmdline", cmdline);
}

static void
render_cpu_memory(xmlNodePtr root, const CvCvmSpec *s)
{
    xmlNodePtr vcpu = child(root, "vcpu");
    xmlNodePtr mem = child(root, "memory");
    g_autofree char *kib = g_strdup_printf("%" G_GUINT64_FORMAT, s->memory_bytes >> 10);
    g_autofree char *maxv = g_strdup_printf("%u", MAX(s->maxcpus, s->vcpus));
    xmlNodePtr cpu = NULL;

    set_text(mem, kib);
    prop(mem, "unit", "KiB");
    set_text(vcpu, maxv);
    if (s->maxcpus > s->vcpus)
        propf(vcpu, "current", "%u", s->vcpus);
    if (s->max_memory_bytes) {
        xmlNodePtr mm = xmlNewNode(NULL, BAD_CAST "maxMemory");
        g_autofree char *t = g_strdup_printf("%" G_GUINT64_FORMAT, s->max_memory_bytes >> 10);
        set_text(mm, t);
        propf(mm, "slots", "%u", s->memory_slots);
        prop(mm, "unit", "KiB");
        xmlAddPrevSibling(mem, mm);
    }

    if (!strcmp(s->domain_type, "kvm") && !s->cpu) {
        cpu = child(root, "cpu");
        prop(cpu, "mode", "host-passthrough");
    } else if (s->cpu) {
        cpu = child(root, "cpu");
        prop(cpu, "mode", "custom");
        prop(cpu, "match", "exact");
        prop(text_child(cpu, "model", s->cpu), "fallback", "forbid");
    }
    if (s->max_memory_bytes) {
        /* memory hotplug needs a NUMA node for the DIMMs to land in */
        xmlNodePtr cell;
        if (!cpu)
            cpu = child(root, "cpu");
        cell = xmlNewChild(child(cpu, "numa"), NULL, BAD_CAST "cell", NULL);
        prop(cell, "id", "0");
        propf(cell, "cpus", "0-%u", MAX(s->maxcpus, s->vcpus) - 1);
        prop(cell, "memory", kib);
        prop(cell, "unit", "KiB");
    }
}

static void
render_network(xmlNodePtr root, xmlNodePtr devices, QemuArgs *q, const CvCvmSpec *s, unsigned long ver)
{
    gboolean confidential = s->platform != CV_PLATFORM_VTPM;

    if (ver >= CV_LIBVIRT_PASST_PORTFORWARD_VERSION) {
        xmlNodePtr iface = xmlNewChild(devices, NULL, BAD_CAST "interface", NULL);
        xmlNodePtr pf, range;
        prop(iface, "type", "user");
        prop(xmlNewChild(iface, NULL, BAD_CAST "backend", NULL), "type", "passt");
        prop(xmlNewChild(iface, NULL, BAD_CAST "model", NULL), "type", "virtio");
        if (confidential)
            prop(xmlNewChild(iface, NULL, BAD_CAST "driver", NULL), "iommu", "on");
        pf = xmlNewChild(iface, NULL, BAD_CAST "portForward", NULL);
        prop(pf, "proto", "tcp");
        prop(pf, "address", s->agent_bind_address);
        range = xmlNewChild(pf, NULL, BAD_CAST "range", NULL);
        propf(range, "start", "%u", s->host_port);
        propf(range, "to", "%u", s->agent_port);
        return;
    }
    /* libvirt < 9.2 has no passt port forwarding: QEMU's user network with hostfwd, on a fixed PCIe slot
     * so it never collides with the addresses libvirt assigns. IPv6 addresses need brackets in hostfwd. */
    {
        gboolean v6 = strchr(s->agent_bind_address, ':') != NULL;
        g_autofree char *netdev = g_strdup_printf("user,id=covirt0,hostfwd=tcp:%s%s%s:%u-:%u", v6 ? "[" : "",
                                                  s->agent_bind_address, v6 ? "]" : "", s->host_port,
                                                  s->agent_port);
        g_autofree char *dev = g_strdup_printf("virtio-net-pci,netdev=covirt0,bus=pcie.0,addr=0x10%s",
                                               confidential ? ",iommu_platform=on,disable-legacy=on" : "");
        qemu_arg2(q, "-netdev", netdev);
        qemu_arg2(q, "-device", dev);
    }
    (void)root;
}

static void
render_debug(xmlNodePtr devices, const CvCvmSpec *s, const CvRenderOptions *opts)
{
    g_autofree char *path = g_strdup_printf("%s/%s.serial", opts->log_dir ? opts->log_dir : "/var/log/covirt",
                                            s->name);
    xmlNodePtr serial = xmlNewChild(devices, NULL, BAD_CAST "serial", NULL);
    xmlNodePtr console = xmlNewChild(devices, NULL, BAD_CAST "console", NULL);
    xmlNodePtr t;

    prop(serial, "type", "file");
    prop(xmlNewChild(serial, NULL, BAD_CAST "source", NULL), "path", path);
    prop(xmlNewChild(serial, NULL, BAD_CAST "target", NULL), "port", "0");
    prop(console, "type", "file");
    prop(xmlNewChild(console, NULL, BAD_CAST "source", NULL), "path", path);
    t = xmlNewChild(console, NULL, BAD_CAST "target", NULL);
    prop(t, "type", "serial");
    prop(t, "port", "0");
}

static void
render_sev_snp(xmlNodePtr root, QemuArgs *q, const CvCvmSpec *s, unsigned long ver)
{
    g_autofree char *policy = g_strdup_printf("0x%" G_GINT64_MODIFIER "x", s->sev_snp.policy);
    g_autofree char *host_data = b64(s->sev_snp.host_data);
    gboolean kernel_hashes = s->igvm == NULL && s->kernel != NULL;

    if (ver >= CV_LIBVIRT_SEV_SNP_VERSION) {
        xmlNodePtr ls = xmlNewChild(root, NULL, BAD_CAST "launchSecurity", NULL);
        g_autofree char *cbit = g_strdup_printf("%u", s->sev_snp.cbitpos);
        g_autofree char *rpb = g_strdup_printf("%u", s->sev_snp.reduced_phys_bits);
        prop(ls, "type", "sev-snp");
        if (kernel_hashes)
            prop(ls, "kernelHashes", "yes");
        if (s->sev_snp.author_key)
            prop(ls, "authorKey", "yes");
        if (s->sev_snp.vcek_disabled)
            prop(ls, "vcek", "no");
        text_child(ls, "cbitpos", cbit);
        text_child(ls, "reducedPhysBits", rpb);
        text_child(ls, "policy", policy);
        if (s->sev_snp.id_block) {
            text_child(ls, "idBlock", s->sev_snp.id_block);
            text_child(ls, "idAuth", s->sev_snp.id_auth);
        }
        if (host_data)
            text_child(ls, "hostData", host_data);
    } else {
        /* the seed's QEMU object, for libvirt that cannot express SNP yet */
        g_autoptr(GString) o = g_string_new("sev-snp-guest,id=sev0");
        g_string_append_printf(o, ",cbitpos=%u,reduced-phys-bits=%u,policy=%s", s->sev_snp.cbitpos,
                               s->sev_snp.reduced_phys_bits, policy);
        if (host_data)
            g_string_append_printf(o, ",host-data=%s", host_data);
        if (s->sev_snp.id_block)
            g_string_append_printf(o, ",id-block=%s,id-auth=%s", s->sev_snp.id_block, s->sev_snp.id_auth);
        if (s->sev_snp.author_key)
            g_string_append(o, ",author-key-enabled=on");
        if (s->sev_snp.vcek_disabled)
            g_string_append(o, ",vcek-disabled=on");
        if (kernel_hashes)
            g_string_append(o, ",kernel-hashes=on");
        qemu_arg2(q, "-object", o->str);
        qemu_arg2(q, "-machine", "confidential-guest-support=sev0");
    }
    if (s->igvm) {
        /* COCONUT-SVSM + OVMF + vTPM in one IGVM file; libvirt has no element for it */
        g_autofree char *cfg = g_strdup_printf("igvm-cfg,id=igvm0,file=%s", s->igvm);
        qemu_arg2(q, "-object", cfg);
        qemu_arg2(q, "-machine", "igvm-cfg=igvm0");
    }
}

static void
render_tdx(xmlNodePtr root, QemuArgs *q, const CvCvmSpec *s, unsigned long ver)
{
    g_autofree char *policy = g_strdup_printf("0x%" G_GINT64_MODIFIER "x", s->tdx.policy);
    g_autofree char *cfg = b64(s->tdx.mr_config_id);
    g_autofree char *owner = b64(s->tdx.mr_owner);
    g_autofree char *owner_cfg = b64(s->tdx.mr_owner_config);

    if (ver >= CV_LIBVIRT_TDX_VERSION) {
        xmlNodePtr ls = xmlNewChild(root, NULL, BAD_CAST "launchSecurity", NULL);
        xmlNodePtr qgs;
        prop(ls, "type", "tdx");
        text_child(ls, "policy", policy);
        if (cfg)
            text_child(ls, "mrConfigId", cfg);
        if (owner)
            text_child(ls, "mrOwner", owner);
        if (owner_cfg)
            text_child(ls, "mrOwnerConfig", owner_cfg);
        qgs = xmlNewChild(ls, NULL, BAD_CAST "quoteGenerationService", NULL);
        if (s->tdx.quote_generation_service)
            prop(qgs, "path", s->tdx.quote_generation_service);
    } else {
        /* QEMU's tdx-guest takes a SocketAddress for the QGS, which only the JSON form of -object can carry */
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) node = NULL;
        g_autofree char *text = NULL;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "qom-type");
        json_builder_add_string_value(b, "tdx-guest");
        json_builder_set_member_name(b, "id");
        json_builder_add_string_value(b, "tdx0");
        json_builder_set_member_name(b, "attributes");
        json_builder_add_int_value(b, (gint64)s->tdx.policy);
        if (cfg) {
            json_builder_set_member_name(b, "mrconfigid");
            json_builder_add_string_value(b, cfg);
        }
        if (owner) {
            json_builder_set_member_name(b, "mrowner");
            json_builder_add_string_value(b, owner);
        }
        if (owner_cfg) {
            json_builder_set_member_name(b, "mrownerconfig");
            json_builder_add_string_value(b, owner_cfg);
        }
        if (s->tdx.quote_generation_service || s->tdx.qgs_vsock_port) {
            json_builder_set_member_name(b, "quote-generation-socket");
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "type");
            if (s->tdx.quote_generation_service) {
                json_builder_add_string_value(b, "unix");
                json_builder_set_member_name(b, "path");
                json_builder_add_string_value(b, s->tdx.quote_generation_service);
            } else {
                g_autofree char *port = g_strdup_printf("%u", s->tdx.qgs_vsock_port);
                json_builder_add_string_value(b, "vsock");
                json_builder_set_member_name(b, "cid");
                json_builder_add_string_value(b, "2");
                json_builder_set_member_name(b, "port");
                json_builder_add_string_value(b, port);
            }
            json_builder_end_object(b);
        }
        json_builder_end_object(b);
        node = json_builder_get_root(b);
        text = cv_json_to_string(node, FALSE);
        qemu_arg2(q, "-object", text);
        qemu_arg2(q, "-machine", "confidential-guest-support=tdx0");
    }
}

static gboolean
add_metadata(xmlNodePtr root, const char *metadata_xml, GError **error)
{
    g_autoptr(xmlDoc) md = xmlReadMemory(metadata_xml, strlen(metadata_xml), "metadata.xml", "UTF-8",
                                         XML_PARSE_NONET | XML_PARSE_NOBLANKS);
    xmlNodePtr mroot = md ? xmlDocGetRootElement(md) : NULL;
    xmlNodePtr copy;

    if (!mroot || !mroot->ns || xmlStrcmp(mroot->ns->href, BAD_CAST CV_XML_NAMESPACE) != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL,
                    "metadata: not one element in the %s namespace", CV_XML_NAMESPACE);
        return FALSE;
    }
    copy = xmlDocCopyNode(mroot, root->doc, 1);
    xmlAddChild(child(root, "metadata"), copy);
    return TRUE;
}

/* <name>, then <uuid> (libvirt's own id of the domain, the CVM's id) and <title> in the order libvirt
 * writes them */
static void
render_identity(xmlNodePtr root, const CvCvmSpec *s, const char *uuid)
{
    xmlNodePtr name = child(root, "name");
    xmlNodePtr title = xmlNewNode(NULL, BAD_CAST "title");
    g_autofree char *t = g_strdup_printf("covirt %s CVM", cv_platform_to_string(s->platform));

    set_text(name, s->name);
    set_text(title, t);
    xmlAddNextSibling(name, title);
    if (uuid) {
        xmlNodePtr u = xmlNewNode(NULL, BAD_CAST "uuid");

        set_text(u, uuid);
        xmlAddNextSibling(name, u);
    }
}

char *
cv_domain_render(const CvCvmSpec *s, const CvRenderOptions *opts, GError **error)
{
    g_autofree char *template = NULL;
    g_autofree char *path = NULL;
    g_autofree char *text = NULL;
    gsize len = 0;
    g_autoptr(xmlDoc) doc = NULL;
    xmlNodePtr root, devices;
    QemuArgs q = { 0 };
    xmlChar *out = NULL;
    int outlen = 0;
    char *result;

    if (!s->host_port) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "host_port: required to render a domain (the manager allocates one from "
                    "MANAGER_QEMU_HOST_FWD_RANGE)");
        return NULL;
    }
    if (opts->uuid && !g_uuid_string_is_valid(opts->uuid)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "uuid: '%s' is not a UUID", opts->uuid);
        return NULL;
    }
    if (!s->kernel || !s->initrd) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: required", s->kernel ? "initrd" : "kernel");
        return NULL;
    }
    if (s->platform == CV_PLATFORM_TDX && strcmp(s->domain_type, "kvm") != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "platform: tdx needs domain type kvm (MANAGER_DOMAIN_TYPE), not %s", s->domain_type);
        return NULL;
    }
    if (s->platform == CV_PLATFORM_SEV_SNP && strcmp(s->domain_type, "kvm") != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "platform: sev-snp needs domain type kvm (MANAGER_DOMAIN_TYPE), not %s", s->domain_type);
        return NULL;
    }

    /* one template per platform, named after it */
    template = g_strdup_printf("%s.xml", cv_platform_to_string(s->platform));
    path = g_build_filename(opts->template_dir ? opts->template_dir : cv_domain_template_dir(), template, NULL);
    /* read as a plain file: xmlReadFile would go through libxml2's I/O layer, which probes
     * for gzip and xz compression (zlib and liblzma code for every render) */
    if (g_file_get_contents(path, &text, &len, NULL) && len <= G_MAXINT)
        doc = xmlReadMemory(text, (int)len, path, NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS);
    root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || xmlStrcmp(root->name, BAD_CAST "domain") != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "template %s: missing or not a libvirt domain", path);
        return NULL;
    }
    q.root = root;

    prop(root, "type", s->domain_type);
    render_identity(root, s, opts->uuid);
    if (opts->metadata_xml && !add_metadata(root, opts->metadata_xml, error))
        return NULL;

    render_cpu_memory(root, s);
    render_os(child(root, "os"), s);
    devices = child(root, "devices");
    if (s->debug)
        render_debug(devices, s, opts);
    render_network(root, devices, &q, s, opts->libvirt_version);
    if (s->platform == CV_PLATFORM_SEV_SNP)
        render_sev_snp(root, &q, s, opts->libvirt_version);
    else if (s->platform == CV_PLATFORM_TDX)
        render_tdx(root, &q, s, opts->libvirt_version);

    xmlDocDumpFormatMemoryEnc(doc, &out, &outlen, "UTF-8", 1);
    if (!out) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "cannot serialise the domain XML");
        return NULL;
    }
    /* drop the XML declaration: libvirt and virsh show domains without it */
    {
        const char *p = (const char *)out;
        if (g_str_has_prefix(p, "<?xml")) {
            p = strchr(p, '\n');
            p = p ? p + 1 : (const char *)out;
        }
        result = g_strdup(p);
    }
    xmlFree(out);
    return result;
}
