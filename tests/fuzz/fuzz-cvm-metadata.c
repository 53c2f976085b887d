/* libFuzzer: a domain's covirt <metadata> element as libvirt returns it (anyone with libvirt
 * access can write it); a record that parses must render to JSON and metadata again. */
#include <string.h>
#include "cvm-record.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    char *text = g_strndup((const char *)data, size);
    GError *error = NULL;
    CvMgrCvm *cvm = cv_mgr_cvm_from_metadata(text, "fuzz-domain", &error);

    if (cvm) {
        JsonNode *n = cv_mgr_cvm_to_json(cvm, TRUE);
        char *again = cv_mgr_cvm_to_metadata(cvm, TRUE);
        CvMgrCvm *back = cv_mgr_cvm_from_metadata(again, "fuzz-domain", NULL);

        /* what the manager writes it must read back */
        if (!back || strcmp(back->id, cvm->id) != 0 || back->state != cvm->state ||
            back->expires_at != cvm->expires_at || back->host_port != cvm->host_port)
            __builtin_trap();
        cv_mgr_cvm_free(back);
        g_free(again);
        json_node_unref(n);
        cv_mgr_cvm_free(cvm);
    } else if (!error) {
        __builtin_trap();
    }
    g_clear_error(&error);
    g_free(text);
    return 0;
}
