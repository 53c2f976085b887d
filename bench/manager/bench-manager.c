/* bench-manager: the cost of the manager against the raw libvirt calls, on libvirt's test driver
 * inside private libvirtds (the RPC path every real deployment has). Prints its figures; it is not a test.
 *   1. 500 CVMs created and deleted one after the other through the HTTP API (the real
 *      covirt-manager process, one kept-alive connection), and the same libvirt calls made
 *      directly from C in this process to the same libvirtd (same rendered XML, metadata included):
 *      median per-CVM time of each, ratio (goal ≤ 1.5).
 *   2. 16 concurrent clients creating and deleting 400 CVMs through the API, against 16 threads
 *      making the direct calls (each its own connection): throughput ratio (goal ≥ 0.7).
 *   3. The same 16 clients against a manager with two libvirtds: throughput against one (goal ≥ 1.6).
 *   4. The manager's resident memory (VmRSS) while it holds 1,000 CVM records over two hosts
 *      (goal ≤ 20 MiB). */
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include "cvm-spec.h"
#include "cvm-record.h"
#include "domain-render.h"
#include "domain-live.h"
#include "cv-util.h"
#include "cv-file.h"

static gint n_cycle = 500;
static gint n_hold = 1000;
static gint n_clients = 16;
static gint n_concurrent = 400;

static char *tmpdir;
static char *files[4];

static void
die_with_parent(gpointer data)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static char **
bench_env(void)
{
    char **env = g_get_environ();
    static const char *const names[] = {
        "MANAGER_QEMU_DISK_IMG_KERNEL_FILE", "MANAGER_QEMU_DISK_IMG_ROOTFS_FILE",
        "MANAGER_QEMU_OVMF_CODE_FILE", "MANAGER_QEMU_OVMF_VARS_FILE",
    };

    for (guint i = 0; i < 4; i++)
        env = g_environ_setenv(env, names[i], files[i], TRUE);
    env = g_environ_setenv(env, "MANAGER_LIBVIRT_URI", "test:///default", TRUE);
    env = g_environ_setenv(env, "MANAGER_HTTP_HOST", "127.0.0.1", TRUE);
    env = g_environ_setenv(env, "MANAGER_HTTP_PORT", "0", TRUE);
    env = g_environ_setenv(env, "MANAGER_DOMAIN_TYPE", "qemu", TRUE);
    env = g_environ_setenv(env, "MANAGER_MAX_VMS", "2000", TRUE);
    env = g_environ_setenv(env, "MANAGER_QEMU_HOST_FWD_RANGE", "20000-29999", TRUE);
    env = g_environ_setenv(env, "MANAGER_LOG_LEVEL", "error", TRUE);
    /* the 16 clients all come from 127.0.0.1: one client address to the per-client bound */
    env = g_environ_setenv(env, "MANAGER_HTTP_MAX_CONNECTIONS_PER_CLIENT", "4096", TRUE);
    env = g_environ_setenv(env, "MANAGER_HTTP_MAX_CONNECTIONS", "4096", TRUE);
    /* the build's manager renders from this checkout's templates */
    env = g_environ_setenv(env, "COVIRT_TEMPLATE_DIR", COVIRT_SOURCE_DIR "/domain-templates", FALSE);
    return env;
}

static GSubprocess *
start_manager(const char *exe, const char *uri, char **url)
{
    g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    g_auto(GStrv) env = bench_env();
    g_autoptr(GError) error = NULL;
    g_autoptr(GDataInputStream) out = NULL;
    g_autofree char *line = NULL;
    GSubprocess *p;

    if (uri)
        env = g_environ_setenv(env, "MANAGER_LIBVIRT_URI", uri, TRUE);
    g_subprocess_launcher_set_environ(l, env);
    g_subprocess_launcher_set_child_setup(l, die_with_parent, NULL, NULL);
    p = g_subprocess_launcher_spawn(l, &error, exe, NULL);
    if (!p) {
        g_printerr("bench-manager: %s\n", error->message);
        exit(1);
    }
    out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(p));
    line = g_data_input_stream_read_line_utf8(out, NULL, NULL, NULL);
    if (!line || !g_str_has_prefix(line, "listening on ")) {
        g_printerr("bench-manager: the manager did not start\n");
        exit(1);
    }
    *url = g_strdup(line + strlen("listening on "));
    return p;
}

