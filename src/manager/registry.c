#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include "registry.h"
#include "port-pool.h"
#include "domain-render.h"
#include "cv-autoptr.h"
#include "cv-util.h"
#include "policy.h"
#include "agent-channel.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(virDomain, virDomainFree)

typedef struct {
    guint token;
    char *id;
    CvMgrEventFunc func;
    gpointer data;
} Subscription;

struct _CvMgrRegistry {
    const CvMgrConfig *config;
    CvMgrMetrics *metrics;
    virConnectPtr conn;          /* NULL while libvirt is unavailable */
    unsigned long lib_version;
    int lifecycle_cb;
    gboolean connecting;
    gboolean first_attempt_done;
    gboolean ever_connected;
    gboolean stopping;
    guint reconnect_source;
    guint backoff_s;
    GHashTable *by_id;           /* id → CvMgrCvm (owned) */
    GHashTable *by_name;         /* name → CvMgrCvm (borrowed) */
    CvMgrPortPool *ports;
    GHashTable *subs;            /* token → Subscription */
    guint next_token;
    guint jobs;
    GHashTable *ovmf_versions;   /* loader path → version */
    GHashTable *channels;        /* id → ChannelEntry, for running CVMs with a control channel socket */
};

static void connect_start(CvMgrRegistry *r);

/* a CVM's control channel and what its callback needs to find the CVM again */
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

static void
subscription_free(Subscription *s)
{
    g_free(s->id);
    g_free(s);
}

static void
quiet_libvirt_errors(void *data, virErrorPtr err)
{
    /* errors are reported once, where handled, from virGetLastError() */
}

CvMgrRegistry *
cv_mgr_registry_new(const CvMgrConfig *config, CvMgrMetrics *metrics)
{
    CvMgrRegistry *r = g_new0(CvMgrRegistry, 1);

    r->config = config;
    r->metrics = metrics;
    r->lifecycle_cb = -1;
    r->backoff_s = 1;
    r->by_id = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)cv_mgr_cvm_free);
    r->by_name = g_hash_table_new(g_str_hash, g_str_equal);
    r->ports = cv_mgr_port_pool_new(config->defaults->host_port_min, config->defaults->host_port_max);
    r->subs = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, (GDestroyNotify)subscription_free);
    r->ovmf_versions = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    /* keyed by the entry's own id */
    r->channels = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)channel_entry_free);
    virSetErrorFunc(NULL, quiet_libvirt_errors);
    return r;
}

static void
drop_connection(CvMgrRegistry *r)
{
    virConnectPtr conn = g_steal_pointer(&r->conn);

    if (!conn)
        return;
    if (r->lifecycle_cb >= 0)
        virConnectDomainEventDeregisterAny(conn, r->lifecycle_cb);
    r->lifecycle_cb = -1;
    virConnectUnregisterCloseCallback(conn, NULL);
    virConnectClose(conn);
}

void
cv_mgr_registry_free(CvMgrRegistry *r)
{
    if (!r)
        return;
    r->stopping = TRUE;
    if (r->reconnect_source)
        g_source_remove(r->reconnect_source);
    drop_connection(r);
    g_hash_table_unref(r->channels);
    g_hash_table_unref(r->subs);
    g_hash_table_unref(r->by_name);
    g_hash_table_unref(r->by_id);
    cv_mgr_port_pool_free(r->ports);
    g_hash_table_unref(r->ovmf_versions);
    g_free(r);
}

gboolean
cv_mgr_registry_connected(CvMgrRegistry *r)
{
    return r->conn != NULL;
}

gboolean
cv_mgr_registry_first_attempt_done(CvMgrRegistry *r)
{
    return r->first_attempt_done;
}

const char *
cv_mgr_registry_uri(CvMgrRegistry *r)
{
    return r->config->defaults->libvirt_uri;
}

char *
cv_mgr_registry_libvirt_version(CvMgrRegistry *r)
{
    if (!r->conn)
        return NULL;
    return g_strdup_printf("%lu.%lu.%lu", r->lib_version / 1000000, (r->lib_version / 1000) % 1000,
                           r->lib_version % 1000);
}

gboolean
cv_mgr_registry_connecting(CvMgrRegistry *r)
{
    return r->connecting;
}

void
cv_mgr_registry_stop(CvMgrRegistry *r)
{
    r->stopping = TRUE;
    if (r->reconnect_source)
        g_source_remove(r->reconnect_source);
    r->reconnect_source = 0;
}

guint
cv_mgr_registry_jobs(CvMgrRegistry *r)
{
    return r->jobs;
}

guint
cv_mgr_registry_count(CvMgrRegistry *r)
{
    return g_hash_table_size(r->by_id);
}

void
cv_mgr_registry_count_states(CvMgrRegistry *r, guint counts[CV_MGR_STATE_COUNT])
{
    GHashTableIter it;
    CvMgrCvm *cvm;

    memset(counts, 0, sizeof(guint) * CV_MGR_STATE_COUNT);
    g_hash_table_iter_init(&it, r->by_id);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&cvm))
        counts[cvm->state]++;
}

/* Maps the calling thread's last libvirt error to a CV_ERROR. */
static void
set_libvirt_error(GError **error, virConnectPtr conn, const char *what)
{
    virErrorPtr e = virGetLastError();
    CvErrorCode code = CV_ERROR_INTERNAL;

    if (e && (e->code == VIR_ERR_NO_DOMAIN))
        code = CV_ERROR_NOT_FOUND;
    else if (e && e->code == VIR_ERR_DOM_EXIST)
        code = CV_ERROR_CONFLICT;
    else if (!conn || virConnectIsAlive(conn) != 1 ||
             (e && (e->code == VIR_ERR_NO_CONNECT || e->code == VIR_ERR_RPC)))
        code = CV_ERROR_UNAVAILABLE;
    g_set_error(error, CV_ERROR, code, "%s: %s", what, e && e->message ? e->message : "libvirt error");
}

/* ---- events ---- */

static void
emit_event(CvMgrRegistry *r, CvMgrCvm *cvm, const char *kind, JsonObject *data, gboolean last)
{
    const CvMgrEvent *ev = cv_mgr_cvm_add_event(cvm, kind, data);
    g_autoptr(GArray) tokens = g_array_new(FALSE, FALSE, sizeof(guint));
    GHashTableIter it;
    Subscription *s;

    g_hash_table_iter_init(&it, r->subs);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&s))
        if (strcmp(s->id, cvm->id) == 0)
            g_array_append_val(tokens, s->token);
    /* a callback may unsubscribe itself or others: look each one up again */
    for (guint i = 0; i < tokens->len; i++) {
        guint token = g_array_index(tokens, guint, i);

        s = g_hash_table_lookup(r->subs, GUINT_TO_POINTER(token));
        if (!s)
            continue;
        s->func(cvm->id, ev, last, s->data);
        if (last)
            g_hash_table_remove(r->subs, GUINT_TO_POINTER(token));
    }
}

static void
emit_lifecycle(CvMgrRegistry *r, CvMgrCvm *cvm, const char *event, const char *detail)
{
    g_autoptr(JsonObject) data = json_object_new();

    json_object_set_string_member(data, "event", event);
    if (detail)
        json_object_set_string_member(data, "detail", detail);
    json_object_set_string_member(data, "state", cv_mgr_state_name(cvm->state));
    emit_event(r, cvm, "lifecycle", data, FALSE);
}

