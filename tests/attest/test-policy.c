/* Policies: strict loading, the vtpm policy generator, and Authenticode hashing checked against
 * the digest that Debian's signed kernel carries in its own Authenticode signature. */
#include <string.h>
#include <glib/gstdio.h>
#include "policy.h"
#include "cv-util.h"

/* Policies refused, each with the platform the caller asks for (NULL: any). */
static const struct {
    const char *text;
    const char *platform;
} refused[] = {
    { "[]" }, { "{}" }, { "{\"platform\":\"sgx\"}" }, { "{\"platform\":\"sev-snp\",\"measurment\":\"00\"}" },
    { "{\"platform\":\"vtpm\",\"mrtd\":\"00\"}" }, { "{\"platform\":\"tdx\",\"ca_file\":\"/nonexistent/root.pem\"}" },
    { "{\"platform\":\"tdx\",\"ca_file\":12}" }, { "{\"platform\":\"tdx\"}", "sev-snp" },
};

static void
test_strict(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ok = cv_attest_policy_parse("{\"platform\":\"sev-snp\",\"allow_debug\":false}", -1, NULL,
                                                    NULL, &error);

    g_assert_no_error(error);
    g_assert_cmpstr(cv_attest_policy_platform(ok), ==, "sev-snp");
    for (gsize i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_autoptr(GError) e = NULL;
        g_autoptr(JsonNode) n = cv_attest_policy_parse(refused[i].text, -1, refused[i].platform, NULL, &e);
        g_test_message("%s", refused[i].text);
        g_assert_null(n);
        g_assert_nonnull(e);
        g_assert_true(e->code == CV_ERROR_INVALID || e->code == CV_ERROR_IO);
    }
    /* nesting that would overflow json-glib's recursion is refused before parsing */
    {
        g_autoptr(GError) e = NULL;
        g_autofree char *deep = g_strnfill(1 << 20, '[');
        g_autoptr(JsonNode) n = cv_attest_policy_parse(deep, -1, NULL, NULL, &e);
        g_assert_null(n);
        g_assert_error(e, CV_ERROR, CV_ERROR_INVALID);
    }
}

static void
test_policies_dir(void)
{
    /* every example policy in policies/ loads */
    g_autofree char *dir = g_build_filename(COVIRT_SOURCE_DIR, "policies", NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    guint n = 0;

    g_assert_nonnull(d);
    while ((name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) p = NULL;
        if (!g_str_has_suffix(name, ".json"))
            continue;
        p = cv_attest_policy_load(path, NULL, &error);
        /* members are checked before CA files are read: a CA that is not on this host (the swtpm
         * local CA before libvirt's first vTPM, an example's own CA) is the only allowed failure */
        if (error && error->code == CV_ERROR_IO && strstr(error->message, "ca_file")) {
            n++;
            continue;
        }
        g_assert_no_error(error);
        n++;
    }
    g_assert_cmpuint(n, >=, 3);
}

static char *
find_kernel(void)
{
    g_autoptr(GDir) d = g_dir_open("/boot", 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d)))
        if (g_str_has_prefix(name, "vmlinuz-"))
            return g_build_filename("/boot", name, NULL);
    return NULL;
}

/* Debian signs its kernels for Secure Boot: the signature's SpcIndirectDataContent holds the
 * Authenticode SHA-256 (DigestInfo: SEQUENCE { AlgorithmIdentifier sha256, OCTET STRING[32] }). */
