/* file.c - whole-file reads with a size bound checked before growing. */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/error.h"

int tr_file_read(const char *path, size_t max, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct tr_buf b;
    tr_buf_init(&b);
    int rc = tr_buf_reserve(&b, 0);
    char chunk[65536];
    while (rc == 0) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = -errno;
        } else if (n == 0) {
            break;
        } else if (b.len + (size_t)n > max) {
            rc = TR_ETOOBIG;
        } else {
            rc = tr_buf_append(&b, chunk, (size_t)n);
        }
    }
    close(fd);
    if (rc) {
        tr_buf_fini(&b);
        return rc;
    }
    *out = tr_buf_steal(&b, len);
    return 0;
}