guint
cv_mgr_registry_subscribe(CvMgrRegistry *r, const char *id, CvMgrEventFunc func, gpointer data)
{
    Subscription *s = g_new0(Subscription, 1);

    s->token = ++r->next_token;
    s->id = g_strdup(id);
    s->func = func;
    s->data = data;
    g_hash_table_insert(r->subs, GUINT_TO_POINTER(s->token), s);
    return s->token;
}

void
cv_mgr_registry_unsubscribe(CvMgrRegistry *r, guint token)
{
    g_hash_table_remove(r->subs, GUINT_TO_POINTER(token));
}

static gboolean
event_kind_valid(const char *kind)
{
    gsize n = kind ? strlen(kind) : 0;

    /* it becomes the SSE "event:" line: no spaces, no line breaks */
    if (n == 0 || n > 32)
        return FALSE;
    for (gsize i = 0; i < n; i++)
        if (!g_ascii_isalnum(kind[i]) && kind[i] != '-' && kind[i] != '_' && kind[i] != '.')
            return FALSE;
    return TRUE;
}

typedef struct {
    CvMgrRegistry *r;
    char *id;
    char *kind;
    JsonNode *data;
} PushJob;

static gboolean
push_now(CvMgrRegistry *r, const char *id, const char *kind, JsonNode *data)
{
    CvMgrCvm *cvm = g_hash_table_lookup(r->by_id, id);

    if (!cvm || !event_kind_valid(kind) || (data && !JSON_NODE_HOLDS_OBJECT(data)))
        return FALSE;
    /* reserved: those end a stream */
    if (strcmp(kind, "deleted") == 0 || strcmp(kind, "removed") == 0 || strcmp(kind, "lifecycle") == 0)
        return FALSE;
    emit_event(r, cvm, kind, data ? json_node_get_object(data) : NULL, FALSE);
    return TRUE;
}

static gboolean
push_idle(gpointer p)
{
    PushJob *job = p;

    push_now(job->r, job->id, job->kind, job->data);
    g_free(job->id);
    g_free(job->kind);
    if (job->data)
        json_node_unref(job->data);
    g_free(job);
    return G_SOURCE_REMOVE;
}

gboolean
cv_mgr_cvm_push_event(CvMgrRegistry *r, const char *id, const char *kind, JsonNode *data)
{
    PushJob *job;

    if (g_main_context_is_owner(g_main_context_default()))
        return push_now(r, id, kind, data);
    job = g_new0(PushJob, 1);
    job->r = r;
    job->id = g_strdup(id);
    job->kind = g_strdup(kind);
    job->data = data ? json_node_copy(data) : NULL;
    g_main_context_invoke(NULL, push_idle, job);
    return TRUE;
}

/* ---- records ---- */

static CvMgrState
state_from_libvirt(virDomainPtr dom, CvMgrState fallback)
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

/* Writes the record into the domain (live and persistent definition), best effort: the
 * state libvirt reports wins at the next resync anyway. */
static void
persist(CvMgrRegistry *r, CvMgrCvm *cvm, virDomainPtr dom_in)
{
    g_autoptr(virDomain) own = NULL;
    virDomainPtr dom = dom_in;
    g_autofree char *xml = NULL;
    unsigned int flags;

    if (!r->conn)
        return;
    if (!dom) {
        own = virDomainLookupByName(r->conn, cvm->name);
        dom = own;
        if (!dom)
            return;
    }
    xml = cv_mgr_cvm_to_metadata(cvm, FALSE);
    flags = virDomainIsActive(dom) == 1 ? VIR_DOMAIN_AFFECT_LIVE : 0;
    if (virDomainIsPersistent(dom) == 1)
        flags |= VIR_DOMAIN_AFFECT_CONFIG;
    if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml, CV_XML_PREFIX, CV_XML_NAMESPACE,
                             flags) < 0) {
        virErrorPtr e = virGetLastError();

        g_warning("cvm %s: cannot record state in the domain metadata: %s", cvm->name,
                  e && e->message ? e->message : "libvirt error");
    }
}

static void
channel_event(const char *kind, JsonObject *data, gpointer user_data)
{
    ChannelEntry *t = user_data;
    CvMgrCvm *cvm = g_hash_table_lookup(t->r->by_id, t->id);

    if (cvm)
        emit_event(t->r, cvm, kind, data, FALSE);
}

static char *channel_path(CvMgrRegistry *r, virDomainPtr dom);
static char *channel_path_of_xml(const char *xml);

/* Records that the running CVM's channel was looked for, and opens it when there is a socket. */
static void
channel_open(CvMgrRegistry *r, CvMgrCvm *cvm, const char *path)
{
    g_autofree char *manifest = NULL;
    ChannelEntry *t;

    /* no socket (the test driver makes none): the flag alone says "looked", without an entry */
    cvm->channel_checked = TRUE;
    if (!path)
        return;
    t = g_new0(ChannelEntry, 1);
    t->r = r;
    t->id = g_strdup(cvm->id);
    g_hash_table_replace(r->channels, t->id, t);
    {
        g_autoptr(JsonNode) spec = cv_json_parse(cvm->spec_json, -1, NULL);
        JsonObject *o = spec && JSON_NODE_HOLDS_OBJECT(spec) ? json_node_get_object(spec) : NULL;
        JsonNode *comp = o ? json_object_get_member(o, "computation") : NULL;

        if (comp && JSON_NODE_HOLDS_OBJECT(comp))
            manifest = cv_json_to_string(comp, FALSE);
    }
    t->channel = cv_mgr_agent_channel_new(path, manifest, channel_event, t);
}

/* Closes the CVM's channel, if any; it is looked for again when the CVM runs. */
static void
channel_close(CvMgrRegistry *r, CvMgrCvm *cvm)
{
    cvm->channel_checked = FALSE;
    g_hash_table_remove(r->channels, cvm->id);
}

/* A running CVM has its control channel open; any other has none. */
static void
channel_sync(CvMgrRegistry *r, CvMgrCvm *cvm, virDomainPtr dom_in)
{
    g_autoptr(virDomain) own = NULL;
    g_autofree char *path = NULL;
    virDomainPtr dom = dom_in;

    if (cvm->state != CV_MGR_STATE_RUNNING || !r->conn) {
        channel_close(r, cvm);
        return;
    }
    if (cvm->channel_checked)
        return;
    if (!dom) {
        own = virDomainLookupByName(r->conn, cvm->name);
        dom = own;
        if (!dom)
            return;
    }
    path = channel_path(r, dom);
    channel_open(r, cvm, path);
}

static void
set_state(CvMgrRegistry *r, CvMgrCvm *cvm, CvMgrState state, virDomainPtr dom,
          const char *event, const char *detail)
{
    gboolean changed = cvm->state != state;

    cvm->state = state;
    if (event)
        emit_lifecycle(r, cvm, event, detail);
    if (changed) {
        g_info("cvm %s (%s): %s", cvm->name, cvm->id, cv_mgr_state_name(state));
        persist(r, cvm, dom);
    }
    channel_sync(r, cvm, dom);
}

static void
remove_cvm(CvMgrRegistry *r, CvMgrCvm *cvm, const char *kind, const char *message)
{
    g_autoptr(JsonObject) data = json_object_new();

    json_object_set_string_member(data, "message", message);
    if (cvm->host_port)
        cv_mgr_port_pool_release(r->ports, cvm->host_port);
    g_hash_table_remove(r->channels, cvm->id);
    emit_event(r, cvm, kind, data, TRUE);
    g_hash_table_remove(r->by_name, cvm->name);
    g_hash_table_remove(r->by_id, cvm->id);
}

static void ttl_arm(CvMgrRegistry *r, CvMgrCvm *cvm);

