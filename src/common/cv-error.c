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

CvErrorCode
cv_error_code_from_http_status(guint status, CvErrorCode otherwise)
{
    switch (status) {
    case 400: return CV_ERROR_INVALID;
    case 401: return CV_ERROR_UNAUTHORIZED;
    case 403: return CV_ERROR_FORBIDDEN;
    case 404: return CV_ERROR_NOT_FOUND;
    case 409: return CV_ERROR_CONFLICT;
    case 413: return CV_ERROR_TOO_LARGE;
    case 501:
    case 503: return CV_ERROR_UNAVAILABLE;
    default: return otherwise;
    }
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
