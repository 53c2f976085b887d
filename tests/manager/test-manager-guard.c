/* Who may talk to the manager, and how much (issue 15): JSON bodies only, the Host header, bearer
 * tokens, refusing an open API off loopback, the TLS key, connection limits and timeouts, accept
 * surviving EMFILE. Each case failed on the manager before these checks. */
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <glib/gstdio.h>
#include <sys/un.h>
#include "manager-harness.h"
#include "frame.h"

#define SPEC "{\"name\":\"covirt-test-guard\",\"memory\":\"256M\"}"

static guint16
port_of(CvTestManager *m)
{
    return (guint16)atoi(strrchr(m->url, ':') + 1);
}

/* a TCP connection to the manager from `source` (a loopback address); -1 when refused */
static int
connect_from(CvTestManager *m, const char *source)
{
    struct sockaddr_in src = { .sin_family = AF_INET }, dst = { .sin_family = AF_INET };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    inet_pton(AF_INET, source, &src.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    dst.sin_port = htons(port_of(m));
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 || connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* reads until EOF or timeout_ms; returns what came, NULL on timeout (the connection still open) */
static char *
read_until_close(int fd, int timeout_ms)
{
    GString *got = g_string_new(NULL);
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        int left = (int)((end - g_get_monotonic_time()) / 1000);
        char buf[4096];
        ssize_t n;

        if (left <= 0 || poll(&p, 1, left) <= 0) {
            g_string_free(got, TRUE);
            return NULL;
        }
        n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            return g_string_free(got, FALSE);
        g_string_append_len(got, buf, n);
    }
}

/* one request (len bytes: it may hold a NUL) on a fresh connection; the whole answer */
static char *
raw_len(CvTestManager *m, const char *source, const char *request, gsize len)
{
    int fd = connect_from(m, source);
    char *answer;

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, request, len), ==, (ssize_t)len);
    answer = read_until_close(fd, 20000);
    close(fd);
    return answer;
}

static char *
raw(CvTestManager *m, const char *source, const char *request)
{
    return raw_len(m, source, request, strlen(request));
}

static char *
post(CvTestManager *m, const char *host, const char *type, const char *extra_headers, const char *body)
{
    g_autofree char *req = g_strdup_printf("POST /v1/cvms HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n"
                                           "Content-Length: %zu\r\nConnection: close\r\n%s\r\n%s",
                                           host, type, strlen(body), extra_headers ? extra_headers : "", body);

    return raw(m, "127.0.0.1", req);
}

static char *
get(CvTestManager *m, const char *source, const char *host, const char *path, const char *extra_headers)
{
    g_autofree char *req = g_strdup_printf("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s\r\n", path, host,
                                           extra_headers ? extra_headers : "");

    return raw(m, source, req);
}

static void
assert_status(const char *answer, guint status, const char *code)
{
    g_autofree char *line = g_strdup_printf("HTTP/1.1 %u ", status);
    g_autofree char *member = code ? g_strdup_printf("\"code\":\"%s\"", code) : NULL;

    if (!answer || !g_str_has_prefix(answer, line))
        g_test_message("wanted %u, got: %s", status, answer ? answer : "(nothing)");
    g_assert_nonnull(answer);
    g_assert_true(g_str_has_prefix(answer, line));
    if (status == 503)
        g_assert_nonnull(strstr(answer, "\r\nRetry-After: 5\r\n"));
    if (code) {
        g_assert_nonnull(strstr(answer, "application/json"));
        g_assert_nonnull(strstr(answer, member));
    }
}

