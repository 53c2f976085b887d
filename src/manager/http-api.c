#include <string.h>
#include <libsoup/soup.h>
#include "http-priv.h"
#include "cv-http.h"
#include "cv-json.h"
#include "cv-util.h"

static void
request_free(gpointer p)
{
    CvMgrHttpRequest *rq = p;

    g_byte_array_unref(rq->body);
    g_free(rq);
}

CvMgrHttpRequest *
cv_mgr_http_request_of(SoupServerMessage *msg)
{
    return g_object_get_data(G_OBJECT(msg), "cv-request");
}

/* ---- request accounting: in-flight count, body limit, latency ---- */

static void
on_got_headers(SoupServerMessage *msg, gpointer data)
{
    CvMgrHttpApi *api = data;
    CvMgrHttpRequest *rq = cv_mgr_http_request_of(msg);
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);

    /* a head libsoup refused is answered by cv_http_server_json_errors() */
    if (!rq || rq->counted || soup_server_message_get_status(msg) != 0)
        return;
    rq->counted = TRUE;
    api->in_flight++;
    cv_mgr_http_conn_await_body(msg);
    cv_mgr_http_guard_request(api, msg, rq);
    if (rq->refused)
        return;
    /* refuse before the body arrives when its announced size is over the limit; the body
     * is then drained without being kept */
    if (soup_message_headers_get_encoding(h) == SOUP_ENCODING_CONTENT_LENGTH &&
        soup_message_headers_get_content_length(h) > (goffset)api->config->max_body) {
        g_autofree char *m = g_strdup_printf("request body over the limit of %" G_GSIZE_FORMAT " bytes",
                                             api->config->max_body);

        rq->too_large = TRUE;
        cv_http_respond_error(msg, 413, "too_large", m);
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection", "close");
    }
}

static void
on_got_chunk(SoupServerMessage *msg, GBytes *chunk, gpointer data)
{
    CvMgrHttpApi *api = data;
    CvMgrHttpRequest *rq = cv_mgr_http_request_of(msg);
    gsize n = g_bytes_get_size(chunk);

    if (!rq || rq->refused)
        return;
    rq->received += n;
    if (rq->received > api->config->max_body) {
        rq->too_large = TRUE;
        g_byte_array_set_size(rq->body, 0);
        return;
    }
    g_byte_array_append(rq->body, g_bytes_get_data(chunk, NULL), n);
}

static void
on_request_started(SoupServer *server, SoupServerMessage *msg, gpointer data)
{
    CvMgrHttpApi *api = data;
    CvMgrHttpRequest *rq = g_new0(CvMgrHttpRequest, 1);

    rq->start_us = g_get_monotonic_time();
    rq->body = g_byte_array_new();
    g_object_set_data_full(G_OBJECT(msg), "cv-request", rq, request_free);
    /* the body is kept by on_got_chunk, up to the limit, instead of by libsoup */
    soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
    /* shutting down: no keep-alive, so clients do not send their next request to a manager
     * that is about to exit */
    if (api->stopping)
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection", "close");
    cv_mgr_http_conn_await_request(msg);
    g_signal_connect(msg, "got-headers", G_CALLBACK(on_got_headers), api);
    g_signal_connect(msg, "got-chunk", G_CALLBACK(on_got_chunk), api);
}

static void
on_request_read(SoupServer *server, SoupServerMessage *msg, gpointer data)
{
    cv_mgr_http_conn_serving(msg);
}

static void
on_request_done(SoupServer *server, SoupServerMessage *msg, gpointer data)
{
    CvMgrHttpApi *api = data;
    CvMgrHttpRequest *rq = cv_mgr_http_request_of(msg);

    if (!rq || rq->finished)
        return;
    rq->finished = TRUE;
    /* libsoup drops the Content-Length of a 204 and then takes the response for one ended by EOF:
     * it would close the connection without saying so, and the client's next request on it fails */
    if (soup_server_message_get_status(msg) == 204)
        soup_message_headers_set_encoding(soup_server_message_get_response_headers(msg), SOUP_ENCODING_NONE);
    if (rq->counted)
        api->in_flight--;
    /* a request that got no answer (the client left first) is not counted */
    if (soup_server_message_get_status(msg) >= 100)
        cv_mgr_metrics_observe_request(api->metrics, soup_server_message_get_method(msg), rq->route,
                                       soup_server_message_get_status(msg),
                                       (g_get_monotonic_time() - rq->start_us) / 1e6, rq->is_stream);
}

