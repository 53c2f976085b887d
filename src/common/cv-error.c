#include "cv-error.h"

G_DEFINE_QUARK(covirt-error-quark, cv_error)

/* One row per code, in the enum's order: both directions of the status map, the exit code and
 * the name read from here only. */
static const struct {
    const char *name;
    guint status;
    int exit_code;
} codes[] = {
    [CV_ERROR_INTERNAL] = { "internal", 500, 1 },
    [CV_ERROR_INVALID] = { "invalid", 400, 2 },
    [CV_ERROR_NOT_FOUND] = { "not_found", 404, 4 },
    [CV_ERROR_CONFLICT] = { "conflict", 409, 5 },
    [CV_ERROR_TOO_LARGE] = { "too_large", 413, 1 },
    [CV_ERROR_UNAUTHORIZED] = { "unauthorized", 401, 6 },
    [CV_ERROR_FORBIDDEN] = { "forbidden", 403, 6 },
    [CV_ERROR_UNAVAILABLE] = { "unavailable", 503, 7 },
    [CV_ERROR_IO] = { "io", 500, 1 },
    [CV_ERROR_VERIFY] = { "verification_failed", 422, 3 },
    [CV_ERROR_TPM] = { "tpm", 500, 1 },
    [CV_ERROR_NOT_SUPPORTED] = { "not_supported", 501, 7 },
};
G_STATIC_ASSERT(G_N_ELEMENTS(codes) == CV_ERROR_CODE_END);

/* errors of other domains, and codes outside the table, count as internal */
static CvErrorCode
code_of(const GError *error)
{
    if (!error || error->domain != CV_ERROR || error->code < CV_ERROR_INTERNAL || error->code >= CV_ERROR_CODE_END)
        return CV_ERROR_INTERNAL;
    return (CvErrorCode)error->code;
}

guint
cv_error_http_status(const GError *error)
{
    return codes[code_of(error)].status;
}

CvErrorCode
cv_error_code_from_http_status(guint status, CvErrorCode otherwise)
{
    CvErrorCode found = otherwise;
    guint n = 0;

    for (int c = CV_ERROR_INTERNAL; c < CV_ERROR_CODE_END; c++) {
        if (codes[c].status == status) {
            found = (CvErrorCode)c;
            n++;
        }
    }
    return n == 1 ? found : otherwise;
}

int
cv_error_exit_code(const GError *error)
{
    return codes[code_of(error)].exit_code;
}

const char *
cv_error_code_name(const GError *error)
{
    return codes[code_of(error)].name;
}