static void
test_content_type(void)
{
    g_autoptr(CvTestManager) m = cv_test_manager_start(NULL);
    g_autofree char *host = g_strdup_printf("127.0.0.1:%u", port_of(m));
    /* what a web page can send cross-origin without a preflight */
    g_autofree char *a1 = post(m, host, "text/plain", NULL, SPEC);
    g_autofree char *a2 = post(m, host, "application/x-www-form-urlencoded", NULL, SPEC);
    g_autofree char *a3 = post(m, host, "multipart/form-data; boundary=x", NULL, SPEC);
    g_autofree char *a4 = NULL;

    assert_status(a1, 415, "unsupported_media_type");
    assert_status(a2, 415, "unsupported_media_type");
    assert_status(a3, 415, "unsupported_media_type");
    g_assert_cmpuint(cv_test_count(m), ==, 0);
    a4 = post(m, host, "application/json; charset=utf-8", NULL, SPEC);
    assert_status(a4, 201, NULL);
    g_assert_cmpuint(cv_test_count(m), ==, 1);
}

static void
test_host(void)
{
    g_autoptr(CvTestManager) m = cv_test_manager_start(NULL);
    g_autofree char *ok1 = g_strdup_printf("127.0.0.1:%u", port_of(m));
    g_autofree char *ok2 = g_strdup_printf("localhost:%u", port_of(m));
    g_autofree char *evil = g_strdup_printf("rebind.example:%u", port_of(m));
    g_autofree char *a1 = get(m, "127.0.0.1", ok1, "/v1/cvms", NULL);
    g_autofree char *a2 = get(m, "127.0.0.1", ok2, "/v1/cvms", NULL);
    g_autofree char *a3 = get(m, "127.0.0.1", evil, "/v1/cvms", NULL);
    g_autofree char *a4 = post(m, evil, "application/json", NULL, SPEC);

    assert_status(a1, 200, NULL);
    assert_status(a2, 200, NULL);
    /* a name the attacker's DNS points at 127.0.0.1 */
    assert_status(a3, 421, "misdirected");
    assert_status(a4, 421, "misdirected");
    g_assert_cmpuint(cv_test_count(m), ==, 0);
}

static void
test_allowed_hosts(void)
{
    static const char *const env[] = { "MANAGER_HTTP_ALLOWED_HOSTS=manager.example, other.example", NULL };
    g_autoptr(CvTestManager) m = cv_test_manager_start_full(env, FALSE);
    g_autofree char *a1 = get(m, "127.0.0.1", "Manager.Example:7003", "/health", NULL);
    g_autofree char *a2 = get(m, "127.0.0.1", "127.0.0.1", "/health", NULL);

    g_assert_true(g_str_has_prefix(a1, "HTTP/1.1 200 ") || g_str_has_prefix(a1, "HTTP/1.1 503 "));
    assert_status(a2, 421, "misdirected");
}

static char *
write_tokens(const char *dir)
{
    char *path = g_build_filename(dir, "tokens", NULL);

    g_assert_true(g_file_set_contents(path, "# operators\nfirst-token-0123456789\n\n  second-token-abcdef  \n", -1,
                                      NULL));
    g_chmod(path, 0600);
    return path;
}

