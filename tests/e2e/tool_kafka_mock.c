/* tool_kafka_mock.c - a Kafka cluster for tests: librdkafka's own mock
 * cluster (rdkafka_mock.h) in a small process, no JVM and no network
 * outside 127.0.0.1.
 *
 *   tool_kafka_mock [BROKERS]      (default 3)
 *
 * Prints "bootstrap HOST:PORT,..." on stdout, then reads one command a
 * line from stdin and answers each with "ok" (or "error ..."):
 *   topic NAME PARTITIONS            create a topic
 *   produce TOPIC FIRST COUNT [BATCH] COUNT records {"id":FIRST..} keyed by id,
 *                                    waits for every delivery report; BATCH: at
 *                                    most that many records per record batch
 *                                    (small batches make consumers fetch slowly)
 *   down ID / up ID                  take broker ID down / bring it back
 *   err APIKEY COUNT CODE            the next COUNT requests of APIKEY (Kafka
 *                                    protocol number: 0 Produce, 1 Fetch, 8
 *                                    OffsetCommit, ...) fail with error CODE
 *   topicerr TOPIC CODE              metadata reports CODE for TOPIC (0: clear)
 *   coord GROUP ID                   make broker ID GROUP's coordinator
 *   rtt ID MS                        broker ID answers MS ms late
 *   count TOPIC PARTITIONS           answers "ok N": the records in the topic
 *                                    (sum of its partitions' high watermarks)
 *   committed GROUP TOPIC PARTITIONS answers "ok N": the sum of GROUP's committed
 *                                    offsets of the topic (a partition with none
 *                                    counts 0), read without joining the group
 * It exits 0 on stdin's end (tests stop it by closing stdin or by its pid).
 * Not part of tremor: a test fixture only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static int delivered, failed;

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    if (m->err) failed++;
    else delivered++;
}

static int produce(rd_kafka_t *rk, const char *topic, long first, long count) {
    delivered = failed = 0;
    for (long i = first; i < first + count; i++) {
        char val[64], key[32];
        int vn = snprintf(val, sizeof val, "{\"id\":%ld}", i);
        int kn = snprintf(key, sizeof key, "%ld", i);
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(val, (size_t)vn),
                RD_KAFKA_V_KEY(key, (size_t)kn), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 10);
                continue;
            }
            if (e) {
                printf("error produce: %s\n", rd_kafka_err2str(e));
                return -1;
            }
            break;
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 60000);
    if (failed || delivered != count) {
        printf("error produce: %d delivered, %d failed\n", delivered, failed);
        return -1;
    }
    return 0;
}

/* The sum of group's committed offsets over topic's partitions 0..n-1, or
 * -1. A consumer with that group.id that never subscribes only asks the
 * group's coordinator (OffsetFetch), so the group is not rebalanced. */
