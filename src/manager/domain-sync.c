/* The registry kept in step with libvirt: covirt domains adopted from their <metadata>, states read
 * from libvirt and from its lifecycle events, state changes written back into the metadata. */
#include <string.h>
#include "registry-priv.h"
#include "domain-render.h"

CV_ENUM_DECL(lifecycle_event, int);
CV_ENUM_IMPL(lifecycle_event, int, VIR_DOMAIN_EVENT_CRASHED + 1,
             "defined", "undefined", "started", "suspended", "resumed", "stopped", "shutdown", "pmsuspended",
             "crashed");

CV_ENUM_DECL(stopped_detail, int);
CV_ENUM_IMPL(stopped_detail, int, VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT + 1,
             "shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from-snapshot");

CvMgrState
cv_mgr_state_from_libvirt(virDomainPtr dom, CvMgrState fallback)
{
    int state, reason;

    if (virDomainGetState(dom, &state, &reason, 0) < 0)
        return fallback;
    switch (state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
        return CV_MGR_STATE_RUNNING;
    case VIR_DOMAIN_PAUSED:
    case VIR_DOMAIN_PMSUSPENDED:
        return CV_MGR_STATE_PAUSED;
    case VIR_DOMAIN_SHUTDOWN:
        return CV_MGR_STATE_SHUTDOWN;
    case VIR_DOMAIN_SHUTOFF:
        return reason == VIR_DOMAIN_SHUTOFF_CRASHED ? CV_MGR_STATE_CRASHED : CV_MGR_STATE_STOPPED;
    case VIR_DOMAIN_CRASHED:
        return CV_MGR_STATE_CRASHED;
    default:
        return fallback;
    }
}

static gpointer
persist_work(virConnectPtr conn, gpointer data, GError **error)
{
    CvMgrDomainRef *d = data;
    virDomainPtr dom = cv_mgr_domain_ref_get(d, conn, error);
    unsigned int flags;

    if (!dom)
        return NULL;
    flags = virDomainIsActive(dom) == 1 ? VIR_DOMAIN_AFFECT_LIVE : 0;
    if (virDomainIsPersistent(dom) == 1)
        flags |= VIR_DOMAIN_AFFECT_CONFIG;
    if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, d->xml, CV_XML_PREFIX, CV_XML_NAMESPACE, flags) < 0)
        cv_mgr_libvirt_error(error, conn, "recording the state in the domain metadata");
    return NULL;
}

static void
persist_done(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GError) error = NULL;

    (void)cv_mgr_libvirt_call_finish(res, &error);
    if (error)
        g_warning("%s", error->message);
}

/* Live and persistent definition, best effort, in a worker: the state libvirt reports wins at the next
 * resync anyway (so two writes that overtake each other cost nothing lasting). */
void
cv_mgr_sync_persist(CvMgrRegistry *r, CvMgrCvm *cvm, virDomainPtr dom)
{
    if (!cv_mgr_host_of(cvm)->conn)
        return;
    cv_mgr_libvirt_call(cv_mgr_host_of(cvm), persist_work,
                        cv_mgr_domain_ref_new(dom, cvm->name, cv_mgr_cvm_to_metadata(cvm, FALSE)),
                        cv_mgr_domain_ref_free, NULL, persist_done, r);
}

void
cv_mgr_sync_set_state(CvMgrRegistry *r, CvMgrCvm *cvm, CvMgrState state, virDomainPtr dom,
                      const char *event, const char *detail)
{
    gboolean changed = cvm->state != state;

    cvm->state = state;
    if (event)
        cv_mgr_events_lifecycle(r, cvm, event, detail);
    if (changed) {
        g_info("cvm %s (%s): %s", cvm->name, cvm->id, cv_mgr_state_to_string(state));
        cv_mgr_sync_persist(r, cvm, dom);
    }
    cv_mgr_channels_sync(r, cvm, dom);
}

static void
cleanup_done(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GError) error = NULL;

    if (!cv_mgr_registry_delete_finish(data, res, &error))
        g_warning("removing an incomplete CVM: %s", error->message);
}

