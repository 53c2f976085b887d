/* The manager's end of the control channel against a unix socket this test listens on, as
 * QEMU does for the virtio-serial port: real framing (src/proto), frames a guest would send,
 * and a guest that sends garbage. */
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <glib/gstdio.h>
#include <glib-unix.h>
#include "agent-channel.h"
#include "frame.h"
#include "cv-error.h"

typedef struct {
    GPtrArray *kinds;
    GPtrArray *events;   /* JSON text */
} Seen;

static void
on_event(const char *kind, JsonObject *data, gpointer user_data)
{
    Seen *s = user_data;
    g_autoptr(JsonNode) n = json_node_new(JSON_NODE_OBJECT);

    json_node_set_object(n, data);
    g_ptr_array_add(s->kinds, g_strdup(kind));
    g_ptr_array_add(s->events, json_to_string(n, FALSE));
}

static int
listen_unix(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(fd, 1), ==, 0);
    return fd;
}

/* accept while the main loop runs (the channel connects from an idle/timeout) */
static int
accept_with_loop(int lfd)
{
    g_unix_set_fd_nonblocking(lfd, TRUE, NULL);
    for (int i = 0; i < 400; i++) {
        int c = accept(lfd, NULL, NULL);

        if (c >= 0) {
            g_unix_set_fd_nonblocking(c, FALSE, NULL);
            return c;
        }
        g_main_context_iteration(NULL, FALSE);
        g_usleep(10000);
    }
    g_assert_not_reached();
    return -1;
}

static void
spin_until(Seen *s, guint n)
{
    for (int i = 0; i < 500 && s->events->len < n; i++) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(5000);
    }
    g_assert_cmpuint(s->events->len, >=, n);
}

static gboolean
seen_contains(Seen *s, const char *needle)
{
    for (guint i = 0; i < s->events->len; i++)
        if (strstr(g_ptr_array_index(s->events, i), needle))
            return TRUE;
    return FALSE;
}

