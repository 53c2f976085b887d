/* libFuzzer: an agent's answer as the host side reads it (src/client's answer parser at the statuses the
 * API gives, then the CLI's text of an upload answer). A json-glib critical (a getter on a member of
 * another type) is a crash here. */
#include "agent-client.h"
#include "covirt-replies.h"
#include "cv-error.h"
#include "fuzz-fatal-criticals.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    static const guint statuses[] = { 200, 201, 400, 401, 403, 404, 409, 413, 422, 500, 501, 503, 418 };

    for (gsize i = 0; i < G_N_ELEMENTS(statuses); i++) {
        GError *error = NULL;
        JsonNode *answer = cv_agent_client_answer(statuses[i], "Reason", (const char *)data, size, &error);

        /* an answer or an error, never both or neither; errors carry a code of the domain */
        if (!answer == !error || (error && error->domain != CV_ERROR))
            __builtin_trap();
        if (answer) {
            g_free(cv_cli_upload_text(answer, "dataset", "a.csv"));
            json_node_unref(answer);
        }
        g_clear_error(&error);
    }
    return 0;
}
