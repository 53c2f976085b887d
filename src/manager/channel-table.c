/* The control channels of running CVMs (agent-channel.c), kept here by CVM id: a channel's events
 * become the CVM's events. */
#include "registry-priv.h"
#include "agent-channel.h"
#include "domain-live.h"
#include "cv-json.h"
#include "cv-util.h"
#include <string.h>

typedef struct {
    CvMgrRegistry *r;
    char *id;
    CvMgrAgentChannel *channel;
} ChannelEntry;

static void
channel_entry_free(ChannelEntry *e)
{
    if (e->channel)
        cv_mgr_agent_channel_free(e->channel);
    g_free(e->id);
    g_free(e);
}

void
cv_mgr_channels_init(CvMgrRegistry *r)
{
    /* keyed by the entry's own id */
    r->channels = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)channel_entry_free);
}

/* The agent's State: what GET /v1/cvms/{id} shows of the computation. */
static void
set_computation(CvMgrCvm *cvm, JsonObject *data)
{
    g_free(cvm->agent_state);
    g_free(cvm->agent_error);
    cvm->agent_state = g_strdup(cv_json_member_string_or(data, "state", NULL));
    cvm->agent_error = g_strdup(cv_json_member_string_or(data, "error", NULL));
    cvm->result_available = json_object_get_boolean_member_with_default(data, "result_available", FALSE);
}

static void
channel_event(const char *kind, JsonObject *data, gpointer user_data)
{
    ChannelEntry *e = user_data;
    CvMgrCvm *cvm = g_hash_table_lookup(e->r->by_id, e->id);

    if (!cvm)
        return;
    if (strcmp(kind, "computation") == 0)
        set_computation(cvm, data);
    else
        cv_mgr_events_emit(e->r, cvm, kind, data, FALSE);
}

/* The spec's computation, which the agent gets as its manifest on every Hello. */
static char *
manifest_of(const CvMgrCvm *cvm)
{
    g_autoptr(JsonNode) spec = cv_json_parse(cvm->spec_json, -1, NULL);
    JsonObject *o = spec && JSON_NODE_HOLDS_OBJECT(spec) ? json_node_get_object(spec) : NULL;
    JsonNode *comp = o ? json_object_get_member(o, "computation") : NULL;

    return comp && JSON_NODE_HOLDS_OBJECT(comp) ? cv_json_to_string(comp, FALSE) : NULL;
}

void
cv_mgr_channels_open(CvMgrRegistry *r, CvMgrCvm *cvm, const char *path)
{
    g_autofree char *manifest = NULL;
    ChannelEntry *e;

    /* no socket (the test driver makes none): the flag alone says "looked", without an entry */
    cvm->channel_checked = TRUE;
    if (!path)
        return;
    e = g_new0(ChannelEntry, 1);
    e->r = r;
    e->id = g_strdup(cvm->id);
    g_hash_table_replace(r->channels, e->id, e);
    manifest = manifest_of(cvm);
    e->channel = cv_mgr_agent_channel_new(path, manifest, channel_event, e);
}

static void
forget_computation(CvMgrCvm *cvm)
{
    g_clear_pointer(&cvm->agent_state, g_free);
    g_clear_pointer(&cvm->agent_error, g_free);
    cvm->result_available = FALSE;
}

void
cv_mgr_channels_close(CvMgrRegistry *r, CvMgrCvm *cvm)
{
    cvm->channel_checked = FALSE;
    /* an agent that is not there has no computation to show */
    forget_computation(cvm);
    g_hash_table_remove(r->channels, cvm->id);
}

/* The CVM's channel to a connected agent, else CV_ERROR_UNAVAILABLE (CONFLICT when it does not run). */
static CvMgrAgentChannel *
channel_of(CvMgrRegistry *r, CvMgrCvm *cvm, GError **error)
{
    ChannelEntry *e = g_hash_table_lookup(r->channels, cvm->id);

    if (cvm->state != CV_MGR_STATE_RUNNING) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "the CVM is %s, its agent does not run",
                    cv_mgr_state_to_string(cvm->state));
        return NULL;
    }
    if (!e || !e->channel || !cv_mgr_agent_channel_connected(e->channel)) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "the CVM's agent is not connected to the manager yet");
        return NULL;
    }
    return e->channel;
}

gboolean
cv_mgr_registry_computation_stop(CvMgrRegistry *r, const char *id, const char *reason, GError **error)
{
    CvMgrCvm *cvm = cv_mgr_registry_lookup(r, id, error);
    CvMgrAgentChannel *c = cvm ? channel_of(r, cvm, error) : NULL;
    static const char *const over[] = { "ReceivingManifest", "Complete", "Failed", "Stopped", NULL };

    if (!c)
        return FALSE;
    /* the agent refuses these too, but only with an event: the operator gets the answer here */
    if (cvm->agent_state && g_strv_contains(over, cvm->agent_state)) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "no computation to stop (agent state %s)", cvm->agent_state);
        return FALSE;
    }
    return cv_mgr_agent_channel_stop(c, reason && *reason ? reason : "stopped through the manager", error);
}

