/* test_tls.c - connectors/tls: a server context from PEM files (and the
 * located errors when they are missing, garbage or do not match), the pump
 * tr_tls_input against a plain OpenSSL client over memory BIOs, plaintext
 * and garbage where a ClientHello belongs, client certificates (ca_file),
 * min_version, refused renegotiation, and the `tls` config record. */
#include "connectors/conn.h"
#include "connectors/tls.h"
#include "core/alloc.h"
#include "fake_conn_host.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "test_certs.h"

static char dir[64];
static char cert_f[128], key_f[128], cli_cert_f[128], cli_key_f[128], other_key_f[128];

static int setup(void **st) {
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/tr_tls_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(cert_f, sizeof cert_f, "%s/cert.pem", dir);
    snprintf(key_f, sizeof key_f, "%s/key.pem", dir);
    snprintf(cli_cert_f, sizeof cli_cert_f, "%s/client.pem", dir);
    snprintf(cli_key_f, sizeof cli_key_f, "%s/client.key", dir);
    snprintf(other_key_f, sizeof other_key_f, "%s/other.key", dir);
    make_cert("localhost", cert_f, key_f);
    make_cert("client", cli_cert_f, cli_key_f);
    char junk[128];
    snprintf(junk, sizeof junk, "%s/junk.pem", dir);
    make_cert("other", junk, other_key_f);
    unlink(junk);
    return 0;
}

static int teardown(void **st) {
    (void)st;
    const char *fs[] = {cert_f, key_f, cli_cert_f, cli_key_f, other_key_f};
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) unlink(fs[i]);
    rmdir(dir);
    return 0;
}

/* ----------------------------------------------------- a plain client */

struct peer {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *in, *out;
};

static void peer_init(struct peer *p, int max_version, bool with_cert) {
    p->ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(p->ctx);
    SSL_CTX_set_verify(p->ctx, SSL_VERIFY_PEER, NULL);
    assert_int_equal(SSL_CTX_load_verify_locations(p->ctx, cert_f, NULL), 1);
    if (max_version) SSL_CTX_set_max_proto_version(p->ctx, max_version);
    if (with_cert) {
        assert_int_equal(SSL_CTX_use_certificate_file(p->ctx, cli_cert_f, SSL_FILETYPE_PEM), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(p->ctx, cli_key_f, SSL_FILETYPE_PEM), 1);
    }
    p->ssl = SSL_new(p->ctx);
    p->in = BIO_new(BIO_s_mem());
    p->out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(p->in, -1);
    SSL_set_bio(p->ssl, p->in, p->out);
    SSL_set_connect_state(p->ssl);
    SSL_set1_host(p->ssl, "localhost");
}

static void peer_fini(struct peer *p) {
    SSL_free(p->ssl);
    SSL_CTX_free(p->ctx);
    ERR_clear_error();
}

/* What the server under test receives and sends. */
struct sink {
    char plain[4096];
    size_t plain_len;
    int plain_calls;
    struct peer *to;   /* ciphertext from the server goes into to->in */
};

static int on_plain(void *arg, const char *p, size_t n) {
    struct sink *k = arg;
    assert_true(k->plain_len + n <= sizeof k->plain);
    memcpy(k->plain + k->plain_len, p, n);
    k->plain_len += n;
    k->plain_calls++;
    return 0;
}

static int on_wire(void *arg, char *p, size_t n) {
    struct sink *k = arg;
    assert_int_equal(BIO_write(k->to->in, p, (int)n), (int)n);
    tr_free(p);
    return 0;
}

/* Whatever the client has for the server, through tr_tls_input. */
static int to_server(struct peer *c, struct tr_tls *s, struct sink *k, struct tr_diag *d) {
    char wire[65536], buf[4096];
    int n = BIO_read(c->out, wire, sizeof wire);
    if (n <= 0) return tr_tls_established(s) ? 1 : 0;
    return tr_tls_input(s, wire, (size_t)n, buf, sizeof buf, on_plain, on_wire, k, d);
}

