/* covirt's one error domain: each code has one HTTP status (cv_error_http_status, and back with
 * cv_error_code_from_http_status) and one CLI exit code (cv_error_exit_code), all in one table in
 * cv-error.c, so a typed error crosses every boundary. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

#define CV_ERROR (cv_error_quark())
GQuark cv_error_quark(void);

typedef enum {
    CV_ERROR_INTERNAL = 1,   /* a bug or an unexpected library failure: 500 */
    CV_ERROR_INVALID,        /* bad input from a user, a guest or the network: 400 */
    CV_ERROR_NOT_FOUND,      /* 404 */
    CV_ERROR_CONFLICT,       /* name taken, wrong state: 409 */
    CV_ERROR_TOO_LARGE,      /* body or file over a limit: 413 */
    CV_ERROR_UNAUTHORIZED,   /* missing or bad credentials or signature: 401 */
    CV_ERROR_FORBIDDEN,      /* authenticated but not allowed: 403 */
    CV_ERROR_UNAVAILABLE,    /* libvirt away, capacity reached: 503 */
    CV_ERROR_IO,             /* file or socket failure: 500 */
    CV_ERROR_VERIFY,         /* evidence does not verify or does not meet the policy: 422 */
    CV_ERROR_TPM,            /* a tpm2-tss layer failed (cv-tss.c keeps the decoded text): 500 */
    CV_ERROR_NOT_SUPPORTED,  /* not built in or not configured here (an agent without a platform): 501 */
    CV_ERROR_CODE_END        /* one past the last code */
} CvErrorCode;

/* 500 for errors of other domains */
guint cv_error_http_status(const GError *error);
/* The other way, for clients of the manager and the agent: the code a 4xx/5xx answer stands for.
 * A status no code has, or several codes share (500), gives `otherwise`. */
CvErrorCode cv_error_code_from_http_status(guint status, CvErrorCode otherwise);
int cv_error_exit_code(const GError *error);
/* the code's name in a JSON error body ("invalid", "not_found", ...) */
const char *cv_error_code_name(const GError *error);

G_END_DECLS
