/* The control channels of running CVMs (agent-channel.c), kept here by CVM id: a channel's events
 * become the CVM's events. */
#include "registry-priv.h"
#include "agent-channel.h"
#include "domain-live.h"
#include "cv-util.h"

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

static void
channel_event(const char *kind, JsonObject *data, gpointer user_data)
{
    ChannelEntry *e = user_data;
    CvMgrCvm *cvm = g_hash_table_lookup(e->r->by_id, e->id);

    if (cvm)
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

void
cv_mgr_channels_close(CvMgrRegistry *r, CvMgrCvm *cvm)
{
    cvm->channel_checked = FALSE;
    g_hash_table_remove(r->channels, cvm->id);
}

void
cv_mgr_channels_close_all(CvMgrRegistry *r)
{
    GHashTableIter it;
    CvMgrCvm *cvm;

    g_hash_table_iter_init(&it, r->by_id);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&cvm))
        cvm->channel_checked = FALSE;
    g_hash_table_remove_all(r->channels);
}

void
cv_mgr_channels_sync(CvMgrRegistry *r, CvMgrCvm *cvm, virDomainPtr dom_in)
{
    g_autoptr(virDomain) own = NULL;
    g_autofree char *xml = NULL;
    g_autoptr(CvDomainLive) live = NULL;
    virDomainPtr dom;

    if (cvm->state != CV_MGR_STATE_RUNNING || !r->conn) {
        cv_mgr_channels_close(r, cvm);
        return;
    }
    if (cvm->channel_checked)
        return;
    own = dom_in ? NULL : virDomainLookupByName(r->conn, cvm->name);
    dom = dom_in ? dom_in : own;
    if (!dom)
        return;
    xml = virDomainGetXMLDesc(dom, 0);
    live = cv_conf_domain_live_parse(xml, -1, NULL);
    cv_mgr_channels_open(r, cvm, live ? live->channel_path : NULL);
}
