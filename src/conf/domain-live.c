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

/* The document, when its root element is `root` (what: for the error). */
static xmlDoc *
read_doc(const char *xml, gssize len, const char *root_name, const char *what, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    xmlNode *root;

    if (!xml) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "no %s", what);
        return NULL;
    }
    if (len < 0)
        len = (gssize)strlen(xml);
    if (len > G_MAXINT) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s too large", what);
        return NULL;
    }
    doc = xmlReadMemory(xml, (int)len, "libvirt.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || xmlStrcmp(root->name, BAD_CAST root_name) != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "not a %s", what);
        return NULL;
    }
    return g_steal_pointer(&doc);
}

CvDomainLive *
cv_conf_domain_live_parse(const char *xml, gssize len, GError **error)
{
    g_autoptr(xmlDoc) doc = read_doc(xml, len, "domain", "domain XML", error);
    g_autoptr(CvDomainLive) live = NULL;
    g_autofree char *unit = NULL;
    xmlNode *root, *os, *memory;

    if (!doc)
        return NULL;
    root = xmlDocGetRootElement(doc);
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

void
cv_conf_domain_caps_free(CvDomainCaps *caps)
{
    if (!caps)
        return;
    g_free(caps->domain_type);
    g_free(caps);
}

/* <enum name='NAME'><value>VALUE</value>... under parent lists value */
static gboolean
enum_has(xmlNode *parent, const char *name, const char *value)
{
    for (xmlNode *e = parent ? parent->children : NULL; e; e = e->next) {
        if (e->type != XML_ELEMENT_NODE || xmlStrcmp(e->name, BAD_CAST "enum") != 0 || !attr_is(e, "name", name))
            continue;
        for (xmlNode *v = e->children; v; v = v->next) {
            g_autofree char *text = NULL;

            if (v->type != XML_ELEMENT_NODE || xmlStrcmp(v->name, BAD_CAST "value") != 0)
                continue;
            text = nonempty(xmlNodeGetContent(v));
            if (text && strcmp(g_strstrip(text), value) == 0)
                return TRUE;
        }
    }
    return FALSE;
}

static gboolean
supported(xmlNode *node)
{
    return attr_is(node, "supported", "yes");
}

CvDomainCaps *
cv_conf_domain_caps_parse(const char *xml, gssize len, GError **error)
{
    g_autoptr(xmlDoc) doc = read_doc(xml, len, "domainCapabilities", "domain capabilities XML", error);
    g_autoptr(CvDomainCaps) caps = NULL;
    xmlNode *root, *os, *features, *tpm, *ls;

    if (!doc)
        return NULL;
    root = xmlDocGetRootElement(doc);
    caps = g_new0(CvDomainCaps, 1);
    caps->domain_type = child_text(root, "domain");
    if (caps->domain_type)
        g_strstrip(caps->domain_type);
    os = element_child(root, "os");
    caps->efi = supported(os) && (enum_has(os, "firmware", "efi") || supported(element_child(os, "loader")));
    tpm = element_child(element_child(root, "devices"), "tpm");
    caps->tpm = !tpm || supported(tpm);
    features = element_child(root, "features");
    caps->sev = supported(element_child(features, "sev"));
    ls = element_child(features, "launchSecurity");
    if (!ls)
        ls = element_child(root, "launchSecurity");
    caps->sev_snp = supported(ls) && enum_has(ls, "sectype", "sev-snp");
    caps->tdx = (supported(ls) && enum_has(ls, "sectype", "tdx")) || supported(element_child(features, "tdx"));
    return g_steal_pointer(&caps);
}
