/* cmd_api.h - `tremor api`: 0.11's REST API client, argv in, exit code out. */
#ifndef TR_CLI_CMD_API_H
#define TR_CLI_CMD_API_H

/* argv[0] is "api". Returns the process exit code. */
int tr_cli_api(int argc, char **argv);

#endif
