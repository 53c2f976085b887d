/* covirt-manager against the real libvirtd (qemu:///system, TCG): restart from the domains'
 * metadata after SIGKILL, a domain destroyed behind the manager's back, libvirtd going away
 * and coming back. Domains are named covirt-test-mgr-PID-* and removed at the end.
 * Run with --libvirtd-restart for the case that stops and starts libvirtd itself: it needs
 * COVIRT_LIBVIRTD_PIDFILE (set by the script that started that libvirtd), else it exits 77. */
#include <string.h>
#include <signal.h>
#include <errno.h>
#include <glib/gstdio.h>
#include "manager-harness.h"
#include "frame.h"

static char *workdir;
static char *kernel;
static char *kernel_version;   /* of the copied /boot/vmlinuz-VERSION: its modules go in initrds */
static char *initrd;

static const char *
member(JsonNode *n, const char *name)
{
    return json_object_get_string_member_with_default(json_node_get_object(n), name, NULL);
}

static gint64
agent_port(JsonNode *n)
{
    return json_object_get_int_member(json_object_get_object_member(json_node_get_object(n), "agent"), "port");
}

static gboolean
virsh(const char *const *args, char **out)
{
    return cv_test_virsh("qemu:///system", args, out);
}

static gboolean
domain_exists(const char *name)
{
    const char *const args[] = { "dominfo", name, NULL };

    return virsh(args, NULL);
}

/* A kernel QEMU can read (world-searchable directory) and a tiny gzip'ed cpio initrd: the
 * guest need not boot for these tests, only run. */
static void
prepare_guest_files(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GDir) boot = g_dir_open("/boot", 0, &error);
    g_autofree char *src = NULL;
    g_autofree char *data = NULL;
    gsize len;
    const char *name;
    /* an empty newc archive (just the trailer), gzip'ed */
    static const guint8 empty_cpio_gz[] = {
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x33, 0x30, 0x30, 0x37, 0x30, 0x37,
        0x30, 0x30, 0x20, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };

    g_assert_no_error(error);
    while ((name = g_dir_read_name(boot)))
        if (g_str_has_prefix(name, "vmlinuz-")) {
            g_free(src);
            src = g_build_filename("/boot", name, NULL);
            g_free(kernel_version);
            kernel_version = g_strdup(name + strlen("vmlinuz-"));
        }
    g_assert_nonnull(src);
    workdir = g_dir_make_tmp("covirt-mgr-int-XXXXXX", &error);
    g_assert_no_error(error);
    g_chmod(workdir, 0755);
    kernel = g_build_filename(workdir, "vmlinuz", NULL);
    initrd = g_build_filename(workdir, "initrd.gz", NULL);
    g_assert_true(g_file_get_contents(src, &data, &len, &error));
    g_assert_true(g_file_set_contents(kernel, data, (gssize)len, &error));
    g_assert_true(g_file_set_contents(initrd, (const char *)empty_cpio_gz, sizeof(empty_cpio_gz), &error));
    g_chmod(kernel, 0644);
    g_chmod(initrd, 0644);
}

static CvTestManager *
start_manager(void)
{
    g_autofree char *k = g_strconcat("MANAGER_QEMU_DISK_IMG_KERNEL_FILE=", kernel, NULL);
    g_autofree char *i = g_strconcat("MANAGER_QEMU_DISK_IMG_ROOTFS_FILE=", initrd, NULL);
    const char *const env[] = {
        "MANAGER_LIBVIRT_URI=qemu:///system",
        "MANAGER_QEMU_OVMF_CODE_FILE=/usr/share/OVMF/OVMF_CODE_4M.fd",
        "MANAGER_QEMU_OVMF_VARS_FILE=/usr/share/OVMF/OVMF_VARS_4M.fd",
        "MANAGER_QEMU_HOST_FWD_RANGE=6400-6499",
        k, i, NULL,
    };

    return cv_test_manager_start(env);
}

