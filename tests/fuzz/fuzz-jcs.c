/* libFuzzer: RFC 8785 canonical form of any JSON cv_json_parse() accepts. The canonical text must
 * itself be JSON whose canonical form is the same text (canonical(parse(canonical(x))) ==
 * canonical(x)), and its SHA-256 must agree. The one text that may not read back is an integer from
 * 2^63 to 10^21, which cv_json_parse() refuses (json-glib would wrap it). */
#include <string.h>
#include "cv-jcs.h"
#include "cv-util.h"
#include "fuzz-fatal-criticals.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = cv_json_parse((const char *) data, (gssize) size, NULL);
    g_autoptr(JsonNode) again = NULL;
    g_autofree char *once = NULL, *twice = NULL;
    guint8 sum[32];
    g_autoptr(GBytes) expect = NULL;

    if (!node)
        return 0;
    /* everything cv_json_parse() passes is I-JSON that JCS can write */
    if (!(once = cv_jcs_serialize(node, &error)))
        __builtin_trap();
    if (!g_utf8_validate(once, -1, NULL))
        __builtin_trap();
    if (!(again = cv_json_parse(once, -1, &error))) {
        if (!strstr(error->message, "an integer outside 64 bits"))
            __builtin_trap();
        return 0;
    }
    if (!(twice = cv_jcs_serialize(again, NULL)) || strcmp(once, twice) != 0)
        __builtin_trap();
    expect = cv_digest("SHA256", once, strlen(once), NULL);
    if (!cv_jcs_sha256(again, sum, NULL) || memcmp(sum, g_bytes_get_data(expect, NULL), 32) != 0)
        __builtin_trap();
    return 0;
}
