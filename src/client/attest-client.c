#include "attest-client.h"
#include "client-session.h"
#include "cv-file.h"
#include "agent-api.h"
#include "cv-autoptr.h"
#include "cv-json.h"
#include "cv-sign.h"
#include "cv-util.h"
#include "evidence.h"
#include "policy.h"
#include "attest-util.h"
#include "tpm-quote.h"

#include <string.h>
#include <openssl/rand.h>

#define MAX_BUNDLE (32u << 20)

gboolean
cv_client_tls_key_sha256(GTlsCertificate *cert, guint8 out[32], GError **error)
{
    g_autoptr(GByteArray) der = NULL;
    g_autoptr(X509) x = NULL;
    g_autoptr(GBytes) d = NULL;
    const unsigned char *q;

    g_object_get(cert, "certificate", &der, NULL);
    q = der ? der->data : NULL;
    if (!der || !(x = d2i_X509(NULL, &q, der->len)) || !X509_get0_pubkey(x)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "the agent's TLS certificate cannot be read");
        return FALSE;
    }
    /* the same SubjectPublicKeyInfo hash as `covirt keys` fingerprints */
    if (!(d = cv_sign_pubkey_sha256(X509_get0_pubkey(x), error)))
        return FALSE;
    memcpy(out, g_bytes_get_data(d, NULL), 32);
    return TRUE;
}

static gboolean
accept_any(SoupMessage *msg, GTlsCertificate *cert, GTlsCertificateFlags errors, gpointer data)
{
    /* the agent's certificate is self-signed: what binds it is the attested key hash, checked after */
    return TRUE;
}

static gboolean
accept_pinned(SoupMessage *msg, GTlsCertificate *cert, GTlsCertificateFlags errors, gpointer data)
{
    guint8 seen[32];

    return cv_client_tls_key_sha256(cert, seen, NULL) && memcmp(seen, data, 32) == 0;
}

/* Makes msg accept the peer's (self-signed) certificate only when its key is the pinned one. */
static void
pin_message(SoupMessage *msg, const guint8 pinned_key_sha256[32])
{
    g_signal_connect_data(msg, "accept-certificate", G_CALLBACK(accept_pinned), g_memdup2(pinned_key_sha256, 32),
                          (GClosureNotify)(void (*)(void))g_free, 0);
}

/* Sends msg and returns its JSON body; non-2xx answers become errors with the agent's message. */
static JsonNode *
send_json(SoupSession *session, SoupMessage *msg, guint8 peer_key[32], GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GInputStream) in = soup_session_send(session, msg, NULL, &local);
    g_autoptr(GBytes) body = NULL;
    guint status;
    GTlsCertificate *peer;

    if (in)
        /* at most MAX_BUNDLE bytes: a hostile agent must not make the client buffer gigabytes */
        body = cv_stream_read_bounded(in, MAX_BUNDLE, "the agent's answer", &local);
    if (!body) {
        g_autofree char *why = cv_client_transport_message(local);

        /* the transport's errors (GIO, TLS) mean the agent cannot be reached */
        g_set_error(error, CV_ERROR, local->domain == CV_ERROR ? local->code : CV_ERROR_UNAVAILABLE, "agent: %s",
                    why);
        return NULL;
    }
    status = soup_message_get_status(msg);
    if (status < 200 || status >= 300) {
        /* the agent's text goes to a terminal: escaped, so it cannot carry control sequences */
        g_autofree char *head = g_strndup(g_bytes_get_data(body, NULL), MIN(g_bytes_get_size(body), 300));
        g_autofree char *text = g_strescape(head, NULL);
        g_set_error(error, CV_ERROR, status == 404 || status == 501 ? CV_ERROR_UNAVAILABLE : CV_ERROR_VERIFY,
                    "agent answered %u: %s", status, text);
        return NULL;
    }
    peer = soup_message_get_tls_peer_certificate(msg);
    if (!peer || !cv_client_tls_key_sha256(peer, peer_key, error)) {
        if (error && !*error)
            g_set_error(error, CV_ERROR, CV_ERROR_VERIFY, "the agent must be reached over HTTPS");
        return NULL;
    }
    return cv_json_parse(g_bytes_get_data(body, NULL), g_bytes_get_size(body), error);
}