/* The spec's computation becomes the new manifest, so that the record in <metadata> and a manager
 * restarted later (whose channel sends the spec's computation on each Hello) agree with the agent. */
static void
replace_computation(CvMgrRegistry *r, CvMgrCvm *cvm, JsonNode *manifest)
{
    g_autoptr(JsonNode) spec = cv_json_parse(cvm->spec_json, -1, NULL);

    if (!spec || !JSON_NODE_HOLDS_OBJECT(spec))
        return;
    json_object_set_member(json_node_get_object(spec), "computation", json_node_copy(manifest));
    g_free(cvm->spec_json);
    cvm->spec_json = cv_json_to_string(spec, FALSE);
    cv_mgr_sync_persist(r, cvm, NULL);
}

gboolean
cv_mgr_registry_computation_reset(CvMgrRegistry *r, const char *id, const char *reason, JsonNode *manifest,
                                  GError **error)
{
    CvMgrCvm *cvm = cv_mgr_registry_lookup(r, id, error);
    CvMgrAgentChannel *c = cvm ? channel_of(r, cvm, error) : NULL;
    g_autofree char *json = manifest ? cv_json_to_string(manifest, FALSE) : NULL;

    if (!c)
        return FALSE;
    if (g_strcmp0(cvm->agent_state, "Running") == 0 || g_strcmp0(cvm->agent_state, "ConsumingResults") == 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "the computation is %s: stop it before a reset",
                    cvm->agent_state);
        return FALSE;
    }
    if (!cv_mgr_agent_channel_reset(c, reason && *reason ? reason : "reset through the manager", json, error))
        return FALSE;
    if (manifest)
        replace_computation(r, cvm, manifest);
    return TRUE;
}

void
cv_mgr_channels_close_all(CvMgrHost *h)
{
    GHashTableIter it;
    CvMgrCvm *cvm;

    g_hash_table_iter_init(&it, h->r->by_id);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&cvm)) {
        if (cv_mgr_host_of(cvm) != h)
            continue;
        cvm->channel_checked = FALSE;
        g_hash_table_remove(h->r->channels, cvm->id);
    }
}

static gpointer
channel_path_work(virConnectPtr conn, gpointer data, GError **error)
{
    CvMgrDomainRef *d = data;
    virDomainPtr dom = cv_mgr_domain_ref_get(d, conn, error);
    g_autofree char *xml = NULL;
    g_autoptr(CvDomainLive) live = NULL;

    if (!dom)
        return NULL;
    xml = virDomainGetXMLDesc(dom, 0);
    if (!xml) {
        cv_mgr_libvirt_error(error, conn, "reading the domain XML");
        return NULL;
    }
    live = cv_conf_domain_live_parse(xml, -1, NULL);
    /* "" for a domain without the socket: looked, nothing to open */
    return g_strdup(live && live->channel_path ? live->channel_path : "");
}

typedef struct {
    CvMgrRegistry *r;
    char *id;
} ChannelLookup;

static void
channel_path_done(GObject *src, GAsyncResult *res, gpointer data)
{
    ChannelLookup *l = data;
    g_autoptr(GError) error = NULL;
    g_autofree char *path = cv_mgr_libvirt_call_finish(res, &error);
    CvMgrCvm *cvm = g_hash_table_lookup(l->r->by_id, l->id);

    /* gone, stopped or closed while the worker looked: nothing to open */
    if (cvm && cvm->state == CV_MGR_STATE_RUNNING && cvm->channel_checked && cv_mgr_host_of(cvm)->conn) {
        if (path)
            cv_mgr_channels_open(l->r, cvm, *path ? path : NULL);
        else
            cvm->channel_checked = FALSE;   /* looked for again at the next sync */
    }
    if (error)
        g_debug("cvm %s: control channel: %s", l->id, error->message);
    g_free(l->id);
    g_free(l);
}

/* The socket's path comes from the live XML, read in a worker; channel_checked is set while it looks. */
void
cv_mgr_channels_sync(CvMgrRegistry *r, CvMgrCvm *cvm, virDomainPtr dom)
{
    ChannelLookup *l;

    if (cvm->state != CV_MGR_STATE_RUNNING || !cv_mgr_host_of(cvm)->conn) {
        cv_mgr_channels_close(r, cvm);
        return;
    }
    if (cvm->channel_checked)
        return;
    cvm->channel_checked = TRUE;
    l = g_new0(ChannelLookup, 1);
    l->r = r;
    l->id = g_strdup(cvm->id);
    cv_mgr_libvirt_call(cv_mgr_host_of(cvm), channel_path_work, cv_mgr_domain_ref_new(dom, cvm->name, NULL), cv_mgr_domain_ref_free,
                        g_free, channel_path_done, l);
}
