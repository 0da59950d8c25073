/* wal_cmd.h - `tremor wal inspect DIR` and `tremor wal verify DIR`: a WAL
 * directory read offline through wal.h's tr_wal_inspect (nothing written).
 * inspect prints a summary; verify checks every record's CRC and names
 * each damaged region (segment file and offset). Exit codes: 0 sound (or an
 * empty directory), 1 damage found, 2 not a WAL directory or unreadable. */
#ifndef TR_CLI_WAL_CMD_H
#define TR_CLI_WAL_CMD_H

/* argv[0] is "wal". Returns the process exit code. */
int tr_cli_wal(int argc, char **argv);

#endif
