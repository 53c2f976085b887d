/* What the agent's API tests (test-agent-api.c, test-agent-limits.c) share: users' keys, files and
 * digests, and a client of the agent under test. Every failure is a test assertion. */
#pragma once
#include <glib.h>
#include "agent-client.h"

/* A private key of `type` ("rsa", "ecdsa", anything else Ed25519) written 0600 as DIR/NAME; its public
 * key as PEM in *pub. */
void agent_test_make_key(const char *dir, const char *name, const char *type, char **key_path, char **pub);
char *agent_test_sha3(const char *path);
/* a manifest entry's "hash" (SHA3-256 of file) and "userKey" (the uploader's PEM) members */
void agent_test_add_upload(JsonBuilder *b, const char *file, const char *pub);
/* DIR/NAME holding text; the path */
char *agent_test_write(const char *dir, const char *name, const char *text);
CvAgentClient *agent_test_client(const char *url, const char *key);
void agent_test_upload_ok(CvAgentClient *c, const char *path, const char *file);
/* the agent's state from GET /v1/state */
char *agent_test_state(const char *url);

/* ---- the agent process: started by each test its own way, through these ---- */
#include <gio/gio.h>
#include "frame.h"
/* A launcher whose child dies with the test (a failed assertion skips the teardown) and, under ASan,
 * runs without leak detection: GCC 12's LeakSanitizer crashes at the exit of a process whose threads
 * carry glib-networking's TLS; the agent's leaks are checked by the in-process tests. */
GSubprocessLauncher *agent_test_launcher(void);
/* Waits (10 s) for the port the agent writes to --port-file; its https URL on 127.0.0.1. */
char *agent_test_wait_url(const char *port_file);
/* SIGTERM: the agent must exit 0. Drops the reference. */
void agent_test_stop(GSubprocess *agent);

/* ---- the manager's end of the control channel ---- */
void agent_test_send_frame(GSocketConnection *conn, const CvFrame *frame);
void agent_test_send_manifest(GSocketConnection *conn, const char *json);
void agent_test_send_stop(GSocketConnection *conn, const char *reason);
/* manifest_json NULL: a reset that carries none */
void agent_test_send_reset(GSocketConnection *conn, const char *manifest_json);
CvFrame *agent_test_read_frame(GSocketConnection *conn);

/* How agent_test_spawn() runs covirt-agent ($AGENT_BIN). */
typedef struct {
    const char *manifest;       /* --manifest=FILE, or NULL */
    const char *const *args;    /* more options, NULL-terminated, or NULL */
    const char *const *env;     /* "NAME", "VALUE" pairs for its environment, NULL-terminated, or NULL */
    const char *log;            /* its stderr into this file, or NULL */
} AgentTestStart;
/* covirt-agent on a free loopback port with WORK as its work dir (its port file in DIR); its URL into *url. */
GSubprocess *agent_test_spawn(const char *dir, const char *work, const AgentTestStart *how, char **url);
