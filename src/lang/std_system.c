/* std_system.c - tremor::system: facts about the running system.
 *
 * hostname, ingest_ns, instance, nanotime and version. None of them is pure
 * (they must not be folded at compile time). The instance and ingest time
 * come from the caller's tr_lang_ctx, never from globals.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lang/std_int.h"

#define TR_VERSION "0.11.12"

/* The tutorial calls hostname() once per event, and gethostname is a
 * system call (uname) that cost more than the rest of the tutorial's select.
 * The name is read again at most every 100 ms (a coarse monotonic clock is a
 * vDSO read), so a renamed host shows up promptly; the cache is per thread,
 * as every runtime runs on its own loop thread. */
#define HOSTNAME_REFRESH_NS 100000000LL

static int hostname(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)c, (void)a, (void)n;
    static _Thread_local char cached[256];
    static _Thread_local long long read_at = -1;
    struct timespec ts;
    long long now = 0;
    if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) == 0) now = ts.tv_sec * 1000000000LL + ts.tv_nsec;
    if (read_at < 0 || now - read_at >= HOSTNAME_REFRESH_NS || now < read_at) {
        if (gethostname(cached, sizeof cached) != 0) snprintf(cached, sizeof cached, "%s", "tremor_host.local");
        cached[sizeof cached - 1] = 0;
        read_at = now;
    }
    return tr_v_cstr(cached, out);
}

static int ingest_ns(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)a, (void)n;
    *out = tr_v_uint(c->ctx ? c->ctx->ingest_ns : 0);
    return 0;
}

static int instance(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)a, (void)n;
    return tr_v_cstr(c->ctx && c->ctx->instance ? c->ctx->instance : "tremor-script", out);
}

static int nanotime(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)c, (void)a, (void)n;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *out = tr_v_uint((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
    return 0;
}

static int version(struct tr_fcall *c, const tr_value *a, size_t n, tr_value *out) {
    (void)c, (void)a, (void)n;
    return tr_v_cstr(TR_VERSION, out);
}

const struct tr_fn tr_std_system[] = {
    {"system", "hostname", 0, 0, 0, hostname},
    {"system", "ingest_ns", 0, 0, 0, ingest_ns},
    {"system", "instance", 0, 0, 0, instance},
    {"system", "nanotime", 0, 0, 0, nanotime},
    {"system", "version", 0, 0, 0, version},
    {NULL, NULL, 0, 0, 0, NULL},
};
