/* Attest then pin, end to end: an HTTPS agent stand-in built from the real pieces (SoupServer with
 * a TLS key, the agent's collector on a provisioned swtpm) answers GET /v1/attestation and
 * POST /v1/attestation/credential; the client library and the covirt CLI attest it. */
#include <unistd.h>
#include <string.h>
#include <gio/gio.h>
#include <libsoup/soup.h>
#include <openssl/pem.h>
#include "attest-client.h"
#include "collector.h"
#include "evidence.h"
#include "policy.h"
#include "cv-util.h"
#include "attest-test.h"
#include "cv-autoptr.h"
#include "swtpm-fixture.h"

typedef struct {
    CvAgentCollector *collector;
    guint8 tls_sha256[32];      /* what the server binds into its evidence */
    guint8 manifest[32];
    gboolean break_credential;
} Agent;

static const char manifest_text[] = "{\"id\":\"m\"}";
static SwtpmFixture fx;
static Agent agent;
static SoupServer *server;
static char *url;
static char *policy_path;

static void
respond(SoupServerMessage *msg, guint status, JsonNode *body, const char *error_text)
{
    g_autofree char *text = body ? cv_json_to_string(body, FALSE) :
                            g_strdup_printf("{\"error\":{\"code\":\"x\",\"message\":\"%s\"}}", error_text);
    soup_server_message_set_status(msg, status, NULL);
    soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, text, strlen(text));
}

static void
handler(SoupServer *s, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer data)
{
    g_autoptr(GError) error = NULL;

    if (strcmp(path, "/v1/attestation") == 0) {
        const char *hex = query ? g_hash_table_lookup(query, "nonce") : NULL;
        g_autoptr(GBytes) nonce = hex ? cv_hex_decode(hex, NULL) : NULL;
        g_autoptr(JsonNode) bundle = nonce ? cv_agent_collector_collect(agent.collector, g_bytes_get_data(nonce, NULL),
                                                                        g_bytes_get_size(nonce), agent.tls_sha256,
                                                                        agent.manifest, &error) : NULL;
        respond(msg, bundle ? 200 : 400, bundle, error ? error->message : "nonce");
    } else if (strcmp(path, "/v1/attestation/credential") == 0) {
        SoupMessageBody *body = soup_server_message_get_request_body(msg);
        g_autoptr(GBytes) bytes = soup_message_body_flatten(body);
        g_autoptr(JsonNode) req = cv_json_parse(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes), NULL);
        g_autoptr(JsonNode) answer = NULL;
        if (agent.break_credential) {
            /* an agent that cannot activate (another TPM) can only guess */
            respond(msg, 200, NULL, "x");
            soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_STATIC,
                                             "{\"secret\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}", 47);
            return;
        }
        answer = cv_agent_collector_activate_json(agent.collector, req, &error);
        respond(msg, answer ? 200 : 400, answer, error ? error->message : "");
    } else {
        respond(msg, 404, NULL, "not found");
    }
}

static GTlsCertificate *
make_identity(guint8 sha[32])
{
    g_autoptr(EVP_PKEY) key = EVP_EC_gen("P-256");
    g_autoptr(X509) cert = X509_new();
    g_autoptr(BIO) bio = BIO_new(BIO_s_mem());
    g_autoptr(GError) error = NULL;
    char *pem = NULL;
    long n;
    GTlsCertificate *tls;

    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC, (const unsigned char *)"agent", -1, -1, 0);
    X509_set_issuer_name(cert, X509_get_subject_name(cert));
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_sign(cert, key, EVP_sha256());
    PEM_write_bio_X509(bio, cert);
    PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
    n = BIO_get_mem_data(bio, &pem);
    tls = g_tls_certificate_new_from_pem(pem, n, &error);
    g_assert_no_error(error);
    g_assert_true(cv_client_tls_key_sha256(tls, sha, &error));
    return tls;
}

