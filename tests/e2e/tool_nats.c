/* tool_nats.c - an independent NATS peer for the nats e2e tests, on libnats
 * alone (no tremor code): creates streams, publishes and reads back.
 *   tool_nats stream URLS NAME SUBJECT REPLICAS   create a file stream (retried 30 s)
 *   tool_nats pub URLS SUBJECT FIRST N [js]       {"id":i} for i in FIRST..FIRST+N-1;
 *                                                 js: each until its PubAck (retried)
 *   tool_nats sub URLS SUBJECT N SECONDS          print N payloads (one a line); "ready" on stderr
 *   tool_nats read URLS STREAM                    print every message of STREAM, one a line
 *   tool_nats count URLS STREAM                   print how many messages STREAM holds
 *   tool_nats leader URLS STREAM                  print the server name of STREAM's leader
 *   tool_nats consumer URLS STREAM DURABLE        print "ack_pending pending redelivered"
 * URLS is a comma-separated list. Exit 0 on success, 1 on failure (message on stderr).
 */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(const char *what, natsStatus s) {
    fprintf(stderr, "tool_nats: %s: %s\n", what, natsStatus_GetText(s));
    exit(1);
}

static natsConnection *conn(const char *urls) {
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    char copy[1024];
    const char *list[16];
    int n = 0;
    snprintf(copy, sizeof copy, "%s", urls);
    for (char *save = NULL, *u = strtok_r(copy, ",", &save); u && n < 16; u = strtok_r(NULL, ",", &save))
        list[n++] = u;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK) s = natsOptions_SetServers(o, list, n);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, 100);
    for (int i = 0; s == NATS_OK && i < 100; i++) {
        s = natsConnection_Connect(&nc, o);
        if (s == NATS_OK) break;
        nats_Sleep(100);
        s = NATS_OK;
        nc = NULL;
    }
    if (!nc) die("connect", NATS_NO_SERVER);
    natsOptions_Destroy(o);
    return nc;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: see tool_nats.c\n");
        return 2;
    }
    const char *cmd = argv[1];
    natsConnection *nc = conn(argv[2]);
    jsCtx *js = NULL;
    natsStatus s = natsConnection_JetStream(&js, nc, NULL);
    if (s != NATS_OK) die("jetstream", s);
    if (!strcmp(cmd, "stream") && argc == 6) {
        jsStreamConfig sc;
        jsStreamConfig_Init(&sc);
        const char *subj[1] = {argv[4]};
        sc.Name = argv[3];
        sc.Subjects = subj;
        sc.SubjectsLen = 1;
        sc.Replicas = atoi(argv[5]);
        sc.Storage = js_FileStorage;
        int64_t until = now_ms() + 30000;
        jsErrCode je = 0;
        while ((s = js_AddStream(NULL, js, &sc, NULL, &je)) != NATS_OK && now_ms() < until) nats_Sleep(200);
        if (s != NATS_OK) die("add stream", s);
    } else if (!strcmp(cmd, "pub") && argc >= 6) {
        long first = atol(argv[4]), n = atol(argv[5]);
        int jsmode = argc > 6 && !strcmp(argv[6], "js");
        char buf[128];
        for (long i = first; i < first + n; i++) {
            int len = snprintf(buf, sizeof buf, "{\"id\":%ld}", i);
            if (!jsmode) {
                s = natsConnection_Publish(nc, argv[3], buf, len);
                if (s != NATS_OK) die("publish", s);
                continue;
            }
            int64_t until = now_ms() + 60000;
            jsErrCode je = 0;
            jsPubOptions po;
            jsPubOptions_Init(&po);
            po.MsgId = buf;   /* the server drops a retried duplicate */
            while ((s = js_Publish(NULL, js, argv[3], buf, len, &po, &je)) != NATS_OK && now_ms() < until)
                nats_Sleep(100);
            if (s != NATS_OK) die("js publish", s);
        }
        s = natsConnection_FlushTimeout(nc, 10000);
        if (s != NATS_OK) die("flush", s);
    } else if (!strcmp(cmd, "sub") && argc == 6) {
        natsSubscription *sub = NULL;
        long n = atol(argv[4]);
        int64_t until = now_ms() + 1000 * atol(argv[5]);
        s = natsConnection_SubscribeSync(&sub, nc, argv[3]);
        if (s == NATS_OK) s = natsConnection_FlushTimeout(nc, 5000);
        if (s != NATS_OK) die("subscribe", s);
        fprintf(stderr, "ready\n");
        for (long got = 0; got < n && now_ms() < until;) {
            natsMsg *m = NULL;
            if (natsSubscription_NextMsg(&m, sub, 200) != NATS_OK) continue;
            fwrite(natsMsg_GetData(m), 1, (size_t)natsMsg_GetDataLength(m), stdout);
            const char *h = NULL;
            if (natsMsgHeader_Get(m, "X-Test", &h) == NATS_OK) printf("\t%s", h);
            printf("\n");
            fflush(stdout);
            natsMsg_Destroy(m);
            got++;
        }
        natsSubscription_Destroy(sub);
    } else if (!strcmp(cmd, "consumer") && argc == 5) {
        jsConsumerInfo *ci = NULL;
        jsErrCode je = 0;
        s = js_GetConsumerInfo(&ci, js, argv[3], argv[4], NULL, &je);
        if (s != NATS_OK) die("consumer info", s);
        printf("%lld %llu %lld\n", (long long)ci->NumAckPending, (unsigned long long)ci->NumPending,
               (long long)ci->NumRedelivered);
        jsConsumerInfo_Destroy(ci);
    } else if (!strcmp(cmd, "leader") && argc == 4) {
        jsStreamInfo *si = NULL;
        jsErrCode je = 0;
        s = js_GetStreamInfo(&si, js, argv[3], NULL, &je);
        if (s != NATS_OK) die("stream info", s);
        printf("%s\n", si->Cluster && si->Cluster->Leader ? si->Cluster->Leader : "");
        jsStreamInfo_Destroy(si);
    } else if (!strcmp(cmd, "count") && argc == 4) {
        jsStreamInfo *si = NULL;
        jsErrCode je = 0;
        s = js_GetStreamInfo(&si, js, argv[3], NULL, &je);
        if (s != NATS_OK) die("stream info", s);
        printf("%llu\n", (unsigned long long)si->State.Msgs);
        jsStreamInfo_Destroy(si);
    } else if (!strcmp(cmd, "read") && argc == 4) {
        jsStreamInfo *si = NULL;
        jsErrCode je = 0;
        int64_t until = now_ms() + 30000;
        while ((s = js_GetStreamInfo(&si, js, argv[3], NULL, &je)) != NATS_OK && now_ms() < until)
            nats_Sleep(200);
        if (s != NATS_OK) die("stream info", s);
        for (uint64_t q = si->State.FirstSeq; q && q <= si->State.LastSeq; q++) {
            natsMsg *m = NULL;
            s = js_GetMsg(&m, js, argv[3], q, NULL, &je);
            if (s == NATS_NOT_FOUND) continue;
            if (s != NATS_OK) die("get msg", s);
            fwrite(natsMsg_GetData(m), 1, (size_t)natsMsg_GetDataLength(m), stdout);
            printf("\n");
            natsMsg_Destroy(m);
        }
        jsStreamInfo_Destroy(si);
    } else {
        fprintf(stderr, "tool_nats: bad arguments\n");
        return 2;
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}
