/* cmd_api.c - `tremor api`, 0.11's API client (tremor-cli/src/api.rs):
 * argv to one request (api/client.h), the answer to stdout.
 *
 * As 0.11: 200/201 print the body; 404 prints "Not found", 409
 * "Conflict", anything else "Unexpected response ( status: REASON )" on
 * stderr. Beyond 0.11: the server's error text follows on the next line,
 * the exit code is 1 for any answer but 2xx (0.11 exits 0), list and fetch
 * also send Accept so -f yaml gives YAML everywhere, a create/activate
 * body is sent as its file is (its type by extension) instead of being
 * re-encoded, and status, ready and metrics reach our extra routes. The
 * server is --api-host (default 127.0.0.1:9898) rather than 0.11's target
 * file.
 */
#include "cli/cmd_api.h"

#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/client.h"
#include "api/http.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"

#define TIMEOUT_MS 30000

static int usage(FILE *f) {
    fprintf(f,
            "usage: tremor api [-f json|yaml] [-h|--api-host HOST:PORT] COMMAND\n"
            "  version\n"
            "  onramp|offramp|pipeline|binding list\n"
            "  onramp|offramp|pipeline|binding fetch ID\n"
            "  onramp|offramp|pipeline|binding delete ID\n"
            "  onramp|offramp|binding create FILE.json|FILE.yaml\n"
            "  pipeline create FILE.trickle\n"
            "  onramp|offramp|pipeline|binding instance ID INSTANCE\n"
            "  binding activate ID INSTANCE FILE.json|FILE.yaml\n"
            "  binding deactivate ID INSTANCE\n"
            "  status | ready | metrics        (beyond 0.11)\n");
    return 2;
}

/* %-encode one path segment (ids may hold ':' or '/'). */
static void seg(char *out, size_t n, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~:", c)) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

static const char *ends(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0 ? s + a - b : NULL;
}

static int request(const char *host, const char *method, const char *path, const char *ctype,
                   const char *accept, const char *file) {
    char *body = NULL;
    size_t len = 0;
    struct tr_diag d;
    tr_diag_clear(&d);
    if (file) {
        int rc = tr_file_read(file, TR_API_CLIENT_MAX_BODY, &body, &len);
        if (rc) {
            fprintf(stderr, "error: %s: %s\n", file, tr_strerror(rc));
            return 1;
        }
    }
    struct tr_api_response r;
    int rc = tr_api_client_request(host, method, path, ctype, accept, body, len, TIMEOUT_MS, &r, &d);
    tr_free(body);
    if (rc) {
        fprintf(stderr, "error: %s\n", d.msg[0] ? d.msg : tr_strerror(rc));
        return 1;
    }
    int code = 0;
    if (r.status == 200 || r.status == 201) {
        fwrite(r.body, 1, r.body_len, stdout);
        if (!r.body_len || r.body[r.body_len - 1] != '\n') putchar('\n');
    } else if (r.status != 204) {
        if (r.status == 404) fprintf(stderr, "Not found\n");
        else if (r.status == 409) fprintf(stderr, "Conflict\n");
        else fprintf(stderr, "Unexpected response ( status: %s )\n", tr_http_reason(r.status));
        if (r.body_len) fprintf(stderr, "%s%s", r.body, r.body[r.body_len - 1] == '\n' ? "" : "\n");
        code = 1;
    }
    if (r.status == 503 && strcmp(path, "/ready") == 0) {
        fwrite(r.body, 1, r.body_len, stdout);
        putchar('\n');
    }
    tr_api_response_fini(&r);
    return code;
}

int tr_cli_api(int argc, char **argv) {
    const char *host = TR_API_DEFAULT_HOST, *format = "json";
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-f") == 0 && i + 1 < argc) {
            format = argv[++i];
            if (strcmp(format, "json") != 0 && strcmp(format, "yaml") != 0) {
                fprintf(stderr, "error: -f takes json or yaml, not '%s'\n", format);
                return 2;
            }
        } else if ((strcmp(a, "-h") == 0 || strcmp(a, "--api-host") == 0) && i + 1 < argc) {
            host = argv[++i];
        } else if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "error: unknown option '%s'\n", a);
            return usage(stderr);
        }
    }
    const char *mime = strcmp(format, "yaml") == 0 ? "application/yaml" : "application/json";
    int n = argc - i;
    char **v = argv + i;
    if (n < 1) return usage(stderr);
    if (n == 1 && (strcmp(v[0], "version") == 0 || strcmp(v[0], "status") == 0 ||
                   strcmp(v[0], "ready") == 0 || strcmp(v[0], "metrics") == 0)) {
        char path[32];
        snprintf(path, sizeof path, "/%s", v[0]);
        return request(host, "GET", path, NULL, strcmp(v[0], "metrics") ? mime : NULL, NULL);
    }
    const char *kind = v[0];
    if (strcmp(kind, "onramp") && strcmp(kind, "offramp") && strcmp(kind, "pipeline") &&
        strcmp(kind, "binding"))
        return usage(stderr);
    if (n < 2) return usage(stderr);
    const char *verb = v[1];
    char path[1200], a[512], b[512];
    a[0] = b[0] = '\0';
    if (n >= 3) seg(a, sizeof a, v[2]);
    if (n >= 4) seg(b, sizeof b, v[3]);
    if (strcmp(verb, "list") == 0 && n == 2) {
        snprintf(path, sizeof path, "/%s", kind);
        return request(host, "GET", path, NULL, mime, NULL);
    }
    if ((strcmp(verb, "fetch") == 0 || strcmp(verb, "delete") == 0) && n == 3) {
        snprintf(path, sizeof path, "/%s/%s", kind, a);
        return request(host, verb[0] == 'f' ? "GET" : "DELETE", path, NULL, mime, NULL);
    }
    if (strcmp(verb, "instance") == 0 && n == 4) {
        snprintf(path, sizeof path, "/%s/%s/%s", kind, a, b);
        return request(host, "GET", path, NULL, mime, NULL);
    }
    if (strcmp(verb, "create") == 0 && n == 3) {
        snprintf(path, sizeof path, "/%s", kind);
        const char *ct = NULL;
        if (strcmp(kind, "pipeline") == 0) ct = ends(v[2], ".trickle") ? "application/vnd.trickle" : NULL;
        else if (ends(v[2], ".json")) ct = "application/json";
        else if (ends(v[2], ".yaml") || ends(v[2], ".yml")) ct = "application/yaml";
        if (!ct) {
            fprintf(stderr, "error: %s: unsupported format (%s)\n", v[2],
                    strcmp(kind, "pipeline") == 0 ? "a pipeline is a .trickle file" : ".json, .yaml or .yml");
            return 1;
        }
        return request(host, "POST", path, ct, mime, v[2]);
    }
    if (strcmp(kind, "binding") == 0 && strcmp(verb, "activate") == 0 && n == 5) {
        snprintf(path, sizeof path, "/binding/%s/%s", a, b);
        const char *ct = ends(v[4], ".json") ? "application/json"
                       : ends(v[4], ".yaml") || ends(v[4], ".yml") ? "application/yaml" : NULL;
        if (!ct) {
            fprintf(stderr, "error: %s: unsupported format (.json, .yaml or .yml)\n", v[4]);
            return 1;
        }
        return request(host, "POST", path, ct, mime, v[4]);
    }
    if (strcmp(kind, "binding") == 0 && strcmp(verb, "deactivate") == 0 && n == 4) {
        snprintf(path, sizeof path, "/binding/%s/%s", a, b);
        return request(host, "DELETE", path, NULL, mime, NULL);
    }
    return usage(stderr);
}