/* ---- async routes ---- */

typedef struct {
    CvMgrHttpApi *api;
    SoupServerMessage *msg;
} Pending;

static gboolean
pending_alive(Pending *p)
{
    CvMgrHttpRequest *rq = cv_mgr_http_request_of(p->msg);

    return rq && !rq->finished;
}

static void
create_done(GObject *src, GAsyncResult *res, gpointer data)
{
    Pending *p = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = cv_mgr_registry_create_finish(p->api->registry, res, &error);

    if (pending_alive(p)) {
        if (node) {
            JsonObject *o = json_node_get_object(node);
            g_autofree char *loc = g_strdup_printf("/v1/cvms/%s", json_object_get_string_member(o, "id"));

            cv_http_respond_json(p->msg, 201, node);
            soup_message_headers_replace(soup_server_message_get_response_headers(p->msg), "Location", loc);
        } else {
            cv_http_respond_gerror(p->msg, error);
        }
        soup_server_message_unpause(p->msg);
    }
    g_object_unref(p->msg);
    g_free(p);
}

static void
delete_done(GObject *src, GAsyncResult *res, gpointer data)
{
    Pending *p = data;
    g_autoptr(GError) error = NULL;
    gboolean ok = cv_mgr_registry_delete_finish(p->api->registry, res, &error);

    if (pending_alive(p)) {
        if (ok)
            soup_server_message_set_status(p->msg, 204, NULL);
        else
            cv_http_respond_gerror(p->msg, error);
        soup_server_message_unpause(p->msg);
    }
    g_object_unref(p->msg);
    g_free(p);
}

static Pending *
pending_new(CvMgrHttpApi *api, SoupServerMessage *msg)
{
    Pending *p = g_new0(Pending, 1);

    p->api = api;
    p->msg = g_object_ref(msg);
    soup_server_message_pause(msg);
    return p;
}

/* ---- routes ---- */

/* One call of a route: what its handler needs. */
typedef struct {
    CvMgrHttpApi *api;
    SoupServerMessage *msg;
    GHashTable *query;
    CvMgrCvm *cvm;      /* routes under /v1/cvms/{id} */
} Call;

typedef void (*Handler)(const Call *c);

/* A resource and its methods: GET also answers HEAD unless no_head; any other method gets 405 with
 * allow. */
typedef struct {
    const char *name;
    const char *template;   /* the path with {id}: a label of covirt_http_requests_total */
    const char *allow;
    Handler get;
    Handler post;
    Handler del;
    gboolean no_head;
} Route;

static void
handle_health(const Call *c)
{
    CvMgrHttpApi *api = c->api;
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *version = cv_mgr_registry_libvirt_version(api->registry);
    /* serving while some host answers; "ok" while all do */
    gboolean up = cv_mgr_registry_connected(api->registry);
    gboolean all = cv_mgr_registry_all_connected(api->registry);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "status");
    json_builder_add_string_value(b, api->stopping ? "stopping" : all ? "ok" : "degraded");
    json_builder_set_member_name(b, "version");
    json_builder_add_string_value(b, COVIRT_VERSION);
    json_builder_set_member_name(b, "libvirt");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "uri");
    json_builder_add_string_value(b, cv_mgr_registry_uri(api->registry));
    json_builder_set_member_name(b, "available");
    json_builder_add_boolean_value(b, up);
    json_builder_set_member_name(b, "version");
    if (version)
        json_builder_add_string_value(b, version);
    else
        json_builder_add_null_value(b);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "cvms");
    json_builder_add_int_value(b, cv_mgr_registry_count(api->registry));
    json_builder_set_member_name(b, "max_vms");
    json_builder_add_int_value(b, api->config->max_vms);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    cv_http_respond_json(c->msg, up && !api->stopping ? 200 : 503, root);
}

