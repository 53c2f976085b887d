/* skopeo as a bounded child: never through a shell, its time and what it writes watched, its
 * stderr kept to the last bytes for the error message. */
#include "oci-fetch.h"
#include "cv-error.h"
#include "cv-file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

#define SKOPEO "skopeo"
#define STDERR_KEEP 4096 /* bytes of skopeo's stderr kept for the message */
#define POLL_MS 200

void
cv_agent_oci_limits_default(CvAgentOciLimits *limits)
{
    *limits = (CvAgentOciLimits){ 4ull << 30, 8ull << 30, 1u << 20, 1800, FALSE };
}

static gboolean
host_is_loopback(const char *host)
{
    return g_str_equal(host, "127.0.0.1") || g_str_equal(host, "localhost") || g_str_equal(host, "[::1]");
}

/* The transport and, for docker://, whether TLS is verified: always, except a loopback registry
 * the manifest marked insecure (then skopeo also accepts plain HTTP from it). */
static gboolean
check_reference(const char *reference, gboolean insecure_loopback, gboolean *tls_verify, GError **error)
{
    const char *rest;
    g_autofree char *host = NULL;

    *tls_verify = TRUE;
    if (g_str_has_prefix(reference, "oci:") && reference[4] != '\0')
        return TRUE;
    if (!g_str_has_prefix(reference, "docker://") || !reference[9] || strchr(reference, ' ')) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "OCI reference %s: only docker://HOST/REPO:TAG and oci:DIR[:TAG] are pulled", reference);
        return FALSE;
    }
    rest = reference + 9;
    host = g_strndup(rest, strcspn(rest, "/"));
    if (strchr(host, ':') && host[0] != '[')
        host[strcspn(host, ":")] = '\0';
    else if (host[0] == '[' && strchr(host, ']'))
        strchr(host, ']')[1] = '\0';
    if (insecure_loopback && !host_is_loopback(host)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "OCI reference %s: an insecure registry must be on loopback, not %s", reference, host);
        return FALSE;
    }
    *tls_verify = !insecure_loopback;
    return TRUE;
}

/* bytes allocated under dir, symlinks not followed */
static guint64
tree_bytes(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    guint64 n = 0;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        struct stat st;

        if (lstat(path, &st) != 0)
            continue;
        n += (guint64)st.st_blocks * 512;
        if (S_ISDIR(st.st_mode))
            n += tree_bytes(path);
    }
    return n;
}

typedef struct {
    GMainContext *ctx;
    GSubprocess *child;
    GInputStream *err;
    GByteArray *tail;          /* the last STDERR_KEEP bytes of stderr */
    char buf[1024];
    const char *watch_dir;
    guint64 max_bytes;
    gint64 deadline;
    gboolean exited, eof;
    CvErrorCode stopped;       /* 0, or why the child was killed */
} Run;

static void on_err_read(GObject *src, GAsyncResult *res, gpointer data);

static void
read_more(Run *run)
{
    g_input_stream_read_async(run->err, run->buf, sizeof run->buf, G_PRIORITY_DEFAULT, NULL, on_err_read, run);
}

static void
on_err_read(GObject *src, GAsyncResult *res, gpointer data)
{
    Run *run = data;
    gssize got = g_input_stream_read_finish(G_INPUT_STREAM(src), res, NULL);

    if (got <= 0) {
        run->eof = TRUE;
        return;
    }
    g_byte_array_append(run->tail, (guint8 *)run->buf, got);
    if (run->tail->len > STDERR_KEEP)
        g_byte_array_remove_range(run->tail, 0, run->tail->len - STDERR_KEEP);
    read_more(run);
}

static void
on_child_exit(GObject *src, GAsyncResult *res, gpointer data)
{
    Run *run = data;

    g_subprocess_wait_finish(G_SUBPROCESS(src), res, NULL);
    run->exited = TRUE;
}

static gboolean
on_poll(gpointer data)
{
    Run *run = data;

    if (run->stopped || run->exited)
        return G_SOURCE_CONTINUE;
    if (g_get_monotonic_time() > run->deadline)
        run->stopped = CV_ERROR_UNAVAILABLE;
    else if (tree_bytes(run->watch_dir) > run->max_bytes)
        run->stopped = CV_ERROR_TOO_LARGE;
    if (run->stopped)
        g_subprocess_force_exit(run->child);
    return G_SOURCE_CONTINUE;
}

/* Runs argv to its end on a private main context; *tail gets its stderr's last bytes, *status its
 * exit status (-1 for a signal). */
