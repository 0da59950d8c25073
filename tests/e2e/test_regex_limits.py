"""A catastrophic regex in a running pipeline: the poisonous event becomes
a counted, located runtime error and the events behind it still come out.

Before regexes ran under limits, `(a+)+$` over ~100k characters held the
event loop for minutes, so nothing after it was delivered."""
import json
import signal
import subprocess
import threading

from conftest import STDIO_CONFIG, TREMOR, wait_until

QUERY = """define script check
script
  use std::re;
  match event of
    case %{ present call } => re::is_match("(a+)+$", event.call)
    case %{ ext ~= re|(a+)+$| } => "extractor matched"
    default => "no match"
  end
end;

create script check;

select event from in into check;

select event from check into out;
"""



def test_poisonous_event_is_an_error_and_the_next_comes_out(tmp_path):
    (tmp_path / "q.trickle").write_text(QUERY)
    (tmp_path / "c.yaml").write_text(STDIO_CONFIG)
    poison = "a" * 100000 + "b"
    p = subprocess.Popen([TREMOR, "server", "run", "-n", "-f", "q.trickle", "c.yaml"], cwd=tmp_path,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        lines = [{"call": poison}, {"ext": poison}, {"call": "aaaa"}, {"ext": "aaaa"}, {"ext": "b"}]
        p.stdin.write("".join(json.dumps(x) + "\n" for x in lines))
        p.stdin.flush()
        out = []
        done = threading.Event()

        def reader():
            while len(out) < 3:
                line = p.stdout.readline()
                if not line:
                    break
                out.append(json.loads(line))
            done.set()

        threading.Thread(target=reader, daemon=True).start()
        wait_until(done.is_set, timeout=30, what="three outputs after two poisonous events")
        # the two poisonous events produced nothing: neither an answer nor "no match"
        assert out == [True, "extractor matched", "no match"], out

        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 0
        err = p.stderr.read()
        # the std::re call's error is logged with where it happened and why
        assert "q.trickle:5:" in err and "match limit" in err, err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
