#include "cv-util.h"
#include "cv-jcs.h"
#include "cv-autoptr.h"
#include "cv-json.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <openssl/err.h>
#include <openssl/evp.h>

gboolean
cv_parse_uint(const char *text, guint64 min, guint64 max, guint64 *out, GError **error)
{
    guint64 v = 0;

    if (!text || !*text || !g_ascii_isdigit(text[0])) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "'%s' is not a number", text ? text : "");
        return FALSE;
    }
    if (!g_ascii_string_to_unsigned(text, 10, min, max, &v, NULL)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "'%s' is not a number between %" G_GUINT64_FORMAT " and %" G_GUINT64_FORMAT,
                    text, min, max);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

gboolean
cv_parse_hex_or_uint(const char *text, guint64 *out, GError **error)
{
    guint64 v = 0;

    if (text && (g_str_has_prefix(text, "0x") || g_str_has_prefix(text, "0X"))) {
        const char *p = text + 2;
        if (!*p || strspn(p, "0123456789abcdefABCDEF") != strlen(p) ||
            !g_ascii_string_to_unsigned(p, 16, 0, G_MAXUINT64, &v, NULL)) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "'%s' is not a hexadecimal number", text);
            return FALSE;
        }
        *out = v;
        return TRUE;
    }
    return cv_parse_uint(text, 0, G_MAXUINT64, out, error);
}

/* Splits "123X" into number and unit; the unit is at most one or two letters. */
static gboolean
split_number_unit(const char *text, guint64 *number, const char **unit)
{
    const char *p = text;
    g_autofree char *digits = NULL;

    while (g_ascii_isdigit(*p))
        p++;
    if (p == text || p - text > 19)
        return FALSE;
    digits = g_strndup(text, p - text);
    if (!g_ascii_string_to_unsigned(digits, 10, 0, G_MAXUINT64, number, NULL))
        return FALSE;
    *unit = p;
    return TRUE;
}

gboolean
cv_parse_size(const char *text, guint64 *bytes, GError **error)
{
    static const struct { const char *unit; guint64 mult; } units[] = {
        { "", 1 }, { "B", 1 }, { "K", 1ULL << 10 }, { "KiB", 1ULL << 10 }, { "M", 1ULL << 20 },
        { "MiB", 1ULL << 20 }, { "G", 1ULL << 30 }, { "GiB", 1ULL << 30 }, { "T", 1ULL << 40 },
        { "TiB", 1ULL << 40 },
    };
    guint64 n = 0;
    const char *unit = NULL;

    if (!text || !split_number_unit(text, &n, &unit))
        goto bad;
    for (gsize i = 0; i < G_N_ELEMENTS(units); i++) {
        if (g_ascii_strcasecmp(unit, units[i].unit) != 0)
            continue;
        if (n == 0 || n > G_MAXUINT64 / units[i].mult)
            goto bad;
        *bytes = n * units[i].mult;
        return TRUE;
    }
 bad:
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                "'%s' is not a size (a positive number with K, M, G or T, e.g. 2048M or 4G)",
                text ? text : "");
    return FALSE;
}

gboolean
cv_parse_duration(const char *text, guint64 *seconds, GError **error)
{
    static const struct { const char *unit; guint64 mult; } units[] = {
        { "", 1 }, { "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 },
    };
    guint64 n = 0;
    const char *unit = NULL;

    if (!text || !split_number_unit(text, &n, &unit))
        goto bad;
    for (gsize i = 0; i < G_N_ELEMENTS(units); i++) {
        if (strcmp(unit, units[i].unit) != 0)
            continue;
        if (n == 0 || n > G_MAXINT32 / units[i].mult)
            goto bad;
        *seconds = n * units[i].mult;
        return TRUE;
    }
 bad:
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                "'%s' is not a duration (a positive number with s, m, h or d, e.g. 90s or 1h)",
                text ? text : "");
    return FALSE;
}

char *
cv_hex_encode(const guint8 *data, gsize len)
{
    static const char digits[] = "0123456789abcdef";
    char *out = g_malloc(len * 2 + 1);

    for (gsize i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0xf];
    }
    out[len * 2] = '\0';
    return out;
}

