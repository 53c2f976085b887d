/* Test helper: TDX quotes re-signed under a test chain (tdx-builder.c). */
#pragma once
#include <glib.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

typedef struct {
    EVP_PKEY *root_key, *pck_key, *ak;
    X509 *root_cert, *pck_cert;
    GBytes *root_pem;   /* the test root CA, to pass as the "Intel root" */
} TdxTestChain;

void tdx_test_chain_init(TdxTestChain *t);
void tdx_test_chain_clear(TdxTestChain *t);

/* From real_quote (a v4 quote): version 4, or 5 with body type 2 (TD report 1.0) or 3 (1.5: the body
 * plus TEE_TCB_SVN2 and MRSERVICETD filled with 0x5a). rtmr3 (48 bytes) and report_data (64), when
 * not NULL, replace the body's. Signed by t's attestation key, its QE report by t's PCK key. */
GBytes *tdx_test_build_quote(TdxTestChain *t, GBytes *real_quote, guint16 version, guint16 body_type,
                             const guint8 *rtmr3, const guint8 *report_data);