/* Run the handshake both ways; the server's last tr_tls_input result. */
static int shake(struct peer *c, struct tr_tls *s, struct sink *k, struct tr_diag *d) {
    int rs = 0;
    for (int i = 0; i < 10; i++) {
        int rc = SSL_do_handshake(c->ssl);
        rs = to_server(c, s, k, d);
        if (rs < 0) return rs;
        if (rc == 1 && rs == 1) {
            /* TLS 1.3: the server's verdict on our certificate comes after */
            char b[16];
            (void)SSL_read(c->ssl, b, sizeof b);
            return to_server(c, s, k, d);
        }
    }
    return rs;
}

static struct tr_tls_ctx *server_ctx(const char *ca, enum tr_tls_version v) {
    struct tr_tls_opts o = {.flags = TR_TLS_SERVER, .cert_file = cert_f, .key_file = key_f,
                            .ca_file = ca, .min_version = v};
    struct tr_tls_ctx *c;
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_tls_ctx_create(&o, &c, &d) != 0) fail_msg("ctx: %s", d.msg);
    return c;
}

/* ----------------------------------------------------------- the tests */

static void test_lines_through_the_pump(void **st) {
    (void)st;
    struct tr_tls_ctx *ctx = server_ctx(NULL, TR_TLS_V12);
    struct tr_tls *s;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_tls_create(ctx, NULL, &s, &d), 0);
    struct peer c;
    peer_init(&c, 0, false);
    struct sink k = {.to = &c};
    assert_int_equal(shake(&c, s, &k, &d), 1);
    assert_int_equal(k.plain_calls, 0);   /* nothing before the handshake */
    assert_int_equal(SSL_write(c.ssl, "one\ntwo\n", 8), 8);
    assert_int_equal(SSL_write(c.ssl, "three\n", 6), 6);
    assert_int_equal(to_server(&c, s, &k, &d), 1);
    assert_int_equal(k.plain_len, 14);
    assert_memory_equal(k.plain, "one\ntwo\nthree\n", 14);
    /* close_notify from the client is TR_ECLOSED */
    SSL_shutdown(c.ssl);
    assert_int_equal(to_server(&c, s, &k, &d), TR_ECLOSED);
    tr_tls_destroy(s);
    tr_tls_ctx_destroy(ctx);
    peer_fini(&c);
}

static void test_not_tls_is_refused(void **st) {
    (void)st;
    struct tr_tls_ctx *ctx = server_ctx(NULL, TR_TLS_V12);
    const char *inputs[] = {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "{\"a\":1}\n",
                            "\x16\x03\x01\x00\x05\xff\xff\xff\xff\xff"};
    for (size_t i = 0; i < 3; i++) {
        struct tr_tls *s;
        struct tr_diag d;
        tr_diag_clear(&d);
        assert_int_equal(tr_tls_create(ctx, NULL, &s, &d), 0);
        struct peer c;
        peer_init(&c, 0, false);
        struct sink k = {.to = &c};
        char buf[256];
        int rc = tr_tls_input(s, inputs[i], i == 2 ? 10 : strlen(inputs[i]), buf, sizeof buf,
                              on_plain, on_wire, &k, &d);
        assert_int_equal(rc, TR_ERUNTIME);
        assert_non_null(strstr(d.msg, "TLS handshake failed"));
        assert_int_equal(k.plain_calls, 0);
        tr_tls_destroy(s);
        peer_fini(&c);
    }
    /* a handshake record cut short waits for more: the owner's timeout ends it */
    struct tr_tls *s;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_tls_create(ctx, NULL, &s, &d), 0);
    char buf[64];
    struct sink k = {0};
    assert_int_equal(tr_tls_input(s, "\x16\x03", 2, buf, sizeof buf, on_plain, on_wire, &k, &d), 0);
    assert_false(tr_tls_established(s));
    tr_tls_destroy(s);
    tr_tls_ctx_destroy(ctx);
}

static void test_client_certificate(void **st) {
    (void)st;
    struct tr_tls_ctx *ctx = server_ctx(cli_cert_f, TR_TLS_V12);
    for (int with = 0; with < 2; with++) {
        struct tr_tls *s;
        struct tr_diag d;
        tr_diag_clear(&d);
        assert_int_equal(tr_tls_create(ctx, NULL, &s, &d), 0);
        struct peer c;
        peer_init(&c, 0, with);
        struct sink k = {.to = &c};
        int rc = shake(&c, s, &k, &d);
        if (with) {
            assert_int_equal(rc, 1);
        } else {
            assert_int_equal(rc, TR_ERUNTIME);
            assert_non_null(strstr(d.msg, "certificate"));
        }
        tr_tls_destroy(s);
        peer_fini(&c);
    }
    tr_tls_ctx_destroy(ctx);
}

