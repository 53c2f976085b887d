/* bench-agent: covirt-agent on the host receives a dataset (1 GiB by default) over HTTPS on
 * loopback; in the same run, `openssl speed -evp sha3-256` and an `openssl s_server`/`s_client`
 * transfer of the same bytes. Prints the agent's throughput, the ratio to the slower baseline
 * (goal >= 0.7) and the agent's peak RSS (VmHWM, goal < 16 MiB). Figures only; exits 0 unless
 * something failed to run.
 *   bench-agent AGENT_BIN [SIZE]     work dir under $BENCH_DIR or /dev/shm (RAM, as in the CVM) */
#include "agent-client.h"
#include "cv-error.h"
#include "cv-sign.h"
#include "cv-util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <gio/gio.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

static char *
write_key(const char *dir, const char *name, char **pub)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    BIO *bio = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n;
    char *path = g_build_filename(dir, name, NULL);

    PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL);
    n = BIO_get_mem_data(bio, &p);
    cv_write_file(path, p, n, 0600, NULL);
    BIO_free(bio);
    *pub = cv_sign_pubkey_to_pem(k, NULL);
    EVP_PKEY_free(k);
    return path;
}

static gboolean
make_data(const char *path, guint64 size, GError **error)
{
    g_autofree guint8 *buf = g_malloc(1 << 20);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "%s: %s", path, g_strerror(errno));
        return FALSE;
    }
    for (guint64 done = 0; done < size; done += 1 << 20) {
        gsize n = MIN((guint64)1 << 20, size - done);
        RAND_bytes(buf, n);
        if (write(fd, buf, n) != (ssize_t)n) {
            close(fd);
            g_set_error(error, CV_ERROR, CV_ERROR_IO, "%s: %s", path, g_strerror(errno));
            return FALSE;
        }
    }
    close(fd);
    return TRUE;
}

static void
die_with_parent(gpointer data)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* user + system CPU seconds of a process */
static double
cpu_seconds(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;
    g_auto(GStrv) f = NULL;
    const char *p;

    if (!g_file_get_contents(path, &text, NULL, NULL) || !(p = strrchr(text, ')')))
        return 0;
    f = g_strsplit(p + 2, " ", -1);
    if (g_strv_length(f) < 13)
        return 0;
    return (g_ascii_strtod(f[11], NULL) + g_ascii_strtod(f[12], NULL)) / sysconf(_SC_CLK_TCK);
}

static guint64
status_kib(GPid pid, const char *field)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *text = NULL;
    const char *p;

    if (!g_file_get_contents(path, &text, NULL, NULL) || !(p = strstr(text, field)))
        return 0;
    return g_ascii_strtoull(p + strlen(field), NULL, 10);
}

static guint64
vm_hwm_kib(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *text = NULL;
    const char *p;

    if (!g_file_get_contents(path, &text, NULL, NULL) || !(p = strstr(text, "VmHWM:")))
        return 0;
    return g_ascii_strtoull(p + 6, NULL, 10);
}

/* openssl speed -evp sha3-256 -mr: "+F:k:name:v1:v2..." in bytes per second; takes the largest block size. */
static double
openssl_sha3_speed(void)
{
    g_autofree char *out = NULL;
    const char *argv[] = { "openssl", "speed", "-evp", "sha3-256", "-seconds", "3", "-bytes", "65536", "-mr", NULL };
    g_auto(GStrv) lines = NULL;
    double best = 0;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                      NULL, NULL, NULL))
        return 0;
    lines = g_strsplit(out, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (g_str_has_prefix(*l, "+F:")) {
            g_auto(GStrv) f = g_strsplit(*l, ":", -1);
            for (guint i = 3; f[i]; i++)
                best = MAX(best, g_ascii_strtod(f[i], NULL));
        }
    }
    return best;
}

static guint
free_port(void)
{
    g_autoptr(GSocket) s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) a = g_inet_socket_address_new(lo, 0);
    g_autoptr(GSocketAddress) bound = NULL;

    if (!g_socket_bind(s, a, TRUE, NULL))
        return 0;
    bound = g_socket_get_local_address(s, NULL);
    return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