static void cv_mgr_registry_delete_internal(CvMgrRegistry *r, const char *id, const char *reason,
                                            GAsyncReadyCallback cb, gpointer data);

static void
cleanup_done(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GError) error = NULL;

    if (!cv_mgr_registry_delete_finish(data, res, &error))
        g_warning("removing an incomplete CVM: %s", error->message);
}

static CvMgrCvm *
adopt(CvMgrRegistry *r, virDomainPtr dom)
{
    const char *name = virDomainGetName(dom);
    g_autofree char *xml = NULL;
    g_autoptr(GError) local = NULL;
    g_autoptr(CvMgrCvm) cvm = NULL;
    CvMgrState stored;
    gboolean incomplete;
    CvMgrCvm *ret;

    xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, CV_XML_NAMESPACE, 0);
    if (!xml)
        return NULL;   /* not a covirt domain: never touched */
    cvm = cv_mgr_cvm_from_metadata(xml, name, &local);
    if (!cvm) {
        g_warning("domain %s: covirt metadata does not parse (%s); left alone", name, local->message);
        return NULL;
    }
    if (g_hash_table_contains(r->by_id, cvm->id)) {
        g_warning("domain %s: covirt id %s is already used by domain %s; left alone", name, cvm->id,
                  ((CvMgrCvm *)g_hash_table_lookup(r->by_id, cvm->id))->name);
        return NULL;
    }
    stored = cvm->state;
    incomplete = stored == CV_MGR_STATE_CREATING;
    if (stored == CV_MGR_STATE_CREATING || stored == CV_MGR_STATE_DELETING)
        stored = CV_MGR_STATE_STOPPED;
    cvm->state = state_from_libvirt(dom, stored);
    /* a manager killed between define and start left a domain that never ran: finish the
     * failed creation (one that runs is kept, only its recorded state was late) */
    incomplete = incomplete && cvm->state == CV_MGR_STATE_STOPPED;
    if (cvm->host_port && !cv_mgr_port_pool_reserve(r->ports, cvm->host_port, &local))
        g_warning("domain %s: %s", name, local->message);
    ret = g_steal_pointer(&cvm);
    g_hash_table_insert(r->by_name, ret->name, ret);
    g_hash_table_insert(r->by_id, ret->id, ret);
    emit_lifecycle(r, ret, "adopted", NULL);
    if (incomplete) {
        g_info("cvm %s (%s): creation was interrupted, removing it", ret->name, ret->id);
        cv_mgr_registry_delete_internal(r, ret->id, "incomplete creation", cleanup_done, r);
        return ret;
    }
    if (ret->state != stored)
        persist(r, ret, dom);
    ttl_arm(r, ret);
    channel_sync(r, ret, dom);
    return ret;
}

static void
resync(CvMgrRegistry *r)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(r->conn, &doms, 0);
    g_autoptr(GHashTable) seen = g_hash_table_new(g_direct_hash, g_direct_equal);
    g_autoptr(GPtrArray) gone = g_ptr_array_new();
    GHashTableIter it;
    CvMgrCvm *cvm;

    if (n < 0) {
        virErrorPtr e = virGetLastError();

        g_warning("cannot list libvirt domains: %s", e && e->message ? e->message : "libvirt error");
        return;
    }
    for (int i = 0; i < n; i++) {
        g_autoptr(virDomain) dom = doms[i];

        cvm = g_hash_table_lookup(r->by_name, virDomainGetName(dom));
        if (cvm) {
            if (cvm->state != CV_MGR_STATE_CREATING && cvm->state != CV_MGR_STATE_DELETING) {
                CvMgrState now = state_from_libvirt(dom, cvm->state);

                if (now != cvm->state)
                    set_state(r, cvm, now, dom, "resync", NULL);
                else
                    channel_sync(r, cvm, dom);
            }
        } else {
            cvm = adopt(r, dom);
        }
        if (cvm)
            g_hash_table_add(seen, cvm);
    }
    free(doms);
    g_hash_table_iter_init(&it, r->by_id);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&cvm))
        if (!g_hash_table_contains(seen, cvm) && cvm->state != CV_MGR_STATE_CREATING &&
            cvm->state != CV_MGR_STATE_DELETING)
            g_ptr_array_add(gone, cvm);
    for (guint i = 0; i < gone->len; i++)
        remove_cvm(r, g_ptr_array_index(gone, i), "removed", "the domain is no longer defined in libvirt");
}

static const char *
lifecycle_name(int event)
{
    switch (event) {
    case VIR_DOMAIN_EVENT_DEFINED: return "defined";
    case VIR_DOMAIN_EVENT_UNDEFINED: return "undefined";
    case VIR_DOMAIN_EVENT_STARTED: return "started";
    case VIR_DOMAIN_EVENT_SUSPENDED: return "suspended";
    case VIR_DOMAIN_EVENT_RESUMED: return "resumed";
    case VIR_DOMAIN_EVENT_STOPPED: return "stopped";
    case VIR_DOMAIN_EVENT_SHUTDOWN: return "shutdown";
    case VIR_DOMAIN_EVENT_PMSUSPENDED: return "pmsuspended";
    case VIR_DOMAIN_EVENT_CRASHED: return "crashed";
    default: return "unknown";
    }
}

static const char *
stopped_detail(int detail)
{
    switch (detail) {
    case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN: return "shutdown";
    case VIR_DOMAIN_EVENT_STOPPED_DESTROYED: return "destroyed";
    case VIR_DOMAIN_EVENT_STOPPED_CRASHED: return "crashed";
    case VIR_DOMAIN_EVENT_STOPPED_MIGRATED: return "migrated";
    case VIR_DOMAIN_EVENT_STOPPED_SAVED: return "saved";
    case VIR_DOMAIN_EVENT_STOPPED_FAILED: return "failed";
    case VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT: return "from-snapshot";
    default: return NULL;
    }
}

static int
lifecycle_cb(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    CvMgrRegistry *r = opaque;
    CvMgrCvm *cvm = g_hash_table_lookup(r->by_name, virDomainGetName(dom));
    CvMgrState state;
    const char *detail_name = NULL;

    if (!cvm || conn != r->conn || event == VIR_DOMAIN_EVENT_DEFINED)
        return 0;
    state = cvm->state;
    switch (event) {
    case VIR_DOMAIN_EVENT_STARTED:
    case VIR_DOMAIN_EVENT_RESUMED:
        state = CV_MGR_STATE_RUNNING;
        break;
    case VIR_DOMAIN_EVENT_SUSPENDED:
    case VIR_DOMAIN_EVENT_PMSUSPENDED:
        state = CV_MGR_STATE_PAUSED;
        break;
    case VIR_DOMAIN_EVENT_SHUTDOWN:
        state = CV_MGR_STATE_SHUTDOWN;
        break;
    case VIR_DOMAIN_EVENT_STOPPED:
        detail_name = stopped_detail(detail);
        state = (detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED || detail == VIR_DOMAIN_EVENT_STOPPED_FAILED)
                    ? CV_MGR_STATE_CRASHED : CV_MGR_STATE_STOPPED;
        break;
    case VIR_DOMAIN_EVENT_CRASHED:
        state = CV_MGR_STATE_CRASHED;
        break;
    case VIR_DOMAIN_EVENT_UNDEFINED:
        break;
    default:
        return 0;
    }
    if (cvm->state == CV_MGR_STATE_CREATING || cvm->state == CV_MGR_STATE_DELETING) {
        /* our own define/start or destroy/undefine: the job sets the state when done */
        emit_lifecycle(r, cvm, lifecycle_name(event), detail_name);
        return 0;
    }
    if (event == VIR_DOMAIN_EVENT_UNDEFINED) {
        if (virDomainIsActive(dom) == 1) {
            emit_lifecycle(r, cvm, "undefined", "still running as a transient domain");
            return 0;
        }
        remove_cvm(r, cvm, "removed", "the domain was undefined outside covirt");
        return 0;
    }
    set_state(r, cvm, state, dom, lifecycle_name(event), detail_name);
    /* a transient domain (undefined behind our back while running) is gone once stopped */
    if (event == VIR_DOMAIN_EVENT_STOPPED && virDomainIsPersistent(dom) == 0)
        remove_cvm(r, cvm, "removed", "the transient domain stopped");
    return 0;
}

