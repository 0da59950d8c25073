/* tls.h - TLS for connections on the libuv loop, with OpenSSL behind
 * memory BIOs.
 *
 * One TLS engine for every connector that speaks TLS: the tcp and ws
 * offramps (clients, wss:// for ws) and the tcp and ws onramps (servers). OpenSSL never sees
 * the socket: the owner reads ciphertext with libuv and hands it to
 * tr_tls_input, which drives the handshake and hands the plaintext back to
 * a callback; whatever OpenSSL wants to send (handshake records, alerts,
 * encrypted application data) is offered to the owner's `wire` callback, so
 * the owner decides how it is queued and counted. Nothing here blocks or
 * touches a socket. Not a session cache, ALPN or OCSP negotiator, and
 * renegotiation is refused in both directions. Threading: a context and its
 * connections belong to one loop thread.
 */
#ifndef TR_TLS_H
#define TR_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/cmap.h"
#include "core/error.h"

struct tr_conn_spec;

struct tr_tls_ctx;   /* settings, certificate and trust store, shared by connections */
struct tr_tls;       /* one connection */

enum tr_tls_flags {
    TR_TLS_CLIENT = 0,
    TR_TLS_SERVER = 1 << 0,
    TR_TLS_NO_VERIFY = 1 << 1,   /* client: accept any certificate */
};

enum tr_tls_version { TR_TLS_V12 = 0, TR_TLS_V13 = 1 };

/* What a context is made of. PEM texts or file names: a server needs a
 * certificate (chain) and its key, as text or as a file (text wins); a
 * client may have one too (files only), shown to servers that ask. */
struct tr_tls_opts {
    unsigned flags;
    const char *cert_pem, *key_pem;     /* server: PEM texts */
    const char *cert_file, *key_file;   /* PEM files: server, or client certificate */
    /* Server: a client must present a certificate that chains to one in
     * this PEM file. Client: trust these instead of the system store. */
    const char *ca_file;
    enum tr_tls_version min_version;    /* oldest protocol accepted */
};

/* Returns 0 and *out, or TR_ERUNTIME / -ENOMEM with d saying why (a file
 * that cannot be read, a certificate that does not match its key; *out is
 * NULL then). Reads the files now, never again. */
int tr_tls_ctx_create(const struct tr_tls_opts *o, struct tr_tls_ctx **out, struct tr_diag *d);
void tr_tls_ctx_destroy(struct tr_tls_ctx *c);   /* NULL is a no-op */

/* The `tls` record of a server onramp (Tremor 0.11: tcp onramp `tls:
 * {cert, key}`; ours also on ws, and the extensions ca_file, min_version,
 * handshake_timeout_ms). */
extern const struct tr_cmap_entry tr_tls_server_cmap[];

/* Read spec->config.tls: absent (or null) leaves *out NULL and returns 0;
 * else checks it against tr_tls_server_cmap, loads the files and returns 0
 * with *out and *hs_timeout_ms set, or TR_EINVAL_CFG with d located at the
 * `tls` key ("tcp 'id': config.tls.cert ..."), or -ENOMEM. */
int tr_tls_server_config(const struct tr_conn_spec *spec, struct tr_tls_ctx **out,
                         uint64_t *hs_timeout_ms, struct tr_diag *d);

/* The `tls` key of a client offramp: `true`, or a record (Tremor 0.11's
 * tcp offramp: {cafile, domain}; 0.12's cert, key for a client
 * certificate; ours min_version, handshake_timeout_ms). */
extern const struct tr_cmap_entry tr_tls_client_cmap[];

/* What tr_tls_client_config made of it. */
struct tr_tls_client {
    struct tr_tls_ctx *ctx;   /* NULL: plain TCP */
    char *domain;             /* tr_malloc'ed name to verify and send as SNI; NULL: the host dialled */
    uint64_t hs_timeout_ms;   /* how long the server has to finish the handshake */
};

/* Read spec->config.tls of a client. dflt (may be NULL) gives the flags
 * (TR_TLS_NO_VERIFY) and ca_file of the connector's own older keys (the ws
 * offramp's tls_verify and ca_file); `cafile` in the record may not repeat
 * the latter. Absent, null or false: no TLS (out->ctx NULL) unless required
 * (wss://), then a context from dflt alone; `false` when required is an
 * error. Files are read now. Returns 0 and *out (tr_tls_client_fini it), or
 * TR_EINVAL_CFG with d located at the `tls` key ("tcp 'id':
 * config.tls.cert ..."), or -ENOMEM; *out is empty on failure. */
