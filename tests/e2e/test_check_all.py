"""`tremor check` reports every error of every file, each located, and no
error that only follows from an earlier one; `server run` still stops at
a file's first error."""
import os
import re

from conftest import run_tremor

LOCATED = re.compile(r"^error: (\S+?):(\d+):(\d+): ")


def write(d, name, text):
    with open(os.path.join(d, name), "w") as f:
        f.write(text)


def located(stderr, name):
    """(line, message) of each located error line about file name."""
    out = []
    for l in stderr.splitlines():
        m = LOCATED.match(l)
        if m and m.group(1) == name:
            out.append((int(m.group(2)), l))
    return out


# three independent mistakes in three entries: a key that is not one, a
# connector type that does not exist, a value of the wrong type
THREE_YAML = """onramp:
  - id: a
    type: nosuch
    config:
      interval: 1000
  - id: b
    type: metronome
    colour: red
    config:
      interval: 1000
offramp:
  - id: c
    type: stdout
    linked: maybe
binding:
  - id: bb
    links:
      '/onramp/b/{instance}/out': [ '/pipeline/three/{instance}/in' ]
      '/pipeline/three/{instance}/out': [ '/offramp/c/{instance}/in' ]
"""

# three statements with a mistake each: a syntax error inside a script
# body (whose own `;` do not end the statement), an unknown stream, an
# unknown operator kind
THREE_TRICKLE = """define script s
script
  let a = ;
  emit event
end;
create script s;
select event from in into s;
select event from s into out;
select event from nowhere into out;
define nosuch::kind operator op;
create operator op from op;
select event from in into op;
select event from op into out;
"""

# one broken define, used by three later statements
ONE_TRICKLE = """define qos::wal operator on_disk_wal
  read_count = 20,
  max_elements = 1000
;
create operator on_disk_wal;
select event from in into on_disk_wal;
select event from on_disk_wal into out;
"""


def test_three_yaml_errors(tmp_path):
    d = str(tmp_path)
    write(d, "three.yaml", THREE_YAML)
    write(d, "three.trickle", "select event from in into out;\n")
    for args in (["check"], ["server", "run", "--check"]):
        p = run_tremor(args + ["three.yaml", "three.trickle"], cwd=d)
        assert p.returncode == 1, p.stderr
        errs = located(p.stderr, "three.yaml")
        assert [l for l, _ in errs] == [8, 2, 14], p.stderr   # first as found, then in order
        assert "unknown key 'colour'" in errs[0][1]
        assert "onramp 'a': Onramp type nosuch not known" in errs[1][1]
        assert "linked of offramp 'c' must be true or false" in errs[2][1]
        assert "check: 1 of 2 files failed (3 errors)" in p.stderr


def test_three_trickle_errors(tmp_path):
    d = str(tmp_path)
    write(d, "three.trickle", THREE_TRICKLE)
    p = run_tremor(["check", "three.trickle"], cwd=d)
    assert p.returncode == 1, p.stderr
    errs = located(p.stderr, "three.trickle")
    assert [l for l, _ in errs] == [3, 9, 11], p.stderr   # the kind: where it is created
    assert "Found the token `;`" in errs[0][1]
    assert "not defined: nowhere" in errs[1][1]
    assert "unknown operator kind 'nosuch::kind'" in errs[2][1]
    # each excerpt is shown against the text as written
    assert "    9 | select event from nowhere into out;" in p.stderr
    assert "check: 1 of 1 file failed (3 errors)" in p.stderr