static void test_min_version(void **st) {
    (void)st;
    struct tr_tls_ctx *ctx = server_ctx(NULL, TR_TLS_V13);
    struct tr_tls *s;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_tls_create(ctx, NULL, &s, &d), 0);
    struct peer c;
    peer_init(&c, TLS1_2_VERSION, false);
    struct sink k = {.to = &c};
    assert_int_equal(shake(&c, s, &k, &d), TR_ERUNTIME);
    assert_non_null(strstr(d.msg, "unsupported protocol"));
    tr_tls_destroy(s);
    peer_fini(&c);
    tr_tls_ctx_destroy(ctx);
}

static void test_renegotiation_refused(void **st) {
    (void)st;
    struct tr_tls_ctx *ctx = server_ctx(NULL, TR_TLS_V12);
    struct tr_tls *s;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_tls_create(ctx, NULL, &s, &d), 0);
    struct peer c;
    peer_init(&c, TLS1_2_VERSION, false);   /* renegotiation is TLS 1.2's */
    struct sink k = {.to = &c};
    assert_int_equal(shake(&c, s, &k, &d), 1);
    assert_int_equal(SSL_renegotiate(c.ssl), 1);
    (void)SSL_do_handshake(c.ssl);          /* sends a new ClientHello */
    int rc = to_server(&c, s, &k, &d);      /* the server answers no_renegotiation */
    assert_true(rc == 1 || rc == TR_ERUNTIME);
    char b[16];
    int r = SSL_read(c.ssl, b, sizeof b);   /* the client sees the refusal */
    assert_true(r <= 0);
    assert_int_not_equal(SSL_get_error(c.ssl, r), SSL_ERROR_WANT_READ);
    assert_int_equal(SSL_renegotiate_pending(c.ssl), 1);   /* never completed */
    assert_int_equal(k.plain_calls, 0);
    tr_tls_destroy(s);
    peer_fini(&c);
    tr_tls_ctx_destroy(ctx);
}

/* ------------------------------------------------ both ends ours (client) */

/* One direction of a pipe between two of our connections. */
struct end {
    struct tr_tls *t;
    char in[65536];      /* ciphertext the other end sent, not yet fed */
    size_t in_len;
    struct end *peer;
    int last;            /* the last tr_tls_input result */
    struct tr_diag d;
    size_t plain;
};

static int end_wire(void *arg, char *p, size_t n) {
    struct end *e = arg;
    assert_true(e->peer->in_len + n <= sizeof e->peer->in);
    memcpy(e->peer->in + e->peer->in_len, p, n);
    e->peer->in_len += n;
    tr_free(p);
    return 0;
}

static int end_plain(void *arg, const char *p, size_t n) {
    (void)p;
    ((struct end *)arg)->plain += n;
    return 0;
}

/* Pass bytes back and forth until neither end has any for an end that
 * has not failed (a failed one's alert still reaches the other). */
static void pump_ends(struct end *a, struct end *b) {
    for (int i = 0; i < 20; i++) {
        struct end *e = a->in_len && a->last >= 0 ? a : b->in_len && b->last >= 0 ? b : NULL;
        if (!e) return;
        static char buf[4096], copy[65536];
        size_t n = e->in_len;
        memcpy(copy, e->in, n);
        e->in_len = 0;
        e->last = tr_tls_input(e->t, copy, n, buf, sizeof buf, end_plain, end_wire, e, &e->d);
    }
}

static struct tr_tls_ctx *client_ctx(const char *ca, const char *cert, const char *key) {
    struct tr_tls_opts o = {.flags = TR_TLS_CLIENT, .ca_file = ca, .cert_file = cert, .key_file = key};
    struct tr_tls_ctx *c;
    struct tr_diag d;
    tr_diag_clear(&d);
    if (tr_tls_ctx_create(&o, &c, &d) != 0) fail_msg("client ctx: %s", d.msg);
    return c;
}

