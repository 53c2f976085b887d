/* What an operator checks beside the API's answers: the CVM's id is the libvirt domain's UUID
 * (virsh dominfo ID), and what /metrics exposes. The real manager against libvirt's test driver. */
#include <string.h>
#include <glib/gstdio.h>
#include "manager-harness.h"

static const char *
member(JsonNode *n, const char *name)
{
    return json_object_get_string_member_with_default(json_node_get_object(n), name, NULL);
}

/* The <uuid> libvirt reports in the live XML of the CVM at path (its virDomainGetUUIDString). */
static char *
domain_uuid(CvTestManager *m, const char *id)
{
    g_autofree char *path = g_strconcat("/v1/cvms/", id, "/domain", NULL);
    g_autoptr(GBytes) xml = NULL;
    g_autofree char *text = NULL;
    const char *start, *end;

    g_assert_cmpuint(cv_test_request(m, "GET", path, NULL, NULL, 0, &xml), ==, 200);
    text = g_strndup(g_bytes_get_data(xml, NULL), g_bytes_get_size(xml));
    start = strstr(text, "<uuid>");
    g_assert_nonnull(start);
    start += strlen("<uuid>");
    end = strstr(start, "</uuid>");
    g_assert_nonnull(end);
    return g_strndup(start, end - start);
}

static void
test_id_is_domain_uuid(void)
{
    g_autoptr(CvTestManager) m = cv_test_manager_start(NULL);
    g_autoptr(JsonNode) a = cv_test_create(m, "{\"name\":\"covirt-uuid-a\",\"memory\":\"256M\"}");
    g_autoptr(JsonNode) b = cv_test_create(m, "{\"name\":\"covirt-uuid-b\",\"memory\":\"256M\"}");
    g_autofree char *ua = domain_uuid(m, member(a, "id"));
    g_autofree char *ub = domain_uuid(m, member(b, "id"));

    g_assert_cmpstr(ua, ==, member(a, "id"));
    g_assert_cmpstr(ub, ==, member(b, "id"));
    g_assert_cmpstr(ua, !=, ub);
}

#define NS "https://covirt.org/xmlns/cvm/1.0"
#define OLD_ID "11111111-2222-4333-8444-555555555555"
#define OLD_UUID "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
#define NEW_ID "66666666-7777-4888-9999-000000000000"

/* A test-driver domain holding a covirt record whose id is ID. */
static void
fixture_domain(GString *s, const char *name, const char *uuid, const char *id)
{
    g_string_append_printf(s,
        "<domain type='test'><name>%s</name><uuid>%s</uuid><memory>262144</memory><vcpu>1</vcpu>"
        "<os><type>hvm</type></os><metadata><covirt:cvm xmlns:covirt='" NS "'><covirt:id>%s</covirt:id>"
        "<covirt:platform>vtpm</covirt:platform><covirt:state>running</covirt:state><covirt:spec>{}</covirt:spec>"
        "</covirt:cvm></metadata></domain>", name, uuid, id);
}

/* Domains a manager finds at start: one from before ids were UUIDs keeps the id in its metadata
 * (clients that hold it go on working); one from now has the same id in both places. */
static void
test_adopted_ids(void)
{
    g_autofree char *dir = g_dir_make_tmp("covirt-uuid-XXXXXX", NULL);
    g_autofree char *node = g_build_filename(dir, "node.xml", NULL);
    g_autofree char *uri = g_strconcat("MANAGER_LIBVIRT_URI=test://", node, NULL);
    const char *env[] = { uri, NULL };
    g_autoptr(GString) s = g_string_new("<node>");
    g_autoptr(CvTestManager) m = NULL;
    g_autoptr(JsonNode) old = NULL, now = NULL, by_uuid = NULL;
    g_autofree char *old_uuid = NULL, *new_uuid = NULL;

    fixture_domain(s, "covirt-old", OLD_UUID, OLD_ID);
    fixture_domain(s, "covirt-new", NEW_ID, NEW_ID);
    g_string_append(s, "</node>");
    g_assert_true(g_file_set_contents(node, s->str, -1, NULL));
    m = cv_test_manager_start(env);

    g_assert_cmpuint(cv_test_count(m), ==, 2);
    g_assert_cmpuint(cv_test_request_json(m, "GET", "/v1/cvms/" OLD_ID, NULL, &old), ==, 200);
    g_assert_cmpstr(member(old, "name"), ==, "covirt-old");
    old_uuid = domain_uuid(m, OLD_ID);
    g_assert_cmpstr(old_uuid, ==, OLD_UUID);
    /* the libvirt UUID of an older CVM is not a second id */
    g_assert_cmpuint(cv_test_request_json(m, "GET", "/v1/cvms/" OLD_UUID, NULL, &by_uuid), ==, 404);
    g_assert_cmpuint(cv_test_request_json(m, "GET", "/v1/cvms/" NEW_ID, NULL, &now), ==, 200);
    new_uuid = domain_uuid(m, NEW_ID);
    g_assert_cmpstr(new_uuid, ==, NEW_ID);
    /* a new one beside them still gets its UUID as its id */
    {
        g_autoptr(JsonNode) c = cv_test_create(m, "{\"name\":\"covirt-uuid-c\",\"memory\":\"256M\"}");
        g_autofree char *u = domain_uuid(m, member(c, "id"));

        g_assert_cmpstr(u, ==, member(c, "id"));
    }
    g_unlink(node);
    g_rmdir(dir);
}

