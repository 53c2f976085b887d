#include "challenge.h"
#include "cv-error.h"
#include "cv-util.h"

#include <string.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

struct _CvAgentChallenges {
    GHashTable *issued;  /* hex → expiry (monotonic µs) */
    GQueue order;        /* hex, oldest first; may hold ones already used */
};

CvAgentChallenges *
cv_agent_challenges_new(void)
{
    CvAgentChallenges *c = g_new0(CvAgentChallenges, 1);

    c->issued = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_queue_init(&c->order);
    return c;
}

void
cv_agent_challenges_free(CvAgentChallenges *c)
{
    if (!c)
        return;
    g_hash_table_unref(c->issued);
    g_queue_clear_full(&c->order, g_free);
    g_free(c);
}

char *
cv_agent_challenges_issue(CvAgentChallenges *c, GError **error)
{
    guint8 raw[CV_AGENT_CHALLENGE_SIZE];
    gint64 *expiry;
    char *hex;

    /* GnuTLS, not OpenSSL: user-key.h says why */
    if (gnutls_rnd(GNUTLS_RND_RANDOM, raw, sizeof(raw)) < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "no randomness for a challenge");
        return NULL;
    }
    while (g_queue_get_length(&c->order) >= CV_AGENT_CHALLENGE_MAX) {
        g_autofree char *old = g_queue_pop_head(&c->order);
        g_hash_table_remove(c->issued, old);
    }
    hex = cv_hex_encode(raw, sizeof(raw));
    expiry = g_new(gint64, 1);
    *expiry = g_get_monotonic_time() + CV_AGENT_CHALLENGE_TTL_S * G_USEC_PER_SEC;
    g_hash_table_insert(c->issued, g_strdup(hex), expiry);
    g_queue_push_tail(&c->order, g_strdup(hex));
    return hex;
}

gboolean
cv_agent_challenges_consume(CvAgentChallenges *c, const char *hex, guint8 out[CV_AGENT_CHALLENGE_SIZE],
                            GError **error)
{
    g_autoptr(GBytes) raw = NULL;
    gpointer key = NULL, value = NULL;
    gint64 expiry;

    if (!hex || !g_hash_table_steal_extended(c->issued, hex, &key, &value)) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAUTHORIZED,
                    "challenge unknown or already used (get a fresh one from /v1/challenge)");
        return FALSE;
    }
    expiry = *(gint64 *)value;
    g_free(key);
    g_free(value);
    if (g_get_monotonic_time() > expiry) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAUTHORIZED, "challenge expired");
        return FALSE;
    }
    raw = cv_hex_decode(hex, NULL);
    if (!raw || g_bytes_get_size(raw) != CV_AGENT_CHALLENGE_SIZE) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAUTHORIZED, "malformed challenge");
        return FALSE;
    }
    memcpy(out, g_bytes_get_data(raw, NULL), CV_AGENT_CHALLENGE_SIZE);
    return TRUE;
}
