/* notify.h - the systemd service protocol (sd_notify, libsystemd): READY=1
 * once the server is deployed and running, STOPPING=1 when it starts to
 * drain, WATCHDOG=1 every half WatchdogSec while the loop turns. Without
 * NOTIFY_SOCKET (not under systemd) every call does nothing. */
#ifndef TR_CLI_NOTIFY_H
#define TR_CLI_NOTIFY_H

#include <uv.h>

struct tr_notify {
    uv_timer_t watchdog;
    int watchdog_on;
};

/* Start the watchdog pings on loop when systemd asked for them. */
void tr_notify_init(struct tr_notify *n, uv_loop_t *loop);
void tr_notify_ready(const char *status);
void tr_notify_stopping(void);
/* Stop the pings and close the timer (before the loop closes). */
void tr_notify_close(struct tr_notify *n);

#endif