def test_one_error_is_one_message(tmp_path):
    d = str(tmp_path)
    write(d, "one.trickle", ONE_TRICKLE)
    write(d, "one.yaml", THREE_YAML.replace("nosuch", "metronome").replace("    colour: red\n", "")
          .replace("maybe", "true"))
    write(d, "three.trickle", "select event from in into out;\n")
    p = run_tremor(["check", "one.yaml", "three.trickle"], cwd=d)
    assert p.returncode == 0, p.stderr   # the yaml above is now clean
    p = run_tremor(["check", "one.trickle"], cwd=d)
    assert p.returncode == 1
    errs = located(p.stderr, "one.trickle")
    # the hint line and the error itself, both about 2:3, nothing else
    assert [l for l, _ in errs] == [2, 2], p.stderr
    assert "between `with` and `end;`" in errs[0][1], p.stderr   # the hint stays first
    assert "(1 error)" in p.stderr
    write(d, "one.yaml", THREE_YAML.replace("nosuch", "metronome").replace("    colour: red\n", ""))
    p = run_tremor(["check", "one.yaml", "three.trickle"], cwd=d)
    errs = located(p.stderr, "one.yaml")
    assert len(errs) == 1 and "linked of offramp 'c'" in errs[0][1], p.stderr


def test_yaml_syntax_error_ends_the_file_after_checking_before(tmp_path):
    d = str(tmp_path)
    write(d, "syn.yaml", """onramp:
  - id: a
    type: metronome
    bogus: 1
    config:
      interval: 10
offramp:
  - id: c
    type: stdout
    config: {prefix: [1, 2
  - id: d
    type: nosuch
""")
    p = run_tremor(["check", "syn.yaml"], cwd=d)
    assert p.returncode == 1
    errs = located(p.stderr, "syn.yaml")
    # the syntax error is what server run reports: it comes first
    assert "YAML syntax error" in errs[0][1] and "the rest of this file is not checked" in errs[0][1]
    assert any("unknown key 'bogus'" in m for _, m in errs), p.stderr
    assert not any("nosuch" in m for _, m in errs), p.stderr   # after the syntax error
    assert not any("missing the required key" in m for _, m in errs), p.stderr


def test_errors_are_capped_per_file(tmp_path):
    d = str(tmp_path)
    write(d, "many.yaml", "onramp:\n" + "".join(
        "  - id: m%d\n    type: metronome\n    wrong: 1\n    config:\n      interval: 1\n" % i
        for i in range(150)))
    p = run_tremor(["check", "many.yaml"], cwd=d)
    assert p.returncode == 1
    assert len(located(p.stderr, "many.yaml")) == 100, p.stderr[-2000:]
    assert "error: many.yaml: 50 more errors not shown" in p.stderr
    write(d, "many.trickle", "".join("select event from s%d into out;\n" % i for i in range(300)))
    p = run_tremor(["check", "many.trickle"], cwd=d, timeout=60)
    assert p.returncode == 1
    assert len(located(p.stderr, "many.trickle")) == 100
    assert "more errors not shown" in p.stderr
    assert "stopped looking for more errors" in p.stderr


def test_server_run_stops_at_the_first_error(tmp_path):
    d = str(tmp_path)
    write(d, "three.yaml", THREE_YAML)
    p = run_tremor(["server", "run", "-n", "-f", "three.yaml"], cwd=d)
    assert p.returncode != 0
    errs = located(p.stderr, "three.yaml")
    assert len(errs) == 1 and "unknown key 'colour'" in errs[0][1], p.stderr


def test_every_wrong_key_of_one_connector_config_and_operator(tmp_path):
    """One entry's config with three mistakes (an unknown key, a value of
    the wrong type, a missing required key) gives three located errors; an
    operator with two wrong `with` parameters gives two."""
    d = str(tmp_path)
    write(d, "one.yaml", """onramp:
  - id: t
    type: tcp
    config:
      colour: red
      max_connections: lots
""")
    write(d, "op.trickle", """define qos::wal operator w
with
  read_count = "many",
  shade = 1,
  max_elements = 10
end;
create operator w;
select event from in into w;
select event from w into out;
""")
    r = run_tremor(["check", "one.yaml", "op.trickle"], cwd=d)
    assert r.returncode == 1, r.stderr
    yaml_errs = located(r.stderr, "one.yaml")
    assert len(yaml_errs) == 3, r.stderr
    text = " ".join(l for _, l in yaml_errs)
    assert "colour" in text and "max_connections" in text and "port" in text, r.stderr
    op_errs = located(r.stderr, "op.trickle")
    assert len(op_errs) == 2, r.stderr
    text = " ".join(l for _, l in op_errs)
    assert "read_count" in text and "shade" in text, r.stderr
