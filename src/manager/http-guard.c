/* Who may use the manager's API (docs/security-model.md): a client that names this manager in its
 * Host header (DNS rebinding), sends JSON as JSON (a web page's cross-origin text/plain POST is
 * refused), and proves itself with a bearer token from MANAGER_HTTP_TOKEN_FILE and/or a client
 * certificate for clientAuth from MANAGER_HTTP_CLIENT_CA_CERTS. */
#include <string.h>
#include <glib/gstdio.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include "http-priv.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509, X509_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BIO, BIO_free)

static GBytes *
token_digest(const char *token, gsize len)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    guint8 digest[32];
    gsize n = sizeof(digest);

    g_checksum_update(sum, (const guchar *)token, len);
    g_checksum_get_digest(sum, digest, &n);
    return g_bytes_new(digest, n);
}

static gboolean
load_tokens(CvMgrHttpApi *api, const char *path, GError **error)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GError) local = NULL;
    GStatBuf st;

    if (!g_file_get_contents(path, &text, NULL, &local)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "MANAGER_HTTP_TOKEN_FILE: %s", local->message);
        return FALSE;
    }
    api->tokens = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    lines = g_strsplit(text, "\n", -1);
    /* one token a line; blank lines and # comments are skipped */
    for (char **l = lines; *l; l++) {
        g_strstrip(*l);
        if (**l && **l != '#')
            g_ptr_array_add(api->tokens, token_digest(*l, strlen(*l)));
    }
    explicit_bzero(text, strlen(text));
    if (g_stat(path, &st) == 0 && (st.st_mode & 077))
        g_warning("MANAGER_HTTP_TOKEN_FILE %s can be read by other users (mode %03o): chmod 600 it", path,
                  (unsigned)(st.st_mode & 0777));
    if (api->tokens->len == 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "MANAGER_HTTP_TOKEN_FILE %s holds no token", path);
        return FALSE;
    }
    return TRUE;
}

static X509 *
read_cert(const char *pem)
{
    g_autoptr(BIO) bio = BIO_new_mem_buf(pem, -1);

    return bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
}

/* glib-networking takes a key that does not belong to the certificate and then fails every handshake */
static gboolean
key_matches(const char *cert_file, const char *key_file, GError **error)
{
    g_autofree char *cert_pem = NULL, *key_pem = NULL;
    g_autoptr(X509) cert = NULL;
    g_autoptr(EVP_PKEY) key = NULL;
    g_autoptr(BIO) bio = NULL;

    if (!g_file_get_contents(cert_file, &cert_pem, NULL, NULL) || !(cert = read_cert(cert_pem)) ||
        !g_file_get_contents(key_file, &key_pem, NULL, NULL) || !(bio = BIO_new_mem_buf(key_pem, -1)) ||
        !(key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) || X509_check_private_key(cert, key) != 1) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "MANAGER_HTTP_SERVER_KEY %s is not the key of MANAGER_HTTP_SERVER_CERT %s", key_file, cert_file);
        return FALSE;
    }
    explicit_bzero(key_pem, strlen(key_pem));
    return TRUE;
}

gboolean
cv_mgr_http_guard_init(CvMgrHttpApi *api, GError **error)
{
    const CvMgrConfig *c = api->config;

    if (c->server_cert && !key_matches(c->server_cert, c->server_key, error))
        return FALSE;
    return !c->token_file || load_tokens(api, c->token_file, error);
}

gboolean
cv_mgr_http_guard_check_exposure(CvMgrHttpApi *api, GInetAddress *addr, GError **error)
{
    const CvMgrConfig *c = api->config;
    gboolean loopback = g_inet_address_get_is_loopback(addr);
    g_autoptr(GPtrArray) hosts = g_ptr_array_new();

    if (!c->client_ca_certs && !c->token_file) {
        if (!loopback) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                        "refusing to serve the API on %s, which is not a loopback address, to anyone: set "
                        "MANAGER_HTTP_TOKEN_FILE (bearer tokens) or MANAGER_HTTP_CLIENT_CA_CERTS (TLS client "
                        "certificates)", c->http_host);
            return FALSE;
        }
        g_warning("******** the API on %s has no authentication: every local user and process can create, "
                  "read and delete CVMs. Set MANAGER_HTTP_TOKEN_FILE or MANAGER_HTTP_CLIENT_CA_CERTS "
                  "(docs/security-model.md) ********", c->http_host);
    }
    if (c->allowed_hosts) {
        for (char **h = c->allowed_hosts; *h; h++)
            g_ptr_array_add(hosts, g_ascii_strdown(*h, -1));
    } else {
        g_ptr_array_add(hosts, g_ascii_strdown(c->http_host, -1));
        if (loopback) {
            g_ptr_array_add(hosts, g_strdup("localhost"));
            g_ptr_array_add(hosts, g_strdup("127.0.0.1"));
            g_ptr_array_add(hosts, g_strdup("::1"));
        }
    }
    g_ptr_array_add(hosts, NULL);
    api->allowed_hosts = (char **)g_ptr_array_free(g_steal_pointer(&hosts), FALSE);
    return TRUE;
}

