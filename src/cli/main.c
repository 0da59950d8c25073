/* main.c - the `tremor` command: global flags and dispatch to subcommands. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cmd_api.h"
#include "cli/cmd_run.h"
#include "cli/server.h"
#include "cli/version.h"

static void usage(FILE *f) {
    fprintf(f,
            "tremor %s - event processing server (Tremor 0.11 compatible)\n"
            "\n"
            "USAGE:\n"
            "    tremor server run -f FILE... [-i INSTANCE] [-d DATA_DIR] [-p PIDFILE] [-n | -h HOST:PORT] [-v]\n"
            "    tremor server run --help-connector [TYPE] | --help-operator [KIND]\n"
            "    tremor run FILE [-i INFILE] [-o OUTFILE]\n"
            "    tremor --version | --help\n"
            "\n"
            "server run   load .trickle queries, then YAML configs (in argument order), deploy\n"
            "             their mappings and run until SIGINT/SIGTERM; --help-connector and\n"
            "             --help-operator print the settings a connector or operator reads\n"
            "run          run one .trickle query or .tremor script over JSON lines\n",
            TR_VERSION);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    /* A peer that goes away must be an error on the write, not our death. */
    signal(SIGPIPE, SIG_IGN);
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 || strcmp(cmd, "version") == 0) {
        printf("tremor %s\n", TR_VERSION);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "server") == 0) return tr_cli_server(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0) return tr_cli_run(argc - 1, argv + 1);
    if (strcmp(cmd, "api") == 0) return tr_cli_api(argc - 1, argv + 1);
    fprintf(stderr, "error: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 1;
}
