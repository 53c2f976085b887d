/* Files read on someone else's behalf (a CVM spec's kernel, a policy's initrd): checked on the
 * descriptor that is then read, so that what was checked is what is read. */
#pragma once
#include <glib.h>
#include <gio/gio.h>
#include "cv-error.h"

G_BEGIN_DECLS

/* A descriptor that closes itself: g_auto(CvFd) fd = -1; */
typedef int CvFd;
void cv_fd_close(CvFd fd);
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(CvFd, cv_fd_close, -1)

/* Opens path for reading (O_CLOEXEC) when it is a regular file of at most max_bytes: a symlink as
 * its last component is not followed (O_NOFOLLOW) and a FIFO or a device does not block the open
 * (O_NONBLOCK); fstat then decides. size_out (may be NULL) gets the file's size. -1 and an error
 * otherwise. */
int cv_file_open_regular(const char *path, guint64 max_bytes, guint64 *size_out, GError **error);
/* The rest of fd, refused beyond max_bytes; what names the file in messages. */
GBytes *cv_file_read_fd(int fd, gsize max_bytes, const char *what, GError **error);
/* The rest of a stream (an HTTP answer), refused beyond max_bytes: a hostile peer must not make us
 * buffer gigabytes; what names it in messages ("the agent's answer"). */
GBytes *cv_stream_read_bounded(GInputStream *in, gsize max_bytes, const char *what, GError **error);
/* Hex digest (OpenSSL's name: "SHA256") of the rest of fd. */
char *cv_file_digest_fd_hex(const char *algorithm, int fd, const char *what, GError **error);

/* rename() that never replaces dst (EEXIST then). */
int cv_file_rename_noreplace(const char *src, const char *dst);
/* Removes path and all below it, symlinks not followed. */
void cv_file_remove_tree(const char *path);
G_END_DECLS
