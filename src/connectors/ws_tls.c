/* ws_tls.c - TLS for wss:// with OpenSSL over memory BIOs.
 *
 * OpenSSL never sees the socket: ciphertext read by libuv is pushed into
 * the read BIO and ciphertext OpenSSL produces is pulled out of the write
 * BIO by the owner and written with uv_write, so the loop never blocks and
 * the owner can count every ciphertext byte it hands to the kernel. Not a
 * session cache or ALPN negotiator. Invariant: the OpenSSL error queue is
 * cleared before every call so a message always belongs to this call.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "connectors/ws_int.h"
#include "core/alloc.h"

struct tr_ws_tls_ctx {
    SSL_CTX *ssl_ctx;
    unsigned flags;
};

struct tr_ws_tls {
    SSL *ssl;
    BIO *in;    /* network -> OpenSSL (owned by ssl) */
    BIO *out;   /* OpenSSL -> network (owned by ssl) */
};

static int ossl_fail(struct tr_diag *d, const char *what) {
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";
    if (e) ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return tr_diag_set(d, TR_ERUNTIME, NULL, 0, 0, "%s: %s", what, buf);
}

static int use_pem(SSL_CTX *c, const char *cert_pem, const char *key_pem, struct tr_diag *d) {
    int rc = 0;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    BIO *b = BIO_new_mem_buf(cert_pem, -1);
    if (b) cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    b = BIO_new_mem_buf(key_pem, -1);
    if (b) key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!cert || !key || SSL_CTX_use_certificate(c, cert) != 1 || SSL_CTX_use_PrivateKey(c, key) != 1 ||
        SSL_CTX_check_private_key(c) != 1)
        rc = ossl_fail(d, "cannot use certificate/key");
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

int tr_ws_tls_ctx_create(unsigned flags, const char *cert_pem, const char *key_pem,
                         struct tr_ws_tls_ctx **out, struct tr_diag *d) {
    *out = NULL;
    ERR_clear_error();
    bool server = flags & TR_WS_TLS_SERVER;
    struct tr_ws_tls_ctx *c = tr_calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    c->flags = flags;
    c->ssl_ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!c->ssl_ctx) {
        tr_free(c);
        return ossl_fail(d, "cannot create TLS context");
    }
    SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_2_VERSION);
    int rc = 0;
    if (server) {
        if (!cert_pem || !key_pem)
            rc = tr_diag_set(d, TR_ERUNTIME, NULL, 0, 0, "a TLS server needs a certificate and key");
        else
            rc = use_pem(c->ssl_ctx, cert_pem, key_pem, d);
    } else if (!(flags & TR_WS_TLS_NO_VERIFY)) {
        SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, NULL);
        if (SSL_CTX_set_default_verify_paths(c->ssl_ctx) != 1)
            rc = ossl_fail(d, "cannot load the system trust store");
    } else {
        SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_NONE, NULL);
    }
    if (rc < 0) {
        tr_ws_tls_ctx_destroy(c);
        return rc;
    }
    *out = c;
    return 0;
}

void tr_ws_tls_ctx_destroy(struct tr_ws_tls_ctx *c) {
    if (!c) return;
    SSL_CTX_free(c->ssl_ctx);
    tr_free(c);
}

static int is_ip_literal(const char *host) {
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

int tr_ws_tls_create(struct tr_ws_tls_ctx *c, const char *host, struct tr_ws_tls **out,
                     struct tr_diag *d) {
    *out = NULL;
    ERR_clear_error();
    struct tr_ws_tls *t = tr_calloc(1, sizeof *t);
    if (!t) return -ENOMEM;
    t->ssl = SSL_new(c->ssl_ctx);
    t->in = BIO_new(BIO_s_mem());
    t->out = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->in || !t->out) {
        int rc = ossl_fail(d, "cannot create TLS connection");
        BIO_free(t->in);
        BIO_free(t->out);
        SSL_free(t->ssl);
        tr_free(t);
        return rc;
    }
    /* An empty memory BIO reports "retry" rather than end of file. */
    BIO_set_mem_eof_return(t->in, -1);
    SSL_set_bio(t->ssl, t->in, t->out);
    int rc = 0;
    if (c->flags & TR_WS_TLS_SERVER) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        if (host && is_ip_literal(host)) {
            if (!(c->flags & TR_WS_TLS_NO_VERIFY) &&
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host) != 1)
                rc = ossl_fail(d, "cannot set the address to verify");
        } else if (host) {
            if (SSL_set_tlsext_host_name(t->ssl, host) != 1)
                rc = ossl_fail(d, "cannot set SNI");
            else if (!(c->flags & TR_WS_TLS_NO_VERIFY) && SSL_set1_host(t->ssl, host) != 1)
                rc = ossl_fail(d, "cannot set the host name to verify");
        }
    }
    if (rc < 0) {
        tr_ws_tls_destroy(t);
        return rc;
    }
    *out = t;
    return 0;
}

void tr_ws_tls_destroy(struct tr_ws_tls *t) {
    if (!t) return;
    SSL_free(t->ssl);   /* frees both BIOs */
    tr_free(t);
}

int tr_ws_tls_feed(struct tr_ws_tls *t, const void *data, size_t len) {
    while (len) {
        int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
        int n = BIO_write(t->in, data, chunk);
        if (n <= 0) return -ENOMEM;
        data = (const char *)data + n;
        len -= (size_t)n;
    }
    return 0;
}

int tr_ws_tls_handshake(struct tr_ws_tls *t, struct tr_diag *d) {
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) return 1;
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    long v = SSL_get_verify_result(t->ssl);
    if (v != X509_V_OK) {
        ERR_clear_error();
        return tr_diag_set(d, TR_ERUNTIME, NULL, 0, 0, "TLS certificate refused: %s",
                           X509_verify_cert_error_string(v));
    }
    return ossl_fail(d, "TLS handshake failed");
}

int tr_ws_tls_write(struct tr_ws_tls *t, const void *p, size_t n) {
    ERR_clear_error();
    while (n) {
        int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
        int w = SSL_write(t->ssl, p, chunk);
        if (w <= 0) {
            ERR_clear_error();
            return TR_ERUNTIME;
        }
        p = (const char *)p + w;
        n -= (size_t)w;
    }
    return 0;
}

long tr_ws_tls_read(struct tr_ws_tls *t, void *buf, size_t cap) {
    ERR_clear_error();
    int want = cap > (1u << 30) ? (1 << 30) : (int)cap;
    int r = SSL_read(t->ssl, buf, want);
    if (r > 0) return r;
    int e = SSL_get_error(t->ssl, r);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    if (e == SSL_ERROR_ZERO_RETURN) return TR_ECLOSED;
    return TR_ERUNTIME;
}

size_t tr_ws_tls_pending(struct tr_ws_tls *t) { return BIO_ctrl_pending(t->out); }

char *tr_ws_tls_take(struct tr_ws_tls *t, size_t *len) {
    *len = 0;
    size_t n = BIO_ctrl_pending(t->out);
    if (!n) return NULL;
    if (n > (1u << 30)) n = 1u << 30;
    char *p = tr_malloc(n);
    if (!p) return NULL;
    int r = BIO_read(t->out, p, (int)n);
    if (r <= 0) {
        tr_free(p);
        return NULL;
    }
    *len = (size_t)r;
    return p;
}
