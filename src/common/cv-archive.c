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

typedef struct {
    const CvArchiveExtract *how;
    guint64 written;  /* bytes of the entries done */
    guint64 entries;
} Budget;

static const char *
entry_name(struct archive_entry *e)
{
    const char *n = archive_entry_pathname(e);

    return n ? n : "(unnamed)";
}

static gboolean
over_budget(const Budget *b, guint64 more, GError **error)
{
    if (!b->how->max_bytes || more <= b->how->max_bytes - MIN(b->written, b->how->max_bytes))
        return FALSE;
    g_set_error(error, CV_ERROR, CV_ERROR_TOO_LARGE, "the archive expands beyond %" G_GUINT64_FORMAT
                " bytes, this dataset's limit; nothing of it was kept", b->how->max_bytes);
    return TRUE;
}

/* A hardlink may carry data (POSIX pax) and would then rewrite the file it names: refused like the rest. */
static gboolean
entry_allowed(struct archive_entry *e, const CvArchiveExtract *how, gboolean *skip, GError **error)
{
    const char *what;

    *skip = FALSE;
    if (archive_entry_hardlink(e))
        what = "a hardlink";
    else if (archive_entry_symlink(e) || archive_entry_filetype(e) == AE_IFLNK)
        what = "a symlink";
    else if (archive_entry_filetype(e) == AE_IFREG || archive_entry_filetype(e) == AE_IFDIR)
        return TRUE;
    else if (archive_entry_filetype(e) == AE_IFIFO)
        what = "a FIFO";
    else if (archive_entry_filetype(e) == AE_IFCHR || archive_entry_filetype(e) == AE_IFBLK)
        what = "a device";
    else
        what = "neither a regular file nor a directory";
    if (!how->strict) {
        *skip = TRUE;
        return TRUE;
    }
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                "archive entry %s is %s: only regular files and directories are extracted", entry_name(e), what);
    return FALSE;
}

static gboolean
copy_data(struct archive *r, struct archive *w, struct archive_entry *e, Budget *b, GError **error)
{
    const void *buf;
    size_t size;
    la_int64_t off;
    guint64 end = 0;
    int rc;

    while ((rc = archive_read_data_block(r, &buf, &size, &off)) == ARCHIVE_OK) {
        /* holes count too: a sparse entry's length is what the algorithm reads */
        end = MAX(end, (guint64)MAX(off, 0) + size);
        if (over_budget(b, end, error))
            return FALSE;
        if (archive_write_data_block(w, buf, size, off) != ARCHIVE_OK) {
            g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot write %s: %s", entry_name(e), archive_error_string(w));
            return FALSE;
        }
    }
    if (rc != ARCHIVE_EOF) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "corrupt archive: %s", archive_error_string(r));
        return FALSE;
    }
    b->written += end;
    return TRUE;
}

static gboolean
extract_entry(struct archive *r, struct archive *w, struct archive_entry *e, Budget *b, GError **error)
{
    gboolean skip;

    if (b->how->max_entries && ++b->entries > b->how->max_entries) {
        g_set_error(error, CV_ERROR, CV_ERROR_TOO_LARGE, "the archive has more than %" G_GUINT64_FORMAT
                    " entries, this dataset's limit; nothing of it was kept", b->how->max_entries);
        return FALSE;
    }
    if (archive_format(r) == ARCHIVE_FORMAT_RAW)
        archive_entry_set_pathname(e, b->how->single_name);
    if (!entry_allowed(e, b->how, &skip, error))
        return FALSE;
    if (skip)
        return TRUE;
    /* stopped before a byte is written when the header already says too much */
    if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0 &&
        over_budget(b, (guint64)archive_entry_size(e), error))
        return FALSE;
    archive_entry_set_perm(e, archive_entry_filetype(e) == AE_IFDIR ? 0755 : 0644);
    if (archive_write_header(w, e) != ARCHIVE_OK) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "archive entry %s refused: %s", entry_name(e),
                    archive_error_string(w));
        return FALSE;
    }
    if (!copy_data(r, w, e, b, error))
        return FALSE;
    if (archive_write_finish_entry(w) != ARCHIVE_OK) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot write %s: %s", entry_name(e), archive_error_string(w));
        return FALSE;
    }
    return TRUE;
}

static gboolean
extract_entries(struct archive *r, struct archive *w, const CvArchiveExtract *how, GError **error)
{
    Budget b = { how, 0, 0 };
    struct archive_entry *e;
    int rc;

    while ((rc = archive_read_next_header(r, &e)) == ARCHIVE_OK)
        if (!extract_entry(r, w, e, &b, error))
            return FALSE;
    if (rc != ARCHIVE_EOF) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "corrupt archive: %s", archive_error_string(r));
        return FALSE;
    }
    if (archive_write_close(w) != ARCHIVE_OK) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot finish extracting: %s", archive_error_string(w));
        return FALSE;
    }
    return TRUE;
}

gboolean
cv_archive_extract_with(const char *path, const char *dest, const CvArchiveExtract *how, GError **error)
{
    g_autoptr(CvArchiveRead) r = archive_read_new();
    g_autoptr(CvArchiveWrite) w = archive_write_disk_new();
    g_autofree char *cwd = g_get_current_dir();
    gboolean ok;

    archive_read_support_filter_all(r);
    /* only the formats docs/manifest.md names: with format_all, mtree's bidder takes a short table
     * (a gzipped CSV) for a file listing and the upload fails */
    if (how->format != CV_ARCHIVE_FORMAT_SINGLE) {
        archive_read_support_format_zip(r);
        archive_read_support_format_tar(r);
    }
    /* a single file is never bid on by tar: text starting with 512 zero bytes is an empty tar to it */
    if (how->format != CV_ARCHIVE_FORMAT_ARCHIVE)
        archive_read_support_format_raw(r);
    archive_write_disk_set_options(w, ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                      ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_NO_OVERWRITE);
    if (archive_read_open_filename(r, path, 65536) != ARCHIVE_OK) {
        const char *why = archive_error_string(r);
        g_autofree char *name = g_path_get_basename(path);
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "cannot open archive %s: %s", name,
                    why ? why : "unreadable or truncated");
        return FALSE;
    }
    /* libarchive's disk writer resolves relative names against the working directory */
    if (chdir(dest) < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot enter %s: %s", dest, g_strerror(errno));
        return FALSE;
    }
    ok = extract_entries(r, w, how, error);
    if (chdir(cwd) < 0)
        g_warning("cannot return to %s", cwd);
    return ok;
}

gboolean
cv_archive_extract(const char *path, const char *dest, const char *single_name, GError **error)
{
    const CvArchiveExtract how = { CV_ARCHIVE_FORMAT_AUTO, single_name, FALSE, 0, 0 };

    return cv_archive_extract_with(path, dest, &how, error);
}