static guint
call(SoupSession *s, const char *method, const char *url, const char *body, char **id)
{
    g_autoptr(SoupMessage) msg = soup_message_new(method, url);
    g_autoptr(GBytes) answer = NULL;

    /* libsoup opens a new connection for every POST (a non-idempotent request is never sent on
     * a kept-alive one); curl, Go's and Python's clients reuse it, and so does this client */
    soup_message_add_flags(msg, SOUP_MESSAGE_IDEMPOTENT);

    if (body) {
        g_autoptr(GBytes) b = g_bytes_new_static(body, strlen(body));

        soup_message_set_request_body_from_bytes(msg, "application/json", b);
    }
    answer = soup_session_send_and_read(s, msg, NULL, NULL);
    if (answer && soup_message_get_status(msg) >= 500 && strcmp(method, "GET") != 0)
        g_printerr("bench-manager: %s %s: %.*s\n", method, url, (int)g_bytes_get_size(answer),
                   (const char *)g_bytes_get_data(answer, NULL));
    if (id && answer) {
        g_autoptr(JsonNode) n = cv_json_parse(g_bytes_get_data(answer, NULL), (gssize)g_bytes_get_size(answer), NULL);

        *id = n && JSON_NODE_HOLDS_OBJECT(n) ?
            g_strdup(json_object_get_string_member_with_default(json_node_get_object(n), "id", "")) : NULL;
    }
    return soup_message_get_status(msg);
}

static void
wait_ready(SoupSession *s, const char *url)
{
    g_autofree char *health = g_strconcat(url, "/health", NULL);

    for (int i = 0; i < 200; i++) {
        if (call(s, "GET", health, NULL, NULL) == 200)
            return;
        g_usleep(20000);
    }
    g_printerr("bench-manager: libvirt never available\n");
    exit(1);
}

