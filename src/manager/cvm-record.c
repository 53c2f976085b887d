#include <string.h>
#include "cvm-record.h"
#include "cv-autoptr.h"
#include "cv-util.h"
#include "domain-render.h"

CV_ENUM_IMPL(cv_mgr_state, CvMgrState, CV_MGR_STATE_COUNT,
             "creating", "running", "paused", "shutdown", "stopped", "crashed", "deleting");

gboolean
cv_mgr_cvm_busy(const CvMgrCvm *cvm)
{
    return cvm->state == CV_MGR_STATE_CREATING || cvm->state == CV_MGR_STATE_DELETING;
}

void
cv_mgr_event_free(CvMgrEvent *ev)
{
    g_free(ev);
}

const char *
cv_mgr_event_members(const CvMgrEvent *ev)
{
    return ev->kind + strlen(ev->kind) + 1;
}

CvMgrCvm *
cv_mgr_cvm_new(void)
{
    CvMgrCvm *cvm = g_new0(CvMgrCvm, 1);

    cvm->files = g_ptr_array_new_with_free_func(g_free);
    cvm->next_seq = 1;
    return cvm;
}

void
cv_mgr_cvm_free(CvMgrCvm *cvm)
{
    if (!cvm)
        return;
    g_free(cvm->id);
    g_free(cvm->name);
    g_free(cvm->agent_host);
    g_free(cvm->hal_version);
    g_free(cvm->spec_json);
    g_free(cvm->agent_state);
    g_free(cvm->agent_error);
    g_ptr_array_unref(cvm->files);
    while (cvm->events) {
        CvMgrEvent *next = cvm->events->next;

        cv_mgr_event_free(cvm->events);
        cvm->events = next;
    }
    g_free(cvm);
}

static void
add_text(xmlNode *parent, xmlNs *ns, const char *name, const char *value)
{
    /* xmlNewTextChild escapes the value: names and specs are user input */
    xmlNewTextChild(parent, ns, BAD_CAST name, BAD_CAST(value ? value : ""));
}

static void
add_int(xmlNode *parent, xmlNs *ns, const char *name, gint64 value)
{
    g_autofree char *text = g_strdup_printf("%" G_GINT64_FORMAT, value);

    add_text(parent, ns, name, text);
}

char *
cv_mgr_cvm_to_metadata(const CvMgrCvm *cvm, gboolean with_ns)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    g_autoptr(xmlBuffer) buf = xmlBufferCreate();
    xmlNode *root = xmlNewNode(NULL, BAD_CAST "cvm");
    xmlNs *ns = with_ns ? xmlNewNs(root, BAD_CAST CV_XML_NAMESPACE, BAD_CAST CV_XML_PREFIX) : NULL;

    if (ns)
        xmlSetNs(root, ns);
    xmlDocSetRootElement(doc, root);
    add_text(root, ns, "id", cvm->id);
    add_text(root, ns, "platform", cv_platform_to_string(cvm->platform));
    add_text(root, ns, "state", cv_mgr_state_to_string(cvm->state));
    add_int(root, ns, "created-at", cvm->created_at);
    add_int(root, ns, "expires-at", cvm->expires_at);
    add_int(root, ns, "host-port", cvm->host_port);
    add_text(root, ns, "agent-host", cvm->agent_host);
    add_text(root, ns, "hal-version", cvm->hal_version);
    for (guint i = 0; i < cvm->files->len; i++)
        add_text(root, ns, "file", g_ptr_array_index(cvm->files, i));
    add_text(root, ns, "spec", cvm->spec_json);
    xmlNodeDump(buf, doc, root, 0, 0);
    return g_strdup((const char *)xmlBufferContent(buf));
}

static gboolean
parse_int(const char *field, const char *text, guint64 max, guint64 *out, GError **error)
{
    g_autoptr(GError) local = NULL;

    if (!cv_parse_uint(text, 0, max, out, &local)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "metadata field %s: %s", field, local->message);
        return FALSE;
    }
    return TRUE;
}