/* Client and server both ours; returns the client's last result. */
static int connect_ends(struct tr_tls_ctx *cc, const char *name, struct tr_tls_ctx *sc,
                        struct end *cl, struct end *sv) {
    memset(cl, 0, sizeof *cl);
    memset(sv, 0, sizeof *sv);
    cl->peer = sv;
    sv->peer = cl;
    assert_int_equal(tr_tls_create(cc, name, &cl->t, &cl->d), 0);
    assert_int_equal(tr_tls_create(sc, NULL, &sv->t, &sv->d), 0);
    assert_int_equal(tr_tls_handshake(cl->t, &cl->d), 0);
    assert_int_equal(tr_tls_flush(cl->t, end_wire, cl), 0);
    pump_ends(cl, sv);
    return cl->last;
}

static void test_client_verifies_the_server(void **st) {
    (void)st;
    struct tr_tls_ctx *sc = server_ctx(NULL, TR_TLS_V12);
    struct end cl, sv;
    /* trusted, right name: both ends established, bytes go through */
    struct tr_tls_ctx *cc = client_ctx(cert_f, NULL, NULL);
    assert_int_equal(connect_ends(cc, "localhost", sc, &cl, &sv), 1);
    assert_true(tr_tls_established(cl.t));
    assert_string_equal(tr_tls_version(cl.t), "TLSv1.3");
    assert_int_equal(tr_tls_write(cl.t, "hello\n", 6), 0);
    assert_int_equal(tr_tls_flush(cl.t, end_wire, &cl), 0);
    pump_ends(&cl, &sv);
    assert_int_equal(sv.plain, 6);
    tr_tls_destroy(cl.t);
    tr_tls_destroy(sv.t);
    /* another name: refused, and the message names it */
    assert_int_equal(connect_ends(cc, "other.example", sc, &cl, &sv), TR_ERUNTIME);
    if (!strstr(cl.d.msg, "TLS certificate refused: hostname mismatch (it is not for 'other.example')"))
        fail_msg("got '%s'", cl.d.msg);
    tr_tls_destroy(cl.t);
    tr_tls_destroy(sv.t);
    tr_tls_ctx_destroy(cc);
    /* not trusted (the client's own CA is another) */
    cc = client_ctx(cli_cert_f, NULL, NULL);
    assert_int_equal(connect_ends(cc, "localhost", sc, &cl, &sv), TR_ERUNTIME);
    if (!strstr(cl.d.msg, "TLS certificate refused: self-signed certificate")) fail_msg("got '%s'", cl.d.msg);
    tr_tls_destroy(cl.t);
    tr_tls_destroy(sv.t);
    tr_tls_ctx_destroy(cc);
    tr_tls_ctx_destroy(sc);
}

/* A TLS 1.3 server judges our certificate after our side of the handshake
 * is done: the client is established only once the server showed it kept
 * the connection (its answer to our KeyUpdate), and a refusal is an error. */
static void test_client_certificate_verdict(void **st) {
    (void)st;
    struct tr_tls_ctx *sc = server_ctx(cli_cert_f, TR_TLS_V12);
    struct end cl, sv;
    struct tr_tls_ctx *cc = client_ctx(cert_f, cli_cert_f, cli_key_f);
    assert_int_equal(connect_ends(cc, "localhost", sc, &cl, &sv), 1);
    assert_true(tr_tls_established(cl.t));
    assert_true(tr_tls_established(sv.t));
    tr_tls_destroy(cl.t);
    tr_tls_destroy(sv.t);
    tr_tls_ctx_destroy(cc);
    /* without a certificate: the server's alert, never established */
    cc = client_ctx(cert_f, NULL, NULL);
    assert_int_equal(connect_ends(cc, "localhost", sc, &cl, &sv), TR_ERUNTIME);
    assert_false(tr_tls_established(cl.t));
    if (!strstr(cl.d.msg, "certificate required")) fail_msg("got '%s'", cl.d.msg);
    tr_tls_destroy(cl.t);
    tr_tls_destroy(sv.t);
    tr_tls_ctx_destroy(cc);
    /* a client certificate the server does not trust */
    cc = client_ctx(cert_f, cert_f, key_f);
    assert_int_equal(connect_ends(cc, "localhost", sc, &cl, &sv), TR_ERUNTIME);
    assert_false(tr_tls_established(cl.t));
    tr_tls_destroy(cl.t);
    tr_tls_destroy(sv.t);
    tr_tls_ctx_destroy(cc);
    tr_tls_ctx_destroy(sc);
}

