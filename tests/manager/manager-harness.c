#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <pwd.h>
#include <glib/gstdio.h>
#include "manager-harness.h"

static void
add_env(GPtrArray *env, const char *kv)
{
    gsize n = strcspn(kv, "=");

    for (guint i = 0; i < env->len; i++) {
        const char *e = g_ptr_array_index(env, i);

        if (e && strncmp(e, kv, n) == 0 && e[n] == '=') {
            g_free(g_ptr_array_index(env, i));
            env->pdata[i] = g_strdup(kv);
            return;
        }
    }
    g_ptr_array_insert(env, env->len - 1, g_strdup(kv));
}

static void
die_with_parent(gpointer data)
{
    guint64 nofile = GPOINTER_TO_SIZE(data);

    /* a failed assertion aborts the test: the manager must not outlive it */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (nofile) {
        struct rlimit rl = { nofile, nofile };

        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* COVIRT_TEST_NOFILE=N in the environment: the manager runs with that descriptor limit */
static gpointer
nofile_of(GPtrArray *env)
{
    const char *v = g_environ_getenv((char **)env->pdata, "COVIRT_TEST_NOFILE");

    return GSIZE_TO_POINTER(v ? g_ascii_strtoull(v, NULL, 10) : 0);
}

static void
spawn(CvTestManager *m)
{
    g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    g_autoptr(GError) error = NULL;
    g_autoptr(GDataInputStream) out = NULL;
    g_autofree char *line = NULL;

    g_subprocess_launcher_set_environ(l, (char **)m->env->pdata);
    g_subprocess_launcher_set_child_setup(l, die_with_parent, nofile_of(m->env), NULL);
    /* COVIRT_TEST_MANAGER_EXE: run another build of the manager (e.g. a sanitizer build) */
    m->proc = g_subprocess_launcher_spawn(l, &error,
                                          g_getenv("COVIRT_TEST_MANAGER_EXE") ? g_getenv("COVIRT_TEST_MANAGER_EXE")
                                                                              : COVIRT_MANAGER_EXE, NULL);
    g_assert_no_error(error);
    out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(m->proc));
    /* the manager prints "listening on URL" once it serves */
    line = g_data_input_stream_read_line_utf8(out, NULL, NULL, &error);
    g_assert_no_error(error);
    g_assert_nonnull(line);
    g_assert_true(g_str_has_prefix(line, "listening on "));
    g_free(m->url);
    m->url = g_strdup(line + strlen("listening on "));
    /* and it is usable once libvirt is connected */
    for (int i = 0; m->wait_ready && i < 600; i++) {
        g_autoptr(JsonNode) h = NULL;

        if (cv_test_request_json(m, "GET", "/health", NULL, &h) == 200)
            return;
        g_usleep(50000);
    }
    if (m->wait_ready)
        g_test_message("manager at %s never reported libvirt available", m->url);
}

CvTestManager *
cv_test_manager_start(const char *const *extra)
{
    return cv_test_manager_start_full(extra, TRUE);
}

/* a temp dir with kernel/initrd/firmware stand-ins, and the manager's environment using them */
static void
prepare(CvTestManager *m, const char *const *extra)
{
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) base = g_get_environ();
    g_autofree char *kernel = NULL, *initrd = NULL, *code = NULL, *vars = NULL, *logs = NULL, *hal = NULL;
    char *kv;

    m->tmpdir = g_dir_make_tmp("covirt-mgr-test-XXXXXX", &error);
    g_assert_no_error(error);
    g_chmod(m->tmpdir, 0755);
    kernel = g_build_filename(m->tmpdir, "vmlinuz", NULL);
    initrd = g_build_filename(m->tmpdir, "initrd.img", NULL);
    code = g_build_filename(m->tmpdir, "OVMF_CODE.fd", NULL);
    vars = g_build_filename(m->tmpdir, "OVMF_VARS.fd", NULL);
    logs = g_build_filename(m->tmpdir, "log", NULL);
    hal = g_build_filename(m->tmpdir, "hal-version", NULL);
    g_assert_true(g_file_set_contents(kernel, "not a kernel", -1, NULL));
    g_assert_true(g_file_set_contents(initrd, "not an initrd", -1, NULL));
    g_assert_true(g_file_set_contents(code, "code", -1, NULL));
    g_assert_true(g_file_set_contents(vars, "vars", -1, NULL));
    g_assert_true(g_file_set_contents(hal, "covirt-hal test 1\n", -1, NULL));
    m->env = g_ptr_array_new_with_free_func(g_free);
    for (char **e = base; *e; e++)
        if (!g_str_has_prefix(*e, "MANAGER_"))
            g_ptr_array_add(m->env, g_strdup(*e));
    g_ptr_array_add(m->env, NULL);
    add_env(m->env, "MANAGER_LIBVIRT_URI=test:///default");
    add_env(m->env, "MANAGER_HTTP_HOST=127.0.0.1");
    add_env(m->env, "MANAGER_HTTP_PORT=0");
    add_env(m->env, "MANAGER_DOMAIN_TYPE=qemu");
    add_env(m->env, "MANAGER_LOG_LEVEL=warn");
    add_env(m->env, "MANAGER_LIBVIRT_RECONNECT_MAX=2");
    add_env(m->env, kv = g_strconcat("MANAGER_QEMU_DISK_IMG_KERNEL_FILE=", kernel, NULL));
    g_free(kv);
    add_env(m->env, kv = g_strconcat("MANAGER_QEMU_DISK_IMG_ROOTFS_FILE=", initrd, NULL));
    g_free(kv);
    add_env(m->env, kv = g_strconcat("MANAGER_QEMU_OVMF_CODE_FILE=", code, NULL));
    g_free(kv);
    add_env(m->env, kv = g_strconcat("MANAGER_QEMU_OVMF_VARS_FILE=", vars, NULL));
    g_free(kv);
    add_env(m->env, kv = g_strconcat("MANAGER_LOG_DIR=", logs, NULL));
    g_free(kv);
    for (const char *const *e = extra; e && *e; e++)
        add_env(m->env, *e);
}