CvMgrCvm *
cv_mgr_cvm_from_metadata(const char *xml, const char *domain_name, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(CvMgrCvm) cvm = cv_mgr_cvm_new();
    xmlNode *root;
    gboolean have_state = FALSE;

    /* no network, no entity expansion: the text is not ours to trust */
    doc = xmlReadMemory(xml, strlen(xml), "metadata.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    root = doc ? xmlDocGetRootElement(doc) : NULL;
    /* virDomainGetMetadata(ELEMENT) returns the element without its namespace (it was
     * selected by namespace): accept ours or none */
    if (!root || (root->ns && strcmp((const char *)root->ns->href, CV_XML_NAMESPACE) != 0) ||
        strcmp((const char *)root->name, "cvm") != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "metadata is not a covirt cvm record");
        return NULL;
    }
    cvm->name = g_strdup(domain_name);
    for (xmlNode *n = root->children; n; n = n->next) {
        g_autoptr(cvXmlChar) raw = NULL;
        const char *name = (const char *)n->name;
        const char *text;
        guint64 v;

        if (n->type != XML_ELEMENT_NODE || (n->ns && strcmp((const char *)n->ns->href, CV_XML_NAMESPACE) != 0))
            continue;
        raw = xmlNodeGetContent(n);
        text = raw ? (const char *)raw : "";
        if (strcmp(name, "id") == 0) {
            if (!g_uuid_string_is_valid(text)) {
                g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "metadata field id: not a uuid");
                return NULL;
            }
            g_free(cvm->id);
            cvm->id = g_strdup(text);
        } else if (strcmp(name, "platform") == 0) {
            if (!cv_platform_from_string(text, &cvm->platform)) {
                g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "metadata field platform: unknown");
                return NULL;
            }
        } else if (strcmp(name, "state") == 0) {
            if (!cv_mgr_state_from_string(text, &cvm->state)) {
                g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "metadata field state: unknown");
                return NULL;
            }
            have_state = TRUE;
        } else if (strcmp(name, "created-at") == 0) {
            if (!parse_int(name, text, G_MAXINT64, &v, error))
                return NULL;
            cvm->created_at = (gint64)v;
        } else if (strcmp(name, "expires-at") == 0) {
            if (!parse_int(name, text, G_MAXINT64, &v, error))
                return NULL;
            cvm->expires_at = (gint64)v;
        } else if (strcmp(name, "host-port") == 0) {
            if (!parse_int(name, text, 65535, &v, error))
                return NULL;
            cvm->host_port = (guint)v;
        } else if (strcmp(name, "agent-host") == 0) {
            g_free(cvm->agent_host);
            cvm->agent_host = g_strdup(text);
        } else if (strcmp(name, "hal-version") == 0) {
            g_free(cvm->hal_version);
            cvm->hal_version = g_strdup(text);
        } else if (strcmp(name, "file") == 0) {
            /* only absolute, plain paths: the list drives unlink() on delete */
            if (!g_path_is_absolute(text) || strstr(text, "/../") || g_str_has_suffix(text, "/..")) {
                g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "metadata field file: not an absolute path");
                return NULL;
            }
            g_ptr_array_add(cvm->files, g_strdup(text));
        } else if (strcmp(name, "spec") == 0) {
            g_autoptr(JsonNode) spec = cv_json_parse(text, -1, NULL);

            if (!spec || !JSON_NODE_HOLDS_OBJECT(spec)) {
                g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "metadata field spec: not a JSON object");
                return NULL;
            }
            g_free(cvm->spec_json);
            cvm->spec_json = g_strdup(text);
        }
    }
    if (!cvm->id || !have_state) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "metadata lacks %s", cvm->id ? "state" : "id");
        return NULL;
    }
    if (!cvm->spec_json)
        cvm->spec_json = g_strdup("{}");
    return g_steal_pointer(&cvm);
}

