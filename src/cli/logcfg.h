/* logcfg.h - a log4rs YAML file (Tremor 0.11's --logger-config) applied to
 * core/log.
 *
 * What is honoured: the root level, raised to the most verbose level of a
 * `loggers` entry for tremor's own targets (tremor, tremor_runtime,
 * tremor_*: every line of ours is one of them); the first appender the root
 * (or such a logger) names: `console` (stdout, or `target: stderr`), `file` and
 * `rolling_file` (append to `path`, parent folders created); its encoder:
 * `pattern` (core/log.h's subset) or `kind: json`. Everything else
 * (refresh_rate, filters, other appenders, other loggers, rolling policies,
 * additive) is listed as ignored. */
#ifndef TR_CLI_LOGCFG_H
#define TR_CLI_LOGCFG_H

#include <stddef.h>

/* Apply path. On success 0, and notes (n bytes) says what was used and
 * what was ignored, for one start-up log line. On error -1 with a located
 * message in err (n bytes) and logging unchanged. */
int tr_logcfg_apply(const char *path, char *notes, char *err, size_t n);

/* Close a file the config opened (at exit). */
void tr_logcfg_close(void);

#endif