static void
credential_check(CvAttestVerdict *v, SoupSession *session, const char *base, JsonNode *bundle, const guint8 pin[32])
{
    g_autoptr(GBytes) ek = NULL, ak = NULL, name = NULL, secret = NULL, blob = NULL, enc = NULL, got = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) answer = NULL;
    g_autoptr(SoupMessage) msg = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) req = NULL;
    g_autofree char *url = g_strdup_printf("%s" CV_AGENT_API_CREDENTIAL, base);
    g_autofree char *text = NULL;
    g_autofree char *blob64 = NULL, *enc64 = NULL;
    g_autoptr(GBytes) req_body = NULL;
    guint8 peer[32];
    TPM2B_PUBLIC pub;
    const char *secret64, *ek_b64, *ak_b64;
    JsonObject *tpm = NULL;

    /* the agent's bundle: members are read only with the type checked */
    if (JSON_NODE_HOLDS_OBJECT(bundle))
        cv_json_member_object(json_node_get_object(bundle), "tpm", FALSE, &tpm, NULL);
    ek_b64 = cv_json_member_string_or(tpm, "ek_certificate", NULL);
    ak_b64 = cv_json_member_string_or(tpm, "ak_public", NULL);
    ek = ek_b64 ? cv_base64_decode_strict(ek_b64, NULL) : NULL;
    ak = ak_b64 ? cv_base64_decode_strict(ak_b64, NULL) : NULL;
    if (!ek || !ak || !cv_attest_tpm2b_public_parse(g_bytes_get_data(ak, NULL), g_bytes_get_size(ak), &pub, &error) ||
        !(name = cv_attest_tpm_public_name(&pub.publicArea, &error)) ||
        !cv_attest_make_credential(ek, name, &secret, &blob, &enc, &error)) {
        cv_attest_verdict_set(v, "tpm.credential", CV_ATTEST_FAIL, "cannot seal a credential: %s",
                              error ? error->message : "no EK certificate or AK in the evidence");
        return;
    }
    blob64 = g_base64_encode(g_bytes_get_data(blob, NULL), g_bytes_get_size(blob));
    enc64 = g_base64_encode(g_bytes_get_data(enc, NULL), g_bytes_get_size(enc));
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "credential_blob");
    json_builder_add_string_value(b, blob64);
    json_builder_set_member_name(b, "encrypted_secret");
    json_builder_add_string_value(b, enc64);
    json_builder_end_object(b);
    req = json_builder_get_root(b);
    text = cv_json_to_string(req, FALSE);
    req_body = g_bytes_new(text, strlen(text));
    msg = soup_message_new("POST", url);
    if (!msg) {
        cv_attest_verdict_set(v, "tpm.credential", CV_ATTEST_FAIL, "bad agent URL");
        return;
    }
    soup_message_set_request_body_from_bytes(msg, "application/json", req_body);
    pin_message(msg, pin);
    answer = send_json(session, msg, peer, &error);
    if (!answer || !JSON_NODE_HOLDS_OBJECT(answer) ||
        !(secret64 = cv_json_member_string_or(json_node_get_object(answer), "secret", NULL)) ||
        !(got = cv_base64_decode_strict(secret64, NULL))) {
        cv_attest_verdict_set(v, "tpm.credential", CV_ATTEST_FAIL, "activation failed: %s",
                              error ? error->message : "no \"secret\" in the answer");
        return;
    }
    cv_attest_verdict_set(v, "tpm.credential", g_bytes_equal(got, secret) ? CV_ATTEST_PASS : CV_ATTEST_FAIL,
                          "the AK %s in the TPM that holds the certified EK",
                          g_bytes_equal(got, secret) ? "lives" : "was not shown to live");
}

CvAttestVerdict *
cv_client_attest_agent(const char *agent_url, JsonNode *policy, const guint8 *manifest_sha256, guint8 pinned[32],
                GError **error)
{
    g_autoptr(SoupSession) session = cv_client_session_new("covirt-attest");
    g_autoptr(SoupMessage) msg = NULL;
    g_autoptr(JsonNode) bundle = NULL;
    g_autoptr(CvAttestVerdict) v = NULL;
    g_autofree char *base = NULL, *url = NULL, *nonce_hex = NULL, *claimed = NULL;
    g_autoptr(GBytes) claimed_bytes = NULL;
    guint8 nonce[32], peer[32];
    gboolean require_credential = TRUE;

    if (!agent_url || !g_str_has_prefix(agent_url, "https://")) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "the agent URL must start with https://");
        return NULL;
    }
    if (!policy || !cv_attest_policy_platform(policy)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "a policy is required");
        return NULL;
    }
    if (!cv_attest_policy_bool(json_node_get_object(policy), "require_credential", TRUE, &require_credential, error))
        return NULL;
    base = g_strdup(agent_url);
    while (g_str_has_suffix(base, "/"))
        base[strlen(base) - 1] = '\0';
    if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "no randomness for the nonce");
        return NULL;
    }
    nonce_hex = cv_hex_encode(nonce, sizeof(nonce));
    url = g_strdup_printf("%s" CV_AGENT_API_ATTESTATION "?" CV_AGENT_API_ATTESTATION_NONCE "=%s", base, nonce_hex);
    msg = soup_message_new("GET", url);
    if (!msg) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "'%s' is not a usable URL", agent_url);
        return NULL;
    }
    g_signal_connect(msg, "accept-certificate", G_CALLBACK(accept_any), NULL);
    if (!(bundle = send_json(session, msg, peer, error)))
        return NULL;
    if (!(v = cv_attest_evidence_verify(bundle, policy, nonce, sizeof(nonce), manifest_sha256, 0, error)))
        return NULL;
    /* the key we spoke TLS with must be the key the evidence binds */
    claimed = cv_attest_evidence_tls_key_sha256(bundle, error);
    if (!claimed)
        return NULL;
    claimed_bytes = cv_hex_decode(claimed, NULL);
    {
        gboolean same = claimed_bytes && memcmp(g_bytes_get_data(claimed_bytes, NULL), peer, 32) == 0;
        g_autofree char *peer_hex = cv_hex_encode(peer, 32);
        cv_attest_verdict_add(v, "evidence.tls_key", same ? CV_ATTEST_PASS : CV_ATTEST_FAIL,
                              "TLS key %s %s the attested key", peer_hex, same ? "is" : "is NOT");
    }
    if (strcmp(cv_attest_policy_platform(policy), "vtpm") == 0) {
        if (require_credential)
            credential_check(v, session, base, bundle, peer);
    }
    if (cv_attest_verdict_passed(v))
        memcpy(pinned, peer, 32);
    return g_steal_pointer(&v);
}