/* other work on this host may have covirt domains too: the manager adopts them, the test
 * looks at and removes only its own */
static gboolean
ours(const char *name)
{
    g_autofree char *prefix = g_strdup_printf("covirt-test-mgr-%d-", (int)getpid());

    return name && g_str_has_prefix(name, prefix);
}

static JsonArray *
own_cvms(CvTestManager *m, JsonNode **holder)
{
    g_autoptr(JsonNode) list = NULL;
    JsonArray *all, *mine = json_array_new();
    JsonNode *n = json_node_new(JSON_NODE_ARRAY);

    g_assert_cmpuint(cv_test_request_json(m, "GET", "/v1/cvms", NULL, &list), ==, 200);
    all = json_object_get_array_member(json_node_get_object(list), "cvms");
    for (guint i = 0; i < json_array_get_length(all); i++) {
        JsonNode *e = json_array_get_element(all, i);

        if (ours(json_object_get_string_member(json_node_get_object(e), "name")))
            json_array_add_element(mine, json_node_copy(e));
    }
    json_node_take_array(n, mine);
    *holder = n;
    return mine;
}

static char *
spec(const char *suffix, const char *extra)
{
    return g_strdup_printf("{\"name\":\"covirt-test-mgr-%d-%s\",\"memory\":\"256M\",\"vcpus\":1%s%s}",
                           (int)getpid(), suffix, extra ? "," : "", extra ? extra : "");
}

static void
delete_all(CvTestManager *m)
{
    g_autoptr(JsonNode) list = NULL;
    JsonArray *arr = own_cvms(m, &list);

    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *o = json_array_get_object_element(arr, i);
        g_autofree char *path = g_strconcat("/v1/cvms/", json_object_get_string_member(o, "id"), NULL);
        const char *name = json_object_get_string_member(o, "name");
        g_autofree char *nvram = g_strdup_printf("/var/lib/libvirt/qemu/nvram/%s_VARS.fd", name);
        g_autofree char *qemu_log = g_strdup_printf("/var/log/libvirt/qemu/%s.log", name);
        g_autofree char *swtpm_log = g_strdup_printf("/var/log/swtpm/libvirt/qemu/%s-swtpm.log", name);

        g_assert_cmpuint(cv_test_request(m, "DELETE", path, NULL, NULL, 0, NULL), ==, 204);
        g_assert_false(domain_exists(name));
        g_assert_false(g_file_test(nvram, G_FILE_TEST_EXISTS));
        g_assert_false(g_file_test(qemu_log, G_FILE_TEST_EXISTS));
        g_assert_false(g_file_test(swtpm_log, G_FILE_TEST_EXISTS));
    }
}

