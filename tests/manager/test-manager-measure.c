/* The SEV-SNP policy the manager serves for a CVM (GET /v1/cvms/{id}/attestation-policy) expects the launch
 * digest that `covirt measure sev-snp` computes from the same files, vCPUs, CPU model and command line as the
 * domain libvirt holds; against libvirt's test driver, with sev-snp-measure's OVMF as the firmware. */
#include <string.h>
#include <glib/gstdio.h>
#include "manager-harness.h"
#include "cv-util.h"

static const char *
member(JsonNode *n, const char *name)
{
    return json_object_get_string_member_with_default(json_node_get_object(n), name, NULL);
}

/* `covirt measure sev-snp ARGS…`'s last line */
static char *
cli_measure(const char *const *args)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autofree char *out = NULL, *err = NULL;
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) lines = NULL;
    int status = -1;
    guint n;

    g_ptr_array_add(argv, (gpointer)COVIRT_CLI_EXE);
    g_ptr_array_add(argv, (gpointer)"measure");
    g_ptr_array_add(argv, (gpointer)"sev-snp");
    for (const char *const *a = args; *a; a++)
        g_ptr_array_add(argv, (gpointer)*a);
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
                               &error));
    g_assert_no_error(error);
    if (!g_spawn_check_wait_status(status, NULL))
        g_error("covirt measure sev-snp failed: %s", err);
    lines = g_strsplit(g_strchomp(out), "\n", -1);
    n = g_strv_length(lines);
    g_assert_cmpuint(n, >, 0);
    return g_strdup(lines[n - 1]);
}

/* The live domain's text between <tag attributes…> and </tag> */
static char *
live_element(CvTestManager *m, const char *path, const char *tag)
{
    g_autofree char *xml_path = g_strconcat(path, "/domain", NULL);
    g_autofree char *open = g_strdup_printf("<%s>", tag);
    g_autofree char *close = g_strdup_printf("</%.*s>", (int)strcspn(tag, " "), tag);
    g_autoptr(GBytes) xml = NULL;
    g_autofree char *text = NULL;
    const char *a, *b;

    g_assert_cmpuint(cv_test_request(m, "GET", xml_path, NULL, NULL, 0, &xml), ==, 200);
    text = g_strndup(g_bytes_get_data(xml, NULL), g_bytes_get_size(xml));
    a = strstr(text, open);
    if (!a)
        g_test_message("%s", text);
    g_assert_nonnull(a);
    a += strlen(open);
    b = strstr(a, close);
    g_assert_nonnull(b);
    return g_strndup(a, b - a);
}

static void
test_snp_policy(void)
{
    const char *extra[] = { "MANAGER_DOMAIN_TYPE=kvm", NULL };
    g_autoptr(CvTestManager) m = cv_test_manager_start(extra);
    g_autofree char *vectors = g_build_filename(g_getenv("COVIRT_TESTVECTORS"), "sev-snp-measure", NULL);
    g_autofree char *src = g_build_filename(vectors, "ovmf_AmdSev_suffix.bin", NULL);
    g_autofree char *ovmf = g_build_filename(m->tmpdir, "OVMF-AmdSev.fd", NULL);
    g_autofree char *kernel = g_build_filename(m->tmpdir, "vmlinuz", NULL);
    g_autofree char *initrd = g_build_filename(m->tmpdir, "initrd.img", NULL);
    g_autofree char *fw = NULL, *spec = NULL, *path = NULL, *ap = NULL, *cmdline = NULL, *cpu = NULL;
    g_autofree char *expected = NULL;
    g_autoptr(JsonNode) c = NULL, policy = NULL;
    gsize len = 0;

    g_assert_true(g_file_get_contents(src, &fw, &len, NULL));
    g_assert_true(g_file_set_contents(ovmf, fw, len, NULL));
    /* host data: 32 bytes of 0x21, base64 */
    spec = g_strdup_printf("{\"name\":\"covirt-test-snp\",\"platform\":\"sev-snp\",\"memory\":\"512M\",\"vcpus\":3,"
                           "\"ovmf\":\"%s\",\"cmdline\":\"console=null quiet covirt.test\","
                           "\"sev_snp\":{\"host_data\":\"ISEhISEhISEhISEhISEhISEhISEhISEhISEhISEhISE=\"}}", ovmf);
    c = cv_test_create(m, spec);
    path = g_strconcat("/v1/cvms/", member(c, "id"), NULL);
    ap = g_strconcat(path, "/attestation-policy", NULL);
    g_assert_cmpuint(cv_test_request_json(m, "GET", ap, NULL, &policy), ==, 200);
    g_assert_cmpstr(member(policy, "platform"), ==, "sev-snp");
    g_assert_cmpstr(member(policy, "host_data"), ==,
                    "2121212121212121212121212121212121212121212121212121212121212121");
    g_assert_false(json_object_get_boolean_member(json_node_get_object(policy), "allow_debug"));

    /* what the domain holds, measured by the CLI as a user would */
    cmdline = live_element(m, path, "cmdline");
    cpu = live_element(m, path, "model fallback='forbid'");
    g_assert_cmpstr(cmdline, ==, "console=null quiet covirt.test");
    {
        const char *args[] = { "--ovmf", ovmf, "--vcpus", "3", "--vcpu-type", cpu, "--kernel", kernel,
                               "--initrd", initrd, "--append", cmdline, NULL };

        expected = cli_measure(args);
    }
    g_assert_cmpuint(strlen(expected), ==, 96);
    g_assert_cmpstr(member(policy, "measurement"), ==, expected);
    g_assert_cmpuint(cv_test_request(m, "DELETE", path, NULL, NULL, 0, NULL), ==, 204);
}