CvTestManager *
cv_test_manager_start_full(const char *const *extra, gboolean wait_ready)
{
    CvTestManager *m = g_new0(CvTestManager, 1);

    prepare(m, extra);
    m->wait_ready = wait_ready;
    m->session = soup_session_new_with_options("timeout", 120, "max-conns", 200, "max-conns-per-host", 200, NULL);
    spawn(m);
    return m;
}

static void
die_soon(gpointer data)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* a manager that starts after all ends here, as killed by a signal */
    alarm(30);
}

int
cv_test_manager_refuses(const char *const *extra, char **err)
{
    g_autoptr(CvTestManager) m = g_new0(CvTestManager, 1);
    g_autoptr(GSubprocess) p = NULL;
    g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                                                  G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_autoptr(GError) error = NULL;

    prepare(m, extra);
    g_subprocess_launcher_set_environ(l, (char **)m->env->pdata);
    g_subprocess_launcher_set_child_setup(l, die_soon, NULL, NULL);
    p = g_subprocess_launcher_spawn(l, &error, g_getenv("COVIRT_TEST_MANAGER_EXE") ? g_getenv("COVIRT_TEST_MANAGER_EXE")
                                                                                  : COVIRT_MANAGER_EXE, NULL);
    g_assert_no_error(error);
    g_assert_true(g_subprocess_communicate_utf8(p, NULL, NULL, NULL, err, &error));
    g_assert_no_error(error);
    return g_subprocess_get_if_exited(p) ? g_subprocess_get_exit_status(p) : -1;
}

void
cv_test_manager_restart(CvTestManager *m)
{
    g_clear_object(&m->proc);
    spawn(m);
}

