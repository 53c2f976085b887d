#include <string.h>
#include "domain-live.h"
#include "domain-render.h"
#include "cv-autoptr.h"
#include "cv-util.h"

void
cv_conf_domain_live_free(CvDomainLive *live)
{
    if (!live)
        return;
    g_free(live->channel_path);
    g_free(live->loader);
    g_free(live->kernel);
    g_free(live->initrd);
    g_free(live->cmdline);
    g_free(live->cpu_model);
    g_free(live->cpu_mode);
    g_free(live);
}

static xmlNode *
element_child(xmlNode *parent, const char *name)
{
    for (xmlNode *n = parent ? parent->children : NULL; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, BAD_CAST name) == 0)
            return n;
    return NULL;
}

/* NULL for an absent or empty value, as XPath's string() read by the manager before */
static char *
nonempty(xmlChar *value)
{
    g_autoptr(cvXmlChar) v = value;

    return v && *v ? g_strdup((const char *)v) : NULL;
}

static char *
child_text(xmlNode *parent, const char *name)
{
    xmlNode *n = element_child(parent, name);

    return n ? nonempty(xmlNodeGetContent(n)) : NULL;
}

static char *
attr(xmlNode *node, const char *name)
{
    return node ? nonempty(xmlGetProp(node, BAD_CAST name)) : NULL;
}

static gboolean
attr_is(xmlNode *node, const char *name, const char *value)
{
    g_autofree char *v = attr(node, name);

    return v && strcmp(v, value) == 0;
}

static guint64
child_uint(xmlNode *parent, const char *name, guint64 min, guint64 max)
{
    g_autofree char *text = child_text(parent, name);
    guint64 v = 0;

    if (!text || !cv_parse_uint(g_strstrip(text), min, max, &v, NULL))
        return 0;
    return v;
}

static char *
channel_path(xmlNode *devices)
{
    for (xmlNode *n = devices ? devices->children : NULL; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || xmlStrcmp(n->name, BAD_CAST "channel") != 0 ||
            !attr_is(n, "type", "unix") || !attr_is(element_child(n, "target"), "name", CV_AGENT_CHANNEL))
            continue;
        return attr(element_child(n, "source"), "path");
    }
    return NULL;
}

CvDomainLive *
cv_conf_domain_live_parse(const char *xml, gssize len, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(CvDomainLive) live = NULL;
    g_autofree char *unit = NULL;
    xmlNode *root, *os, *memory;

    if (!xml) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "no domain XML");
        return NULL;
    }
    if (len < 0)
        len = (gssize)strlen(xml);
    if (len > G_MAXINT) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "domain XML too large");
        return NULL;
    }
    doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || xmlStrcmp(root->name, BAD_CAST "domain") != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "not a domain XML");
        return NULL;
    }
    live = g_new0(CvDomainLive, 1);
    live->channel_path = channel_path(element_child(root, "devices"));
    os = element_child(root, "os");
    live->loader = child_text(os, "loader");
    live->kernel = child_text(os, "kernel");
    live->initrd = child_text(os, "initrd");
    live->cmdline = child_text(os, "cmdline");
    live->cpu_model = child_text(element_child(root, "cpu"), "model");
    live->cpu_mode = attr(element_child(root, "cpu"), "mode");
    live->vcpus = child_uint(root, "vcpu", 0, 100000);
    memory = element_child(root, "memory");
    unit = attr(memory, "unit");
    if (!unit || strcmp(unit, "KiB") == 0)
        live->memory_kib = child_uint(root, "memory", 1, G_MAXUINT64 / 1024);
    return g_steal_pointer(&live);
}