static void
test_restart_after_sigkill(void)
{
    g_autoptr(CvTestManager) m = start_manager();
    g_autofree char *sa = spec("a", "\"ttl\":\"1h\"");
    g_autofree char *sb = spec("b", NULL);
    g_autofree char *sc = spec("c", NULL);
    g_autoptr(JsonNode) a = cv_test_create(m, sa);
    g_autoptr(JsonNode) b = cv_test_create(m, sb);
    g_autoptr(JsonNode) c = NULL, list = NULL;
    g_autoptr(GBytes) xml = NULL;
    g_autofree char *xml_path = g_strconcat("/v1/cvms/", member(a, "id"), "/domain", NULL);
    g_autofree char *text = NULL;
    JsonArray *arr;

    g_assert_cmpstr(member(a, "state"), ==, "running");
    g_assert_true(domain_exists(member(a, "name")));
    /* the CVM's id is the domain's libvirt UUID: virsh finds it by the id */
    g_assert_true(domain_exists(member(a, "id")));
    cv_test_manager_kill(m, SIGKILL);
    cv_test_manager_wait(m);
    cv_test_manager_restart(m);

    arr = own_cvms(m, &list);
    g_assert_cmpuint(json_array_get_length(arr), ==, 2);
    for (guint i = 0; i < 2; i++) {
        JsonObject *o = json_array_get_object_element(arr, i);
        JsonNode *before = g_strcmp0(json_object_get_string_member(o, "id"), member(a, "id")) == 0 ? a : b;
        JsonObject *bo = json_node_get_object(before);

        g_assert_cmpstr(json_object_get_string_member(o, "id"), ==, member(before, "id"));
        g_assert_cmpstr(json_object_get_string_member(o, "name"), ==, member(before, "name"));
        g_assert_cmpstr(json_object_get_string_member(o, "state"), ==, "running");
        g_assert_cmpstr(json_object_get_string_member(o, "created_at"), ==, member(before, "created_at"));
        g_assert_cmpstr(json_object_get_string_member_with_default(o, "expires_at", NULL), ==,
                        json_object_get_string_member_with_default(bo, "expires_at", NULL));
        g_assert_cmpint(json_object_get_int_member(json_object_get_object_member(o, "agent"), "port"), ==,
                        agent_port(before));
    }
    g_assert_nonnull(member(a, "expires_at"));
    /* the record is in the domain, where virsh dumpxml shows it */
    g_assert_cmpuint(cv_test_request(m, "GET", xml_path, NULL, NULL, 0, &xml), ==, 200);
    text = g_strndup(g_bytes_get_data(xml, NULL), g_bytes_get_size(xml));
    g_assert_nonnull(strstr(text, "covirt:state>running<"));
    /* the vtpm policy of its boot: the kernel's Authenticode digest in PCR 4's events */
    {
        g_autofree char *ap = g_strconcat("/v1/cvms/", member(a, "id"), "/attestation-policy", NULL);
        g_autoptr(JsonNode) pol = NULL;
        JsonObject *events;

        g_assert_cmpuint(cv_test_request_json(m, "GET", ap, NULL, &pol), ==, 200);
        g_assert_cmpstr(member(pol, "platform"), ==, "vtpm");
        events = json_object_get_object_member(json_node_get_object(pol), "events");
        g_assert_cmpuint(json_array_get_length(json_object_get_array_member(events, "4")), ==, 1);
        g_assert_cmpuint(json_array_get_length(json_object_get_array_member(events, "9")), ==, 2);
    }
    /* adopted ports are reserved */
    c = cv_test_create(m, sc);
    g_assert_cmpint(agent_port(c), !=, agent_port(a));
    g_assert_cmpint(agent_port(c), !=, agent_port(b));
    delete_all(m);
}

static char *
read_until(GDataInputStream *in, const char *needle, guint max_lines)
{
    GString *seen = g_string_new(NULL);

    for (guint i = 0; i < max_lines; i++) {
        g_autofree char *line = g_data_input_stream_read_line_utf8(in, NULL, NULL, NULL);

        if (!line)
            break;
        g_string_append_printf(seen, "%s\n", line);
        if (strstr(line, needle))
            break;
    }
    return g_string_free(seen, FALSE);
}

static void
test_destroy_behind_back(void)
{
    g_autoptr(CvTestManager) m = start_manager();
    g_autofree char *sd = spec("d", "\"debug\":true");
    g_autoptr(JsonNode) d = cv_test_create(m, sd);
    g_autofree char *path = g_strconcat("/v1/cvms/", member(d, "id"), NULL);
    g_autofree char *url = g_strconcat(m->url, path, "/events", NULL);
    g_autoptr(SoupSession) s = soup_session_new();
    g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
    g_autoptr(GInputStream) in = soup_session_send(s, msg, NULL, NULL);
    g_autoptr(GDataInputStream) data = NULL;
    g_autofree char *seen = NULL;
    const char *const destroy[] = { "destroy", member(d, "name"), NULL };

    g_assert_nonnull(in);
    data = g_data_input_stream_new(in);
    g_assert_true(virsh(destroy, NULL));
    seen = read_until(data, "\"detail\":\"destroyed\"", 200);
    g_assert_nonnull(strstr(seen, "\"event\":\"stopped\""));
    g_assert_nonnull(strstr(seen, "\"state\":\"stopped\""));
    g_assert_true(cv_test_wait_member(m, path, "state", "stopped", 10));
    /* a stopped CVM is still deleted completely */
    delete_all(m);
    {
        g_autoptr(JsonNode) left = NULL;

        g_assert_cmpuint(json_array_get_length(own_cvms(m, &left)), ==, 0);
    }
}

