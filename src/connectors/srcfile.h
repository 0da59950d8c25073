/* srcfile.h - finding and opening the file a connector's config names.
 *
 * A relative path is tried against the working directory first (as Tremor
 * 0.11 does) and then against the folder of the configuration file that
 * named it, so a config keeps working when the server is started elsewhere.
 * Not a reader: callers read the descriptor themselves.
 */
#ifndef TR_SRCFILE_H
#define TR_SRCFILE_H

#include "connectors/conn.h"

/* Open path (the value of config.<key>) read-only. On success *fd is the
 * open descriptor and *used (tr_free it) the path that was opened. On
 * failure returns -errno with d saying "<type> '<id>': config.<key>: cannot
 * open ..." and naming every path tried; *fd is -1 and *used NULL. */
int tr_srcfile_open(const struct tr_conn_spec *spec, const char *key, const char *path, int *fd,
                    char **used, struct tr_diag *d);

#endif
