/* A challenge's 32 bytes: issue time (8, big-endian, monotonic µs) ‖ random (8) ‖ the first 16 bytes of
 * HMAC-SHA256(key, time ‖ random). GnuTLS, not OpenSSL: cv-user-key.h says why. */
#include "challenge.h"
#include "cv-error.h"
#include "cv-util.h"

#include <string.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

#define SEALED 16   /* time ‖ random */
#define TAG 16

typedef struct {
    guint8 raw[CV_AGENT_CHALLENGE_SIZE];
    gint64 expiry;  /* monotonic µs */
} Spent;

struct _CvAgentChallenges {
    guint8 key[32];
    GHashTable *spent;   /* Spent set, by raw bytes */
    gint64 next_sweep;   /* monotonic µs: a full table is swept at most once a second */
};

static guint
spent_hash(gconstpointer p)
{
    const Spent *s = p;
    guint h;

    /* the tag's bytes: unpredictable to a client, so no one picks colliding challenges */
    memcpy(&h, s->raw + SEALED, sizeof(h));
    return h;
}

static gboolean
spent_equal(gconstpointer a, gconstpointer b)
{
    return memcmp(((const Spent *)a)->raw, ((const Spent *)b)->raw, CV_AGENT_CHALLENGE_SIZE) == 0;
}

CvAgentChallenges *
cv_agent_challenges_new(GError **error)
{
    g_autoptr(CvAgentChallenges) c = g_new0(CvAgentChallenges, 1);

    c->spent = g_hash_table_new_full(spent_hash, spent_equal, g_free, NULL);
    if (gnutls_rnd(GNUTLS_RND_KEY, c->key, sizeof(c->key)) < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "no randomness for the challenge key");
        return NULL;
    }
    return g_steal_pointer(&c);
}

void
cv_agent_challenges_free(CvAgentChallenges *c)
{
    if (!c)
        return;
    gnutls_memset(c->key, 0, sizeof(c->key));
    g_hash_table_unref(c->spent);
    g_free(c);
}

static gboolean
seal(CvAgentChallenges *c, const guint8 sealed[SEALED], guint8 tag[TAG])
{
    guint8 mac[32];

    if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, c->key, sizeof(c->key), sealed, SEALED, mac) < 0)
        return FALSE;
    memcpy(tag, mac, TAG);
    return TRUE;
}

char *
cv_agent_challenges_issue(CvAgentChallenges *c, GError **error)
{
    guint8 raw[CV_AGENT_CHALLENGE_SIZE];
    guint64 now = GUINT64_TO_BE((guint64)g_get_monotonic_time());

    memcpy(raw, &now, 8);
    if (gnutls_rnd(GNUTLS_RND_NONCE, raw + 8, 8) < 0 || !seal(c, raw, raw + SEALED)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "cannot make a challenge");
        return NULL;
    }
    return cv_hex_encode(raw, sizeof(raw));
}

static gint64
issued_at(const guint8 raw[CV_AGENT_CHALLENGE_SIZE])
{
    guint64 be;

    memcpy(&be, raw, 8);
    return (gint64)GUINT64_FROM_BE(be);
}

gboolean
cv_agent_challenges_check(CvAgentChallenges *c, const char *hex, guint8 out[CV_AGENT_CHALLENGE_SIZE],
                          GError **error)
{
    g_autoptr(GBytes) bytes = hex && strlen(hex) == 2 * CV_AGENT_CHALLENGE_SIZE ? cv_hex_decode(hex, NULL) : NULL;
    Spent probe = { 0 };
    guint8 tag[TAG];
    guint8 diff = 0;
    gint64 age;

    if (bytes && g_bytes_get_size(bytes) == CV_AGENT_CHALLENGE_SIZE) {
        memcpy(probe.raw, g_bytes_get_data(bytes, NULL), CV_AGENT_CHALLENGE_SIZE);
        diff = seal(c, probe.raw, tag) ? 0 : 1;
        for (guint i = 0; i < TAG; i++)   /* constant time: the tag is the secret part */
            diff |= tag[i] ^ probe.raw[SEALED + i];
    }
    if (!bytes || diff || g_hash_table_contains(c->spent, &probe)) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAUTHORIZED,
                    "challenge unknown or already used (get a fresh one from /v1/challenge)");
        return FALSE;
    }
    age = g_get_monotonic_time() - issued_at(probe.raw);
    if (age < 0 || age > CV_AGENT_CHALLENGE_TTL_S * G_USEC_PER_SEC) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAUTHORIZED, "challenge expired");
        return FALSE;
    }
    memcpy(out, probe.raw, CV_AGENT_CHALLENGE_SIZE);
    return TRUE;
}

static gboolean
spent_expired(gpointer key, gpointer value, gpointer now)
{
    return ((Spent *)key)->expiry < *(gint64 *)now;
}

gboolean
cv_agent_challenges_spend(CvAgentChallenges *c, const guint8 raw[CV_AGENT_CHALLENGE_SIZE], GError **error)
{
    gint64 now = g_get_monotonic_time();
    Spent *s;

    if (g_hash_table_size(c->spent) >= CV_AGENT_CHALLENGE_SPENT_MAX && now >= c->next_sweep) {
        g_hash_table_foreach_remove(c->spent, spent_expired, &now);
        c->next_sweep = now + G_USEC_PER_SEC;
    }
    if (g_hash_table_size(c->spent) >= CV_AGENT_CHALLENGE_SPENT_MAX) {
        g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE,
                    "%d signed requests in the last %d s: try again shortly", CV_AGENT_CHALLENGE_SPENT_MAX,
                    CV_AGENT_CHALLENGE_TTL_S);
        return FALSE;
    }
    s = g_new(Spent, 1);
    memcpy(s->raw, raw, CV_AGENT_CHALLENGE_SIZE);
    s->expiry = issued_at(raw) + CV_AGENT_CHALLENGE_TTL_S * G_USEC_PER_SEC;
    g_hash_table_add(c->spent, s);
    return TRUE;
}
