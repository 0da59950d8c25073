/* tls.c - TLS with OpenSSL over memory BIOs, for clients and servers.
 *
 * OpenSSL never sees the socket: ciphertext read by libuv is pushed into
 * the read BIO and ciphertext OpenSSL produces is pulled out of the write
 * BIO by the owner and written with uv_write, so the loop never blocks and
 * the owner can count every ciphertext byte it hands to the kernel. Not a
 * session cache or ALPN negotiator. Invariants: the OpenSSL error queue is
 * cleared before every call so a message always belongs to this call, and
 * what a peer can make us buffer is bounded by what the owner feeds (the
 * owner feeds one read at a time and drains before reading again).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config/cmap.h"
#include "connectors/conn.h"
#include "connectors/tls.h"
#include "core/alloc.h"

struct tr_tls_ctx {
    SSL_CTX *ssl_ctx;
    unsigned flags;
};

struct tr_tls {
    SSL *ssl;
    BIO *in;    /* network -> OpenSSL (owned by ssl) */
    BIO *out;   /* OpenSSL -> network (owned by ssl) */
    bool established, shut;
    /* TLS 1.3 client asked for a certificate: the server judges it only
     * after our Finished, so its refusal comes after our handshake is done.
     * We ask it for a KeyUpdate and are ready once anything of its
     * handshake layer arrives after ours finished (its KeyUpdate or a
     * session ticket): it has read our Finished and kept the connection. */
    bool cert_asked, awaiting_verdict;
    char name[256];   /* client: the name or address the certificate must carry */
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

/* A file we cannot open says so in words (OpenSSL's reason would be
 * "system lib"). */
static int readable(const char *path, const char *what, struct tr_diag *d) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return tr_diag_set(d, TR_ERUNTIME, NULL, 0, 0, "cannot read the %s '%.200s': %s", what, path,
                           strerror(errno));
    fclose(f);
    return 0;
}

static int use_files(SSL_CTX *c, const char *cert_file, const char *key_file, struct tr_diag *d) {
    int rc = readable(cert_file, "certificate", d);
    if (!rc) rc = readable(key_file, "key", d);
    if (rc) return rc;
    char what[320];
    if (SSL_CTX_use_certificate_chain_file(c, cert_file) != 1) {
        snprintf(what, sizeof what, "cannot use the certificate '%.200s'", cert_file);
        return ossl_fail(d, what);
    }
    EVP_PKEY *key = NULL;
    BIO *b = BIO_new_file(key_file, "r");
    if (b) key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!key) {
        snprintf(what, sizeof what, "cannot use the key '%.200s'", key_file);
        return ossl_fail(d, what);
    }
    /* Checked here so a mismatch reads the same for every key type (OpenSSL
     * words it differently for RSA and EC). */
    rc = 0;
    if (X509_check_private_key(SSL_CTX_get0_certificate(c), key) != 1) {
        ERR_clear_error();
        rc = tr_diag_set(d, TR_ERUNTIME, NULL, 0, 0, "the key '%.200s' does not match the certificate '%.200s'",
                         key_file, cert_file);
    } else if (SSL_CTX_use_PrivateKey(c, key) != 1) {
        snprintf(what, sizeof what, "cannot use the key '%.200s'", key_file);
        rc = ossl_fail(d, what);
    }
    EVP_PKEY_free(key);
    return rc;
}

