/* wal_cmd.c - `tremor wal inspect|verify DIR` (see wal_cmd.h). The records
 * are qos::wal's events (codec/event_bin), so the oldest unacknowledged one
 * is decoded for its ingest time; the WAL itself knows nothing of events. */
#include "cli/wal_cmd.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "codec/event_bin.h"
#include "core/event.h"
#include "wal/wal.h"

static void usage(FILE *f) {
    fprintf(f, "usage: tremor wal inspect DIR   summary of a qos::wal directory (offline)\n"
               "       tremor wal verify DIR    check every record's checksum; exit 1 on damage\n"
               "  DIR is a WAL's own directory, e.g. DATA_DIR/wal/<pipeline>/<instance>/<operator>\n"
               "  (the server must not have it open); nothing is written or repaired\n");
}

struct oldest {
    int found, decoded;
    uint64_t seq, ingest_ns;
};

static int on_record(void *arg, const char *segment, uint64_t off, uint64_t seq, const void *data,
                     size_t len) {
    (void)segment;
    (void)off;
    struct oldest *o = arg;
    o->found = 1;
    o->seq = seq;
    struct tr_event ev;
    if (tr_event_decode(data, len, &ev) == 0) {
        o->decoded = 1;
        o->ingest_ns = ev.ingest_ns;
        tr_event_fini(&ev);
    }
    return 1;   /* the first one is the oldest */
}

static void on_damage(void *arg, const char *segment, uint64_t off, uint64_t len, const char *what) {
    (void)arg;
    printf("DAMAGED %s offset %" PRIu64 " (%" PRIu64 " bytes): %s\n", segment, off, len, what);
}

static void rfc3339(uint64_t ns, char *out, size_t n) {
    time_t s = (time_t)(ns / 1000000000u);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + k, n - k, ".%06" PRIu64 "Z", ns % 1000000000u / 1000u);
}

int tr_cli_wal(int argc, char **argv) {
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc != 3 || (strcmp(argv[1], "inspect") && strcmp(argv[1], "verify"))) {
        usage(stderr);
        return 2;
    }
    int verify = !strcmp(argv[1], "verify");
    const char *dir = argv[2];
    struct tr_wal_summary sum;
    struct tr_diag d;
    tr_diag_clear(&d);
    struct tr_wal_inspect_opts o = {.on_damage = on_damage, .after = UINT64_MAX};
    int rc = tr_wal_inspect(dir, &o, &sum, &d);
    if (rc) {
        char buf[1400];
        tr_diag_format(&d, buf, sizeof buf);
        fprintf(stderr, "error: %s\n", d.msg[0] ? buf : tr_strerror(rc));
        return 2;
    }
    if (!sum.checkpoint && !sum.segments && !sum.damaged) {
        printf("%s: empty (no checkpoint, no segment): nothing to %s\n", dir, argv[1]);
        return 0;
    }
    /* a second pass, now that the frontier is known: what is not yet acked */
    struct oldest old = {0};
    struct tr_wal_inspect_opts o2 = {.arg = &old, .on_record = on_record, .after = sum.frontier};
    struct tr_wal_summary s2;
    tr_diag_clear(&d);
    if (tr_wal_inspect(dir, &o2, &s2, &d) == 0) sum.after = s2.after;
    if (verify) {
        printf("%s: %" PRIu64 " segment%s, %" PRIu64 " records and %" PRIu64
               " markers checked: %s\n", dir, sum.segments, sum.segments == 1 ? "" : "s",
               sum.records, sum.markers,
               sum.damaged ? "DAMAGED" : "every checksum holds");
        if (sum.damaged)
            printf("damaged regions: %" PRIu64 " (%" PRIu64 " bytes)\n", sum.damaged, sum.damaged_bytes);
        if (sum.torn_bytes)
            printf("torn tail: %" PRIu64 " bytes at the end of the last segment (an unfinished "
                   "write; the next open truncates it)\n", sum.torn_bytes);
        return sum.damaged ? 1 : 0;
    }
    printf("directory        %s\n", dir);
    if (sum.checkpoint)
        printf("checkpoint       frontier %" PRIu64 ", next record %" PRIu64 "\n", sum.ckpt_frontier,
               sum.ckpt_next_seq);
    else
        printf("checkpoint       none\n");
    printf("segments         %" PRIu64 " (%" PRIu64 " bytes)\n", sum.segments, sum.file_bytes);
    printf("records          %" PRIu64 " (%" PRIu64 " payload bytes)", sum.records, sum.payload_bytes);
    if (sum.records) printf(", numbered %" PRIu64 "..%" PRIu64, sum.first_seq, sum.last_seq);
    printf("\nmarkers          %" PRIu64 "\n", sum.markers);
    printf("frontier         %" PRIu64 " (acknowledged through)\n", sum.frontier);
    printf("unacknowledged   %" PRIu64 "\n", sum.after);
    if (old.found && old.decoded) {
        char ts[48];
        rfc3339(old.ingest_ns, ts, sizeof ts);
        printf("oldest unacked   record %" PRIu64 ", ingested %s\n", old.seq, ts);
    } else if (old.found) {
        printf("oldest unacked   record %" PRIu64 " (not a qos::wal event)\n", old.seq);
    } else {
        printf("oldest unacked   none\n");
    }
    printf("damaged          %" PRIu64 " region%s (%" PRIu64 " bytes)\n", sum.damaged,
           sum.damaged == 1 ? "" : "s", sum.damaged_bytes);
    printf("torn tail        %" PRIu64 " bytes\n", sum.torn_bytes);
    if (sum.reused_bytes)
        printf("reused files     %" PRIu64 " bytes past their data (their earlier content)\n",
               sum.reused_bytes);
    printf("quarantined      %" PRIu64 " file%s (%" PRIu64 " bytes)\n", sum.quarantined,
           sum.quarantined == 1 ? "" : "s", sum.quarantined_bytes);
    if (sum.foreign) printf("other entries    %" PRIu64 "\n", sum.foreign);
    return sum.damaged ? 1 : 0;
}
