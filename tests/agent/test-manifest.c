/* The manifest parser: a valid manifest, and each kind of bad field named in the refusal. */
#include "manifest.h"
#include "state.h"
#include "cv-error.h"
#include "cv-sign.h"

#include <string.h>
#include <openssl/pem.h>

static char *ed_pem, *ec_pem, *rsa_pem, *weak_pem, *p384_pem;

static char *
pub_pem(EVP_PKEY *k)
{
    char *pem = cv_sign_pubkey_to_pem(k, NULL);

    g_assert_nonnull(pem);
    EVP_PKEY_free(k);
    return pem;
}

static char *
json_escape(const char *s)
{
    g_autoptr(GString) out = g_string_new(NULL);

    for (; *s; s++) {
        if (*s == '\n')
            g_string_append(out, "\\n");
        else
            g_string_append_c(out, *s);
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}

#define H1 "7fd4d9b151a311d8c2c50e4fb08d64a4e7877014c47429430919b509a4c86774"
#define H2 "35950a19b4a9382b9891c7d39ec5a0f7ef864208833bc5dae8f23fc2c69b0377"

/* A manifest with @dataset_extra inserted in the first dataset and @top_extra at the top level. */
static char *
manifest(const char *algo_key, const char *top_extra, const char *dataset_extra, const char *algo_type)
{
    g_autofree char *ed = json_escape(algo_key ? algo_key : ed_pem);
    g_autofree char *ec = json_escape(ec_pem);
    g_autofree char *rsa = json_escape(rsa_pem);

    return g_strdup_printf(
        "{\"id\":\"c1\",\"name\":\"mean\",\"description\":\"d\"%s,"
        "\"datasets\":[{\"hash\":\"" H2 "\",\"userKey\":\"%s\",\"filename\":\"a.csv\"%s},"
        "{\"hash\":\"" H2 "\",\"userKey\":\"%s\",\"filename\":\"b.csv.gz\",\"decompress\":true}],"
        "\"algorithm\":{\"hash\":\"" H1 "\",\"userKey\":\"%s\",\"algo_type\":\"%s\",\"algo_args\":[\"-v\",\"x\"]},"
        "\"result_consumers\":[{\"userKey\":\"%s\"}]}",
        top_extra ? top_extra : "", ec, dataset_extra ? dataset_extra : "", ec, ed, algo_type ? algo_type : "python",
        rsa);
}

static void
test_valid(void)
{
    g_autofree char *text = manifest(NULL, NULL, NULL, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(CvAgentManifest) m = cv_agent_manifest_parse(text, strlen(text), &error);

    g_assert_no_error(error);
    g_assert_cmpstr(m->id, ==, "c1");
    g_assert_cmpuint(m->datasets->len, ==, 2);
    g_assert_cmpint(m->algo_type, ==, CV_AGENT_ALGO_PYTHON);
    g_assert_cmpstr(m->algo_args[1], ==, "x");
    g_assert_true(((CvAgentDataset *)g_ptr_array_index(m->datasets, 1))->decompress);
    g_assert_cmpstr(cv_agent_user_key_type(m->algo_key), ==, "ed25519");
    g_assert_cmpstr(cv_agent_user_key_type(((CvAgentDataset *)g_ptr_array_index(m->datasets, 0))->user_key), ==, "ecdsa");
    g_assert_cmpstr(cv_agent_user_key_type(g_ptr_array_index(m->consumer_keys, 0)), ==, "rsa");
    g_assert_nonnull(cv_agent_manifest_find_dataset(m, "b.csv.gz"));
    g_assert_null(cv_agent_manifest_find_dataset(m, "c.csv"));
}

typedef struct {
    const char *name;
    const char *text;   /* whole text, or NULL to build from the pieces */
    const char *top, *dataset, *algo_type;
    gboolean weak_key, p384_key;
    const char *expect;  /* substring of the error naming the field */
} BadCase;

static void
test_bad(void)
{
    static const BadCase cases[] = {
        { "not json", "{\"id\":", NULL, NULL, NULL, FALSE, FALSE, "malformed JSON" },
        { "array", "[1,2]", NULL, NULL, NULL, FALSE, FALSE, "must be a JSON object" },
        { "unknown top field", NULL, ",\"owner\":\"x\"", NULL, NULL, FALSE, FALSE, "owner: unknown field" },
        { "unknown dataset field", NULL, NULL, ",\"user_key\":\"x\"", NULL, FALSE, FALSE,
          "datasets[0].user_key: unknown field" },
        { "decompress type", NULL, NULL, ",\"decompress\":\"yes\"", NULL, FALSE, FALSE,
          "datasets[0].decompress: must be a boolean" },
        { "algo type", NULL, NULL, NULL, "java", FALSE, FALSE, "algorithm.algo_type: 'java'" },
        { "weak rsa", NULL, NULL, NULL, NULL, TRUE, FALSE, "algorithm.userKey" },
        { "p-384", NULL, NULL, NULL, NULL, FALSE, TRUE, "algorithm.userKey" },
        { "key not PEM", "{\"id\":\"a\",\"name\":\"b\",\"algorithm\":{\"hash\":\"" H1 "\",\"userKey\":\"x\","
          "\"algo_type\":\"bin\"}}", NULL, NULL, NULL, FALSE, FALSE, "algorithm.userKey" },
        { "id missing", "{\"name\":\"b\"}", NULL, NULL, NULL, FALSE, FALSE, "id: missing" },
        { "id type", "{\"id\":5,\"name\":\"b\"}", NULL, NULL, NULL, FALSE, FALSE, "id: must be a string" },
        { "algorithm missing", "{\"id\":\"a\",\"name\":\"b\"}", NULL, NULL, NULL, FALSE, FALSE, "algorithm: missing" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        const BadCase *c = &cases[i];
        g_autofree char *text = c->text ? g_strdup(c->text)
                                        : manifest(c->weak_key ? weak_pem : c->p384_key ? p384_pem : NULL, c->top,
                                                   c->dataset, c->algo_type);
        g_autoptr(GError) error = NULL;
        g_autoptr(CvAgentManifest) m = cv_agent_manifest_parse(text, strlen(text), &error);

        g_test_message("case %s: %s", c->name, error ? error->message : "(accepted)");
        g_assert_null(m);
        g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
        g_assert_nonnull(strstr(error->message, c->expect));
    }
}

static void
test_bad_hash_and_names(void)
{
    g_autofree char *ok = manifest(NULL, NULL, NULL, NULL);
    const char *bad_names[] = { "../x", "a/b", ".hidden", "", "a\\b" };

    /* a short hash */
    {
        g_autofree char *t = g_strdup(ok);
        char *p = strstr(t, H2);
        g_autoptr(GError) error = NULL;
        g_autoptr(CvAgentManifest) m = NULL;
        p[10] = '"';  /* cuts the first dataset's hash to 10 digits; the rest becomes junk JSON */
        m = cv_agent_manifest_parse(t, strlen(t), &error);
        g_assert_null(m);
        g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
    }
    {
        g_autofree char *t = g_strdup(ok);
        char *p = strstr(t, H2);
        g_autoptr(GError) error = NULL;
        g_autoptr(CvAgentManifest) m = NULL;
        p[3] = 'z';
        m = cv_agent_manifest_parse(t, strlen(t), &error);
        g_assert_null(m);
        g_assert_nonnull(strstr(error->message, "datasets[0].hash"));
    }
    for (guint i = 0; i < G_N_ELEMENTS(bad_names); i++) {
        g_autoptr(GString) t = g_string_new(ok);
        g_autoptr(GError) error = NULL;
        g_autoptr(CvAgentManifest) m = NULL;
        g_autofree char *quoted = g_strdup_printf("\"filename\":\"%s\"", bad_names[i]);
        g_string_replace(t, "\"filename\":\"a.csv\"", quoted, 1);
        if (strcmp(bad_names[i], "a\\b") == 0)
            g_string_replace(t, "a\\b", "a\\\\b", 1);
        m = cv_agent_manifest_parse(t->str, t->len, &error);
        g_assert_null(m);
        g_assert_nonnull(strstr(error->message, "datasets[0].filename"));
    }
    /* two datasets with one name */
    {
        g_autoptr(GString) t = g_string_new(ok);
        g_autoptr(GError) error = NULL;
        g_autoptr(CvAgentManifest) m = NULL;
        g_string_replace(t, "b.csv.gz", "a.csv", 1);
        m = cv_agent_manifest_parse(t->str, t->len, &error);
        g_assert_null(m);
        g_assert_nonnull(strstr(error->message, "datasets[1].filename: 'a.csv' appears twice"));
    }
}

static void
test_states(void)
{
    g_assert_true(cv_agent_state_can_go(CV_AGENT_STATE_IDLE, CV_AGENT_STATE_RECEIVING_MANIFEST));
    g_assert_true(cv_agent_state_can_go(CV_AGENT_STATE_RECEIVING_DATA, CV_AGENT_STATE_RUNNING));
    g_assert_true(cv_agent_state_can_go(CV_AGENT_STATE_RUNNING, CV_AGENT_STATE_FAILED));
    g_assert_true(cv_agent_state_can_go(CV_AGENT_STATE_COMPLETE, CV_AGENT_STATE_IDLE));
    g_assert_false(cv_agent_state_can_go(CV_AGENT_STATE_RECEIVING_ALGORITHM, CV_AGENT_STATE_CONSUMING_RESULTS));
    g_assert_false(cv_agent_state_can_go(CV_AGENT_STATE_COMPLETE, CV_AGENT_STATE_RUNNING));
    g_assert_cmpstr(cv_agent_state_to_string(CV_AGENT_STATE_CONSUMING_RESULTS), ==, "ConsumingResults");
    /* stop: only a computation that is not over; a reset leaves any state */
    g_assert_true(cv_agent_state_can_go(CV_AGENT_STATE_RUNNING, CV_AGENT_STATE_STOPPED));
    g_assert_true(cv_agent_state_can_go(CV_AGENT_STATE_RECEIVING_DATA, CV_AGENT_STATE_STOPPED));
    g_assert_false(cv_agent_state_can_go(CV_AGENT_STATE_RECEIVING_MANIFEST, CV_AGENT_STATE_STOPPED));
    g_assert_false(cv_agent_state_can_go(CV_AGENT_STATE_COMPLETE, CV_AGENT_STATE_STOPPED));
    g_assert_false(cv_agent_state_can_go(CV_AGENT_STATE_FAILED, CV_AGENT_STATE_STOPPED));
    g_assert_false(cv_agent_state_can_go(CV_AGENT_STATE_STOPPED, CV_AGENT_STATE_FAILED));
    g_assert_true(cv_agent_state_can_go(CV_AGENT_STATE_STOPPED, CV_AGENT_STATE_IDLE));
    g_assert_cmpstr(cv_agent_state_to_string(CV_AGENT_STATE_STOPPED), ==, "Stopped");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ed_pem = pub_pem(EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
    ec_pem = pub_pem(EVP_EC_gen("P-256"));
    rsa_pem = pub_pem(EVP_RSA_gen(2048));
    weak_pem = pub_pem(EVP_RSA_gen(1024));
    p384_pem = pub_pem(EVP_EC_gen("P-384"));
    g_test_add_func("/manifest/valid", test_valid);
    g_test_add_func("/manifest/bad-fields", test_bad);
    g_test_add_func("/manifest/bad-hash-and-names", test_bad_hash_and_names);
    g_test_add_func("/manifest/states", test_states);
    return g_test_run();
}