void
cv_test_manager_kill(CvTestManager *m, int signum)
{
    if (m->proc)
        g_subprocess_send_signal(m->proc, signum);
}

int
cv_test_manager_wait(CvTestManager *m)
{
    g_autoptr(GError) error = NULL;

    g_subprocess_wait(m->proc, NULL, &error);
    g_assert_no_error(error);
    if (g_subprocess_get_if_exited(m->proc))
        return g_subprocess_get_exit_status(m->proc);
    return -1;
}

static void
rm_rf(const char *path)
{
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *child = g_build_filename(path, name, NULL);

        if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
            rm_rf(child);
        else
            g_unlink(child);
    }
    g_rmdir(path);
}

void
cv_test_manager_free(CvTestManager *m)
{
    if (!m)
        return;
    if (m->proc) {
        /* a clean exit on SIGTERM; under ASan this also says the manager had no leak or error */
        g_subprocess_send_signal(m->proc, SIGTERM);
        g_subprocess_wait(m->proc, NULL, NULL);
        g_assert_true(g_subprocess_get_if_exited(m->proc));
        g_assert_cmpint(g_subprocess_get_exit_status(m->proc), ==, 0);
        g_object_unref(m->proc);
    }
    if (m->tmpdir)
        rm_rf(m->tmpdir);
    g_free(m->tmpdir);
    g_free(m->url);
    g_clear_object(&m->session);
    g_ptr_array_unref(m->env);
    g_free(m);
}

guint
cv_test_request(CvTestManager *m, const char *method, const char *path, const char *content_type,
                const void *data, gsize len, GBytes **body)
{
    g_autofree char *url = g_strconcat(m->url, path, NULL);
    g_autoptr(SoupMessage) msg = soup_message_new(method, url);
    g_autoptr(GBytes) b = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_nonnull(msg);
    if (data) {
        g_autoptr(GBytes) req = g_bytes_new(data, len);

        soup_message_set_request_body_from_bytes(msg, content_type ? content_type : "application/json", req);
    }
    b = soup_session_send_and_read(m->session, msg, NULL, &error);
    if (!b) {
        g_test_message("%s %s: %s", method, path, error->message);
        return 0;
    }
    if (body)
        *body = g_steal_pointer(&b);
    return soup_message_get_status(msg);
}

guint
cv_test_request_json(CvTestManager *m, const char *method, const char *path, const char *json, JsonNode **out)
{
    g_autoptr(GBytes) body = NULL;
    guint status = cv_test_request(m, method, path, NULL, json, json ? strlen(json) : 0, &body);

    if (out) {
        g_autoptr(JsonParser) p = json_parser_new();
        gsize len = 0;
        const char *text = body ? g_bytes_get_data(body, &len) : NULL;

        *out = NULL;
        if (text && len && json_parser_load_from_data(p, text, (gssize)len, NULL) && json_parser_get_root(p))
            *out = json_node_copy(json_parser_get_root(p));
    }
    return status;
}

const char *
cv_test_error_code(JsonNode *node)
{
    JsonObject *o, *e;

    if (!node || !JSON_NODE_HOLDS_OBJECT(node))
        return NULL;
    o = json_node_get_object(node);
    if (!json_object_has_member(o, "error"))
        return NULL;
    e = json_object_get_object_member(o, "error");
    if (!e || !json_object_has_member(e, "message") || !json_object_has_member(e, "code"))
        return NULL;
    return json_object_get_string_member(e, "code");
}

JsonNode *
cv_test_create(CvTestManager *m, const char *spec_json)
{
    JsonNode *node = NULL;
    guint status = cv_test_request_json(m, "POST", "/v1/cvms", spec_json, &node);

    if (status != 201) {
        g_autofree char *text = node ? json_to_string(node, FALSE) : g_strdup("(none)");

        g_test_message("POST %s → %u %s", spec_json, status, text);
    }
    g_assert_cmpuint(status, ==, 201);
    return node;
}