static int
cli(CvTestManager *m, const char *const *args)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    int status;

    g_ptr_array_add(argv, (gpointer)COVIRT_CLI_EXE);
    g_ptr_array_add(argv, (gpointer) "cvm");
    g_ptr_array_add(argv, (gpointer) "--manager");
    g_ptr_array_add(argv, m->url);
    for (const char *const *a = args; *a; a++)
        g_ptr_array_add(argv, (gpointer)*a);
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                               NULL, NULL, NULL, NULL, &status, NULL));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
test_token(void)
{
    g_autofree char *dir = g_dir_make_tmp("covirt-token-XXXXXX", NULL);
    g_autofree char *tokens = write_tokens(dir);
    g_autofree char *e1 = g_strconcat("MANAGER_HTTP_TOKEN_FILE=", tokens, NULL);
    const char *const env[] = { e1, NULL };
    g_autoptr(CvTestManager) m = cv_test_manager_start_full(env, FALSE);
    g_autofree char *host = g_strdup_printf("127.0.0.1:%u", port_of(m));
    g_autofree char *a1 = get(m, "127.0.0.1", host, "/v1/cvms", NULL);
    g_autofree char *a2 = get(m, "127.0.0.1", host, "/v1/cvms", "Authorization: Bearer first-token-012345678\r\n");
    g_autofree char *a3 = get(m, "127.0.0.1", host, "/v1/cvms", "Authorization: Basic Zmlyc3Q6dG9rZW4=\r\n");
    g_autofree char *a4 = get(m, "127.0.0.1", host, "/v1/cvms", "Authorization: Bearer first-token-0123456789\r\n");
    g_autofree char *a5 = get(m, "127.0.0.1", host, "/v1/cvms", "Authorization: Bearer second-token-abcdef\r\n");
    g_autofree char *a6 = post(m, host, "application/json", NULL, SPEC);
    g_autofree char *a7 = get(m, "127.0.0.1", host, "/metrics", NULL);
    const char *list[] = { "list", NULL };
    g_autofree char *arg = g_strconcat("--token-file=", tokens, NULL);
    const char *list_tok[] = { "list", arg, NULL };

    assert_status(a1, 401, "unauthorized");
    g_assert_nonnull(strstr(a1, "WWW-Authenticate: Bearer"));
    assert_status(a2, 401, "unauthorized");
    assert_status(a3, 401, "unauthorized");
    assert_status(a4, 200, NULL);
    assert_status(a5, 200, NULL);
    assert_status(a6, 401, "unauthorized");
    assert_status(a7, 401, "unauthorized");
    /* the CLI: refused without the token (exit 6), served with it */
    g_assert_cmpint(cli(m, list), ==, 6);
    g_assert_cmpint(cli(m, list_tok), ==, 0);
    g_unlink(tokens);
    g_rmdir(dir);
}

static void
test_exposure(void)
{
    static const char *const open_env[] = { "MANAGER_HTTP_HOST=0.0.0.0", NULL };
    g_autofree char *err = NULL;
    g_autofree char *dir = g_dir_make_tmp("covirt-token-XXXXXX", NULL);
    g_autofree char *tokens = write_tokens(dir);
    g_autofree char *e1 = g_strconcat("MANAGER_HTTP_TOKEN_FILE=", tokens, NULL);
    const char *const env[] = { "MANAGER_HTTP_HOST=0.0.0.0", e1, NULL };

    /* every address, no authentication: refused, and says how to fix it */
    g_assert_cmpint(cv_test_manager_refuses(open_env, &err), ==, 1);
    g_assert_nonnull(strstr(err, "MANAGER_HTTP_TOKEN_FILE"));
    g_assert_nonnull(strstr(err, "not a loopback address"));
    /* with tokens it serves */
    {
        g_autoptr(CvTestManager) m = cv_test_manager_start_full(env, FALSE);

        g_assert_true(g_str_has_prefix(m->url, "http://0.0.0.0:"));
    }
    g_unlink(tokens);
    g_rmdir(dir);
}

/* two self-signed certificates for 127.0.0.1 with their keys: DIR/a.pem a.key, b.pem b.key */
static char *
make_pairs(void)
{
    char *dir = g_dir_make_tmp("covirt-keys-XXXXXX", NULL);
    g_autofree char *script = g_strdup_printf(
        "set -e; cd '%s'; K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';"
        "openssl req -x509 $K -keyout a.key -out a.pem -days 1 -subj /CN=127.0.0.1;"
        "openssl req -x509 $K -keyout b.key -out b.pem -days 1 -subj /CN=127.0.0.1", dir);
    const char *argv[] = { "sh", "-c", script, NULL };
    int status;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                               NULL, NULL, &status, NULL));
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    return dir;
}

static void
remove_pairs(char *dir)
{
    for (const char *const *f = (const char *const[]){ "a.key", "a.pem", "b.key", "b.pem", NULL }; *f; f++) {
        g_autofree char *p = g_build_filename(dir, *f, NULL);

        g_unlink(p);
    }
    g_rmdir(dir);
    g_free(dir);
}