/* ---- connection ---- */

static gboolean
reconnect_cb(gpointer data)
{
    CvMgrRegistry *r = data;

    r->reconnect_source = 0;
    connect_start(r);
    return G_SOURCE_REMOVE;
}

static void
schedule_reconnect(CvMgrRegistry *r)
{
    if (r->stopping || r->reconnect_source || r->connecting)
        return;
    r->reconnect_source = g_timeout_add_seconds(r->backoff_s, reconnect_cb, r);
    r->backoff_s = MIN(r->backoff_s * 2, r->config->reconnect_max_s);
}

static gboolean
close_later(gpointer data)
{
    virConnectClose(data);
    return G_SOURCE_REMOVE;
}

static void
close_cb(virConnectPtr conn, int reason, void *opaque)
{
    CvMgrRegistry *r = opaque;
    static const char *const reasons[] = { "error", "end of file", "keepalive timeout", "client closed" };
    GHashTableIter it;
    CvMgrCvm *cvm;

    if (conn != r->conn)
        return;
    g_warning("libvirt connection to %s closed (%s); API keeps serving, reconnecting",
              cv_mgr_registry_uri(r), reason >= 0 && reason < 4 ? reasons[reason] : "unknown");
    r->conn = NULL;
    g_hash_table_iter_init(&it, r->by_id);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&cvm))
        cvm->channel_checked = FALSE;
    g_hash_table_remove_all(r->channels);
    /* event callbacks die with the connection; closing inside the callback is not allowed */
    r->lifecycle_cb = -1;
    g_idle_add(close_later, conn);
    r->backoff_s = 1;
    schedule_reconnect(r);
}

static void
conn_close(gpointer p)
{
    virConnectClose(p);
}

static void
connect_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
    const char *uri = data;
    virConnectPtr conn = virConnectOpen(uri);

    if (!conn) {
        g_autoptr(GError) error = NULL;

        set_libvirt_error(&error, NULL, uri);
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    g_task_return_pointer(task, conn, conn_close);
}

static void
connect_done(GObject *src, GAsyncResult *res, gpointer data)
{
    CvMgrRegistry *r = data;
    g_autoptr(GError) error = NULL;
    virConnectPtr conn = g_task_propagate_pointer(G_TASK(res), &error);

    r->connecting = FALSE;
    r->first_attempt_done = TRUE;
    if (!conn) {
        g_warning("libvirt unavailable, retrying in %u s: %s", r->backoff_s, error->message);
        schedule_reconnect(r);
        return;
    }
    if (r->stopping) {
        virConnectClose(conn);
        return;
    }
    if (virConnectGetLibVersion(conn, &r->lib_version) < 0)
        r->lib_version = 0;
    (void)virConnectSetKeepAlive(conn, 5, 3);
    if (virConnectRegisterCloseCallback(conn, close_cb, r, NULL) < 0)
        g_debug("no close callback on %s", cv_mgr_registry_uri(r));
    /* events first, then the listing: nothing that happens in between is missed */
    r->lifecycle_cb = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                       VIR_DOMAIN_EVENT_CALLBACK(lifecycle_cb), r, NULL);
    if (r->lifecycle_cb < 0) {
        virErrorPtr e = virGetLastError();

        g_warning("cannot register for libvirt events: %s; retrying",
                  e && e->message ? e->message : "libvirt error");
        virConnectUnregisterCloseCallback(conn, close_cb);
        virConnectClose(conn);
        schedule_reconnect(r);
        return;
    }
    r->conn = conn;
    r->backoff_s = 1;
    if (r->ever_connected)
        r->metrics->libvirt_reconnects++;
    r->ever_connected = TRUE;
    resync(r);
    {
        g_autofree char *v = cv_mgr_registry_libvirt_version(r);

        g_info("connected to %s (libvirt %s), %u CVMs", cv_mgr_registry_uri(r), v, cv_mgr_registry_count(r));
    }
}

static void
connect_start(CvMgrRegistry *r)
{
    g_autoptr(GTask) task = NULL;

    if (r->connecting || r->conn || r->stopping)
        return;
    r->connecting = TRUE;
    task = g_task_new(NULL, NULL, connect_done, r);
    g_task_set_task_data(task, g_strdup(cv_mgr_registry_uri(r)), g_free);
    g_task_run_in_thread(task, connect_thread);
}

void
cv_mgr_registry_start(CvMgrRegistry *r)
{
    connect_start(r);
}

/* ---- lookup ---- */

CvMgrCvm *
cv_mgr_registry_lookup(CvMgrRegistry *r, const char *id_or_name, GError **error)
{
    CvMgrCvm *cvm = id_or_name ? g_hash_table_lookup(r->by_id, id_or_name) : NULL;

    if (!cvm && id_or_name)
        cvm = g_hash_table_lookup(r->by_name, id_or_name);
    if (!cvm)
        g_set_error(error, CV_ERROR, CV_ERROR_NOT_FOUND, "no CVM with id or name '%s'",
                    id_or_name ? id_or_name : "");
    return cvm;
}

static gint
by_creation(gconstpointer a, gconstpointer b)
{
    const CvMgrCvm *x = *(CvMgrCvm *const *)a, *y = *(CvMgrCvm *const *)b;

    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->name, y->name);
}

GPtrArray *
cv_mgr_registry_list(CvMgrRegistry *r)
{
    GPtrArray *list = g_ptr_array_new();
    GHashTableIter it;
    gpointer cvm;

    g_hash_table_iter_init(&it, r->by_id);
    while (g_hash_table_iter_next(&it, NULL, &cvm))
        g_ptr_array_add(list, cvm);
    g_ptr_array_sort(list, by_creation);
    return list;
}

/* ---- TTL ---- */

static void
ttl_delete_done(GObject *src, GAsyncResult *res, gpointer data)
{
    CvMgrRegistry *r = data;
    g_autoptr(GError) error = NULL;

    if (cv_mgr_registry_delete_finish(r, res, &error))
        r->metrics->ttl_expiries++;
    else
        g_warning("TTL expiry: %s", error->message);
}

static gboolean
ttl_expired(gpointer data)
{
    CvMgrRegistry *r = g_object_get_data(G_OBJECT(data), "registry");
    const char *id = g_object_get_data(G_OBJECT(data), "id");
    CvMgrCvm *cvm = g_hash_table_lookup(r->by_id, id);

    if (!cvm)
        return G_SOURCE_REMOVE;
    cvm->ttl_source = 0;
    if (!r->conn || cvm->state == CV_MGR_STATE_DELETING || cvm->state == CV_MGR_STATE_CREATING) {
        /* try again shortly: libvirt away or a job running */
        cvm->ttl_source = g_timeout_add_seconds_full(G_PRIORITY_DEFAULT, 5, ttl_expired,
                                                     g_object_ref(data), g_object_unref);
        return G_SOURCE_REMOVE;
    }
    g_info("cvm %s (%s): TTL expired, deleting", cvm->name, cvm->id);
    cv_mgr_registry_delete_internal(r, id, "ttl", ttl_delete_done, r);
    return G_SOURCE_REMOVE;
}

