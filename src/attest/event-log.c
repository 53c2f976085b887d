#include "event-log.h"
#include "cv-error.h"
#include "cv-autoptr.h"

#include <string.h>
#include <openssl/evp.h>

typedef struct {
    const guint8 *p;
    gsize left;
} Cursor;

static gboolean
get(Cursor *c, gsize n, const guint8 **out)
{
    if (n > c->left)
        return FALSE;
    *out = c->p;
    c->p += n;
    c->left -= n;
    return TRUE;
}

static gboolean
get32(Cursor *c, guint32 *v)
{
    const guint8 *p;

    if (!get(c, 4, &p))
        return FALSE;
    *v = (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
    return TRUE;
}

static gboolean
get16(Cursor *c, guint16 *v)
{
    const guint8 *p;

    if (!get(c, 2, &p))
        return FALSE;
    *v = (guint16)(p[0] | p[1] << 8);
    return TRUE;
}

static gboolean
bad(GError **error, const char *what, guint index)
{
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "event log: %s (event %u)", what, index);
    return FALSE;
}

void
cv_attest_event_log_free(CvAttestEventLog *log)
{
    if (!log)
        return;
    g_bytes_unref(log->bytes);
    g_array_unref(log->events);
    g_free(log);
}

#define TPM_ALG_SHA256 0x000B

CvAttestEventLog *
cv_attest_event_log_parse(GBytes *bytes, GError **error)
{
    g_autoptr(CvAttestEventLog) log = g_new0(CvAttestEventLog, 1);
    struct { guint16 alg, size; } algs[16];
    guint32 n_algs = 0;
    Cursor c;
    Cursor spec;
    const guint8 *p;
    guint32 pcr, type, size;
    guint index = 0;

    log->bytes = g_bytes_ref(bytes);
    log->events = g_array_new(FALSE, TRUE, sizeof(CvAttestEvent));
    c.p = g_bytes_get_data(bytes, &c.left);
    if (c.left > CV_ATTEST_EVENT_LOG_MAX) {
        bad(error, "larger than 16 MiB", 0);
        return NULL;
    }

    /* the header event, in the SHA-1 format, carries the Spec ID that lists the digest sizes */
    if (!get32(&c, &pcr) || !get32(&c, &type) || !get(&c, 20, &p) || !get32(&c, &size) || !get(&c, size, &p)) {
        bad(error, "truncated header event", 0);
        return NULL;
    }
    if (type != CV_ATTEST_EV_NO_ACTION || size < 24 + 4 || memcmp(p, "Spec ID Event03", 16) != 0) {
        bad(error, "not a crypto-agile log (no \"Spec ID Event03\")", 0);
        return NULL;
    }
    spec = (Cursor){ p + 24, size - 24 };
    if (!get32(&spec, &n_algs) || n_algs == 0 || n_algs > G_N_ELEMENTS(algs)) {
        bad(error, "bad number of algorithms in the Spec ID event", 0);
        return NULL;
    }
    for (guint32 i = 0; i < n_algs; i++) {
        if (!get16(&spec, &algs[i].alg) || !get16(&spec, &algs[i].size) || algs[i].size == 0 || algs[i].size > 64) {
            bad(error, "bad digest size in the Spec ID event", 0);
            return NULL;
        }
    }

    while (c.left > 0) {
        CvAttestEvent ev = { 0 };
        guint32 count;

        index++;
        if (index > CV_ATTEST_EVENT_LOG_MAX_EVENTS) {
            bad(error, "too many events", index);
            return NULL;
        }
        if (!get32(&c, &ev.pcr) || !get32(&c, &ev.type) || !get32(&c, &count)) {
            bad(error, "truncated event header", index);
            return NULL;
        }
        if (ev.pcr >= 24 && ev.type != CV_ATTEST_EV_NO_ACTION) {
            bad(error, "PCR index out of range", index);
            return NULL;
        }
        if (count > n_algs) {
            bad(error, "more digests than the Spec ID lists", index);
            return NULL;
        }
        for (guint32 i = 0; i < count; i++) {
            guint16 alg;
            guint32 j;
            if (!get16(&c, &alg)) {
                bad(error, "truncated digest", index);
                return NULL;
            }
            for (j = 0; j < n_algs && algs[j].alg != alg; j++)
                ;
            if (j == n_algs) {
                bad(error, "digest algorithm not in the Spec ID", index);
                return NULL;
            }
            if (!get(&c, algs[j].size, &p)) {
                bad(error, "truncated digest", index);
                return NULL;
            }
            if (alg == TPM_ALG_SHA256 && algs[j].size == 32) {
                if (ev.has_sha256) {
                    bad(error, "two SHA-256 digests", index);
                    return NULL;
                }
                memcpy(ev.sha256, p, 32);
                ev.has_sha256 = TRUE;
            }
        }
        if (!get32(&c, &ev.data_len) || !get(&c, ev.data_len, &ev.data)) {
            bad(error, "truncated event data", index);
            return NULL;
        }
        /* the locality the firmware started in sets PCR 0's initial value */
        if (ev.type == CV_ATTEST_EV_NO_ACTION && ev.pcr == 0 && ev.data_len == 17 &&
            memcmp(ev.data, "StartupLocality", 16) == 0)
            log->startup_locality = ev.data[16];
        g_array_append_val(log->events, ev);
    }
    return g_steal_pointer(&log);
}

