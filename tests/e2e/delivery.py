"""delivery.py - the delivery check of the Kafka and JetStream e2e tests.

Each of them produces ids 0..n-1 into a source, relays them through tremor
while something fails, and reads what arrived. check_delivery asserts the
three promises of issue 16 on those arrivals:

  every id arrives     no id of 0..n-1 is missing and no other id appears;
  in order             per partition (a Kafka partition, a JetStream stream),
                       the first arrivals of ids increase: a replay after a
                       failure repeats ids already seen and is not counted,
                       an id first seen after a larger one is "late"; at most
                       `late` of them (0 unless the test names the failure
                       that reorders, such as a failed produce sent again);
  duplicates bounded   arrivals beyond n are at most `dups` (what was in
                       flight at each failure: the test computes it from the
                       configured windows).

self_test() feeds it broken sequences; test_delivery_checker runs it, so a
checker that lets a gap, a reorder or a flood of duplicates through fails
on its own."""


def check_delivery(arrivals, n, dups=0, late=0, what="delivery"):
    """arrivals: (partition, id) pairs in arrival order. Returns
    (duplicates, late ids) for the test to print."""
    seen = set()
    firsts = {}
    for p, i in arrivals:
        if i not in seen:
            seen.add(i)
            firsts.setdefault(p, []).append(i)
    missing = sorted(set(range(n)) - seen)
    assert not missing, "%s: %d of %d ids missing, first %s" % (what, len(missing), n, missing[:10])
    stray = sorted(seen - set(range(n)))
    assert not stray, "%s: ids never produced arrived: %s" % (what, stray[:10])
    n_late, example = 0, None
    for p, ids in firsts.items():
        top = -1
        for i in ids:
            if i < top:
                n_late += 1
                example = example or "partition %s: id %d after %d" % (p, i, top)
            top = max(top, i)
    assert n_late <= late, "%s: %d ids out of order (at most %d allowed), e.g. %s" % (what, n_late, late,
                                                                                     example)
    extra = len(arrivals) - n
    assert extra <= dups, "%s: %d duplicates, more than the %d in flight at the failures" % (what, extra, dups)
    return extra, n_late


def self_test():
    good = [(0, 0), (1, 1), (0, 2), (1, 3), (0, 2), (0, 4)]   # a replay of id 2 on partition 0
    assert check_delivery(good, 5, dups=1) == (1, 0)
    broken = {
        "a gap": ([(0, 0), (0, 2)], 3, 10, 10),
        "a stray id": ([(0, 0), (0, 1), (0, 7)], 2, 10, 10),
        "a reorder": ([(0, 0), (0, 2), (0, 1)], 3, 10, 0),
        "too many duplicates": ([(0, 0), (0, 1), (0, 0), (0, 1), (0, 0)], 2, 2, 0),
    }
    for name, (arr, n, d, lt) in broken.items():
        try:
            check_delivery(arr, n, dups=d, late=lt)
        except AssertionError:
            continue
        raise AssertionError("check_delivery let %s through" % name)