static void
ttl_arm(CvMgrRegistry *r, CvMgrCvm *cvm)
{
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    gint64 delay;
    GObject *holder;

    if (!cvm->expires_at || cvm->ttl_source)
        return;
    delay = cvm->expires_at > now ? cvm->expires_at - now : 0;
    /* a GObject carries registry + id with one destroy notify */
    holder = g_object_new(G_TYPE_OBJECT, NULL);
    g_object_set_data(holder, "registry", r);
    g_object_set_data_full(holder, "id", g_strdup(cvm->id), g_free);
    cvm->ttl_source = g_timeout_add_seconds_full(G_PRIORITY_DEFAULT, (guint)MIN(delay, G_MAXUINT / 2),
                                                 ttl_expired, holder, g_object_unref);
}

/* ---- create ---- */

typedef struct {
    virConnectPtr conn;
    char *id;
    char *name;
    char *xml;
    char *metadata_running;  /* the record as it is once the domain runs */
    int state;               /* CvMgrState after start */
    gboolean persisted;      /* the worker wrote metadata_running */
    char *channel_path;      /* of the running domain; NULL: it has no socket */
} CreateJob;

static void
create_job_free(gpointer p)
{
    CreateJob *job = p;

    if (job->conn)
        virConnectClose(job->conn);
    g_free(job->id);
    g_free(job->name);
    g_free(job->xml);
    g_free(job->metadata_running);
    g_free(job->channel_path);
    g_free(job);
}

#define UNDEFINE_FLAGS (VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_TPM | VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | \
                        VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA)

/* drivers without NVRAM or TPM state (the test driver) refuse those flags; remembered so
 * that the refused call is made once */
static gint undefine_plain;

static int
undefine(virDomainPtr dom)
{
    virErrorPtr e;
    int rc;

    if (!g_atomic_int_get(&undefine_plain)) {
        rc = virDomainUndefineFlags(dom, UNDEFINE_FLAGS);
        if (rc == 0)
            return 0;
        e = virGetLastError();
        if (!e || (e->code != VIR_ERR_INVALID_ARG && e->code != VIR_ERR_NO_SUPPORT) || !e->message ||
            !strstr(e->message, "flags"))
            return rc;
        g_atomic_int_set(&undefine_plain, 1);
    }
    rc = virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA);
    if (rc < 0) {
        e = virGetLastError();
        if (e && e->code == VIR_ERR_INVALID_ARG)
            rc = virDomainUndefine(dom);
    }
    return rc;
}

static void
create_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
    CreateJob *job = data;
    g_autoptr(virDomain) dom = NULL;
    g_autoptr(GError) error = NULL;

    dom = virDomainDefineXML(job->conn, job->xml);
    if (!dom) {
        set_libvirt_error(&error, job->conn, "defining the domain");
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    if (virDomainCreate(dom) < 0) {
        set_libvirt_error(&error, job->conn, "starting the domain");
        /* nothing half-created: the definition goes with the failed start */
        if (undefine(dom) < 0)
            g_warning("cvm %s: cannot undefine after a failed start", job->name);
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    job->state = state_from_libvirt(dom, CV_MGR_STATE_RUNNING);
    /* The usual outcome is finished here, with the handle in hand, instead of looking the
     * domain up again from the main loop: the record says "running" (live and persistent
     * definition) and the live XML tells the control channel's socket. Any other state is
     * recorded by the main loop. */
    if (job->state == CV_MGR_STATE_RUNNING) {
        g_autofree char *live = NULL;

        if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, job->metadata_running, CV_XML_PREFIX,
                                 CV_XML_NAMESPACE, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG) == 0)
            job->persisted = TRUE;
        live = virDomainGetXMLDesc(dom, 0);
        job->channel_path = channel_path_of_xml(live);
    }
    g_task_return_boolean(task, TRUE);
}

/* Only files under the log directory: the list comes from metadata that anyone with libvirt
 * access can edit, and it drives unlink(). */
static void
remove_files(const char *log_dir, GPtrArray *files)
{
    g_autofree char *prefix = g_strconcat(log_dir, G_DIR_SEPARATOR_S, NULL);

    for (guint i = 0; files && i < files->len; i++) {
        const char *path = g_ptr_array_index(files, i);

        if (!g_str_has_prefix(path, prefix) || strstr(path, "/..") || strchr(path + strlen(prefix), '/')) {
            g_warning("not removing %s: outside %s", path, log_dir);
            continue;
        }
        if (g_unlink(path) < 0 && errno != ENOENT)
            g_warning("cannot remove %s: %s", path, g_strerror(errno));
    }
}

static void
create_done(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *outer = data;
    CvMgrRegistry *r = g_object_get_data(G_OBJECT(outer), "registry");
    CreateJob *job = g_task_get_task_data(G_TASK(res));
    CvMgrCvm *cvm = g_hash_table_lookup(r->by_id, job->id);
    g_autoptr(GError) error = NULL;

    r->jobs--;
    if (!g_task_propagate_boolean(G_TASK(res), &error)) {
        r->metrics->creation_failures++;
        g_warning("cvm %s: creation failed: %s", job->name, error->message);
        if (cvm) {
            remove_files(r->config->log_dir, cvm->files);
            remove_cvm(r, cvm, "removed", error->message);
        }
        g_task_return_error(outer, g_steal_pointer(&error));
        g_object_unref(outer);
        return;
    }
    if (!cvm) {
        g_task_return_new_error(outer, CV_ERROR, CV_ERROR_INTERNAL, "cvm %s vanished during creation", job->name);
        g_object_unref(outer);
        return;
    }
    r->metrics->creations++;
    cvm->state = job->state;
    emit_lifecycle(r, cvm, "created", NULL);
    if (!job->persisted)
        persist(r, cvm, NULL);
    if (cvm->state == CV_MGR_STATE_RUNNING && r->conn && !cvm->channel_checked)
        channel_open(r, cvm, job->channel_path);
    else
        channel_sync(r, cvm, NULL);
    ttl_arm(r, cvm);
    g_info("cvm %s (%s) created (%s), agent port %u", cvm->name, cvm->id, cv_mgr_state_name(cvm->state),
           cvm->host_port);
    g_task_return_pointer(outer, cv_mgr_cvm_to_json(cvm, FALSE), (GDestroyNotify)json_node_unref);
    g_object_unref(outer);
}

/* The HAL builder writes DIR/hal-version beside DIR/initramfs.cpio.gz: one printable line. */
static char *
hal_version_for(const CvMgrConfig *config, const char *initrd)
{
    g_autofree char *dir = NULL, *path = NULL, *text = NULL;
    gsize len = 0;

    if (config->hal_version)
        return g_strdup(config->hal_version);
    if (!initrd)
        return g_strdup("unknown");
    dir = g_path_get_dirname(initrd);
    path = g_build_filename(dir, "hal-version", NULL);
    if (!g_file_get_contents(path, &text, &len, NULL) || len == 0 || len > 256)
        return g_strdup("unknown");
    text[strcspn(text, "\r\n")] = '\0';
    for (char *p = text; *p; p++)
        if (!g_ascii_isprint(*p))
            return g_strdup("unknown");
    return *text ? g_steal_pointer(&text) : g_strdup("unknown");
}

