/* Small parsers and helpers shared by every program: sizes, durations, hex,
 * hashes, OpenSSL error text. Each returns FALSE/NULL with a CV_ERROR_INVALID
 * that names what was wrong. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include "cv-error.h"

G_BEGIN_DECLS

/* "2048M", "4G", "512K", "1073741824" → bytes; refuses 0, garbage and overflow. */
gboolean cv_parse_size(const char *text, guint64 *bytes, GError **error);
/* "90s", "15m", "1h", "2d", "30" (seconds) → seconds; refuses 0 and garbage. */
gboolean cv_parse_duration(const char *text, guint64 *seconds, GError **error);
/* strict base-10 unsigned, whole string, within [min, max] */
gboolean cv_parse_uint(const char *text, guint64 min, guint64 max, guint64 *out, GError **error);
/* "0x30000" or "196608" */
gboolean cv_parse_hex_or_uint(const char *text, guint64 *out, GError **error);

char *cv_hex_encode(const guint8 *data, gsize len);
/* Hex of the bytes; NULL for NULL, so that a failed digest passes straight through. Takes the reference. */
char *cv_hex_encode_take(GBytes *bytes);
/* strict: even length, only hex digits; returns NULL + error otherwise */
GBytes *cv_hex_decode(const char *text, GError **error);
/* strict base64 decode (g_base64_decode accepts anything) */
GBytes *cv_base64_decode_strict(const char *text, GError **error);

/* SHA-256 / SHA3-256 / SHA-384 over memory, raw digest */
GBytes *cv_digest(const char *algorithm, const void *data, gsize len, GError **error);
char *cv_digest_hex(const char *algorithm, const void *data, gsize len, GError **error);
/* SHA3-256 of a file, streamed, hex */
char *cv_file_digest_hex(const char *algorithm, const char *path, GError **error);

/* Pops OpenSSL's error queue into one line of text for an error message. */
char *cv_openssl_error_text(void);

/* Reads a whole file, refusing files larger than max_bytes. */
GBytes *cv_read_file(const char *path, gsize max_bytes, GError **error);
/* Writes atomically with the given mode (0600 for secrets). */
gboolean cv_write_file(const char *path, const void *data, gsize len, int mode, GError **error);

/* JSON: the one way text from outside becomes a JsonNode; json-glib sees it only after
 * cv_json_check() (cv-json.h) passed it, and len < 0 means NUL-terminated. */
JsonNode *cv_json_parse(const char *text, gssize len, GError **error);
char *cv_json_to_string(JsonNode *node, gboolean pretty);
/* Digest of a JSON document's RFC 8785 canonical form (cv-jcs.h): the same for any white space and
 * member order. The manifest hash bound into attestation is this SHA-256 (docs/manifest.md): the manager
 * sends the manifest re-serialised from the CVM spec, and users hash their own file. */
GBytes *cv_json_canonical_digest(const char *algorithm, const char *json, gssize len, GError **error);

/* "RFC 3339" UTC timestamp text for a unix time */
char *cv_time_format(gint64 unix_seconds);

G_END_DECLS
