/* The manifest parser the agent and the manager share: a valid manifest, each kind of bad field named
 * in the refusal, Cocos's spellings and encodings, and the manifest hash. */
#include "manifest.h"
#include "cv-autoptr.h"
#include "cv-error.h"
#include "cv-jcs.h"
#include "cv-sign.h"
#include "cv-util.h"

#include <string.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

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
/* an Ed25519 public key as Cocos writes it: base64 of its DER */
#define ED_DER "MCowBQYDK2VwAyEAJPnur2R6v0GAdOHKc0Z+GR41ZjKgzCXNRHStHwvYu3s="

/* A manifest with @dataset_extra inserted in the first dataset and @top_extra at the top level. */
static char *
manifest(const char *algo_key, const char *top_extra, const char *dataset_extra, const char *algo_type)
{
    g_autofree char *ed = json_escape(algo_key ? algo_key : ed_pem);
    g_autofree char *ec = json_escape(ec_pem);
    g_autofree char *rsa = json_escape(rsa_pem);

    return g_strdup_printf(
        "{\"id\":\"c1\",\"name\":\"mean\",\"description\":\"d\"%s,"
        "\"datasets\":[{\"hash\":\"" H2 "\",\"user_key\":\"%s\",\"filename\":\"a.csv\"%s},"
        "{\"hash\":\"" H2 "\",\"user_key\":\"%s\",\"filename\":\"b.csv.gz\",\"decompress\":true}],"
        "\"algorithm\":{\"hash\":\"" H1 "\",\"user_key\":\"%s\",\"algo_type\":\"%s\",\"algo_args\":[\"-v\",\"x\"]},"
        "\"result_consumers\":[{\"user_key\":\"%s\"}]}",
        top_extra ? top_extra : "", ec, dataset_extra ? dataset_extra : "", ec, ed, algo_type ? algo_type : "python",
        rsa);
}

