/* covirt-manager as a systemd service runs it: sd_notify READY=1 once libvirt answered and STOPPING=1 at
 * SIGTERM; under JOURNAL_STREAM (no journald socket here) every line carries a "<N>" priority, "listening
 * on" comes once and no line is blank; a wrong MANAGER_LOG_LEVEL or a template dir without templates is
 * refused at start. */
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include "manager-harness.h"

static void
test_config_refused(void)
{
    static const char *const level[] = { "MANAGER_LOG_LEVEL=verbose", NULL };
    static const char *const templates[] = { "MANAGER_TEMPLATE_DIR=/nonexistent/covirt", NULL };
    g_autofree char *err = NULL, *err_templates = NULL;

    g_assert_cmpint(cv_test_manager_refuses(level, &err), ==, 2);
    g_assert_nonnull(strstr(err, "MANAGER_LOG_LEVEL"));
    g_assert_nonnull(strstr(err, "'verbose'"));
    /* checked at start, not at the first create */
    g_assert_cmpint(cv_test_manager_refuses(templates, &err_templates), ==, 2);
    g_assert_nonnull(strstr(err_templates, "MANAGER_TEMPLATE_DIR: no domain templates in /nonexistent/covirt"));
}

/* the next datagram on fd within 30 s */
static char *
next_datagram(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    char buf[256] = { 0 };

    g_assert_cmpint(poll(&p, 1, 30000), ==, 1);
    g_assert_cmpint(recv(fd, buf, sizeof buf - 1, 0), >, 0);
    return g_strdup(buf);
}

static void
test_notify(void)
{
    g_autofree char *dir = g_dir_make_tmp("covirt-notify-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "notify", NULL);
    g_autofree char *env_notify = g_strconcat("NOTIFY_SOCKET=", path, NULL);
    const char *env[] = { env_notify, NULL };
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    g_autoptr(CvTestManager) m = NULL;
    g_autofree char *ready = NULL, *stopping = NULL;

    g_strlcpy(sa.sun_path, path, sizeof sa.sun_path);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof sa), ==, 0);
    m = cv_test_manager_start(env);  /* returns once /health says libvirt is connected */
    ready = next_datagram(fd);
    g_assert_cmpstr(ready, ==, "READY=1");
    cv_test_manager_kill(m, SIGTERM);
    stopping = next_datagram(fd);
    g_assert_cmpstr(stopping, ==, "STOPPING=1");
    g_assert_cmpint(cv_test_manager_wait(m), ==, 0);
    close(fd);
    g_unlink(path);
    g_rmdir(dir);
}

static void
test_journal_stream(void)
{
    g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
    g_autoptr(GSubprocess) p = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *journal = NULL;
    g_autoptr(GString) text = g_string_new(NULL);
    const char *out;
    g_auto(GStrv) lines = NULL;
    int fds[2];
    struct stat st;
    guint listening = 0;

    if (g_file_test("/run/systemd/journal/socket", G_FILE_TEST_EXISTS)) {
        g_test_skip("journald runs here: the lines go to its socket");
        return;
    }
    /* stdout and stderr on one pipe, named by JOURNAL_STREAM: what StandardOutput=journal gives */
    g_assert_true(g_unix_open_pipe(fds, FD_CLOEXEC, NULL));
    g_assert_cmpint(fstat(fds[1], &st), ==, 0);
    journal = g_strdup_printf("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT, (guint64)st.st_dev, (guint64)st.st_ino);
    g_subprocess_launcher_setenv(l, "JOURNAL_STREAM", journal, TRUE);
    g_subprocess_launcher_setenv(l, "MANAGER_LIBVIRT_URI", "test:///default", TRUE);
    g_subprocess_launcher_setenv(l, "MANAGER_HTTP_PORT", "0", TRUE);
    g_subprocess_launcher_setenv(l, "MANAGER_DOMAIN_TYPE", "qemu", TRUE);
    g_subprocess_launcher_setenv(l, "MANAGER_LOG_LEVEL", "info", TRUE);
    g_subprocess_launcher_take_stdout_fd(l, dup(fds[1]));
    g_subprocess_launcher_take_stderr_fd(l, fds[1]);
    p = g_subprocess_launcher_spawn(l, &error, g_getenv("COVIRT_TEST_MANAGER_EXE") ? g_getenv("COVIRT_TEST_MANAGER_EXE")
                                                                                  : COVIRT_MANAGER_EXE, NULL);
    g_assert_no_error(error);
    g_clear_object(&l);  /* closes the launcher's copies of the write end */
    /* SIGTERM once it serves, then everything to EOF */
    for (gboolean stopped = FALSE;;) {
        char buf[4096];
        ssize_t n = read(fds[0], buf, sizeof buf);

        g_assert_cmpint(n, >=, 0);
        if (n == 0)
            break;
        g_string_append_len(text, buf, n);
        if (!stopped && strstr(text->str, "listening on ") && strchr(strstr(text->str, "listening on "), '\n')) {
            g_subprocess_send_signal(p, SIGTERM);
            stopped = TRUE;
        }
    }
    close(fds[0]);
    out = text->str;
    g_assert_true(g_subprocess_wait_check(p, NULL, &error));
    g_assert_no_error(error);
    lines = g_strsplit(out, "\n", -1);
    for (char **line = lines; *line && (*line)[0]; line++) {
        g_assert_true(g_regex_match_simple("^<[3-7]>\\S", *line, 0, 0));
        listening += strstr(*line, "listening on ") != NULL;
    }
    /* the text ends with its last line's newline: no blank line anywhere */
    g_assert_true(g_str_has_suffix(out, "\n"));
    g_assert_null(strstr(out, "\n\n"));
    g_assert_cmpuint(listening, ==, 1);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/manager-service/config-refused", test_config_refused);
    g_test_add_func("/manager-service/notify", test_notify);
    g_test_add_func("/manager-service/journal-stream", test_journal_stream);
    return g_test_run();
}