static int use_ca(SSL_CTX *c, const char *ca_file, bool server, struct tr_diag *d) {
    int rc = readable(ca_file, "CA file", d);
    if (rc) return rc;
    if (SSL_CTX_load_verify_locations(c, ca_file, NULL) != 1) {
        char what[320];
        snprintf(what, sizeof what, "cannot load the CA file '%.200s'", ca_file);
        return ossl_fail(d, what);
    }
    if (server) {
        /* The CA names are sent in the CertificateRequest so a client can
         * pick the certificate that fits. */
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
        if (names) SSL_CTX_set_client_CA_list(c, names);
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return 0;
}

int tr_tls_ctx_create(const struct tr_tls_opts *o, struct tr_tls_ctx **out, struct tr_diag *d) {
    *out = NULL;
    ERR_clear_error();
    bool server = o->flags & TR_TLS_SERVER;
    struct tr_tls_ctx *c = tr_calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    c->flags = o->flags;
    c->ssl_ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!c->ssl_ctx) {
        tr_free(c);
        return ossl_fail(d, "cannot create TLS context");
    }
    SSL_CTX_set_min_proto_version(c->ssl_ctx,
                                  o->min_version == TR_TLS_V13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    /* Renegotiation lets a peer make us redo the expensive half of a
     * handshake at will, on a connection that already passed our checks. */
    SSL_CTX_set_options(c->ssl_ctx, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_clear_options(c->ssl_ctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
    int rc = 0;
    if (server) {
        /* No TLS 1.3 session tickets: they are bytes the server sends after
         * the handshake, and a client that only writes (a log shipper) and
         * closes without reading them makes its kernel answer with a reset,
         * which throws away what we had not read yet. */
        SSL_CTX_set_num_tickets(c->ssl_ctx, 0);
        if (o->cert_pem && o->key_pem)
            rc = use_pem(c->ssl_ctx, o->cert_pem, o->key_pem, d);
        else if (o->cert_file && o->key_file)
            rc = use_files(c->ssl_ctx, o->cert_file, o->key_file, d);
        else
            rc = tr_diag_set(d, TR_ERUNTIME, NULL, 0, 0, "a TLS server needs a certificate and key");
        if (!rc && o->ca_file) rc = use_ca(c->ssl_ctx, o->ca_file, true, d);
    } else {
        if (!(o->flags & TR_TLS_NO_VERIFY)) {
            SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, NULL);
            if (o->ca_file)
                rc = use_ca(c->ssl_ctx, o->ca_file, false, d);
            else if (SSL_CTX_set_default_verify_paths(c->ssl_ctx) != 1)
                rc = ossl_fail(d, "cannot load the system trust store");
        } else {
            SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_NONE, NULL);
        }
        /* A client certificate: OpenSSL sends it when the server asks. */
        if (!rc && (o->cert_file || o->key_file)) {
            if (o->cert_file && o->key_file)
                rc = use_files(c->ssl_ctx, o->cert_file, o->key_file, d);
            else
                rc = tr_diag_set(d, TR_ERUNTIME, NULL, 0, 0,
                                 "a client certificate needs both cert and key");
        }
    }
    if (rc < 0) {
        tr_tls_ctx_destroy(c);
        return rc;
    }
    *out = c;
    return 0;
}

void tr_tls_ctx_destroy(struct tr_tls_ctx *c) {
    if (!c) return;
    SSL_CTX_free(c->ssl_ctx);
    tr_free(c);
}

/* ---------------------------------------------------------------- config */

struct tls_cfg {
    const char *cert, *key, *ca_file;
    int min_version;
    uint64_t hs_timeout;
};

static const char *const versions[] = {"1.2", "1.3", NULL};

const struct tr_cmap_entry tr_tls_server_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR, "cert", NULL, TR_CMAP_REQUIRED, offsetof(struct tls_cfg, cert),
     "PEM file: the server certificate, then its chain")},
    {TR_CMAP_KEY(TR_CMAP_STR, "key", NULL, TR_CMAP_REQUIRED, offsetof(struct tls_cfg, key),
     "PEM file: the private key (RSA, EC or PKCS#8)")},
    {TR_CMAP_KEY(TR_CMAP_STR, "ca_file", NULL, 0, offsetof(struct tls_cfg, ca_file),
     "ours: PEM file of CAs; clients must present a certificate signed by one")},
    {TR_CMAP_KEY(TR_CMAP_ENUM, "min_version", "1.2", 0, offsetof(struct tls_cfg, min_version),
     "ours: oldest TLS version accepted"), .choices = versions},
    {TR_CMAP_KEY(TR_CMAP_U64, "handshake_timeout_ms", "10000", TR_CMAP_RANGE,
     offsetof(struct tls_cfg, hs_timeout), "ours: ms a client has to finish the TLS handshake"),
     .lo = 1, .hi = 600000},
    {0},
};