/* the Host header without its port; an IPv6 literal without its brackets */
static char *
host_name(const char *header)
{
    const char *end;

    if (header[0] == '[') {
        end = strchr(header, ']');
        return end ? g_ascii_strdown(header + 1, end - header - 1) : NULL;
    }
    end = strchr(header, ':');
    return g_ascii_strdown(header, end ? end - header : -1);
}

static gboolean
host_allowed(CvMgrHttpApi *api, const char *header)
{
    g_autofree char *name = header ? host_name(header) : NULL;

    if (!name)
        return FALSE;
    for (char **h = api->allowed_hosts; *h; h++)
        if (strcmp(*h, "*") == 0 || strcmp(*h, name) == 0)
            return TRUE;
    return FALSE;
}

/* every configured token is compared, each in constant time: neither the token nor which one matched
 * shows in the timing */
static gboolean
token_valid(CvMgrHttpApi *api, const char *header)
{
    g_autoptr(GBytes) digest = NULL;
    const guint8 *d;
    guint8 match = 0;

    if (!header || g_ascii_strncasecmp(header, "Bearer ", 7) != 0)
        return FALSE;
    header += 7;
    while (*header == ' ')
        header++;
    digest = token_digest(header, strlen(header));
    d = g_bytes_get_data(digest, NULL);
    for (guint i = 0; i < api->tokens->len; i++) {
        const guint8 *t = g_bytes_get_data(g_ptr_array_index(api->tokens, i), NULL);
        guint8 diff = 0;

        for (guint k = 0; k < 32; k++)
            diff |= d[k] ^ t[k];
        match |= (guint8)(diff == 0);
    }
    return match != 0;
}

static gboolean
has_body(SoupMessageHeaders *h)
{
    SoupEncoding enc = soup_message_headers_get_encoding(h);

    return enc == SOUP_ENCODING_CHUNKED || (enc == SOUP_ENCODING_CONTENT_LENGTH &&
                                            soup_message_headers_get_content_length(h) > 0);
}

static void
refuse(SoupServerMessage *msg, CvMgrHttpRequest *rq, guint status, const char *code, const char *message)
{
    rq->refused = status;
    rq->refused_code = code;
    rq->refused_message = message;
    /* its body, if any, is not read into memory, and the client starts afresh */
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection", "close");
}

void
cv_mgr_http_guard_request(CvMgrHttpApi *api, SoupServerMessage *msg, CvMgrHttpRequest *rq)
{
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
    const char *method = soup_server_message_get_method(msg);
    const char *type = soup_message_headers_get_content_type(h, NULL);

    if (!host_allowed(api, soup_message_headers_get_one(h, "Host"))) {
        refuse(msg, rq, 421, "misdirected", "the Host header does not name this manager "
               "(MANAGER_HTTP_ALLOWED_HOSTS)");
    } else if (api->tokens && !token_valid(api, soup_message_headers_get_one(h, "Authorization"))) {
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "WWW-Authenticate",
                                     "Bearer realm=\"covirt-manager\"");
        refuse(msg, rq, 401, "unauthorized", "a valid bearer token is required (Authorization: Bearer TOKEN)");
    } else if ((method == SOUP_METHOD_POST || method == SOUP_METHOD_PUT || g_strcmp0(method, "PATCH") == 0) &&
               has_body(h) && g_strcmp0(type, "application/json") != 0) {
        refuse(msg, rq, 415, "unsupported_media_type", "the request body must be Content-Type: application/json");
    }
}

gboolean
cv_mgr_http_guard_client_cert(GTlsCertificate *peer)
{
    g_autofree char *pem = NULL;
    g_autoptr(X509) x = NULL;

    if (!peer)
        return FALSE;
    g_object_get(peer, "certificate-pem", &pem, NULL);
    x = pem ? read_cert(pem) : NULL;
    /* without the extension a certificate is good for any use: a server's certificate from the same CA
     * would log in */
    return x && (X509_get_extension_flags(x) & EXFLAG_XKUSAGE) && (X509_get_extended_key_usage(x) & XKU_SSL_CLIENT);
}
