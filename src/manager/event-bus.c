/* A CVM's events: appended to its history (cvm-record.c), then handed to its subscribers. */
#include <string.h>
#include "registry-priv.h"

typedef struct {
    guint token;
    char *id;
    CvMgrEventFunc func;
    gpointer data;
} Subscription;

static void
subscription_free(Subscription *s)
{
    g_free(s->id);
    g_free(s);
}

void
cv_mgr_events_init(CvMgrRegistry *r)
{
    r->subs = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, (GDestroyNotify)subscription_free);
}

void
cv_mgr_events_emit(CvMgrRegistry *r, CvMgrCvm *cvm, const char *kind, JsonObject *data, gboolean last)
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

void
cv_mgr_events_lifecycle(CvMgrRegistry *r, CvMgrCvm *cvm, const char *event, const char *detail)
{
    g_autoptr(JsonObject) data = json_object_new();

    json_object_set_string_member(data, "event", event);
    if (detail)
        json_object_set_string_member(data, "detail", detail);
    json_object_set_string_member(data, "state", cv_mgr_state_to_string(cvm->state));
    cv_mgr_events_emit(r, cvm, "lifecycle", data, FALSE);
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