/* ---- /metrics ---- */

/* GET /metrics: its Content-Type into *type, its text returned */
static char *
metrics_text(CvTestManager *m, char **type)
{
    g_autofree char *url = g_strconcat(m->url, "/metrics", NULL);
    g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) body = soup_session_send_and_read(m->session, msg, NULL, &error);

    g_assert_no_error(error);
    g_assert_cmpuint(soup_message_get_status(msg), ==, 200);
    if (type)
        *type = g_strdup(soup_message_headers_get_one(soup_message_get_response_headers(msg), "Content-Type"));
    return g_strndup(g_bytes_get_data(body, NULL), g_bytes_get_size(body));
}

/* check-exposition.py's verdict on text: its exit status, its findings into *findings */
static int
exposition_check(const char *text, char **findings)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocess) p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error,
                                                "python3", CHECK_EXPOSITION, NULL);

    g_assert_no_error(error);
    g_assert_true(g_subprocess_communicate_utf8(p, text, NULL, NULL, findings, &error));
    g_assert_no_error(error);
    return g_subprocess_get_exit_status(p);
}

static void
test_exposition_checker(void)
{
    g_autofree char *f1 = NULL, *f2 = NULL, *f3 = NULL;

    /* the checker finds what Prometheus would refuse or misread */
    g_assert_cmpint(exposition_check("a_total 1\n", &f1), ==, 1);
    g_assert_nonnull(strstr(f1, "no # HELP"));
    g_assert_cmpint(exposition_check("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
                                     "h_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n", &f2), ==, 1);
    g_assert_nonnull(strstr(f2, "cumulative"));
    g_assert_cmpint(exposition_check("# HELP g x\n# TYPE g gauge\ng{a=\"1\"} 1\ng{a=\"1\"} 2\n", &f3), ==, 1);
    g_assert_nonnull(strstr(f3, "twice"));
}

static double
metric(CvTestManager *m, const char *series)
{
    return cv_test_metric(m, series);
}

#define REQUESTS(method, route, code) \
    "covirt_http_requests_total{method=\"" method "\",route=\"" route "\",code=\"" code "\"}"

