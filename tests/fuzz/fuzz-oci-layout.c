/* libFuzzer: an OCI layout's index.json, image manifest and image config (agent/oci-layout.c), as
 * skopeo leaves them from a registry the owner named. fuzz-oci-config.c is the other OCI input: the
 * runtime config.json umoci writes for a docker algorithm. */
#include <string.h>
#include "oci-fetch.h"
#include "fuzz-fatal-criticals.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

static void
check_desc(const CvAgentOciDesc *d)
{
    /* what the layout reader builds a path from: exactly 64 lowercase hex digits */
    if (!d || !d->media_type || strlen(d->digest_hex) != 64 || strspn(d->digest_hex, "0123456789abcdef") != 64)
        __builtin_trap();
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    const char *text = (const char *)data;
    GError *error = NULL;
    CvAgentOciDesc *d = cv_agent_oci_parse_index(text, size, size % 2 ? "v1" : NULL, &error);
    CvAgentOciDesc *config = NULL;
    GPtrArray *layers;

    /* a refusal carries a reason */
    if (!d == !error)
        __builtin_trap();
    if (d)
        check_desc(d);
    cv_agent_oci_desc_free(d);
    g_clear_error(&error);

    layers = cv_agent_oci_parse_manifest(text, size, &config, &error);
    if (!layers == !error || (layers && (layers->len == 0 || !config)))
        __builtin_trap();
    if (layers) {
        check_desc(config);
        for (guint i = 0; i < layers->len; i++)
            check_desc(layers->pdata[i]);
        g_ptr_array_unref(layers);
    }
    cv_agent_oci_desc_free(config);
    g_clear_error(&error);

    if (cv_agent_oci_parse_config(text, size, size % 4, &error) == !!error)
        __builtin_trap();
    g_clear_error(&error);
    return 0;
}
