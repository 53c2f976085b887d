#include "measure-file.h"
#include "cv-autoptr.h"
#include "cv-file.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#define CHUNK (1u << 20)

static int
open_input(const char *path, GError **error)
{
    g_auto(CvFd) fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;

    if (fd < 0) {
        g_set_error(error, CV_ERROR, errno == ENOENT ? CV_ERROR_NOT_FOUND : CV_ERROR_IO, "cannot open %s: %s", path,
                    g_strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s is a directory", path);
        return -1;
    }
    return g_steal_fd(&fd);
}

GBytes *
cv_measure_read_image(const char *path, GError **error)
{
    g_auto(CvFd) fd = open_input(path, error);

    if (fd < 0)
        return NULL;
    return cv_file_read_fd(fd, CV_MEASURE_IMAGE_MAX, path, error);
}

GBytes *
cv_measure_read_image_fd(int fd, const char *what, GError **error)
{
    return cv_file_read_fd(fd, CV_MEASURE_IMAGE_MAX, what, error);
}

gboolean
cv_measure_sha256_fd(int fd, const char *what, guint8 digest[32], GError **error)
{
    g_autoptr(EVP_MD) md = EVP_MD_fetch(NULL, "SHA256", NULL);
    g_autoptr(EVP_MD_CTX) ctx = EVP_MD_CTX_new();
    g_autofree guint8 *chunk = g_malloc(CHUNK);
    unsigned int n = 0;

    if (!md || !ctx || !EVP_DigestInit_ex(ctx, md, NULL)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "SHA-256 is not available");
        return FALSE;
    }
    for (;;) {
        ssize_t got = fd >= 0 ? read(fd, chunk, CHUNK) : 0;

        if (got == 0)
            break;
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot read %s: %s", what, g_strerror(errno));
            return FALSE;
        }
        EVP_DigestUpdate(ctx, chunk, got);
    }
    return EVP_DigestFinal_ex(ctx, digest, &n) == 1;
}

gboolean
cv_measure_sha256_file(const char *path, guint8 digest[32], GError **error)
{
    g_auto(CvFd) fd = -1;

    if (path && (fd = open_input(path, error)) < 0)
        return FALSE;
    return cv_measure_sha256_fd(fd, path, digest, error);
}

gboolean
cv_measure_file_size(const char *path, guint64 *size, GError **error)
{
    g_auto(CvFd) fd = open_input(path, error);
    struct stat st;

    if (fd < 0)
        return FALSE;
    if (fstat(fd, &st) != 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot stat %s: %s", path, g_strerror(errno));
        return FALSE;
    }
    *size = st.st_size;
    return TRUE;
}

gboolean
cv_measure_sha256_mem(const void *data, gsize len, guint8 digest[32])
{
    unsigned int n = 0;

    return EVP_Digest(data, len, digest, &n, EVP_sha256(), NULL) == 1;
}