/* Where `tls` was written, for errors about what is inside it. */
static void tls_pos(const struct tr_conn_spec *s, int *line, int *col) {
    *line = s->line;
    *col = s->col;
    const tr_value *c = s->config;
    for (uint32_t i = 0; c && c->type == TR_REC && s->keys && i < tr_rec_len(c) && i < s->nkeys; i++)
        if (strcmp(tr_rec_at(c, i)->key->data, "tls") == 0 && s->keys[i].line > 0) {
            *line = s->keys[i].line;
            *col = s->keys[i].col;
        }
}

/* cmap names keys "config.<key>"; inside `tls` they are config.tls.<key>. */
static void nest_name(struct tr_diag *d) {
    char *p = strstr(d->msg, "config.");
    const char *ins = "tls.";
    size_t at;
    if (p) {
        at = (size_t)(p - d->msg) + 7;
    } else {
        /* "kind 'id': unknown config key 'k' ...": say where that key was */
        if (!(p = strstr(d->msg, "': "))) return;
        at = (size_t)(p - d->msg) + 3;
        ins = "config.tls: ";
    }
    size_t n = strlen(ins), len = strlen(d->msg);
    if (len + n >= sizeof d->msg) return;
    memmove(d->msg + at + n, d->msg + at, len - at + 1);
    memcpy(d->msg + at, ins, n);
}

int tr_tls_server_config(const struct tr_conn_spec *spec, struct tr_tls_ctx **out,
                         uint64_t *hs_timeout_ms, struct tr_diag *d) {
    *out = NULL;
    const tr_value *v = spec->config && spec->config->type == TR_REC
                            ? tr_rec_get(spec->config, "tls", 3) : NULL;
    if (!v || v->type == TR_NULL) return 0;
    int line, col;
    tls_pos(spec, &line, &col);
    if (v->type != TR_REC)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, line, col,
                           "%s '%s': config.tls must be a record {cert, key}, found %s", spec->type,
                           spec->id, tr_type_name(v->type));
    struct tls_cfg c;
    struct tr_cmap_src src = {.file = spec->file, .line = line, .col = col, .kind = spec->type,
                              .id = spec->id, .style = TR_CMAP_STYLE_CONFIG};
    int rc = tr_cmap_apply(tr_tls_server_cmap, v, &c, &src, d);
    if (rc) {
        nest_name(d);
        return rc;
    }
    struct tr_tls_opts o = {.flags = TR_TLS_SERVER, .cert_file = c.cert, .key_file = c.key,
                            .ca_file = c.ca_file,
                            .min_version = c.min_version == 1 ? TR_TLS_V13 : TR_TLS_V12};
    struct tr_diag e;
    tr_diag_clear(&e);
    rc = tr_tls_ctx_create(&o, out, &e);
    if (rc == -ENOMEM) return rc;
    if (rc)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, line, col, "%s '%s': config.tls: %s",
                           spec->type, spec->id, e.msg);
    *hs_timeout_ms = c.hs_timeout;
    return 0;
}

/* ---------------------------------------------------------- client config */

struct tls_client_cfg {
    const char *cafile, *domain, *cert, *key;
    int min_version;
    uint64_t hs_timeout;
};

