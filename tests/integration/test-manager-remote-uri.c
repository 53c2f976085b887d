/* One real CVM through libvirt's remote driver (issue 12): a manager with two hosts, the test driver and
 * the real libvirtd reached as qemu+unix:///system (COVIRT_REMOTE_URI overrides it, e.g.
 * qemu+tcp://127.0.0.1/system where libvirtd listens on TCP), creates a vtpm CVM pinned to the real one
 * (TCG), sees it in virsh and in GET /v1/hosts, and deletes it. The guest need not boot, only run. */
#include <string.h>
#include <glib/gstdio.h>
#include "manager-harness.h"

static const char *
member(JsonNode *n, const char *name)
{
    return json_object_get_string_member_with_default(json_node_get_object(n), name, NULL);
}

static gboolean
virsh_ok(const char *const *args)
{
    return cv_test_virsh("qemu:///system", args, NULL);
}

/* the newest /boot/vmlinuz-* copied where QEMU can read it, and an empty gzip'ed cpio as the initrd */
static void
guest_files(const char *dir, char **kernel, char **initrd)
{
    static const guint8 empty_cpio_gz[] = {
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x33, 0x30, 0x30, 0x37, 0x30, 0x37,
        0x30, 0x30, 0x20, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    g_autoptr(GDir) boot = g_dir_open("/boot", 0, NULL);
    g_autofree char *src = NULL, *data = NULL;
    const char *name;
    gsize len;

    g_assert_nonnull(boot);
    while ((name = g_dir_read_name(boot)))
        if (g_str_has_prefix(name, "vmlinuz-") && (!src || strcmp(name, strrchr(src, '/') + 1) > 0)) {
            g_free(src);
            src = g_build_filename("/boot", name, NULL);
        }
    g_assert_nonnull(src);
    *kernel = g_build_filename(dir, "vmlinuz", NULL);
    *initrd = g_build_filename(dir, "initrd.gz", NULL);
    g_assert_true(g_file_get_contents(src, &data, &len, NULL));
    g_assert_true(g_file_set_contents(*kernel, data, (gssize)len, NULL));
    g_assert_true(g_file_set_contents(*initrd, (const char *)empty_cpio_gz, sizeof(empty_cpio_gz), NULL));
    g_chmod(*kernel, 0644);
    g_chmod(*initrd, 0644);
}

static void
test_remote_uri(void)
{
    const char *remote = g_getenv("COVIRT_REMOTE_URI") ? g_getenv("COVIRT_REMOTE_URI") : "qemu+unix:///system";
    g_autofree char *dir = g_dir_make_tmp("covirt-remote-XXXXXX", NULL);
    g_autofree char *kernel = NULL, *initrd = NULL, *uris = NULL, *k = NULL, *i = NULL, *spec = NULL, *path = NULL;
    g_autofree char *name = g_strdup_printf("covirt-test-remote-%d", (int)getpid());
    g_autoptr(CvTestManager) m = NULL;
    g_autoptr(JsonNode) cvm = NULL, hosts = NULL;
    JsonArray *arr;
    JsonObject *h = NULL;

    g_chmod(dir, 0755);
    guest_files(dir, &kernel, &initrd);
    uris = g_strdup_printf("MANAGER_LIBVIRT_URI=test:///default %s", remote);
    k = g_strconcat("MANAGER_QEMU_DISK_IMG_KERNEL_FILE=", kernel, NULL);
    i = g_strconcat("MANAGER_QEMU_DISK_IMG_ROOTFS_FILE=", initrd, NULL);
    m = cv_test_manager_start((const char *const[]){
        uris, k, i, "MANAGER_QEMU_OVMF_CODE_FILE=/usr/share/OVMF/OVMF_CODE_4M.fd",
        "MANAGER_QEMU_OVMF_VARS_FILE=/usr/share/OVMF/OVMF_VARS_4M.fd", "MANAGER_QEMU_HOST_FWD_RANGE=6500-6599",
        "MANAGER_DOMAIN_TYPE=auto", NULL });

    /* the real host: up, its capabilities read, vtpm among them */
    g_assert_true(cv_test_wait_member(m, "/health", "status", "ok", 60));
    g_assert_cmpuint(cv_test_request_json(m, "GET", "/v1/hosts", NULL, &hosts), ==, 200);
    arr = json_object_get_array_member(json_node_get_object(hosts), "hosts");
    for (guint n = 0; n < json_array_get_length(arr); n++)
        if (g_strcmp0(json_object_get_string_member(json_array_get_object_element(arr, n), "uri"), remote) == 0)
            h = json_array_get_object_element(arr, n);
    g_assert_nonnull(h);
    g_assert_cmpstr(json_object_get_string_member(h, "state"), ==, "up");
    g_assert_true(json_object_get_boolean_member(h, "capabilities_checked"));
    g_assert_cmpstr(json_array_get_string_element(json_object_get_array_member(h, "platforms"), 0), ==, "vtpm");

    spec = g_strdup_printf("{\"name\":\"%s\",\"memory\":\"256M\",\"vcpus\":1,\"host\":\"%s\"}", name, remote);
    cvm = cv_test_create(m, spec);
    g_assert_cmpstr(member(cvm, "host"), ==, remote);
    g_assert_cmpstr(member(cvm, "state"), ==, "running");
    g_assert_true(virsh_ok((const char *const[]){ "domstate", name, NULL }));

    path = g_strconcat("/v1/cvms/", name, NULL);
    g_assert_cmpuint(cv_test_request(m, "DELETE", path, NULL, NULL, 0, NULL), ==, 204);
    g_assert_false(virsh_ok((const char *const[]){ "dominfo", name, NULL }));
    g_unlink(kernel);
    g_unlink(initrd);
    g_rmdir(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/integration/manager/remote-uri", test_remote_uri);
    return g_test_run();
}