static gboolean
signed_digest(const guint8 *img, gsize len, guint8 out[32])
{
    static const guint8 digest_info[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
                                          0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
    guint32 pe = GUINT32_FROM_LE(*(const guint32 *)(img + 0x3c));
    guint32 dirs = pe + 24 + 112;
    guint32 off = GUINT32_FROM_LE(*(const guint32 *)(img + dirs + 32));
    guint32 size = GUINT32_FROM_LE(*(const guint32 *)(img + dirs + 36));

    if (size == 0 || (guint64)off + size > len)
        return FALSE;
    for (guint32 i = off; i + sizeof(digest_info) + 32 <= off + size; i++)
        if (memcmp(img + i, digest_info, sizeof(digest_info)) == 0) {
            memcpy(out, img + i + sizeof(digest_info), 32);
            return TRUE;
        }
    return FALSE;
}

static void
test_authenticode(void)
{
    g_autofree char *kernel = find_kernel();
    g_autoptr(GBytes) data = NULL;
    g_autoptr(GError) error = NULL;
    guint8 want[32], got[32];
    const guint8 *img;
    gsize len;

    if (!kernel) {
        g_test_skip("no /boot/vmlinuz-* (package linux-image-amd64)");
        return;
    }
    data = cv_read_file(kernel, 256u << 20, &error);
    g_assert_no_error(error);
    img = g_bytes_get_data(data, &len);
    if (!signed_digest(img, len, want)) {
        g_test_skip("kernel is not Authenticode-signed");
        return;
    }
    g_assert_true(cv_attest_authenticode_sha256(img, len, got, &error));
    g_assert_no_error(error);
    g_assert_cmpmem(got, 32, want, 32);

    /* hostile images: truncated ones and a corrupt PE offset are refused */
    for (gsize l = 0; l < 4096; l += 7) {
        g_autoptr(GError) e = NULL;
        g_assert_false(cv_attest_authenticode_sha256(img, l, got, &e));
        g_assert_error(e, CV_ERROR, CV_ERROR_INVALID);
    }
    {
        g_autofree guint8 *copy = g_memdup2(img, 4096);
        g_autoptr(GError) e = NULL;
        copy[0x3f] = 0x7f;
        g_assert_false(cv_attest_authenticode_sha256(copy, 4096, got, &e));
    }
}

static void
test_vtpm_policy(void)
{
    g_autofree char *kernel = find_kernel();
    g_autofree char *dir = g_dir_make_tmp("covirt-policy-XXXXXX", NULL);
    g_autofree char *initrd = g_build_filename(dir, "initrd", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) p = NULL;
    JsonObject *events;
    JsonArray *pcr4, *pcr9;
    g_autofree char *initrd_hex = NULL, *cmd_hex = NULL;
    const char *cmd16 = "a\0 \0i\0n\0i\0t\0r\0d\0=\0i\0n\0i\0t\0r\0d\0\0";   /* "a initrd=initrd" + NUL, UTF-16LE */

    if (!kernel) {
        g_test_skip("no /boot/vmlinuz-*");
        return;
    }
    g_assert_true(g_file_set_contents(initrd, "initrd contents", -1, NULL));
    p = cv_attest_vtpm_policy_new(kernel, initrd, "a", 512ULL << 20, &error);
    g_assert_no_error(error);
    events = json_object_get_object_member(json_node_get_object(p), "events");
    pcr4 = json_object_get_array_member(events, "4");
    pcr9 = json_object_get_array_member(events, "9");
    g_assert_cmpuint(json_array_get_length(pcr4), ==, 1);
    g_assert_cmpuint(json_array_get_length(pcr9), ==, 2);
    initrd_hex = cv_digest_hex("SHA256", "initrd contents", 15, NULL);
    cmd_hex = cv_digest_hex("SHA256", cmd16, 32, NULL);
    g_assert_cmpstr(json_array_get_string_element(pcr9, 0), ==, cmd_hex);
    g_assert_cmpstr(json_array_get_string_element(pcr9, 1), ==, initrd_hex);
    /* the kernel event depends on memory (QEMU places the initrd below the top of low memory) */
    {
        g_autoptr(JsonNode) p2 = cv_attest_vtpm_policy_new(kernel, initrd, "a", 1024ULL << 20, &error);
        JsonObject *e2 = json_object_get_object_member(json_node_get_object(p2), "events");
        g_assert_cmpstr(json_array_get_string_element(pcr4, 0), !=,
                        json_array_get_string_element(json_object_get_array_member(e2, "4"), 0));
    }
    /* and the policy it makes loads as a vtpm policy */
    {
        g_autofree char *text = cv_json_to_string(p, FALSE);
        g_autoptr(JsonNode) back = cv_attest_policy_parse(text, -1, "vtpm", NULL, &error);
        g_assert_no_error(error);
    }
    {
        g_autoptr(GError) e = NULL;
        g_assert_null(cv_attest_vtpm_policy_new(initrd, initrd, "a", 512ULL << 20, &e));
        g_assert_error(e, CV_ERROR, CV_ERROR_INVALID);
    }
    g_unlink(initrd);
    g_rmdir(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/attest/policy/strict", test_strict);
    g_test_add_func("/attest/policy/examples", test_policies_dir);
    g_test_add_func("/attest/policy/authenticode", test_authenticode);
    g_test_add_func("/attest/policy/vtpm", test_vtpm_policy);
    return g_test_run();
}
