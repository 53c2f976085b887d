#include "snp-report.h"
#include "attest-util.h"
#include "cv-util.h"
#include "cv-enum.h"

#include <string.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#define OID_PRODUCT "1.3.6.1.4.1.3704.1.2"
#define OID_BL      "1.3.6.1.4.1.3704.1.3.1"
#define OID_TEE     "1.3.6.1.4.1.3704.1.3.2"
#define OID_SNP     "1.3.6.1.4.1.3704.1.3.3"
#define OID_UCODE   "1.3.6.1.4.1.3704.1.3.8"
#define OID_FMC     "1.3.6.1.4.1.3704.1.3.9"
#define OID_HWID    "1.3.6.1.4.1.3704.1.4"

gboolean
cv_attest_snp_report_parse(const guint8 *d, gsize len, CvAttestSnpReport *r, GError **error)
{
    guint32 key_info;

    if (len != CV_ATTEST_SNP_REPORT_SIZE) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "an SNP report is %u bytes, this one is %zu",
                    CV_ATTEST_SNP_REPORT_SIZE, len);
        return FALSE;
    }
    memset(r, 0, sizeof(*r));
    r->version = cv_attest_le32(d + 0x00);
    if (r->version < 2 || r->version > 5) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "SNP report version %u is not supported (2 to 5)",
                    r->version);
        return FALSE;
    }
    r->guest_svn = cv_attest_le32(d + 0x04);
    r->policy = cv_attest_le64(d + 0x08);
    memcpy(r->family_id, d + 0x10, 16);
    memcpy(r->image_id, d + 0x20, 16);
    r->vmpl = cv_attest_le32(d + 0x30);
    r->signature_algo = cv_attest_le32(d + 0x34);
    r->current_tcb = cv_attest_le64(d + 0x38);
    r->platform_info = cv_attest_le64(d + 0x40);
    key_info = cv_attest_le32(d + 0x48);
    r->mask_chip_id = (key_info >> 1) & 1;
    r->signing_key = (key_info >> 2) & 7;
    memcpy(r->report_data, d + 0x50, 64);
    memcpy(r->measurement, d + 0x90, 48);
    memcpy(r->host_data, d + 0xC0, 32);
    memcpy(r->id_key_digest, d + 0xE0, 48);
    memcpy(r->author_key_digest, d + 0x110, 48);
    memcpy(r->report_id, d + 0x140, 32);
    r->reported_tcb = cv_attest_le64(d + 0x180);
    if (r->version >= 3) {
        r->cpuid_family = d[0x188];
        r->cpuid_model = d[0x189];
        r->cpuid_stepping = d[0x18A];
    }
    memcpy(r->chip_id, d + 0x1A0, 64);
    r->committed_tcb = cv_attest_le64(d + 0x1E0);
    r->launch_tcb = cv_attest_le64(d + 0x1F0);
    memcpy(r->sig_r, d + 0x2A0, 72);
    memcpy(r->sig_s, d + 0x2A0 + 72, 72);
    return TRUE;
}

/* TCB components; layout depends on the product (Turin moved them and added FMC). */
typedef struct {
    guint8 fmc, bootloader, tee, snp, microcode;
} SnpTcb;

/* the components by the names a policy's minimum_tcb uses */
typedef enum {
    SNP_TCB_FMC,
    SNP_TCB_BOOTLOADER,
    SNP_TCB_TEE,
    SNP_TCB_SNP,
    SNP_TCB_MICROCODE,
    SNP_TCB_PART_COUNT
} SnpTcbPart;
CV_ENUM_DECL(cv_attest_snp_tcb_part, SnpTcbPart);
CV_ENUM_IMPL(cv_attest_snp_tcb_part, SnpTcbPart, SNP_TCB_PART_COUNT, "fmc", "bootloader", "tee", "snp", "microcode");

