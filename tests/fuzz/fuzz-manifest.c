/* libFuzzer: computation manifests (from the manager or a user) through the agent's strict parser.
 * A refusal must carry a reason; an accepted manifest must have its keys and a consumer. */
#include <string.h>
#include "manifest.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    GError *error = NULL;
    CvAgentManifest *m = cv_agent_manifest_parse((const char *)data, size, &error);

    if (!m) {
        if (!error)
            __builtin_trap();
        g_error_free(error);
        return 0;
    }
    if (!m->algo_key || m->consumer_keys->len == 0 || strlen(m->algo_hash) != 64)
        __builtin_trap();
    for (guint i = 0; i < m->datasets->len; i++) {
        CvAgentDataset *d = g_ptr_array_index(m->datasets, i);
        if (!cv_agent_filename_is_safe(d->filename) || !d->user_key)
            __builtin_trap();
    }
    cv_agent_manifest_free(m);
    return 0;
}
