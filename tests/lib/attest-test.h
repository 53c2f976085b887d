/* What the attestation tests share: test vectors, policies from text, verdict assertions. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include "verdict.h"

/* g_test_init(), and an exit with a message when $COVIRT_TESTVECTORS is not set. */
void attest_test_init(int *argc, char ***argv);

/* A file under $COVIRT_TESTVECTORS (../shared/testvectors), e.g. "sev-snp/milan-report.bin"; the
 * test fails when it cannot be read. */
GBytes *attest_test_vector(const char *relative_path);

/* A JSON object from text (a policy); the test fails when it does not parse. */
JsonObject *attest_test_policy_object(const char *json);

/* `template` with each @NAME@ replaced: pairs of NAME and value, NULL after the last. */
char *attest_test_fill(const char *template, ...) G_GNUC_NULL_TERMINATED;

/* The verdict has check `name` with this status; otherwise the whole verdict is printed first. */
void attest_test_assert_status(CvAttestVerdict *verdict, const char *name, CvAttestStatus status);