gboolean
cv_attest_event_log_replay(const CvAttestEventLog *log, guint8 pcrs[24][32], GError **error)
{
    g_autoptr(EVP_MD_CTX) md = EVP_MD_CTX_new();

    memset(pcrs, 0, 24 * 32);
    pcrs[0][31] = log->startup_locality;
    for (guint i = 0; i < log->events->len; i++) {
        const CvAttestEvent *ev = &g_array_index(log->events, CvAttestEvent, i);
        unsigned int n = 0;

        if (ev->type == CV_ATTEST_EV_NO_ACTION)
            continue;
        if (!ev->has_sha256)
            return bad(error, "no SHA-256 digest", i + 1);
        if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(md, pcrs[ev->pcr], 32) != 1 ||
            EVP_DigestUpdate(md, ev->sha256, 32) != 1 || EVP_DigestFinal_ex(md, pcrs[ev->pcr], &n) != 1) {
            g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "SHA-256 failed");
            return FALSE;
        }
    }
    return TRUE;
}

gboolean
cv_attest_event_log_match(const CvAttestEventLog *log, guint pcr, GPtrArray *expected, char **detail)
{
    g_autofree gboolean *seen = g_new0(gboolean, expected->len + 1);
    guint n = 0;

    for (guint i = 0; i < log->events->len; i++) {
        const CvAttestEvent *ev = &g_array_index(log->events, CvAttestEvent, i);
        gboolean known = FALSE;
        if (ev->pcr != pcr || ev->type == CV_ATTEST_EV_NO_ACTION)
            continue;
        n++;
        for (guint j = 0; j < expected->len; j++) {
            GBytes *b = g_ptr_array_index(expected, j);
            if (ev->has_sha256 && g_bytes_get_size(b) == 32 && memcmp(g_bytes_get_data(b, NULL), ev->sha256, 32) == 0)
                seen[j] = known = TRUE;
        }
        if (!known && ev->has_sha256 && (ev->type == CV_ATTEST_EV_SEPARATOR || ev->type == CV_ATTEST_EV_EFI_ACTION)) {
            guint8 d[32];
            unsigned int dn = 0;
            /* a separator measures its own data (0x00000000), an action its own text */
            known = EVP_Digest(ev->data, ev->data_len, d, &dn, EVP_sha256(), NULL) == 1 && memcmp(d, ev->sha256, 32) == 0;
        }
        if (!known) {
            char hex[65];
            for (int k = 0; k < 32; k++)
                g_snprintf(hex + 2 * k, 3, "%02x", ev->sha256[k]);
            *detail = g_strdup_printf("unexpected event type 0x%x digest %s", ev->type, ev->has_sha256 ? hex : "(none)");
            return FALSE;
        }
    }
    for (guint j = 0; j < expected->len; j++) {
        if (!seen[j]) {
            const guint8 *d = g_bytes_get_data(g_ptr_array_index(expected, j), NULL);
            char hex[65];
            for (int k = 0; k < 32; k++)
                g_snprintf(hex + 2 * k, 3, "%02x", d[k]);
            *detail = g_strdup_printf("expected event %s is not in the log", hex);
            return FALSE;
        }
    }
    *detail = g_strdup_printf("%u events, all %u expected digests present", n, expected->len);
    return TRUE;
}
