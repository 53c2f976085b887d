#include "cv-error.h"

G_DEFINE_QUARK(covirt-error-quark, cv_error)

guint
cv_error_http_status(const GError *error)
{
    if (!error || error->domain != CV_ERROR)
        return 500;
    switch ((CvErrorCode)error->code) {
    case CV_ERROR_INVALID: return 400;
    case CV_ERROR_UNAUTHORIZED: return 401;
    case CV_ERROR_FORBIDDEN: return 403;
    case CV_ERROR_NOT_FOUND: return 404;
    case CV_ERROR_CONFLICT: return 409;
    case CV_ERROR_TOO_LARGE: return 413;
    case CV_ERROR_VERIFY: return 422;
    case CV_ERROR_UNAVAILABLE: return 503;
    case CV_ERROR_INTERNAL:
    case CV_ERROR_IO:
    case CV_ERROR_TPM:
        break;
    }
    return 500;
}

int
cv_error_exit_code(const GError *error)
{
    if (!error || error->domain != CV_ERROR)
        return 1;
    switch ((CvErrorCode)error->code) {
    case CV_ERROR_INVALID: return 2;
    case CV_ERROR_VERIFY: return 3;
    case CV_ERROR_NOT_FOUND: return 4;
    case CV_ERROR_CONFLICT: return 5;
    case CV_ERROR_UNAUTHORIZED:
    case CV_ERROR_FORBIDDEN: return 6;
    case CV_ERROR_UNAVAILABLE: return 7;
    default: return 1;
    }
}

const char *
cv_error_code_name(const GError *error)
{
    if (!error || error->domain != CV_ERROR)
        return "internal";
    switch ((CvErrorCode)error->code) {
    case CV_ERROR_INVALID: return "invalid";
    case CV_ERROR_NOT_FOUND: return "not_found";
    case CV_ERROR_CONFLICT: return "conflict";
    case CV_ERROR_TOO_LARGE: return "too_large";
    case CV_ERROR_UNAUTHORIZED: return "unauthorized";
    case CV_ERROR_FORBIDDEN: return "forbidden";
    case CV_ERROR_UNAVAILABLE: return "unavailable";
    case CV_ERROR_IO: return "io";
    case CV_ERROR_VERIFY: return "verification_failed";
    case CV_ERROR_TPM: return "tpm";
    case CV_ERROR_INTERNAL: break;
    }
    return "internal";
}
