#!/usr/bin/python3
"""Differential tests: our implementation against the Rust crates Tremor 0.11
computes with. Generates seeded cases per area, runs both sides (the C
driver and the Rust reference), prints every difference with its input and
both outputs (the first LIMIT per area in full), then a table of figures.

usage: difftest.py DRIVER REF SEEDS [AREA...]
Differences listed in tests/difftest/known (kept on purpose, each with its
reason there and in README) are printed as KNOWN and counted apart.
Exit status 1 when any area has a difference not listed there, 0 otherwise.
"""
import datetime
import json
import os
import random
import subprocess
import sys

LIMIT = int(os.environ.get("DIFFTEST_SHOW", "15"))

# --- strftime -------------------------------------------------------------

NUMERIC = "CdeGgHIjklmMSsuUVwWyYf"
FIXED = "aAbBhpPZz+"
COMPOSITE = "cDFrRTvxX"
# %::z and %:::z are left out: chrono 0.4.20 added them, the 0.4.19 of
# Tremor 0.11 refuses them, and only Debian's 0.4.23 is here to compare with.
SPECIAL = ["%%", "%t", "%n", "%.f", "%.3f", "%.6f", "%.9f", "%3f", "%6f", "%9f", "%:z"]
INVALID = ["%Q", "%E", "%O", "%i", "%q", "%#z", "%#Y", "%.2f", "%5f", "%:a", "%.x", "%-", "%", "%é", "%_%"]
LITERALS = ["-", ":", " ", "T", "abc", "é", "  ", "/", "[", "%%z", "\t", "日"]


def gen_format(r):
    toks = []
    for _ in range(r.randint(1, 5)):
        k = r.random()
        if k < 0.35:
            toks.append("%" + r.choice(NUMERIC + FIXED + COMPOSITE))
        elif k < 0.5:
            toks.append("%" + r.choice("-_0") + r.choice(NUMERIC + FIXED + COMPOSITE))
        elif k < 0.65:
            toks.append(r.choice(SPECIAL))
        elif k < 0.72:
            toks.append(r.choice(INVALID))
        else:
            toks.append(r.choice(LITERALS))
    s = "".join(toks)
    # a lone "%" is only meaningful at the end; elsewhere it eats the next token
    return s


def gen_instant(r):
    k = r.random()
    if k < 0.25:
        return r.randrange(0, 2**64)
    if k < 0.35:
        return r.randrange(0, 10**9 * 86400 * 3)
    # a day near a year boundary or a leap day, in any year a u64 can reach
    y = r.randint(1970, 2553)
    base = r.choice([datetime.date(y, 1, 1) - datetime.timedelta(days=r.randint(-7, 7)),
                     datetime.date(y, 3, 1) - datetime.timedelta(days=r.randint(0, 2)),
                     datetime.date(y, r.randint(1, 12), r.randint(1, 28))])
    days = (base - datetime.date(1970, 1, 1)).days
    secs = days * 86400 + r.randrange(86400)
    nanos = r.choice([0, r.randrange(1000) * 10**6, r.randrange(10**6) * 1000, r.randrange(10**9)])
    ns = secs * 10**9 + nanos
    return ns if 0 <= ns < 2**64 else r.randrange(0, 2**63)


def gen_strftime(r):
    return [str(gen_instant(r)), gen_format(r)]

# --- strptime: texts the reference formatter wrote, some of them damaged ---

PARSE_FORMATS = [
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.3fZ", "%Y-%m-%dT%H:%M:%S%.6f%:z",
    "%Y-%m-%dT%T%z", "%Y %b %d %H:%M:%S%.3f %z", "%d/%b/%Y:%H:%M:%S %z", "%a, %d %b %Y %H:%M:%S %z",
    "%s", "%s%.f", "%F %T", "%D %R", "%Y%m%d%H%M%S", "%B %e %Y %I:%M %p", "%Y-%j %H:%M", "%y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S%.9f", "%Y-%m-%d %k:%M", "%A %d %B %Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S%#z", "%+",
    "%Y-%m-%d %H:%M:%S %Z", "%c", "%Y-%m-%d", "%H:%M:%S", "%Y-%m-%d %H", "%Y-%m-%d %l:%M %P", "%C%y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S%3f", "%Y-%m-%d %H:%M:%S%.3f", "%e-%b-%Y %T", "%Y-%m-%d %H:%M:%S%n",
]


