/* notify.c - sd_notify for Type=notify units (see notify.h). The pings run
 * from a loop timer, so a loop that is stuck stops them and systemd restarts
 * the service: that is the point of the watchdog. */
#include "cli/notify.h"

#include <stdint.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "core/log.h"

static void ping(uv_timer_t *t) {
    (void)t;
    sd_notify(0, "WATCHDOG=1");
}

void tr_notify_init(struct tr_notify *n, uv_loop_t *loop) {
    n->watchdog_on = 0;
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
    uint64_t ms = usec / 2000;   /* half the interval, as sd_watchdog_enabled(3) advises */
    if (ms == 0) ms = 1;
    uv_timer_init(loop, &n->watchdog);
    uv_timer_start(&n->watchdog, ping, ms, ms);
    uv_unref((uv_handle_t *)&n->watchdog);   /* it never keeps the server alive */
    n->watchdog_on = 1;
    TR_INFO("server", "systemd watchdog: pinging every %llu ms", (unsigned long long)ms);
}

void tr_notify_ready(const char *status) {
    char msg[512];
    snprintf(msg, sizeof msg, "READY=1\nSTATUS=%s", status ? status : "running");
    sd_notify(0, msg);
}

void tr_notify_stopping(void) { sd_notify(0, "STOPPING=1\nSTATUS=draining"); }

void tr_notify_close(struct tr_notify *n) {
    if (!n->watchdog_on) return;
    uv_timer_stop(&n->watchdog);
    uv_close((uv_handle_t *)&n->watchdog, NULL);
    n->watchdog_on = 0;
}
