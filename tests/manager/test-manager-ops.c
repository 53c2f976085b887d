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

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/manager-ops/id-is-domain-uuid", test_id_is_domain_uuid);
    g_test_add_func("/manager-ops/adopted-ids", test_adopted_ids);
    return g_test_run();
}
