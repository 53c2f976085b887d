/* cv-log: levels refused, and each way a message leaves: journald's native protocol (a socketpair stands in
 * for /run/systemd/journal/socket), "<N>" lines on a journal stream, plain lines; sd_notify's datagram. */
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <glib/gstdio.h>
#include "cv-error.h"
#include "cv-log.h"
#include "cv-log-priv.h"

static char *
read_all(int fd)
{
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf - 1);

    g_assert_cmpint(n, >, 0);
    buf[n] = '\0';
    return g_strdup(buf);
}

static void
set_journal_stream(int fd)
{
    struct stat st;
    g_autofree char *v = NULL;

    g_assert_cmpint(fstat(fd, &st), ==, 0);
    v = g_strdup_printf("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT, (guint64)st.st_dev, (guint64)st.st_ino);
    g_setenv("JOURNAL_STREAM", v, TRUE);
}

static void
test_levels(void)
{
    static const char *const good[] = { NULL, "", "debug", "info", "warn", "error", "WARN" };
    static const char *const bad[] = { "verbose", "warning", "3", " info" };

    for (gsize i = 0; i < G_N_ELEMENTS(good); i++)
        g_assert_true(cv_log_init("test-log", good[i], NULL));
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) e = NULL;
        g_assert_false(cv_log_init("test-log", bad[i], &e));
        g_assert_error(e, CV_ERROR, CV_ERROR_INVALID);
        g_assert_nonnull(strstr(e->message, bad[i]));
    }
}

static void
test_journal_native(void)
{
    int sp[2];
    g_autofree char *got = NULL;
    g_autoptr(GString) want = g_string_new(NULL);
    char multi[4096];
    ssize_t n;
    const guint64 len = GUINT64_TO_LE(strlen("two\nlines"));

    g_assert_true(cv_log_init("test-log", "info", NULL));
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM, 0, sp), ==, 0);
    cv_log_set_output(sp[0], -1, TRUE);
    g_message("started\n");  /* the newline libvirt-glib's texts end in is not sent */
    got = read_all(sp[1]);
    g_assert_true(g_str_has_prefix(got, "PRIORITY=5\nSYSLOG_IDENTIFIER=test-log\nMESSAGE=started\n"));
    g_debug("filtered out at info");
    g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "CODE_FUNC", G_STRFUNC, "MESSAGE", "two\nlines");
    n = recv(sp[1], multi, sizeof multi, 0);
    /* a value holding a newline: KEY\n, its length as 64-bit little endian, the bytes, \n; GLib's fields go along */
    g_string_append(want, "PRIORITY=4\nSYSLOG_IDENTIFIER=test-log\nMESSAGE\n");
    g_string_append_len(want, (const char *)&len, sizeof len);
    g_string_append(want, "two\nlines\nCODE_FUNC=test_journal_native\n");
    g_assert_cmpint(n, >=, (gssize)want->len);
    g_assert_cmpmem(multi, want->len, want->str, want->len);
    close(sp[0]);
    close(sp[1]);
    cv_log_set_output(-1, STDERR_FILENO, FALSE);
}

static void
test_stream_lines(void)
{
    int p[2];
    g_autofree char *prefixed = NULL, *plain = NULL;

    g_assert_true(cv_log_init("test-log", "debug", NULL));
    g_assert_cmpint(pipe(p), ==, 0);
    cv_log_set_output(-1, p[1], TRUE);
    g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "MESSAGE", "failed: a\nb\n");
    prefixed = read_all(p[0]);
    g_assert_cmpstr(prefixed, ==, "<3>failed: a b\n");
    cv_log_set_output(-1, p[1], FALSE);
    g_info("listening\n\n");
    plain = read_all(p[0]);
    /* 2026-01-02T03:04:05.678Z test-log info: listening */
    g_assert_true(g_regex_match_simple("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z test-log info: listening\n$",
                                       plain, 0, 0));
    close(p[0]);
    close(p[1]);
    cv_log_set_output(-1, STDERR_FILENO, FALSE);
}

static void
test_journal_stream_detected(void)
{
    int p[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, p), ==, 0);  /* a pipe's two ends are one inode */
    g_unsetenv("JOURNAL_STREAM");
    g_assert_false(cv_log_fd_is_journal(p[1]));
    set_journal_stream(p[1]);
    g_assert_true(cv_log_fd_is_journal(p[1]));
    g_assert_false(cv_log_fd_is_journal(p[0]));
    g_assert_true(cv_log_goes_to(p[1]));
    g_setenv("JOURNAL_STREAM", "garbage", TRUE);
    g_assert_false(cv_log_fd_is_journal(p[1]));
    g_unsetenv("JOURNAL_STREAM");
    close(p[0]);
    close(p[1]);
}

/* stderr is the journal and no journald socket answers: "<N>" lines on stderr */
static void
test_init_on_journal_stream(void)
{
    if (g_test_subprocess()) {
        set_journal_stream(STDERR_FILENO);
        g_assert_true(cv_log_init("test-log", NULL, NULL));
        g_message("hello\n");
        return;
    }
    if (g_file_test("/run/systemd/journal/socket", G_FILE_TEST_EXISTS)) {
        g_test_skip("journald runs here: the message goes to its socket");
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr("<5>hello\n");
}

static void
test_notify(void)
{
    g_autofree char *dir = g_dir_make_tmp("cv-notify-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "notify", NULL);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    char buf[64] = { 0 };

    g_strlcpy(sa.sun_path, path, sizeof sa.sun_path);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof sa), ==, 0);
    g_unsetenv("NOTIFY_SOCKET");
    cv_log_notify("READY=1");  /* not under systemd: nothing, no error */
    g_setenv("NOTIFY_SOCKET", path, TRUE);
    cv_log_notify("READY=1");
    g_assert_cmpint(recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT), ==, 7);
    g_assert_cmpstr(buf, ==, "READY=1");
    g_unsetenv("NOTIFY_SOCKET");
    close(fd);
    g_unlink(path);
    g_rmdir(dir);
}

static void
test_notify_abstract(void)
{
    g_autofree char *name = g_strdup_printf("@covirt-test-notify-%d", getpid());
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    char buf[64] = { 0 };

    memcpy(sa.sun_path + 1, name + 1, strlen(name) - 1);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, offsetof(struct sockaddr_un, sun_path) + strlen(name)), ==, 0);
    g_setenv("NOTIFY_SOCKET", name, TRUE);
    cv_log_notify("STOPPING=1");
    g_assert_cmpint(recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT), ==, 10);
    g_assert_cmpstr(buf, ==, "STOPPING=1");
    g_unsetenv("NOTIFY_SOCKET");
    close(fd);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* the tests log warnings and criticals on purpose */
    g_log_set_always_fatal(G_LOG_FATAL_MASK);
    g_test_add_func("/log/levels", test_levels);
    g_test_add_func("/log/journal-native", test_journal_native);
    g_test_add_func("/log/stream-lines", test_stream_lines);
    g_test_add_func("/log/journal-stream-detected", test_journal_stream_detected);
    g_test_add_func("/log/init-on-journal-stream", test_init_on_journal_stream);
    g_test_add_func("/log/notify", test_notify);
    g_test_add_func("/log/notify-abstract", test_notify_abstract);
    return g_test_run();
}
