#include "sha3.h"
#include "cv-error.h"
#include "cv-util.h"

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

gboolean
cv_agent_sha3_256(const void *data, gsize len, guint8 out[32], GError **error)
{
    int rc = gnutls_hash_fast(GNUTLS_DIG_SHA3_256, data, len, out);

    if (rc < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "SHA3-256: %s", gnutls_strerror(rc));
        return FALSE;
    }
    return TRUE;
}

char *
cv_agent_sha3_256_hex(const void *data, gsize len, GError **error)
{
    guint8 d[32];

    if (!cv_agent_sha3_256(data, len, d, error))
        return NULL;
    return cv_hex_encode(d, sizeof(d));
}
