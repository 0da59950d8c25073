/* pg_keys.h - the config keys both postgres connectors read (0.11's host,
 * port, user, password, dbname, all required as in 0.11, and our bounds and
 * retry delays), as rows of a config map (config/cmap.h) for a struct S
 * with the fields host, port, user, password, dbname, max_value,
 * query_timeout_ms, connect_timeout_ms, min_ms, max_ms.
 */
#ifndef TR_PG_KEYS_H
#define TR_PG_KEYS_H

#include <stddef.h>

#include "config/cmap.h"

#define PG_COMMON_KEYS(S)                                                                                 \
    {TR_CMAP_KEY(TR_CMAP_STR, "host", NULL, TR_CMAP_REQUIRED, offsetof(S, host),                          \
     "server host name, address, or socket directory")},                                                \
    {TR_CMAP_KEY(TR_CMAP_U64, "port", NULL, TR_CMAP_REQUIRED | TR_CMAP_RANGE, offsetof(S, port),          \
     "server port"), .lo = 1, .hi = 65535},                                                             \
    {TR_CMAP_KEY(TR_CMAP_STR, "user", NULL, TR_CMAP_REQUIRED, offsetof(S, user), "user name")},           \
    {TR_CMAP_KEY(TR_CMAP_STR, "password", NULL, TR_CMAP_REQUIRED, offsetof(S, password),                  \
     "password (\"\": none)")},                                                                         \
    {TR_CMAP_KEY(TR_CMAP_STR, "dbname", NULL, TR_CMAP_REQUIRED, offsetof(S, dbname), "database")},        \
    {TR_CMAP_KEY(TR_CMAP_U64, "max_value_bytes", "1048576", TR_CMAP_RANGE, offsetof(S, max_value),       \
     "longest value of one column"), .lo = 1, .hi = 1073741824},                                        \
    {TR_CMAP_KEY(TR_CMAP_U64, "query_timeout_ms", "30000", TR_CMAP_RANGE, offsetof(S, query_timeout_ms), \
     "statement_timeout of the session (0: none)"), .lo = 0, .hi = 2147483647},                        \
    {TR_CMAP_KEY(TR_CMAP_U64, "connect_timeout_ms", "10000", TR_CMAP_RANGE,                              \
     offsetof(S, connect_timeout_ms), "longest connection attempt"), .lo = 1, .hi = 3600000},         \
    {TR_CMAP_KEY(TR_CMAP_U64, "reconnect_min_ms", "100", TR_CMAP_RANGE, offsetof(S, min_ms),              \
     "first delay before connecting again"), .lo = 1, .hi = 3600000},                                   \
    {TR_CMAP_KEY(TR_CMAP_U64, "reconnect_max_ms", "10000", TR_CMAP_RANGE, offsetof(S, max_ms),            \
     "longest delay between attempts (doubling, with jitter)"), .lo = 1, .hi = 3600000}

#endif