static char *
prepare_create(CvMgrRegistry *r, GBytes *body, CvMgrCvm **out, GError **error)
{
    const CvDefaults *d = r->config->defaults;
    gsize len = 0;
    const char *text = body ? g_bytes_get_data(body, &len) : NULL;
    g_autoptr(CvCvmSpec) spec = NULL;
    g_autoptr(CvMgrCvm) cvm = NULL;
    g_autoptr(JsonNode) spec_json = NULL;
    g_autoptr(virDomain) existing = NULL;
    g_autofree char *metadata = NULL;
    g_autofree char *xml = NULL;
    CvRenderOptions opts = { 0 };
    const char *bind;
    guint port;

    if (!r->conn) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "libvirt (%s) is unavailable", cv_mgr_registry_uri(r));
        return NULL;
    }
    if (!text || len == 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "empty body: a CVM spec (JSON object) is required");
        return NULL;
    }
    spec = cv_cvm_spec_from_data(text, (gssize)len, d, error);
    if (!spec)
        return NULL;
    cvm = cv_mgr_cvm_new();
    cvm->id = g_uuid_string_random();
    if (!spec->name)
        spec->name = g_strdup_printf("cvm-%.8s", cvm->id);
    if (!cv_cvm_name_valid(spec->name, error))
        return NULL;
    /* ids and names share the API's paths: a name that looks like an id would be ambiguous */
    if (g_uuid_string_is_valid(spec->name)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "name: must not have the form of a CVM id (a UUID)");
        return NULL;
    }
    if (g_hash_table_contains(r->by_name, spec->name)) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "name: a CVM named '%s' exists", spec->name);
        return NULL;
    }
    existing = virDomainLookupByName(r->conn, spec->name);
    if (existing) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "name: a libvirt domain named '%s' exists", spec->name);
        return NULL;
    }
    if (g_hash_table_size(r->by_id) >= r->config->max_vms) {
        r->metrics->creation_failures++;
        g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "MANAGER_MAX_VMS (%u) reached", r->config->max_vms);
        return NULL;
    }
    if (!cv_cvm_spec_check_files(spec, error))
        return NULL;
    bind = spec->agent_bind_address ? spec->agent_bind_address : d->agent_bind_address;
    if (spec->host_port) {
        if (!cv_mgr_port_pool_reserve(r->ports, spec->host_port, error))
            return NULL;
        if (!cv_mgr_port_is_free(bind, spec->host_port)) {
            cv_mgr_port_pool_release(r->ports, spec->host_port);
            g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "host_port: %u is in use on %s", spec->host_port, bind);
            return NULL;
        }
        port = spec->host_port;
    } else {
        port = cv_mgr_port_pool_allocate(r->ports, bind, error);
        if (!port) {
            r->metrics->creation_failures++;
            return NULL;
        }
        spec->host_port = port;
    }
    cvm->name = g_strdup(spec->name);
    cvm->platform = spec->platform;
    cvm->state = CV_MGR_STATE_CREATING;
    cvm->created_at = g_get_real_time() / G_USEC_PER_SEC;
    cvm->expires_at = spec->ttl_seconds ? cvm->created_at + (gint64)spec->ttl_seconds : 0;
    cvm->host_port = port;
    cvm->agent_host = g_strdup(bind);
    cvm->hal_version = hal_version_for(r->config, spec->initrd);
    if (spec->debug) {
        g_ptr_array_add(cvm->files, g_strdup_printf("%s/%s.serial", r->config->log_dir, spec->name));
        if (g_mkdir_with_parents(r->config->log_dir, 0755) < 0) {
            cv_mgr_port_pool_release(r->ports, port);
            g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot create %s: %s", r->config->log_dir, g_strerror(errno));
            return NULL;
        }
    }
    spec_json = cv_cvm_spec_to_json(spec);
    cvm->spec_json = cv_json_to_string(spec_json, FALSE);
    metadata = cv_mgr_cvm_to_metadata(cvm, TRUE);
    opts.libvirt_version = r->lib_version;
    opts.template_dir = r->config->template_dir;
    opts.log_dir = r->config->log_dir;
    opts.metadata_xml = metadata;
    xml = cv_domain_render(spec, &opts, error);
    if (!xml) {
        cv_mgr_port_pool_release(r->ports, port);
        return NULL;
    }
    *out = g_steal_pointer(&cvm);
    return g_steal_pointer(&xml);
}

void
cv_mgr_registry_create_async(CvMgrRegistry *r, GBytes *body, GAsyncReadyCallback cb, gpointer data)
{
    GTask *outer = g_task_new(NULL, NULL, cb, data);
    g_autoptr(GTask) inner = NULL;
    g_autoptr(GError) error = NULL;
    CvMgrCvm *cvm = NULL;
    CreateJob *job;
    char *xml;

    g_task_set_source_tag(outer, cv_mgr_registry_create_async);
    g_object_set_data(G_OBJECT(outer), "registry", r);
    xml = prepare_create(r, body, &cvm, &error);
    if (!xml) {
        g_task_return_error(outer, g_steal_pointer(&error));
        g_object_unref(outer);
        return;
    }
    /* from here the name, the port and a MANAGER_MAX_VMS slot are held by the record */
    g_hash_table_insert(r->by_name, cvm->name, cvm);
    g_hash_table_insert(r->by_id, cvm->id, cvm);
    job = g_new0(CreateJob, 1);
    job->conn = r->conn;
    virConnectRef(job->conn);
    job->id = g_strdup(cvm->id);
    job->name = g_strdup(cvm->name);
    job->xml = xml;
    {
        /* a shallow copy, only read here: the record with the state it will have */
        CvMgrCvm running = *cvm;

        running.state = CV_MGR_STATE_RUNNING;
        job->metadata_running = cv_mgr_cvm_to_metadata(&running, FALSE);
    }
    r->jobs++;
    inner = g_task_new(NULL, NULL, create_done, outer);
    g_task_set_task_data(inner, job, create_job_free);
    g_task_run_in_thread(inner, create_thread);
}

JsonNode *
cv_mgr_registry_create_finish(CvMgrRegistry *r, GAsyncResult *res, GError **error)
{
    return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---- delete ---- */

typedef struct {
    virConnectPtr conn;
    char *id;
    char *name;
    char *log_dir;
    GPtrArray *files;
    CvMgrState prev;
} DeleteJob;

static void
delete_job_free(gpointer p)
{
    DeleteJob *job = p;

    if (job->conn)
        virConnectClose(job->conn);
    g_free(job->id);
    g_free(job->name);
    g_free(job->log_dir);
    g_ptr_array_unref(job->files);
    g_free(job);
}

/* The logs libvirt keeps of a domain after it is undefined (QEMU's and swtpm's, in Debian's default
 * places): a deleted CVM leaves nothing behind. Names come from libvirt, so they are checked again
 * before they become paths. */
static void
remove_libvirt_logs(const char *name)
{
    g_autofree char *qemu_log = NULL;
    g_autofree char *swtpm_log = NULL;

    if (!cv_cvm_name_valid(name, NULL))
        return;
    qemu_log = g_strdup_printf("/var/log/libvirt/qemu/%s.log", name);
    swtpm_log = g_strdup_printf("/var/log/swtpm/libvirt/qemu/%s-swtpm.log", name);
    if (g_unlink(qemu_log) < 0 && errno != ENOENT)
        g_warning("cannot remove %s: %s", qemu_log, g_strerror(errno));
    if (g_unlink(swtpm_log) < 0 && errno != ENOENT)
        g_warning("cannot remove %s: %s", swtpm_log, g_strerror(errno));
}

static void
delete_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
    DeleteJob *job = data;
    g_autoptr(virDomain) dom = virDomainLookupByName(job->conn, job->name);
    g_autoptr(GError) error = NULL;

    if (!dom) {
        virErrorPtr e = virGetLastError();

        if (!e || e->code != VIR_ERR_NO_DOMAIN) {
            set_libvirt_error(&error, job->conn, "looking up the domain");
            g_task_return_error(task, g_steal_pointer(&error));
            return;
        }
    } else {
        /* no IsActive/IsPersistent beforehand: libvirt's answers say the same. A domain that
         * does not run refuses the destroy (OPERATION_INVALID); a transient one is gone once
         * destroyed (NO_DOMAIN at the undefine). */
        if (virDomainDestroy(dom) < 0) {
            virErrorPtr e = virGetLastError();

            if (!e || e->code != VIR_ERR_OPERATION_INVALID) {
                set_libvirt_error(&error, job->conn, "destroying the domain");
                g_task_return_error(task, g_steal_pointer(&error));
                return;
            }
        }
        if (undefine(dom) < 0) {
            virErrorPtr e = virGetLastError();

            if (!e || e->code != VIR_ERR_NO_DOMAIN) {
                set_libvirt_error(&error, job->conn, "undefining the domain");
                g_task_return_error(task, g_steal_pointer(&error));
                return;
            }
        }
        remove_libvirt_logs(job->name);
    }
    remove_files(job->log_dir, job->files);
    g_task_return_boolean(task, TRUE);
}