int tr_tls_client_config(const struct tr_conn_spec *spec, const struct tr_tls_opts *dflt,
                         bool required, struct tr_tls_client *out, struct tr_diag *d);
void tr_tls_client_fini(struct tr_tls_client *c);

/* One connection. Client: host is checked against the certificate (name or
 * IP address) and sent as SNI when it is a name (NULL for a server).
 * Returns 0 and *out, or TR_ERUNTIME with d saying why. */
int tr_tls_create(struct tr_tls_ctx *c, const char *host, struct tr_tls **out, struct tr_diag *d);
void tr_tls_destroy(struct tr_tls *t);   /* NULL is a no-op */

/* Ciphertext received from the peer. 0 or -ENOMEM. */
int tr_tls_feed(struct tr_tls *t, const void *data, size_t len);
/* Drive the handshake. 1 when it is complete, 0 when it needs more input
 * (send what tr_tls_take gives first), TR_ERUNTIME with d on failure
 * (certificate refused, not TLS at all, protocol error). A TLS 1.3
 * client that was asked for a certificate is complete only once the
 * server showed it kept the connection after reading our certificate (it
 * refuses one after our side of the handshake is over): we ask it for a
 * KeyUpdate, and its answer (or a session ticket) is that sign. */
int tr_tls_handshake(struct tr_tls *t, struct tr_diag *d);
bool tr_tls_established(const struct tr_tls *t);   /* tr_tls_handshake said 1 */
/* A TLS 1.3 client whose handshake is done but whose server has not yet
 * shown it kept our certificate. Servers that send no session tickets and
 * answer a KeyUpdate only before their next data never show it: the owner
 * decides how long silence takes to mean yes (a refusal comes about one
 * round trip after our Finished) and then calls tr_tls_assume_accepted,
 * or does so at once when its protocol answers anyway (an HTTP upgrade). */
bool tr_tls_awaiting_verdict(const struct tr_tls *t);
void tr_tls_assume_accepted(struct tr_tls *t);
/* The protocol agreed on ("TLSv1.3"), for messages. */
const char *tr_tls_version(const struct tr_tls *t);
/* Encrypt n plaintext bytes (after the handshake). 0, or TR_ERUNTIME. */
int tr_tls_write(struct tr_tls *t, const void *p, size_t n);
/* Decrypt into buf. Returns bytes (> 0), 0 when nothing is buffered,
 * TR_ECLOSED when the peer sent close_notify, TR_ERUNTIME on error (its
 * reason left on OpenSSL's error queue). */
long tr_tls_read(struct tr_tls *t, void *buf, size_t cap);
/* Queue our close_notify (once; harmless before the handshake ends). */
void tr_tls_close_notify(struct tr_tls *t);
/* Ciphertext waiting to be sent, and taking it: returns a tr_malloc'ed
 * buffer with *len bytes (the caller frees it), NULL when there is none or
 * on -ENOMEM (then *len is 0 and the bytes stay). */
size_t tr_tls_pending(struct tr_tls *t);
char *tr_tls_take(struct tr_tls *t, size_t *len);

/* ------------------------------------------------- the loop-side pump */

/* Where the owner puts ciphertext for the peer. Takes p (tr_malloc'ed),
 * even on failure; returns 0 or a negative code that ends tr_tls_input. */
typedef int (*tr_tls_wire_fn)(void *arg, char *p, size_t n);
/* Where plaintext goes; a negative return ends tr_tls_input with it. */
typedef int (*tr_tls_plain_fn)(void *arg, const char *p, size_t n);

/* Hand everything OpenSSL wants to send to wire. 0 or its error. */
int tr_tls_flush(struct tr_tls *t, tr_tls_wire_fn wire, void *arg);

/* The body of a read callback: feed n ciphertext bytes, drive the
 * handshake, and when it is done decrypt into buf (cap bytes, the
 * owner's; it may be the buffer p came in, which is copied first) and
 * pass each piece to plain, until nothing is left or plain stops it; then
 * flush. Returns 1 when the connection is established, 0 when the
 * handshake needs more, TR_ECLOSED when the peer closed, TR_ERUNTIME with
 * d on a TLS failure (a peer's alert named), or what wire/plain returned.
 * plain is never called before the handshake is done (it may be while a
 * TLS 1.3 client waits for the server's verdict on its certificate). */
int tr_tls_input(struct tr_tls *t, const void *p, size_t n, char *buf, size_t cap,
                 tr_tls_plain_fn plain, tr_tls_wire_fn wire, void *arg, struct tr_diag *d);

#endif