const struct tr_cmap_entry tr_tls_client_cmap[] = {
    {TR_CMAP_KEY(TR_CMAP_STR, "cafile", NULL, 0, offsetof(struct tls_client_cfg, cafile),
     "PEM file of the CAs to trust instead of the system's")},
    {TR_CMAP_KEY(TR_CMAP_STR, "domain", NULL, 0, offsetof(struct tls_client_cfg, domain),
     "name (or address) the server's certificate must carry, sent as SNI (default: the host)")},
    {TR_CMAP_KEY(TR_CMAP_STR, "cert", NULL, 0, offsetof(struct tls_client_cfg, cert),
     "0.12's: PEM file: our client certificate, then its chain (needs key)")},
    {TR_CMAP_KEY(TR_CMAP_STR, "key", NULL, 0, offsetof(struct tls_client_cfg, key),
     "0.12's: PEM file: the client certificate's private key (needs cert)")},
    {TR_CMAP_KEY(TR_CMAP_ENUM, "min_version", "1.2", 0, offsetof(struct tls_client_cfg, min_version),
     "ours: oldest TLS version accepted"), .choices = versions},
    {TR_CMAP_KEY(TR_CMAP_U64, "handshake_timeout_ms", "10000", TR_CMAP_RANGE,
     offsetof(struct tls_client_cfg, hs_timeout), "ours: ms the server has to finish the TLS handshake"),
     .lo = 1, .hi = 600000},
    {0},
};

void tr_tls_client_fini(struct tr_tls_client *c) {
    tr_tls_ctx_destroy(c->ctx);
    tr_free(c->domain);
    memset(c, 0, sizeof *c);
}

int tr_tls_client_config(const struct tr_conn_spec *spec, const struct tr_tls_opts *dflt,
                         bool required, struct tr_tls_client *out, struct tr_diag *d) {
    memset(out, 0, sizeof *out);
    out->hs_timeout_ms = 10000;
    const tr_value *v = spec->config && spec->config->type == TR_REC
                            ? tr_rec_get(spec->config, "tls", 3) : NULL;
    bool given = v && v->type != TR_NULL;
    int line = spec->line, col = spec->col;
    if (given) tls_pos(spec, &line, &col);
    if (given && v->type == TR_BOOL && !v->as.b) {
        if (required)
            return tr_diag_set(d, TR_EINVAL_CFG, spec->file, line, col,
                               "%s '%s': config.tls is false, but the url asks for TLS", spec->type,
                               spec->id);
        return 0;
    }
    if (!given && !required) return 0;
    struct tr_tls_opts o = {.flags = TR_TLS_CLIENT | (dflt ? dflt->flags & TR_TLS_NO_VERIFY : 0),
                            .ca_file = dflt ? dflt->ca_file : NULL};
    const char *domain = NULL;
    if (given && v->type == TR_REC) {
        struct tls_client_cfg c;
        struct tr_cmap_src src = {.file = spec->file, .line = line, .col = col, .kind = spec->type,
                                  .id = spec->id, .style = TR_CMAP_STYLE_CONFIG};
        int rc = tr_cmap_apply(tr_tls_client_cmap, v, &c, &src, d);
        if (rc) {
            nest_name(d);
            return rc;
        }
        if (c.cafile && o.ca_file)
            return tr_diag_set(d, TR_EINVAL_CFG, spec->file, line, col,
                               "%s '%s': config.tls.cafile and config.ca_file both name CAs: keep one",
                               spec->type, spec->id);
        if (!c.cert != !c.key)
            return tr_diag_set(d, TR_EINVAL_CFG, spec->file, line, col,
                               "%s '%s': config.tls.%s is required with config.tls.%s (a client "
                               "certificate needs both)", spec->type, spec->id, c.cert ? "key" : "cert",
                               c.cert ? "cert" : "key");
        /* a DNS name is at most 253 characters */
        if (c.domain && (!c.domain[0] || strlen(c.domain) > 253))
            return tr_diag_set(d, TR_EINVAL_CFG, spec->file, line, col,
                               "%s '%s': config.tls.domain must be a host name or address", spec->type,
                               spec->id);
        if (c.cafile) o.ca_file = c.cafile;
        o.cert_file = c.cert;
        o.key_file = c.key;
        o.min_version = c.min_version == 1 ? TR_TLS_V13 : TR_TLS_V12;
        domain = c.domain;
        out->hs_timeout_ms = c.hs_timeout;
    } else if (given && v->type != TR_BOOL) {
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, line, col,
                           "%s '%s': config.tls must be true, false or a record {cafile, domain, cert, "
                           "key}, found %s", spec->type, spec->id, tr_type_name(v->type));
    }
    struct tr_diag e;
    tr_diag_clear(&e);
    int rc = tr_tls_ctx_create(&o, &out->ctx, &e);
    if (rc == -ENOMEM) return rc;
    if (rc)
        return tr_diag_set(d, TR_EINVAL_CFG, spec->file, line, col, "%s '%s': %s%s", spec->type,
                           spec->id, given ? "config.tls: " : "", e.msg);
    if (domain && !(out->domain = tr_strdup(domain))) {
        tr_tls_client_fini(out);
        return -ENOMEM;
    }
    return 0;
}