static void expect_ctx_error(const char *cert, const char *key, const char *ca, const char *want) {
    struct tr_tls_opts o = {.flags = TR_TLS_SERVER, .cert_file = cert, .key_file = key, .ca_file = ca};
    struct tr_tls_ctx *c = (struct tr_tls_ctx *)1;
    struct tr_diag d;
    tr_diag_clear(&d);
    assert_int_equal(tr_tls_ctx_create(&o, &c, &d), TR_ERUNTIME);
    assert_null(c);
    if (!strstr(d.msg, want)) fail_msg("expected '%s' in '%s'", want, d.msg);
}

static void test_file_errors(void **st) {
    (void)st;
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.pem", dir);
    expect_ctx_error(missing, key_f, NULL, "cannot read the certificate");
    expect_ctx_error(missing, key_f, NULL, "No such file or directory");
    expect_ctx_error(cert_f, missing, NULL, "cannot read the key");
    expect_ctx_error(cert_f, other_key_f, NULL, "does not match the certificate");
    expect_ctx_error(key_f, key_f, NULL, "cannot use the certificate");
    expect_ctx_error(cert_f, cert_f, NULL, "cannot use the key");
    expect_ctx_error(cert_f, key_f, missing, "cannot read the CA file");
    expect_ctx_error(cert_f, key_f, key_f, "cannot load the CA file");
}

static void test_config_record(void **st) {
    (void)st;
    struct fake_spec sp;
    fake_spec_init(&sp, "tcp", "in");
    struct tr_tls_ctx *c;
    uint64_t hs = 0;
    struct tr_diag d;
    tr_diag_clear(&d);
    /* absent: plain TCP */
    assert_int_equal(tr_tls_server_config(&sp.s, &c, &hs, &d), 0);
    assert_null(c);
    tr_value t;
    assert_int_equal(tr_v_rec(4, &t), 0);
    tr_value v;
    assert_int_equal(tr_v_cstr(cert_f, &v), 0);
    assert_int_equal(tr_rec_set(&t, "cert", 4, v), 0);
    assert_int_equal(tr_rec_set(&sp.cfg, "tls", 3, t), 0);
    /* the key is missing: named as config.tls.key, located at the entry */
    assert_int_equal(tr_tls_server_config(&sp.s, &c, &hs, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "tcp 'in': config.tls.key"));
    assert_int_equal(d.line, 3);
    tr_value *tls = (tr_value *)tr_rec_get(&sp.cfg, "tls", 3);
    assert_int_equal(tr_v_cstr(key_f, &v), 0);
    assert_int_equal(tr_rec_set(tls, "key", 3, v), 0);
    assert_int_equal(tr_rec_set(tls, "handshake_timeout_ms", 20, tr_v_int(1234)), 0);
    tr_diag_clear(&d);
    assert_int_equal(tr_tls_server_config(&sp.s, &c, &hs, &d), 0);
    assert_non_null(c);
    assert_int_equal(hs, 1234);
    tr_tls_ctx_destroy(c);
    assert_int_equal(tr_rec_set(tls, "min_version", 11, tr_v_int(3)), 0);
    assert_int_equal(tr_tls_server_config(&sp.s, &c, &hs, &d), TR_EINVAL_CFG);
    assert_non_null(strstr(d.msg, "config.tls.min_version"));
    fake_spec_fini(&sp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_through_the_pump),
        cmocka_unit_test(test_not_tls_is_refused),
        cmocka_unit_test(test_client_certificate),
        cmocka_unit_test(test_min_version),
        cmocka_unit_test(test_renegotiation_refused),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_client_verifies_the_server),
        cmocka_unit_test(test_client_certificate_verdict),
        cmocka_unit_test(test_config_record),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