static void
test_valid(void)
{
    g_autofree char *text = manifest(NULL, NULL, NULL, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(CvManifest) m = cv_manifest_parse(text, strlen(text), &error);

    g_assert_no_error(error);
    g_assert_cmpstr(m->id, ==, "c1");
    g_assert_cmpuint(m->datasets->len, ==, 2);
    g_assert_cmpint(m->algo_type, ==, CV_MANIFEST_ALGO_PYTHON);
    g_assert_cmpstr(m->algo_args[1], ==, "x");
    g_assert_true(((CvManifestDataset *)g_ptr_array_index(m->datasets, 1))->decompress);
    g_assert_cmpstr(cv_user_key_type(m->algo_key), ==, "ed25519");
    g_assert_cmpstr(cv_user_key_type(((CvManifestDataset *)g_ptr_array_index(m->datasets, 0))->user_key), ==, "ecdsa");
    g_assert_cmpstr(cv_user_key_type(g_ptr_array_index(m->consumer_keys, 0)), ==, "rsa");
    g_assert_nonnull(cv_manifest_find_dataset(m, "b.csv.gz"));
    g_assert_null(cv_manifest_find_dataset(m, "c.csv"));
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
        { "unknown dataset field", NULL, NULL, ",\"userkey\":\"x\"", NULL, FALSE, FALSE,
          "datasets[0].userkey: unknown field" },
        { "both spellings", NULL, NULL, ",\"userKey\":\"x\"", NULL, FALSE, FALSE,
          "datasets[0].user_key: given twice, as 'user_key' and 'userKey'" },
        { "decompress type", NULL, NULL, ",\"decompress\":\"yes\"", NULL, FALSE, FALSE,
          "datasets[0].decompress: must be a boolean" },
        { "algo type", NULL, NULL, NULL, "java", FALSE, FALSE, "algorithm.algo_type: 'java'" },
        { "weak rsa", NULL, NULL, NULL, NULL, TRUE, FALSE, "algorithm.user_key: the public key is not" },
        { "p-384", NULL, NULL, NULL, NULL, FALSE, TRUE, "algorithm.user_key: the public key is not" },
        { "key not PEM", "{\"id\":\"a\",\"name\":\"b\",\"algorithm\":{\"hash\":\"" H1 "\",\"user_key\":\"x\","
          "\"algo_type\":\"bin\"}}", NULL, NULL, NULL, FALSE, FALSE, "algorithm.user_key: must be a PEM public key" },
        { "args not strings", "{\"id\":\"a\",\"name\":\"b\",\"algorithm\":{\"hash\":\"" H1 "\",\"user_key\":"
          "\"" ED_DER "\",\"algo_type\":\"bin\",\"algo_args\":[\"a\",1]}}", NULL, NULL, NULL, FALSE, FALSE,
          "algorithm.algo_args[1]: must be a string" },
        { "consumers empty", "{\"id\":\"a\",\"name\":\"b\",\"algorithm\":{\"hash\":\"" H1 "\",\"user_key\":"
          "\"" ED_DER "\",\"algo_type\":\"bin\"},\"result_consumers\":[]}", NULL, NULL, NULL, FALSE, FALSE,
          "result_consumers: must be a non-empty array" },
        { "consumers missing", "{\"id\":\"a\",\"name\":\"b\",\"algorithm\":{\"hash\":\"" H1 "\",\"user_key\":"
          "\"" ED_DER "\",\"algo_type\":\"bin\"}}", NULL, NULL, NULL, FALSE, FALSE, "result_consumers: missing" },
        { "consumer key type", "{\"id\":\"a\",\"name\":\"b\",\"algorithm\":{\"hash\":\"" H1 "\",\"user_key\":"
          "\"" ED_DER "\",\"algo_type\":\"bin\"},\"result_consumers\":[{\"user_key\":7}]}", NULL, NULL, NULL,
          FALSE, FALSE, "result_consumers[0].user_key: must be a string" },
        { "DER not a key", "{\"id\":\"a\",\"name\":\"b\",\"algorithm\":{\"hash\":\"" H1 "\",\"user_key\":"
          "\"AAAA\",\"algo_type\":\"bin\"}}", NULL, NULL, NULL, FALSE, FALSE,
          "algorithm.user_key: not a DER public key" },
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
        g_autoptr(CvManifest) m = cv_manifest_parse(text, strlen(text), &error);

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
        g_autoptr(CvManifest) m = NULL;
        p[10] = '"';  /* cuts the first dataset's hash to 10 digits; the rest becomes junk JSON */
        m = cv_manifest_parse(t, strlen(t), &error);
        g_assert_null(m);
        g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
    }
    {
        g_autofree char *t = g_strdup(ok);
        char *p = strstr(t, H2);
        g_autoptr(GError) error = NULL;
        g_autoptr(CvManifest) m = NULL;
        p[3] = 'z';
        m = cv_manifest_parse(t, strlen(t), &error);
        g_assert_null(m);
        g_assert_nonnull(strstr(error->message, "datasets[0].hash"));
    }
    for (guint i = 0; i < G_N_ELEMENTS(bad_names); i++) {
        g_autoptr(GString) t = g_string_new(ok);
        g_autoptr(GError) error = NULL;
        g_autoptr(CvManifest) m = NULL;
        g_autofree char *quoted = g_strdup_printf("\"filename\":\"%s\"", bad_names[i]);
        g_string_replace(t, "\"filename\":\"a.csv\"", quoted, 1);
        if (strcmp(bad_names[i], "a\\b") == 0)
            g_string_replace(t, "a\\b", "a\\\\b", 1);
        m = cv_manifest_parse(t->str, t->len, &error);
        g_assert_null(m);
        g_assert_nonnull(strstr(error->message, "datasets[0].filename"));
    }
    /* two datasets with one name */
    {
        g_autoptr(GString) t = g_string_new(ok);
        g_autoptr(GError) error = NULL;
        g_autoptr(CvManifest) m = NULL;
        g_string_replace(t, "b.csv.gz", "a.csv", 1);
        m = cv_manifest_parse(t->str, t->len, &error);
        g_assert_null(m);
        g_assert_nonnull(strstr(error->message, "datasets[1].filename: 'a.csv' appears twice"));
    }
}

static CvManifest *
parse_ok(const char *text)
{
    g_autoptr(GError) error = NULL;
    CvManifest *m = cv_manifest_parse(text, strlen(text), &error);

    g_assert_no_error(error);
    return m;
}

static char *
refusal(const char *text)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CvManifest) m = cv_manifest_parse(text, strlen(text), &error);

    g_assert_null(m);
    g_assert_error(error, CV_ERROR, CV_ERROR_INVALID);
    return g_strdup(error->message);
}

