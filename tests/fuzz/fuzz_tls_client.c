/* fuzz_tls_client.c - what a hostile server can send to a TLS client (the
 * tcp and ws offramps) after our ClientHello, through tr_tls_input in
 * split reads. The record and handshake parsing is OpenSSL's; this target
 * checks our pump and our look at the server's handshake messages (the
 * verdict on a client certificate) around it: nothing is delivered before
 * our side of the handshake is done, a failure says why and stays a
 * failure, and nothing leaks. The client holds a certificate, so a
 * CertificateRequest would take the verdict path.
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

/* The client certificate: written to files, as the offramps read them. */
static void write_pem(const char *path, int (*w)(FILE *, void *), void *obj) {
    FILE *f = fopen(path, "w");
    if (!f || !w(f, obj)) __builtin_trap();
    fclose(f);
}

static int w_cert(FILE *f, void *x) { return PEM_write_X509(f, x); }
static int w_key(FILE *f, void *k) { return PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL); }

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
                               (const unsigned char *)"client", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, key);
    X509_sign(x, key, EVP_sha256());
    char dir[] = "/tmp/fuzz_tls_client_XXXXXX", cert[64], k[64];
    if (!mkdtemp(dir)) __builtin_trap();
    snprintf(cert, sizeof cert, "%s/c.pem", dir);
    snprintf(k, sizeof k, "%s/c.key", dir);
    write_pem(cert, w_cert, x);
    write_pem(k, w_key, key);
    /* no verification: random bytes cannot forge a signature, and the
     * paths past the certificate check are the ones worth reaching */
    struct tr_tls_opts o = {.flags = TR_TLS_CLIENT | TR_TLS_NO_VERIFY, .cert_file = cert, .key_file = k};
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_tls_ctx_create(&o, &ctx, &d) != 0) __builtin_trap();
    remove(cert);
    remove(k);
    remove(dir);
    X509_free(x);
    EVP_PKEY_free(key);
    return 0;
}

static int plain(void *arg, const char *p, size_t n) {
    (void)p;
    (void)n;
    if (!tr_tls_established(arg) && !tr_tls_awaiting_verdict(arg)) __builtin_trap();
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
    if (tr_tls_create(ctx, "localhost", &t, &d) != 0) return 0;
    /* our ClientHello first, as the offramps send it on connect */
    if (tr_tls_handshake(t, &d) != 0 || tr_tls_flush(t, wire, t) != 0) __builtin_trap();
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
