/* libFuzzer: computation manifests (from the manager, a CVM spec or a user) through the parser the
 * agent and the manager share. A refusal must carry a reason; an accepted manifest must have its
 * keys, a consumer, hashes in hex whatever form they came in, and the manifest hash the clients
 * compute from the same text (cv_json_canonical_digest). */
#include <string.h>
#include "manifest.h"
#include "cv-util.h"
#include "fuzz-fatal-criticals.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

static gboolean
is_hex64(const char *s)
{
    return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    GError *error = NULL;
    CvManifest *m = cv_manifest_parse((const char *)data, size, &error);
    g_autoptr(GBytes) digest = NULL;

    if (!m) {
        if (!error)
            __builtin_trap();
        g_error_free(error);
        return 0;
    }
    if (!m->algo_key || m->consumer_keys->len == 0 || !is_hex64(m->algo_hash) || !m->algo_args || !m->description)
        __builtin_trap();
    for (guint i = 0; i < m->datasets->len; i++) {
        CvManifestDataset *d = g_ptr_array_index(m->datasets, i);
        if (!cv_manifest_filename_is_safe(d->filename) || !d->user_key || !is_hex64(d->hash))
            __builtin_trap();
    }
    digest = cv_json_canonical_digest("SHA256", (const char *)data, (gssize)size, NULL);
    if (!digest || memcmp(g_bytes_get_data(digest, NULL), m->sha256, 32) != 0)
        __builtin_trap();
    cv_manifest_free(m);
    return 0;
}