static void
snp_tcb_decode(guint64 tcb, gboolean turin, SnpTcb *out)
{
    memset(out, 0, sizeof(*out));
    if (turin) {
        out->fmc = tcb & 0xff;
        out->bootloader = (tcb >> 8) & 0xff;
        out->tee = (tcb >> 16) & 0xff;
        out->snp = (tcb >> 24) & 0xff;
    } else {
        out->bootloader = tcb & 0xff;
        out->tee = (tcb >> 8) & 0xff;
        out->snp = (tcb >> 48) & 0xff;
    }
    out->microcode = (tcb >> 56) & 0xff;
}

struct _CvAttestSnpTrust {
    STACK_OF(X509) *intermediates;  /* ASK / ASVK */
    STACK_OF(X509) *roots;          /* ARK */
    /* endorsement keys whose chain verified: DER SHA-256 hex → time it was checked for */
    GHashTable *verified;
    /* the last endorsement certificate seen, parsed: a verifier sees the same VCEK again and again */
    GBytes *last_der;
    X509 *last_cert;
    /* its key, ready to verify (EVP_PKEY_verify_init done once, as `openssl speed` does) */
    EVP_PKEY_CTX *last_verify;
};

CvAttestSnpTrust *
cv_attest_snp_trust_new(const void *ca_pem, gsize len, GError **error)
{
    g_autoptr(CvX509Stack) certs = cv_attest_pem_certs(ca_pem, len, error);
    CvAttestSnpTrust *t = NULL;

    if (!certs)
        return NULL;
    t = g_new0(CvAttestSnpTrust, 1);
    t->intermediates = sk_X509_new_null();
    t->roots = sk_X509_new_null();
    t->verified = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    while (sk_X509_num(certs) > 0) {
        X509 *c = sk_X509_shift(certs);
        if (X509_check_issued(c, c) == X509_V_OK)
            sk_X509_push(t->roots, c);
        else
            sk_X509_push(t->intermediates, c);
    }
    if (sk_X509_num(t->roots) == 0 || sk_X509_num(t->intermediates) == 0) {
        cv_attest_snp_trust_free(t);
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "the AMD trust file needs the ASK (or ASVK) and the self-signed ARK");
        return NULL;
    }
    return t;
}

void
cv_attest_snp_trust_free(CvAttestSnpTrust *t)
{
    if (!t)
        return;
    sk_X509_pop_free(t->intermediates, X509_free);
    sk_X509_pop_free(t->roots, X509_free);
    g_hash_table_unref(t->verified);
    if (t->last_der)
        g_bytes_unref(t->last_der);
    X509_free(t->last_cert);
    EVP_PKEY_CTX_free(t->last_verify);
    g_free(t);
}

/* Looks up an AMD extension: the TCB ones are DER INTEGERs, the product an IA5String, HWID raw. */
static const ASN1_OCTET_STRING *
find_ext(X509 *cert, const char *oid_text)
{
    ASN1_OBJECT *oid = OBJ_txt2obj(oid_text, 1);
    int idx = oid ? X509_get_ext_by_OBJ(cert, oid, -1) : -1;

    ASN1_OBJECT_free(oid);
    if (idx < 0)
        return NULL;
    return X509_EXTENSION_get_data(X509_get_ext(cert, idx));
}

static gboolean
ext_uint8(X509 *cert, const char *oid_text, guint8 *out)
{
    const ASN1_OCTET_STRING *os = find_ext(cert, oid_text);
    const unsigned char *p;
    ASN1_INTEGER *i;
    long v;

    if (!os)
        return FALSE;
    p = ASN1_STRING_get0_data(os);
    i = d2i_ASN1_INTEGER(NULL, &p, ASN1_STRING_length(os));
    if (!i)
        return FALSE;
    v = ASN1_INTEGER_get(i);
    ASN1_INTEGER_free(i);
    if (v < 0 || v > 255)
        return FALSE;
    *out = (guint8)v;
    return TRUE;
}

static char *
ext_product(X509 *cert)
{
    const ASN1_OCTET_STRING *os = find_ext(cert, OID_PRODUCT);
    const unsigned char *p;
    ASN1_IA5STRING *s;
    char *out;

    if (!os)
        return NULL;
    p = ASN1_STRING_get0_data(os);
    s = d2i_ASN1_IA5STRING(NULL, &p, ASN1_STRING_length(os));
    if (!s)
        return NULL;
    out = g_strndup((const char *)ASN1_STRING_get0_data(s), ASN1_STRING_length(s));
    ASN1_IA5STRING_free(s);
    /* printed in verdicts: printable ASCII only ("Milan-B0", "Genoa", "Turin") */
    for (const char *c = out; *c; c++)
        if (!g_ascii_isprint(*c)) {
            g_free(out);
            return NULL;
        }
    return out;
}