/* ------------------------------------------------------------ connection */

static int is_ip_literal(const char *host) {
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Sees every handshake message of the peer (decrypted). */
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
                   void *arg) {
    (void)version, (void)ssl;
    struct tr_tls *t = arg;
    if (write_p || content_type != SSL3_RT_HANDSHAKE || len == 0) return;
    unsigned char type = *(const unsigned char *)buf;
    if (type == SSL3_MT_CERTIFICATE_REQUEST) t->cert_asked = true;
    else if (t->established && (type == SSL3_MT_KEY_UPDATE || type == SSL3_MT_NEWSESSION_TICKET))
        t->awaiting_verdict = false;
}

int tr_tls_create(struct tr_tls_ctx *c, const char *host, struct tr_tls **out, struct tr_diag *d) {
    *out = NULL;
    ERR_clear_error();
    struct tr_tls *t = tr_calloc(1, sizeof *t);
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
    if (c->flags & TR_TLS_SERVER) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        SSL_set_msg_callback(t->ssl, on_msg);
        SSL_set_msg_callback_arg(t->ssl, t);
        if (host) snprintf(t->name, sizeof t->name, "%s", host);
        if (host && is_ip_literal(host)) {
            if (!(c->flags & TR_TLS_NO_VERIFY) &&
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host) != 1)
                rc = ossl_fail(d, "cannot set the address to verify");
        } else if (host) {
            if (SSL_set_tlsext_host_name(t->ssl, host) != 1)
                rc = ossl_fail(d, "cannot set SNI");
            else if (!(c->flags & TR_TLS_NO_VERIFY) && SSL_set1_host(t->ssl, host) != 1)
                rc = ossl_fail(d, "cannot set the host name to verify");
        }
    }
    if (rc < 0) {
        tr_tls_destroy(t);
        return rc;
    }
    *out = t;
    return 0;
}

void tr_tls_destroy(struct tr_tls *t) {
    if (!t) return;
    SSL_free(t->ssl);   /* frees both BIOs */
    tr_free(t);
}

int tr_tls_feed(struct tr_tls *t, const void *data, size_t len) {
    while (len) {
        int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
        int n = BIO_write(t->in, data, chunk);
        if (n <= 0) return -ENOMEM;
        data = (const char *)data + n;
        len -= (size_t)n;
    }
    return 0;
}

int tr_tls_handshake(struct tr_tls *t, struct tr_diag *d) {
    if (t->established) return t->awaiting_verdict ? 0 : 1;
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        t->established = true;
        if (t->cert_asked && SSL_version(t->ssl) == TLS1_3_VERSION && !SSL_is_server(t->ssl)) {
            t->awaiting_verdict = true;
            /* queued now, written by the next handshake call */
            if (SSL_key_update(t->ssl, SSL_KEY_UPDATE_REQUESTED) != 1 || SSL_do_handshake(t->ssl) != 1)
                return ossl_fail(d, "cannot ask the server for a key update");
            return 0;
        }
        return 1;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    long v = SSL_get_verify_result(t->ssl);
    if (v != X509_V_OK) {
        ERR_clear_error();
        bool name = v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH;
        return tr_diag_set(d, TR_ERUNTIME, NULL, 0, 0, "TLS certificate refused: %s%s%.200s%s",
                           X509_verify_cert_error_string(v), name ? " (it is not for '" : "",
                           name ? t->name : "", name ? "')" : "");
    }
    return ossl_fail(d, "TLS handshake failed");
}