JsonNode *
cv_mgr_cvm_to_json(const CvMgrCvm *cvm, gboolean with_spec)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *created = cv_time_format(cvm->created_at);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, cvm->id);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, cvm->name);
    json_builder_set_member_name(b, "platform");
    json_builder_add_string_value(b, cv_platform_to_string(cvm->platform));
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, cv_mgr_state_to_string(cvm->state));
    if (cvm->host) {
        json_builder_set_member_name(b, "host");
        json_builder_add_string_value(b, cvm->host->uri);
        /* the state is the last one known while its host is unreachable */
        if (cvm->host->down) {
            json_builder_set_member_name(b, "host_down");
            json_builder_add_boolean_value(b, TRUE);
        }
    }
    json_builder_set_member_name(b, "agent");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "host");
    json_builder_add_string_value(b, cvm->agent_host ? cvm->agent_host : "");
    json_builder_set_member_name(b, "port");
    json_builder_add_int_value(b, cvm->host_port);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "computation");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "state");
    if (cvm->agent_state)
        json_builder_add_string_value(b, cvm->agent_state);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "error");
    if (cvm->agent_error)
        json_builder_add_string_value(b, cvm->agent_error);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "result_available");
    json_builder_add_boolean_value(b, cvm->result_available);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "created_at");
    json_builder_add_string_value(b, created);
    json_builder_set_member_name(b, "expires_at");
    if (cvm->expires_at) {
        g_autofree char *expires = cv_time_format(cvm->expires_at);

        json_builder_add_string_value(b, expires);
    } else {
        json_builder_add_null_value(b);
    }
    if (with_spec) {
        JsonNode *spec = cvm->spec_json ? cv_json_parse(cvm->spec_json, -1, NULL) : NULL;

        json_builder_set_member_name(b, "hal_version");
        json_builder_add_string_value(b, cvm->hal_version ? cvm->hal_version : "");
        json_builder_set_member_name(b, "spec");
        if (spec)
            json_builder_add_value(b, spec);
        else
            json_builder_add_null_value(b);
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* the envelope's members, written by cv_mgr_event_to_json() */
static gboolean
envelope_member(const char *name)
{
    return strcmp(name, "seq") == 0 || strcmp(name, "time") == 0 || strcmp(name, "cvm") == 0 ||
           strcmp(name, "kind") == 0;
}

const CvMgrEvent *
cv_mgr_cvm_add_event(CvMgrCvm *cvm, const char *kind, JsonObject *data)
{
    CvMgrEvent *ev;
    g_autoptr(JsonObject) obj = json_object_new();
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *json = NULL;
    gsize kind_len = strlen(kind), members_len;

    if (data) {
        g_autoptr(GList) members = json_object_get_members(data);

        for (GList *l = members; l; l = l->next) {
            /* the envelope's own fields win over a guest's */
            if (envelope_member(l->data))
                continue;
            json_object_set_member(obj, l->data, json_node_copy(json_object_get_member(data, l->data)));
        }
    }
    json_node_set_object(node, obj);
    json = cv_json_to_string(node, FALSE);
    /* "{...}": the members are what lies between the braces */
    members_len = strlen(json) - 2;
    ev = g_malloc(sizeof(CvMgrEvent) + kind_len + 1 + members_len + 1);
    ev->next = NULL;
    ev->seq = cvm->next_seq++;
    ev->time = g_get_real_time() / G_USEC_PER_SEC;
    memcpy(ev->kind, kind, kind_len + 1);
    memcpy(ev->kind + kind_len + 1, json + 1, members_len);
    ev->kind[kind_len + 1 + members_len] = '\0';
    if (cvm->last_event)
        cvm->last_event->next = ev;
    else
        cvm->events = ev;
    cvm->last_event = ev;
    if (++cvm->n_events > CV_MGR_EVENT_HISTORY) {
        CvMgrEvent *oldest = cvm->events;

        cvm->events = oldest->next;
        cvm->n_events--;
        cv_mgr_event_free(oldest);
    }
    return ev;
}

char *
cv_mgr_event_to_json(const CvMgrEvent *ev, const char *cvm_id)
{
    g_autoptr(JsonObject) obj = json_object_new();
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *time = cv_time_format(ev->time);
    g_autofree char *envelope = NULL;
    const char *members = cv_mgr_event_members(ev);

    json_object_set_int_member(obj, "seq", (gint64)ev->seq);
    json_object_set_string_member(obj, "time", time);
    json_object_set_string_member(obj, "cvm", cvm_id);
    json_object_set_string_member(obj, "kind", ev->kind);
    json_node_set_object(node, obj);
    envelope = cv_json_to_string(node, FALSE);
    if (!*members)
        return g_steal_pointer(&envelope);
    /* "{envelope}" + members → "{envelope,members}" */
    envelope[strlen(envelope) - 1] = '\0';
    return g_strconcat(envelope, ",", members, "}", NULL);
}