static void
test_key_mismatch(void)
{
    char *dir = make_pairs();
    g_autofree char *e1 = g_strdup_printf("MANAGER_HTTP_SERVER_CERT=%s/a.pem", dir);
    g_autofree char *e2 = g_strdup_printf("MANAGER_HTTP_SERVER_KEY=%s/b.key", dir);
    const char *const env[] = { e1, e2, NULL };
    g_autofree char *err = NULL;

    g_assert_cmpint(cv_test_manager_refuses(env, &err), ==, 1);
    g_assert_nonnull(strstr(err, "b.key"));
    g_assert_nonnull(strstr(err, "a.pem"));
    remove_pairs(dir);
}

/* what openssl s_client negotiates with the manager when it offers only `version` */
static char *
s_client(CvTestManager *m, const char *version)
{
    g_autofree char *script = g_strdup_printf("echo | openssl s_client -connect 127.0.0.1:%u -%s "
                                              "-cipher DEFAULT@SECLEVEL=0 2>&1", port_of(m), version);
    const char *argv[] = { "sh", "-c", script, NULL };
    char *out = NULL;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, NULL, NULL, NULL));
    return out;
}

static void
test_tls_version(void)
{
    char *dir = make_pairs();
    g_autofree char *e1 = g_strdup_printf("MANAGER_HTTP_SERVER_CERT=%s/a.pem", dir);
    g_autofree char *e2 = g_strdup_printf("MANAGER_HTTP_SERVER_KEY=%s/a.key", dir);
    const char *const env[] = { e1, e2, NULL };
    g_autoptr(CvTestManager) m = cv_test_manager_start_full(env, FALSE);
    g_autofree char *v10 = s_client(m, "tls1");
    g_autofree char *v11 = s_client(m, "tls1_1");
    g_autofree char *v12 = s_client(m, "tls1_2");

    g_assert_nonnull(strstr(v10, "Cipher is (NONE)"));
    g_assert_nonnull(strstr(v11, "Cipher is (NONE)"));
    g_assert_nonnull(strstr(v12, "New, TLSv1.2"));
    remove_pairs(dir);
}

/* the test itself holds more descriptors than the manager may */
static gboolean
raise_own_nofile(void)
{
    struct rlimit rl;

    g_assert_cmpint(getrlimit(RLIMIT_NOFILE, &rl), ==, 0);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur >= 2400)
        return TRUE;
    g_test_skip("needs a descriptor limit of 2400");
    return FALSE;
}

static GArray *
open_idle(CvTestManager *m, guint n)
{
    GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));

    for (guint i = 0; i < n; i++) {
        int fd = connect_from(m, "127.0.0.1");

        if (fd >= 0)
            g_array_append_val(fds, fd);
    }
    return fds;
}

static void
close_all(GArray *fds)
{
    for (guint i = 0; i < fds->len; i++)
        close(g_array_index(fds, int, i));
    g_array_unref(fds);
}

/* over 1,024 idle connections from one client under a 1,024-descriptor limit: the client is held to
 * its share, another client is served at once */
static void
test_per_client_limit(void)
{
    static const char *const env[] = { "COVIRT_TEST_NOFILE=1024", NULL };
    g_autoptr(CvTestManager) m = NULL;
    g_autofree char *host = NULL;
    g_autofree char *a1 = NULL, *a2 = NULL;
    GArray *fds;

    if (!raise_own_nofile())
        return;
    m = cv_test_manager_start(env);
    host = g_strdup_printf("127.0.0.1:%u", port_of(m));
    fds = open_idle(m, 1100);
    g_usleep(500000);
    a1 = get(m, "127.0.0.2", host, "/health", NULL);
    assert_status(a1, 200, NULL);
    /* the busy client itself is told why */
    a2 = get(m, "127.0.0.1", host, "/health", NULL);
    assert_status(a2, 503, "unavailable");
    close_all(fds);
}

