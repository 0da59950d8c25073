/* server.h - `tremor server run`: argv in, exit code out. */
#ifndef TR_CLI_SERVER_H
#define TR_CLI_SERVER_H

#include "cli/opts.h"

/* argv[0] is "server"; g: the flags given before it. Returns the process
 * exit code. */
int tr_cli_server(int argc, char **argv, const struct tr_cli_globals *g);

#endif
