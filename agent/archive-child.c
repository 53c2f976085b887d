#include "archive-child.h"
#include "cv-error.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define HELPER "covirt-agent-archive"

static char *
helper_path(GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autofree char *self = g_file_read_link("/proc/self/exe", &local);
    g_autofree char *dir = NULL;

    if (!self) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "cannot find %s: %s", HELPER, local->message);
        return NULL;
    }
    dir = g_path_get_dirname(self);
    return g_build_filename(dir, HELPER, NULL);
}

/* Runs the helper and waits: the agent did this work in its main loop before, too. */
static gboolean
run_helper(const char *const *args, GError **error)
{
    g_autofree char *helper = helper_path(error);
    g_autofree char *out = NULL;
    g_autoptr(GError) local = NULL;
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    int status = 0;
    char *end = NULL;
    long code;

    if (!helper)
        return FALSE;
    g_ptr_array_add(argv, helper);
    for (const char *const *a = args; *a; a++)
        g_ptr_array_add(argv, (gpointer)*a);
    g_ptr_array_add(argv, NULL);
    if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL, &status,
                      &local)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "cannot run %s: %s", helper, local->message);
        return FALSE;
    }
    if (g_spawn_check_wait_status(status, NULL))
        return TRUE;
    /* "CODE MESSAGE": the helper's own error, with its code, crosses back as it was */
    code = strtol(out ? out : "", &end, 10);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 1 && end && *end == ' ' && code >= CV_ERROR_INTERNAL &&
        code <= CV_ERROR_TPM) {
        g_set_error(error, CV_ERROR, (int)code, "%s", g_strchomp(end + 1));
        return FALSE;
    }
    g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "%s %s failed (wait status %d)", HELPER, args[0], status);
    return FALSE;
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
