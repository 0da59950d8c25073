/* main.c - the `tremor` command: global flags and dispatch to subcommands.
 *
 * Global flags come before the subcommand, as Tremor 0.11's command line
 * has them: `tremor -v -i node1 server run -f ...`. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/check.h"
#include "cli/cmd_api.h"
#include "cli/cmd_run.h"
#include "cli/opts.h"
#include "cli/server.h"
#include "cli/version.h"
#include "cli/wal_cmd.h"

static void usage(FILE *f) {
    fprintf(f,
            "tremor %s - event processing server (Tremor 0.11 compatible)\n"
            "\n"
            "USAGE:\n"
            "    tremor [GLOBAL FLAGS] server run -f FILE... [FLAGS]\n"
            "    tremor [GLOBAL FLAGS] server run --check FILE...\n"
            "    tremor [GLOBAL FLAGS] check FILE...\n"
            "    tremor server run --help-connector [TYPE] | --help-operator [KIND]\n"
            "    tremor run FILE [-i INFILE] [-o OUTFILE]\n"
            "    tremor wal inspect DIR | wal verify DIR\n"
            "    tremor api [-f json|yaml] [-h HOST:PORT] COMMAND ...\n"
            "    tremor --version | --help\n"
            "\n"
            "GLOBAL FLAGS:\n"
            "    -v, --verbose              more log lines (-vv: trace)\n"
            "    -i, --instance ID          instance identifier, system::instance() (default tremor)\n"
            "        --logger-config FILE   log4rs YAML: root level, first appender, its pattern\n"
            "        --log-format text|json text (RFC 3339 time, level, module) or one JSON object\n"
            "                               per line {ts, level, target, msg}\n"
            "    -V, --version              print the version\n"
            "        --help                 this text\n"
            "\n"
            "SUBCOMMANDS:\n"
            "server run   load .trickle queries, then YAML configs (in argument order), deploy\n"
            "             their mappings and run until SIGINT/SIGTERM (`tremor server run --help`\n"
            "             lists its flags)\n"
            "check        load and compile the files as `server run` would, deploy nothing, open\n"
            "             no socket, report every file's error; exit 1 if there was one\n"
            "run          run one .trickle query or .tremor script over JSON lines\n"
            "wal inspect  summarise a qos::wal directory offline (segments, records, frontier)\n"
            "wal verify   check every record's checksum; exit 1 on damage\n"
            "api          the REST API's client: version, onramp|offramp|pipeline|binding list,\n"
            "             fetch, delete, create, instance; binding activate|deactivate; status,\n"
            "             ready, metrics (`tremor api --help`)\n",
            TR_VERSION);
}

/* "--flag VALUE" or "--flag=VALUE" at argv[*i]; NULL when a is not it. */
static const char *value_of(int argc, char **argv, int *i, const char *shrt, const char *lng) {
    const char *a = argv[*i];
    size_t n = strlen(lng);
    if (!strncmp(a, lng, n) && a[n] == '=') return a + n + 1;
    if ((shrt && !strcmp(a, shrt)) || !strcmp(a, lng)) {
        if (*i + 1 >= argc) return "";
        return argv[++*i];
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    /* A peer that goes away must be an error on the write, not our death. */
    signal(SIGPIPE, SIG_IGN);
    struct tr_cli_globals g = {0, "tremor", NULL, 0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
            printf("tremor %s\n", TR_VERSION);
            return 0;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--verbose")) {
            g.verbose++;
        } else if (a[1] == 'v' && strspn(a + 1, "v") == strlen(a + 1)) {
            g.verbose += (int)strlen(a + 1);
        } else if ((v = value_of(argc, argv, &i, "-i", "--instance"))) {
            if (!*v) goto missing;
            g.instance = v;
        } else if ((v = value_of(argc, argv, &i, NULL, "--logger-config"))) {
            if (!*v) goto missing;
            g.logger_config = v;
        } else if ((v = value_of(argc, argv, &i, NULL, "--log-format"))) {
            if (strcmp(v, "json") && strcmp(v, "text")) {
                fprintf(stderr, "error: --log-format takes text or json, not '%s'\n", v);
                return 1;
            }
            g.log_json = !strcmp(v, "json");
        } else {
            fprintf(stderr, "error: unknown flag '%s' (global flags come before the subcommand)\n\n", a);
            usage(stderr);
            return 1;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 1;
    }
    const char *cmd = argv[i];
    int n = argc - i;
    char **av = argv + i;
    if (!strcmp(cmd, "version")) {
        printf("tremor %s\n", TR_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "server")) return tr_cli_server(n, av, &g);
    if (!strcmp(cmd, "check")) return tr_cli_check_cmd(n, av, &g);
    if (!strcmp(cmd, "run")) return tr_cli_run(n, av);
    if (!strcmp(cmd, "wal")) return tr_cli_wal(n, av);
    if (!strcmp(cmd, "api")) return tr_cli_api(n, av);
    fprintf(stderr, "error: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 1;
missing:
    fprintf(stderr, "error: %s needs a value\n", argv[i]);
    return 1;
}
