/* What the agent's API tests (test-agent-api.c, test-agent-limits.c) share: users' keys, files and
 * digests, and a client of the agent under test. Every failure is a test assertion. */
#pragma once
#include <glib.h>
#include "agent-client.h"

/* A private key of `type` ("rsa", "ecdsa", anything else Ed25519) written 0600 as DIR/NAME; its public
 * key as PEM in *pub. */
void agent_test_make_key(const char *dir, const char *name, const char *type, char **key_path, char **pub);
char *agent_test_sha3(const char *path);
/* DIR/NAME holding text; the path */
char *agent_test_write(const char *dir, const char *name, const char *text);
CvAgentClient *agent_test_client(const char *url, const char *key);
void agent_test_upload_ok(CvAgentClient *c, const char *path, const char *file);
/* the agent's state from GET /v1/state */
char *agent_test_state(const char *url);
