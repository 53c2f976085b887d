#include "dataset-unpack.h"
#include "archive-child.h"
#include "cv-error.h"
#include "cv-file.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <glib/gstdio.h>

static const char *const archive_suffixes[] = { ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2",
                                                ".tar.zst", ".tar", ".zip" };
static const char *const single_suffixes[] = { ".gz", ".xz", ".bz2", ".zst" };

CvArchiveFormat
cv_agent_dataset_format(const char *name, char **single_name)
{
    if (single_name)
        *single_name = NULL;
    for (guint i = 0; i < G_N_ELEMENTS(archive_suffixes); i++)
        if (g_str_has_suffix(name, archive_suffixes[i]))
            return CV_ARCHIVE_FORMAT_ARCHIVE;
    for (guint i = 0; i < G_N_ELEMENTS(single_suffixes); i++) {
        gsize n = strlen(single_suffixes[i]);
        if (g_str_has_suffix(name, single_suffixes[i]) && strlen(name) > n) {
            if (single_name)
                *single_name = g_strndup(name, strlen(name) - n);
            return CV_ARCHIVE_FORMAT_SINGLE;
        }
    }
    return CV_ARCHIVE_FORMAT_ARCHIVE;
}

guint64
cv_agent_dataset_limit(const CvManifestDatasetLimits *l, guint64 compressed, guint64 free_bytes)
{
    guint64 n = compressed > l->max_bytes / MAX(l->ratio, 1) ? l->max_bytes : compressed * l->ratio;

    n = MIN(MAX(n, CV_AGENT_DATASET_FLOOR), l->max_bytes);
    return MIN(n, free_bytes);
}

typedef struct {
    char *archive;
    char *dir;       /* the private directory the child extracts into */
    char *datasets;
    GStrv reserved;
} Unpack;

static void
unpack_free(Unpack *u)
{
    g_unlink(u->archive);
    if (u->dir)
        cv_file_remove_tree(u->dir);
    g_free(u->archive);
    g_free(u->dir);
    g_free(u->datasets);
    g_strfreev(u->reserved);
    g_free(u);
}

static gboolean
name_free(Unpack *u, const char *name, GError **error)
{
    g_autofree char *target = g_build_filename(u->datasets, name, NULL);
    struct stat st;

    if (u->reserved && g_strv_contains((const char *const *)u->reserved, name)) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "archive entry %s has the name of another dataset; "
                    "nothing of the archive was kept", name);
        return FALSE;
    }
    if (lstat(target, &st) == 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "archive entry %s would replace datasets/%s; "
                    "nothing of the archive was kept", name, name);
        return FALSE;
    }
    return TRUE;
}

/* Every top-level name is checked before the first moves, and what moved goes again if a later one fails. */
static gboolean
place_entries(Unpack *u, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GDir) d = g_dir_open(u->dir, 0, &local);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    if (!d) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot list what was extracted: %s", local->message);
        return FALSE;
    }
    while ((name = g_dir_read_name(d))) {
        if (!name_free(u, name, error))
            return FALSE;
        g_ptr_array_add(names, g_strdup(name));
    }
    for (guint i = 0; i < names->len; i++) {
        g_autofree char *src = g_build_filename(u->dir, g_ptr_array_index(names, i), NULL);
        g_autofree char *dst = g_build_filename(u->datasets, g_ptr_array_index(names, i), NULL);
        if (cv_file_rename_noreplace(src, dst) < 0) {
            g_set_error(error, CV_ERROR, errno == EEXIST ? CV_ERROR_CONFLICT : CV_ERROR_IO,
                        "cannot move %s into datasets/: %s", (char *)g_ptr_array_index(names, i), g_strerror(errno));
            for (guint j = 0; j < i; j++) {
                g_autofree char *moved = g_build_filename(u->datasets, g_ptr_array_index(names, j), NULL);
                cv_file_remove_tree(moved);
            }
            return FALSE;
        }
    }
    return TRUE;
}

static void
on_extracted(GObject *source, GAsyncResult *result, gpointer data)
{
    g_autoptr(GTask) task = data;
    GError *error = NULL;

    if (!cv_agent_archive_child_extract_dataset_finish(result, &error) ||
        !place_entries(g_task_get_task_data(task), &error)) {
        g_task_return_error(task, error);
        return;
    }
    g_task_return_boolean(task, TRUE);
}

/* The limit for this upload, from its size and the room left where it expands. */
static gboolean
unpack_limit(const CvManifestDatasetUnpack *req, guint64 *max_bytes, GError **error)
{
    struct stat st;
    struct statvfs fs;

    if (stat(req->archive, &st) < 0 || statvfs(req->datasets_dir, &fs) < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot size %s: %s", req->archive, g_strerror(errno));
        return FALSE;
    }
    *max_bytes = cv_agent_dataset_limit(&req->limits, st.st_size, (guint64)fs.f_bavail * fs.f_frsize);
    return TRUE;
}

void
cv_agent_dataset_unpack(const CvManifestDatasetUnpack *req, GCancellable *cancel, GAsyncReadyCallback callback,
                        gpointer data)
{
    g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, data);
    Unpack *u = g_new0(Unpack, 1);
    g_autofree char *single = NULL;
    g_autofree char *dir = g_build_filename(req->tmp_dir, "extract-XXXXXX", NULL);
    CvArchiveExtract how = { cv_agent_dataset_format(req->filename, &single), NULL, TRUE, 0,
                             req->limits.max_entries };
    GError *error = NULL;

    g_task_set_task_data(task, u, (GDestroyNotify)unpack_free);
    u->archive = g_strdup(req->archive);
    u->datasets = g_strdup(req->datasets_dir);
    u->reserved = g_strdupv((char **)req->reserved);
    how.single_name = single;
    if (!unpack_limit(req, &how.max_bytes, &error)) {
        g_task_return_error(task, error);
        return;
    }
    if (!g_mkdtemp_full(dir, 0700)) {
        g_task_return_new_error(task, CV_ERROR, CV_ERROR_IO, "cannot create %s: %s", dir, g_strerror(errno));
        return;
    }
    u->dir = g_steal_pointer(&dir);
    cv_agent_archive_child_extract_dataset(req->archive, u->dir, &how, cancel, on_extracted, g_object_ref(task));
}

gboolean
cv_agent_dataset_unpack_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}