static void
write_frame(const char *path, const CvFrame *f)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) b = cv_frame_pack(f, &error);

    g_assert_no_error(error);
    g_assert_true(g_file_set_contents(path, g_bytes_get_data(b, NULL), (gssize)g_bytes_get_size(b), NULL));
}

/* A busybox initramfs whose init opens the org.covirt.agent.0 port, sends a Hello frame, reads
 * exactly the Manifest frame the manager must answer with, then sends a Log frame: the log
 * reaching the manager proves both directions through QEMU's virtio-serial. */
static char *
build_channel_initrd(const char *manifest_json)
{
    g_autofree char *root = g_build_filename(workdir, "chanroot", NULL);
    g_autofree char *out = g_build_filename(workdir, "chan-initrd.gz", NULL);
    g_autofree char *hello = g_build_filename(root, "hello.bin", NULL);
    g_autofree char *logf = g_build_filename(root, "log.bin", NULL);
    g_autofree char *init = g_build_filename(root, "init", NULL);
    g_autofree char *init_text = NULL;
    g_autofree char *script = NULL;
    g_autoptr(GBytes) manifest = NULL;
    const char *kver = kernel_version;
    int status;

    g_mkdir_with_parents(root, 0755);
    {
        Covirt__Control__Frame f = COVIRT__CONTROL__FRAME__INIT;
        Covirt__Control__Hello h = COVIRT__CONTROL__HELLO__INIT;

        h.agent_version = (char *)"guest-probe-1";
        h.platform = (char *)"vtpm";
        f.body_case = COVIRT__CONTROL__FRAME__BODY_HELLO;
        f.hello = &h;
        write_frame(hello, &f);
    }
    {
        Covirt__Control__Frame f = COVIRT__CONTROL__FRAME__INIT;
        Covirt__Control__Log l = COVIRT__CONTROL__LOG__INIT;

        l.source = (char *)"agent";
        l.level = (char *)"info";
        l.line = (char *)"manifest received by the guest";
        f.seq = 2;
        f.body_case = COVIRT__CONTROL__FRAME__BODY_LOG;
        f.log = &l;
        write_frame(logf, &f);
    }
    {
        /* what the manager sends: its first frame on this connection */
        Covirt__Control__Frame f = COVIRT__CONTROL__FRAME__INIT;
        Covirt__Control__Manifest m = COVIRT__CONTROL__MANIFEST__INIT;

        m.json = (char *)manifest_json;
        f.seq = 1;
        f.body_case = COVIRT__CONTROL__FRAME__BODY_MANIFEST;
        f.manifest = &m;
        manifest = cv_frame_pack(&f, NULL);
    }
    init_text = g_strdup_printf(
        "#!/bin/busybox sh\n"
        "/bin/busybox --install -s /bin\n"
        "mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev\n"
        "for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_console; do\n"
        "  insmod /mods/$m.ko 2>/dev/null; done\n"
        "PORT=\n"
        "for i in $(seq 300); do\n"
        "  for p in /sys/class/virtio-ports/*; do\n"
        "    [ \"$(cat $p/name 2>/dev/null)\" = org.covirt.agent.0 ] && PORT=/dev/$(basename $p); done\n"
        "  [ -n \"$PORT\" ] && [ -e \"$PORT\" ] && break; sleep 0.1\n"
        "done\n"
        "exec 3<>$PORT\n"
        "cat /hello.bin >&3\n"
        "head -c %" G_GSIZE_FORMAT " <&3 > /manifest.bin\n"
        "cat /log.bin >&3\n"
        "while :; do sleep 3600; done\n", g_bytes_get_size(manifest));
    g_assert_true(g_file_set_contents(init, init_text, -1, NULL));
    g_chmod(init, 0755);
    script = g_strdup_printf(
        "set -e; R='%s'; K=/lib/modules/%s/kernel; mkdir -p $R/bin $R/proc $R/sys $R/dev $R/mods;"
        "cp /bin/busybox $R/bin/busybox;"
        "for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev "
        "drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci drivers/char/virtio_console; do"
        "  cp $K/$m.ko $R/mods/; done;"
        "cd $R && find . | cpio -o -H newc 2>/dev/null | gzip -1 > '%s'; chmod 644 '%s'",
        root, kver, out, out);
    {
        const char *argv[] = { "sh", "-c", script, NULL };

        g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status,
                                   NULL));
        g_assert_true(g_spawn_check_wait_status(status, NULL));
    }
    return g_steal_pointer(&out);
}