/* the server-wide bound: a new client beyond it is refused, and served once connections end */
static void
test_server_limit(void)
{
    static const char *const env[] = { "MANAGER_HTTP_MAX_CONNECTIONS=4", NULL };
    g_autoptr(CvTestManager) m = cv_test_manager_start_full(env, FALSE);
    g_autofree char *host = g_strdup_printf("127.0.0.1:%u", port_of(m));
    g_autofree char *a1 = NULL, *a2 = NULL;
    GArray *fds = open_idle(m, 4);

    g_usleep(300000);
    a1 = get(m, "127.0.0.2", host, "/v1/cvms", NULL);
    assert_status(a1, 503, "unavailable");
    close_all(fds);
    g_usleep(300000);
    a2 = get(m, "127.0.0.2", host, "/v1/cvms", NULL);
    assert_status(a2, 200, NULL);
}

/* connections that ended count no more: 40 in turn from one client under a bound of 4 at once (a record
 * that outlived its connection would lock the client out after the fourth) */
static void
test_sequential(void)
{
    static const char *const env[] = { "MANAGER_HTTP_MAX_CONNECTIONS_PER_CLIENT=4", "MANAGER_HTTP_MAX_CONNECTIONS=8",
                                       NULL };
    g_autoptr(CvTestManager) m = cv_test_manager_start_full(env, FALSE);
    g_autofree char *host = g_strdup_printf("127.0.0.1:%u", port_of(m));

    for (guint i = 0; i < 40; i++) {
        g_autofree char *a = get(m, "127.0.0.1", host, "/v1/cvms", NULL);


        assert_status(a, 200, NULL);
    }
}

/* the same with the limits raised, so that accept runs out of descriptors: it comes back once the
 * idle connections time out */
static void
test_emfile(void)
{
    static const char *const env[] = { "COVIRT_TEST_NOFILE=1024", "MANAGER_HTTP_MAX_CONNECTIONS=5000",
                                       "MANAGER_HTTP_MAX_CONNECTIONS_PER_CLIENT=5000", "MANAGER_HTTP_IDLE_TIMEOUT=3",
                                       NULL };
    g_autoptr(CvTestManager) m = NULL;
    g_autofree char *host = NULL;
    g_autofree char *a1 = NULL;
    GArray *fds;

    if (!raise_own_nofile())
        return;
    m = cv_test_manager_start(env);
    host = g_strdup_printf("127.0.0.1:%u", port_of(m));
    fds = open_idle(m, 1100);
    g_usleep(1000000);
    a1 = get(m, "127.0.0.1", host, "/health", NULL);
    assert_status(a1, 200, NULL);
    close_all(fds);
}

/* a body shorter than its Content-Length, and a connection that never sends a request */
static void
test_timeouts(void)
{
    static const char *const env[] = { "MANAGER_HTTP_BODY_TIMEOUT=2", "MANAGER_HTTP_IDLE_TIMEOUT=2", NULL };
    g_autoptr(CvTestManager) m = cv_test_manager_start(env);
    g_autofree char *req = g_strdup_printf("POST /v1/cvms HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                                           "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"name\":",
                                           port_of(m));
    int fd = connect_from(m, "127.0.0.1");
    int idle = connect_from(m, "127.0.0.1");
    gint64 start = g_get_monotonic_time();
    g_autofree char *got = NULL, *got_idle = NULL;

    g_assert_cmpint(write(fd, req, strlen(req)), ==, (ssize_t)strlen(req));
    got = read_until_close(fd, 10000);
    g_assert_nonnull(got);   /* closed, not left open */
    got_idle = read_until_close(idle, 10000);
    g_assert_nonnull(got_idle);
    g_assert_cmpint(g_get_monotonic_time() - start, <, 8 * G_USEC_PER_SEC);
    close(fd);
    close(idle);
    g_assert_cmpuint(cv_test_count(m), ==, 0);
}

