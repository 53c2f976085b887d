/* Helpers shared by the platform verifiers: certificate loading and chain checks with a settable
 * time, raw ECDSA signatures, policy value reading. Internal to src/attest. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "cv-autoptr.h"
#include "verdict.h"

G_BEGIN_DECLS

/* Little-endian fields of reports and quotes, read from any alignment. */
static inline guint16
cv_attest_le16(const guint8 *p)
{
    return (guint16)(p[0] | p[1] << 8);
}

static inline guint32
cv_attest_le32(const guint8 *p)
{
    return (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
}

static inline guint64
cv_attest_le64(const guint8 *p)
{
    return (guint64)cv_attest_le32(p) | (guint64)cv_attest_le32(p + 4) << 32;
}

/* Every certificate in a PEM text (at least one), in file order. */
CvX509Stack *cv_attest_pem_certs(const void *pem, gsize len, GError **error);
/* One certificate, DER or PEM. */
X509 *cv_attest_load_cert(const void *data, gsize len, GError **error);
/* Verifies leaf → intermediates → a self-signed root in `roots`, as of at_unix_time (0 = now).
 * Partial chains are refused: the chain must end at one of `roots`. */
gboolean cv_attest_verify_chain(X509 *leaf, STACK_OF(X509) *intermediates, STACK_OF(X509) *roots,
                                gint64 at_unix_time, GError **error);
/* ECDSA with r, s given as fixed-size integers (big-endian unless little_endian). */
gboolean cv_attest_ecdsa_verify(EVP_PKEY *key, const EVP_MD *md, const guint8 *msg, gsize msg_len,
                                const guint8 *r, gsize r_len, const guint8 *s, gsize s_len,
                                gboolean little_endian, GError **error);
/* EC P-256 public key from 64 raw bytes x ‖ y */
EVP_PKEY *cv_attest_p256_from_xy(const guint8 xy[64], GError **error);
char *cv_attest_cert_subject(X509 *cert);

/* Policy readers. Absent member → FALSE with no error (the check is "not checked"). A present member
 * of the wrong type or size → FALSE with an error. */
gboolean cv_attest_policy_hex(JsonObject *policy, const char *member, gsize size, GPtrArray **values,
                              GError **error);
gboolean cv_attest_policy_uint(JsonObject *policy, const char *member, guint64 max, guint64 *value,
                               GError **error);
gboolean cv_attest_policy_bool(JsonObject *policy, const char *member, gboolean fallback, gboolean *value,
                               GError **error);

/* Adds a check that compares `seen` to a set of allowed values (GBytes): pass when it equals one,
 * fail otherwise; not checked when allowed is NULL. */
void cv_attest_check_bytes(CvAttestVerdict *verdict, const char *name, const guint8 *seen, gsize len,
                           GPtrArray *allowed);

/* cv_attest_check_bytes against the policy's `member`; a malformed member fails the check with the
 * policy's error (prefixed with the seen value's hex when show_seen: SNP reports print it, TDX does not). */
void cv_attest_check_policy_bytes(CvAttestVerdict *verdict, JsonObject *policy, const char *member,
                                  const char *name, const guint8 *seen, gsize len, gboolean show_seen);

G_END_DECLS
