/* Several libvirt hosts behind one manager (issue 12). One host (test:///default): GET /v1/hosts, the
 * host in a CVM's JSON, platforms refused with the host's reason, an unknown host, covirt host list.
 * Two hosts: two private libvirtds (test driver, loopback TCP, run as nobody; skipped without root):
 * creates spread, pinned, the same agent port on both, a host killed and restarted, deletes on both.
 * And a host with domain capabilities: a private libvirtd's QEMU session driver. */
#include <string.h>
#include <signal.h>
#include "manager-harness.h"

static const char *
member(JsonNode *n, const char *name)
{
    return json_object_get_string_member_with_default(json_node_get_object(n), name, NULL);
}

/* the /v1/hosts entry of uri */
static JsonObject *
host_entry(JsonNode *hosts, const char *uri)
{
    JsonArray *arr = json_object_get_array_member(json_node_get_object(hosts), "hosts");

    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *h = json_array_get_object_element(arr, i);

        if (g_strcmp0(json_object_get_string_member(h, "uri"), uri) == 0)
            return h;
    }
    return NULL;
}

static gboolean
wait_host_state(CvTestManager *m, const char *uri, const char *state, guint timeout_s)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;

    do {
        g_autoptr(JsonNode) hosts = NULL;
        JsonObject *h;

        if (cv_test_request_json(m, "GET", "/v1/hosts", NULL, &hosts) == 200 && (h = host_entry(hosts, uri)) &&
            g_strcmp0(json_object_get_string_member(h, "state"), state) == 0)
            return TRUE;
        g_usleep(100000);
    } while (g_get_monotonic_time() < end);
    return FALSE;
}

/* POST a spec; the status, and the answer into *out */
static guint
post(CvTestManager *m, const char *spec, JsonNode **out)
{
    return cv_test_request_json(m, "POST", "/v1/cvms", spec, out);
}

static const char *
error_message(JsonNode *n)
{
    return json_object_get_string_member(json_object_get_object_member(json_node_get_object(n), "error"), "message");
}

static void
test_one_host(void)
{
    g_autoptr(CvTestManager) m = cv_test_manager_start(NULL);
    g_autoptr(JsonNode) hosts = NULL, c = NULL, e1 = NULL, e2 = NULL;
    g_autofree char *out = NULL, *refused = NULL;
    JsonObject *h;
    JsonArray *platforms;
    int status = -1;
    const char *const dup[] = { "MANAGER_LIBVIRT_URI=test:///default  test:///default", NULL };
    const char *const list[] = { COVIRT_CLI_EXE, "host", "list", "--manager", m->url, NULL };

    c = cv_test_create(m, "{\"name\":\"covirt-test-h1\",\"memory\":\"256M\"}");
    g_assert_cmpstr(member(c, "host"), ==, "test:///default");
    g_assert_false(json_object_has_member(json_node_get_object(c), "host_down"));

    g_assert_cmpuint(cv_test_request_json(m, "GET", "/v1/hosts", NULL, &hosts), ==, 200);
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(json_node_get_object(hosts), "hosts")), ==, 1);
    h = host_entry(hosts, "test:///default");
    g_assert_nonnull(h);
    g_assert_cmpstr(json_object_get_string_member(h, "state"), ==, "up");
    g_assert_cmpint(json_object_get_int_member(h, "cvms"), ==, 1);
    g_assert_cmpstr(json_object_get_string_member(h, "libvirt_version"), !=, NULL);
    /* the test driver reports no domain capabilities: nothing to refuse on */
    platforms = json_object_get_array_member(h, "platforms");
    g_assert_cmpuint(json_array_get_length(platforms), ==, 3);
    g_assert_false(json_object_get_boolean_member(h, "capabilities_checked"));

    /* an unknown host is named */
    g_assert_cmpuint(post(m, "{\"name\":\"covirt-test-h2\",\"memory\":\"256M\",\"host\":\"qemu+ssh://nowhere/system\"}",
                          &e1), ==, 400);
    g_assert_nonnull(strstr(error_message(e1), "qemu+ssh://nowhere/system"));
    g_assert_cmpuint(post(m, "{\"name\":\"covirt-test-h3\",\"memory\":\"256M\",\"host\":\"\"}", &e2), ==, 400);
    g_assert_cmpuint(cv_test_count(m), ==, 1);
    g_assert_cmpfloat(cv_test_metric(m, "covirt_host_up{host=\"test:///default\"}"), ==, 1);
    g_assert_cmpfloat(cv_test_metric(m, "covirt_host_cvms{host=\"test:///default\"}"), ==, 1);

    g_assert_true(g_spawn_sync(NULL, (char **)list, NULL, 0, NULL, NULL, &out, NULL, &status, NULL));
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    g_assert_true(g_regex_match_simple("^test:///default +up +1 ", out, G_REGEX_MULTILINE, 0));

    /* one URI twice would be one host with two connections */
    g_assert_cmpint(cv_test_manager_refuses(dup, &refused), ==, 2);
    g_assert_nonnull(strstr(refused, "listed twice"));
}

