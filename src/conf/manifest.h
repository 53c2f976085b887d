/* The computation manifest (docs/manifest.md): Cocos's fields, parsed strictly, by the agent when it
 * receives one and by the manager when a CVM spec carries one, so that what the manager accepts at
 * create is what the agent will accept. Every refusal names the field, e.g. "datasets[1].hash: ...". */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include "cv-enum.h"
#include "cv-user-key.h"

G_BEGIN_DECLS

typedef enum {
    CV_MANIFEST_ALGO_BIN,
    CV_MANIFEST_ALGO_PYTHON,
    CV_MANIFEST_ALGO_WASM,
    CV_MANIFEST_ALGO_DOCKER,
    CV_MANIFEST_ALGO_COUNT,
} CvManifestAlgoType;

/* the manifest's algo_type names: bin, python, wasm, docker */
CV_ENUM_DECL(cv_manifest_algo_type, CvManifestAlgoType);

typedef struct {
    char *hash;           /* SHA3-256, 64 lowercase hex digits, whichever form the manifest wrote */
    CvUserKey *user_key;
    char *filename;
    gboolean decompress;
} CvManifestDataset;

typedef struct {
    char *id;
    char *name;
    char *description;    /* "" when absent */
    GPtrArray *datasets;  /* CvManifestDataset */
    char *algo_hash;
    CvUserKey *algo_key;
    CvManifestAlgoType algo_type;
    GStrv algo_args;      /* empty when absent */
    GPtrArray *consumer_keys;  /* CvUserKey */
    guint8 sha256[32];    /* the manifest hash: SHA-256 of its RFC 8785 canonical form (docs/manifest.md) */
} CvManifest;

#define CV_MANIFEST_MAX (1024 * 1024)   /* bytes of manifest text */

/* The manifest in text (at most CV_MANIFEST_MAX bytes): errors read "manifest: FIELD: why". */
CvManifest *cv_manifest_parse(const char *json, gsize len, GError **error);
/* The manifest as a parsed node, inside a document: errors read "WHERE.FIELD: why" (the CVM spec's
 * "computation.algorithm.hash: missing"); where NULL reads as cv_manifest_parse()'s. */
CvManifest *cv_manifest_from_json(JsonNode *root, const char *where, GError **error);
void cv_manifest_free(CvManifest *manifest);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvManifest, cv_manifest_free)

/* A dataset's file name is one path component: no '/', no NUL, not "." or "..",
 * not hidden, printable, at most 255 bytes. */
gboolean cv_manifest_filename_is_safe(const char *name);
const CvManifestDataset *cv_manifest_find_dataset(const CvManifest *manifest, const char *filename);

G_END_DECLS