static gboolean
chain_cached(CvAttestSnpTrust *t, const char *key, X509 *leaf, gint64 at)
{
    const gint64 *when = g_hash_table_lookup(t->verified, key);
    time_t now = at > 0 ? (time_t)at : time(NULL);

    if (!when || *when != at)
        return FALSE;
    /* a cached chain for "now" still has to be within every certificate's validity */
    if (X509_cmp_time(X509_get0_notAfter(leaf), &now) <= 0 || X509_cmp_time(X509_get0_notBefore(leaf), &now) > 0)
        return FALSE;
    for (int i = 0; i < sk_X509_num(t->intermediates); i++)
        if (X509_cmp_time(X509_get0_notAfter(sk_X509_value(t->intermediates, i)), &now) <= 0)
            return FALSE;
    for (int i = 0; i < sk_X509_num(t->roots); i++)
        if (X509_cmp_time(X509_get0_notAfter(sk_X509_value(t->roots, i)), &now) <= 0)
            return FALSE;
    return TRUE;
}

static X509 *
load_leaf(CvAttestSnpTrust *t, const guint8 *der, gsize len, GError **error)
{
    X509 *cert;

    if (t && t->last_der && g_bytes_get_size(t->last_der) == len &&
        memcmp(g_bytes_get_data(t->last_der, NULL), der, len) == 0) {
        X509_up_ref(t->last_cert);
        return t->last_cert;
    }
    cert = cv_attest_load_cert(der, len, error);
    if (cert && t) {
        if (t->last_der)
            g_bytes_unref(t->last_der);
        X509_free(t->last_cert);
        g_clear_pointer(&t->last_verify, EVP_PKEY_CTX_free);
        t->last_der = g_bytes_new(der, len);
        X509_up_ref(cert);
        t->last_cert = cert;
    }
    return cert;
}

/* ECDSA P-384 over the signed part of the report, r and s little-endian */
static gboolean
verify_report_signature(CvAttestSnpTrust *t, X509 *leaf, const guint8 *data, const CvAttestSnpReport *r,
                        GError **error)
{
    EVP_PKEY *pk = X509_get0_pubkey(leaf);
    guint8 digest[48];
    unsigned int n = 0;
    g_autoptr(ECDSA_SIG) sig = NULL;
    g_autofree unsigned char *der = NULL;
    unsigned char *p;
    BIGNUM *br, *bs;
    int der_len;

    if (!pk || !EVP_PKEY_is_a(pk, "EC") || EVP_PKEY_get_bits(pk) != 384 || r->signature_algo != 1) {
        g_set_error(error, CV_ERROR, CV_ERROR_VERIFY, "not an ECDSA P-384 key or signature");
        return FALSE;
    }
    if (!t || leaf != t->last_cert)
        return cv_attest_ecdsa_verify(pk, EVP_sha384(), data, CV_ATTEST_SNP_SIGNED_SIZE, r->sig_r, 72, r->sig_s, 72,
                                      TRUE, error);
    if (!t->last_verify) {
        t->last_verify = EVP_PKEY_CTX_new(pk, NULL);
        if (!t->last_verify || EVP_PKEY_verify_init(t->last_verify) != 1 ||
            EVP_PKEY_CTX_set_signature_md(t->last_verify, EVP_sha384()) != 1) {
            g_clear_pointer(&t->last_verify, EVP_PKEY_CTX_free);
            g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "cannot set up ECDSA verification");
            return FALSE;
        }
    }
    sig = ECDSA_SIG_new();
    br = BN_lebin2bn(r->sig_r, 72, NULL);
    bs = BN_lebin2bn(r->sig_s, 72, NULL);
    if (!sig || !br || !bs || !ECDSA_SIG_set0(sig, br, bs)) {
        BN_free(br);
        BN_free(bs);
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "cannot build the ECDSA signature");
        return FALSE;
    }
    der_len = i2d_ECDSA_SIG(sig, NULL);
    if (der_len <= 0 || EVP_Digest(data, CV_ATTEST_SNP_SIGNED_SIZE, digest, &n, EVP_sha384(), NULL) != 1) {
        g_set_error(error, CV_ERROR, CV_ERROR_INTERNAL, "cannot encode the signature");
        return FALSE;
    }
    der = g_malloc(der_len);
    p = der;
    i2d_ECDSA_SIG(sig, &p);
    if (EVP_PKEY_verify(t->last_verify, der, der_len, digest, n) != 1) {
        ERR_clear_error();
        g_set_error(error, CV_ERROR, CV_ERROR_VERIFY, "ECDSA signature does not verify");
        return FALSE;
    }
    return TRUE;
}


