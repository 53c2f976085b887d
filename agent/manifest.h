/* The computation manifest (docs/manifest.md): Cocos's fields, parsed strictly.
 * Every refusal names the field that was wrong, e.g. "datasets[1].hash: ...". */
#pragma once
#include <glib.h>
#include "cv-enum.h"
#include "user-key.h"

G_BEGIN_DECLS

typedef enum {
    CV_AGENT_ALGO_BIN,
    CV_AGENT_ALGO_PYTHON,
    CV_AGENT_ALGO_WASM,
    CV_AGENT_ALGO_DOCKER,
    CV_AGENT_ALGO_COUNT,
} CvAgentAlgoType;

/* the manifest's algo_type names: bin, python, wasm, docker */
CV_ENUM_DECL(cv_agent_algo_type, CvAgentAlgoType);

typedef struct {
    char *hash;           /* SHA3-256, 64 lowercase hex digits */
    char *user_key_pem;
    CvAgentUserKey *user_key;
    char *filename;
    gboolean decompress;
} CvAgentDataset;

typedef struct {
    char *id;
    char *name;
    char *description;
    GPtrArray *datasets;  /* CvAgentDataset */
    char *algo_hash;
    char *algo_key_pem;
    CvAgentUserKey *algo_key;
    CvAgentAlgoType algo_type;
    GStrv algo_args;
    GPtrArray *consumer_keys;  /* CvAgentUserKey */
    guint8 sha256[32];    /* of the manifest's bytes, for attestation */
    char *sha3_256_hex;   /* of the manifest's bytes, as `covirt checksum` prints it */
} CvAgentManifest;

#define CV_AGENT_MANIFEST_MAX (1024 * 1024)

CvAgentManifest *cv_agent_manifest_parse(const char *json, gsize len, GError **error);
void cv_agent_manifest_free(CvAgentManifest *manifest);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvAgentManifest, cv_agent_manifest_free)

/* A dataset's file name is one path component: no '/', no NUL, not "." or "..",
 * not hidden, printable, at most 255 bytes. */
gboolean cv_agent_filename_is_safe(const char *name);
const CvAgentDataset *cv_agent_manifest_find_dataset(const CvAgentManifest *manifest, const char *filename);

G_END_DECLS
