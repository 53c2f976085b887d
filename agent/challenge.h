/* Single-use challenges for signed requests: 32 random bytes, valid for a short
 * time, forgotten once used so a captured request cannot be replayed. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

#define CV_AGENT_CHALLENGE_SIZE 32
#define CV_AGENT_CHALLENGE_TTL_S 60
#define CV_AGENT_CHALLENGE_MAX 1024

typedef struct _CvAgentChallenges CvAgentChallenges;

CvAgentChallenges *cv_agent_challenges_new(void);
void cv_agent_challenges_free(CvAgentChallenges *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvAgentChallenges, cv_agent_challenges_free)

/* A fresh challenge as hex; the oldest is dropped when CV_AGENT_CHALLENGE_MAX are outstanding. */
char *cv_agent_challenges_issue(CvAgentChallenges *c, GError **error);
/* Takes the challenge out (whatever happens next, it cannot be used again);
 * CV_ERROR_UNAUTHORIZED when unknown, used or expired. */
gboolean cv_agent_challenges_consume(CvAgentChallenges *c, const char *hex, guint8 out[CV_AGENT_CHALLENGE_SIZE],
                                     GError **error);

G_END_DECLS
