/* The one place where tpm2-tss return codes become GErrors (CV_ERROR_TPM), keeping
 * Tss2_RC_Decode()'s text, which names the layer (esys, mu, tcti, tpm) and the code. */
#pragma once
#include <glib.h>
#include <tss2/tss2_common.h>

G_BEGIN_DECLS

/* Sets error to "WHAT: <decoded rc>" and returns FALSE; returns TRUE (no error) for TSS2_RC_SUCCESS. */
gboolean cv_tss_check(TSS2_RC rc, const char *what, GError **error);
/* Same for parsing outside input with Tss2_MU_*: a failure is the input's fault (CV_ERROR_INVALID). */
gboolean cv_tss_check_input(TSS2_RC rc, const char *what, GError **error);

/* Same, with the CV_ERROR code the caller knows fits (e.g. CV_ERROR_INVALID when the TPM refused
 * data that came from outside). */
gboolean cv_tss_check_as(TSS2_RC rc, const char *what, int code, GError **error);

G_END_DECLS
