/* wal_test_util.h - helpers shared by the WAL tests (header-only, static).
 *
 * Temporary directories under /tmp, a deterministic payload per sequence
 * number (so any record read back can be checked without remembering it),
 * small file helpers. Tests only; the library never includes this.
 */
#ifndef TR_WAL_TEST_UTIL_H
#define TR_WAL_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wal/wal.h"

/* Under $TR_WAL_TEST_TMP if set (e.g. a tmpfs, where the simulated power
 * cuts of test_wal_powerloss.c run without waiting for a real disk), else /tmp. */
static inline char *wt_mkdtemp(void) {
    const char *base = getenv("TR_WAL_TEST_TMP");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/tremor-wal-test-XXXXXX", base && base[0] ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static inline int wt_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static inline void wt_rmrf(const char *dir) {
    if (dir) nftw(dir, wt_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Payload of record seq: length 1..max_len, bytes derived from seq. */
static inline size_t wt_payload(uint64_t seq, size_t max_len, unsigned char *buf) {
    size_t len = 1 + (size_t)((seq * 7919u) % max_len);
    for (size_t i = 0; i < len; i++) buf[i] = (unsigned char)((seq * 131u) + i * 7u + (seq >> 8));
    return len;
}

static inline int wt_payload_ok(uint64_t seq, size_t max_len, const void *data, size_t len) {
    unsigned char buf[65536];
    size_t want = wt_payload(seq, max_len, buf);
    return want == len && memcmp(buf, data, len) == 0;
}

static inline void wt_config(struct tr_wal_config *c, const char *dir) {
    tr_wal_config_init(c);
    c->dir = dir;
    c->segment_bytes = 64 << 10;
    c->max_record_bytes = 4096;
}

/* Number of *.wal files in dir. */
static inline int wt_count_segments(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strlen(de->d_name) == 24 && strstr(de->d_name, ".wal")) n++;
    closedir(d);
    return n;
}

/* Path of the newest (highest numbered) segment into out; 0 if found. */
static inline int wt_last_segment(const char *dir, char *out, size_t n) {
    DIR *d = opendir(dir);
    char best[256] = "";
    if (!d) return -1;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strlen(de->d_name) == 24 && strstr(de->d_name, ".wal") && strcmp(de->d_name, best) > 0)
            snprintf(best, sizeof best, "%s", de->d_name);
    closedir(d);
    if (!best[0]) return -1;
    snprintf(out, n, "%s/%s", dir, best);
    return 0;
}

static inline long wt_file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static inline unsigned char *wt_read_file(const char *path, long *len) {
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)*len + 1);
    if (b && fread(b, 1, (size_t)*len, f) != (size_t)*len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

static inline int wt_write_file(const char *path, const void *data, long len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, (size_t)len, f);
    fclose(f);
    return w == (size_t)len ? 0 : -1;
}

/* Copy every regular file of src into dst (created). */
static inline int wt_copy_dir(const char *src, const char *dst) {
    mkdir(dst, 0755);
    DIR *d = opendir(src);
    if (!d) return -1;
    struct dirent *de;
    char a[8192], b[8192];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        snprintf(a, sizeof a, "%s/%s", src, de->d_name);
        struct stat st;
        if (stat(a, &st) || !S_ISREG(st.st_mode)) continue;
        snprintf(b, sizeof b, "%s/%s", dst, de->d_name);
        long len = 0;
        unsigned char *data = wt_read_file(a, &len);
        if (!data) continue;
        wt_write_file(b, data, len);
        free(data);
    }
    closedir(d);
    return 0;
}

#endif