static gboolean
run_bounded(const char *const *argv, const char *watch_dir, const CvAgentOciLimits *limits, char **tail,
            int *status, GError **error)
{
    g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_autofree char *tmp = g_build_filename(watch_dir, "tmp", NULL);
    g_autoptr(GSource) poll = g_timeout_source_new(POLL_MS);
    Run run = { .ctx = g_main_context_new(), .tail = g_byte_array_new(), .watch_dir = watch_dir,
                .max_bytes = limits->max_pull_bytes,
                .deadline = g_get_monotonic_time() + (gint64)limits->timeout_seconds * G_USEC_PER_SEC };

    /* skopeo's temporaries (a blob of unknown size) count against the limit too */
    g_mkdir(tmp, 0700);
    g_subprocess_launcher_setenv(launcher, "TMPDIR", tmp, TRUE);
    g_main_context_push_thread_default(run.ctx);
    run.child = g_subprocess_launcher_spawnv(launcher, argv, error);
    if (run.child) {
        run.err = g_subprocess_get_stderr_pipe(run.child);
        read_more(&run);
        g_subprocess_wait_async(run.child, NULL, on_child_exit, &run);
        g_source_set_callback(poll, on_poll, &run, NULL);
        g_source_attach(poll, run.ctx);
        while (!run.exited || !run.eof)
            g_main_context_iteration(run.ctx, TRUE);
        g_source_destroy(poll);
    }
    g_main_context_pop_thread_default(run.ctx);
    g_main_context_unref(run.ctx);
    cv_file_remove_tree(tmp);
    g_byte_array_append(run.tail, (const guint8 *)"", 1);
    *tail = (char *)g_byte_array_free(run.tail, FALSE);
    if (!run.child)
        return FALSE;
    *status = g_subprocess_get_if_exited(run.child) ? g_subprocess_get_exit_status(run.child) : -1;
    g_clear_object(&run.child);
    if (run.stopped == CV_ERROR_UNAVAILABLE)
        g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "skopeo stopped after %u s", limits->timeout_seconds);
    else if (run.stopped == CV_ERROR_TOO_LARGE)
        g_set_error(error, CV_ERROR, CV_ERROR_TOO_LARGE, "skopeo stopped: the image is over %" G_GUINT64_FORMAT
                    " bytes", limits->max_pull_bytes);
    return run.stopped == 0;
}

/* skopeo's exit status was not 0: the message says why, with a decryption failure told apart */
static gboolean
child_failed(int status, const char *tail, gboolean with_key, GError **error)
{
    g_autofree char *last = g_strstrip(g_strdup(tail));

    if (status == 0)
        return TRUE;
    if (with_key && (strstr(last, "decrypt") || strstr(last, "no suitable key")))
        g_set_error(error, CV_ERROR, CV_ERROR_VERIFY, "decryption of the image failed: %s", last);
    else
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "skopeo copy failed (status %d): %s", status, last);
    return FALSE;
}

static char *
write_key(const char *work_dir, GBytes *key_pem, GError **error)
{
    g_autofree char *path = g_build_filename(work_dir, "decryption-key.pem", NULL);
    gsize len;
    const char *data = g_bytes_get_data(key_pem, &len);
    g_auto(CvFd) fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

    if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot write the decryption key: %s", g_strerror(errno));
        if (fd >= 0)
            g_unlink(path);
        return NULL;
    }
    return g_steal_pointer(&path);
}

gboolean
cv_agent_oci_pull(const char *reference, const char *work_dir, GBytes *key_pem, const CvAgentOciLimits *limits,
                  GError **error)
{
    g_autofree char *layout = g_build_filename(work_dir, "layout", NULL);
    g_autofree char *dest = g_strconcat("oci:", layout, ":covirt", NULL);
    g_autofree char *key = NULL;
    g_autofree char *tail = NULL;
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    gboolean tls_verify, ok;
    int status = 0;

    if (!check_reference(reference, limits->insecure_loopback, &tls_verify, error))
        return FALSE;
    if (key_pem && !(key = write_key(work_dir, key_pem, error)))
        return FALSE;
    /* the manifest's SHA3-256 over what is extracted is the trust anchor, not a signature policy */
    for (const char *a = SKOPEO "\0--insecure-policy\0copy\0--quiet\0"; *a; a += strlen(a) + 1)
        g_ptr_array_add(argv, g_strdup(a));
    if (g_str_has_prefix(reference, "docker://")) {
        g_ptr_array_add(argv, g_strdup("--src-no-creds"));
        g_ptr_array_add(argv, g_strdup_printf("--src-tls-verify=%s", tls_verify ? "true" : "false"));
    }
    if (key)
        g_ptr_array_add(argv, g_strdup_printf("--decryption-key=%s", key));
    g_ptr_array_add(argv, g_strdup(reference));
    g_ptr_array_add(argv, g_strdup(dest));
    g_ptr_array_add(argv, NULL);
    ok = run_bounded((const char *const *)argv->pdata, work_dir, limits, &tail, &status, error);
    if (key)
        g_unlink(key);
    if (!ok)
        return FALSE;
    return child_failed(status, tail, key != NULL, error);
}
