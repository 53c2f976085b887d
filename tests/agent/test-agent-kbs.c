/* The agent's KBS client against tests/kbs/test-kbs.py, a loopback KBS that behaves as Trustee's does
 * and verifies `tpm` evidence on its own (Python, `cryptography`): the agent's collector quotes a
 * private swtpm, the KBS checks the quote, its binding to the session key and PCR 16 against its
 * policy, and releases the resource in a JWE only then. Refusals name the step. */
#include "kbs-client.h"
#include "collector.h"
#include "swtpm-fixture.h"
#include "cv-error.h"
#include "cv-util.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

static SwtpmFixture fx;
static CvAgentCollector *collector;
static guint8 manifest[32];
static const char secret[] = "the algorithm's 32-byte AES key!";

typedef struct {
    char *dir;
    GSubprocess *process;
    char *url;
} Kbs;

static void
die_with_parent(gpointer data)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* policy: PCR 16 must hold `pcr16` (hex); doc_variant: Trustee's documented 404 and extra-params {} */
static void
kbs_start(Kbs *k, const char *pcr16, gboolean doc_variant)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
    g_autofree char *script = g_build_filename(COVIRT_SOURCE_DIR, "tests", "kbs", "test-kbs.py", NULL);
    g_autofree char *port_file = NULL, *secret_file = NULL, *policy_file = NULL, *resource = NULL;
    g_autofree char *policy = g_strdup_printf("{\"tees\":[\"tpm\",\"sample\"],\"pcrs\":{\"16\":\"%s\"}}", pcr16);
    g_autofree char *port = NULL;

    k->dir = g_dir_make_tmp("test-kbs-XXXXXX", &error);
    g_assert_no_error(error);
    port_file = g_build_filename(k->dir, "port", NULL);
    secret_file = g_build_filename(k->dir, "secret", NULL);
    policy_file = g_build_filename(k->dir, "policy.json", NULL);
    g_assert_true(cv_write_file(secret_file, secret, strlen(secret), 0600, NULL));
    g_assert_true(cv_write_file(policy_file, policy, strlen(policy), 0600, NULL));
    resource = g_strconcat("default/key/algo-key=", secret_file, NULL);
    g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
    k->process = g_subprocess_launcher_spawn(launcher, &error, g_getenv("KBS_PYTHON"), script, "serve", "--port-file",
                                             port_file, "--resource", resource, "--policy", policy_file,
                                             doc_variant ? "--doc-variant" : "--port=0", NULL);
    g_assert_no_error(error);
    for (int i = 0; i < 200 && !g_file_test(port_file, G_FILE_TEST_EXISTS); i++)
        g_usleep(50000);
    g_assert_true(g_file_get_contents(port_file, &port, NULL, NULL));
    k->url = g_strdup_printf("http://127.0.0.1:%s", port);
}

static void
kbs_stop(Kbs *k)
{
    g_subprocess_force_exit(k->process);
    g_subprocess_wait(k->process, NULL, NULL);
    g_clear_object(&k->process);
    for (const char *const *f = (const char *const[]){ "port", "secret", "policy.json", NULL }; *f; f++) {
        g_autofree char *path = g_build_filename(k->dir, *f, NULL);
        g_unlink(path);
    }
    g_rmdir(k->dir);
    g_free(k->dir);
    g_free(k->url);
}

static JsonNode *
sample_evidence(gpointer data, const char *tee, const guint8 digest[CV_KBS_DIGEST_SIZE], GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *rd = g_base64_encode(digest, CV_KBS_DIGEST_SIZE);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "svn");
    json_builder_add_string_value(b, "1");
    json_builder_set_member_name(b, "report_data");
    json_builder_add_string_value(b, rd);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* PCR 16 after the agent extended it with the manifest hash, computed here: SHA-256(0³² ‖ manifest) */
static char *
expected_pcr16(void)
{
    guint8 buf[64] = { 0 };

    memcpy(buf + 32, manifest, 32);
    return cv_digest_hex("sha256", buf, sizeof(buf), NULL);
}

static CvKbsConfig
tpm_config(const Kbs *k)
{
    return (CvKbsConfig){ .url = k->url, .tee = "tpm", .evidence = cv_kbs_collector_evidence,
                          .evidence_data = collector, .handshakes = 2, .retry_delay_ms = 50 };
}

static void
assert_secret(GBytes *got)
{
    g_assert_nonnull(got);
    g_assert_cmpmem(g_bytes_get_data(got, NULL), g_bytes_get_size(got), secret, strlen(secret));
}

