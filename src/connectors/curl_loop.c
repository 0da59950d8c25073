/* curl_loop.c - libcurl multi on libuv (see curl_loop.h).
 *
 * Each socket curl asks about gets a uv_poll in a list; one uv_timer stands
 * for curl's timeout. Invariant: handles counts the open uv handles (the
 * polls and the timer), and the struct is freed only when it reaches 0
 * after close, in the last close callback.
 */
#include <errno.h>
#include <stdbool.h>

#include "connectors/curl_loop.h"
#include "core/alloc.h"
#include "core/error.h"

struct sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct tr_curl_loop *cl;
    struct sock *prev, *next;
};

struct tr_curl_loop {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    struct sock *socks;
    tr_curl_done_fn done;
    void *arg;
    unsigned running;
    int handles;
    bool closing;
    void (*closed)(void *);
    void *closed_arg;
};

int tr_curl_global_init(void) {
    static int ready;
    if (!ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return -EIO;
        ready = 1;
    }
    return 0;
}

static void report(struct tr_curl_loop *cl) {
    CURLMsg *msg;
    int left;
    while (!cl->closing && (msg = curl_multi_info_read(cl->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *easy = msg->easy_handle;
        CURLcode res = msg->data.result;
        curl_multi_remove_handle(cl->multi, easy);
        cl->running--;
        cl->done(cl->arg, easy, res);
    }
}

static void on_poll(uv_poll_t *p, int status, int events) {
    struct sock *s = p->data;
    struct tr_curl_loop *cl = s->cl;
    int flags = 0;
    if (status < 0) flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(cl->multi, s->fd, flags, &running);
    report(cl);
}

static void handle_gone(struct tr_curl_loop *cl) {
    if (--cl->handles == 0 && cl->closing) {
        void (*closed)(void *) = cl->closed;
        void *arg = cl->closed_arg;
        tr_free(cl);
        if (closed) closed(arg);
    }
}

static void on_sock_closed(uv_handle_t *h) {
    struct sock *s = h->data;
    struct tr_curl_loop *cl = s->cl;
    tr_free(s);
    handle_gone(cl);
}

static void on_timer_closed(uv_handle_t *h) { handle_gone(h->data); }

static void sock_close(struct sock *s) {
    struct tr_curl_loop *cl = s->cl;
    if (s->prev) s->prev->next = s->next;
    else cl->socks = s->next;
    if (s->next) s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    (void)easy;
    struct tr_curl_loop *cl = userp;
    struct sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(cl->multi, fd, NULL);
            sock_close(s);
        }
        return 0;
    }
    if (!s) {
        s = tr_calloc(1, sizeof *s);
        if (!s) return -1;
        if (uv_poll_init_socket(cl->loop, &s->poll, fd) != 0) {
            tr_free(s);
            return -1;
        }
        s->fd = fd;
        s->cl = cl;
        s->poll.data = s;
        cl->handles++;
        s->next = cl->socks;
        if (cl->socks) cl->socks->prev = s;
        cl->socks = s;
        curl_multi_assign(cl->multi, fd, s);
    }
    int ev = 0;
    if (what & CURL_POLL_IN) ev |= UV_READABLE;
    if (what & CURL_POLL_OUT) ev |= UV_WRITABLE;
    uv_poll_start(&s->poll, ev, on_poll);
    return 0;
}

static void on_timer(uv_timer_t *t) {
    struct tr_curl_loop *cl = t->data;
    int running;
    curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    report(cl);
}

/* curl wants to be called after timeout_ms (0: as soon as possible, which
 * the timer does from the loop, never inside curl's call). */
static int on_timer_fn(CURLM *multi, long timeout_ms, void *userp) {
    (void)multi;
    struct tr_curl_loop *cl = userp;
    if (cl->closing) return 0;
    if (timeout_ms < 0) uv_timer_stop(&cl->timer);
    else uv_timer_start(&cl->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

int tr_curl_loop_create(uv_loop_t *loop, long max_host_conns, tr_curl_done_fn done, void *arg,
                        struct tr_curl_loop **out) {
    *out = NULL;
    struct tr_curl_loop *cl = tr_calloc(1, sizeof *cl);
    if (!cl) return -ENOMEM;
    cl->multi = curl_multi_init();
    if (!cl->multi) {
        tr_free(cl);
        return -ENOMEM;
    }
    cl->loop = loop;
    cl->done = done;
    cl->arg = arg;
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, on_timer_fn);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
    if (max_host_conns > 0) curl_multi_setopt(cl->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host_conns);
    uv_timer_init(loop, &cl->timer);
    cl->timer.data = cl;
    cl->handles = 1;
    *out = cl;
    return 0;
}

int tr_curl_loop_add(struct tr_curl_loop *cl, CURL *easy) {
    if (cl->closing || curl_multi_add_handle(cl->multi, easy) != CURLM_OK) return -EIO;
    cl->running++;
    return 0;
}

void tr_curl_loop_remove(struct tr_curl_loop *cl, CURL *easy) {
    if (curl_multi_remove_handle(cl->multi, easy) == CURLM_OK && cl->running) cl->running--;
}

unsigned tr_curl_loop_running(const struct tr_curl_loop *cl) { return cl->running; }

void tr_curl_loop_close(struct tr_curl_loop *cl, void (*closed)(void *), void *arg) {
    if (!cl) {
        if (closed) closed(arg);
        return;
    }
    cl->closing = true;
    cl->closed = closed;
    cl->closed_arg = arg;
    /* curl_multi_cleanup may still ask to drop sockets: on_socket closes them */
    curl_multi_cleanup(cl->multi);
    cl->multi = NULL;
    while (cl->socks) sock_close(cl->socks);
    uv_timer_stop(&cl->timer);
    uv_close((uv_handle_t *)&cl->timer, on_timer_closed);
}
