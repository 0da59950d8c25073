/* srcfile.c - resolving a connector's source path (see srcfile.h).
 *
 * Opening happens once, at create time, so a wrong path is a located config
 * error before anything runs; a blocking open(2) is fine there.
 */
#include "connectors/srcfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"

/* path joined to the folder of file, or NULL when file has no folder part. */
static char *beside(const char *file, const char *path) {
    const char *slash = file ? strrchr(file, '/') : NULL;
    if (!slash) return NULL;
    size_t dir = (size_t)(slash - file) + 1, n = strlen(path);
    char *p = tr_malloc(dir + n + 1);
    if (!p) return NULL;
    memcpy(p, file, dir);
    memcpy(p + dir, path, n + 1);
    return p;
}

int tr_srcfile_open(const struct tr_conn_spec *spec, const char *key, const char *path, int *fd,
                    char **used, struct tr_diag *d) {
    *fd = -1;
    *used = NULL;
    int err = 0;
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f >= 0) {
        *used = tr_strdup(path);
        if (!*used) {
            close(f);
            return -ENOMEM;
        }
        *fd = f;
        return 0;
    }
    err = errno;
    char *alt = path[0] != '/' && err == ENOENT ? beside(spec->file, path) : NULL;
    if (alt) {
        f = open(alt, O_RDONLY | O_CLOEXEC);
        if (f >= 0) {
            *used = alt;
            *fd = f;
            return 0;
        }
        err = errno;
        tr_diag_set(d, -err, spec->file, spec->line, spec->col,
                    "%s '%s': config.%s: cannot open '%s' (tried '%s' from the working directory "
                    "and '%s' beside the config file): %s",
                    spec->type, spec->id, key, path, path, alt, strerror(err));
        tr_free(alt);
        return -err;
    }
    return tr_diag_set(d, -err, spec->file, spec->line, spec->col,
                       "%s '%s': config.%s: cannot open '%s' (tried from the working directory): %s",
                       spec->type, spec->id, key, path, strerror(err));
}