static void
test_control_channel(void)
{
    /* a manifest the manager accepts at create (its keys in Cocos's base64 DER form: no newline to escape) */
    const char *manifest = "{\"id\":\"covirt-test-computation\",\"name\":\"channel\",\"algorithm\":{\"hash\":"
                           "\"0000000000000000000000000000000000000000000000000000000000000000\",\"user_key\":"
                           "\"MCowBQYDK2VwAyEAJPnur2R6v0GAdOHKc0Z+GR41ZjKgzCXNRHStHwvYu3s=\",\"algo_type\":\"bin\"},"
                           "\"result_consumers\":[{\"user_key\":"
                           "\"MCowBQYDK2VwAyEAOKzrrq/UQ07yaVZe/kB0/KEvhzbUfQhqJ/Z6kOeBE14=\"}]}";
    g_autofree char *computation = g_strconcat("\"cmdline\":\"console=ttyS0 quiet panic=-1\",\"computation\":",
                                               manifest, NULL);
    g_autofree char *chan_initrd = NULL;
    g_autofree char *k = g_strconcat("MANAGER_QEMU_DISK_IMG_KERNEL_FILE=", kernel, NULL);
    g_autofree char *i = NULL;
    g_autoptr(CvTestManager) m = NULL;
    g_autofree char *sf = NULL;
    g_autoptr(JsonNode) f = NULL;
    g_autofree char *ev = NULL;
    g_autoptr(GBytes) body = NULL;
    g_autofree char *text = NULL;
    gint64 end;

    if (!g_file_test("/bin/busybox", G_FILE_TEST_EXISTS)) {
        g_test_skip("no /bin/busybox (busybox-static)");
        return;
    }
    chan_initrd = build_channel_initrd(manifest);
    i = g_strconcat("MANAGER_QEMU_DISK_IMG_ROOTFS_FILE=", chan_initrd, NULL);
    {
        const char *const env[] = {
            "MANAGER_LIBVIRT_URI=qemu:///system",
            "MANAGER_QEMU_OVMF_CODE_FILE=/usr/share/OVMF/OVMF_CODE_4M.fd",
            "MANAGER_QEMU_OVMF_VARS_FILE=/usr/share/OVMF/OVMF_VARS_4M.fd",
            "MANAGER_QEMU_HOST_FWD_RANGE=6400-6499",
            k, i, NULL,
        };

        m = cv_test_manager_start(env);
    }
    sf = spec("f", computation);
    f = cv_test_create(m, sf);
    ev = g_strconcat("/v1/cvms/", member(f, "id"), "/events?follow=0", NULL);
    /* TCG boot through OVMF: give it time */
    end = g_get_monotonic_time() + 240 * G_USEC_PER_SEC;
    do {
        g_clear_pointer(&body, g_bytes_unref);
        g_clear_pointer(&text, g_free);
        g_usleep(500000);
        g_assert_cmpuint(cv_test_request(m, "GET", ev, NULL, NULL, 0, &body), ==, 200);
        text = g_strndup(g_bytes_get_data(body, NULL), g_bytes_get_size(body));
    } while (!strstr(text, "manifest received by the guest") && g_get_monotonic_time() < end);
    if (!strstr(text, "manifest received by the guest"))
        g_test_message("events so far:\n%s", text);
    g_assert_nonnull(strstr(text, "\"agent_version\":\"guest-probe-1\""));
    g_assert_nonnull(strstr(text, "\"event\":\"manifest-sent\""));
    g_assert_nonnull(strstr(text, "event: log"));
    g_assert_nonnull(strstr(text, "manifest received by the guest"));
    delete_all(m);
}