static void
handle_metrics(const Call *c)
{
    guint counts[CV_MGR_STATE_COUNT];
    const char *names[CV_MGR_STATE_COUNT];
    g_autofree char *service = NULL;
    g_autofree char *hosts = NULL;
    char *text;

    cv_mgr_registry_count_states(c->api->registry, counts);
    for (guint i = 0; i < CV_MGR_STATE_COUNT; i++)
        names[i] = cv_mgr_state_to_string(i);
    service = cv_mgr_metrics_render(c->api->metrics, counts, names, CV_MGR_STATE_COUNT,
                                    cv_mgr_registry_connected(c->api->registry));
    hosts = cv_mgr_registry_hosts_metrics(c->api->registry);
    text = g_strconcat(service, hosts, NULL);
    soup_server_message_set_status(c->msg, 200, NULL);
    soup_server_message_set_response(c->msg, CV_MGR_METRICS_CONTENT_TYPE, SOUP_MEMORY_TAKE, text, strlen(text));
}

static void
handle_hosts(const Call *c)
{
    g_autoptr(JsonNode) root = cv_mgr_registry_hosts_json(c->api->registry);

    cv_http_respond_json(c->msg, 200, root);
}

static void
handle_list(const Call *c)
{
    g_autoptr(GPtrArray) list = cv_mgr_registry_list(c->api->registry);
    g_autoptr(JsonArray) arr = json_array_sized_new(list->len);
    g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
    g_autoptr(JsonObject) obj = json_object_new();

    for (guint i = 0; i < list->len; i++)
        json_array_add_element(arr, cv_mgr_cvm_to_json(g_ptr_array_index(list, i), FALSE));
    json_object_set_array_member(obj, "cvms", json_array_ref(arr));
    json_node_set_object(root, obj);
    cv_http_respond_json(c->msg, 200, root);
}

static void
handle_create(const Call *c)
{
    CvMgrHttpRequest *rq = cv_mgr_http_request_of(c->msg);
    g_autoptr(GBytes) body = g_bytes_new(rq->body->data, rq->body->len);

    cv_mgr_registry_create_async(c->api->registry, body, create_done, pending_new(c->api, c->msg));
}

static void
handle_show(const Call *c)
{
    g_autoptr(JsonNode) node = cv_mgr_cvm_to_json(c->cvm, TRUE);

    cv_http_respond_json(c->msg, 200, node);
}

static void
handle_delete(const Call *c)
{
    cv_mgr_registry_delete_async(c->api->registry, c->cvm->id, delete_done, pending_new(c->api, c->msg));
}

/* What a route makes of the live XML of the CVM with this id (in the main loop). */
typedef void (*LiveFunc)(CvMgrHttpApi *api, SoupServerMessage *msg, const char *id, const char *xml);

typedef struct {
    Pending base;
    char *id;
    LiveFunc func;
} LivePending;

static void
live_done(GObject *src, GAsyncResult *res, gpointer data)
{
    LivePending *p = data;
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = cv_mgr_registry_live_xml_finish(p->base.api->registry, res, &error);

    if (pending_alive(&p->base)) {
        if (xml)
            p->func(p->base.api, p->base.msg, p->id, xml);
        else
            cv_http_respond_gerror(p->base.msg, error);
        soup_server_message_unpause(p->base.msg);
    }
    g_object_unref(p->base.msg);
    g_free(p->id);
    g_free(p);
}

/* the libvirt calls run in a worker: the request waits (paused) at most MANAGER_LIBVIRT_TIMEOUT */
static void
with_live_xml(const Call *c, LiveFunc func)
{
    LivePending *p = g_new0(LivePending, 1);

    p->base.api = c->api;
    p->base.msg = g_object_ref(c->msg);
    p->id = g_strdup(c->cvm->id);
    p->func = func;
    soup_server_message_pause(c->msg);
    cv_mgr_registry_live_xml_async(c->api->registry, p->id, live_done, p);
}