char *
cv_hex_encode_take(GBytes *bytes)
{
    g_autoptr(GBytes) b = bytes;
    gsize n = 0;
    const guint8 *p;

    if (!b)
        return NULL;
    p = g_bytes_get_data(b, &n);
    return cv_hex_encode(p, n);
}

GBytes *
cv_hex_decode(const char *text, GError **error)
{
    gsize len = text ? strlen(text) : 0;
    g_autofree guint8 *buf = NULL;

    if (!text || len % 2 != 0 || strspn(text, "0123456789abcdefABCDEF") != len) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "not a hexadecimal string of even length");
        return NULL;
    }
    buf = g_malloc(len / 2 + 1);
    for (gsize i = 0; i < len / 2; i++)
        buf[i] = (g_ascii_xdigit_value(text[2 * i]) << 4) | g_ascii_xdigit_value(text[2 * i + 1]);
    return g_bytes_new_take(g_steal_pointer(&buf), len / 2);
}

GBytes *
cv_base64_decode_strict(const char *text, GError **error)
{
    gsize len = text ? strlen(text) : 0;
    gsize pad = 0;
    gsize outlen = 0;
    guchar *out = NULL;

    /* g_base64_decode skips invalid characters silently; user input must not pass that way. */
    if (!text || len == 0 || len % 4 != 0)
        goto bad;
    for (gsize i = 0; i < len; i++) {
        char c = text[i];
        if (c == '=') {
            if (i < len - 2)
                goto bad;
            pad++;
        } else if (pad || !(g_ascii_isalnum(c) || c == '+' || c == '/')) {
            goto bad;
        }
    }
    out = g_base64_decode(text, &outlen);
    return g_bytes_new_take(out, outlen);
 bad:
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "not valid base64");
    return NULL;
}

/* The SHA-2 digests GLib has: OpenSSL 3's first fetch costs about 2 MiB of libcrypto
 * pages, which covirt-agent keeps out of its resident set (docs/agent.md, "Memory"). */
static gboolean
glib_checksum_type(const char *algorithm, GChecksumType *type)
{
    if (g_ascii_strcasecmp(algorithm, "SHA256") == 0 || g_ascii_strcasecmp(algorithm, "SHA2-256") == 0)
        *type = G_CHECKSUM_SHA256;
    else if (g_ascii_strcasecmp(algorithm, "SHA384") == 0 || g_ascii_strcasecmp(algorithm, "SHA2-384") == 0)
        *type = G_CHECKSUM_SHA384;
    else if (g_ascii_strcasecmp(algorithm, "SHA512") == 0 || g_ascii_strcasecmp(algorithm, "SHA2-512") == 0)
        *type = G_CHECKSUM_SHA512;
    else
        return FALSE;
    return TRUE;
}

GBytes *
cv_digest(const char *algorithm, const void *data, gsize len, GError **error)
{
    g_autoptr(EVP_MD) md = NULL;
    guint8 out[EVP_MAX_MD_SIZE];
    unsigned int outlen = 0;
    GChecksumType type;

    if (glib_checksum_type(algorithm, &type)) {
        g_autoptr(GChecksum) sum = g_checksum_new(type);
        gsize n = sizeof(out);
        g_checksum_update(sum, data, len);
        g_checksum_get_digest(sum, out, &n);
        return g_bytes_new(out, n);
    }
    md = EVP_MD_fetch(NULL, algorithm, NULL);
    if (!md || !EVP_Digest(data, len, out, &outlen, md, NULL)) {
        g_autofree char *why = cv_openssl_error_text();
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "digest %s failed: %s", algorithm, why);
        return NULL;
    }
    return g_bytes_new(out, outlen);
}

char *
cv_digest_hex(const char *algorithm, const void *data, gsize len, GError **error)
{
    return cv_hex_encode_take(cv_digest(algorithm, data, len, error));
}

