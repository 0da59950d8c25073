/* io.c - the WAL's I/O seam: the POSIX implementation and full-transfer helpers.
 *
 * Every file operation of the WAL goes through a struct tr_wal_io so tests can
 * fail, tear or kill at any call. This file is the plain implementation: each
 * function returns -errno captured right at the failing call. It retries
 * EINTR and nothing else; in particular a failed fdatasync is never retried
 * (the kernel may already have dropped the dirty pages).
 */
#include "wal/wal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static int px_open(void *ctx, const char *path, int flags, int mode) {
    (void)ctx;
    int fd;
    do fd = open(path, flags | O_CLOEXEC, mode); while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

static int px_close(void *ctx, int fd) {
    (void)ctx;
    /* close is not retried on EINTR: on Linux the fd is gone either way. */
    return close(fd) < 0 && errno != EINTR ? -errno : 0;
}

static ssize_t px_pread(void *ctx, int fd, void *buf, size_t n, uint64_t off) {
    (void)ctx;
    ssize_t r;
    do r = pread(fd, buf, n, (off_t)off); while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

static ssize_t px_pwrite(void *ctx, int fd, const void *buf, size_t n, uint64_t off) {
    (void)ctx;
    ssize_t r;
    do r = pwrite(fd, buf, n, (off_t)off); while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

static int px_fdatasync(void *ctx, int fd) {
    (void)ctx;
    return fdatasync(fd) < 0 ? -errno : 0;
}

static int px_fsync(void *ctx, int fd) {
    (void)ctx;
    return fsync(fd) < 0 ? -errno : 0;
}

static int px_ftruncate(void *ctx, int fd, uint64_t len) {
    (void)ctx;
    int r;
    do r = ftruncate(fd, (off_t)len); while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

static int px_fallocate(void *ctx, int fd, uint64_t len) {
    (void)ctx;
    /* KEEP_SIZE: reserve the blocks so disk-full shows up here, at segment
     * creation, while the file size keeps marking the end of the data. */
    int r;
    do r = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)len); while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

static int px_fsize(void *ctx, int fd, uint64_t *size) {
    (void)ctx;
    struct stat st;
    if (fstat(fd, &st) < 0) return -errno;
    *size = (uint64_t)st.st_size;
    return 0;
}

static int px_rename(void *ctx, const char *from, const char *to) {
    (void)ctx;
    return rename(from, to) < 0 ? -errno : 0;
}

static int px_unlink(void *ctx, const char *path) {
    (void)ctx;
    return unlink(path) < 0 ? -errno : 0;
}

static int px_mkdir(void *ctx, const char *path, int mode) {
    (void)ctx;
    return mkdir(path, (mode_t)mode) < 0 ? -errno : 0;
}

static const struct tr_wal_io posix_io = {
    .ctx = NULL,
    .open = px_open,
    .close = px_close,
    .pread = px_pread,
    .pwrite = px_pwrite,
    .fdatasync = px_fdatasync,
    .fsync = px_fsync,
    .ftruncate = px_ftruncate,
    .fallocate = px_fallocate,
    .fsize = px_fsize,
    .rename = px_rename,
    .unlink = px_unlink,
    .mkdir = px_mkdir,
};

const struct tr_wal_io *tr_wal_io_posix(void) { return &posix_io; }

int tr_wal_pwrite_full(const struct tr_wal_io *io, int fd, const void *buf, size_t n, uint64_t off) {
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = io->pwrite(io->ctx, fd, p, n, off);
        if (r < 0) return (int)r;
        if (r == 0) return -EIO;   /* a regular file never accepts 0 bytes */
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

ssize_t tr_wal_pread_full(const struct tr_wal_io *io, int fd, void *buf, size_t n, uint64_t off) {
    unsigned char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = io->pread(io->ctx, fd, p + got, n - got, off + got);
        if (r < 0) return r;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}
