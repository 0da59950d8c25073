#!/usr/bin/env python3
"""kafka_bench.py - `make bench` step `kafka`: a Kafka -> qos::wal -> Kafka relay by our server
through librdkafka's mock cluster (tests/e2e/tool_kafka_mock: 3 brokers in one process on this
machine, sharing its cores with the relay; a real cluster's figures differ).

    bench/kafka_bench.py OUT

Produces KAFKA_N (200000) records {"id":n} into `src` (4 partitions) first, then starts the relay
and reports events/s from the first record in `dst` to the last (the group join is not counted),
median of KAFKA_REPS (3) runs, into OUT/kafka.txt. Measures and prints; asserts nothing."""
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
N = int(os.environ.get("KAFKA_N", "200000"))
REPS = int(os.environ.get("KAFKA_REPS", "3"))
TREMOR = os.environ.get("TREMOR_BIN", os.path.join(ROOT, "build", "tremor"))
MOCK = os.environ.get("KAFKA_MOCK_BIN", os.path.join(ROOT, "build", "tests", "e2e", "tool_kafka_mock"))

QUERY = """define qos::wal operator w
with
  read_count = 1000,
  max_elements = 1000000,
  sync = "always"
end;
create operator w;
select event from in into w;
select event from w into out;
"""

CONFIG = """onramp:
  - id: kin
    type: kafka
    codec: json
    config:
      brokers: [{brokers}]
      topics: [src]
      group_id: bench
      rdkafka_options:
        auto.offset.reset: earliest
offramp:
  - id: kout
    type: kafka
    codec: json
    config:
      brokers: [{brokers}]
      topic: dst
      rdkafka_options:
        queue.buffering.max.ms: "5"
binding:
  - id: b
    links:
      "/onramp/kin/{{instance}}/out": ["/pipeline/q/{{instance}}/in"]
      "/pipeline/q/{{instance}}/out": ["/offramp/kout/{{instance}}/in"]
mapping:
  /binding/b/01:
    instance: "01"
"""


class Mock:
    def __init__(self, errf):
        self.p = subprocess.Popen([MOCK, "3"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errf,
                                  text=True)
        self.bootstrap = self.p.stdout.readline().split()[1]

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        answer = self.p.stdout.readline().split()
        if not answer or answer[0] != "ok":
            raise RuntimeError("%s -> %s" % (line, answer))
        return answer

    def stop(self):
        self.p.kill()
        self.p.wait()


def run_once(d):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    mock = Mock(open(os.path.join(d, "mock.err"), "w"))
    server = None
    try:
        mock.cmd("topic src 4")
        mock.cmd("topic dst 4")
        mock.cmd("produce src 0 %d" % N)
        brokers = ", ".join('"%s"' % b for b in mock.bootstrap.split(","))
        open(os.path.join(d, "q.trickle"), "w").write(QUERY)
        open(os.path.join(d, "config.yaml"), "w").write(CONFIG.format(brokers=brokers))
        server = subprocess.Popen([TREMOR, "server", "run", "-n", "-d", "data", "-f", "q.trickle", "config.yaml"],
                                  cwd=d, stdout=subprocess.DEVNULL,
                                  stderr=open(os.path.join(d, "tremor.err"), "w"))
        t0 = c0 = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            c = int(mock.cmd("count dst 4")[1])
            if t0 is None and c > 0:
                t0, c0 = time.monotonic(), c
            if c >= N:
                return (N - c0) / (time.monotonic() - t0)
            time.sleep(0.02)
        print("kafka_bench: only %d of %d records relayed (see %s/tremor.err)" % (c, N, d), file=sys.stderr)
        return None
    finally:
        if server:
            server.terminate()
            server.wait(30)
        mock.stop()


def main():
    out = sys.argv[1]
    if not os.path.exists(MOCK):
        print("kafka_bench: %s is not built" % MOCK, file=sys.stderr)
        return 1
    rates = [r for r in (run_once(os.path.join(out, "kafka", "run%d" % i)) for i in range(REPS)) if r]
    if not rates:
        line = "kafka -> qos::wal -> kafka relay: no run finished"
    else:
        rates.sort()
        line = ("kafka -> qos::wal (sync always) -> kafka relay, librdkafka mock cluster (3 brokers, same "
                "host), %d records, 4 partitions: %.0f events/s median (%.0f..%.0f, %d of %d runs)"
                % (N, rates[(len(rates) - 1) // 2], rates[0], rates[-1], len(rates), REPS))
    print(line)
    with open(os.path.join(out, "kafka.txt"), "w") as f:
        f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