/* The record in a domain's metadata, or NULL for a domain that is not a CVM of ours. */
static CvMgrCvm *
record_of(CvMgrHost *h, virDomainPtr dom)
{
    CvMgrRegistry *r = h->r;
    const char *name = virDomainGetName(dom);
    g_autofree char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, CV_XML_NAMESPACE, 0);
    g_autoptr(GError) local = NULL;
    g_autoptr(CvMgrCvm) cvm = NULL;
    char uuid[VIR_UUID_STRING_BUFLEN];
    CvMgrCvm *other;

    if (!xml)
        return NULL;   /* not a covirt domain: never touched */
    cvm = cv_mgr_cvm_from_metadata(xml, name, &local);
    if (!cvm) {
        g_warning("domain %s: covirt metadata does not parse (%s); left alone", name, local->message);
        return NULL;
    }
    /* a CVM created before its id became the domain's UUID keeps the id its clients know */
    if (virDomainGetUUIDString(dom, uuid) == 0 && g_ascii_strcasecmp(uuid, cvm->id) != 0)
        g_info("domain %s: covirt id %s is not its libvirt UUID %s (an older CVM): it keeps its id", name, cvm->id,
               uuid);
    other = g_hash_table_lookup(r->by_id, cvm->id);
    if (other) {
        g_warning("domain %s on %s: covirt id %s is already used by domain %s on %s; left alone", name,
                  h->view.uri, cvm->id, other->name, other->host->uri);
        return NULL;
    }
    cvm->host = &h->view;
    return g_steal_pointer(&cvm);
}

static CvMgrCvm *
adopt(CvMgrHost *h, virDomainPtr dom)
{
    CvMgrRegistry *r = h->r;
    g_autoptr(GError) local = NULL;
    CvMgrCvm *cvm = record_of(h, dom);
    CvMgrState stored;
    gboolean incomplete;

    if (!cvm)
        return NULL;
    /* a job that was running when the manager stopped is over */
    incomplete = cvm->state == CV_MGR_STATE_CREATING;
    stored = cv_mgr_cvm_busy(cvm) ? CV_MGR_STATE_STOPPED : cvm->state;
    cvm->state = cv_mgr_state_from_libvirt(dom, stored);
    /* a manager killed between define and start left a domain that never ran: finish the
     * failed creation (one that runs is kept, only its recorded state was late) */
    incomplete = incomplete && cvm->state == CV_MGR_STATE_STOPPED;
    if (cvm->host_port && !cv_mgr_port_pool_reserve(h->ports, cvm->host_port, &local))
        g_warning("domain %s: %s", cvm->name, local->message);
    cv_mgr_registry_insert(r, cvm);
    cv_mgr_events_lifecycle(r, cvm, "adopted", NULL);
    if (incomplete) {
        g_info("cvm %s (%s): creation was interrupted, removing it", cvm->name, cvm->id);
        cv_mgr_jobs_delete(r, cvm->id, "incomplete creation", cleanup_done, r);
        return cvm;
    }
    if (cvm->state != stored)
        cv_mgr_sync_persist(r, cvm, dom);
    cv_mgr_ttl_arm(r, cvm);
    cv_mgr_channels_sync(r, cvm, dom);
    return cvm;
}

/* A known CVM's state as libvirt reports it now (a job's CVM is the job's to record). */
static void
refresh(CvMgrRegistry *r, CvMgrCvm *cvm, virDomainPtr dom)
{
    CvMgrState now;

    if (cv_mgr_cvm_busy(cvm))
        return;
    now = cv_mgr_state_from_libvirt(dom, cvm->state);
    if (now != cvm->state)
        cv_mgr_sync_set_state(r, cvm, now, dom, "resync", NULL);
    else
        cv_mgr_channels_sync(r, cvm, dom);
}

void
cv_mgr_sync_resync(CvMgrHost *h)
{
    CvMgrRegistry *r = h->r;
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(h->conn, &doms, 0);
    g_autoptr(GHashTable) seen = g_hash_table_new(g_direct_hash, g_direct_equal);
    g_autoptr(GPtrArray) gone = g_ptr_array_new();
    GHashTableIter it;
    CvMgrCvm *cvm;

    if (n < 0) {
        g_warning("cannot list libvirt domains on %s: %s", h->view.uri, cv_mgr_libvirt_message());
        return;
    }
    for (int i = 0; i < n; i++) {
        g_autoptr(virDomain) dom = doms[i];

        cvm = g_hash_table_lookup(r->by_name, virDomainGetName(dom));
        if (cvm && cv_mgr_host_of(cvm) != h) {
            /* names are the API's handles: one name on two hosts would be ambiguous */
            g_debug("domain %s on %s: a CVM of that name is on %s; left alone", cvm->name, h->view.uri,
                    cvm->host->uri);
            cvm = NULL;
        } else if (cvm) {
            refresh(r, cvm, dom);
        } else {
            cvm = adopt(h, dom);
        }
        if (cvm)
            g_hash_table_add(seen, cvm);
    }
    free(doms);
    g_hash_table_iter_init(&it, r->by_id);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&cvm))
        if (cv_mgr_host_of(cvm) == h && !g_hash_table_contains(seen, cvm) && !cv_mgr_cvm_busy(cvm))
            g_ptr_array_add(gone, cvm);
    for (guint i = 0; i < gone->len; i++)
        cv_mgr_registry_remove(r, g_ptr_array_index(gone, i), "removed", "the domain is no longer defined in libvirt");
}

