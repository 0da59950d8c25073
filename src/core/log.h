/* log.h - leveled logging to stderr.
 *
 * One line per message: "LEVEL [module] text". The level is process-wide
 * (set from -v); logging is for operators and never carries data that a test
 * must read back.
 */
#ifndef TR_LOG_H
#define TR_LOG_H

enum tr_log_level { TR_LOG_ERROR, TR_LOG_WARN, TR_LOG_INFO, TR_LOG_DEBUG, TR_LOG_TRACE };

void tr_log_set_level(enum tr_log_level lvl);
int tr_log_enabled(enum tr_log_level lvl);
void tr_log(enum tr_log_level lvl, const char *module, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#define TR_ERROR(mod, ...) tr_log(TR_LOG_ERROR, mod, __VA_ARGS__)
#define TR_WARN(mod, ...) tr_log(TR_LOG_WARN, mod, __VA_ARGS__)
#define TR_INFO(mod, ...) tr_log(TR_LOG_INFO, mod, __VA_ARGS__)
#define TR_DEBUG(mod, ...) \
    do { if (tr_log_enabled(TR_LOG_DEBUG)) tr_log(TR_LOG_DEBUG, mod, __VA_ARGS__); } while (0)

#endif