static JsonNode *
policy(void)
{
    g_autoptr(GError) error = NULL;
    JsonNode *p = cv_attest_policy_load(policy_path, "vtpm", &error);

    g_assert_no_error(error);
    return p;
}

typedef struct {
    guint8 pin[32];
    CvAttestVerdict *verdict;
    GError *error;
    const guint8 *manifest;
    gboolean done;
} Call;

/* the client blocks, so it runs in a thread while the main loop serves */
static gpointer
client_thread(gpointer data)
{
    Call *c = data;
    g_autoptr(JsonNode) p = policy();

    c->verdict = cv_client_attest_agent(url, p, c->manifest, c->pin, &c->error);
    g_atomic_int_set(&c->done, TRUE);
    g_main_context_wakeup(NULL);
    return NULL;
}

static void
run_client(Call *c)
{
    GThread *t = g_thread_new("client", client_thread, c);

    while (!g_atomic_int_get(&c->done))
        g_main_context_iteration(NULL, TRUE);
    g_thread_join(t);
}

static void
test_pass(void)
{
    Call c = { .manifest = agent.manifest };

    run_client(&c);
    g_assert_no_error(c.error);
    attest_test_assert_status(c.verdict, "evidence.tls_key", CV_ATTEST_PASS);
    attest_test_assert_status(c.verdict, "tpm.credential", CV_ATTEST_PASS);
    attest_test_assert_status(c.verdict, "tpm.ek_chain", CV_ATTEST_PASS);
    attest_test_assert_status(c.verdict, "tpm.pcr16.manifest", CV_ATTEST_PASS);
    g_assert_true(cv_attest_verdict_passed(c.verdict));
    g_assert_cmpmem(c.pin, 32, agent.tls_sha256, 32);
    cv_attest_verdict_free(c.verdict);
}

static void
test_relayed_evidence(void)
{
    /* evidence that binds another TLS key (a relay in the middle) is refused and nothing is pinned */
    Call c = { .manifest = agent.manifest };
    guint8 saved[32];

    memcpy(saved, agent.tls_sha256, 32);
    agent.tls_sha256[0] ^= 1;
    memset(c.pin, 0xaa, 32);
    run_client(&c);
    memcpy(agent.tls_sha256, saved, 32);
    g_assert_no_error(c.error);
    attest_test_assert_status(c.verdict, "evidence.tls_key", CV_ATTEST_FAIL);
    g_assert_false(cv_attest_verdict_passed(c.verdict));
    g_assert_cmpuint(c.pin[0], ==, 0xaa);
    cv_attest_verdict_free(c.verdict);
}

static void
test_credential_refused(void)
{
    Call c = { .manifest = agent.manifest };

    agent.break_credential = TRUE;
    run_client(&c);
    agent.break_credential = FALSE;
    g_assert_no_error(c.error);
    attest_test_assert_status(c.verdict, "tpm.credential", CV_ATTEST_FAIL);
    g_assert_false(cv_attest_verdict_passed(c.verdict));
    cv_attest_verdict_free(c.verdict);
}

static void
communicated(GObject *source, GAsyncResult *res, gpointer data)
{
    char *out = NULL;

    g_subprocess_communicate_utf8_finish(G_SUBPROCESS(source), res, &out, NULL, NULL);
    g_object_set_data_full(source, "out", out ? out : g_strdup(""), g_free);
    *(gboolean *)data = TRUE;
}