/* A JSON answer from the registry, or its error. */
static void
set_result(SoupServerMessage *msg, JsonNode *node, const GError *error)
{
    if (!node) {
        cv_http_respond_gerror(msg, error);
        return;
    }
    cv_http_respond_json(msg, 200, node);
}

static void
info_from_xml(CvMgrHttpApi *api, SoupServerMessage *msg, const char *id, const char *xml)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = cv_mgr_registry_info(api->registry, id, xml, &error);

    set_result(msg, node, error);
}

static void
policy_from_xml(CvMgrHttpApi *api, SoupServerMessage *msg, const char *id, const char *xml)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = cv_mgr_registry_attestation_policy(api->registry, id, xml, &error);

    set_result(msg, node, error);
}

static void
domain_from_xml(CvMgrHttpApi *api, SoupServerMessage *msg, const char *id, const char *xml)
{
    soup_server_message_set_status(msg, 200, NULL);
    soup_server_message_set_response(msg, "application/xml", SOUP_MEMORY_COPY, xml, strlen(xml));
}

static void
handle_info(const Call *c)
{
    with_live_xml(c, info_from_xml);
}

static void
handle_policy(const Call *c)
{
    with_live_xml(c, policy_from_xml);
}

static void
handle_domain(const Call *c)
{
    with_live_xml(c, domain_from_xml);
}

/* POST …/computation/stop and …/reset take a JSON object ({} at least): a body-less POST is what a web
 * page may send cross-origin without a preflight, and these change what runs. */
static JsonObject *
action_body(const Call *c, JsonNode **keep, GError **error)
{
    CvMgrHttpRequest *rq = cv_mgr_http_request_of(c->msg);

    *keep = rq->body->len ? cv_json_parse((const char *)rq->body->data, rq->body->len, error) : NULL;
    if (!rq->body->len)
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "the body must be a JSON object (Content-Type: "
                    "application/json), {} at least");
    if (*keep && !JSON_NODE_HOLDS_OBJECT(*keep))
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "the body must be a JSON object");
    return *keep && JSON_NODE_HOLDS_OBJECT(*keep) ? json_node_get_object(*keep) : NULL;
}

/* 202: the agent acts on it in its own time; GET /v1/cvms/{id} shows the computation's state */
static void
respond_accepted(const Call *c)
{
    g_autoptr(JsonNode) node = cv_mgr_cvm_to_json(c->cvm, FALSE);

    cv_http_respond_json(c->msg, 202, node);
}

static void
handle_computation_stop(const Call *c)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) keep = NULL;
    JsonObject *o = action_body(c, &keep, &error);
    const char *reason = NULL;

    if (!o || !cv_json_member_string(o, "reason", FALSE, &reason, &error) ||
        !cv_mgr_registry_computation_stop(c->api->registry, c->cvm->id, reason, &error)) {
        cv_http_respond_gerror(c->msg, error);
        return;
    }
    respond_accepted(c);
}

static void
handle_computation_reset(const Call *c)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) keep = NULL;
    JsonObject *o = action_body(c, &keep, &error);
    JsonObject *manifest = NULL;
    const char *reason = NULL;
    g_autoptr(JsonNode) m = NULL;

    if (!o || !cv_json_member_string(o, "reason", FALSE, &reason, &error) ||
        !cv_json_member_object(o, "manifest", FALSE, &manifest, &error)) {
        cv_http_respond_gerror(c->msg, error);
        return;
    }
    if (manifest)
        m = json_node_init_object(json_node_alloc(), manifest);
    if (!cv_mgr_registry_computation_reset(c->api->registry, c->cvm->id, reason, m, &error)) {
        cv_http_respond_gerror(c->msg, error);
        return;
    }
    respond_accepted(c);
}

static void
handle_events(const Call *c)
{
    cv_mgr_http_stream_events(c->api, c->msg, c->cvm, c->query);
}