static void
delete_done(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *outer = data;
    CvMgrRegistry *r = g_object_get_data(G_OBJECT(outer), "registry");
    DeleteJob *job = g_task_get_task_data(G_TASK(res));
    CvMgrCvm *cvm = g_hash_table_lookup(r->by_id, job->id);
    g_autoptr(GError) error = NULL;

    r->jobs--;
    if (!g_task_propagate_boolean(G_TASK(res), &error)) {
        if (cvm)
            set_state(r, cvm, job->prev, NULL, "delete-failed", error->message);
        g_task_return_error(outer, g_steal_pointer(&error));
        g_object_unref(outer);
        return;
    }
    r->metrics->deletions++;
    if (cvm) {
        g_info("cvm %s (%s) deleted", cvm->name, cvm->id);
        remove_cvm(r, cvm, "deleted", g_object_get_data(G_OBJECT(outer), "reason"));
    }
    g_task_return_boolean(outer, TRUE);
    g_object_unref(outer);
}

static void
cv_mgr_registry_delete_internal(CvMgrRegistry *r, const char *id_or_name, const char *reason,
                                GAsyncReadyCallback cb, gpointer data)
{
    GTask *outer = g_task_new(NULL, NULL, cb, data);
    g_autoptr(GTask) inner = NULL;
    g_autoptr(GError) error = NULL;
    CvMgrCvm *cvm;
    DeleteJob *job;

    g_object_set_data(G_OBJECT(outer), "registry", r);
    g_object_set_data_full(G_OBJECT(outer), "reason", g_strdup(reason), g_free);
    cvm = cv_mgr_registry_lookup(r, id_or_name, &error);
    if (cvm && (cvm->state == CV_MGR_STATE_CREATING || cvm->state == CV_MGR_STATE_DELETING)) {
        g_set_error(&error, CV_ERROR, CV_ERROR_CONFLICT, "CVM %s is being %s", cvm->name,
                    cvm->state == CV_MGR_STATE_CREATING ? "created" : "deleted");
        cvm = NULL;
    }
    if (cvm && !r->conn) {
        g_set_error(&error, CV_ERROR, CV_ERROR_UNAVAILABLE, "libvirt (%s) is unavailable", cv_mgr_registry_uri(r));
        cvm = NULL;
    }
    if (!cvm) {
        g_task_return_error(outer, g_steal_pointer(&error));
        g_object_unref(outer);
        return;
    }
    job = g_new0(DeleteJob, 1);
    job->conn = r->conn;
    virConnectRef(job->conn);
    job->id = g_strdup(cvm->id);
    job->name = g_strdup(cvm->name);
    job->files = g_ptr_array_ref(cvm->files);
    job->log_dir = g_strdup(r->config->log_dir);
    job->prev = cvm->state;
    cvm->state = CV_MGR_STATE_DELETING;
    channel_close(r, cvm);
    emit_lifecycle(r, cvm, "deleting", reason);
    r->jobs++;
    inner = g_task_new(NULL, NULL, delete_done, outer);
    g_task_set_task_data(inner, job, delete_job_free);
    g_task_run_in_thread(inner, delete_thread);
}

void
cv_mgr_registry_delete_async(CvMgrRegistry *r, const char *id_or_name, GAsyncReadyCallback cb, gpointer data)
{
    cv_mgr_registry_delete_internal(r, id_or_name, "api", cb, data);
}

gboolean
cv_mgr_registry_delete_finish(CvMgrRegistry *r, GAsyncResult *res, GError **error)
{
    return g_task_propagate_boolean(G_TASK(res), error);
}

/* ---- domain XML and info ---- */

static virDomainPtr
lookup_domain(CvMgrRegistry *r, const char *id_or_name, CvMgrCvm **cvm_out, GError **error)
{
    CvMgrCvm *cvm = cv_mgr_registry_lookup(r, id_or_name, error);
    virDomainPtr dom;

    if (!cvm)
        return NULL;
    if (!r->conn) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "libvirt (%s) is unavailable", cv_mgr_registry_uri(r));
        return NULL;
    }
    dom = virDomainLookupByName(r->conn, cvm->name);
    if (!dom) {
        set_libvirt_error(error, r->conn, cvm->name);
        return NULL;
    }
    if (cvm_out)
        *cvm_out = cvm;
    return dom;
}

char *
cv_mgr_registry_domain_xml(CvMgrRegistry *r, const char *id_or_name, GError **error)
{
    g_autoptr(virDomain) dom = lookup_domain(r, id_or_name, NULL, error);
    char *xml;

    if (!dom)
        return NULL;
    xml = virDomainGetXMLDesc(dom, 0);
    if (!xml)
        set_libvirt_error(error, r->conn, "reading the domain XML");
    return xml;
}

static char *
xpath_string(xmlXPathContext *ctx, const char *expr)
{
    g_autoptr(xmlXPathObject) obj = xmlXPathEvalExpression(BAD_CAST expr, ctx);

    if (!obj || obj->type != XPATH_STRING || !obj->stringval || !*obj->stringval)
        return NULL;
    return g_strdup((const char *)obj->stringval);
}

/* The domain as libvirt holds it now, parsed, with an XPath context on it; the caller frees the
 * context, then *doc. */
static xmlXPathContext *
live_xpath(CvMgrRegistry *r, virDomainPtr dom, xmlDoc **doc, GError **error)
{
    g_autofree char *xml = virDomainGetXMLDesc(dom, 0);

    if (!xml) {
        set_libvirt_error(error, r->conn, "reading the domain XML");
        return NULL;
    }
    *doc = xmlReadMemory(xml, strlen(xml), "domain.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
    if (!*doc) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "libvirt returned domain XML that does not parse");
        return NULL;
    }
    return xmlXPathNewContext(*doc);
}

static xmlNode *
element_child(xmlNode *parent, const char *name)
{
    for (xmlNode *n = parent ? parent->children : NULL; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, BAD_CAST name) == 0)
            return n;
    return NULL;
}

static gboolean
attr_is(xmlNode *node, const char *name, const char *value)
{
    g_autoptr(cvXmlChar) v = node ? xmlGetProp(node, BAD_CAST name) : NULL;

    return v && xmlStrcmp(v, BAD_CAST value) == 0;
}