static int
cmp_double(gconstpointer a, gconstpointer b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double
median(GArray *a)
{
    g_array_sort(a, cmp_double);
    return a->len ? g_array_index(a, double, a->len / 2) : 0;
}

static char *
spec_json(guint i, const char *tag)
{
    return g_strdup_printf("{\"name\":\"bench-%s-%u\",\"memory\":\"256M\",\"vcpus\":1}", tag, i);
}

/* The libvirt calls the manager makes for one CVM's life, without the manager: render the
 * XML with the record the manager writes into the metadata, check the name, define, start,
 * read the state, write the state into the metadata, read the live XML (the manager looks
 * for the control channel's socket in it); then, as the delete request does, find the domain
 * by name, destroy, undefine. */
static double
direct_cycle(virConnectPtr conn, const CvDefaults *d, unsigned long libver, guint i)
{
    g_autofree char *json = spec_json(i, "direct");
    g_autoptr(CvCvmSpec) spec = cv_cvm_spec_from_data(json, -1, d, NULL);
    g_autoptr(CvMgrCvm) cvm = cv_mgr_cvm_new();
    g_autoptr(JsonNode) applied = NULL;
    g_autofree char *meta = NULL, *meta_running = NULL;
    CvRenderOptions opts = { .libvirt_version = libver };
    gint64 t0;
    g_autofree char *xml = NULL;
    g_autofree char *live = NULL;
    g_autoptr(CvDomainLive) parsed = NULL;
    virDomainPtr dom, probe;
    g_autoptr(GError) render_error = NULL;
    int state, reason;

    spec->host_port = 30000 + i % 30000;   /* rendered only: the test driver binds nothing */
    cvm->id = g_uuid_string_random();
    cvm->name = g_strdup(spec->name);
    cvm->platform = spec->platform;
    cvm->state = CV_MGR_STATE_CREATING;
    cvm->created_at = g_get_real_time() / G_USEC_PER_SEC;
    cvm->host_port = spec->host_port;
    cvm->agent_host = g_strdup(d->agent_bind_address);
    cvm->hal_version = g_strdup("unknown");
    applied = cv_cvm_spec_to_json(spec);
    cvm->spec_json = cv_json_to_string(applied, FALSE);
    meta = cv_mgr_cvm_to_metadata(cvm, TRUE);
    cvm->state = CV_MGR_STATE_RUNNING;
    meta_running = cv_mgr_cvm_to_metadata(cvm, FALSE);
    opts.metadata_xml = meta;

    t0 = g_get_monotonic_time();
    xml = cv_domain_render(spec, &opts, &render_error);
    if (!xml)
        g_printerr("bench-manager: %s\n", render_error->message);
    probe = virDomainLookupByName(conn, spec->name);
    if (probe)
        virDomainFree(probe);
    dom = xml ? virDomainDefineXML(conn, xml) : NULL;
    if (!dom || virDomainCreate(dom) < 0) {
        g_printerr("bench-manager: direct define/start failed: %s\n", xml ? virGetLastErrorMessage() : "render");
        exit(1);
    }
    virDomainGetState(dom, &state, &reason, 0);
    virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, meta_running, CV_XML_PREFIX, CV_XML_NAMESPACE,
                         VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG);
    /* the manager reads the control channel's socket from it */
    live = virDomainGetXMLDesc(dom, 0);
    parsed = cv_conf_domain_live_parse(live, -1, NULL);
    virDomainFree(dom);
    dom = virDomainLookupByName(conn, spec->name);
    virDomainDestroy(dom);
    virDomainUndefine(dom);
    virDomainFree(dom);
    return (g_get_monotonic_time() - t0) / 1e6;
}

static void
quiet(void *data, virErrorPtr e)
{
}

static guint64
status_kib(GSubprocess *proc, const char *field)
{
    g_autofree char *path = g_strdup_printf("/proc/%s/status", g_subprocess_get_identifier(proc));
    g_autofree char *text = NULL;
    const char *p;

    if (!g_file_get_contents(path, &text, NULL, NULL) || !(p = strstr(text, field)))
        return 0;
    return g_ascii_strtoull(p + strlen(field), NULL, 10);
}

/* A libvirtd of our own with only the test driver, on its own socket: the domains' memory is
 * then that daemon's and the manager's RSS is its own. NULL when there is no libvirtd. */
static GSubprocess *
private_libvirtd(const char *name, char **uri)
{
    g_autofree char *bin = g_find_program_in_path("libvirtd");
    g_autoptr(GSubprocessLauncher) l = NULL;
    g_autofree char *dir = g_build_filename(tmpdir, name, NULL);
    g_autofree char *conf = g_build_filename(dir, "libvirtd.conf", NULL);
    g_autofree char *pid = g_build_filename(dir, "libvirtd.pid", NULL);
    g_autofree char *empty = g_build_filename(dir, "no-drivers", NULL);
    g_autofree char *sock = g_build_filename(dir, "libvirt-sock", NULL);
    /* workers enough for 16 clients: the daemon's defaults (5 workers, 5 requests a client) would
     * measure its queue, not the manager */
    g_autofree char *text = g_strdup_printf("unix_sock_dir = \"%s\"\nlisten_tls = 0\nlisten_tcp = 0\n"
                                            "auth_unix_rw = \"none\"\nauth_unix_ro = \"none\"\n"
                                            "max_client_requests = 100\nmin_workers = 20\nmax_workers = 40\n"
                                            "prio_workers = 10\n", dir);
    GSubprocess *p;

    if (!bin)
        return NULL;
    g_mkdir_with_parents(empty, 0755);
    g_file_set_contents(conf, text, -1, NULL);
    l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_SILENCE);
    g_subprocess_launcher_setenv(l, "LIBVIRT_DRIVER_DIR", empty, TRUE);
    g_subprocess_launcher_set_child_setup(l, die_with_parent, NULL, NULL);
    p = g_subprocess_launcher_spawn(l, NULL, bin, "--config", conf, "--pid-file", pid, NULL);
    for (int i = 0; p && i < 100 && !g_file_test(sock, G_FILE_TEST_EXISTS); i++)
        g_usleep(50000);
    if (!p || !g_file_test(sock, G_FILE_TEST_EXISTS))
        return p;
    *uri = g_strdup_printf("test+unix:///default?socket=%s", sock);
    return p;
}

