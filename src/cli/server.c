/* server.c - `tremor server run`: parse flags, load files in Tremor's order
 * (every .trickle first, then YAML in argument order), start, wait for
 * SIGINT/SIGTERM, stop gracefully. Any load error: print it, exit 1. */
#include "cli/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "core/error.h"
#include "core/log.h"
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
    int signals;
    int stopped;
};

static const char *ext(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot ? dot : "";
}

static void print_diag(const struct tr_diag *d, int rc) {
    char buf[1600];
    if (d->msg[0]) {
        tr_diag_format(d, buf, sizeof buf);
        fprintf(stderr, "error: %s\n", buf);
    } else {
        fprintf(stderr, "error: %s\n", tr_strerror(rc));
    }
}

static void on_stopped(void *arg) {
    struct server *s = arg;
    s->stopped = 1;
    tr_api_close(s->api, NULL, NULL);
    s->api = NULL;
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
}

static void on_shutdown(void *arg) {
    struct server *s = arg;
    tr_world_stop(s->w, DRAIN_MS, on_stopped, s);
}

static void on_signal(uv_signal_t *h, int signum) {
    struct server *s = h->data;
    if (++s->signals > 1) {
        fprintf(stderr, "second signal: exiting without draining\n");
        exit(1);
    }
    TR_INFO("server", "received %s, stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
    tr_world_stop(s->w, DRAIN_MS, on_stopped, s);
}

static void server_usage(void) {
    fprintf(stderr,
            "usage: tremor server run -f FILE... [-i INSTANCE] [-d DATA_DIR] [-p PIDFILE] "
            "[-n|--no-api] [-h|--api-host HOST:PORT] [-v]\n"
            "       tremor server run --help-connector [TYPE] | --help-operator [KIND]\n");
}

int tr_cli_server(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "run") != 0) {
        server_usage();
        return 1;
    }
    const char **files = calloc((size_t)argc, sizeof *files);
    size_t nfiles = 0;
    const char *instance = "tremor", *data_dir = "tremor-data", *pidfile = NULL;
    const char *api_host = TR_API_DEFAULT_HOST;
    int verbose = 0, no_api = 0;
    /* 'c' or 'o' once a help flag was seen; help_name may stay NULL (list) */
    int help = 0;
    const char *help_name = NULL;
    if (!files) return 1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0) {
            while (i + 1 < argc && argv[i + 1][0] != '-') files[nfiles++] = argv[++i];
        } else if ((strcmp(a, "-i") == 0 || strcmp(a, "--instance") == 0) && i + 1 < argc) {
            instance = argv[++i];
        } else if ((strcmp(a, "-d") == 0 || strcmp(a, "--storage-directory") == 0) && i + 1 < argc) {
            data_dir = argv[++i];
        } else if ((strcmp(a, "-p") == 0 || strcmp(a, "--pid") == 0) && i + 1 < argc) {
            pidfile = argv[++i];
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--no-api") == 0) {
            no_api = 1;
        } else if ((strcmp(a, "-h") == 0 || strcmp(a, "--api-host") == 0) && i + 1 < argc) {
            api_host = argv[++i];
        } else if (strncmp(a, "-v", 2) == 0 && strspn(a + 1, "v") == strlen(a + 1)) {
            verbose += (int)strlen(a + 1);
        } else if (strcmp(a, "--help-connector") == 0 || strcmp(a, "--help-operator") == 0) {
            help = a[7] == 'c' ? 'c' : 'o';
            if (i + 1 < argc && argv[i + 1][0] != '-') help_name = argv[++i];
        } else if (strcmp(a, "--verbose") == 0) {
            verbose++;
        } else {
            fprintf(stderr, "error: unexpected argument '%s'\n", a);
            server_usage();
            free(files);
            return 1;
        }
    }
    if (help) {
        free(files);
        int hrc = help == 'c' ? tr_conn_help(help_name, stdout) : tr_op_help(help_name, stdout);
        return hrc ? 1 : 0;
    }
    if (nfiles == 0) {
        fprintf(stderr, "error: no files given (-f FILE...)\n");
        server_usage();
        free(files);
        return 1;
    }
    tr_log_set_level(verbose >= 2 ? TR_LOG_TRACE : verbose ? TR_LOG_DEBUG : TR_LOG_INFO);
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
    struct tr_world_opts wo = {&s.loop, instance, data_dir, on_shutdown, &s, NULL};
    struct tr_diag d;
    tr_diag_clear(&d);
    int rc = tr_world_create(&wo, &s.w);
    /* Tremor 0.11 loads every query first, then the YAML files in order. */
    for (int pass = 0; pass < 2 && rc == 0; pass++)
        for (size_t i = 0; i < nfiles && rc == 0; i++) {
            int is_query = strcmp(ext(files[i]), ".trickle") == 0;
            if (pass == 0 && is_query) rc = tr_world_load_query(s.w, files[i], &d);
            if (pass == 1 && !is_query) rc = tr_world_load_config(s.w, files[i], &d);
        }
    if (rc == 0) rc = tr_world_deploy(s.w, &d);
    /* The API listens before anything starts, so a taken port stops us
     * with nothing started. */
    if (rc == 0 && !no_api) rc = tr_api_open(&s.loop, api_host, TR_VERSION, NULL, &s.api, &d);
    if (rc == 0 && s.api) TR_INFO("server", "Listening at: http://%s", api_host);
    if (rc == 0) rc = tr_world_start(s.w, &d);
    free(files);
    int code = 0;
    if (rc) {
        const char *detail = s.w ? tr_world_error_detail(s.w) : NULL;
        if (detail) fputs(detail, stderr);
        print_diag(&d, rc);
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
    }
    uv_run(&s.loop, UV_RUN_DEFAULT);
    if (s.w && tr_world_failed(s.w)) code = 1;   /* stopped because it could not go on */
    else if (s.w && code == 0 && tr_world_exit_code(s.w) >= 0) code = tr_world_exit_code(s.w);
    tr_world_destroy(s.w);
    if (uv_loop_close(&s.loop) != 0) TR_WARN("server", "event loop closed with handles open");
    if (pidfile && code == 0) unlink(pidfile);
    return code;
}