/* A manager killed between define and start leaves a domain recorded as "creating" that
 * never ran: the next manager finishes the failed creation and removes it. */
static void
test_interrupted_create(void)
{
    g_autoptr(CvTestManager) m = start_manager();
    g_autofree char *sg = spec("g", NULL);
    g_autoptr(JsonNode) g = cv_test_create(m, sg);
    const char *name = member(g, "name");
    const char *const destroy[] = { "destroy", name, NULL };
    g_autofree char *xml = NULL;
    g_autofree char *path = g_strconcat("/v1/cvms/", member(g, "id"), NULL);
    g_autoptr(GRegex) re = g_regex_new("<covirt:state>[a-z]+</covirt:state>", 0, 0, NULL);
    g_autofree char *meta = NULL, *cvm_elem = NULL;
    const char *start, *stop;

    cv_test_manager_kill(m, SIGKILL);
    cv_test_manager_wait(m);
    g_assert_true(virsh(destroy, NULL));
    /* rewrite the recorded state as it was between define and start */
    {
        const char *const dump[] = { "dumpxml", "--inactive", name, NULL };

        g_assert_true(virsh(dump, &xml));
    }
    start = strstr(xml, "<covirt:cvm");
    stop = strstr(xml, "</covirt:cvm>");
    g_assert_nonnull(start);
    g_assert_nonnull(stop);
    cvm_elem = g_strndup(start, stop + strlen("</covirt:cvm>") - start);
    meta = g_regex_replace_literal(re, cvm_elem, -1, 0, "<covirt:state>creating</covirt:state>", 0, NULL);
    {
        /* virsh metadata --set wants the element without its namespace (it adds it) */
        g_autoptr(GRegex) ns = g_regex_new(" xmlns:covirt=\"[^\"]*\"|(?<=<|</)covirt:", 0, 0, NULL);
        char *plain = g_regex_replace_literal(ns, meta, -1, 0, "", 0, NULL);

        g_free(meta);
        meta = plain;
    }
    {
        const char *const set[] = { "metadata", name, "--uri", "https://covirt.org/xmlns/cvm/1.0", "--key", "covirt",
                                    "--config", "--set", meta, NULL };

        g_assert_true(virsh(set, NULL));
    }
    cv_test_manager_restart(m);
    for (int i = 0; i < 100 && domain_exists(name); i++)
        g_usleep(100000);
    g_assert_false(domain_exists(name));
    g_assert_cmpuint(cv_test_request(m, "GET", path, NULL, NULL, 0, NULL), ==, 404);
}

static gboolean
pid_alive(GPid pid)
{
    g_autofree char *stat_path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *stat = NULL;
    const char *p;

    if (kill(pid, 0) < 0 && errno == ESRCH)
        return FALSE;
    /* a daemonized libvirtd's parent may be an init that does not reap: a zombie is gone */
    if (g_file_get_contents(stat_path, &stat, NULL, NULL) && (p = strrchr(stat, ')')) && p[1] == ' ' && p[2] == 'Z')
        return FALSE;
    return TRUE;
}

