#include "cv-tss.h"
#include "cv-error.h"

#include <tss2/tss2_rc.h>

gboolean
cv_tss_check(TSS2_RC rc, const char *what, GError **error)
{
    if (rc == TSS2_RC_SUCCESS)
        return TRUE;
    g_set_error(error, CV_ERROR, CV_ERROR_TPM, "%s: %s (0x%x)", what, Tss2_RC_Decode(rc), rc);
    return FALSE;
}

gboolean
cv_tss_check_input(TSS2_RC rc, const char *what, GError **error)
{
    if (rc == TSS2_RC_SUCCESS)
        return TRUE;
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: %s (0x%x)", what, Tss2_RC_Decode(rc), rc);
    return FALSE;
}

gboolean
cv_tss_check_as(TSS2_RC rc, const char *what, int code, GError **error)
{
    if (rc == TSS2_RC_SUCCESS)
        return TRUE;
    g_set_error(error, CV_ERROR, code, "%s: %s (0x%x)", what, Tss2_RC_Decode(rc), rc);
    return FALSE;
}
