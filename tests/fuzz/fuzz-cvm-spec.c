/* libFuzzer: operator-supplied CVM specs through parsing and rendering. A spec that parses must render or
 * fail with an error, and its XML must parse back with the name intact (no value becomes markup). */
#include <string.h>
#include "domain-render.h"
#include "cv-autoptr.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    static CvDefaults *defaults;
    static const char *const env[] = { "MANAGER_DOMAIN_TYPE=kvm", NULL };
    CvCvmSpec *spec;
    GError *error = NULL;

    if (!defaults)
        defaults = cv_defaults_new(env, "/dev/null", NULL);
    spec = cv_cvm_spec_from_data((const char *)data, size, defaults, &error);
    if (!spec) {
        if (!error)
            __builtin_trap(); /* refused without a reason */
        g_error_free(error);
        return 0;
    }
    for (int form = 0; form < 2; form++) {
        CvRenderOptions opts = { .libvirt_version = form ? 11006000UL : 9000000UL };
        char *xml;
        if (!spec->host_port)
            spec->host_port = 6100;
        xml = cv_domain_render(spec, &opts, &error);
        if (xml) {
            xmlDocPtr doc = xmlReadMemory(xml, strlen(xml), NULL, NULL, XML_PARSE_NONET);
            xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
            xmlNodePtr n = root ? root->children : NULL;
            while (n && !(n->type == XML_ELEMENT_NODE && !xmlStrcmp(n->name, BAD_CAST "name")))
                n = n->next;
            if (!n)
                __builtin_trap();
            xmlChar *text = xmlNodeGetContent(n);
            if (strcmp((char *)text, spec->name) != 0)
                __builtin_trap();
            xmlFree(text);
            xmlFreeDoc(doc);
            g_free(xml);
        } else {
            g_clear_error(&error);
        }
    }
    cv_cvm_spec_free(spec);
    return 0;
}