/* the vtpm template with the control channel's socket at `sock`, where the test plays the guest */
static char *
template_with_channel(const char *dir, const char *sock)
{
    g_autofree char *text = NULL;
    g_autofree char *src = g_build_filename(COVIRT_SOURCE_DIR, "domain-templates", "vtpm.xml", NULL);
    g_autofree char *dst = g_build_filename(dir, "vtpm.xml", NULL);
    g_autofree char *with = g_strdup_printf("<source mode='bind' path='%s'/>", sock);
    g_auto(GStrv) parts = NULL;
    g_autofree char *joined = NULL;

    g_assert_true(g_file_get_contents(src, &text, NULL, NULL));
    parts = g_strsplit(text, "<source mode='bind'/>", -1);
    g_assert_cmpuint(g_strv_length(parts), ==, 2);
    joined = g_strjoinv(with, parts);
    g_assert_true(g_file_set_contents(dst, joined, -1, NULL));
    return g_strconcat("MANAGER_TEMPLATE_DIR=", dir, NULL);
}

static int
listen_unix(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(fd, 1), ==, 0);
    return fd;
}

static gsize
rss_kib(CvTestManager *m)
{
    g_autofree char *path = g_strdup_printf("/proc/%s/status", g_subprocess_get_identifier(m->proc));
    g_autofree char *text = NULL;
    const char *line;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    line = strstr(text, "VmRSS:");
    g_assert_nonnull(line);
    return g_ascii_strtoull(line + 6, NULL, 10);
}

/* a guest that sends log lines as fast as the manager takes them, to a CVM whose event stream has a
 * client that never reads: the client is dropped and the manager's memory stays bounded */
static void
test_slow_stream(void)
{
    g_autofree char *dir = g_dir_make_tmp("covirt-sse-XXXXXX", NULL);
    g_autofree char *sock = g_build_filename(dir, "agent.sock", NULL);
    g_autofree char *tmpl = template_with_channel(dir, sock);
    /* ASan keeps freed memory in quarantine (256 MiB): that would be counted as the manager's */
    g_autofree char *asan = g_strdup_printf("ASAN_OPTIONS=%s%squarantine_size_mb=0",
                                            g_getenv("ASAN_OPTIONS") ? g_getenv("ASAN_OPTIONS") : "",
                                            g_getenv("ASAN_OPTIONS") ? ":" : "");
    const char *const env[] = { tmpl, asan, NULL };
    int lfd = listen_unix(sock);
    g_autoptr(CvTestManager) m = cv_test_manager_start(env);
    g_autoptr(JsonNode) cvm = cv_test_create(m, "{\"name\":\"covirt-test-sse\",\"memory\":\"256M\"}");
    const char *id = json_object_get_string_member(json_node_get_object(cvm), "id");
    g_autofree char *req = g_strdup_printf("GET /v1/cvms/%s/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", id);
    g_autofree char *line = g_malloc(4000);
    int small = 4096, reader, guest;
    gsize before;
    g_autofree char *rest = NULL;

    reader = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(reader, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    {
        struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(port_of(m)) };

        inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
        g_assert_cmpint(connect(reader, (struct sockaddr *)&dst, sizeof(dst)), ==, 0);
    }
    g_assert_cmpint(write(reader, req, strlen(req)), ==, (ssize_t)strlen(req));
    guest = accept(lfd, NULL, NULL);   /* the manager connects to the channel of the running CVM */
    g_assert_cmpint(guest, >=, 0);
    before = rss_kib(m);
    memset(line, 'x', 3999);
    line[3999] = '\0';
    for (guint i = 0; i < 30000; i++) {
        Covirt__Control__Frame f = COVIRT__CONTROL__FRAME__INIT;
        Covirt__Control__Log l = COVIRT__CONTROL__LOG__INIT;
        g_autoptr(GError) error = NULL;

        l.source = (char *)"algorithm-stdout";
        l.level = (char *)"info";
        l.line = line;
        f.body_case = COVIRT__CONTROL__FRAME__BODY_LOG;
        f.log = &l;
        g_assert_true(cv_frame_write_fd(guest, &f, &error));
    }
    /* ~120 MB of events went to a client that read none of them */
    g_usleep(500000);
    g_test_message("manager RSS %zu KiB before, %zu KiB after", before, rss_kib(m));
    g_assert_cmpuint(rss_kib(m), <, before + 48 * 1024);
    /* and its connection ends */
    rest = read_until_close(reader, 15000);
    g_assert_nonnull(rest);
    close(reader);
    close(guest);
    close(lfd);
    cv_test_manager_free(g_steal_pointer(&m));
    g_unlink(sock);
    {
        g_autofree char *t = g_build_filename(dir, "vtpm.xml", NULL);

        g_unlink(t);
    }
    g_rmdir(dir);
}

