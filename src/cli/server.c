/* server.c - `tremor server run`: parse flags, load files in Tremor's order
 * (every .trickle first, then YAML in argument order), then what the REST
 * API kept under an explicit -d (api/state.h), start, wait for
 * SIGINT/SIGTERM, stop gracefully. Any load error: print it, exit 1. */
#include "cli/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "api/state.h"
#include "core/error.h"
#include "core/log.h"
#include "cli/check.h"
#include "cli/logcfg.h"
#include "cli/notify.h"
#include "cli/version.h"
#include "connectors/conn.h"
#include "ops/op.h"
#include "pipeline/world.h"

#define DRAIN_MS 2000

struct server {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    struct tr_world *w;
    struct tr_api *api;
    struct tr_api_state *state;   /* -d given: the REST API's kept changes */
    struct tr_notify notify;
    int signals;
    int stopped;
};

static const char *ext(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot ? dot : "";
}

static void on_stopped(void *arg) {
    struct server *s = arg;
    s->stopped = 1;
    tr_api_close(s->api, NULL, NULL);
    s->api = NULL;
    tr_notify_close(&s->notify);
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
}

static void on_shutdown(void *arg) {
    struct server *s = arg;
    tr_notify_stopping();
    tr_world_stop(s->w, DRAIN_MS, on_stopped, s);
}