/* answered while the manager shuts down, too */
static const Route service_routes[] = {
    { "/health", "/health", "GET", handle_health },
    { "/metrics", "/metrics", "GET", handle_metrics },
};
static const Route collection_route = { "/v1/cvms", "/v1/cvms", "GET, POST", handle_list, handle_create };
static const Route hosts_route = { "/v1/hosts", "/v1/hosts", "GET", handle_hosts };
/* /v1/cvms/{id} (name NULL) and /v1/cvms/{id}/{name} */
static const Route cvm_routes[] = {
    { NULL, "/v1/cvms/{id}", "GET, DELETE", handle_show, NULL, handle_delete },
    { "info", "/v1/cvms/{id}/info", "GET", handle_info },
    { "domain", "/v1/cvms/{id}/domain", "GET", handle_domain },
    { "events", "/v1/cvms/{id}/events", "GET", handle_events, .no_head = TRUE },   /* a stream has no HEAD */
    { "attestation-policy", "/v1/cvms/{id}/attestation-policy", "GET", handle_policy },
    { "computation/stop", "/v1/cvms/{id}/computation/stop", "POST", NULL, handle_computation_stop },
    { "computation/reset", "/v1/cvms/{id}/computation/reset", "POST", NULL, handle_computation_reset },
};

static void
dispatch(const Route *route, const Call *c)
{
    const char *method = soup_server_message_get_method(c->msg);
    Handler h = NULL;

    if (method == SOUP_METHOD_GET || (method == SOUP_METHOD_HEAD && !route->no_head))
        h = route->get;
    else if (method == SOUP_METHOD_POST)
        h = route->post;
    else if (method == SOUP_METHOD_DELETE)
        h = route->del;
    if (!h) {
        soup_message_headers_replace(soup_server_message_get_response_headers(c->msg), "Allow", route->allow);
        cv_http_respond_error(c->msg, 405, "method_not_allowed", "method not allowed on this resource");
        return;
    }
    h(c);
}