/* requests libsoup refuses before the manager sees them: the answer still carries a JSON error */
static void
test_malformed(void)
{
#define R(literal) literal, sizeof(literal) - 1
    static const struct {
        const char *request;
        gsize len;          /* it may hold a NUL */
        const char *status; /* the status line's start */
    } cases[] = {
        { R("GET /v1/cvms\0/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), " 400 " },
        { R("POST /v1/cvms HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n"), " 501 " },
        { R("POST /v1/cvms HTTP/1.0\r\nTransfer-Encoding: zstd\r\n\r\n"), " 501 " },
        { R("GET /v1/cvms HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n"), " 505 " },
        { R("GET /v1/cvms HTTP/1.x\r\nHost: 127.0.0.1\r\n\r\n"), " 400 " },
        { R("hello there\r\n\r\n"), " 400 " },
        { R("GET /v1/cvms HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\0b\r\n\r\n"), " 400 " },
        { R("GET /v1/cvms HTTP/1.1\r\nHost: a/b\r\n\r\n"), " 400 " },
    };
#undef R
    /* the slow unwinder finds libsoup's own leak (tests/lsan.supp) through its frames */
    g_autofree char *asan = g_strdup_printf("ASAN_OPTIONS=%s%sfast_unwind_on_malloc=0",
                                            g_getenv("ASAN_OPTIONS") ? g_getenv("ASAN_OPTIONS") : "",
                                            g_getenv("ASAN_OPTIONS") ? ":" : "");
    const char *const env[] = { asan, NULL };
    g_autoptr(CvTestManager) m = cv_test_manager_start(env);

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *answer = raw_len(m, "127.0.0.1", cases[i].request, cases[i].len);
        const char *body = answer ? strstr(answer, "\r\n\r\n") : NULL;
        g_autoptr(JsonNode) node = NULL;

        g_test_message("case %zu: %s", i, answer ? answer : "(nothing)");
        g_assert_nonnull(body);
        g_assert_true(g_str_has_prefix(answer, "HTTP/1."));
        g_assert_nonnull(strstr(answer, cases[i].status));
        g_assert_nonnull(g_strstr_len(answer, body - answer, "Content-Type: application/json"));
        node = json_from_string(body + 4, NULL);
        g_assert_nonnull(node);
        g_assert_nonnull(cv_test_error_code(node));
    }
    /* and the manager goes on serving */
    g_assert_cmpuint(cv_test_count(m), ==, 0);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/manager/guard/content-type", test_content_type);
    g_test_add_func("/manager/guard/host", test_host);
    g_test_add_func("/manager/guard/allowed-hosts", test_allowed_hosts);
    g_test_add_func("/manager/guard/token", test_token);
    g_test_add_func("/manager/guard/exposure", test_exposure);
    g_test_add_func("/manager/guard/key-mismatch", test_key_mismatch);
    g_test_add_func("/manager/guard/tls-version", test_tls_version);
    g_test_add_func("/manager/guard/malformed", test_malformed);
    g_test_add_func("/manager/limits/per-client", test_per_client_limit);
    g_test_add_func("/manager/limits/server", test_server_limit);
    g_test_add_func("/manager/limits/sequential", test_sequential);
    g_test_add_func("/manager/limits/emfile", test_emfile);
    g_test_add_func("/manager/limits/timeouts", test_timeouts);
    g_test_add_func("/manager/limits/slow-stream", test_slow_stream);
    return g_test_run();
}
