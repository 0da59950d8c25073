/* curl_loop.h - libcurl's multi interface driven by a libuv loop, shared by
 * the HTTP offramps (rest, elastic).
 *
 * curl says which sockets to watch (CURLMOPT_SOCKETFUNCTION -> uv_poll) and
 * when to be called back (CURLMOPT_TIMERFUNCTION -> uv_timer); readiness is
 * handed back with curl_multi_socket_action. Finished transfers are reported
 * through one callback, always from a loop callback (a poll or the timer),
 * never from inside tr_curl_loop_add. Not a request builder: the owner makes
 * and configures its easy handles and keeps them.
 * Threading: everything on the loop's thread.
 */
#ifndef TR_CURL_LOOP_H
#define TR_CURL_LOOP_H

#include <curl/curl.h>
#include <uv.h>

struct tr_curl_loop;

/* A transfer ended (res CURLE_OK or its error). easy is already out of the
 * multi handle and belongs to the owner again; the callback may add it (or
 * others) back. */
typedef void (*tr_curl_done_fn)(void *arg, CURL *easy, CURLcode res);

/* curl_global_init once per process (not thread-safe: call from the main
 * thread, as connector create() is). 0 or -EIO. */
int tr_curl_global_init(void);

/* A multi handle on loop reporting to done(arg). 0, -ENOMEM. *out is NULL
 * on failure. max_host_conns bounds connections per host (0: curl's). */
int tr_curl_loop_create(uv_loop_t *loop, long max_host_conns, tr_curl_done_fn done, void *arg,
                        struct tr_curl_loop **out);

/* Start a transfer. 0, or -EIO when curl refuses it (then done is never
 * called for it). */
int tr_curl_loop_add(struct tr_curl_loop *cl, CURL *easy);

/* Take back a transfer still running (done is not called for it). */
void tr_curl_loop_remove(struct tr_curl_loop *cl, CURL *easy);

/* Number of transfers added and not yet reported or removed. */
unsigned tr_curl_loop_running(const struct tr_curl_loop *cl);

/* Tear down: the owner has removed its transfers first. closed(arg) is
 * called once every libuv handle is closed (later, from the loop); no done
 * callback comes after this call. cl NULL: closed is called at once. */
void tr_curl_loop_close(struct tr_curl_loop *cl, void (*closed)(void *arg), void *arg);

#endif
