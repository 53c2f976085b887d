/* covirt-agent's HTTPS API (docs/agent.md) defined once: its routes, header names and limits.
 * agent/api.c serves them; the agent client, the attestation client and covirt's commands call them. */
#pragma once

/* routes; a wheel's or dataset's file name follows its prefix, percent-encoded */
#define CV_AGENT_API_STATE "/v1/state"
#define CV_AGENT_API_CHALLENGE "/v1/challenge"
#define CV_AGENT_API_ALGORITHM "/v1/algorithm"
#define CV_AGENT_API_REQUIREMENTS "/v1/algorithm/requirements"
#define CV_AGENT_API_WHEELS_PREFIX "/v1/algorithm/wheels/"
#define CV_AGENT_API_DATASETS_PREFIX "/v1/datasets/"
#define CV_AGENT_API_RESULT "/v1/result"
#define CV_AGENT_API_ATTESTATION "/v1/attestation"           /* GET ?nonce=HEX */
#define CV_AGENT_API_ATTESTATION_NONCE "nonce"
#define CV_AGENT_API_CREDENTIAL "/v1/attestation/credential" /* POST, vtpm */

/* a signed request (docs/agent.md, "Signed requests") */
#define CV_AGENT_API_HDR_CHALLENGE "X-Covirt-Challenge"
#define CV_AGENT_API_HDR_SIGNATURE "X-Covirt-Signature"
#define CV_AGENT_API_HDR_CONTENT_SHA3 "X-Covirt-Content-SHA3-256"

/* limits the agent enforces */
#define CV_AGENT_API_REQUIREMENTS_MAX (1024 * 1024) /* bytes of a requirements file */
#define CV_AGENT_API_CREDENTIAL_MAX (64 * 1024)     /* bytes of a credential request */
#define CV_AGENT_API_SIGNATURE_MAX 1024             /* bytes of a decoded signature */
#define CV_AGENT_API_UPLOADS_MAX 8                  /* uploads in progress at once; more get 503 */