/* A firmware that is no SEV-SNP firmware (the harness's 4-byte stand-in): the policy is refused with the
 * reason, naming the file, 400 */
static void
test_snp_policy_plain_firmware(void)
{
    const char *extra[] = { "MANAGER_DOMAIN_TYPE=kvm", NULL };
    g_autoptr(CvTestManager) m = cv_test_manager_start(extra);
    g_autofree char *code = g_build_filename(m->tmpdir, "OVMF_CODE.fd", NULL);
    g_autofree char *spec = g_strdup_printf("{\"name\":\"covirt-test-snp2\",\"platform\":\"sev-snp\","
                                            "\"memory\":\"512M\",\"ovmf\":\"%s\"}", code);
    g_autoptr(JsonNode) c = cv_test_create(m, spec);
    g_autofree char *ap = g_strconcat("/v1/cvms/", member(c, "id"), "/attestation-policy", NULL);
    g_autofree char *want = g_strdup_printf("%s is 4 bytes: not whole pages", code);
    g_autoptr(GBytes) body = NULL;
    g_autofree char *text = NULL;
    guint st = cv_test_request(m, "GET", ap, NULL, NULL, 0, &body);

    text = g_strndup(g_bytes_get_data(body, NULL), g_bytes_get_size(body));
    g_test_message("%u %s", st, text);
    g_assert_cmpuint(st, ==, 400);
    g_assert_nonnull(strstr(text, want));
    g_assert_cmpuint(cv_test_request(m, "GET", "/health", NULL, NULL, 0, NULL), ==, 200);
}

/* An IGVM boot: the policy expects `covirt measure sev-snp --igvm`'s digest of the file the spec names (built
 * by tests/measure/igvm-ref.py) */
static void
test_snp_policy_igvm(void)
{
    const char *extra[] = { "MANAGER_DOMAIN_TYPE=kvm", NULL };
    g_autoptr(CvTestManager) m = cv_test_manager_start(extra);
    g_autofree char *igvm = g_build_filename(m->tmpdir, "coconut.igvm", NULL);
    g_autofree char *build = g_strdup_printf("python3 %s build %s", IGVM_REF, igvm);
    g_autofree char *spec = NULL, *ap = NULL, *expected = NULL;
    g_autoptr(JsonNode) c = NULL, policy = NULL;
    const char *args[] = { "--igvm", igvm, NULL };
    int status = -1;

    g_assert_true(g_spawn_command_line_sync(build, NULL, NULL, &status, NULL));
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    spec = g_strdup_printf("{\"name\":\"covirt-test-snp3\",\"platform\":\"sev-snp\",\"memory\":\"512M\","
                           "\"igvm\":\"%s\"}", igvm);
    c = cv_test_create(m, spec);
    ap = g_strconcat("/v1/cvms/", member(c, "id"), "/attestation-policy", NULL);
    g_assert_cmpuint(cv_test_request_json(m, "GET", ap, NULL, &policy), ==, 200);
    expected = cli_measure(args);
    g_assert_cmpuint(strlen(expected), ==, 96);
    g_assert_cmpstr(member(policy, "measurement"), ==, expected);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/manager/measure/snp-policy", test_snp_policy);
    g_test_add_func("/manager/measure/snp-policy-plain-firmware", test_snp_policy_plain_firmware);
    g_test_add_func("/manager/measure/snp-policy-igvm", test_snp_policy_igvm);
    return g_test_run();
}