static void
test_metrics(void)
{
    g_autoptr(CvTestManager) m = cv_test_manager_start(NULL);
    g_autoptr(JsonNode) h = NULL, c = NULL, bad = NULL;
    g_autofree char *type = NULL, *text = NULL, *findings = NULL, *build = NULL;
    double health;
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;

    g_assert_cmpuint(cv_test_request_json(m, "GET", "/health", NULL, &h), ==, 200);
    c = cv_test_create(m, "{\"name\":\"covirt-metrics-a\",\"memory\":\"256M\"}");
    g_assert_cmpuint(cv_test_request_json(m, "POST", "/v1/cvms", "{\"name\":\"x\",\"vcpus\":0}", &bad), ==, 400);
    g_assert_cmpuint(cv_test_request(m, "GET", "/v1/cvms/no-such-cvm", NULL, NULL, 0, NULL), ==, 404);
    g_assert_cmpuint(cv_test_request(m, "GET", "/v1/cvms/no-such-cvm/info", NULL, NULL, 0, NULL), ==, 404);
    g_assert_cmpuint(cv_test_request(m, "GET", "/secret-path-1", NULL, NULL, 0, NULL), ==, 404);
    g_assert_cmpuint(cv_test_request(m, "GET", "/v1/cvms/x/secret-path-2", NULL, NULL, 0, NULL), ==, 404);
    g_assert_cmpuint(cv_test_request(m, "BREW", "/v1/cvms", NULL, NULL, 0, NULL), ==, 405);

    text = metrics_text(m, &type);
    g_assert_cmpstr(type, ==, "text/plain; version=0.0.4; charset=utf-8");
    if (exposition_check(text, &findings) != 0)
        g_error("/metrics:\n%s\nfindings:\n%s", text, findings);
    build = g_strdup_printf("covirt_build_info{version=\"%s\"}",
                            json_object_get_string_member(json_node_get_object(h), "version"));
    g_assert_cmpfloat(metric(m, build), ==, 1);
    /* routes by template, never the raw path; a method no one knows is "other" */
    g_assert_null(strstr(text, "secret-path"));
    g_assert_null(strstr(text, "no-such-cvm"));
    g_assert_cmpfloat(metric(m, REQUESTS("GET", "/v1/cvms/{id}", "404")), ==, 1);
    g_assert_cmpfloat(metric(m, REQUESTS("GET", "/v1/cvms/{id}/info", "404")), ==, 1);
    g_assert_cmpfloat(metric(m, REQUESTS("GET", "unmatched", "404")), ==, 2);
    g_assert_cmpfloat(metric(m, REQUESTS("POST", "/v1/cvms", "201")), ==, 1);
    g_assert_cmpfloat(metric(m, REQUESTS("POST", "/v1/cvms", "400")), ==, 1);
    g_assert_cmpfloat(metric(m, REQUESTS("other", "/v1/cvms", "405")), ==, 1);
    /* counters move with requests */
    health = metric(m, REQUESTS("GET", "/health", "200"));
    g_assert_cmpfloat(health, >=, 1);
    for (int i = 0; i < 3; i++)
        g_assert_cmpuint(cv_test_request(m, "GET", "/health", NULL, NULL, 0, NULL), ==, 200);
    g_assert_cmpfloat(metric(m, REQUESTS("GET", "/health", "200")), ==, health + 3);
    g_assert_cmpfloat(metric(m, "covirt_http_request_duration_seconds_count"), >=, health + 3 + 8);
    /* one creation, timed; a bad spec is a refusal, not a failure */
    g_assert_cmpfloat(metric(m, "covirt_cvm_creations_total"), ==, 1);
    g_assert_cmpfloat(metric(m, "covirt_cvm_create_duration_seconds_count"), ==, 1);
    g_assert_cmpfloat(metric(m, "covirt_cvm_create_duration_seconds_bucket{le=\"+Inf\"}"), ==, 1);
    g_assert_cmpfloat(metric(m, "covirt_cvm_create_duration_seconds_sum"), >, 0);
    g_assert_cmpfloat(metric(m, "covirt_cvm_create_refused_total{reason=\"invalid_spec\"}"), ==, 1);
    g_assert_cmpfloat(metric(m, "covirt_cvm_creation_failures_total"), ==, 0);
    /* the process, as Prometheus's client libraries name it */
    g_assert_cmpfloat(metric(m, "process_cpu_seconds_total"), >, 0);
    g_assert_cmpfloat(metric(m, "process_resident_memory_bytes"), >, 1024 * 1024);
    g_assert_cmpfloat(metric(m, "process_virtual_memory_bytes"), >=, metric(m, "process_resident_memory_bytes"));
    g_assert_cmpfloat(metric(m, "process_open_fds"), >, 3);
    g_assert_cmpfloat(metric(m, "process_max_fds"), >=, metric(m, "process_open_fds"));
    g_assert_cmpfloat(metric(m, "process_start_time_seconds"), >, now - 120);
    g_assert_cmpfloat(metric(m, "process_start_time_seconds"), <=, now + 2);
}

/* A full host answers 503: a refusal by reason, not a creation failure. */
static void
test_metrics_refusal(void)
{
    const char *env[] = { "MANAGER_MAX_VMS=1", NULL };
    g_autoptr(CvTestManager) m = cv_test_manager_start(env);
    g_autoptr(JsonNode) a = cv_test_create(m, "{\"name\":\"covirt-full-a\",\"memory\":\"256M\"}");
    g_autoptr(JsonNode) e = NULL, e2 = NULL;

    g_assert_cmpuint(cv_test_request_json(m, "POST", "/v1/cvms", "{\"name\":\"covirt-full-b\",\"memory\":\"256M\"}",
                                          &e), ==, 503);
    g_assert_cmpfloat(metric(m, "covirt_cvm_create_refused_total{reason=\"capacity\"}"), ==, 1);
    g_assert_cmpfloat(metric(m, "covirt_cvm_create_refused_total{reason=\"libvirt_unavailable\"}"), ==, 0);
    g_assert_cmpfloat(metric(m, "covirt_cvm_creation_failures_total"), ==, 0);
    g_assert_cmpfloat(metric(m, "covirt_cvm_creations_total"), ==, 1);
    g_assert_cmpfloat(metric(m, REQUESTS("POST", "/v1/cvms", "503")), ==, 1);
    /* a name a foreign domain has is a conflict, found by the create job: a refusal too */
    g_assert_cmpuint(cv_test_request(m, "DELETE", "/v1/cvms/covirt-full-a", NULL, NULL, 0, NULL), ==, 204);
    g_assert_cmpuint(cv_test_request_json(m, "POST", "/v1/cvms", "{\"name\":\"test\",\"memory\":\"256M\"}", &e2),
                     ==, 409);
    g_assert_cmpfloat(metric(m, "covirt_cvm_create_refused_total{reason=\"conflict\"}"), ==, 1);
    g_assert_cmpfloat(metric(m, "covirt_cvm_creation_failures_total"), ==, 0);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/manager-ops/id-is-domain-uuid", test_id_is_domain_uuid);
    g_test_add_func("/manager-ops/adopted-ids", test_adopted_ids);
    g_test_add_func("/manager-ops/exposition-checker", test_exposition_checker);
    g_test_add_func("/manager-ops/metrics", test_metrics);
    g_test_add_func("/manager-ops/metrics-refusal", test_metrics_refusal);
    return g_test_run();
}
