#define _GNU_SOURCE  /* renameat2, nftw */
#include "cv-file.h"
#include "cv-autoptr.h"
#include "cv-util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>

#define CHUNK (1 << 16)

void
cv_fd_close(CvFd fd)
{
    if (fd >= 0)
        close(fd);
}

int
cv_file_open_regular(const char *path, guint64 max_bytes, guint64 *size_out, GError **error)
{
    g_auto(CvFd) fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    struct stat st;

    if (fd < 0) {
        /* ELOOP: O_NOFOLLOW met a symlink */
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "cannot open %s: %s", path,
                    errno == ELOOP ? "it is a symbolic link" : g_strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot stat %s: %s", path, g_strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s is not a regular file", path);
        return -1;
    }
    if ((guint64)st.st_size > max_bytes) {
        g_set_error(error, CV_ERROR, CV_ERROR_TOO_LARGE, "%s is larger than %" G_GUINT64_FORMAT " bytes", path,
                    max_bytes);
        return -1;
    }
    /* reads of a regular file never block; the flag only kept open() from waiting */
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if (size_out)
        *size_out = st.st_size;
    return g_steal_fd(&fd);
}

static gboolean
append_bounded(GByteArray *buf, const guint8 *chunk, gsize n, gsize max_bytes, const char *what, GError **error)
{
    if (buf->len + n > max_bytes) {
        g_set_error(error, CV_ERROR, CV_ERROR_TOO_LARGE, "%s is larger than %" G_GSIZE_FORMAT " bytes", what, max_bytes);
        return FALSE;
    }
    g_byte_array_append(buf, chunk, n);
    return TRUE;
}

GBytes *
cv_file_read_fd(int fd, gsize max_bytes, const char *what, GError **error)
{
    g_autoptr(GByteArray) buf = g_byte_array_new();
    guint8 chunk[CHUNK];
    ssize_t n;

    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot read %s: %s", what, g_strerror(errno));
            return NULL;
        }
        /* the file may have grown since it was checked */
        if (!append_bounded(buf, chunk, n, max_bytes, what, error))
            return NULL;
    }
    return g_byte_array_free_to_bytes(g_steal_pointer(&buf));
}

GBytes *
cv_stream_read_bounded(GInputStream *in, gsize max_bytes, const char *what, GError **error)
{
    g_autoptr(GByteArray) buf = g_byte_array_new();
    g_autofree guint8 *chunk = g_malloc(CHUNK);

    for (;;) {
        gssize n = g_input_stream_read(in, chunk, CHUNK, NULL, error);
        if (n < 0)
            return NULL;
        if (n == 0)
            break;
        if (!append_bounded(buf, chunk, n, max_bytes, what, error))
            return NULL;
    }
    return g_byte_array_free_to_bytes(g_steal_pointer(&buf));
}

char *
cv_file_digest_fd_hex(const char *algorithm, int fd, const char *what, GError **error)
{
    g_autoptr(EVP_MD) md = EVP_MD_fetch(NULL, algorithm, NULL);
    g_autoptr(EVP_MD_CTX) ctx = EVP_MD_CTX_new();
    g_autofree guint8 *chunk = g_malloc(CHUNK);
    guint8 digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;

    if (!md || !ctx || !EVP_DigestInit_ex(ctx, md, NULL)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "digest %s is not available", algorithm);
        return NULL;
    }
    for (;;) {
        ssize_t got = read(fd, chunk, CHUNK);

        if (got == 0)
            break;
        if (got > 0) {
            EVP_DigestUpdate(ctx, chunk, got);
        } else if (errno != EINTR) {
            g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot read %s: %s", what, g_strerror(errno));
            return NULL;
        }
    }
    EVP_DigestFinal_ex(ctx, digest, &digest_len);
    return cv_hex_encode(digest, digest_len);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (remove(path) < 0 && errno != ENOENT)
        g_warning("cannot remove %s: %s", path, g_strerror(errno));
    return 0;
}

void
cv_file_remove_tree(const char *path)
{
    if (g_file_test(path, G_FILE_TEST_EXISTS) || g_file_test(path, G_FILE_TEST_IS_SYMLINK))
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int
cv_file_rename_noreplace(const char *src, const char *dst)
{
    struct stat st;

    if (renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* a filesystem without RENAME_NOREPLACE: the caller is the only writer of dst's folder */
    if (lstat(dst, &st) == 0) {
        errno = EEXIST;
        return -1;
    }
    return rename(src, dst);
}
