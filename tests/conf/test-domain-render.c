/* Golden tests, libvirt style: tests/conf/data/<case>.json → <case>.xml or <case>.err.
 * COVIRT_TEST_REGENERATE=1 rewrites the outputs; a data file that no case uses fails the run. */
#include <string.h>
#include "cv-util.h"
#include "domain-render.h"
#include "cv-autoptr.h"
#include <unistd.h>
#include <glib/gstdio.h>

typedef struct {
    const char *name;
    const char *libvirt;       /* version the renderer targets */
    const char *env[12];       /* MANAGER_* settings for this case; MANAGER_DOMAIN_TYPE=qemu unless set */
    const char *metadata;
    const char *uuid;          /* the manager's CVM id, rendered as the domain's <uuid> */
} Case;

#define OLD "9.0.0"
#define NEW "11.6.0"
#define KVM "MANAGER_DOMAIN_TYPE=kvm"
#define TEST_UUID "0b5e4d3a-8c1f-4e2a-9d6b-3f7a1c2e5b90"
/* the IGVM images an operator keeps beside the HAL's directory */
#define IGVM_DIRS "MANAGER_IMAGE_DIRS=/var/lib/covirt:/usr/share/ovmf"

static const Case cases[] = {
    { "vtpm-basic", OLD, { NULL } },
    { "vtpm-new-libvirt", NEW, { NULL } },
    { "vtpm-debug", OLD, { NULL } },
    { "vtpm-env-defaults", OLD,
      { "MANAGER_QEMU_MEMORY_SIZE=4G", "MANAGER_QEMU_SMP_COUNT=4", "MANAGER_QEMU_SMP_MAXCPUS=8",
        "MANAGER_QEMU_MAX_MEMORY=8G", "MANAGER_QEMU_MEMORY_SLOTS=2", "MANAGER_QEMU_CPU=qemu64",
        "MANAGER_QEMU_MACHINE=pc-q35-7.2", "MANAGER_QEMU_GUEST_FWD_AGENT=7100",
        "MANAGER_QEMU_DISK_IMG_KERNEL_FILE=/opt/hal/vmlinuz", "MANAGER_QEMU_DISK_IMG_ROOTFS_FILE=/opt/hal/initrd",
        "MANAGER_QEMU_OVMF_CODE_FILE=/opt/ovmf/CODE.fd", "MANAGER_QEMU_OVMF_VARS_FILE=/opt/ovmf/VARS.fd" } },
    { "vtpm-bind-ipv6", OLD, { "MANAGER_AGENT_BIND_ADDRESS=::1" } },
    { "vtpm-kvm", OLD, { KVM } },
    { "vtpm-metadata", OLD, { NULL },
      "<covirt:cvm xmlns:covirt='" CV_XML_NAMESPACE "'><covirt:id>" TEST_UUID "</covirt:id>"
      "<covirt:note>&lt;not markup&gt;</covirt:note></covirt:cvm>", TEST_UUID },
    { "err-uuid", OLD, { NULL }, NULL, "0b5e4d3a" },
    { "vtpm-cmdline-special", OLD, { NULL } },
    { "sev-snp-old", OLD, { KVM } },
    { "sev-snp-new", "10.5.0", { KVM } },
    { "sev-snp-igvm-old", OLD, { KVM, IGVM_DIRS, "MANAGER_QEMU_ENABLE_HOST_DATA=true",
                                 "MANAGER_QEMU_HOST_DATA=ISEiISEhISEhISEhISEhISEhISEhISEhISEhISEhISE=" } },
    { "sev-snp-igvm-new", "10.5.0", { KVM, IGVM_DIRS } },
    { "tdx-old", OLD, { KVM } },
    { "tdx-new", NEW, { KVM } },
    { "tdx-qgs-vsock-old", OLD, { KVM, "MANAGER_QEMU_QUOTE_GENERATION_PORT=4050" } },
    { "err-memory-unit", OLD, { NULL } },
    { "err-vcpus-zero", OLD, { NULL } },
    { "err-vcpus-string", OLD, { NULL } },
    { "err-snp-policy-zz", OLD, { KVM } },
    { "err-snp-policy-bit17", OLD, { KVM } },
    { "err-host-data-31", OLD, { KVM } },
    { "err-host-data-not-base64", OLD, { KVM } },
    { "err-tdx-mr-short", OLD, { KVM } },
    { "err-kernel-relative", OLD, { NULL } },
    { "err-initrd-dotdot", OLD, { NULL } },
    { "err-platform-unknown", OLD, { NULL } },
    { "err-field-unknown", OLD, { NULL } },
    { "err-field-unknown-nested", OLD, { KVM } },
    { "err-name-markup", OLD, { NULL } },
    { "err-name-dotdot", OLD, { NULL } },
    { "err-name-missing", OLD, { NULL } },
    { "err-json-truncated", OLD, { NULL } },
    { "err-json-array", OLD, { NULL } },
    { "err-ttl-bad", OLD, { NULL } },
    { "err-host-port-range", OLD, { NULL } },
    { "err-host-port-missing", OLD, { NULL } },
    { "err-cmdline-newline", OLD, { NULL } },
    { "err-cmdline-nonchar", OLD, { NULL } },
    { "err-computation-nonchar", OLD, { NULL } },
    { "err-computation-invalid", OLD, { NULL } },
    { "err-computation-key", OLD, { NULL } },
    { "err-snp-on-vtpm", OLD, { NULL } },
    { "err-tdx-needs-kvm", OLD, { NULL } },
    { "err-env-memory", OLD, { "MANAGER_QEMU_MEMORY_SIZE=12XB" } },
    { "err-env-domain-type", OLD, { "MANAGER_DOMAIN_TYPE=xen" } },
    { "err-env-host-data", OLD, { KVM, "MANAGER_QEMU_ENABLE_HOST_DATA=true",
                                  "MANAGER_QEMU_HOST_DATA=" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==" } },
    { "err-ovmf-quote", OLD, { NULL } },
    { "err-kernel-control-char", OLD, { NULL } },
    { "err-initrd-outside", OLD, { NULL } },
    { "err-initrd-outside-missing", OLD, { NULL } },
    { "err-ovmf-outside-dirs", OLD, { "MANAGER_IMAGE_DIRS=/srv/images" } },
    { "err-env-image-dirs", OLD, { "MANAGER_IMAGE_DIRS=/srv/images:images" } },
    { "err-tdx-qgs-outside", OLD, { KVM } },
};

static const char *datadir;

static char *
render_case(const Case *c, gboolean *ok)
{
    g_autoptr(GPtrArray) env = g_ptr_array_new();
    gboolean has_type = FALSE;
    g_autoptr(GError) error = NULL;
    g_autoptr(CvDefaults) defaults = NULL;
    g_autoptr(CvCvmSpec) spec = NULL;
    g_autofree char *json = NULL;
    g_autofree char *path = g_strdup_printf("%s/%s.json", datadir, c->name);
    gsize len = 0;
    CvRenderOptions opts = { .log_dir = "/var/log/covirt", .metadata_xml = c->metadata, .uuid = c->uuid };
    char *xml;

    for (gsize i = 0; i < G_N_ELEMENTS(c->env) && c->env[i]; i++) {
        g_ptr_array_add(env, (char *)c->env[i]);
        has_type |= g_str_has_prefix(c->env[i], "MANAGER_DOMAIN_TYPE=");
    }
    if (!has_type)
        g_ptr_array_add(env, "MANAGER_DOMAIN_TYPE=qemu");
    g_ptr_array_add(env, NULL);

    g_assert_true(g_file_get_contents(path, &json, &len, NULL));
    g_assert_true(cv_libvirt_version_parse(c->libvirt, &opts.libvirt_version, NULL));
    *ok = FALSE;
    if ((defaults = cv_defaults_new((const char *const *)env->pdata, "/dev/null", &error)) &&
        (spec = cv_cvm_spec_from_data(json, len, defaults, &error)) &&
        (xml = cv_domain_render(spec, &opts, &error))) {
        *ok = TRUE;
        return xml;
    }
    g_assert_nonnull(error);
    g_assert_true(error->domain == CV_ERROR);
    return g_strdup_printf("%s\n", error->message);
}

static void
test_case(gconstpointer data)
{
    const Case *c = data;
    gboolean ok = FALSE;
    g_autofree char *out = render_case(c, &ok);
    g_autofree char *want_path = g_strdup_printf("%s/%s.%s", datadir, c->name, ok ? "xml" : "err");
    g_autofree char *other = g_strdup_printf("%s/%s.%s", datadir, c->name, ok ? "err" : "xml");
    g_autofree char *want = NULL;

    if (g_getenv("COVIRT_TEST_REGENERATE")) {
        g_assert_true(g_file_set_contents(want_path, out, -1, NULL));
        g_unlink(other);
    }
    if (!g_file_get_contents(want_path, &want, NULL, NULL)) {
        g_test_message("%s: no %s; got:\n%s", c->name, want_path, out);
        g_test_fail();
        return;
    }
    if (g_file_test(other, G_FILE_TEST_EXISTS)) {
        g_test_message("%s: both .xml and .err exist", c->name);
        g_test_fail();
    }
    g_assert_cmpstr(out, ==, want);
    /* a refused spec's message names the field (or variable) it came from */
    if (!ok && !g_str_has_prefix(c->name, "err-json"))
        g_assert_nonnull(strchr(out, ':'));
}

static void
test_no_unused_data(void)
{
    g_autoptr(GDir) dir = g_dir_open(datadir, 0, NULL);
    const char *f;

    g_assert_nonnull(dir);
    while ((f = g_dir_read_name(dir))) {
        g_autofree char *base = g_strdup(f);
        char *dot = strrchr(base, '.');
        gboolean used = FALSE;
        if (dot && (!strcmp(dot, ".json") || !strcmp(dot, ".xml") || !strcmp(dot, ".err"))) {
            *dot = '\0';
            for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
                used |= strcmp(cases[i].name, base) == 0;
        }
        if (!used) {
            g_test_message("data file %s is not used by any case", f);
            g_test_fail();
        }
    }
}

/* The rendered XML round-trips: no user value turned into markup. */
static void
test_special_characters_escaped(void)
{
    const Case *c = NULL;
    gboolean ok = FALSE;
    g_autofree char *xml = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctx = NULL;
    g_autoptr(xmlXPathObject) obj = NULL;
    g_autoptr(cvXmlChar) text = NULL;

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
        if (!strcmp(cases[i].name, "vtpm-cmdline-special"))
            c = &cases[i];
    xml = render_case(c, &ok);
    g_assert_true(ok);
    doc = xmlReadMemory(xml, strlen(xml), NULL, NULL, XML_PARSE_NONET);
    g_assert_nonnull(doc);
    ctx = xmlXPathNewContext(doc);
    obj = xmlXPathEvalExpression(BAD_CAST "/domain/os/cmdline", ctx);
    g_assert_true(obj && obj->nodesetval && obj->nodesetval->nodeNr == 1);
    text = xmlNodeGetContent(obj->nodesetval->nodeTab[0]);
    g_assert_cmpstr((char *)text, ==, "console=null quiet covirt.note=<a&b>\"q'");
    g_assert_null(strstr(xml, "<a&b>"));
}

static void
test_domain_type_auto(void)
{
    const char *env[] = { "MANAGER_DOMAIN_TYPE=auto", NULL };
    g_autofree char *dir = g_dir_make_tmp("cvtest-XXXXXX", NULL);
    g_autofree char *novmx = g_build_filename(dir, "novmx", NULL);
    g_autofree char *vmx = g_build_filename(dir, "vmx", NULL);
    g_autoptr(CvDefaults) a = NULL;
    g_autoptr(CvDefaults) b = NULL;

    g_assert_true(g_file_set_contents(novmx, "processor : 0\nflags : fpu sse2 hypervisor\n", -1, NULL));
    g_assert_true(g_file_set_contents(vmx, "processor : 0\nflags : fpu vmx sse2\n", -1, NULL));
    a = cv_defaults_new(env, novmx, NULL);
    b = cv_defaults_new(env, vmx, NULL);
    g_assert_cmpstr(a->domain_type, ==, "qemu");
    g_assert_cmpstr(b->domain_type, ==, g_file_test("/dev/kvm", G_FILE_TEST_EXISTS) && access("/dev/kvm", R_OK | W_OK) == 0
                                            ? "kvm" : "qemu");
    g_unlink(novmx);
    g_unlink(vmx);
    g_rmdir(dir);
}

/* Seed variable MANAGER_QEMU_ENABLE_KVM still picks the domain type when MANAGER_DOMAIN_TYPE is unset. */
static void
test_enable_kvm_compat(void)
{
    static const struct {
        const char *env;
        const char *domain_type;        /* NULL: refused, naming the variable */
    } compat[] = {
        { "MANAGER_QEMU_ENABLE_KVM=true", "kvm" },
        { "MANAGER_QEMU_ENABLE_KVM=false", "qemu" },
        { "MANAGER_QEMU_ENABLE_KVM=maybe", NULL },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(compat); i++) {
        const char *env[] = { compat[i].env, NULL };
        g_autoptr(GError) error = NULL;
        g_autoptr(CvDefaults) d = cv_defaults_new(env, "/dev/null", &error);

        if (compat[i].domain_type) {
            g_assert_no_error(error);
            g_assert_cmpstr(d->domain_type, ==, compat[i].domain_type);
        } else {
            g_assert_null(d);
            g_assert_nonnull(strstr(error->message, "MANAGER_QEMU_ENABLE_KVM"));
        }
    }
}

/* The recorded spec parses back to the same spec (the manager re-reads it from <metadata>). */
static void
test_spec_round_trip(void)
{
    const char *env[] = { "MANAGER_DOMAIN_TYPE=kvm", NULL };
    const char *names[] = { "vtpm-basic", "sev-snp-old", "tdx-old", "vtpm-debug" };
    g_autoptr(CvDefaults) d = cv_defaults_new(env, "/dev/null", NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *path = g_strdup_printf("%s/%s.json", datadir, names[i]);
        g_autofree char *json = NULL;
        g_autoptr(CvCvmSpec) s1 = NULL;
        g_autoptr(CvCvmSpec) s2 = NULL;
        g_autoptr(JsonNode) n1 = NULL;
        g_autoptr(JsonNode) n2 = NULL;
        g_autofree char *t1 = NULL;
        g_autofree char *t2 = NULL;

        g_assert_true(g_file_get_contents(path, &json, NULL, NULL));
        s1 = cv_cvm_spec_from_data(json, -1, d, NULL);
        g_assert_nonnull(s1);
        n1 = cv_cvm_spec_to_json(s1);
        s2 = cv_cvm_spec_from_json(n1, d, NULL);
        g_assert_nonnull(s2);
        n2 = cv_cvm_spec_to_json(s2);
        t1 = cv_json_to_string(n1, FALSE);
        t2 = cv_json_to_string(n2, FALSE);
        g_assert_cmpstr(t1, ==, t2);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    datadir = g_getenv("COVIRT_TEST_DATA") ? g_getenv("COVIRT_TEST_DATA") : COVIRT_SOURCE_DIR "/tests/conf/data";
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *name = g_strdup_printf("/domain/%s", cases[i].name);
        g_test_add_data_func(name, &cases[i], test_case);
    }
    g_test_add_func("/domain/no-unused-data", test_no_unused_data);
    g_test_add_func("/domain/special-characters-escaped", test_special_characters_escaped);
    g_test_add_func("/defaults/domain-type-auto", test_domain_type_auto);
    g_test_add_func("/defaults/enable-kvm-compat", test_enable_kvm_compat);
    g_test_add_func("/spec/round-trip", test_spec_round_trip);
    return g_test_run();
}