static gboolean
tcb_at_least(const SnpTcb *have, const SnpTcb *want)
{
    return have->fmc >= want->fmc && have->bootloader >= want->bootloader && have->tee >= want->tee &&
           have->snp >= want->snp && have->microcode >= want->microcode;
}

static char *
tcb_text(const SnpTcb *t, gboolean turin)
{
    if (turin)
        return g_strdup_printf("fmc %u bl %u tee %u snp %u ucode %u", t->fmc, t->bootloader, t->tee, t->snp,
                               t->microcode);
    return g_strdup_printf("bl %u tee %u snp %u ucode %u", t->bootloader, t->tee, t->snp, t->microcode);
}

/* minimum_tcb: {"bootloader":N,"tee":N,"snp":N,"microcode":N[,"fmc":N]} */
static void
check_minimum_tcb(CvAttestVerdict *v, JsonObject *policy, const SnpTcb *reported, gboolean turin)
{
    JsonNode *node = policy ? json_object_get_member(policy, "minimum_tcb") : NULL;
    SnpTcb want = { 0 };
    guint8 *fields[] = { &want.fmc, &want.bootloader, &want.tee, &want.snp, &want.microcode };
    g_autofree char *have_text = tcb_text(reported, turin);
    g_autofree char *want_text = NULL;

    G_STATIC_ASSERT(G_N_ELEMENTS(fields) == SNP_TCB_PART_COUNT);
    if (!node) {
        cv_attest_verdict_add(v, "snp.minimum_tcb", CV_ATTEST_NOT_CHECKED, "reported %s", have_text);
        return;
    }
    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        cv_attest_verdict_add(v, "snp.minimum_tcb", CV_ATTEST_FAIL, "policy: minimum_tcb is not an object");
        return;
    }
    for (SnpTcbPart i = 0; i < SNP_TCB_PART_COUNT; i++) {
        g_autoptr(GError) local = NULL;
        guint64 n = 0;
        if (cv_attest_policy_uint(json_node_get_object(node), cv_attest_snp_tcb_part_to_string(i), 255, &n, &local))
            *fields[i] = (guint8)n;
        else if (local) {
            cv_attest_verdict_add(v, "snp.minimum_tcb", CV_ATTEST_FAIL, "%s", local->message);
            return;
        }
    }
    want_text = tcb_text(&want, turin);
    cv_attest_verdict_add(v, "snp.minimum_tcb", tcb_at_least(reported, &want) ? CV_ATTEST_PASS : CV_ATTEST_FAIL,
                          "reported %s, minimum %s", have_text, want_text);
}

/* What the steps of one verification share: the report and what its endorsement key proved. */
typedef struct {
    CvAttestSnpTrust *trust;
    const guint8 *data;         /* the report as signed */
    CvAttestSnpReport r;
    X509 *leaf;                 /* the VCEK/VLEK given, NULL when none was usable */
    char *subject;
    gboolean chain_ok;          /* leaf chains to the trust: only then is anything below read from it */
    char *product;              /* from a trusted leaf: "Milan-B0", "Genoa", "Turin" */
    gboolean turin;
    SnpTcb reported;
} SnpVerification;