def gen_strptime_seed(r):
    """[instant, format]: the reference formats it, then damage() may change it."""
    # half from formats people write, half random mixtures of every specifier
    fmt = r.choice(PARSE_FORMATS) if r.random() < 0.5 else gen_format(r)
    if "%#z" in fmt:
        fmt = fmt.replace("%#z", r.choice(["%z", "%:z"]))  # %#z cannot be written, only read
    return [str(r.randrange(0, 2**63)), fmt]


def damage(r, text, fmt):
    k = r.random()
    if k < 0.45 or not text:
        return text
    i = r.randrange(len(text))
    if k < 0.55:
        return text[:i] + text[i + 1:]
    if k < 0.65:
        return text[:i] + r.choice(" 0:9-+TZ.") + text[i:]
    if k < 0.75:
        return text[:i] + r.choice("0123456789") + text[i + 1:]
    if k < 0.82:
        return text.lower() if r.random() < 0.5 else text.upper()
    if k < 0.88:
        return " " + text if r.random() < 0.5 else text + " "
    if k < 0.94:
        return text.replace("+00:00", r.choice(["-04:00", "+05:30", "Z", "+0530", "-23:59", "+24:00"])) \
                   .replace("+0000", r.choice(["-0400", "+0530", "+05:30", "Z", "+2400"]))
    return text[:i]


# --- regex ----------------------------------------------------------------

ATOMS = ["a", "b", "c", "A", "é", r"\d", r"\w", r"\s", r"\D", r"\W", r"\S", ".", "^", "$", r"\b", r"\B",
         "[abc]", "[^a]", "[a-c]", "[[:alpha:]]", r"[\d_]", r"\.", "-", " ", r"\pL", r"\n", "_", "1"]
QUANTS = ["*", "+", "?", "{2}", "{1,}", "{0,2}", "*?", "+?", "??", "{1,2}?"]
REPLACEMENTS = ["", "x", "$0", "<$1>", "${1}", "$$", "[$name]", "${name}z", "$2$1", "$1a", "${2}-", "$"]
SUBJECT_CHARS = "abcABC 1_\n-.éx"


def gen_regex(r, depth=0):
    parts = []
    for _ in range(r.randint(1, 4)):
        k = r.random()
        if k < 0.15 and depth < 2:
            inner = gen_regex(r, depth + 1)
            atom = r.choice(["(%s)", "(?:%s)", "(?P<name>%s)", "(%s|%s)"])
            atom = atom % ((inner, gen_regex(r, depth + 1)) if atom.count("%s") == 2 else inner)
        else:
            atom = r.choice(ATOMS)
        if r.random() < 0.3 and atom not in ("^", "$", r"\b", r"\B"):
            atom += r.choice(QUANTS)
        parts.append(atom)
    s = "".join(parts)
    if depth == 0 and r.random() < 0.15:
        s = r.choice(["(?i)", "(?m)", "(?s)", "(?x)"]) + s
    if depth == 0 and r.random() < 0.1:
        s += "|" + gen_regex(r, 1)
    return s


def gen_regex_case(r):
    subject = "".join(r.choice(SUBJECT_CHARS) for _ in range(r.randint(0, 12)))
    return [gen_regex(r), subject, r.choice(REPLACEMENTS)]

# --- float ----------------------------------------------------------------

def gen_float(r):
    import struct
    k = r.random()
    if k < 0.3:
        bits = r.randrange(0, 2**64)
    else:
        if k < 0.55:
            f = float("%se%d" % ("".join(r.choice("0123456789") for _ in range(r.randint(1, 17))),
                                 r.randint(-30, 30)))
        elif k < 0.7:
            f = float(r.randint(-10**6, 10**6)) * r.choice([1, 10**10, 10**15, 10**16, 10**17, 10**21, 10**22])
        elif k < 0.8:
            f = r.choice([0.1, 0.2, 0.3, 1e-5, 1e-7, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                          -0.0, 0.0, 1.0, 100.0, 1e15, 1e16, 123456789.0, 0.000001, float("inf"),
                          float("-inf")])
        elif k < 0.9:
            f = r.uniform(-1000, 1000)
        else:
            f = 2.0 ** r.randint(-1074, 1023) * r.choice([1, -1])
        bits = struct.unpack("<Q", struct.pack("<d", f))[0]
    return ["%016x" % bits]