static void
test_libvirtd_restart(void)
{
    const char *pidfile = g_getenv("COVIRT_LIBVIRTD_PIDFILE");
    g_autoptr(CvTestManager) m = start_manager();
    g_autofree char *se = spec("e", NULL);
    g_autoptr(JsonNode) e = cv_test_create(m, se);
    g_autofree char *path = g_strconcat("/v1/cvms/", member(e, "id"), NULL);
    g_autoptr(JsonNode) h = NULL, refused = NULL;
    g_autofree char *pidarg = g_strconcat("--pid-file=", pidfile, NULL);
    const char *const start[] = { "libvirtd", "-d", pidarg, NULL };
    const char *const destroy[] = { "destroy", member(e, "name"), NULL };
    g_autofree char *se2 = spec("e2", NULL);
    GPid pid = cv_test_read_pid(pidfile);
    g_autoptr(GError) error = NULL;
    int status;

    g_assert_cmpint(pid, >, 1);
    g_assert_cmpint(kill(pid, SIGTERM), ==, 0);
    for (int i = 0; i < 300 && pid_alive(pid); i++)
        g_usleep(100000);
    g_assert_false(pid_alive(pid));
    /* the API keeps serving and says libvirt is away */
    g_assert_true(cv_test_wait_member(m, "/health", "status", "degraded", 15));
    g_assert_cmpuint(cv_test_request_json(m, "GET", "/health", NULL, &h), ==, 503);
    g_assert_false(json_object_get_boolean_member(
        json_object_get_object_member(json_node_get_object(h), "libvirt"), "available"));
    {
        g_autoptr(JsonNode) held = NULL;

        g_assert_cmpuint(json_array_get_length(own_cvms(m, &held)), ==, 1);
    }
    g_assert_cmpuint(cv_test_request_json(m, "POST", "/v1/cvms", se2, &refused), ==, 503);
    /* libvirtd back: the manager reconnects by itself, states resynchronised */
    /* stdio to /dev/null: the daemon must not hold the test runner's pipes */
    g_assert_true(g_spawn_sync(NULL, (char **)start, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                               G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL, &status, &error));
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    g_assert_true(cv_test_wait_member(m, "/health", "status", "ok", 60));
    g_assert_true(cv_test_wait_member(m, path, "state", "running", 10));
    /* events are registered again: a destroy behind its back is seen */
    g_assert_true(virsh(destroy, NULL));
    g_assert_true(cv_test_wait_member(m, path, "state", "stopped", 15));
    g_assert_cmpfloat(cv_test_metric(m, "covirt_libvirt_reconnects_total"), >=, 1);
    delete_all(m);
}

int
main(int argc, char **argv)
{
    gboolean restart_case = argc > 1 && strcmp(argv[1], "--libvirtd-restart") == 0;
    int rc;

    if (!g_file_test("/run/libvirt/libvirt-sock", G_FILE_TEST_EXISTS)) {
        g_printerr("no libvirtd (/run/libvirt/libvirt-sock): skipped\n");
        return 77;
    }
    if (restart_case) {
        const char *pidfile = g_getenv("COVIRT_LIBVIRTD_PIDFILE");

        /* only a libvirtd that the calling script started may be stopped */
        if (!pidfile || !*pidfile) {
            g_printerr("COVIRT_LIBVIRTD_PIDFILE unset: the libvirtd restart case is skipped\n");
            return 77;
        }
        argv[1] = argv[0];
        argc--;
        argv++;
    }
    g_test_init(&argc, &argv, NULL);
    prepare_guest_files();
    if (restart_case) {
        g_test_add_func("/integration/manager/libvirtd-restart", test_libvirtd_restart);
    } else {
        g_test_add_func("/integration/manager/restart-after-sigkill", test_restart_after_sigkill);
        g_test_add_func("/integration/manager/destroy-behind-back", test_destroy_behind_back);
        g_test_add_func("/integration/manager/interrupted-create", test_interrupted_create);
        g_test_add_func("/integration/manager/control-channel", test_control_channel);
    }
    rc = g_test_run();
    {
        /* the work directory holds the guest files and the control-channel initramfs tree */
        const char *rm_argv[] = { "rm", "-rf", workdir, NULL };

        g_spawn_sync(NULL, (char **)rm_argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
    }
    return rc;
}