static void on_signal(uv_signal_t *h, int signum) {
    struct server *s = h->data;
    if (++s->signals > 1) {
        fprintf(stderr, "second signal: exiting without draining\n");
        exit(1);
    }
    TR_INFO("server", "received %s, stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
    tr_notify_stopping();
    tr_world_stop(s->w, DRAIN_MS, on_stopped, s);
}

static void server_usage(FILE *f) {
    fprintf(f,
            "usage: tremor [-v] [-i INSTANCE] server run -f FILE... [FLAGS]\n"
            "       tremor server run --check FILE...\n"
            "       tremor server run --help-connector [TYPE] | --help-operator [KIND]\n");
}

static void server_help(void) {
    server_usage(stdout);
    printf("\n"
           "FLAGS (Tremor 0.11's, and ours marked +):\n"
           "  -f, --file FILE...            .trickle queries and .yaml/.yml configs, any order\n"
           "  -d, --storage-directory DIR   data directory, WAL of qos::wal (default ./tremor-data);\n"
           "                                given, it also keeps the REST API's changes across\n"
           "                                restarts (DIR/api.state); -f may then be left out\n"
           "  -p, --pid FILE                write the process id to FILE (removed at a clean exit)\n"
           "  -n, --no-api                  do not serve the REST API\n"
           "  -h, --api-host HOST:PORT      REST API address (default %s; 0.11: 0.0.0.0:9898)\n"
           "  -l, --logger-config FILE      log4rs YAML: root level, first appender, pattern;\n"
           "                                what is not honoured is logged at start-up\n"
           "  -r, --recursion-limit N       accepted, 1..1000000 (default 1024); see below\n"
           "      --decode-on-loop          decode what onramps read on the loop thread too (the\n"
           "                                default with one CPU; with more, libuv's thread pool\n"
           "                                decodes while the loop runs the pipelines)\n"
           "  + -i, --instance ID           as the global flag (tremor -i ID server run ...)\n"
           "  + -v, --verbose               as the global flag\n"
           "  + --log-format text|json      as the global flag\n"
           "  + --check                     load and compile the files, deploy nothing, report\n"
           "                                every file's error, exit 1 if there was one\n"
           "  + --help-connector [TYPE]     a connector type's config keys\n"
           "  + --help-operator [KIND]      an operator kind's parameters\n"
           "      --help                    this text\n"
           "\n"
           "Under systemd (Type=notify) the server reports READY=1 once deployed and running,\n"
           "STOPPING=1 when it drains, and WATCHDOG=1 every half WatchdogSec.\n"
           "-r: tremor-c's scripts run `recur` as a loop, not on a stack, so the limit is only\n"
           "range-checked.\n",
           TR_API_DEFAULT_HOST);
}

/* "--flag VALUE" or "--flag=VALUE"; NULL when a is not flag (shrt or lng). */
static const char *value_of(int argc, char **argv, int *i, const char *shrt, const char *lng) {
    const char *a = argv[*i];
    size_t n = strlen(lng);
    if (!strncmp(a, lng, n) && a[n] == '=') return a + n + 1;
    if (!strcmp(a, shrt) || !strcmp(a, lng)) return *i + 1 < argc ? argv[++*i] : "";
    return NULL;
}

int tr_cli_server(int argc, char **argv, const struct tr_cli_globals *g) {
    if (argc >= 2 && !strcmp(argv[1], "--help")) {
        server_help();
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "run") != 0) {
        server_usage(stderr);
        return 1;
    }
    const char **files = calloc((size_t)argc, sizeof *files);
    size_t nfiles = 0;
    const char *instance = g->instance, *data_dir = "tremor-data", *pidfile = NULL;
    const char *api_host = TR_API_DEFAULT_HOST, *logger_config = g->logger_config;
    int verbose = g->verbose, no_api = 0, log_json = g->log_json, check = 0, keep = 0;
    int decode_on_loop = uv_available_parallelism() < 2;
    /* 'c' or 'o' once a help flag was seen; help_name may stay NULL (list) */
    int help = 0;
    const char *help_name = NULL;
    if (!files) return 1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v;
        if (strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0) {
            while (i + 1 < argc && argv[i + 1][0] != '-') files[nfiles++] = argv[++i];
        } else if (!strncmp(a, "--file=", 7)) {
            files[nfiles++] = a + 7;
        } else if (!strcmp(a, "--check")) {
            check = 1;
            while (i + 1 < argc && argv[i + 1][0] != '-') files[nfiles++] = argv[++i];
        } else if (!strcmp(a, "--help")) {
            free(files);
            server_help();
            return 0;
        } else if ((v = value_of(argc, argv, &i, "-i", "--instance"))) {
            if (!*v) goto missing;
            instance = v;
        } else if ((v = value_of(argc, argv, &i, "-d", "--storage-directory"))) {
            if (!*v) goto missing;
            data_dir = v;
            keep = 1;
        } else if ((v = value_of(argc, argv, &i, "-p", "--pid"))) {
            if (!*v) goto missing;
            pidfile = v;
        } else if (!strcmp(a, "--decode-on-loop")) {
            decode_on_loop = 1;
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--no-api") == 0) {
            no_api = 1;
        } else if ((v = value_of(argc, argv, &i, "-h", "--api-host"))) {
            if (!*v) goto missing;
            api_host = v;
        } else if ((v = value_of(argc, argv, &i, "-l", "--logger-config"))) {
            if (!*v) goto missing;
            logger_config = v;
        } else if ((v = value_of(argc, argv, &i, "-r", "--recursion-limit"))) {
            char *end;
            long r = strtol(v, &end, 10);
            if (!*v || *end || r < 1 || r > 1000000) {
                fprintf(stderr, "error: --recursion-limit takes a number from 1 to 1000000, not '%s'\n", v);
                free(files);
                return 1;
            }
        } else if ((v = value_of(argc, argv, &i, "--log-format", "--log-format"))) {
            if (strcmp(v, "json") && strcmp(v, "text")) {
                fprintf(stderr, "error: --log-format takes text or json, not '%s'\n", v);
                free(files);
                return 1;
            }
            log_json = !strcmp(v, "json");
        } else if (strncmp(a, "-v", 2) == 0 && strspn(a + 1, "v") == strlen(a + 1)) {
            verbose += (int)strlen(a + 1);
        } else if (strcmp(a, "--help-connector") == 0 || strcmp(a, "--help-operator") == 0) {
            help = a[7] == 'c' ? 'c' : 'o';
            if (i + 1 < argc && argv[i + 1][0] != '-') help_name = argv[++i];
        } else if (strcmp(a, "--verbose") == 0) {
            verbose++;
        } else {
            fprintf(stderr, "error: unexpected argument '%s'\n", a);
            server_usage(stderr);
            free(files);
            return 1;
        }
        continue;
    missing:
        fprintf(stderr, "error: %s needs a value\n", a);
        free(files);
        return 1;
    }
    if (help) {
        free(files);
        int hrc = help == 'c' ? tr_conn_help(help_name, stdout) : tr_op_help(help_name, stdout);
        return hrc ? 1 : 0;
    }
    /* with -d the API's kept changes may be all there is to run (0.11
     * needs no -f at all) */
    if (nfiles == 0 && (check || !keep)) {
        fprintf(stderr, "error: no files given (-f FILE...)\n");
        server_usage(stderr);
        free(files);
        return 1;
    }
    if (log_json) tr_log_set_format(TR_LOG_JSON);
    if (check) {
        tr_log_set_level(verbose ? TR_LOG_DEBUG : TR_LOG_WARN);
        int code = tr_cli_check_files(files, nfiles, instance);
        free(files);
        return code;
    }
    char lnotes[2048] = "";
    if (logger_config) {
        char lerr[1024];
        if (tr_logcfg_apply(logger_config, lnotes, lerr, sizeof lerr)) {
            fprintf(stderr, "error: %s\n", lerr);
            free(files);
            return 1;
        }
        /* -v on top of a logger config makes it more verbose, never less */
        if (verbose && tr_log_level() < (verbose >= 2 ? TR_LOG_TRACE : TR_LOG_DEBUG))
            tr_log_set_level(verbose >= 2 ? TR_LOG_TRACE : TR_LOG_DEBUG);
        /* said at the highest level the config lets through, so it is seen */
        if (strstr(lnotes, "; ignored:") || strstr(lnotes, "; pattern:"))
            TR_WARN("server", "logger config %s: %s", logger_config, lnotes);
        else
            TR_INFO("server", "logger config %s: %s", logger_config, lnotes);
    }
    if (!logger_config) tr_log_set_level(verbose >= 2 ? TR_LOG_TRACE : verbose ? TR_LOG_DEBUG : TR_LOG_INFO);
    for (size_t i = 0; i < nfiles; i++) {
        const char *e = ext(files[i]);
        if (strcmp(e, ".trickle") && strcmp(e, ".yaml") && strcmp(e, ".yml")) {
            fprintf(stderr, "error: %s: unsupported file type '%s' (expected .trickle, .yaml or .yml)\n",
                    files[i], e[0] ? e : "(none)");
            free(files);
            return 1;
        }
    }

    struct server s;
    memset(&s, 0, sizeof s);
    uv_loop_init(&s.loop);
    struct tr_world_opts wo = {&s.loop, instance, data_dir, on_shutdown, &s, NULL, !decode_on_loop};
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_world_create(&wo, &s.w);
    if (rc == 0)
        TR_INFO("server", "onramps decode %s", decode_on_loop ? "on the loop thread"
                                                              : "json and msgpack on libuv's thread pool");
    if (rc == 0 && keep) rc = tr_api_state_open(data_dir, &s.state, &d);
    /* Tremor 0.11 loads every query first, then the YAML files in order. */
    for (int pass = 0; pass < 2 && rc == 0; pass++)
        for (size_t i = 0; i < nfiles && rc == 0; i++) {
            int is_query = strcmp(ext(files[i]), ".trickle") == 0;
            if (pass == 0 && is_query) rc = tr_world_load_query(s.w, files[i], &d);
            if (pass == 1 && !is_query) rc = tr_world_load_config(s.w, files[i], &d);
        }
    /* the API's artefacts after the files (an id in both: the files'),
     * its binding instances after the files' mappings */
    if (rc == 0 && s.state) rc = tr_api_state_restore(s.state, s.w, 0, &d);
    if (rc == 0) rc = tr_world_deploy(s.w, &d);
    if (rc == 0 && s.state) rc = tr_api_state_restore(s.state, s.w, 1, &d);
    /* The API listens before anything starts, so a taken port stops us
     * with nothing started. */
    if (rc == 0 && !no_api) rc = tr_api_open(&s.loop, api_host, TR_VERSION, s.w, s.state, NULL, &s.api, &d);
    if (rc == 0 && s.api) TR_INFO("server", "Listening at: http://%s", api_host);
    if (rc == 0) rc = tr_world_start(s.w, &d);
    free(files);
    int code = 0;
    if (rc) {
        tr_cli_print_load_error(s.w, &d, rc);
        code = 1;
        tr_api_close(s.api, NULL, NULL);
        s.api = NULL;
        if (s.w) tr_world_stop(s.w, 0, NULL, NULL);
    } else {
        if (pidfile) {
            FILE *pf = fopen(pidfile, "w");
            if (pf) {
                fprintf(pf, "%ld\n", (long)getpid());
                fclose(pf);
            } else {
                TR_WARN("server", "cannot write pid file %s", pidfile);
            }
        }
        uv_signal_init(&s.loop, &s.sigint);
        uv_signal_init(&s.loop, &s.sigterm);
        s.sigint.data = s.sigterm.data = &s;
        uv_signal_start(&s.sigint, on_signal, SIGINT);
        uv_signal_start(&s.sigterm, on_signal, SIGTERM);
        TR_INFO("server", "tremor %s running (instance %s)", TR_VERSION, instance);
        tr_notify_init(&s.notify, &s.loop);
        tr_notify_ready("deployed and running");
    }
    uv_run(&s.loop, UV_RUN_DEFAULT);
    if (s.w && tr_world_failed(s.w)) code = 1;   /* stopped because it could not go on */
    else if (s.w && code == 0 && tr_world_exit_code(s.w) >= 0) code = tr_world_exit_code(s.w);
    tr_world_destroy(s.w);
    tr_api_state_destroy(s.state);
    if (uv_loop_close(&s.loop) != 0) TR_WARN("server", "event loop closed with handles open");
    if (pidfile && code == 0) unlink(pidfile);
    tr_logcfg_close();
    return code;
}
