/* fuzz_tls_server.c - what a hostile peer can send to a TLS server onramp
 * before and instead of a valid handshake, through tr_tls_input in split
 * reads. The record and handshake parsing is OpenSSL's; this target checks
 * our pump around it: no plaintext is ever delivered before the handshake
 * completes, a failure is reported with a message and stays a failure,
 * and nothing leaks.
 *
 * Input: byte 0 unused flags, bytes 1..4 chunk sizes (fuzz_util.h), then
 * the bytes that arrive.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "connectors/tls.h"
#include "core/alloc.h"
#include "fuzz_util.h"

#define HEAD 5

static struct tr_tls_ctx *ctx;

static char *pem_of(int (*w)(BIO *, void *), void *obj) {
    BIO *b = BIO_new(BIO_s_mem());
    w(b, obj);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = strndup(p, (size_t)n);
    BIO_free(b);
    return s;
}

static int w_cert(BIO *b, void *x) { return PEM_write_bio_X509(b, x); }
static int w_key(BIO *b, void *k) { return PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_quiet();
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, key);
    X509_sign(x, key, EVP_sha256());
    char *cert = pem_of(w_cert, x), *k = pem_of(w_key, key);
    struct tr_tls_opts o = {.flags = TR_TLS_SERVER, .cert_pem = cert, .key_pem = k};
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_tls_ctx_create(&o, &ctx, &d) != 0) __builtin_trap();
    free(cert);
    free(k);
    X509_free(x);
    EVP_PKEY_free(key);
    return 0;
}

static int plain(void *arg, const char *p, size_t n) {
    (void)p;
    (void)n;
    /* only after a completed handshake, which random bytes cannot forge */
    if (!tr_tls_established(arg)) __builtin_trap();
    return 0;
}

static int wire(void *arg, char *p, size_t n) {
    (void)arg;
    if (!n) __builtin_trap();
    tr_free(p);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < HEAD) return 0;
    struct fuzz_chunks c = {{0}, 0};
    memcpy(c.pat, data + 1, 4);
    data += HEAD;
    size -= HEAD;
    struct tr_tls *t;
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_tls_create(ctx, NULL, &t, &d) != 0) return 0;
    char buf[512];
    for (size_t off = 0; off < size;) {
        size_t k = fuzz_next_chunk(&c, size - off);
        tr_diag_clear(&d);
        int rc = tr_tls_input(t, data + off, k, buf, sizeof buf, plain, wire, t, &d);
        off += k;
        if (rc < 0) {
            if (rc == TR_ERUNTIME && !d.msg[0]) __builtin_trap();   /* a failure says why */
            break;   /* the owner closes the connection */
        }
    }
    tr_tls_destroy(t);
    return 0;
}
