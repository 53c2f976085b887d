/* covirt-agent's evidence through its HTTPS API: the real agent with --platform vtpm on a provisioned
 * swtpm and a manifest given at start. Its bundle verifies for the nonce, binds the TLS key the
 * agent serves and the manifest it measured into PCR 16, and credential activation answers the
 * secret sealed to its EK; a bad nonce is 400, an agent with --platform none answers 501. After a
 * reset to another manifest (control channel) the evidence binds and PCR 16 holds that one. */
#include "evidence.h"
#include "policy.h"
#include "tpm-quote.h"
#include "attest-test.h"
#include "swtpm-fixture.h"
#include "cv-autoptr.h"
#include "cv-error.h"
#include "cv-sign.h"
#include "cv-util.h"
#include "frame.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>

#define HOST_EVENT_LOG "/sys/kernel/security/tpm0/binary_bios_measurements"

static SwtpmFixture fx;

typedef struct {
    char *dir;
    GSubprocess *process;
    char *url;
    SoupSession *session;
    GSocketListener *control;   /* with_control: the manager's end of the control channel */
} Agent;

static void
die_with_parent(gpointer data)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static gboolean
accept_any(SoupMessage *msg, GTlsCertificate *cert, GTlsCertificateFlags errors, gpointer data)
{
    return TRUE;
}

/* the RFC 8785 form of manifest_text()'s manifest, written out here (members sorted, no white space) */
static char *manifest_canonical;

/* A manifest with no dataset, indented as a user would write it: only its hash matters here. */
static char *
manifest_text(void)
{
    g_autoptr(EVP_PKEY) key = EVP_EC_gen("P-256");
    g_autofree char *pem = cv_sign_pubkey_to_pem(key, NULL);
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    g_assert_nonnull(pem);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, "attest");
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, "evidence test");
    json_builder_set_member_name(b, "datasets");
    json_builder_begin_array(b);
    json_builder_end_array(b);
    json_builder_set_member_name(b, "algorithm");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "hash");
    json_builder_add_string_value(b, "0000000000000000000000000000000000000000000000000000000000000000");
    json_builder_set_member_name(b, "user_key");
    json_builder_add_string_value(b, pem);
    json_builder_set_member_name(b, "algo_type");
    json_builder_add_string_value(b, "bin");
    json_builder_end_object(b);
    json_builder_set_member_name(b, "result_consumers");
    json_builder_begin_array(b);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "user_key");
    json_builder_add_string_value(b, pem);
    json_builder_end_object(b);
    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    {
        g_auto(GStrv) lines = g_strsplit(pem, "\n", -1);
        g_autofree char *escaped = g_strjoinv("\\n", lines);

        g_free(manifest_canonical);
        manifest_canonical = g_strdup_printf(
            "{\"algorithm\":{\"algo_type\":\"bin\",\"hash\":\"%064d\",\"user_key\":\"%s\"},\"datasets\":[],"
            "\"id\":\"attest\",\"name\":\"evidence test\",\"result_consumers\":[{\"user_key\":\"%s\"}]}",
            0, escaped, escaped);
    }
    return cv_json_to_string(root, TRUE);
}

/* covirt-agent on a free loopback port with a manifest given at start (and a control channel socket) */
static void
agent_start_with(Agent *a, const char *platform, gboolean with_control)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *work = NULL, *port_file = NULL, *manifest = NULL, *port = NULL, *text = manifest_text();
    g_autofree char *work_arg = NULL, *port_arg = NULL, *platform_arg = NULL, *tcti_arg = NULL, *manifest_arg = NULL;
    g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
    g_autofree char *control_arg = NULL;
    const char *argv[11];
    guint n = 0;

    a->dir = g_dir_make_tmp("agent-attest-XXXXXX", &error);
    g_assert_no_error(error);
    work = g_build_filename(a->dir, "work", NULL);
    port_file = g_build_filename(a->dir, "port", NULL);
    manifest = g_build_filename(a->dir, "manifest.json", NULL);
    g_assert_true(g_file_set_contents(manifest, text, -1, NULL));
    work_arg = g_strdup_printf("--work-dir=%s", work);
    port_arg = g_strdup_printf("--port-file=%s", port_file);
    platform_arg = g_strdup_printf("--platform=%s", platform);
    tcti_arg = g_strdup_printf("--tcti=%s", fx.tcti);
    manifest_arg = g_strdup_printf("--manifest=%s", manifest);
    argv[n++] = g_getenv("AGENT_BIN");
    argv[n++] = work_arg;
    argv[n++] = "--port=0";
    argv[n++] = "--listen-address=127.0.0.1";
    argv[n++] = port_arg;
    argv[n++] = platform_arg;
    argv[n++] = tcti_arg;
    argv[n++] = manifest_arg;
    if (with_control) {
        g_autofree char *sock = g_build_filename(a->dir, "control.sock", NULL);
        g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(sock);
        a->control = g_socket_listener_new();
        g_assert_true(g_socket_listener_add_address(a->control, addr, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                                                    NULL, NULL, &error));
        control_arg = g_strdup_printf("--control-port=%s", sock);
        argv[n++] = control_arg;
    }
    argv[n] = NULL;
    g_subprocess_launcher_set_child_setup(l, die_with_parent, NULL, NULL);
    /* as in test-agent-api.c: LeakSanitizer crashes at the exit of a process that used glib-networking */
    if (g_getenv("ASAN_OPTIONS")) {
        g_autofree char *opts = g_strdup_printf("%s:detect_leaks=0", g_getenv("ASAN_OPTIONS"));
        g_subprocess_launcher_setenv(l, "ASAN_OPTIONS", opts, TRUE);
    }
    a->process = g_subprocess_launcher_spawnv(l, argv, &error);
    g_assert_no_error(error);
    for (int i = 0; i < 200 && !g_file_get_contents(port_file, &port, NULL, NULL); i++)
        g_usleep(50000);
    g_assert_nonnull(port);
    a->url = g_strdup_printf("https://127.0.0.1:%s", g_strstrip(port));
    a->session = soup_session_new();
}