static long long committed(const char *bs, const char *group, const char *topic, int n) {
    char errstr[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    if (rd_kafka_conf_set(c, "bootstrap.servers", bs, errstr, sizeof errstr) ||
        rd_kafka_conf_set(c, "group.id", group, errstr, sizeof errstr) ||
        rd_kafka_conf_set(c, "log_level", "3", errstr, sizeof errstr)) {
        rd_kafka_conf_destroy(c);
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof errstr);
    if (!rk) return -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n > 0 ? n : 1);
    for (int p = 0; p < n; p++) rd_kafka_topic_partition_list_add(l, topic, p);
    long long sum = -1;
    if (rd_kafka_committed(rk, l, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        sum = 0;
        for (int i = 0; i < l->cnt; i++) {
            if (l->elems[i].err) {
                sum = -1;
                break;
            }
            if (l->elems[i].offset > 0) sum += l->elems[i].offset;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return sum;
}

int main(int argc, char **argv) {
    int nbrokers = argc > 1 ? atoi(argv[1]) : 3;
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* the mock cluster lives in this instance, which itself talks to no broker */
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, nbrokers);
    if (!mc) {
        fprintf(stderr, "cannot create the mock cluster\n");
        return 1;
    }
    const char *bs = rd_kafka_mock_cluster_bootstraps(mc);
    /* a second producer that talks to the cluster like any client */
    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    rd_kafka_conf_set(pc, "bootstrap.servers", bs, errstr, sizeof errstr);
    rd_kafka_conf_set(pc, "enable.idempotence", "true", errstr, sizeof errstr);
    rd_kafka_conf_set(pc, "linger.ms", "5", errstr, sizeof errstr);
    rd_kafka_conf_set_dr_msg_cb(pc, on_dr);
    rd_kafka_conf_t *sc = rd_kafka_conf_dup(pc);
    rd_kafka_t *small = NULL;   /* made at the first produce with BATCH */
    long small_batch = 0;
    rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof errstr);
    if (!prod) {
        fprintf(stderr, "rd_kafka_new: %s\n", errstr);
        return 1;
    }
    printf("bootstrap %s\n", bs);
    fflush(stdout);
    char line[1024];
    while (fgets(line, sizeof line, stdin)) {
        char a[256] = "", b[256] = "";
        long x = 0, y = 0, z = 0;
        int rc = -1;
        if (sscanf(line, "produce %255s %ld %ld %ld", a, &x, &y, &z) == 4 && z > 0) {
            if (!small) {
                char num[32];
                snprintf(num, sizeof num, "%ld", z);
                rd_kafka_conf_set(sc, "batch.num.messages", num, errstr, sizeof errstr);
                small = rd_kafka_new(RD_KAFKA_PRODUCER, sc, errstr, sizeof errstr);
                small_batch = z;
            }
            rc = small && small_batch == z ? produce(small, a, x, y) : -1;
        } else if (sscanf(line, "topic %255s %ld", a, &x) == 2) {
            rc = rd_kafka_mock_topic_create(mc, a, (int)x, 1) ? -1 : 0;
        } else if (sscanf(line, "produce %255s %ld %ld", a, &x, &y) == 3) {
            rc = produce(prod, a, x, y);
        } else if (sscanf(line, "down %ld", &x) == 1) {
            rc = rd_kafka_mock_broker_set_down(mc, (int32_t)x) ? -1 : 0;
        } else if (sscanf(line, "up %ld", &x) == 1) {
            rc = rd_kafka_mock_broker_set_up(mc, (int32_t)x) ? -1 : 0;
        } else if (sscanf(line, "err %ld %ld %255s", &x, &y, b) == 3) {
            int code = atoi(b);
            rd_kafka_resp_err_t *errs = calloc((size_t)(y > 0 ? y : 1), sizeof *errs);
            for (long i = 0; i < y; i++) errs[i] = (rd_kafka_resp_err_t)code;
            rd_kafka_mock_push_request_errors_array(mc, (int16_t)x, (size_t)y, errs);
            free(errs);
            rc = 0;
        } else if (sscanf(line, "topicerr %255s %ld", a, &x) == 2) {
            rd_kafka_mock_topic_set_error(mc, a, (rd_kafka_resp_err_t)x);
            rc = 0;
        } else if (sscanf(line, "coord %255s %ld", a, &x) == 2) {
            rc = rd_kafka_mock_coordinator_set(mc, "group", a, (int32_t)x) ? -1 : 0;
        } else if (sscanf(line, "committed %255s %255s %ld", a, b, &x) == 3) {
            long long sum = committed(bs, a, b, (int)x);
            if (sum >= 0) {
                printf("ok %lld\n", sum);
                fflush(stdout);
                continue;
            }
            rc = -1;
        } else if (sscanf(line, "count %255s %ld", a, &x) == 2) {
            int64_t sum = 0;
            rc = 0;
            for (int32_t p = 0; p < (int32_t)x && !rc; p++) {
                int64_t lo = 0, hi = 0;
                rc = rd_kafka_query_watermark_offsets(prod, a, p, &lo, &hi, 5000) ? -1 : 0;
                sum += hi;
            }
            if (!rc) {
                printf("ok %lld\n", (long long)sum);
                fflush(stdout);
                continue;
            }
        } else if (sscanf(line, "rtt %ld %ld", &x, &y) == 2) {
            rc = rd_kafka_mock_broker_set_rtt(mc, (int32_t)x, (int)y) ? -1 : 0;
        } else {
            printf("error unknown command\n");
            fflush(stdout);
            continue;
        }
        printf(rc ? "error %s" : "ok\n", line);
        fflush(stdout);
    }
    rd_kafka_flush(prod, 5000);
    rd_kafka_destroy(prod);
    if (small) {
        rd_kafka_flush(small, 5000);
        rd_kafka_destroy(small);
    } else {
        rd_kafka_conf_destroy(sc);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
