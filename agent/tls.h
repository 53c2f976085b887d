/* The agent's TLS identity: an EC P-256 key and a self-signed certificate made
 * at start, in memory only; its public key's SHA-256 goes into Hello and the evidence. */
#pragma once
#include <gio/gio.h>

G_BEGIN_DECLS
GTlsCertificate *cv_agent_tls_identity_new(guint8 pubkey_sha256[32], GError **error);
G_END_DECLS