guint
cv_test_count(CvTestManager *m)
{
    g_autoptr(JsonNode) node = NULL;

    g_assert_cmpuint(cv_test_request_json(m, "GET", "/v1/cvms", NULL, &node), ==, 200);
    return json_array_get_length(json_object_get_array_member(json_node_get_object(node), "cvms"));
}

double
cv_test_metric(CvTestManager *m, const char *name)
{
    g_autoptr(GBytes) body = NULL;
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    gsize len;

    if (cv_test_request(m, "GET", "/metrics", NULL, NULL, 0, &body) != 200)
        return -1;
    text = g_strndup(g_bytes_get_data(body, &len), g_bytes_get_size(body));
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++)
        if (g_str_has_prefix(*l, name) && (*l)[strlen(name)] == ' ')
            return g_ascii_strtod(*l + strlen(name) + 1, NULL);
    return -1;
}

gboolean
cv_test_wait_member(CvTestManager *m, const char *path, const char *member, const char *value, guint timeout_s)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;

    do {
        g_autoptr(JsonNode) node = NULL;

        /* any status: /health answers 503 with its body while libvirt is away */
        if (cv_test_request_json(m, "GET", path, NULL, &node) != 0 && node && JSON_NODE_HOLDS_OBJECT(node) &&
            g_strcmp0(json_object_get_string_member_with_default(json_node_get_object(node), member, ""),
                      value) == 0)
            return TRUE;
        g_usleep(100000);
    } while (g_get_monotonic_time() < end);
    return FALSE;
}

GPid
cv_test_read_pid(const char *file)
{
    g_autofree char *text = NULL;

    if (!g_file_get_contents(file, &text, NULL, NULL))
        return 0;
    return (GPid)g_ascii_strtoll(text, NULL, 10);
}

guint
cv_test_free_port(void)
{
    g_autoptr(GSocket) s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
    g_autoptr(GSocketAddress) got = NULL;

    g_assert_true(g_socket_bind(s, any, FALSE, NULL));
    got = g_socket_get_local_address(s, NULL);
    return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(got));
}

static gboolean
port_answers(guint port)
{
    g_autoptr(GSocketClient) c = g_socket_client_new();
    g_autoptr(GSocketConnection) conn = g_socket_client_connect_to_host(c, "127.0.0.1", port, NULL, NULL);

    return conn != NULL;
}

static void
libvirtd_spawn(CvTestLibvirtd *d)
{
    struct passwd *nobody = getpwnam("nobody");
    g_autofree char *run = g_build_filename(d->dir, "run", NULL);
    g_autofree char *home = g_build_filename(d->dir, "home", NULL);
    g_autofree char *conf = g_build_filename(d->dir, "libvirtd.conf", NULL);
    g_autofree char *pidfile = g_build_filename(run, "libvirtd.pid", NULL);
    g_autofree char *uid = g_strdup_printf("--reuid=%u", (unsigned)nobody->pw_uid);
    g_autofree char *gid = g_strdup_printf("--regid=%u", (unsigned)nobody->pw_gid);
    g_autofree char *e_home = g_strconcat("HOME=", home, NULL);
    g_autofree char *e_run = g_strconcat("XDG_RUNTIME_DIR=", run, NULL);
    g_autofree char *e_cfg = g_strconcat("XDG_CONFIG_HOME=", home, "/.config", NULL);
    g_autofree char *e_cache = g_strconcat("XDG_CACHE_HOME=", home, "/.cache", NULL);
    g_autofree char *pidarg = g_strconcat("--pid-file=", pidfile, NULL);
    g_autoptr(GError) error = NULL;
    /* --pdeathsig: a test that fails midway leaves no daemon behind */
    const char *const argv[] = { "setpriv", uid, gid, "--clear-groups", "--pdeathsig", "KILL", "env", "-i", e_home,
                                 e_run, e_cfg, e_cache, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "libvirtd", "--listen",
                                 "--config", conf, pidarg, NULL };

    g_unlink(pidfile);
    d->proc = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error);
    g_assert_no_error(error);
    for (int i = 0; i < 200 && !(port_answers(d->port) && cv_test_read_pid(pidfile)); i++)
        g_usleep(100000);
    g_assert_true(port_answers(d->port));
    d->pid = cv_test_read_pid(pidfile);
    g_assert_cmpint(d->pid, ==, atoi(g_subprocess_get_identifier(d->proc)));
}

