/* Reading the files a measurement is computed from: firmware images whole (bounded), kernels and initrds
 * streamed through SHA-256. A path the user named is followed as given (symlinks, /dev/null): these are the
 * user's own inputs, not files read on someone else's behalf. Errors name the file. */
#pragma once
#include <glib.h>
#include "cv-error.h"

G_BEGIN_DECLS

/* Firmware images are a few MiB; this bounds what a wrong path (a disk image) costs */
#define CV_MEASURE_IMAGE_MAX (256u << 20)

GBytes *cv_measure_read_image(const char *path, GError **error);
/* The same from a descriptor the caller opened and checked (the manager's image directories); `what`
 * names it in errors. fd is read from where it stands, not closed. */
GBytes *cv_measure_read_image_fd(int fd, const char *what, GError **error);
gboolean cv_measure_sha256_fd(int fd, const char *what, guint8 digest[32], GError **error);
/* SHA-256 of a file's contents; NULL path: of nothing */
gboolean cv_measure_sha256_file(const char *path, guint8 digest[32], GError **error);
/* SHA-256 of memory */
gboolean cv_measure_sha256_mem(const void *data, gsize len, guint8 digest[32]);
/* The size of a file (a variable store given by --vars-file) */
gboolean cv_measure_file_size(const char *path, guint64 *size, GError **error);

G_END_DECLS
