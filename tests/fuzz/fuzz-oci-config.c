/* libFuzzer: a container's config.json (from the user's OCI image, unpacked by umoci) through the
 * agent's patch. A json-glib critical (a getter on a member of another type) is a crash here. */
#include <string.h>
#include "runner.h"
#include "fuzz-fatal-criticals.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    GError *error = NULL;
    char *text = cv_agent_oci_config_patch((const char *)data, size, "/work", &error);

    /* a refusal carries a reason; an accepted config has both mounts */
    if (!text) {
        if (!error)
            __builtin_trap();
        g_error_free(error);
        return 0;
    }
    if (!strstr(text, "/work/datasets") || !strstr(text, "/work/results"))
        __builtin_trap();
    g_free(text);
    return 0;
}