bool tr_tls_established(const struct tr_tls *t) { return t->established && !t->awaiting_verdict; }

bool tr_tls_awaiting_verdict(const struct tr_tls *t) { return t->established && t->awaiting_verdict; }

void tr_tls_assume_accepted(struct tr_tls *t) { t->awaiting_verdict = false; }

const char *tr_tls_version(const struct tr_tls *t) { return SSL_get_version(t->ssl); }

int tr_tls_write(struct tr_tls *t, const void *p, size_t n) {
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

long tr_tls_read(struct tr_tls *t, void *buf, size_t cap) {
    ERR_clear_error();
    int want = cap > (1u << 30) ? (1 << 30) : (int)cap;
    int r = SSL_read(t->ssl, buf, want);
    if (r > 0) return r;
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_ZERO_RETURN)
        ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    if (e == SSL_ERROR_ZERO_RETURN) return TR_ECLOSED;
    return TR_ERUNTIME;   /* the reason stays on OpenSSL's error queue for the caller */
}

void tr_tls_close_notify(struct tr_tls *t) {
    if (t->shut || !t->established) return;
    t->shut = true;
    ERR_clear_error();
    (void)SSL_shutdown(t->ssl);   /* queues close_notify; we do not wait for the peer's */
    ERR_clear_error();
}

size_t tr_tls_pending(struct tr_tls *t) { return BIO_ctrl_pending(t->out); }

char *tr_tls_take(struct tr_tls *t, size_t *len) {
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

/* ------------------------------------------------------------------ pump */

int tr_tls_flush(struct tr_tls *t, tr_tls_wire_fn wire, void *arg) {
    while (tr_tls_pending(t)) {
        size_t n;
        char *p = tr_tls_take(t, &n);
        if (!p) return -ENOMEM;
        int rc = wire(arg, p, n);
        if (rc) return rc;
    }
    return 0;
}

int tr_tls_input(struct tr_tls *t, const void *p, size_t n, char *buf, size_t cap,
                 tr_tls_plain_fn plain, tr_tls_wire_fn wire, void *arg, struct tr_diag *d) {
    int rc = tr_tls_feed(t, p, n);   /* copied: buf may be where p is */
    if (rc) return rc;
    if (!t->established) {
        rc = tr_tls_handshake(t, d);
        /* A failed handshake still sends its alert (best effort). */
        int w = tr_tls_flush(t, wire, arg);
        if (rc <= 0) return rc;
        if (w) return w;
    }
    for (;;) {
        long r = tr_tls_read(t, buf, cap);
        if (r == 0) break;
        if (r < 0) {
            /* e.g. the server's alert refusing our certificate */
            if (r == TR_ERUNTIME) ossl_fail(d, "TLS error");
            (void)tr_tls_flush(t, wire, arg);
            return (int)r;
        }
        rc = plain(arg, buf, (size_t)r);
        if (rc < 0) return rc;
    }
    /* A peer asked us for a KeyUpdate (a client waiting for our verdict on
     * its certificate): OpenSSL would only answer before our next
     * application data, and a server may never send any. */
    if (t->established && SSL_get_key_update_type(t->ssl) != SSL_KEY_UPDATE_NONE) {
        ERR_clear_error();
        if (SSL_key_update(t->ssl, SSL_KEY_UPDATE_NOT_REQUESTED) != 1 || SSL_do_handshake(t->ssl) != 1)
            return ossl_fail(d, "cannot answer the peer's key update");
    }
    rc = tr_tls_flush(t, wire, arg);
    return rc ? rc : tr_tls_established(t) ? 1 : 0;
}
