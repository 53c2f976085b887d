/* SHA3-256 of a buffer, with GnuTLS as upload-sink.c streams it (cv-user-key.h says why not OpenSSL). */
#pragma once
#include <glib.h>

G_BEGIN_DECLS
gboolean cv_agent_sha3_256(const void *data, gsize len, guint8 out[32], GError **error);
/* 64 lowercase hex digits */
char *cv_agent_sha3_256_hex(const void *data, gsize len, GError **error);
G_END_DECLS
