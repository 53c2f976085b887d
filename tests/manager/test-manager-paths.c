/* What a CVM spec may make the manager read or bind on the host, through the HTTP API on
 * test:///default: image files only from the image directories (never /etc/shadow, a FIFO or a link
 * out of them, and the same answer whether a file outside exists), host ports only from
 * MANAGER_QEMU_HOST_FWD_RANGE. */
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <glib/gstdio.h>
#include "manager-harness.h"
#include "cv-util.h"

static const char *
error_message(JsonNode *n)
{
    JsonObject *e = n && JSON_NODE_HOLDS_OBJECT(n) ? json_object_get_object_member(json_node_get_object(n), "error")
                                                   : NULL;

    return e ? json_object_get_string_member(e, "message") : NULL;
}

/* POSTs {"name":"covirt-test-p","FIELD":"PATH"} and returns the refusal's message (asserting 400). */
static char *
refused(CvTestManager *m, const char *field, const char *path, GBytes **raw)
{
    g_autofree char *spec = g_strdup_printf("{\"name\":\"covirt-test-p\",\"memory\":\"256M\",\"%s\":\"%s\"}", field,
                                            path);
    g_autoptr(JsonNode) e = NULL;
    guint status = cv_test_request(m, "POST", "/v1/cvms", "application/json", spec, strlen(spec), raw);

    g_assert_cmpuint(status, ==, 400);
    e = cv_json_parse(g_bytes_get_data(*raw, NULL), g_bytes_get_size(*raw), NULL);
    g_assert_cmpstr(cv_test_error_code(e), ==, "invalid");
    g_assert_true(g_str_has_prefix(error_message(e), field));
    g_test_message("%s=%s: %s", field, path, error_message(e));
    return g_strdup(error_message(e));
}

/* The message with the path the user sent taken out: what else it tells. */
static char *
without(const char *message, const char *path)
{
    g_auto(GStrv) parts = g_strsplit(message, path, -1);

    return g_strjoinv("PATH", parts);
}

static void
test_image_paths(void)
{
    g_autoptr(CvTestManager) m = cv_test_manager_start(NULL);
    g_autofree char *fifo = g_build_filename(m->tmpdir, "fifo", NULL);
    g_autofree char *link_out = g_build_filename(m->tmpdir, "link-out", NULL);
    g_autofree char *shadow_hex = NULL;
    static const char *const fields[] = { "kernel", "initrd", "ovmf" };

    g_assert_cmpint(mkfifo(fifo, 0644), ==, 0);
    g_assert_cmpint(symlink("/etc/passwd", link_out), ==, 0);
    shadow_hex = cv_file_digest_hex("SHA256", "/etc/shadow", NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(fields); i++) {
        g_autoptr(GBytes) b1 = NULL, b2 = NULL, b3 = NULL, b4 = NULL, b5 = NULL;
        g_autofree char *shadow = refused(m, fields[i], "/etc/shadow", &b1);
        g_autofree char *missing = refused(m, fields[i], "/etc/covirt-no-such-file", &b2);
        g_autofree char *a = without(shadow, "/etc/shadow");
        g_autofree char *b = without(missing, "/etc/covirt-no-such-file");
        g_autofree char *via_link = refused(m, fields[i], link_out, &b3);
        g_autofree char *device = refused(m, fields[i], "/dev/zero", &b4);
        /* a FIFO in the image directory neither blocks the API nor passes */
        g_autofree char *pipe = refused(m, fields[i], fifo, &b5);

        /* no existence oracle: a file outside that exists and one that does not read alike */
        g_assert_cmpstr(a, ==, b);
        if (shadow_hex)
            g_assert_null(g_strstr_len(g_bytes_get_data(b1, NULL), g_bytes_get_size(b1), shadow_hex));
        g_assert_nonnull(strstr(pipe, "not a regular file"));
        g_assert_nonnull(strstr(via_link, "not a file in the image directories"));
        g_assert_nonnull(strstr(device, "not a file in the image directories"));
    }
    g_assert_cmpuint(cv_test_request(m, "GET", "/health", NULL, NULL, 0, NULL), ==, 200);
    /* nothing was created, so no policy anywhere hashes those files */
    g_assert_cmpuint(cv_test_count(m), ==, 0);
    g_assert_cmpfloat(cv_test_metric(m, "covirt_cvm_creations_total"), ==, 0);
}

/* Files in the configured directories are still accepted, a symlink between them too. */
static void
test_image_dirs_accepted(void)
{
    g_autoptr(CvTestManager) m = cv_test_manager_start(NULL);
    g_autofree char *link_in = g_build_filename(m->tmpdir, "initrd-link", NULL);
    g_autofree char *spec = NULL;
    g_autoptr(JsonNode) c = NULL;

    g_assert_cmpint(symlink("initrd.img", link_in), ==, 0);
    spec = g_strdup_printf("{\"name\":\"covirt-test-in\",\"memory\":\"256M\",\"initrd\":\"%s\"}", link_in);
    c = cv_test_create(m, spec);
    g_assert_cmpuint(cv_test_count(m), ==, 1);
}

/* host_port outside MANAGER_QEMU_HOST_FWD_RANGE: a port of another host service, the manager's own
 * included, is refused naming the field. */
static void
test_host_port_range(void)
{
    g_autoptr(CvTestManager) m = cv_test_manager_start(NULL);
    g_autoptr(GUri) uri = g_uri_parse(m->url, G_URI_FLAGS_NONE, NULL);
    guint ports[] = { (guint)g_uri_get_port(uri), 22, 6099, 6201, 65535 };

    for (gsize i = 0; i < G_N_ELEMENTS(ports); i++) {
        g_autofree char *spec = g_strdup_printf("{\"name\":\"covirt-test-port\",\"memory\":\"256M\",\"host_port\":%u}",
                                                ports[i]);
        g_autoptr(JsonNode) e = NULL;

        g_assert_cmpuint(cv_test_request_json(m, "POST", "/v1/cvms", spec, &e), ==, 400);
        g_assert_cmpstr(cv_test_error_code(e), ==, "invalid");
        g_assert_true(g_str_has_prefix(error_message(e), "host_port: "));
        g_assert_nonnull(strstr(error_message(e), "MANAGER_QEMU_HOST_FWD_RANGE"));
    }
    g_assert_cmpuint(cv_test_count(m), ==, 0);
    {
        g_autoptr(JsonNode) c = cv_test_create(m, "{\"name\":\"covirt-test-port\",\"memory\":\"256M\",\"host_port\":6200}");

        g_assert_cmpuint(cv_test_count(m), ==, 1);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/manager/image-paths", test_image_paths);
    g_test_add_func("/manager/image-dirs-accepted", test_image_dirs_accepted);
    g_test_add_func("/manager/host-port-range", test_host_port_range);
    return g_test_run();
}
