/* server.h - `tremor server run`: argv in, exit code out. */
#ifndef TR_CLI_SERVER_H
#define TR_CLI_SERVER_H

/* argv[0] is "server". Returns the process exit code. */
int tr_cli_server(int argc, char **argv);

#endif