/* The state a lifecycle event means; FALSE for events that mean nothing to a CVM. */
static gboolean
state_of_event(int event, int detail, CvMgrState *state)
{
    switch (event) {
    case VIR_DOMAIN_EVENT_STARTED:
    case VIR_DOMAIN_EVENT_RESUMED:
        *state = CV_MGR_STATE_RUNNING;
        return TRUE;
    case VIR_DOMAIN_EVENT_SUSPENDED:
    case VIR_DOMAIN_EVENT_PMSUSPENDED:
        *state = CV_MGR_STATE_PAUSED;
        return TRUE;
    case VIR_DOMAIN_EVENT_SHUTDOWN:
        *state = CV_MGR_STATE_SHUTDOWN;
        return TRUE;
    case VIR_DOMAIN_EVENT_STOPPED:
        *state = detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED || detail == VIR_DOMAIN_EVENT_STOPPED_FAILED
                     ? CV_MGR_STATE_CRASHED : CV_MGR_STATE_STOPPED;
        return TRUE;
    case VIR_DOMAIN_EVENT_CRASHED:
        *state = CV_MGR_STATE_CRASHED;
        return TRUE;
    case VIR_DOMAIN_EVENT_UNDEFINED:
        return TRUE;
    default:
        return FALSE;
    }
}

/* The CVM's domain runs, as the registry knows it from libvirt's events. */
static gboolean
state_active(CvMgrState state)
{
    return state == CV_MGR_STATE_RUNNING || state == CV_MGR_STATE_PAUSED || state == CV_MGR_STATE_SHUTDOWN;
}

/* No call back to libvirt from here (the main loop): whether the domain runs, or was left transient,
 * the registry knows from the events it had. */
int
cv_mgr_sync_lifecycle_cb(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    CvMgrHost *h = opaque;
    CvMgrRegistry *r = h->r;
    CvMgrCvm *cvm = g_hash_table_lookup(r->by_name, virDomainGetName(dom));
    const char *name = lifecycle_event_to_string(event);
    const char *detail_name = event == VIR_DOMAIN_EVENT_STOPPED ? stopped_detail_to_string(detail) : NULL;
    CvMgrState state;

    if (!cvm || conn != h->conn || cv_mgr_host_of(cvm) != h)
        return 0;
    if (event == VIR_DOMAIN_EVENT_DEFINED) {
        g_hash_table_remove(r->transient, cvm->id);   /* persistent again */
        /* our create's define: the first of its steps the operator sees (defined, started, running) */
        if (cvm->state == CV_MGR_STATE_CREATING)
            cv_mgr_events_lifecycle(r, cvm, "defined", NULL);
        return 0;
    }
    state = cvm->state;
    if (!state_of_event(event, detail, &state))
        return 0;
    if (cv_mgr_cvm_busy(cvm)) {
        /* our own define/start or destroy/undefine: the job sets the state when done */
        cv_mgr_events_lifecycle(r, cvm, name ? name : "unknown", detail_name);
        return 0;
    }
    if (event == VIR_DOMAIN_EVENT_UNDEFINED) {
        if (state_active(cvm->state)) {
            g_hash_table_add(r->transient, g_strdup(cvm->id));
            cv_mgr_events_lifecycle(r, cvm, "undefined", "still running as a transient domain");
        } else {
            cv_mgr_registry_remove(r, cvm, "removed", "the domain was undefined outside covirt");
        }
        return 0;
    }
    cv_mgr_sync_set_state(r, cvm, state, dom, name ? name : "unknown", detail_name);
    /* a transient domain (undefined behind our back while running) is gone once stopped */
    if (event == VIR_DOMAIN_EVENT_STOPPED && g_hash_table_remove(r->transient, cvm->id))
        cv_mgr_registry_remove(r, cvm, "removed", "the transient domain stopped");
    return 0;
}