/* userKey, covirt's first spelling, still reads as user_key, to the same keys */
static void
test_alias(void)
{
    g_autofree char *text = manifest(NULL, NULL, NULL, NULL);
    g_autoptr(GString) old = g_string_new(text);
    g_autoptr(CvManifest) a = NULL, b = NULL;

    g_assert_cmpuint(g_string_replace(old, "\"user_key\"", "\"userKey\"", 0), ==, 4);
    a = parse_ok(text);
    b = parse_ok(old->str);
    g_assert_cmpstr(cv_user_key_type(b->algo_key), ==, cv_user_key_type(a->algo_key));
    g_assert_cmpstr(cv_user_key_type(g_ptr_array_index(b->consumer_keys, 0)), ==, "rsa");
    /* the hash is of the document as written: another spelling is another document */
    g_assert_true(memcmp(a->sha256, b->sha256, 32) != 0);
}

/* DER of a PEM public key, base64, as Go's JSON writes the []byte Cocos keeps it in */
static char *
cocos_key(const char *pem)
{
    g_autoptr(BIO) bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    guint8 *der = NULL;
    int n;
    char *b64;

    g_assert_nonnull(k);
    n = i2d_PUBKEY(k, &der);
    g_assert_cmpint(n, >, 0);
    b64 = g_base64_encode(der, n);
    OPENSSL_free(der);
    EVP_PKEY_free(k);
    return b64;
}

/* a [32]byte as Go's JSON writes it: 32 numbers */
static char *
cocos_hash(const char *hex)
{
    g_autoptr(GBytes) raw = cv_hex_decode(hex, NULL);
    const guint8 *d = g_bytes_get_data(raw, NULL);
    g_autoptr(GString) out = g_string_new("[");

    for (int i = 0; i < 32; i++)
        g_string_append_printf(out, "%s%u", i ? "," : "", d[i]);
    g_string_append_c(out, ']');
    return g_string_free(g_steal_pointer(&out), FALSE);
}

/* A manifest in Cocos's own form (agent/computations.go through Go's encoding/json: its members in
 * Go's order, hashes as numbers, keys as base64 DER, a false decompress left out) reads as the same
 * computation as covirt's form; a hash may also be base64 of 32 bytes, a key base64 of a PEM file */
static void
test_cocos_forms(void)
{
    g_autofree char *ec = cocos_key(ec_pem), *ed = cocos_key(ed_pem);
    g_autofree char *h1 = cocos_hash(H1), *h2 = cocos_hash(H2);
    g_autoptr(GBytes) raw2 = cv_hex_decode(H2, NULL);
    g_autofree char *h2_b64 = g_base64_encode(g_bytes_get_data(raw2, NULL), 32);
    g_autofree char *rsa_pem_b64 = g_base64_encode((const guchar *)rsa_pem, strlen(rsa_pem));
    g_autofree char *text = g_strdup_printf(
        "{\"id\":\"1\",\"name\":\"sample computation\",\"description\":\"sample descrption\","
        "\"datasets\":[{\"hash\":%s,\"user_key\":\"%s\",\"filename\":\"a.csv\"},"
        "{\"hash\":\"%s\",\"user_key\":\"%s\",\"filename\":\"b.csv.gz\",\"decompress\":true}],"
        "\"algorithm\":{\"hash\":%s,\"user_key\":\"%s\",\"algo_type\":\"python\",\"algo_args\":[\"-v\",\"x\"]},"
        "\"result_consumers\":[{\"user_key\":\"%s\"}]}", h2, ec, h2_b64, ec, h1, ed, rsa_pem_b64);
    g_autoptr(CvManifest) m = parse_ok(text);
    const CvManifestDataset *a = cv_manifest_find_dataset(m, "a.csv"), *b = cv_manifest_find_dataset(m, "b.csv.gz");

    g_assert_cmpstr(m->algo_hash, ==, H1);
    g_assert_cmpstr(a->hash, ==, H2);
    g_assert_cmpstr(b->hash, ==, H2);
    g_assert_false(a->decompress);
    g_assert_true(b->decompress);
    g_assert_cmpstr(cv_user_key_type(m->algo_key), ==, "ed25519");
    g_assert_cmpstr(cv_user_key_type(a->user_key), ==, "ecdsa");
    g_assert_cmpstr(cv_user_key_type(g_ptr_array_index(m->consumer_keys, 0)), ==, "rsa");
    g_assert_cmpint(m->algo_type, ==, CV_MANIFEST_ALGO_PYTHON);

    /* what is neither form is refused naming the field */
    {
        /* a first element, then the 31 numbers of a good hash after it when `rest` */
        static const struct { const char *head; gboolean rest; } bad[] = {
            { "[1,2,3]" }, { "\"abcd\"" }, { "\"AAAA\"" }, { "{}" }, { "true" },
            { "[256,", TRUE }, { "[-1,", TRUE }, { "[1.5,", TRUE }, { "[\"1\",", TRUE },
        };
        const char *rest = strchr(h1, ',') + 1;

        for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
            g_autofree char *h = g_strconcat(bad[i].head, bad[i].rest ? rest : "", NULL);
            g_autofree char *t = g_strdup_printf(
                "{\"id\":\"1\",\"name\":\"n\",\"algorithm\":{\"hash\":%s,\"user_key\":\"%s\",\"algo_type\":\"bin\"},"
                "\"result_consumers\":[{\"user_key\":\"%s\"}]}", h, ed, ed);
            g_autofree char *why = refusal(t);

            g_test_message("hash %s: %s", h, why);
            g_assert_true(g_str_has_prefix(why, "manifest: algorithm.hash: must be a SHA3-256 digest"));
        }
    }
}