/* `openssl s_server -WWW` serves the same file, `openssl s_client` fetches it over TLS on loopback;
 * seconds from the client's start until the last byte has arrived. (s_client does not send a
 * regular file given as stdin, so the bytes go the other way; TLS costs the same.) */
static double
openssl_tls_transfer(const char *dir, const char *file, guint64 size)
{
    g_autofree char *key = g_build_filename(dir, "tls.key", NULL);
    g_autofree char *crt = g_build_filename(dir, "tls.crt", NULL);
    g_autofree char *accept = NULL;
    g_autofree char *name = g_path_get_basename(file);
    g_autofree char *request = NULL;
    g_autoptr(GSubprocess) server = NULL;
    g_autoptr(GSubprocess) client = NULL;
    g_autoptr(GSubprocessLauncher) sl = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_SILENCE |
                                                                  G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
    g_autoptr(GSubprocessLauncher) cl = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                                                  G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                                  G_SUBPROCESS_FLAGS_STDERR_SILENCE);
    const char *req[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                          "-nodes", "-keyout", key, "-out", crt, "-subj", "/CN=bench", "-days", "1", NULL };
    g_autofree guint8 *buf = g_malloc(1 << 20);
    guint64 got = 0;
    gssize n;
    gint64 t0;
    guint p = free_port();

    if (!g_spawn_sync(NULL, (char **)req, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                      G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL, NULL, NULL) || !p)
        return 0;
    accept = g_strdup_printf("127.0.0.1:%u", p);
    g_subprocess_launcher_set_child_setup(sl, die_with_parent, NULL, NULL);
    g_subprocess_launcher_set_cwd(sl, dir);
    server = g_subprocess_launcher_spawn(sl, NULL, "openssl", "s_server", "-accept", accept, "-cert", crt, "-key", key,
                                         "-naccept", "1", "-WWW", "-quiet", NULL);
    if (!server)
        return 0;
    g_usleep(500000);
    g_subprocess_launcher_set_child_setup(cl, die_with_parent, NULL, NULL);
    t0 = g_get_monotonic_time();
    client = g_subprocess_launcher_spawn(cl, NULL, "openssl", "s_client", "-connect", accept, "-quiet", NULL);
    if (!client)
        return 0;
    request = g_strdup_printf("GET /%s HTTP/1.0\r\n\r\n", name);
    g_output_stream_write_all(g_subprocess_get_stdin_pipe(client), request, strlen(request), NULL, NULL, NULL);
    /* the HTTP header comes first: count until the whole body is in */
    while ((n = g_input_stream_read(g_subprocess_get_stdout_pipe(client), buf, 1 << 20, NULL, NULL)) > 0) {
        got += n;
        if (got >= size)
            break;
    }
    t0 = g_get_monotonic_time() - t0;
    g_subprocess_force_exit(client);
    g_subprocess_force_exit(server);
    g_subprocess_wait(client, NULL, NULL);
    g_subprocess_wait(server, NULL, NULL);
    if (got < size) {
        fprintf(stderr, "bench-agent: s_client received %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes\n", got,
                size);
        return 0;
    }
    return t0 / 1e6;
}

