/* The CVM table: by id and by name, with the host ports the CVMs hold. */
#include <string.h>
#include "registry-priv.h"

CvMgrRegistry *
cv_mgr_registry_new(const CvMgrConfig *config, CvMgrMetrics *metrics)
{
    CvMgrRegistry *r = g_new0(CvMgrRegistry, 1);

    r->config = config;
    r->metrics = metrics;
    r->by_id = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)cv_mgr_cvm_free);
    r->by_name = g_hash_table_new(g_str_hash, g_str_equal);
    cv_mgr_hosts_init(r);
    cv_mgr_events_init(r);
    cv_mgr_ttl_init(r);
    cv_mgr_channels_init(r);
    cv_mgr_info_init(r);
    r->jobs = g_ptr_array_new();
    r->transient = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return r;
}

void
cv_mgr_registry_free(CvMgrRegistry *r)
{
    if (!r)
        return;
    cv_mgr_registry_stop(r);
    cv_mgr_hosts_free(r);
    g_hash_table_unref(r->channels);
    g_hash_table_unref(r->ttl);
    g_hash_table_unref(r->subs);
    g_hash_table_unref(r->by_name);
    g_hash_table_unref(r->by_id);
    g_hash_table_unref(r->ovmf_versions);
    g_ptr_array_unref(r->jobs);
    g_hash_table_unref(r->transient);
    g_free(r);
}

guint
cv_mgr_registry_jobs(CvMgrRegistry *r)
{
    guint calls = 0;

    for (guint i = 0; i < r->hosts->len; i++)
        calls += ((CvMgrHost *)g_ptr_array_index(r->hosts, i))->calls;
    /* the bounded calls too: their callbacks need the registry */
    return r->jobs->len + calls;
}

char *
cv_mgr_registry_jobs_describe(CvMgrRegistry *r)
{
    g_autoptr(GString) s = g_string_new(NULL);
    guint calls = cv_mgr_registry_jobs(r) - r->jobs->len;

    for (guint i = 0; i < r->jobs->len; i++) {
        const CvMgrJob *job = g_ptr_array_index(r->jobs, i);

        g_string_append_printf(s, "%s%s of %s (%s)", i ? ", " : "", job->kind, job->name, job->id);
    }
    if (calls)
        g_string_append_printf(s, "%s%u libvirt calls", s->len ? ", " : "", calls);
    return g_string_free(g_steal_pointer(&s), FALSE);
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

void
cv_mgr_registry_insert(CvMgrRegistry *r, CvMgrCvm *cvm)
{
    g_hash_table_insert(r->by_name, cvm->name, cvm);
    g_hash_table_insert(r->by_id, cvm->id, cvm);
    cv_mgr_host_of(cvm)->cvms++;
}

void
cv_mgr_registry_remove(CvMgrRegistry *r, CvMgrCvm *cvm, const char *kind, const char *message)
{
    g_autoptr(JsonObject) data = json_object_new();

    json_object_set_string_member(data, "message", message);
    if (cvm->host_port)
        cv_mgr_port_pool_release(cv_mgr_host_of(cvm)->ports, cvm->host_port);
    cv_mgr_host_of(cvm)->cvms--;
    g_hash_table_remove(r->channels, cvm->id);
    cv_mgr_ttl_disarm(r, cvm->id);
    cv_mgr_events_emit(r, cvm, kind, data, TRUE);
    g_hash_table_remove(r->by_name, cvm->name);
    g_hash_table_remove(r->by_id, cvm->id);
}

gboolean
cv_mgr_registry_check_idle(CvMgrCvm *cvm, GError **error)
{
    if (!cv_mgr_cvm_busy(cvm))
        return TRUE;
    g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "CVM %s is being %s", cvm->name,
                cvm->state == CV_MGR_STATE_CREATING ? "created" : "deleted");
    return FALSE;
}

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
