/* cmd_run.h - `tremor run FILE`: one script or query over JSON lines. */
#ifndef TR_CLI_CMD_RUN_H
#define TR_CLI_CMD_RUN_H

/* argv[0] is "run". Returns the process exit code. */
int tr_cli_run(int argc, char **argv);

#endif