static void
test_cli(void)
{
    const char *covirt = g_getenv("COVIRT_BIN");
    g_autofree char *manifest_path = g_build_filename(fx.dir, "manifest.json", NULL);
    g_autofree char *other_path = g_build_filename(fx.dir, "other.json", NULL);
    const char *paths[] = { manifest_path, other_path };
    int want[] = { 0, 3 };

    if (!covirt) {
        g_test_skip("COVIRT_BIN not set");
        return;
    }
    g_assert_true(g_file_set_contents(manifest_path, manifest_text, -1, NULL));
    g_assert_true(g_file_set_contents(other_path, "{\"id\":\"other\"}", -1, NULL));
    /* the agent holds that manifest; the CLI with the same file passes, with another it fails */
    for (int i = 0; i < 2; i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GSubprocess) p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE,
                                                    &error, covirt, "attest", "--agent", url, "--policy", policy_path,
                                                    "--manifest", paths[i], NULL);
        g_autofree char *out = NULL;
        gboolean finished = FALSE;
        g_assert_no_error(error);
        g_subprocess_communicate_utf8_async(p, NULL, NULL, communicated, &finished);
        while (!finished)
            g_main_context_iteration(NULL, TRUE);
        g_subprocess_wait(p, NULL, NULL);
        out = g_object_steal_data(G_OBJECT(p), "out");
        if (g_subprocess_get_exit_status(p) != want[i])
            g_printerr("%s\n", out);
        g_assert_cmpint(g_subprocess_get_exit_status(p), ==, want[i]);
        g_assert_nonnull(strstr(out, want[i] == 0 ? "pinned TLS key sha256" : "FAIL        evidence.manifest"));
    }
}

/* meson.build says why: re-run this program without LeakSanitizer when COVIRT_LSAN_OFF is set. */
static void
lsan_off(char **argv)
{
    const char *asan = g_getenv("ASAN_OPTIONS");
    g_autofree char *opts = NULL;

    if (!g_getenv("COVIRT_LSAN_OFF") || !asan || strstr(asan, "detect_leaks=0"))
        return;
    opts = g_strconcat(asan, ":detect_leaks=0", NULL);
    g_setenv("ASAN_OPTIONS", opts, TRUE);
    execv("/proc/self/exe", argv);
}

int
main(int argc, char **argv)
{
    lsan_off(argv);
    g_autoptr(GError) error = NULL;
    g_autoptr(GTlsCertificate) identity = NULL;
    GSList *uris;
    int rc;

    g_test_init(&argc, &argv, NULL);
    if (!swtpm_fixture_start(&fx, TRUE, &error)) {
        g_printerr("swtpm: %s\n", error->message);
        swtpm_fixture_stop(&fx);
        return 1;
    }
    agent.collector = cv_agent_collector_new("vtpm", fx.tcti, "/nonexistent", &error);
    g_assert_no_error(error);
    {
        g_autoptr(GBytes) sha = cv_digest("SHA256", manifest_text, strlen(manifest_text), NULL);
        memcpy(agent.manifest, g_bytes_get_data(sha, NULL), 32);
    }
    identity = make_identity(agent.tls_sha256);
    server = soup_server_new("tls-certificate", identity, NULL);
    soup_server_add_handler(server, NULL, handler, NULL, NULL);
    if (!soup_server_listen_local(server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY | SOUP_SERVER_LISTEN_HTTPS, &error)) {
        g_printerr("listen: %s\n", error->message);
        return 1;
    }
    uris = soup_server_get_uris(server);
    url = g_strdup_printf("https://127.0.0.1:%d", g_uri_get_port(uris->data));
    g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
    policy_path = g_build_filename(fx.dir, "policy.json", NULL);
    {
        g_autofree char *json = g_strdup_printf("{\"platform\":\"vtpm\",\"ca_file\":[\"%s/ca/swtpm-localca-rootca-cert.pem\","
                                                "\"%s/ca/issuercert.pem\"],\"require_credential\":true}", fx.dir, fx.dir);
        g_assert_true(g_file_set_contents(policy_path, json, -1, NULL));
    }
    g_test_add_func("/attest/client/pass", test_pass);
    g_test_add_func("/attest/client/relayed-evidence", test_relayed_evidence);
    g_test_add_func("/attest/client/credential-refused", test_credential_refused);
    g_test_add_func("/attest/client/cli", test_cli);
    rc = g_test_run();
    g_object_unref(server);
    cv_agent_collector_free(agent.collector);
    swtpm_fixture_stop(&fx);
    return rc;
}