static void
agent_start(Agent *a, const char *platform)
{
    agent_start_with(a, platform, FALSE);
}

static void
agent_stop(Agent *a)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", a->dir);

    g_subprocess_send_signal(a->process, SIGTERM);
    g_subprocess_wait(a->process, NULL, NULL);
    g_clear_object(&a->process);
    g_clear_object(&a->session);
    if (a->control) {
        g_socket_listener_close(a->control);
        g_clear_object(&a->control);
    }
    g_assert_cmpint(system(cmd), ==, 0);
    g_free(a->dir);
    g_free(a->url);
}

/* One request; the answer's JSON and its status. */
static JsonNode *
request(Agent *a, const char *method, const char *path, const char *body, guint *status)
{
    g_autofree char *url = g_strconcat(a->url, path, NULL);
    g_autoptr(SoupMessage) msg = soup_message_new(method, url);
    g_autoptr(GBytes) answer = NULL;
    g_autoptr(GError) error = NULL;
    JsonNode *node;

    g_signal_connect(msg, "accept-certificate", G_CALLBACK(accept_any), NULL);
    if (body) {
        g_autoptr(GBytes) b = g_bytes_new(body, strlen(body));
        soup_message_set_request_body_from_bytes(msg, "application/json", b);
    }
    answer = soup_session_send_and_read(a->session, msg, NULL, &error);
    g_assert_no_error(error);
    *status = soup_message_get_status(msg);
    node = cv_json_parse(g_bytes_get_data(answer, NULL), g_bytes_get_size(answer), &error);
    g_assert_no_error(error);
    return node;
}

static const char *
member(JsonNode *node, const char *object, const char *name)
{
    JsonObject *o = json_node_get_object(node);

    return json_object_get_string_member(object ? json_object_get_object_member(o, object) : o, name);
}