/* the domain names a libvirtd holds, as virsh lists them */
static char *
virsh_names(const CvTestLibvirtd *d)
{
    const char *const argv[] = { "virsh", "-c", d->uri, "list", "--all", "--name", NULL };
    g_autofree char *out = NULL;
    int status = -1;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                               NULL, &out, NULL, &status, NULL));
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    return g_steal_pointer(&out);
}

static gboolean
has_line(const char *text, const char *line)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

    return g_strv_contains((const char *const *)lines, line);
}

static char *
create_on(CvTestManager *m, const char *name, const char *host_member)
{
    g_autofree char *spec = g_strdup_printf("{\"name\":\"%s\",\"memory\":\"256M\"%s}", name, host_member);
    g_autoptr(JsonNode) c = cv_test_create(m, spec);

    return g_strdup(member(c, "host"));
}

/* the "created" event's placement: why on its host */
static char *
created_detail(CvTestManager *m, const char *name)
{
    g_autofree char *path = g_strdup_printf("/v1/cvms/%s/events?follow=0", name);
    g_autoptr(GBytes) body = NULL;
    g_autofree char *text = NULL;
    g_autoptr(GMatchInfo) mi = NULL;
    g_autoptr(GRegex) re = g_regex_new("\"event\":\"created\",.*\"host\":\"[^\"]+\",\"placement\":\"([^\"]*)\"",
                                       G_REGEX_UNGREEDY, 0, NULL);

    g_assert_cmpuint(cv_test_request(m, "GET", path, NULL, NULL, 0, &body), ==, 200);
    text = g_strndup(g_bytes_get_data(body, NULL), g_bytes_get_size(body));
    if (!g_regex_match(re, text, 0, &mi))
        return NULL;
    return g_match_info_fetch(mi, 1);
}

static void
delete_ok(CvTestManager *m, const char *name)
{
    g_autofree char *path = g_strconcat("/v1/cvms/", name, NULL);

    g_assert_cmpuint(cv_test_request(m, "DELETE", path, NULL, NULL, 0, NULL), ==, 204);
}

/* spread over both, pinned, the same port on both, an unknown host */
static void
check_placement(CvTestManager *m, CvTestLibvirtd *a, CvTestLibvirtd *b)
{
    g_autofree char *pin_b = g_strdup_printf(",\"host\":\"%s\"", b->uri);
    g_autofree char *port_a = g_strdup_printf(",\"host\":\"%s\",\"host_port\":6150", a->uri);
    g_autofree char *port_b = g_strdup_printf(",\"host\":\"%s\",\"host_port\":6150", b->uri);
    g_autofree char *dup_a = g_strdup_printf("{\"name\":\"covirt-test-p3\",\"memory\":\"256M\",\"host\":\"%s\","
                                             "\"host_port\":6150}", a->uri);
    g_autofree char *detail = NULL, *names_a = NULL, *names_b = NULL;
    g_autoptr(JsonNode) e1 = NULL, e2 = NULL;
    guint on_a = 0;

    /* equal hosts: the creates alternate */
    for (guint i = 0; i < 4; i++) {
        g_autofree char *name = g_strdup_printf("covirt-test-s%u", i);
        g_autofree char *host = create_on(m, name, "");

        g_assert_true(g_strcmp0(host, a->uri) == 0 || g_strcmp0(host, b->uri) == 0);
        on_a += g_strcmp0(host, a->uri) == 0;
    }
    g_assert_cmpuint(on_a, ==, 2);
    detail = created_detail(m, "covirt-test-s1");
    g_assert_nonnull(detail);
    g_assert_nonnull(strstr(detail, "least loaded"));
    names_a = virsh_names(a);
    names_b = virsh_names(b);
    for (guint i = 0; i < 4; i++) {
        g_autofree char *name = g_strdup_printf("covirt-test-s%u", i);

        /* each on exactly one host */
        g_assert_true(has_line(names_a, name) != has_line(names_b, name));
    }

    g_free(create_on(m, "covirt-test-pin", pin_b));
    g_clear_pointer(&names_b, g_free);
    names_b = virsh_names(b);
    g_assert_true(has_line(names_b, "covirt-test-pin"));
    g_clear_pointer(&detail, g_free);
    detail = created_detail(m, "covirt-test-pin");
    g_assert_nonnull(strstr(detail, "named by the spec"));

    /* agent ports are per host */
    g_free(create_on(m, "covirt-test-p1", port_a));
    g_free(create_on(m, "covirt-test-p2", port_b));
    g_assert_cmpuint(post(m, dup_a, &e1), ==, 409);

    g_assert_cmpuint(post(m, "{\"name\":\"covirt-test-u\",\"memory\":\"256M\",\"host\":\"test+tcp://127.0.0.1:1/x\"}",
                          &e2), ==, 400);
    g_assert_nonnull(strstr(error_message(e2), "'test+tcp://127.0.0.1:1/x'"));
    g_assert_cmpuint(cv_test_count(m), ==, 7);
}

