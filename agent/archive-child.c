#include "archive-child.h"
#include "cv-error.h"

#include <stdlib.h>
#include <string.h>

#define HELPER "covirt-agent-archive"

char *
cv_agent_beside_self(const char *name, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autofree char *self = g_file_read_link("/proc/self/exe", &local);
    g_autofree char *dir = NULL;

    if (!self) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "cannot find %s: %s", name, local->message);
        return NULL;
    }
    dir = g_path_get_dirname(self);
    return g_build_filename(dir, name, NULL);
}

static GSubprocess *
helper_spawn(const char *const *args, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    char *helper = cv_agent_beside_self(HELPER, error);
    GSubprocess *p;

    if (!helper)
        return NULL;
    g_ptr_array_add(argv, helper);
    for (const char *const *a = args; *a; a++)
        g_ptr_array_add(argv, g_strdup(*a));
    g_ptr_array_add(argv, NULL);
    p = g_subprocess_newv((const char *const *)argv->pdata, G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                                 G_SUBPROCESS_FLAGS_STDERR_SILENCE, &local);
    if (!p)
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "cannot run %s: %s", HELPER, local->message);
    return p;
}

/* The child's verdict: "CODE MESSAGE" on stdout, its own error with its code, crosses back as it was. */
static gboolean
helper_result(GSubprocess *p, const char *out, const char *what, GError **error)
{
    char *end = NULL;
    long code;

    if (g_subprocess_get_successful(p))
        return TRUE;
    code = strtol(out ? out : "", &end, 10);
    if (g_subprocess_get_if_exited(p) && g_subprocess_get_exit_status(p) == 1 && end && *end == ' ' &&
        code >= CV_ERROR_INTERNAL && code < CV_ERROR_CODE_END) {
        g_autofree char *text = g_strchomp(g_strdup(end + 1));
        g_set_error(error, CV_ERROR, (int)code, "%s", text);
        return FALSE;
    }
    g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "%s %s failed (wait status %d)", HELPER, what,
                g_subprocess_get_status(p));
    return FALSE;
}

static gboolean
run_helper(const char *const *args, GError **error)
{
    g_autoptr(GSubprocess) p = helper_spawn(args, error);
    g_autofree char *out = NULL;
    g_autoptr(GError) local = NULL;

    if (!p)
        return FALSE;
    if (!g_subprocess_communicate_utf8(p, NULL, NULL, &out, NULL, &local)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "cannot read %s: %s", HELPER, local->message);
        return FALSE;
    }
    return helper_result(p, out, args[0], error);
}

gboolean
cv_agent_archive_child_zip_dir(const char *dir, const char *zip_path, GError **error)
{
    const char *args[] = { "zip", dir, zip_path, NULL };

    return run_helper(args, error);
}

gboolean
cv_agent_archive_child_extract(const char *path, const char *dest, const char *single_name, GError **error)
{
    const char *args[] = { "extract", path, dest, single_name, NULL };

    return run_helper(args, error);
}

/* covirt-agent-archive's "dataset" command line for path, dest and how */
static GStrv
dataset_args(const char *path, const char *dest, const CvArchiveExtract *how)
{
    g_autofree char *max_bytes = g_strdup_printf("%" G_GUINT64_FORMAT, how->max_bytes);
    g_autofree char *max_entries = g_strdup_printf("%" G_GUINT64_FORMAT, how->max_entries);
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();

    g_strv_builder_add_many(b, "dataset", path, dest, how->format == CV_ARCHIVE_FORMAT_SINGLE ? "single" : "archive",
                            how->single_name ? how->single_name : "-", max_bytes, max_entries, NULL);
    return g_strv_builder_end(b);
}

gboolean
cv_agent_archive_child_extract_strict(const char *path, const char *dest, const CvArchiveExtract *how,
                                      GError **error)
{
    g_auto(GStrv) args = dataset_args(path, dest, how);

    return run_helper((const char *const *)args, error);
}

static void
kill_child(GCancellable *cancel, gpointer data)
{
    g_subprocess_force_exit(data);
}

typedef struct {
    GSubprocess *child;
    GCancellable *cancel;
    gulong cancel_id;
} Job;

static void
job_free(Job *job)
{
    g_cancellable_disconnect(job->cancel, job->cancel_id);
    g_clear_object(&job->cancel);
    g_clear_object(&job->child);
    g_free(job);
}

static void
on_child_done(GObject *source, GAsyncResult *result, gpointer data)
{
    g_autoptr(GTask) task = data;
    Job *job = g_task_get_task_data(task);
    g_autofree char *out = NULL;
    GError *error = NULL;

    /* the pipe is read to its end and the child reaped: nothing writes in dest any more */
    if (!g_subprocess_communicate_utf8_finish(job->child, result, &out, NULL, &error)) {
        g_task_return_error(task, error);
        return;
    }
    if (g_cancellable_is_cancelled(job->cancel))
        g_task_return_new_error(task, CV_ERROR, CV_ERROR_CONFLICT, "decompression stopped");
    else if (!helper_result(job->child, out, "dataset", &error))
        g_task_return_error(task, error);
    else
        g_task_return_boolean(task, TRUE);
}

void
cv_agent_archive_child_extract_dataset(const char *path, const char *dest, const CvArchiveExtract *how,
                                       GCancellable *cancel, GAsyncReadyCallback callback, gpointer data)
{
    g_auto(GStrv) args = dataset_args(path, dest, how);
    GTask *task = g_task_new(NULL, NULL, callback, data);
    Job *job = g_new0(Job, 1);
    GError *error = NULL;

    g_task_set_task_data(task, job, (GDestroyNotify)job_free);
    job->cancel = cancel ? g_object_ref(cancel) : g_cancellable_new();
    job->child = helper_spawn((const char *const *)args, &error);
    if (!job->child) {
        g_task_return_error(task, error);
        g_object_unref(task);
        return;
    }
    /* not handed to communicate: the callback must come after the child is gone, not before */
    job->cancel_id = g_cancellable_connect(job->cancel, G_CALLBACK(kill_child), job->child, NULL);
    g_subprocess_communicate_utf8_async(job->child, NULL, NULL, on_child_done, task);
}

gboolean
cv_agent_archive_child_extract_dataset_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}