/* The control channel's socket in a live domain XML (libvirt picks the path at start), or NULL:
 * /domain/devices/channel[@type='unix'][target/@name=CV_AGENT_CHANNEL]/source/@path, walked
 * instead of evaluated (XPath would be parsed and compiled on every create). Pure: worker
 * threads call it too. */
static char *
channel_path_of_xml(const char *xml)
{
    g_autoptr(xmlDoc) doc = NULL;
    xmlNode *root, *devices;

    if (!xml)
        return NULL;
    doc = xmlReadMemory(xml, strlen(xml), "domain.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
    root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || xmlStrcmp(root->name, BAD_CAST "domain") != 0)
        return NULL;
    devices = element_child(root, "devices");
    for (xmlNode *n = devices ? devices->children : NULL; n; n = n->next) {
        xmlNode *source;
        g_autoptr(cvXmlChar) path = NULL;

        if (n->type != XML_ELEMENT_NODE || xmlStrcmp(n->name, BAD_CAST "channel") != 0 ||
            !attr_is(n, "type", "unix") || !attr_is(element_child(n, "target"), "name", CV_AGENT_CHANNEL))
            continue;
        source = element_child(n, "source");
        path = source ? xmlGetProp(source, BAD_CAST "path") : NULL;
        return path && *path ? g_strdup((const char *)path) : NULL;
    }
    return NULL;
}

static char *
channel_path(CvMgrRegistry *r, virDomainPtr dom)
{
    g_autofree char *xml = virDomainGetXMLDesc(dom, 0);

    return channel_path_of_xml(xml);
}

/* The Debian package that owns the firmware file tells its version. */
static char *
dpkg_version_of(const char *path)
{
    g_autofree char *list = NULL;
    g_autofree char *status = NULL;
    g_autofree char *line = g_strdup_printf("\n%s\n", path);
    g_autofree char *withnl = NULL;
    const char *p;

    if (!g_file_get_contents("/var/lib/dpkg/info/ovmf.list", &list, NULL, NULL))
        return NULL;
    withnl = g_strconcat("\n", list, NULL);
    if (!strstr(withnl, line))
        return NULL;
    if (!g_file_get_contents("/var/lib/dpkg/status", &status, NULL, NULL))
        return NULL;
    p = strstr(status, "Package: ovmf\n");
    if (!p)
        return NULL;
    p = strstr(p, "\nVersion: ");
    if (!p)
        return NULL;
    p += strlen("\nVersion: ");
    return g_strndup(p, strcspn(p, "\n"));
}

static const char *
ovmf_version(CvMgrRegistry *r, const char *loader)
{
    char *v;
    g_autofree char *real = NULL;

    if (r->config->ovmf_version)
        return r->config->ovmf_version;
    if (!loader)
        return "unknown";
    v = g_hash_table_lookup(r->ovmf_versions, loader);
    if (v)
        return v;
    real = realpath(loader, NULL);
    v = dpkg_version_of(loader);
    if (!v && real)
        v = dpkg_version_of(real);
    if (!v)
        v = g_strdup("unknown");
    g_hash_table_insert(r->ovmf_versions, g_strdup(loader), v);
    return v;
}

JsonNode *
cv_mgr_registry_info(CvMgrRegistry *r, const char *id_or_name, GError **error)
{
    CvMgrCvm *cvm = NULL;
    g_autoptr(virDomain) dom = lookup_domain(r, id_or_name, &cvm, error);
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctx = NULL;
    g_autofree char *vcpus = NULL, *cpu_model = NULL, *cpu_mode = NULL, *cmdline = NULL, *loader = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    guint64 n = 0;

    if (!dom)
        return NULL;
    if (!(ctx = live_xpath(r, dom, &doc, error)))
        return NULL;
    vcpus = xpath_string(ctx, "string(/domain/vcpu)");
    cpu_model = xpath_string(ctx, "string(/domain/cpu/model)");
    cpu_mode = xpath_string(ctx, "string(/domain/cpu/@mode)");
    cmdline = xpath_string(ctx, "string(/domain/os/cmdline)");
    loader = xpath_string(ctx, "string(/domain/os/loader)");
    if (vcpus)
        (void)cv_parse_uint(g_strstrip(vcpus), 0, 100000, &n, NULL);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, cvm->id);
    json_builder_set_member_name(b, "ovmf_version");
    json_builder_add_string_value(b, ovmf_version(r, loader));
    json_builder_set_member_name(b, "cpu_num");
    json_builder_add_int_value(b, (gint64)n);
    json_builder_set_member_name(b, "cpu_type");
    json_builder_add_string_value(b, cpu_model ? cpu_model : cpu_mode ? cpu_mode : "default");
    json_builder_set_member_name(b, "kernel_cmd");
    json_builder_add_string_value(b, cmdline ? cmdline : "");
    json_builder_set_member_name(b, "eos_version");
    json_builder_add_string_value(b, cvm->hal_version ? cvm->hal_version : "unknown");
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
cv_mgr_registry_attestation_policy(CvMgrRegistry *r, const char *id_or_name, GError **error)
{
    CvMgrCvm *cvm = NULL;
    g_autoptr(virDomain) dom = lookup_domain(r, id_or_name, &cvm, error);
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctx = NULL;
    g_autofree char *kernel = NULL, *initrd = NULL, *cmdline = NULL, *mem = NULL, *unit = NULL;
    guint64 kib = 0;
    g_autoptr(JsonNode) policy = NULL;
    g_autoptr(GString) ca = g_string_new(NULL);

    if (!dom)
        return NULL;
    if (cvm->platform != CV_PLATFORM_VTPM) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "an attestation policy is computed for vtpm CVMs only, not %s",
                    cv_platform_name(cvm->platform));
        return NULL;
    }
    /* the boot as libvirt holds it: that is what QEMU measures */
    if (!(ctx = live_xpath(r, dom, &doc, error)))
        return NULL;
    kernel = xpath_string(ctx, "string(/domain/os/kernel)");
    initrd = xpath_string(ctx, "string(/domain/os/initrd)");
    cmdline = xpath_string(ctx, "string(/domain/os/cmdline)");
    mem = xpath_string(ctx, "string(/domain/memory)");
    unit = xpath_string(ctx, "string(/domain/memory/@unit)");
    if (!kernel || !initrd || !mem || (unit && strcmp(unit, "KiB") != 0) ||
        !cv_parse_uint(g_strstrip(mem), 1, G_MAXUINT64 / 1024, &kib, NULL)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "the domain has no direct kernel boot to compute a policy for");
        return NULL;
    }
    policy = cv_attest_vtpm_policy_new(kernel, initrd, cmdline ? cmdline : "", kib * 1024, error);
    if (!policy)
        return NULL;
    /* The EK root goes into the policy as PEM text, so the policy a user downloads is whole; the user
     * decides whether to trust a CA this host made (development), docs/policy.md says so. */
    for (char **f = r->config->vtpm_ek_ca; *f; f++) {
        g_autoptr(GBytes) pem = cv_read_file(*f, 1 << 20, NULL);
        if (!pem)
            return g_steal_pointer(&policy);   /* no CA yet: the verdict reports the EK chain as failed */
        g_string_append_len(ca, g_bytes_get_data(pem, NULL), g_bytes_get_size(pem));
        g_string_append_c(ca, '\n');
    }
    json_object_set_string_member(json_node_get_object(policy), "ca_pem", ca->str);
    json_object_set_boolean_member(json_node_get_object(policy), "require_credential", TRUE);
    return g_steal_pointer(&policy);
}