/* ids and names only: anything else (%-escapes, dots-only, slashes) is simply not found */
static gboolean
segment_ok(const char *s)
{
    gsize n = strlen(s);

    if (n == 0 || n > 64 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return FALSE;
    for (gsize i = 0; i < n; i++)
        if (!g_ascii_isalnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return FALSE;
    return TRUE;
}

/* path: what follows "/v1/cvms", i.e. "/ID", "/ID/SUB" or "/ID/SUB/ACTION". FALSE when it has not that
 * form; else the ID (owned) and the route, NULL for a sub-resource no route has. */
static gboolean
cvm_path(const char *path, char **id, const Route **route)
{
    g_auto(GStrv) parts = g_strsplit(path, "/", 0);   /* ["", ID, SUB, ACTION] */
    guint n = g_strv_length(parts);

    g_autofree char *sub = NULL;

    if (n < 2 || n > 4 || parts[0][0] != '\0' || !segment_ok(parts[1]) || (n == 4 && !segment_ok(parts[3])))
        return FALSE;
    sub = n > 2 ? g_strjoinv("/", parts + 2) : NULL;
    *route = NULL;
    for (guint i = 0; i < G_N_ELEMENTS(cvm_routes) && !*route; i++) {
        const char *name = cvm_routes[i].name;

        if (n == 2 ? name == NULL : name && strcmp(name, sub) == 0)
            *route = &cvm_routes[i];
    }
    *id = g_strdup(parts[1]);
    return TRUE;
}

static void
route_cvm(Call *c, const char *path)
{
    g_autofree char *id = NULL;
    const Route *route = NULL;
    const char *method = soup_server_message_get_method(c->msg);
    g_autoptr(GError) error = NULL;

    if (!cvm_path(path, &id, &route)) {
        cv_http_respond_error(c->msg, 404, "not_found", "no such route");
        return;
    }
    c->cvm = cv_mgr_registry_lookup(c->api->registry, id, &error);
    if (!c->cvm) {
        cv_http_respond_gerror(c->msg, error);
        return;
    }
    if (route) {
        dispatch(route, c);
        return;
    }
    /* an unknown sub-resource: every one answers GET only */
    if (method != SOUP_METHOD_GET && method != SOUP_METHOD_HEAD)
        dispatch(&(Route){ NULL, NULL, "GET" }, c);
    else
        cv_http_respond_error(c->msg, 404, "not_found", "no such route");
}

/* The route's template for the metrics, from the path's form alone (whether the CVM exists or
 * not); NULL for a path no route has, so a client's paths never become label values. */
static const char *
route_template(const char *path)
{
    g_autofree char *id = NULL;
    const Route *route = NULL;

    for (guint i = 0; i < G_N_ELEMENTS(service_routes); i++)
        if (strcmp(path, service_routes[i].name) == 0)
            return service_routes[i].template;
    if (strcmp(path, "/v1/cvms") == 0 || strcmp(path, "/v1/cvms/") == 0)
        return collection_route.template;
    if (strcmp(path, "/v1/hosts") == 0 || strcmp(path, "/v1/hosts/") == 0)
        return hosts_route.template;
    if (g_str_has_prefix(path, "/v1/cvms/") && cvm_path(path + strlen("/v1/cvms"), &id, &route) && route)
        return route->template;
    return NULL;
}

static void
handle(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer data)
{
    Call c = { data, msg, query, NULL };
    CvMgrHttpRequest *rq = cv_mgr_http_request_of(msg);

    if (rq)
        rq->route = route_template(path);
    if (rq && rq->refused) {
        cv_http_respond_error(msg, rq->refused, rq->refused_code, rq->refused_message);
        if (rq->refused == 421)   /* libsoup knows no reason phrase for it */
            soup_server_message_set_status(msg, 421, "Misdirected Request");
        return;
    }
    if (rq && rq->too_large) {
        g_autofree char *m = g_strdup_printf("request body over the limit of %" G_GSIZE_FORMAT " bytes",
                                             c.api->config->max_body);

        cv_http_respond_error(msg, 413, "too_large", m);
        return;
    }
    for (guint i = 0; i < G_N_ELEMENTS(service_routes); i++) {
        if (strcmp(path, service_routes[i].name) == 0) {
            dispatch(&service_routes[i], &c);
            return;
        }
    }
    if (c.api->stopping) {
        if (rq && rq->route == collection_route.template && soup_server_message_get_method(msg) == SOUP_METHOD_POST)
            c.api->metrics->refusals[CV_MGR_REFUSAL_SHUTTING_DOWN]++;
        cv_http_respond_error(msg, 503, "unavailable", "the manager is shutting down");
    } else if (strcmp(path, "/v1/cvms") == 0 || strcmp(path, "/v1/cvms/") == 0)
        dispatch(&collection_route, &c);
    else if (strcmp(path, "/v1/hosts") == 0 || strcmp(path, "/v1/hosts/") == 0)
        dispatch(&hosts_route, &c);
    else if (g_str_has_prefix(path, "/v1/cvms/"))
        route_cvm(&c, path + strlen("/v1/cvms"));
    else
        cv_http_respond_error(msg, 404, "not_found", "no such route");
}

/* ---- listening ---- */

CvMgrHttpApi *
cv_mgr_http_api_new(CvMgrRegistry *registry, CvMgrMetrics *metrics, const CvMgrConfig *config, GError **error)
{
    g_autoptr(CvMgrHttpApi) api = g_new0(CvMgrHttpApi, 1);
    g_autoptr(GError) local = NULL;

    api->registry = registry;
    api->metrics = metrics;
    api->config = config;
    api->streams = g_hash_table_new(g_direct_hash, g_direct_equal);
    if (!cv_mgr_http_guard_init(api, error))
        return NULL;
    if (config->server_cert) {
        api->cert = g_tls_certificate_new_from_files(config->server_cert, config->server_key, &local);
        if (!api->cert) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "MANAGER_HTTP_SERVER_CERT/KEY: %s", local->message);
            return NULL;
        }
    }
    if (config->client_ca_certs) {
        api->client_ca = g_tls_file_database_new(config->client_ca_certs, &local);
        if (!api->client_ca) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "MANAGER_HTTP_CLIENT_CA_CERTS: %s", local->message);
            return NULL;
        }
    }
    /* TLS is set up by http-listener.c before libsoup gets the connection */
    api->server = soup_server_new("server-header", "covirt-manager/" COVIRT_VERSION, NULL);
    cv_http_server_json_errors(api->server);
    g_signal_connect(api->server, "request-started", G_CALLBACK(on_request_started), api);
    g_signal_connect(api->server, "request-read", G_CALLBACK(on_request_read), api);
    g_signal_connect(api->server, "request-finished", G_CALLBACK(on_request_done), api);
    g_signal_connect(api->server, "request-aborted", G_CALLBACK(on_request_done), api);
    soup_server_add_handler(api->server, NULL, handle, api, NULL);
    api->keepalive_source = g_timeout_add_seconds(15, cv_mgr_http_stream_keepalive, api);
    return g_steal_pointer(&api);
}

