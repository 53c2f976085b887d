#include "cv-archive.h"
#include "cv-error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>

static void
archive_read_cleanup(struct archive *a)
{
    archive_read_free(a);
}
static void
archive_write_cleanup(struct archive *a)
{
    archive_write_free(a);
}
typedef struct archive CvArchiveRead;
typedef struct archive CvArchiveWrite;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvArchiveRead, archive_read_cleanup)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvArchiveWrite, archive_write_cleanup)

static gboolean
add_file(struct archive *w, const char *path, const char *name, GError **error)
{
    struct archive_entry *e;
    struct stat st;
    guint8 buf[65536];
    ssize_t n;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot read result %s: %s", name, g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return FALSE;
    }
    e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, st.st_size);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, st.st_mtime, 0);
    if (archive_write_header(w, e) != ARCHIVE_OK)
        goto fail;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if (archive_write_data(w, buf, n) != n)
            goto fail;
    archive_entry_free(e);
    close(fd);
    return TRUE;
 fail:
    g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot add %s to the result: %s", name, archive_error_string(w));
    archive_entry_free(e);
    close(fd);
    return FALSE;
}

static gboolean
add_dir(struct archive *w, const char *dir, const char *prefix, guint depth, GError **error)
{
    g_autoptr(GDir) d = NULL;
    g_autoptr(GError) local = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    if (depth > 32) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "results are nested too deeply");
        return FALSE;
    }
    d = g_dir_open(dir, 0, &local);
    if (!d) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot list %s: %s", dir, local->message);
        return FALSE;
    }
    while ((name = g_dir_read_name(d)))
        g_ptr_array_add(names, g_strdup(name));
    /* sorted, so that the same results give the same zip */
    g_ptr_array_sort(names, (GCompareFunc)g_strcmp0);
    for (guint i = 0; i < names->len; i++) {
        const char *n = g_ptr_array_index(names, i);
        g_autofree char *path = g_build_filename(dir, n, NULL);
        g_autofree char *entry = prefix ? g_strdup_printf("%s/%s", prefix, n) : g_strdup(n);
        struct stat st;

        if (lstat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (!add_dir(w, path, entry, depth + 1, error))
                return FALSE;
        } else if (S_ISREG(st.st_mode)) {
            if (!add_file(w, path, entry, error))
                return FALSE;
        }
    }
    return TRUE;
}

gboolean
cv_archive_zip_dir(const char *dir, const char *zip_path, GError **error)
{
    g_autoptr(CvArchiveWrite) w = archive_write_new();

    if (archive_write_set_format_zip(w) != ARCHIVE_OK || archive_write_open_filename(w, zip_path) != ARCHIVE_OK) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot create %s: %s", zip_path, archive_error_string(w));
        return FALSE;
    }
    if (!add_dir(w, dir, NULL, 0, error))
        return FALSE;
    if (archive_write_close(w) != ARCHIVE_OK) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot finish %s: %s", zip_path, archive_error_string(w));
        return FALSE;
    }
    return TRUE;
}

gboolean
cv_archive_extract(const char *path, const char *dest, const char *single_name, GError **error)
{
    g_autoptr(CvArchiveRead) r = archive_read_new();
    g_autoptr(CvArchiveWrite) w = archive_write_disk_new();
    g_autofree char *cwd = g_get_current_dir();
    struct archive_entry *e;
    gboolean ok = FALSE;
    int rc;

    archive_read_support_filter_all(r);
    /* only the formats docs/manifest.md names: with format_all, mtree's bidder takes a short table
     * (a gzipped CSV) for a file listing and the upload fails */
    archive_read_support_format_zip(r);
    archive_read_support_format_tar(r);
    /* "raw" last: a lone .gz/.xz file decompresses to one entry named "data" */
    archive_read_support_format_raw(r);
    archive_write_disk_set_options(w, ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                      ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_NO_OVERWRITE);
    if (archive_read_open_filename(r, path, 65536) != ARCHIVE_OK) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "cannot open archive %s: %s", path, archive_error_string(r));
        return FALSE;
    }
    /* libarchive's disk writer resolves relative names against the working directory */
    if (chdir(dest) < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot enter %s: %s", dest, g_strerror(errno));
        return FALSE;
    }
    while ((rc = archive_read_next_header(r, &e)) == ARCHIVE_OK) {
        const void *buf;
        size_t size;
        la_int64_t off;

        if (archive_format(r) == ARCHIVE_FORMAT_RAW)
            archive_entry_set_pathname(e, single_name);
        if (archive_entry_filetype(e) != AE_IFREG && archive_entry_filetype(e) != AE_IFDIR)
            continue;  /* no symlinks, devices or fifos from a dataset */
        archive_entry_set_perm(e, archive_entry_filetype(e) == AE_IFDIR ? 0755 : 0644);
        if (archive_write_header(w, e) != ARCHIVE_OK) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "archive entry %s refused: %s",
                        archive_entry_pathname(e), archive_error_string(w));
            goto out;
        }
        while ((rc = archive_read_data_block(r, &buf, &size, &off)) == ARCHIVE_OK)
            if (archive_write_data_block(w, buf, size, off) != ARCHIVE_OK) {
                g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot write %s: %s", archive_entry_pathname(e),
                            archive_error_string(w));
                goto out;
            }
        if (rc != ARCHIVE_EOF) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "corrupt archive: %s", archive_error_string(r));
            goto out;
        }
        archive_write_finish_entry(w);
    }
    if (rc != ARCHIVE_EOF) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "corrupt archive: %s", archive_error_string(r));
        goto out;
    }
    ok = archive_write_close(w) == ARCHIVE_OK;
    if (!ok)
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot finish extracting: %s", archive_error_string(w));
 out:
    if (chdir(cwd) < 0)
        g_warning("cannot return to %s", cwd);
    return ok;
}
