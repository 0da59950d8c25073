/* file.c - whole-file reads of regular files, with a size bound checked
 * before growing. */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/error.h"

static const char *kind_of(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

int tr_file_open_regular(const char *path, const char **kind) {
    if (kind) *kind = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -errno;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
    } else if (!S_ISREG(st.st_mode)) {
        if (kind) *kind = kind_of(st.st_mode);
        rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    } else {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) rc = -errno;
    }
    if (rc) {
        close(fd);
        return rc;
    }
    return fd;
}

int tr_file_read(const char *path, size_t max, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    int fd = tr_file_open_regular(path, NULL);
    if (fd < 0) return fd;
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
