/* covirt-agent's core: the computation's state, its manifest, the files that arrived, the run and the
 * evidence. It knows no HTTP: the HTTPS front (api.h) and the control channel (control.c) drive it
 * through these functions, and main.c wires the front to it. */
#pragma once
#include <glib.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include "attestation.h"
#include "manifest.h"
#include "state.h"

G_BEGIN_DECLS

typedef struct {
    const char *work_dir;
    const char *control_port;  /* NULL: no control channel */
    const char *platform;      /* vtpm, sev-snp, tdx, none (NULL) */
    const char *hal_version;
    const char *tcti;          /* vtpm: TCTI for the evidence collector */
    guint8 tls_sha256[32];     /* the HTTPS front's public key: announced in Hello, shown in the state */
    guint64 dataset_ratio;     /* a decompressed dataset's limit (dataset-unpack.h), 0 for the default */
    guint64 dataset_max_bytes;
} CvAgentOptions;

#define CV_AGENT_EVENTS_MAX 256

typedef struct _CvAgent CvAgent;

/* Creates the work dir and empties it; starts the control channel; ReceivingManifest. */
CvAgent *cv_agent_new(const CvAgentOptions *opts, GError **error);
void cv_agent_free(CvAgent *agent);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvAgent, cv_agent_free)

CvAgentState cv_agent_get_state(CvAgent *agent);
/* The accepted manifest, NULL before one; it is freed on a reset. */
const CvManifest *cv_agent_get_manifest(CvAgent *agent);
CvAgentAttestation *cv_agent_get_attestation(CvAgent *agent);
/* GET /v1/state */
JsonNode *cv_agent_state_json(CvAgent *agent);
void cv_agent_event(CvAgent *agent, const char *kind, const char *message);

/* Accepted only while waiting for a manifest; the same manifest again is a no-op. */
gboolean cv_agent_load_manifest(CvAgent *agent, const char *json, gsize len, GError **error);
/* The operator's stop (control channel): kills the run (its process group) or a decompression,
 * refuses uploads in flight, deletes every file; the manifest stays and the computation ends in
 * Stopped, final until a reset. CV_ERROR_CONFLICT when there is none or it is over. */
gboolean cv_agent_stop(CvAgent *agent, const char *reason, GError **error);
/* The operator's reset: deletes every file, result and requirement, forgets the manifest, and waits
 * for one (ReceivingManifest); json (len > 0) is then loaded as the new manifest, and its refusal is
 * the error (the files are gone all the same). CV_ERROR_CONFLICT while Running or ConsumingResults:
 * stop first. */
gboolean cv_agent_reset(CvAgent *agent, const char *reason, const char *json, gsize len, GError **error);

/* ---- files the manifest names: uploaded by the front, checked and placed by the core ---- */
typedef enum {
    CV_AGENT_FILE_ALGORITHM,
    CV_AGENT_FILE_REQUIREMENTS,
    CV_AGENT_FILE_WHEEL,
    CV_AGENT_FILE_DATASET,
} CvAgentFileKind;

typedef struct {
    CvAgentFileKind kind;
    char *name;                 /* wheel or dataset file name, NULL for the others */
    char *target;               /* where it goes in the work dir */
    CvUserKey *key;        /* who must sign it: the manifest's, gone at the next stop or manifest */
    char *expected_sha3;        /* the manifest's SHA3-256 (hex), NULL when it names none */
    guint64 limit;              /* bytes */
    guint generation;           /* the computation it belongs to */
} CvAgentFileSlot;

void cv_agent_file_slot_clear(CvAgentFileSlot *slot);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CvAgentFileSlot, cv_agent_file_slot_clear)

/* Who may send the file, where it goes and what it must hash to: CV_ERROR_CONFLICT without a
 * manifest, CV_ERROR_NOT_FOUND for a dataset the manifest does not name. */
gboolean cv_agent_file_slot(CvAgent *agent, CvAgentFileKind kind, const char *name, CvAgentFileSlot *slot,
                            GError **error);
/* Whether the file is wanted now (the state, not received yet): CV_ERROR_CONFLICT if not. Asked once
 * the sender is authenticated, so that a stranger learns nothing of the state. */
gboolean cv_agent_file_wanted(CvAgent *agent, const CvAgentFileSlot *slot, GError **error);
/* Moves a verified file into place (the algorithm made executable), unless the computation was
 * reset meanwhile (CV_ERROR_CONFLICT); tmp_path stays the caller's to delete on failure. */
gboolean cv_agent_file_place(CvAgent *agent, const CvAgentFileSlot *slot, const char *tmp_path, GError **error);
/* The file is in place: events, decompression, the next state (the last dataset starts the run).
 * A dataset to decompress is extracted in a child while the main loop runs: callback comes once it
 * is in place or refused (nothing of it left, the dataset still wanted); the others come at once.
 * The slot is not used after this returns. */
void cv_agent_file_received(CvAgent *agent, const CvAgentFileSlot *slot, GAsyncReadyCallback callback,
                            gpointer data);
gboolean cv_agent_file_received_finish(GAsyncResult *result, GError **error);

/* ---- the result ---- */
/* Paths inside the work dir. */
char *cv_agent_path(CvAgent *agent, const char *first, ...) G_GNUC_NULL_TERMINATED;
/* The result zip's path once the run has made it, else CV_ERROR_CONFLICT. */
char *cv_agent_result_file(CvAgent *agent, GError **error);
/* A result consumer (index into the manifest's consumer_keys) downloaded the result. */
void cv_agent_result_served(CvAgent *agent, guint consumer);

G_END_DECLS