/* B dies: its CVMs stay listed with host_down, creates go to A; B comes back empty (the test driver
 * keeps nothing): its CVMs are removed, its foreign "test" domain untouched */
static void
check_host_down(CvTestManager *m, CvTestLibvirtd *a, CvTestLibvirtd *b)
{
    g_autofree char *pin_b = g_strdup_printf("{\"name\":\"covirt-test-x\",\"memory\":\"256M\",\"host\":\"%s\"}", b->uri);
    g_autoptr(JsonNode) pin = NULL, pin_pinned = NULL, health = NULL, list = NULL;
    g_autofree char *names_b = NULL;
    g_autofree char *metric_b = g_strdup_printf("covirt_host_up{host=\"%s\"}", b->uri);
    JsonArray *cvms;
    guint down = 0, on_b = 0;

    cv_test_libvirtd_kill(b);
    g_assert_true(wait_host_state(m, b->uri, "down", 30));
    g_assert_cmpuint(cv_test_request_json(m, "GET", "/health", NULL, &health), ==, 200);
    g_assert_cmpstr(member(health, "status"), ==, "degraded");
    g_assert_cmpuint(cv_test_request_json(m, "GET", "/v1/cvms", NULL, &list), ==, 200);
    cvms = json_object_get_array_member(json_node_get_object(list), "cvms");
    for (guint i = 0; i < json_array_get_length(cvms); i++) {
        JsonObject *c = json_array_get_object_element(cvms, i);

        if (g_strcmp0(json_object_get_string_member(c, "host"), b->uri) != 0)
            continue;
        on_b++;
        down += json_object_get_boolean_member_with_default(c, "host_down", FALSE);
        g_assert_cmpstr(json_object_get_string_member(c, "state"), ==, "running");
    }
    g_assert_cmpuint(on_b, ==, 4);
    g_assert_cmpuint(down, ==, 4);
    for (guint i = 0; i < 2; i++) {
        g_autofree char *name = g_strdup_printf("covirt-test-d%u", i);
        g_autofree char *host = create_on(m, name, "");

        g_assert_cmpstr(host, ==, a->uri);
    }
    g_assert_cmpuint(post(m, pin_b, &pin_pinned), ==, 503);
    g_assert_cmpfloat(cv_test_metric(m, metric_b), ==, 0);

    cv_test_libvirtd_restart(b);
    g_assert_true(wait_host_state(m, b->uri, "up", 30));
    g_assert_cmpuint(cv_test_count(m), ==, 5);
    names_b = virsh_names(b);
    g_assert_true(has_line(names_b, "test"));
    g_assert_cmpuint(post(m, pin_b, &pin), ==, 201);
    g_assert_cmpstr(member(pin, "host"), ==, b->uri);
}