GEN = {"strftime": gen_strftime, "regex": gen_regex_case, "float": gen_float}

# --- running --------------------------------------------------------------

def run(cmd, area, lines):
    p = subprocess.run([cmd, area], input="".join(lines).encode(), stdout=subprocess.PIPE, timeout=600)
    if p.returncode != 0:
        sys.exit("difftest: %s %s exited %d" % (cmd, area, p.returncode))
    out = p.stdout.decode().splitlines()
    if len(out) != len(lines):
        sys.exit("difftest: %s %s answered %d of %d cases" % (cmd, area, len(out), len(lines)))
    return out


def fields(v):
    """Per-field verdicts when both sides are records, else the whole value."""
    return v if isinstance(v, dict) else {"value": v}


def load_known(path):
    """{(area, input as printed)} from the known-differences file."""
    known = set()
    try:
        f = open(path, encoding="utf-8")
    except OSError:
        return known
    for line in f:
        if line.startswith("#") or not line.strip():
            continue
        area, case = line.rstrip("\n").split("\t", 1)
        known.add((area, json.dumps(json.loads(case), ensure_ascii=False)))
    return known


def main():
    driver, ref, seeds = sys.argv[1:4]
    only = set(sys.argv[4:])
    known = load_known(os.path.join(os.path.dirname(os.path.abspath(seeds)), "known"))
    total = {}
    failed = False
    for line in open(seeds):
        line = line.split("#")[0].split()
        if not line:
            continue
        area, seed, count = line[0], int(line[1]), int(line[2])
        if only and area not in only:
            continue
        r = random.Random("%s/%d" % (area, seed))
        if area == "strptime":
            seeds_ = [gen_strptime_seed(r) for _ in range(count)]
            texts = run(ref, "strftime", [json.dumps(c) + "\n" for c in seeds_])
            cases = []
            for (ns, fmt), t in zip(seeds_, texts):
                t = json.loads(t)
                cases.append([damage(r, t if isinstance(t, str) else ns, fmt), fmt])
        else:
            cases = [GEN[area](r) for _ in range(count)]
        lines = [json.dumps(c) + "\n" for c in cases]
        ours, theirs = run(driver, area, lines), run(ref, area, lines)
        diffs, kept, per_field, shown = 0, 0, {}, 0
        for c, a, b in zip(cases, ours, theirs):
            a, b = json.loads(a), json.loads(b)
            if a == b:
                continue
            if (area, json.dumps(c, ensure_ascii=False)) in known:
                kept += 1
                print("KNOWN %s seed %d: input %s (tests/difftest/known)" %
                      (area, seed, json.dumps(c, ensure_ascii=False)))
                continue
            diffs += 1
            fa, fb = fields(a), fields(b)
            for k in sorted(set(fa) | set(fb)):
                if fa.get(k) != fb.get(k):
                    per_field[k] = per_field.get(k, 0) + 1
            if shown < LIMIT:
                shown += 1
                print("DIFF %s seed %d: input %s\n  ours  %s\n  0.11  %s" %
                      (area, seed, json.dumps(c, ensure_ascii=False), json.dumps(a, ensure_ascii=False),
                       json.dumps(b, ensure_ascii=False)))
        t = total.setdefault(area, [0, 0, {}, 0])
        t[0] += count
        t[1] += diffs
        t[3] += kept
        for k, n in per_field.items():
            t[2][k] = t[2].get(k, 0) + n
        failed |= diffs > 0
    print("\ndifftest (cases, differences; by field)")
    for area, (n, d, pf, k) in total.items():
        detail = ", ".join("%s %d" % kv for kv in sorted(pf.items()))
        print("  %-9s %7d cases %6d differ%s%s" % (area, n, d, ", %d known" % k if k else "",
                                                ("  (" + detail + ")") if detail else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