int
main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    guint64 size = 1ULL << 30;
    const char *base = g_getenv("BENCH_DIR") ? g_getenv("BENCH_DIR")
                       : g_file_test("/dev/shm", G_FILE_TEST_IS_DIR) ? "/dev/shm" : g_get_tmp_dir();
    g_autofree char *tmpl = g_build_filename(base, "covirt-bench-XXXXXX", NULL);
    char *dir;
    g_autofree char *algo_pub = NULL, *data_pub = NULL, *algo_key = NULL, *data_key = NULL;
    g_autofree char *data = NULL, *algo = NULL, *work = NULL, *port_file = NULL, *mf = NULL, *port = NULL, *url = NULL;
    g_autofree char *data_sha3 = NULL, *algo_sha3 = NULL, *mtext = NULL, *challenge = NULL, *sig = NULL;
    g_autoptr(GBytes) raw = NULL;
    g_autoptr(GSubprocess) agent = NULL;
    g_autoptr(GSubprocessLauncher) l = NULL;
    g_autoptr(CvAgentClient) ac = NULL, dc = NULL;
    g_autoptr(JsonNode) r = NULL;
    gint64 t0;
    double agent_s, agent_bps, sha3_bps, tls_s, tls_bps, slower;
    guint64 hwm_before, hwm;
    double cpu_agent, cpu_self;
    guint64 anon, shared_libs;
    GPid pid;
    int rc = 1;

    if (argc < 2) {
        fprintf(stderr, "usage: bench-agent AGENT_BIN [SIZE]\n");
        return 2;
    }
    if (argc > 2 && !cv_parse_size(argv[2], &size, &error)) {
        fprintf(stderr, "bench-agent: %s\n", error->message);
        return 2;
    }
    dir = g_mkdtemp(tmpl);
    if (!dir) {
        fprintf(stderr, "bench-agent: cannot create a folder under %s\n", base);
        return 1;
    }
    algo_key = write_key(dir, "algo.key", &algo_pub);
    data_key = write_key(dir, "data.key", &data_pub);
    data = g_build_filename(dir, "dataset.bin", NULL);
    algo = g_build_filename(dir, "algo.sh", NULL);
    work = g_build_filename(dir, "work", NULL);
    port_file = g_build_filename(dir, "port", NULL);
    printf("bench-agent: %s of random data in %s\n", g_format_size(size), dir);
    if (!make_data(data, size, &error) ||
        !g_file_set_contents(algo, "#!/bin/sh\nmkdir -p results\nls -l datasets > results/listing.txt\n", -1, NULL))
        goto out;
    data_sha3 = cv_file_digest_hex("SHA3-256", data, &error);
    algo_sha3 = cv_file_digest_hex("SHA3-256", algo, &error);
    if (!data_sha3 || !algo_sha3)
        goto out;
    {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id"); json_builder_add_string_value(b, "bench");
        json_builder_set_member_name(b, "name"); json_builder_add_string_value(b, "upload benchmark");
        json_builder_set_member_name(b, "datasets"); json_builder_begin_array(b); json_builder_begin_object(b);
        json_builder_set_member_name(b, "hash"); json_builder_add_string_value(b, data_sha3);
        json_builder_set_member_name(b, "user_key"); json_builder_add_string_value(b, data_pub);
        json_builder_set_member_name(b, "filename"); json_builder_add_string_value(b, "dataset.bin");
        json_builder_end_object(b); json_builder_end_array(b);
        json_builder_set_member_name(b, "algorithm"); json_builder_begin_object(b);
        json_builder_set_member_name(b, "hash"); json_builder_add_string_value(b, algo_sha3);
        json_builder_set_member_name(b, "user_key"); json_builder_add_string_value(b, algo_pub);
        json_builder_set_member_name(b, "algo_type"); json_builder_add_string_value(b, "bin");
        json_builder_end_object(b);
        json_builder_set_member_name(b, "result_consumers"); json_builder_begin_array(b); json_builder_begin_object(b);
        json_builder_set_member_name(b, "user_key"); json_builder_add_string_value(b, data_pub);
        json_builder_end_object(b); json_builder_end_array(b);
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        mtext = cv_json_to_string(root, TRUE);
        mf = g_build_filename(dir, "manifest.json", NULL);
        g_file_set_contents(mf, mtext, -1, NULL);
    }

    l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_SILENCE);
    g_subprocess_launcher_set_child_setup(l, die_with_parent, NULL, NULL);
    {
        g_autofree char *a1 = g_strdup_printf("--work-dir=%s", work);
        g_autofree char *a2 = g_strdup_printf("--port-file=%s", port_file);
        g_autofree char *a3 = g_strdup_printf("--manifest=%s", mf);
        agent = g_subprocess_launcher_spawn(l, &error, argv[1], a1, "--port=0", "--listen-address=127.0.0.1", a2, a3,
                                            "--log-level=warn", NULL);
    }
    if (!agent)
        goto out;
    for (int i = 0; i < 200 && !g_file_get_contents(port_file, &port, NULL, NULL); i++)
        g_usleep(50000);
    if (!port) {
        g_set_error(&error, CV_ERROR, CV_ERROR_IO, "the agent did not start");
        goto out;
    }
    url = g_strdup_printf("https://127.0.0.1:%s", g_strstrip(port));
    ac = cv_agent_client_new(url, algo_key, NULL, &error);
    dc = ac ? cv_agent_client_new(url, data_key, NULL, &error) : NULL;
    if (!dc)
        goto out;
    r = cv_agent_client_upload(ac, "/v1/algorithm", algo, NULL, NULL, &error);
    if (!r)
        goto out;
    g_clear_pointer(&r, json_node_unref);
    /* the hash is known (as `covirt data` computes it before sending); only the transfer is timed */
    raw = cv_hex_decode(data_sha3, NULL);
    challenge = cv_agent_client_challenge(dc, &error);
    sig = challenge ? cv_agent_client_sign(dc, challenge, "PUT", "/v1/datasets/dataset.bin", g_bytes_get_data(raw, NULL),
                                           &error) : NULL;
    if (!sig)
        goto out;
    pid = g_ascii_strtoll(g_subprocess_get_identifier(agent), NULL, 10);
    hwm_before = vm_hwm_kib(pid);
    cpu_agent = cpu_seconds(pid);
    cpu_self = cpu_seconds(getpid());
    t0 = g_get_monotonic_time();
    r = cv_agent_client_put_signed(dc, "/v1/datasets/dataset.bin", data, data_sha3, challenge, sig, NULL, NULL, &error);
    agent_s = (g_get_monotonic_time() - t0) / 1e6;
    if (!r)
        goto out;
    hwm = vm_hwm_kib(pid);
    anon = status_kib(pid, "RssAnon:");
    shared_libs = status_kib(pid, "RssFile:");
    cpu_agent = cpu_seconds(pid) - cpu_agent;
    cpu_self = cpu_seconds(getpid()) - cpu_self;
    agent_bps = size / agent_s;

    sha3_bps = openssl_sha3_speed();
    tls_s = openssl_tls_transfer(dir, data, size);
    tls_bps = tls_s > 0 ? size / tls_s : 0;
    slower = MIN(sha3_bps, tls_bps);

    printf("agent upload (HTTPS + SHA3-256 + tmpfs): %8.1f MiB/s  (%.2f s)\n", agent_bps / 1048576, agent_s);
    printf("  CPU during the upload: agent %.2f s, client %.2f s\n", cpu_agent, cpu_self);
    printf("openssl speed -evp sha3-256 (64 KiB):     %8.1f MiB/s\n", sha3_bps / 1048576);
    printf("openssl s_server/s_client transfer:      %8.1f MiB/s  (%.2f s)\n", tls_bps / 1048576, tls_s);
    printf("ratio agent / slower baseline:           %8.2f  (goal >= 0.70) %s\n", slower > 0 ? agent_bps / slower : 0,
           slower > 0 && agent_bps / slower >= 0.7 ? "met" : "NOT met");
    printf("agent peak RSS (VmHWM):                  %8.1f MiB (before the upload %.1f MiB; goal < 16 MiB) %s\n",
           hwm / 1024.0, hwm_before / 1024.0, hwm < 16 * 1024 ? "met" : "NOT met");
    printf("  after the upload: RssAnon %.1f MiB (the agent's own memory), RssFile %.1f MiB (shared libraries)\n",
           anon / 1024.0, shared_libs / 1024.0);
    rc = 0;
 out:
    if (error)
        fprintf(stderr, "bench-agent: %s\n", error->message);
    if (agent) {
        g_subprocess_send_signal(agent, SIGTERM);
        g_subprocess_wait(agent, NULL, NULL);
    }
    {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench-agent: could not remove %s\n", dir);
    }
    return rc;
}