/* tpm evidence passes the KBS's policy: the resource, by cookie and by Bearer token, EC and RSA keys */
static void
test_tpm_released(void)
{
    g_autofree char *pcr16 = expected_pcr16();
    Kbs k = { 0 };

    kbs_start(&k, pcr16, FALSE);
    for (guint i = 0; i < 4; i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) got = NULL;
        CvKbsConfig config = tpm_config(&k);
        CvKbsStep step = CV_KBS_STEP_COUNT;

        config.bearer = i & 1;
        config.key_type = i & 2 ? CV_KBS_KEY_RSA : CV_KBS_KEY_EC_P256;
        got = cv_kbs_fetch(&config, "default/key/algo-key", &step, &error);
        g_assert_no_error(error);
        assert_secret(got);
        g_assert_cmpint(step, ==, CV_KBS_STEP_COUNT);
    }
    kbs_stop(&k);
}

/* a policy expecting another PCR 16: no key, the attest step named, the KBS's reason kept */
static void
test_tpm_refused(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) got = NULL;
    Kbs k = { 0 };
    CvKbsConfig config;
    CvKbsStep step = CV_KBS_STEP_COUNT;

    kbs_start(&k, "1111111111111111111111111111111111111111111111111111111111111111", FALSE);
    config = tpm_config(&k);
    got = cv_kbs_fetch(&config, "default/key/algo-key", &step, &error);
    g_assert_null(got);
    g_assert_cmpint(step, ==, CV_KBS_STEP_ATTEST);
    g_assert_error(error, CV_ERROR, CV_ERROR_UNAUTHORIZED);
    g_assert_true(g_str_has_prefix(error->message, "kbs attest: after 2 attempts: HTTP 401"));
    g_assert_nonnull(strstr(error->message, "PCR 16"));
    kbs_stop(&k);
}

/* Trustee's 401 PluginInternalError and its documentation's 404 both mean "no such resource";
 * the documentation's extra-params {} is taken too */
static void
test_missing_resource(void)
{
    for (int doc = 0; doc < 2; doc++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) got = NULL;
        CvKbsStep step = CV_KBS_STEP_COUNT;
        Kbs k = { 0 };
        CvKbsConfig config;

        kbs_start(&k, "00", doc);
        config = (CvKbsConfig){ .url = k.url, .tee = "sample", .evidence = sample_evidence };
        got = cv_kbs_fetch(&config, "default/key/other", &step, &error);
        g_assert_null(got);
        g_assert_cmpint(step, ==, CV_KBS_STEP_RESOURCE);
        g_assert_error(error, CV_ERROR, CV_ERROR_NOT_FOUND);
        g_clear_error(&error);
        got = cv_kbs_fetch(&config, "default/key/algo-key", &step, &error);
        g_assert_no_error(error);
        assert_secret(got);
        g_clear_pointer(&got, g_bytes_unref);
        got = cv_kbs_fetch(&config, "default/../key", &step, &error);
        g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
        kbs_stop(&k);
    }
}

/* no KBS listening: the handshake is retried as many times as configured, then the auth step fails */
static void
test_kbs_down(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) sock = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
    g_autoptr(GSocketAddress) bound = NULL;
    g_autofree char *url = NULL;
    CvKbsConfig config = { .tee = "sample", .evidence = sample_evidence, .handshakes = 3, .retry_delay_ms = 100 };
    CvKbsStep step = CV_KBS_STEP_COUNT;
    gint64 start = g_get_monotonic_time();

    /* a port bound but not listening: connections are refused */
    g_assert_true(g_socket_bind(sock, any, FALSE, NULL));
    bound = g_socket_get_local_address(sock, NULL);
    url = g_strdup_printf("http://127.0.0.1:%u", g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)));
    config.url = url;
    g_assert_null(cv_kbs_fetch(&config, "default/key/algo-key", &step, &error));
    g_assert_cmpint(step, ==, CV_KBS_STEP_AUTH);
    g_assert_true(g_str_has_prefix(error->message, "kbs auth: after 3 attempts: "));
    g_assert_cmpint(g_get_monotonic_time() - start, >=, 200000);
}

int
main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    int rc = 1;

    g_test_init(&argc, &argv, NULL);
    memset(manifest, 0x5a, sizeof(manifest));
    g_test_add_func("/agent/kbs/tpm-released", test_tpm_released);
    g_test_add_func("/agent/kbs/tpm-refused", test_tpm_refused);
    g_test_add_func("/agent/kbs/missing-resource", test_missing_resource);
    g_test_add_func("/agent/kbs/kbs-down", test_kbs_down);
    if (!swtpm_fixture_start(&fx, FALSE, &error)) {
        g_printerr("swtpm: %s\n", error->message);
        return 1;
    }
    collector = cv_agent_collector_new("vtpm", fx.tcti, "/nonexistent", &error);
    if (collector && cv_agent_collector_extend_manifest(collector, manifest, &error))
        rc = g_test_run();
    else
        g_printerr("collector: %s\n", error->message);
    g_clear_pointer(&collector, cv_agent_collector_free);
    swtpm_fixture_stop(&fx);
    return rc;
}