static void
snp_verification_clear(SnpVerification *s)
{
    X509_free(s->leaf);
    g_free(s->subject);
    g_free(s->product);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(SnpVerification, snp_verification_clear)

/* snp.chain, snp.signing_key: the VCEK/VLEK to the trust's ASK/ASVK and ARK, and the key the report names */
static void
snp_check_chain(CvAttestVerdict *v, SnpVerification *s, const guint8 *ek_cert, gsize ek_cert_len, gint64 at)
{
    g_autoptr(GError) local = NULL;
    const CvAttestSnpReport *r = &s->r;
    const char *want_cn = r->signing_key == 0 ? "CN=SEV-VCEK" : r->signing_key == 1 ? "CN=SEV-VLEK" : NULL;

    s->leaf = ek_cert ? load_leaf(s->trust, ek_cert, ek_cert_len, &local) : NULL;
    if (!s->leaf) {
        cv_attest_verdict_add(v, "snp.chain", CV_ATTEST_FAIL, "no usable VCEK/VLEK certificate: %s",
                              local ? local->message : "none given");
        g_clear_error(&local);
    } else {
        g_autofree unsigned char *der = NULL;
        unsigned char *p = NULL;
        int der_len = i2d_X509(s->leaf, NULL);
        g_autofree char *key = NULL;

        der = g_malloc(MAX(der_len, 1));
        p = der;
        i2d_X509(s->leaf, &p);
        key = cv_digest_hex("SHA256", der, MAX(der_len, 0), NULL);
        s->subject = cv_attest_cert_subject(s->leaf);
        if (key && chain_cached(s->trust, key, s->leaf, at)) {
            s->chain_ok = TRUE;
        } else if (cv_attest_verify_chain(s->leaf, s->trust->intermediates, s->trust->roots, at, &local)) {
            s->chain_ok = TRUE;
            if (key)
                g_hash_table_replace(s->trust->verified, g_steal_pointer(&key), g_memdup2(&at, sizeof(at)));
        }
        cv_attest_verdict_add(v, "snp.chain", s->chain_ok ? CV_ATTEST_PASS : CV_ATTEST_FAIL,
                              "%s → ASK/ASVK → ARK%s%s", s->subject, s->chain_ok ? "" : ": ",
                              s->chain_ok ? "" : local->message);
    }

    /* VCEK or VLEK: the report says which key signed, the certificate says what it is */
    cv_attest_verdict_add(v, "snp.signing_key",
                          s->chain_ok && want_cn && g_str_has_suffix(s->subject, want_cn) ? CV_ATTEST_PASS :
                          CV_ATTEST_FAIL, "report signing key %s, certificate %s",
                          r->signing_key == 0 ? "VCEK" : r->signing_key == 1 ? "VLEK" : "none",
                          s->subject ? s->subject : "(none)");

    if (s->chain_ok) {
        s->product = ext_product(s->leaf);
        s->turin = s->product && g_str_has_prefix(s->product, "Turin");
    }
    snp_tcb_decode(r->reported_tcb, s->turin, &s->reported);
}

/* snp.signature: ECDSA P-384 over bytes 0x0-0x29F by the trusted VCEK/VLEK */
static void
snp_check_signature(CvAttestVerdict *v, SnpVerification *s)
{
    g_autoptr(GError) local = NULL;
    gboolean ok;

    if (!s->chain_ok) {
        cv_attest_verdict_add(v, "snp.signature", CV_ATTEST_FAIL, "no trusted VCEK/VLEK to check it with");
        return;
    }
    ok = verify_report_signature(s->trust, s->leaf, s->data, &s->r, &local);
    cv_attest_verdict_add(v, "snp.signature", ok ? CV_ATTEST_PASS : CV_ATTEST_FAIL, "ECDSA P-384 by %s%s%s",
                          s->r.signing_key == 1 ? "VLEK" : "VCEK", ok ? "" : ": ", ok ? "" : local->message);
}

/* snp.tcb_extensions, snp.chip_id: the certificate was issued for this TCB and (a VCEK) this chip */
static void
snp_check_tcb(CvAttestVerdict *v, const SnpVerification *s)
{
    const CvAttestSnpReport *r = &s->r;

    /* the certificate's TCB must be the report's REPORTED_TCB: a VCEK is issued per TCB */
    if (!s->chain_ok) {
        cv_attest_verdict_add(v, "snp.tcb_extensions", CV_ATTEST_FAIL, "no trusted certificate");
    } else {
        SnpTcb cert = { 0 };
        gboolean ok = ext_uint8(s->leaf, OID_BL, &cert.bootloader) && ext_uint8(s->leaf, OID_TEE, &cert.tee) &&
                      ext_uint8(s->leaf, OID_SNP, &cert.snp) && ext_uint8(s->leaf, OID_UCODE, &cert.microcode) &&
                      (!s->turin || ext_uint8(s->leaf, OID_FMC, &cert.fmc));
        g_autofree char *ct = tcb_text(&cert, s->turin);
        g_autofree char *rt = tcb_text(&s->reported, s->turin);
        if (!ok)
            cv_attest_verdict_add(v, "snp.tcb_extensions", CV_ATTEST_FAIL,
                                  "certificate lacks the TCB extensions (1.3.6.1.4.1.3704.1.3.x)");
        else
            cv_attest_verdict_add(v, "snp.tcb_extensions",
                                  memcmp(&cert, &s->reported, sizeof(cert)) == 0 ? CV_ATTEST_PASS : CV_ATTEST_FAIL,
                                  "certificate %s, reported %s (%s)", ct, rt,
                                  s->product ? s->product : "unknown product");
    }

    /* a VCEK is per chip: its HWID must be the report's CHIP_ID (a VLEK has none) */
    if (s->chain_ok && r->signing_key == 0) {
        const ASN1_OCTET_STRING *hwid = find_ext(s->leaf, OID_HWID);
        g_autofree char *chip = cv_hex_encode(r->chip_id, 64);
        if (r->mask_chip_id)
            cv_attest_verdict_add(v, "snp.chip_id", CV_ATTEST_NOT_CHECKED, "CHIP_ID masked by the guest");
        else
            cv_attest_verdict_add(v, "snp.chip_id",
                                  hwid && ASN1_STRING_length(hwid) == 64 &&
                                  memcmp(ASN1_STRING_get0_data(hwid), r->chip_id, 64) == 0 ?
                                  CV_ATTEST_PASS : CV_ATTEST_FAIL, "%.16s… against the VCEK's HWID", chip);
    } else {
        cv_attest_verdict_add(v, "snp.chip_id", CV_ATTEST_NOT_CHECKED,
                              r->signing_key == 1 ? "VLEK: not bound to a chip" : "no trusted VCEK");
    }
}

/* snp.policy.debug to snp.guest_svn: the guest's policy and measurements against the verifier's policy */
static void
snp_check_policy(CvAttestVerdict *v, const SnpVerification *s, JsonObject *policy, gboolean allow_debug)
{
    const CvAttestSnpReport *r = &s->r;
    gboolean debug = (r->policy & CV_ATTEST_SNP_POLICY_DEBUG) != 0;
    g_autoptr(GError) local = NULL;
    guint64 n = 0;

    cv_attest_verdict_add(v, "snp.policy.debug", debug && !allow_debug ? CV_ATTEST_FAIL : CV_ATTEST_PASS,
                          "guest policy 0x%" G_GINT64_MODIFIER "x: debugging %s%s", r->policy,
                          debug ? "allowed" : "disallowed", debug && !allow_debug ? ", refused by the policy" : "");
    cv_attest_check_policy_bytes(v, policy, "measurement", "snp.measurement", r->measurement, 48, TRUE);
    cv_attest_check_policy_bytes(v, policy, "host_data", "snp.host_data", r->host_data, 32, TRUE);
    cv_attest_check_policy_bytes(v, policy, "report_data", "snp.report_data", r->report_data, 64, TRUE);
    cv_attest_check_policy_bytes(v, policy, "family_id", "snp.family_id", r->family_id, 16, TRUE);
    cv_attest_check_policy_bytes(v, policy, "image_id", "snp.image_id", r->image_id, 16, TRUE);
    cv_attest_check_policy_bytes(v, policy, "id_key_digest", "snp.id_key_digest", r->id_key_digest, 48, TRUE);
    check_minimum_tcb(v, policy, &s->reported, s->turin);
    if (cv_attest_policy_uint(policy, "vmpl", 3, &n, &local))
        cv_attest_verdict_add(v, "snp.vmpl", r->vmpl == n ? CV_ATTEST_PASS : CV_ATTEST_FAIL, "%u, expected %u",
                              r->vmpl, (guint)n);
    else
        cv_attest_verdict_add(v, "snp.vmpl", local ? CV_ATTEST_FAIL : CV_ATTEST_NOT_CHECKED, "%u%s%s", r->vmpl,
                              local ? "; " : "", local ? local->message : "");
    g_clear_error(&local);
    if (cv_attest_policy_uint(policy, "minimum_guest_svn", G_MAXUINT32, &n, &local))
        cv_attest_verdict_add(v, "snp.guest_svn", r->guest_svn >= n ? CV_ATTEST_PASS : CV_ATTEST_FAIL,
                              "%u, minimum %u", r->guest_svn, (guint)n);
    else if (local)
        cv_attest_verdict_add(v, "snp.guest_svn", CV_ATTEST_FAIL, "%s", local->message);
}

CvAttestVerdict *
cv_attest_snp_verify(CvAttestSnpTrust *trust, const guint8 *data, gsize len, const guint8 *ek_cert,
                     gsize ek_cert_len, JsonObject *policy, gint64 at, GError **error)
{
    g_auto(SnpVerification) s = { .trust = trust, .data = data };
    g_autoptr(CvAttestVerdict) v = cv_attest_verdict_new("sev-snp");
    gboolean allow_debug = FALSE;

    if (!cv_attest_snp_report_parse(data, len, &s.r, error) ||
        !cv_attest_policy_bool(policy, "allow_debug", FALSE, &allow_debug, error))
        return NULL;
    cv_attest_verdict_add(v, "snp.report", s.r.signature_algo == 1 ? CV_ATTEST_PASS : CV_ATTEST_FAIL,
                          "version %u, signature algorithm %u%s", s.r.version, s.r.signature_algo,
                          s.r.signature_algo == 1 ? " (ECDSA P-384 SHA-384)" : " (only 1, ECDSA P-384, is accepted)");
    /* the endorsement key's chain first, so that nothing below trusts an unchecked certificate */
    snp_check_chain(v, &s, ek_cert, ek_cert_len, at);
    snp_check_signature(v, &s);
    snp_check_tcb(v, &s);
    snp_check_policy(v, &s, policy, allow_debug);
    return g_steal_pointer(&v);
}

GBytes *
cv_attest_snp_cert_table_find(GBytes *table, GError **error)
{
    /* GUIDs as stored (mixed-endian): VCEK 63da758d-e664-4564-adc5-f4b93be8accd,
     * VLEK a8074bc2-a25a-483e-aae6-39c045a0b8a1 */
    static const guint8 vcek[16] = { 0x8d, 0x75, 0xda, 0x63, 0x64, 0xe6, 0x64, 0x45,
                                     0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd };
    static const guint8 vlek[16] = { 0xc2, 0x4b, 0x07, 0xa8, 0x2a, 0xa2, 0x3e, 0x48,
                                     0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1 };
    static const guint8 zero[24] = { 0 };
    gsize len = 0;
    const guint8 *d = g_bytes_get_data(table, &len);

    for (gsize pos = 0; pos + 24 <= len; pos += 24) {
        guint32 off = cv_attest_le32(d + pos + 16);
        guint32 n = cv_attest_le32(d + pos + 20);
        if (memcmp(d + pos, zero, 24) == 0)
            break;
        if (memcmp(d + pos, vcek, 16) != 0 && memcmp(d + pos, vlek, 16) != 0)
            continue;
        if (n == 0 || (guint64)off + n > len) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "SNP certificate table entry out of bounds");
            return NULL;
        }
        return g_bytes_new(d + off, n);
    }
    g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "the host's certificate table has no VCEK or VLEK");
    return NULL;
}