CvTestLibvirtd *
cv_test_libvirtd_start(void)
{
    struct passwd *nobody = getpwnam("nobody");
    g_autoptr(CvTestLibvirtd) d = NULL;
    g_autofree char *run = NULL, *home = NULL, *conf = NULL, *text = NULL;
    g_autofree char *exe = g_find_program_in_path("libvirtd");

    if (getuid() != 0 || !nobody || !exe)
        return NULL;
    d = g_new0(CvTestLibvirtd, 1);
    d->dir = g_dir_make_tmp("covirt-libvirtd-XXXXXX", NULL);
    g_assert_nonnull(d->dir);
    g_chmod(d->dir, 0755);
    run = g_build_filename(d->dir, "run", NULL);
    home = g_build_filename(d->dir, "home", NULL);
    conf = g_build_filename(d->dir, "libvirtd.conf", NULL);
    g_assert_cmpint(g_mkdir(run, 0700), ==, 0);
    g_assert_cmpint(g_mkdir(home, 0700), ==, 0);
    g_assert_cmpint(chown(run, nobody->pw_uid, nobody->pw_gid), ==, 0);
    g_assert_cmpint(chown(home, nobody->pw_uid, nobody->pw_gid), ==, 0);
    d->port = cv_test_free_port();
    /* loopback only, no TLS, no authentication: a test daemon nobody else reaches */
    text = g_strdup_printf("listen_tls = 0\nlisten_tcp = 1\ntcp_port = \"%u\"\nlisten_addr = \"127.0.0.1\"\n"
                           "auth_tcp = \"none\"\n", d->port);
    g_assert_true(g_file_set_contents(conf, text, -1, NULL));
    g_chmod(conf, 0644);
    d->uri = g_strdup_printf("test+tcp://127.0.0.1:%u/default", d->port);
    libvirtd_spawn(d);
    return g_steal_pointer(&d);
}

void
cv_test_libvirtd_kill(CvTestLibvirtd *d)
{
    if (!d->proc)
        return;
    g_subprocess_send_signal(d->proc, SIGKILL);
    g_subprocess_wait(d->proc, NULL, NULL);
    g_clear_object(&d->proc);
}

void
cv_test_libvirtd_restart(CvTestLibvirtd *d)
{
    cv_test_libvirtd_kill(d);
    libvirtd_spawn(d);
}

void
cv_test_libvirtd_free(CvTestLibvirtd *d)
{
    if (!d)
        return;
    if (d->proc) {
        g_subprocess_send_signal(d->proc, SIGTERM);
        g_subprocess_wait(d->proc, NULL, NULL);
        g_clear_object(&d->proc);
    }
    if (d->dir)
        rm_rf(d->dir);
    g_free(d->dir);
    g_free(d->uri);
    g_free(d);
}

gboolean
cv_test_virsh(const char *uri, const char *const *args, char **out)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    int status = -1;

    g_ptr_array_add(argv, (gpointer) "virsh");
    g_ptr_array_add(argv, (gpointer) "-c");
    g_ptr_array_add(argv, (gpointer)uri);
    for (const char *const *a = args; *a; a++)
        g_ptr_array_add(argv, (gpointer)*a);
    g_ptr_array_add(argv, NULL);
    if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH | (out ? 0 : G_SPAWN_STDOUT_TO_DEV_NULL) |
                      G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, out, NULL, &status, NULL))
        return FALSE;
    return g_spawn_check_wait_status(status, NULL);
}