static void
hold_records(SoupSession *s, GSubprocess *mgr, const char *url, const char *label)
{
    g_autofree char *collection = g_strconcat(url, "/v1/cvms", NULL);
    guint64 rss0 = status_kib(mgr, "VmRSS:"), anon0 = status_kib(mgr, "RssAnon:");

    for (guint i = 0; i < (guint)n_hold; i++) {
        g_autofree char *body = spec_json(i, "hold");

        if (call(s, "POST", collection, body, NULL) != 201) {
            g_printerr("bench-manager: hold create %u failed\n", i);
            exit(1);
        }
    }
    printf("manager RSS (%s): %.1f MiB idle, %.1f MiB holding %u CVM records (goal <= 20 MiB); "
           "anonymous %.1f -> %.1f MiB\n", label, rss0 / 1024.0, status_kib(mgr, "VmRSS:") / 1024.0, (guint)n_hold,
           anon0 / 1024.0, status_kib(mgr, "RssAnon:") / 1024.0);
}

/* --quick: a few CVMs only, to see that it runs; [EXE]: the covirt-manager to measure */
static const char *
parse_args(int argc, char **argv)
{
    static gboolean quick;
    static const GOptionEntry entries[] = {
        { "quick", 'q', 0, G_OPTION_ARG_NONE, &quick, "20 create/delete cycles and 50 records held", NULL },
        { "cycles", 0, 0, G_OPTION_ARG_INT, &n_cycle, "create/delete cycles (500)", "N" },
        { "hold", 0, 0, G_OPTION_ARG_INT, &n_hold, "CVM records held for the RSS figure (1000)", "N" },
        { "clients", 0, 0, G_OPTION_ARG_INT, &n_clients, "concurrent clients (16)", "N" },
        { "concurrent", 0, 0, G_OPTION_ARG_INT, &n_concurrent, "CVMs the concurrent clients create and delete (400)",
          "N" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("[COVIRT-MANAGER] - the manager against direct libvirt calls");
    g_autoptr(GError) error = NULL;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc > 2 || n_cycle < 1 || n_hold < 1) {
        g_printerr("bench-manager: %s\n", error ? error->message : "usage: bench-manager [OPTION…] [COVIRT-MANAGER]");
        exit(2);
    }
    if (quick) {
        n_cycle = 20;
        n_hold = 50;
        n_concurrent = 64;
    }
    n_clients = CLAMP(n_clients, 1, 256);
    n_concurrent = MAX(n_concurrent, n_clients);
    return argc > 1 ? argv[1] : COVIRT_MANAGER_EXE;
}

/* one client thread: create and delete CVMs first.. through the API (url) or directly (uri) */
typedef struct {
    const char *url;
    const char *uri;
    const CvDefaults *d;
    unsigned long libver;
    guint first, count;
    gboolean failed;
} Client;

static gpointer
client_thread(gpointer p)
{
    Client *c = p;
    g_autoptr(SoupSession) s = NULL;
    g_autofree char *collection = NULL;
    virConnectPtr conn = NULL;

    if (!c->url) {
        conn = virConnectOpen(c->uri);
        for (guint i = c->first; conn && i < c->first + c->count; i++)
            direct_cycle(conn, c->d, c->libver, i);
        c->failed = conn == NULL;
        if (conn)
            virConnectClose(conn);
        return NULL;
    }
    s = soup_session_new_with_options("timeout", 120, NULL);
    collection = g_strconcat(c->url, "/v1/cvms", NULL);
    for (guint i = c->first; i < c->first + c->count && !c->failed; i++) {
        g_autofree char *body = spec_json(i, "conc");
        g_autofree char *id = NULL, *item = NULL;

        guint st = call(s, "POST", collection, body, &id);

        c->failed = st != 201 || !id;
        item = c->failed ? NULL : g_strconcat(collection, "/", id, NULL);
        if (!c->failed && (st = call(s, "DELETE", item, NULL, NULL)) != 204)
            c->failed = TRUE;
        if (c->failed)
            g_printerr("bench-manager: CVM %u: HTTP %u\n", i, st);
    }
    return NULL;
}

/* n_concurrent CVMs created and deleted by n_clients threads; CVMs a second */
static double
concurrent(const char *url, const char *uri, const CvDefaults *d, unsigned long libver, guint base)
{
    g_autofree Client *clients = g_new0(Client, n_clients);
    g_autofree GThread **threads = g_new0(GThread *, n_clients);
    guint per = (guint)(n_concurrent / n_clients);
    gint64 t0 = g_get_monotonic_time();

    for (guint i = 0; i < (guint)n_clients; i++) {
        clients[i] = (Client){ url, uri, d, libver, base + i * per, per, FALSE };
        threads[i] = g_thread_new("client", client_thread, &clients[i]);
    }
    for (guint i = 0; i < (guint)n_clients; i++) {
        g_thread_join(threads[i]);
        if (clients[i].failed) {
            g_printerr("bench-manager: a concurrent client failed (%s)\n", url ? "API" : "direct");
            exit(1);
        }
    }
    return per * n_clients / ((g_get_monotonic_time() - t0) / 1e6);
}

/* 1: create+delete one after the other through the API and directly, interleaved so that both see
 * the same load */
static void
sequential(SoupSession *s, const char *url, const char *uri, const CvDefaults *d, unsigned long libver)
{
    g_autoptr(GArray) api = g_array_new(FALSE, FALSE, sizeof(double));
    g_autoptr(GArray) direct = g_array_new(FALSE, FALSE, sizeof(double));
    g_autoptr(GArray) api_create = g_array_new(FALSE, FALSE, sizeof(double));
    g_autofree char *collection = g_strconcat(url, "/v1/cvms", NULL);
    virConnectPtr conn = virConnectOpen(uri);
    double m_api, m_direct;

    for (guint i = 0; conn && i < (guint)n_cycle; i++) {
        g_autofree char *body = spec_json(i, "api");
        g_autofree char *id = NULL, *item = NULL;
        gint64 t0 = g_get_monotonic_time();
        double dt;

        if (call(s, "POST", collection, body, &id) != 201 || !id) {
            g_printerr("bench-manager: create %u failed\n", i);
            exit(1);
        }
        dt = (g_get_monotonic_time() - t0) / 1e6;
        g_array_append_val(api_create, dt);
        item = g_strconcat(collection, "/", id, NULL);
        if (call(s, "DELETE", item, NULL, NULL) != 204) {
            g_printerr("bench-manager: delete %u failed\n", i);
            exit(1);
        }
        dt = (g_get_monotonic_time() - t0) / 1e6;
        g_array_append_val(api, dt);
        dt = direct_cycle(conn, d, libver, 100000 + i);
        g_array_append_val(direct, dt);
    }
    if (conn)
        virConnectClose(conn);
    m_api = median(api);
    m_direct = median(direct);
    printf("1. sequential create+delete, %d CVMs each way, test driver in a private libvirtd\n", n_cycle);
    printf("  through the API      median %8.3f ms per CVM (create alone %.3f ms)\n", m_api * 1e3,
           median(api_create) * 1e3);
    printf("  libvirt calls from C median %8.3f ms per CVM\n", m_direct * 1e3);
    printf("  ratio (API / direct)        %8.2f   (goal <= 1.5)\n", m_direct > 0 ? m_api / m_direct : 0);
}

static void
stop(GSubprocess *p)
{
    if (!p)
        return;
    g_subprocess_send_signal(p, SIGTERM);
    g_subprocess_wait(p, NULL, NULL);
}

int
main(int argc, char **argv)
{
    const char *exe = parse_args(argc, argv);
    g_autoptr(GError) error = NULL;
    g_autoptr(SoupSession) s = soup_session_new_with_options("timeout", 60, NULL);
    g_autoptr(GSubprocess) lvd_a = NULL, lvd_b = NULL, mgr = NULL, mgr2 = NULL;
    g_autoptr(CvDefaults) d = NULL;
    g_autofree char *url = NULL, *url2 = NULL, *uri_a = NULL, *uri_b = NULL, *both = NULL;
    g_auto(GStrv) env = NULL;
    virConnectPtr conn;
    unsigned long libver = 0;
    double t_api, t_direct, t_two;
    static const char *const leaf[] = { "vmlinuz", "initrd", "OVMF_CODE.fd", "OVMF_VARS.fd" };

    /* the direct calls render in this process, from this checkout's templates too */
    g_setenv("COVIRT_TEMPLATE_DIR", COVIRT_SOURCE_DIR "/domain-templates", FALSE);
    tmpdir = g_dir_make_tmp("covirt-bench-mgr-XXXXXX", &error);
    for (guint i = 0; i < 4; i++) {
        files[i] = g_build_filename(tmpdir, leaf[i], NULL);
        g_file_set_contents(files[i], "x", -1, NULL);
    }
    env = bench_env();
    d = cv_defaults_new((const char *const *)env, NULL, &error);
    lvd_a = private_libvirtd("a", &uri_a);
    lvd_b = private_libvirtd("b", &uri_b);
    if (!d || !uri_a || !uri_b) {
        g_printerr("bench-manager: %s\n", d ? "needs libvirtd (two private daemons)" : error->message);
        return 1;
    }
    virSetErrorFunc(NULL, quiet);
    conn = virConnectOpen(uri_a);
    virConnectGetLibVersion(conn, &libver);
    virConnectClose(conn);

    mgr = start_manager(exe, uri_a, &url);
    wait_ready(s, url);
    sequential(s, url, uri_a, d, libver);

    t_api = concurrent(url, NULL, d, libver, 200000);
    t_direct = concurrent(NULL, uri_a, d, libver, 300000);
    printf("2. %d concurrent clients, %d CVMs created and deleted, one libvirtd\n", n_clients, n_concurrent);
    printf("  through the API %8.1f CVMs/s, direct calls %8.1f CVMs/s, ratio %.2f (goal >= 0.7)\n", t_api, t_direct,
           t_direct > 0 ? t_api / t_direct : 0);

    both = g_strdup_printf("%s %s", uri_a, uri_b);
    mgr2 = start_manager(exe, both, &url2);
    wait_ready(s, url2);
    t_two = concurrent(url2, NULL, d, libver, 400000);
    printf("3. the same through a manager with two libvirtds: %8.1f CVMs/s, %.2f x one (goal >= 1.6)\n", t_two,
           t_api > 0 ? t_two / t_api : 0);
    stop(mgr);
    printf("4. ");
    hold_records(s, mgr2, url2, "two private libvirtds, the manager alone");
    stop(mgr2);
    stop(lvd_a);
    stop(lvd_b);
    cv_file_remove_tree(tmpdir);
    for (guint i = 0; i < 4; i++)
        g_free(files[i]);
    return 0;
}
