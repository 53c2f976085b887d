/* covirt-agent's core: the computation's state, its manifest, the files that
 * arrived, the run; the HTTPS API (api.c) and the control channel (control.c) drive it. */
#pragma once
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include "challenge.h"
#include "collector.h"
#include "control.h"
#include "manifest.h"
#include "runner.h"
#include "state.h"

G_BEGIN_DECLS

typedef struct {
    char *work_dir;
    guint port;            /* 0: any free port */
    char *listen_address;  /* NULL: all addresses */
    char *control_port;    /* NULL: no control channel */
    char *platform;        /* vtpm, sev-snp, tdx, none */
    char *hal_version;
    char *manifest_file;   /* host testing: the manifest without a manager */
    char *port_file;       /* written with the bound port once listening */
    char *tcti;            /* vtpm: TCTI for the evidence collector */
} CvAgentOptions;

#define CV_AGENT_EVENTS_MAX 256

typedef struct {
    CvAgentOptions opts;
    guint8 tls_sha256[32];
    GTlsCertificate *tls;
    SoupServer *server;
    guint port;
    CvAgentChallenges *challenges;
    CvAgentControl *control;

    CvAgentState state;
    CvAgentManifest *manifest;
    guint generation;      /* bumped on each reset, so a late upload cannot land in a new computation */
    gboolean algo_received;
    gboolean requirements_received;
    GHashTable *datasets_received;  /* filename set */
    GHashTable *uploads_active;     /* target path set: one upload per target at a time */
    gboolean *consumer_served;
    CvAgentRunner *runner;
    char *last_error;
    GQueue events;                  /* JsonNode, the latest CV_AGENT_EVENTS_MAX */
    CvAgentCollector *collector;    /* made on first use */
} CvAgent;

CvAgent *cv_agent_new(const CvAgentOptions *opts, GError **error);
void cv_agent_free(CvAgent *agent);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvAgent, cv_agent_free)

/* Binds the HTTPS server; after this agent->port is the real port. */
gboolean cv_agent_listen(CvAgent *agent, GError **error);

void cv_agent_set_state(CvAgent *agent, CvAgentState to, const char *why);
void cv_agent_event(CvAgent *agent, const char *kind, const char *message);
void cv_agent_log(CvAgent *agent, const char *source, const char *level, const char *line);

/* Accepted only while waiting for a manifest; the same manifest again is a no-op. */
gboolean cv_agent_load_manifest(CvAgent *agent, const char *json, gsize len, GError **error);
/* Kills a run, deletes every file, forgets the manifest: Idle, then ReceivingManifest. */
void cv_agent_stop(CvAgent *agent, const char *reason);

/* Paths inside the work dir. */
char *cv_agent_path(CvAgent *agent, const char *first, ...) G_GNUC_NULL_TERMINATED;

/* Called by the API once an upload is verified and in place. */
void cv_agent_algorithm_received(CvAgent *agent);
gboolean cv_agent_dataset_received(CvAgent *agent, const char *filename, GError **error);
/* A result consumer (index into manifest->consumer_keys) downloaded the result. */
void cv_agent_result_served(CvAgent *agent, guint consumer);

JsonNode *cv_agent_state_json(CvAgent *agent);

/* api.c */
void cv_agent_api_register(CvAgent *agent);
/* attestation.c: the evidence bundle for GET /v1/attestation, or an error (CV_ERROR_NOT_SUPPORTED when not
 * built in or without a platform) */
JsonNode *cv_agent_attestation(CvAgent *agent, const char *nonce_hex, GError **error);
/* POST /v1/attestation/credential (vtpm credential activation, docs/evidence.md) */
JsonNode *cv_agent_attestation_credential(CvAgent *agent, JsonNode *request, GError **error);
void cv_agent_attestation_manifest(CvAgent *agent);
void cv_agent_attestation_free(CvAgent *agent);

G_END_DECLS
