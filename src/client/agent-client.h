/* The client side of the agent's API, for `covirt algo|data|result`, the tests
 * and the benchmark: challenge, signed request, streamed upload and download,
 * the agent's TLS key pinned for the whole session. */
#pragma once
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <openssl/evp.h>

G_BEGIN_DECLS

typedef struct _CvAgentClient CvAgentClient;
typedef void (*CvAgentClientProgress)(guint64 done, guint64 total, gpointer user_data);

/* url "https://host:port"; key_path may be NULL (unsigned requests only);
 * pin_sha256_hex: the TLS public key's SHA-256 the agent must present (from
 * attestation); NULL pins the first key seen, for this client's lifetime. */
CvAgentClient *cv_agent_client_new(const char *url, const char *key_path, const char *pin_sha256_hex,
                                   GError **error);
void cv_agent_client_free(CvAgentClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvAgentClient, cv_agent_client_free)

/* SHA-256 of the agent's TLS public key as seen (hex), NULL before the first request. */
const char *cv_agent_client_peer_key_sha256(CvAgentClient *client);

JsonNode *cv_agent_client_get_json(CvAgentClient *client, const char *path, GError **error);
/* An agent's answer (status, reason phrase, body) as JSON, or as the agent's error with the code its status
 * stands for; the body is read with its types checked (tests/fuzz/fuzz-agent-reply.c) */
JsonNode *cv_agent_client_answer(guint status, const char *reason, const char *text, gsize len, GError **error);
char *cv_agent_client_challenge(CvAgentClient *client, GError **error);
/* base64 signature over D(challenge, method, path, body_sha3) with the client's key; path as libsoup sends it
 * (%2E and the like decoded, dot segments removed: docs/agent.md, "Signed requests") */
char *cv_agent_client_sign(CvAgentClient *client, const char *challenge_hex, const char *method, const char *path,
                           const guint8 body_sha3[32], GError **error);

/* PUT a file with explicit challenge/signature (tests replay with these) and declared hash. */
JsonNode *cv_agent_client_put_signed(CvAgentClient *client, const char *path, const char *file,
                                     const char *sha3_hex, const char *challenge_hex, const char *signature_b64,
                                     CvAgentClientProgress progress, gpointer user_data, GError **error);
/* The whole signed upload: hash the file, get a challenge, sign, PUT. */
JsonNode *cv_agent_client_upload(CvAgentClient *client, const char *path, const char *file,
                                 CvAgentClientProgress progress, gpointer user_data, GError **error);
/* GET /v1/result, signed, into out_file (0600). */
gboolean cv_agent_client_download_result(CvAgentClient *client, const char *out_file, CvAgentClientProgress progress,
                                         gpointer user_data, GError **error);

/* CV_AGENT_API_DATASETS_PREFIX "<escaped name>" */
char *cv_agent_client_dataset_path(const char *filename);
/* The result comes from the guest: its zip may be a bomb or carry links, devices and paths out.
 * Unpacks it into dir with at most max_bytes written (and never more than dir's filesystem has
 * free), regular files and folders only, no entry replacing a file already in dir. Extraction
 * goes to a private folder first: on any failure dir is left as it was. */
#define CV_AGENT_CLIENT_RESULT_MAX_ENTRIES 100000
gboolean cv_agent_client_unpack(const char *zip, const char *dir, guint64 max_bytes, GError **error);

/* For the CLI: with pin_hex, pins that key; otherwise attests the agent against the policy
 * (and the expected manifest, if given) and pins the key the passing verdict names.
 * Neither: an error — nothing is sent to an agent that was not attested. */
CvAgentClient *cv_agent_client_new_attested(const char *url, const char *key_path, const char *policy_path,
                                            const char *manifest_path, const char *pin_hex, GError **error);
G_END_DECLS