/* The manifest hash is SHA-256 of the RFC 8785 form: members sorted, no white space. Written out here
 * by hand for a small manifest, it is the same for any layout and member order of that manifest. */
static void
test_hash(void)
{
    const char *compact =
        "{\"result_consumers\":[{\"user_key\":\"" ED_DER "\"}],\"name\":\"n\",\"id\":\"c1\","
        "\"algorithm\":{\"user_key\":\"" ED_DER "\",\"hash\":\"" H1 "\",\"algo_type\":\"bin\"}}";
    const char *indented =
        "{\n  \"id\": \"c1\",\n  \"name\": \"n\",\n  \"algorithm\": {\n    \"algo_type\": \"bin\",\n"
        "    \"hash\": \"" H1 "\",\n    \"user_key\": \"" ED_DER "\"\n  },\n"
        "  \"result_consumers\": [ { \"user_key\": \"" ED_DER "\" } ]\n}\n";
    const char *canonical =
        "{\"algorithm\":{\"algo_type\":\"bin\",\"hash\":\"" H1 "\",\"user_key\":\"" ED_DER "\"},\"id\":\"c1\","
        "\"name\":\"n\",\"result_consumers\":[{\"user_key\":\"" ED_DER "\"}]}";
    g_autoptr(GBytes) expect = cv_digest("SHA256", canonical, strlen(canonical), NULL);
    g_autoptr(CvManifest) a = parse_ok(compact), b = parse_ok(indented), c = NULL;
    g_autoptr(GString) other = g_string_new(indented);

    g_assert_cmpmem(a->sha256, 32, g_bytes_get_data(expect, NULL), 32);
    g_assert_cmpmem(b->sha256, 32, a->sha256, 32);
    /* any change of content is another hash */
    g_string_replace(other, "\"c1\"", "\"c2\"", 1);
    c = parse_ok(other->str);
    g_assert_true(memcmp(c->sha256, a->sha256, 32) != 0);
    /* and the one function the clients use agrees */
    {
        g_autoptr(GBytes) d = cv_json_canonical_digest("SHA256", indented, -1, NULL);

        g_assert_cmpmem(g_bytes_get_data(d, NULL), 32, a->sha256, 32);
    }
}

/* inside a CVM spec the fields are named from the spec */
static void
test_in_spec(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) n = cv_json_parse("{\"id\":\"c1\",\"name\":\"n\",\"algorithm\":{},\"result_consumers\":[]}",
                                          -1, NULL);
    g_autoptr(JsonNode) s = cv_json_parse("\"x\"", -1, NULL);
    g_autoptr(CvManifest) m = cv_manifest_from_json(n, "computation", &error);

    g_assert_null(m);
    g_assert_cmpstr(error->message, ==, "computation.algorithm.hash: missing");
    g_clear_error(&error);
    g_assert_null(cv_manifest_from_json(s, "computation", &error));
    g_assert_cmpstr(error->message, ==, "computation: must be a JSON object");
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
    g_test_add_func("/manifest/alias", test_alias);
    g_test_add_func("/manifest/cocos-forms", test_cocos_forms);
    g_test_add_func("/manifest/hash", test_hash);
    g_test_add_func("/manifest/in-spec", test_in_spec);
    return g_test_run();
}
