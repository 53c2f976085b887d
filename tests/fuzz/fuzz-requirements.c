/* libFuzzer: an algorithm's requirements file (the algorithm owner's upload) through the agent's line
 * check, and the same bytes as pip's JSON report through the choice of wheels to install. */
#include <string.h>
#include "requirements.h"
#include "fuzz-fatal-criticals.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    GError *error = NULL;
    char **wheels;

    /* a refusal carries a reason */
    if (!cv_agent_requirements_check_text((const char *)data, size, &error)) {
        if (!error)
            __builtin_trap();
        g_clear_error(&error);
    }
    wheels = cv_agent_requirements_wheels_from_report((const char *)data, size, "/w/algo/wheels", &error);
    if (!wheels) {
        if (!error)
            __builtin_trap();
        g_clear_error(&error);
        return 0;
    }
    /* every wheel chosen is a plain file of the wheels folder */
    for (char **w = wheels; *w; w++) {
        if (!g_str_has_prefix(*w, "/w/algo/wheels/") || strchr(*w + strlen("/w/algo/wheels/"), '/') ||
            !g_str_has_suffix(*w, ".whl"))
            __builtin_trap();
    }
    g_strfreev(wheels);
    return 0;
}
