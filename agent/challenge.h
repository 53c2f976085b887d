/* Single-use challenges for signed requests (docs/agent.md, "Signed requests"). A challenge is sealed,
 * not stored: its issue time and random bytes carry an HMAC under a key made at start, so issuing keeps
 * no state and no client, however many challenges it asks for, can push out another's. Only spent
 * challenges are remembered, until they expire, so that a captured request cannot be replayed; one is
 * spent only once a signature over it has verified, so an anonymous client cannot fill that table. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

#define CV_AGENT_CHALLENGE_SIZE 32
#define CV_AGENT_CHALLENGE_TTL_S 60
/* spent challenges remembered at once (about 80 bytes each); when full, signed requests get 503 until
 * some expire: never forgotten early, which would let a request be replayed */
#define CV_AGENT_CHALLENGE_SPENT_MAX 16384

typedef struct _CvAgentChallenges CvAgentChallenges;

CvAgentChallenges *cv_agent_challenges_new(GError **error);
void cv_agent_challenges_free(CvAgentChallenges *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvAgentChallenges, cv_agent_challenges_free)

/* A fresh challenge as hex (CV_AGENT_CHALLENGE_SIZE bytes). */
char *cv_agent_challenges_issue(CvAgentChallenges *c, GError **error);
/* A challenge this agent issued, unexpired and not spent: its raw bytes in out; otherwise
 * CV_ERROR_UNAUTHORIZED. Spends nothing. */
gboolean cv_agent_challenges_check(CvAgentChallenges *c, const char *hex, guint8 out[CV_AGENT_CHALLENGE_SIZE],
                                   GError **error);
/* Spends a checked challenge (a signature over it verified): it cannot be used again.
 * CV_ERROR_UNAVAILABLE when CV_AGENT_CHALLENGE_SPENT_MAX unexpired ones are spent already. */
gboolean cv_agent_challenges_spend(CvAgentChallenges *c, const guint8 raw[CV_AGENT_CHALLENGE_SIZE],
                                   GError **error);

G_END_DECLS
