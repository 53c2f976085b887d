/* libFuzzer: a manager's answer as covirt cvm reads it: an error body, a CVM (with its computation), a
 * list and an event (lifecycle, log, agent).
 * A json-glib critical (a getter on a member of another type) is a crash here. */
#include <string.h>
#include "covirt-replies.h"
#include "cv-error.h"
#include "cv-util.h"
#include "fuzz-fatal-criticals.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    char *text = g_strndup((const char *)data, size);
    JsonNode *node = cv_json_parse(text, -1, NULL);
    GError *error = NULL;

    cv_cli_manager_error(409, "Conflict", (const char *)data, size, &error);
    if (!error || error->code != CV_ERROR_CONFLICT)
        __builtin_trap();
    g_error_free(error);
    g_free(cv_cli_cvm_event_text("lifecycle", text));
    g_free(cv_cli_cvm_event_text("log", text));
    g_free(cv_cli_cvm_event_text("agent", text));
    if (node) {
        g_free(cv_cli_cvm_text(node));
        g_free(cv_cli_cvm_list_text(node));
        g_free(cv_cli_host_list_text(node));
        json_node_unref(node);
    }
    g_free(text);
    return 0;
}