static void
test_two_hosts(void)
{
    g_autoptr(CvTestLibvirtd) a = cv_test_libvirtd_start();
    g_autoptr(CvTestLibvirtd) b = a ? cv_test_libvirtd_start() : NULL;
    g_autofree char *uris = NULL;
    g_autoptr(CvTestManager) m = NULL;
    g_autoptr(JsonNode) list = NULL;
    g_autofree char *names_a = NULL, *names_b = NULL;
    JsonArray *cvms;

    if (!b) {
        g_test_skip("needs root and libvirtd for two private daemons");
        return;
    }
    uris = g_strdup_printf("MANAGER_LIBVIRT_URI=%s %s", a->uri, b->uri);
    m = cv_test_manager_start((const char *const[]){ uris, "MANAGER_MAX_VMS=50", NULL });
    g_assert_true(wait_host_state(m, a->uri, "up", 30));
    g_assert_true(wait_host_state(m, b->uri, "up", 30));
    check_placement(m, a, b);
    check_host_down(m, a, b);

    /* deletes on both hosts: nothing of covirt's left on either */
    g_assert_cmpuint(cv_test_request_json(m, "GET", "/v1/cvms", NULL, &list), ==, 200);
    cvms = json_object_get_array_member(json_node_get_object(list), "cvms");
    for (guint i = 0; i < json_array_get_length(cvms); i++)
        delete_ok(m, json_object_get_string_member(json_array_get_object_element(cvms, i), "name"));
    g_assert_cmpuint(cv_test_count(m), ==, 0);
    names_a = virsh_names(a);
    names_b = virsh_names(b);
    g_assert_cmpstr(g_strstrip(names_a), ==, "test");
    g_assert_cmpstr(g_strstrip(names_b), ==, "test");
}

/* A host whose libvirt reports domain capabilities: the private daemon's QEMU session driver (TCG here,
 * without KVM): vtpm offered as qemu, sev-snp refused with the host's reason. No CVM is started. */
static void
test_domain_capabilities(void)
{
    g_autoptr(CvTestLibvirtd) d = cv_test_libvirtd_start();
    g_autofree char *uri = NULL, *env = NULL, *spec = NULL;
    g_autofree char *qemu = g_find_program_in_path("qemu-system-x86_64");
    g_autoptr(CvTestManager) m = NULL;
    g_autoptr(JsonNode) hosts = NULL, refused = NULL;
    JsonObject *h;
    JsonArray *platforms;
    gboolean kvm;

    if (!d || !qemu) {
        g_test_skip("needs root, libvirtd and qemu-system-x86_64");
        return;
    }
    uri = g_strdup_printf("qemu+tcp://127.0.0.1:%u/session", d->port);
    env = g_strconcat("MANAGER_LIBVIRT_URI=", uri, NULL);
    m = cv_test_manager_start((const char *const[]){ env, "MANAGER_DOMAIN_TYPE=auto", NULL });
    g_assert_true(wait_host_state(m, uri, "up", 60));
    g_assert_cmpuint(cv_test_request_json(m, "GET", "/v1/hosts", NULL, &hosts), ==, 200);
    h = host_entry(hosts, uri);
    g_assert_true(json_object_get_boolean_member(h, "capabilities_checked"));
    kvm = g_strcmp0(json_object_get_string_member(h, "domain_type"), "kvm") == 0;
    platforms = json_object_get_array_member(h, "platforms");
    g_assert_cmpuint(json_array_get_length(platforms), >=, 1);
    g_assert_cmpstr(json_array_get_string_element(platforms, 0), ==, "vtpm");
    if (kvm) {
        g_test_message("this machine has KVM: the refusal below is not checked");
        return;
    }
    g_assert_cmpstr(json_object_get_string_member(h, "domain_type"), ==, "qemu");
    g_assert_nonnull(strstr(json_object_get_string_member(json_object_get_object_member(h, "unsupported"), "sev-snp"),
                            "no KVM"));
    spec = g_strdup_printf("{\"name\":\"covirt-test-snp\",\"memory\":\"256M\",\"platform\":\"sev-snp\"}");
    g_assert_cmpuint(post(m, spec, &refused), ==, 400);
    g_assert_nonnull(strstr(error_message(refused), "cannot run sev-snp: no KVM"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/manager/hosts/one-host", test_one_host);
    g_test_add_func("/manager/hosts/two-hosts", test_two_hosts);
    g_test_add_func("/manager/hosts/domain-capabilities", test_domain_capabilities);
    return g_test_run();
}
