/* RFC 8785 JSON Canonicalization Scheme (JCS): the one byte form of a JSON value that a hash or a
 * signature covers (the manifest hash bound into attestation, the KBS protocol's messages), which a
 * client in any language reproduces with its own JCS library. */
#pragma once
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The canonical UTF-8 text of `node`, NUL-terminated: members sorted by their names' UTF-16 code
 * units, no white space, strings escaped as ECMAScript's JSON.stringify does, numbers as
 * ECMAScript's Number.prototype.toString writes the IEEE 754 double they stand for (a json-glib
 * int64 too: past 2^53 it becomes the nearest double, as in any JavaScript reader).
 * CV_ERROR_INVALID for what I-JSON cannot hold: a NaN or infinite number, a string or name that is
 * not valid UTF-8 (a lone surrogate cannot be), nesting deeper than CV_JSON_MAX_DEPTH. */
char *cv_jcs_serialize(JsonNode *node, GError **error);

/* SHA-256 over cv_jcs_serialize(node); `out` untouched on failure */
gboolean cv_jcs_sha256(JsonNode *node, guint8 out[32], GError **error);

G_END_DECLS
