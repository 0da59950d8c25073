/* check.h - `tremor check FILE...` and `tremor server run --check FILE...`:
 * load and compile every file as `server run` would (queries first, then
 * YAML in argument order), without deploying anything: no instance is
 * created, no socket opened, no file or WAL touched. Every file is checked
 * even after an error in an earlier one, and each error is printed located,
 * with a hint first when it is a known copy-and-paste mistake (hints.h).
 * Once every file is loaded, every link and mapping that names an artefact
 * no file defines is reported too (what deploy would refuse). Not checked:
 * what only creating the instances finds (a port in use, a file that
 * cannot be opened). */
#ifndef TR_CLI_CHECK_H
#define TR_CLI_CHECK_H

#include <stddef.h>

#include "cli/opts.h"
#include "core/error.h"

/* Returns the exit code: 0 when every file loaded, 1 otherwise. */
int tr_cli_check_files(const char *const *files, size_t n, const char *instance);

/* argv[0] is "check"; the files follow (-f is accepted too). */
int tr_cli_check_cmd(int argc, char **argv, const struct tr_cli_globals *g);

/* Print a load error of the world (its excerpt, the hint, the message) to
 * stderr. Shared with `server run`. */
struct tr_world;
void tr_cli_print_load_error(struct tr_world *w, const struct tr_diag *d, int rc);

#endif