static GInetAddress *
resolve(const char *host, GError **error)
{
    GInetAddress *addr = g_inet_address_new_from_string(host);
    g_autoptr(GResolver) resolver = NULL;
    g_autoptr(GError) local = NULL;
    GList *addrs;

    if (addr)
        return addr;
    resolver = g_resolver_get_default();
    addrs = g_resolver_lookup_by_name(resolver, host, NULL, &local);
    if (!addrs) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "MANAGER_HTTP_HOST %s: %s", host, local->message);
        return NULL;
    }
    addr = g_object_ref(addrs->data);
    g_resolver_free_addresses(addrs);
    return addr;
}

gboolean
cv_mgr_http_api_listen(CvMgrHttpApi *api, GError **error)
{
    g_autoptr(GInetAddress) addr = resolve(api->config->http_host, error);
    g_autoptr(GSocketAddress) sa = NULL;
    g_autoptr(GSocketAddress) effective = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree char *host = NULL;

    if (!addr || !cv_mgr_http_guard_check_exposure(api, addr, error))
        return FALSE;
    sa = g_inet_socket_address_new(addr, api->config->http_port);
    /* our own socket: at shutdown it is closed while the connections being served go on */
    api->socket = g_socket_new(g_socket_address_get_family(sa), G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &local);
    if (!api->socket || !g_socket_bind(api->socket, sa, TRUE, &local) ||
        (g_socket_set_listen_backlog(api->socket, 256), !g_socket_listen(api->socket, &local)) ||
        !(effective = g_socket_get_local_address(api->socket, &local)) ||
        !cv_mgr_http_listener_start(api, &local)) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot listen on %s:%u: %s", api->config->http_host,
                    api->config->http_port, local->message);
        return FALSE;
    }
    api->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(effective));
    host = g_inet_address_to_string(addr);
    api->url = g_strdup_printf("%s://%s%s%s:%u", api->cert ? "https" : "http",
                               strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", api->port);
    return TRUE;
}

const char *
cv_mgr_http_api_url(CvMgrHttpApi *api)
{
    return api->url;
}

guint
cv_mgr_http_api_in_flight(CvMgrHttpApi *api)
{
    return api->in_flight;
}

void
cv_mgr_http_api_stop(CvMgrHttpApi *api)
{
    if (api->stopping)
        return;
    api->stopping = TRUE;
    cv_mgr_http_listener_stop(api);
    cv_mgr_http_streams_end(api);
}

void
cv_mgr_http_api_free(CvMgrHttpApi *api)
{
    if (!api)
        return;
    if (api->keepalive_source)
        g_source_remove(api->keepalive_source);
    if (api->server) {
        soup_server_disconnect(api->server);
        g_object_unref(api->server);
    }
    cv_mgr_http_listener_free(api);
    g_clear_object(&api->cert);
    g_clear_object(&api->client_ca);
    g_clear_pointer(&api->tokens, g_ptr_array_unref);
    g_strfreev(api->allowed_hosts);
    g_hash_table_unref(api->streams);
    g_free(api->url);
    g_free(api);
}