char *
cv_file_digest_hex(const char *algorithm, const char *path, GError **error)
{
    g_autoptr(EVP_MD) md = EVP_MD_fetch(NULL, algorithm, NULL);
    g_autoptr(EVP_MD_CTX) ctx = EVP_MD_CTX_new();
    guint8 out[EVP_MAX_MD_SIZE];
    unsigned int outlen = 0;
    g_autofree guint8 *buf = g_malloc(1 << 16);
    int fd;
    ssize_t n;

    if (!md || !ctx || !EVP_DigestInit_ex(ctx, md, NULL)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "digest %s is not available", algorithm);
        return NULL;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot open %s: %s", path, g_strerror(errno));
        return NULL;
    }
    while ((n = read(fd, buf, 1 << 16)) > 0)
        EVP_DigestUpdate(ctx, buf, n);
    if (n < 0) {
        int saved = errno;
        close(fd);
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot read %s: %s", path, g_strerror(saved));
        return NULL;
    }
    close(fd);
    EVP_DigestFinal_ex(ctx, out, &outlen);
    return cv_hex_encode(out, outlen);
}

char *
cv_openssl_error_text(void)
{
    g_autoptr(GString) s = g_string_new(NULL);
    unsigned long e;
    char buf[256];

    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        if (s->len)
            g_string_append(s, "; ");
        g_string_append(s, buf);
    }
    if (!s->len)
        g_string_append(s, "no detail from OpenSSL");
    return g_string_free(g_steal_pointer(&s), FALSE);
}

GBytes *
cv_read_file(const char *path, gsize max_bytes, GError **error)
{
    g_autofree char *contents = NULL;
    gsize len = 0;
    GStatBuf st;

    if (g_stat(path, &st) == 0 && (gsize)st.st_size > max_bytes) {
        g_set_error(error, CV_ERROR, CV_ERROR_TOO_LARGE, "%s is larger than %" G_GSIZE_FORMAT " bytes",
                    path, max_bytes);
        return NULL;
    }
    if (!g_file_get_contents(path, &contents, &len, NULL)) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot read %s: %s", path, g_strerror(errno));
        return NULL;
    }
    if (len > max_bytes) {
        g_set_error(error, CV_ERROR, CV_ERROR_TOO_LARGE, "%s is larger than %" G_GSIZE_FORMAT " bytes",
                    path, max_bytes);
        return NULL;
    }
    return g_bytes_new_take(g_steal_pointer(&contents), len);
}

gboolean
cv_write_file(const char *path, const void *data, gsize len, int mode, GError **error)
{
    g_autofree char *tmp = g_strdup_printf("%s.XXXXXX", path);
    const guint8 *p = data;
    int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, mode);

    if (fd < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot create %s: %s", path, g_strerror(errno));
        return FALSE;
    }
    /* mkstemp honours the umask only at creation; set the mode explicitly for secrets. */
    if (fchmod(fd, mode) < 0)
        goto fail;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        p += n;
        len -= n;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        goto fail;
    return TRUE;
 fail:
    g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot write %s: %s", path, g_strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return FALSE;
}

JsonNode *
cv_json_parse(const char *text, gssize len, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(GError) local = NULL;

    /* json-glib recurses per nesting level and takes more than JSON (see cv-json.h): it sees only
     * text the strict check passed */
    if (!text) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "malformed JSON: no text");
        return NULL;
    }
    if (!cv_json_check(text, len < 0 ? strlen(text) : (gsize)len, error))
        return NULL;
    if (!json_parser_load_from_data(parser, text, len, &local)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "malformed JSON: %s", local->message);
        return NULL;
    }
    return json_node_copy(json_parser_get_root(parser));
}

char *
cv_json_to_string(JsonNode *node, gboolean pretty)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    gsize len = 0;
    char *text;

    json_generator_set_root(gen, node);
    json_generator_set_pretty(gen, pretty);
    text = json_generator_to_data(gen, &len);
    /* the generator's GString grew in powers of two: long-lived strings (records, event
     * history) would keep up to twice their size */
    return g_realloc(text, len + 1);
}

GBytes *
cv_json_canonical_digest(const char *algorithm, const char *json, gssize len, GError **error)
{
    g_autoptr(JsonNode) node = cv_json_parse(json, len, error);
    g_autofree char *canonical = node ? cv_jcs_serialize(node, error) : NULL;

    return canonical ? cv_digest(algorithm, canonical, strlen(canonical), error) : NULL;
}

char *
cv_time_format(gint64 unix_seconds)
{
    g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(unix_seconds);

    return dt ? g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ") : g_strdup("invalid-time");
}