static void
test_vtpm(void)
{
    Agent a = { 0 };
    guint8 nonce[32];
    g_autofree char *nonce_hex = NULL, *path = NULL, *tls_hex = NULL, *ca = NULL, *policy_json = NULL;
    g_autoptr(JsonNode) state = NULL, bundle = NULL, pol = NULL;
    g_autoptr(GBytes) manifest_sha256 = NULL;
    g_autoptr(CvAttestVerdict) v = NULL;
    g_autoptr(GError) error = NULL;
    guint status = 0;

    if (g_file_test(HOST_EVENT_LOG, G_FILE_TEST_EXISTS)) {
        g_test_skip("this host has a TPM event log, which the agent would send with the swtpm's quote");
        return;
    }
    agent_start(&a, "vtpm");
    state = request(&a, "GET", "/v1/state", NULL, &status);
    g_assert_cmpuint(status, ==, 200);
    /* the hash a user computes from the manifest (docs/manifest.md) is the one the agent binds */
    manifest_sha256 = cv_digest("SHA256", manifest_canonical, strlen(manifest_canonical), &error);
    g_assert_no_error(error);
    {
        g_autofree char *hex = cv_hex_encode(g_bytes_get_data(manifest_sha256, NULL), 32);

        g_assert_cmpstr(member(state, "manifest", "sha256"), ==, hex);
    }

    for (guint i = 0; i < sizeof(nonce); i++)
        nonce[i] = g_random_int_range(0, 256);
    nonce_hex = cv_hex_encode(nonce, sizeof(nonce));
    path = g_strdup_printf("/v1/attestation?nonce=%s", nonce_hex);
    bundle = request(&a, "GET", path, NULL, &status);
    g_assert_cmpuint(status, ==, 200);

    ca = g_strdup_printf("\"%s/ca/swtpm-localca-rootca-cert.pem\",\"%s/ca/issuercert.pem\"", fx.dir, fx.dir);
    policy_json = g_strdup_printf("{\"platform\":\"vtpm\",\"ca_file\":[%s],\"require_credential\":false}", ca);
    pol = cv_attest_policy_parse(policy_json, -1, "vtpm", NULL, &error);
    g_assert_no_error(error);
    v = cv_attest_evidence_verify(bundle, pol, nonce, sizeof(nonce), g_bytes_get_data(manifest_sha256, NULL), 0,
                                  &error);
    g_assert_no_error(error);
    attest_test_assert_status(v, "evidence.nonce", CV_ATTEST_PASS);
    attest_test_assert_status(v, "evidence.manifest", CV_ATTEST_PASS);
    attest_test_assert_status(v, "tpm.pcr16.manifest", CV_ATTEST_PASS);
    g_assert_true(cv_attest_verdict_passed(v));
    /* the key the bundle binds is the one the agent serves and announces */
    tls_hex = cv_attest_evidence_tls_key_sha256(bundle, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(tls_hex, ==, member(state, NULL, "tls_pubkey_sha256"));

    /* credential activation: the secret sealed to the swtpm's EK for the bundle's AK */
    {
        JsonObject *tpm = json_object_get_object_member(json_node_get_object(bundle), "tpm");
        g_autoptr(GBytes) ek = cv_base64_decode_strict(json_object_get_string_member(tpm, "ek_certificate"), NULL);
        g_autoptr(GBytes) akpub = cv_base64_decode_strict(json_object_get_string_member(tpm, "ak_public"), NULL);
        g_autoptr(GBytes) name = NULL, secret = NULL, blob = NULL, enc = NULL, got = NULL;
        g_autofree char *blob64 = NULL, *enc64 = NULL, *body = NULL;
        g_autoptr(JsonNode) answer = NULL;
        TPM2B_PUBLIC pub;

        g_assert_true(cv_attest_tpm2b_public_parse(g_bytes_get_data(akpub, NULL), g_bytes_get_size(akpub), &pub,
                                                   &error));
        name = cv_attest_tpm_public_name(&pub.publicArea, &error);
        g_assert_true(cv_attest_make_credential(ek, name, &secret, &blob, &enc, &error));
        blob64 = g_base64_encode(g_bytes_get_data(blob, NULL), g_bytes_get_size(blob));
        enc64 = g_base64_encode(g_bytes_get_data(enc, NULL), g_bytes_get_size(enc));
        body = g_strdup_printf("{\"credential_blob\":\"%s\",\"encrypted_secret\":\"%s\"}", blob64, enc64);
        answer = request(&a, "POST", "/v1/attestation/credential", body, &status);
        g_assert_cmpuint(status, ==, 200);
        got = cv_base64_decode_strict(member(answer, NULL, "secret"), NULL);
        g_assert_nonnull(got);
        g_assert_true(g_bytes_equal(got, secret));
    }
    /* a nonce too short is the client's fault */
    {
        g_autoptr(JsonNode) refused = request(&a, "GET", "/v1/attestation?nonce=00", NULL, &status);
        g_assert_cmpuint(status, ==, 400);
        g_assert_cmpstr(member(refused, "error", "code"), ==, "invalid");
    }
    agent_stop(&a);
}

/* The bundle for a fresh nonce, verified against the manifest whose SHA-256 this is. */
static CvAttestVerdict *
verify_for(Agent *a, GBytes *manifest_sha256)
{
    guint8 nonce[32];
    g_autofree char *path = NULL, *policy_json = NULL, *nonce_hex = NULL;
    g_autoptr(JsonNode) bundle = NULL, pol = NULL;
    g_autoptr(GError) error = NULL;
    CvAttestVerdict *v;
    guint status = 0;

    for (guint i = 0; i < sizeof(nonce); i++)
        nonce[i] = g_random_int_range(0, 256);
    nonce_hex = cv_hex_encode(nonce, sizeof(nonce));
    path = g_strdup_printf("/v1/attestation?nonce=%s", nonce_hex);
    bundle = request(a, "GET", path, NULL, &status);
    g_assert_cmpuint(status, ==, 200);
    policy_json = g_strdup_printf("{\"platform\":\"vtpm\",\"ca_file\":[\"%s/ca/swtpm-localca-rootca-cert.pem\","
                                  "\"%s/ca/issuercert.pem\"],\"require_credential\":false}", fx.dir, fx.dir);
    pol = cv_attest_policy_parse(policy_json, -1, "vtpm", NULL, &error);
    g_assert_no_error(error);
    v = cv_attest_evidence_verify(bundle, pol, nonce, sizeof(nonce), g_bytes_get_data(manifest_sha256, NULL), 0,
                                  &error);
    g_assert_no_error(error);
    return v;
}

static GBytes *
manifest_sha256_of(Agent *a)
{
    guint status = 0;
    g_autoptr(JsonNode) state = request(a, "GET", "/v1/state", NULL, &status);

    g_assert_cmpuint(status, ==, 200);
    return cv_hex_decode(member(state, "manifest", "sha256"), NULL);
}

/* A reset to another manifest: the evidence then binds that one and PCR 16 holds it alone (it is reset
 * before each extension), so the new computation is attested as the first was. */
static void
test_vtpm_reset(void)
{
    Agent a = { 0 };
    g_autofree char *second = manifest_text();
    g_autoptr(GBytes) first_sha = NULL, second_sha = NULL;
    g_autoptr(CvAttestVerdict) v1 = NULL, v2 = NULL, v3 = NULL;
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(CvFrame) hello = NULL;
    g_autoptr(GError) error = NULL;

    if (g_file_test(HOST_EVENT_LOG, G_FILE_TEST_EXISTS)) {
        g_test_skip("this host has a TPM event log, which the agent would send with the swtpm's quote");
        return;
    }
    agent_start_with(&a, "vtpm", TRUE);
    conn = g_socket_listener_accept(a.control, NULL, NULL, &error);
    g_assert_no_error(error);
    g_socket_set_timeout(g_socket_connection_get_socket(conn), 20);
    hello = cv_frame_read(g_io_stream_get_input_stream(G_IO_STREAM(conn)), NULL, &error);
    g_assert_no_error(error);
    first_sha = manifest_sha256_of(&a);
    v1 = verify_for(&a, first_sha);
    g_assert_true(cv_attest_verdict_passed(v1));
    {
        Covirt__Control__Frame f = COVIRT__CONTROL__FRAME__INIT;
        Covirt__Control__Reset r = COVIRT__CONTROL__RESET__INIT;

        r.reason = (char *)"another computation";
        r.manifest_json = second;
        f.body_case = COVIRT__CONTROL__FRAME__BODY_RESET;
        f.reset = &r;
        g_assert_true(cv_frame_write(g_io_stream_get_output_stream(G_IO_STREAM(conn)), &f, NULL, &error));
    }
    for (int i = 0; i < 200; i++) {
        g_clear_pointer(&second_sha, g_bytes_unref);
        second_sha = manifest_sha256_of(&a);
        if (!g_bytes_equal(second_sha, first_sha))
            break;
        g_usleep(20000);
    }
    g_assert_false(g_bytes_equal(second_sha, first_sha));
    v2 = verify_for(&a, second_sha);
    attest_test_assert_status(v2, "evidence.manifest", CV_ATTEST_PASS);
    attest_test_assert_status(v2, "tpm.pcr16.manifest", CV_ATTEST_PASS);
    g_assert_true(cv_attest_verdict_passed(v2));
    /* and a user who expects the first computation is told it is not there any more */
    v3 = verify_for(&a, first_sha);
    attest_test_assert_status(v3, "evidence.manifest", CV_ATTEST_FAIL);
    g_assert_false(cv_attest_verdict_passed(v3));
    agent_stop(&a);
}

static void
test_no_platform(void)
{
    Agent a = { 0 };
    g_autoptr(JsonNode) bundle = NULL, answer = NULL;
    guint status = 0;

    agent_start(&a, "none");
    bundle = request(&a, "GET", "/v1/attestation?nonce=00112233445566778899aabbccddeeff", NULL, &status);
    g_assert_cmpuint(status, ==, 501);
    g_assert_nonnull(member(bundle, "error", "message"));
    answer = request(&a, "POST", "/v1/attestation/credential", "{}", &status);
    g_assert_cmpuint(status, ==, 501);
    agent_stop(&a);
}

int
main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    int rc = 1;

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/agent/attest/vtpm", test_vtpm);
    g_test_add_func("/agent/attest/vtpm-reset", test_vtpm_reset);
    g_test_add_func("/agent/attest/no-platform", test_no_platform);
    if (swtpm_fixture_start(&fx, TRUE, &error))
        rc = g_test_run();
    else
        g_printerr("swtpm: %s\n", error->message);
    swtpm_fixture_stop(&fx);
    return rc;
}