static void
test_channel(void)
{
    g_autofree char *dir = g_dir_make_tmp("covirt-chan-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "org.covirt.agent.0", NULL);
    Seen s = { g_ptr_array_new_with_free_func(g_free), g_ptr_array_new_with_free_func(g_free) };
    int lfd = listen_unix(path);
    CvMgrAgentChannel *c = cv_mgr_agent_channel_new(path, "{\"id\":\"comp-1\"}", on_event, &s);
    int fd = accept_with_loop(lfd);
    g_autoptr(GError) error = NULL;
    g_autoptr(CvFrame) reply = NULL;
    static const guint8 key[32] = { 1, 2, 3 };
    static const char bad_utf8[] = "line \xff\xfe end";

    /* Hello → the manifest comes back */
    {
        Covirt__Control__Frame f = COVIRT__CONTROL__FRAME__INIT;
        Covirt__Control__Hello h = COVIRT__CONTROL__HELLO__INIT;

        h.agent_version = (char *)"0.1.0";
        h.platform = (char *)"vtpm";
        h.tls_pubkey_sha256.data = (guint8 *)key;
        h.tls_pubkey_sha256.len = 32;
        h.hal_version = (char *)"hal-1";
        f.body_case = COVIRT__CONTROL__FRAME__BODY_HELLO;
        f.hello = &h;
        g_assert_true(cv_frame_write_fd(fd, &f, &error));
    }
    spin_until(&s, 2);
    g_assert_true(cv_mgr_agent_channel_connected(c));
    g_assert_true(seen_contains(&s, "\"event\":\"hello\""));
    g_assert_true(seen_contains(&s, "\"tls_pubkey_sha256\":\"0102030000"));
    reply = cv_frame_read_fd(fd, &error);
    g_assert_no_error(error);
    g_assert_nonnull(reply);
    g_assert_cmpint(reply->body_case, ==, COVIRT__CONTROL__FRAME__BODY_MANIFEST);
    g_assert_cmpstr(reply->manifest->json, ==, "{\"id\":\"comp-1\"}");
    /* then the computation's state is asked for: a manager restarted meanwhile does not know it */
    {
        g_autoptr(CvFrame) ask = cv_frame_read_fd(fd, &error);

        g_assert_no_error(error);
        g_assert_cmpint(ask->body_case, ==, COVIRT__CONTROL__FRAME__BODY_STATE_REQUEST);
    }
    /* State is the computation's status ("computation"), with its error and whether a result waits */
    {
        Covirt__Control__Frame f = COVIRT__CONTROL__FRAME__INIT;
        Covirt__Control__State st = COVIRT__CONTROL__STATE__INIT;

        st.state = (char *)"Failed";
        st.error = (char *)"the algorithm exited with status 3";
        f.body_case = COVIRT__CONTROL__FRAME__BODY_STATE;
        f.state = &st;
        g_assert_true(cv_frame_write_fd(fd, &f, &error));
    }
    spin_until(&s, 3);
    g_assert_cmpstr(g_ptr_array_index(s.kinds, 2), ==, "computation");
    g_assert_cmpstr(g_ptr_array_index(s.events, 2), ==,
                    "{\"state\":\"Failed\",\"error\":\"the algorithm exited with status 3\",\"result_available\":false}");
    /* the operator's stop and reset go out as frames; a reset's manifest replaces the channel's */
    {
        g_autoptr(CvFrame) stop = NULL, reset = NULL, again = NULL;

        g_assert_true(cv_mgr_agent_channel_stop(c, "operator", &error));
        stop = cv_frame_read_fd(fd, &error);
        g_assert_cmpint(stop->body_case, ==, COVIRT__CONTROL__FRAME__BODY_STOP);
        g_assert_cmpstr(stop->stop->reason, ==, "operator");
        g_assert_true(cv_mgr_agent_channel_reset(c, "new one", "{\"id\":\"comp-2\"}", &error));
        reset = cv_frame_read_fd(fd, &error);
        g_assert_cmpint(reset->body_case, ==, COVIRT__CONTROL__FRAME__BODY_RESET);
        g_assert_cmpstr(reset->reset->manifest_json, ==, "{\"id\":\"comp-2\"}");
        g_assert_true(cv_mgr_agent_channel_reset(c, "same again", NULL, &error));
        again = cv_frame_read_fd(fd, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(again->reset->manifest_json, ==, "{\"id\":\"comp-2\"}");
    }

    /* events and logs become CVM events; guest text is made valid UTF-8 */
    {
        Covirt__Control__Frame f = COVIRT__CONTROL__FRAME__INIT;
        Covirt__Control__Log l = COVIRT__CONTROL__LOG__INIT;
        Covirt__Control__Frame g = COVIRT__CONTROL__FRAME__INIT;
        Covirt__Control__RunResult rr = COVIRT__CONTROL__RUN_RESULT__INIT;

        l.source = (char *)"algorithm-stdout";
        l.level = (char *)"info";
        l.line = (char *)bad_utf8;
        f.body_case = COVIRT__CONTROL__FRAME__BODY_LOG;
        f.log = &l;
        g_assert_true(cv_frame_write_fd(fd, &f, &error));
        rr.ok = TRUE;
        rr.exit_code = 0;
        g.body_case = COVIRT__CONTROL__FRAME__BODY_RUN_RESULT;
        g.run_result = &rr;
        g_assert_true(cv_frame_write_fd(fd, &g, &error));
    }
    spin_until(&s, 5);
    g_assert_cmpstr(g_ptr_array_index(s.kinds, 3), ==, "log");
    g_assert_true(seen_contains(&s, "\"source\":\"algorithm-stdout\""));
    g_assert_true(seen_contains(&s, "\"event\":\"run-result\""));
    for (guint i = 0; i < s.events->len; i++)
        g_assert_true(g_utf8_validate(g_ptr_array_index(s.events, i), -1, NULL));

    /* garbage: an oversized length prefix → protocol error, connection dropped, then retried */
    {
        static const guint8 junk[] = { 0x7f, 0xff, 0xff, 0xff, 'x', 'y' };

        g_assert_cmpint(write(fd, junk, sizeof(junk)), ==, (gssize)sizeof(junk));
    }
    spin_until(&s, 6);
    g_assert_true(seen_contains(&s, "\"event\":\"protocol-error\""));
    g_assert_false(cv_mgr_agent_channel_connected(c));
    /* no agent: a stop is refused rather than queued for whatever it runs when it is back */
    g_assert_false(cv_mgr_agent_channel_stop(c, "nobody there", &error));
    g_assert_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE);
    g_clear_error(&error);
    close(fd);
    fd = accept_with_loop(lfd);
    g_assert_true(cv_mgr_agent_channel_connected(c));

    close(fd);
    close(lfd);
    cv_mgr_agent_channel_free(c);
    g_unlink(path);
    g_rmdir(dir);
    g_ptr_array_unref(s.kinds);
    g_ptr_array_unref(s.events);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/manager/agent-channel", test_channel);
    return g_test_run();
}
