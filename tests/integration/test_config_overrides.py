"""Config with no rewriting: -o SECTION.KEY=VALUE, include = GLOB, [types]
and env_pass on the real jobd; the settings table behind --check,
--dump-sample (jobd.conf.sample) and --dump-reference (docs/jobd.md)."""
import json
import os
import signal
import subprocess

from jobd_itest import (HANDLERS, JOBD, PYTHON3, SRCDIR, wait_until,
                        write_script)


def run_jobd(*args, env=None, timeout=20):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([JOBD] + list(args), capture_output=True,
                          text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=e)


def one_line_error(r):
    assert r.returncode == 1, r
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


def write(path, text, mode="w"):
    with open(path, mode) as f:
        f.write(text)
    return path


# --- the table -----------------------------------------------------------

def test_sample_is_generated_from_the_table():
    r = run_jobd("--dump-sample")
    assert r.returncode == 0, r
    with open(os.path.join(SRCDIR, "jobd.conf.sample")) as f:
        assert f.read() == r.stdout, \
            "jobd.conf.sample is stale: run _build/jobd --dump-sample > jobd.conf.sample"
    r = run_jobd("--check", "-c", os.path.join(SRCDIR, "jobd.conf.sample"))
    assert r.returncode == 0, r.stderr


def test_docs_list_every_setting():
    r = run_jobd("--dump-reference")
    assert r.returncode == 0, r
    with open(os.path.join(SRCDIR, "docs", "jobd.md")) as f:
        doc = f.read()
    begin = doc.index("<!-- settings reference:")
    begin = doc.index("\n", begin) + 1
    end = doc.index("<!-- end of settings reference -->")
    assert doc[begin:end] == r.stdout, \
        "docs/jobd.md settings table is stale: paste jobd --dump-reference"
    # and every row of the sample is in it
    sample = run_jobd("--dump-sample").stdout
    for line in sample.splitlines():
        if "=" in line and not line.startswith((";", "[")):
            assert "`%s`" % line.split("=")[0].strip() in r.stdout, line


def test_check_prints_every_setting_and_where_from(workdir):
    conf = write(os.path.join(workdir, "c.conf"),
                 "[jobd]\nworkers = 2\ninclude = c.d/*.conf\n")
    os.mkdir(os.path.join(workdir, "c.d"))
    write(os.path.join(workdir, "c.d", "a.conf"), "lease = 1m\n")
    r = run_jobd("--check", "-c", conf, "-o", "jobd.workers=3",
                 "-o", "type:t.handler=builtin", "-o", "type:t.builtin=echo")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "3 workers" in out.splitlines()[0]
    assert "jobd.workers = 3  ; -o jobd.workers=3\n" in out
    assert "jobd.lease = 1m  ; %s/c.d/a.conf:1\n" % workdir in out
    assert "jobd.max_frame = 8M\n" in out          # a default
    assert "type:t.builtin = echo  ; -o type:t.builtin=echo\n" in out
    assert "access.admin = *\n" in out


# --- -o ------------------------------------------------------------------

def test_a_type_defined_only_by_o_runs_a_job(jobd):
    echo = json.dumps([PYTHON3, os.path.join(HANDLERS, "echo.py")])
    d = jobd(args=["-o", "type:only.o.handler=exec",
                   "-o", "type:only.o.command=" + echo,
                   "-o", "type:only.o.timeout=30s"])
    with d.client() as c:
        jid = c.submit("only.o", {"x": 1})
        assert c.wait(jid)["result"]["echo"] == {"x": 1}


def test_bad_o_arguments_are_one_line_errors(workdir):
    conf = write(os.path.join(workdir, "ok.conf"), "[jobd]\nworkers = 1\n")
    cases = [
        ("nosuch.key=1", "[nosuch]: unknown section"),
        ("jobd.workers=abc", "[jobd] workers: not a number: 'abc'"),
        ("jobd.workers", "expected SECTION.KEY=VALUE"),
        ("jobd.nosuch=1", "[jobd] nosuch: unknown setting"),
        ("jobd.lease=0x10", "[jobd] lease: not a number"),
        ("jobd.prefix=" + "p" * 100000, "[jobd] prefix: expected 1..64"),
        ("type:x.handler=exec", "[type:x] command: required"),
        ("jobd.include=/etc/passwd", "include is for files"),
    ]
    for arg, msg in cases:
        r = run_jobd("--check", "-c", conf, "-o", arg)
        line = one_line_error(r)
        assert line.startswith("jobd: -o " + arg[:40]), line
        assert msg in line, line
        assert len(line) < 600, len(line)


def test_o_overrides_survive_sighup(jobd):
    d = jobd(workers=2, args=["-o", "jobd.workers=1",
                              "-o", "type:ok.handler=builtin",
                              "-o", "type:ok.builtin=echo"])
    d.wait_workers(1)
    old = d.workers()
    d.signal(signal.SIGHUP)
    wait_until(lambda: d.workers() and d.workers() != old, 20,
               msg="new workers after SIGHUP")
    assert len(d.wait_workers(1)) == 1     # the file says 2: -o still wins
    with d.client() as c:
        jid = c.submit("ok", {"still": "here"})
        assert c.wait(jid)["result"] == {"still": "here"}
    assert "reload failed" not in d.log_text()


# --- include -------------------------------------------------------------

def test_include_adds_a_type_and_overrides_earlier_lines(jobd, workdir,
                                                        redis_server):
    inc = os.path.join(workdir, "types.d")
    os.mkdir(inc)
    write(os.path.join(inc, "10-inc.conf"),
          "[type:from_include]\nhandler = builtin\nbuiltin = echo\n")
    write(os.path.join(inc, "20-workers.conf"), "[jobd]\nworkers = 1\n")
    # workers = 2 before the include, 1 in it: the include wins
    conf = write(os.path.join(workdir, "inc.conf"),
                 "[jobd]\nsocket = %s\nredis = %s\nworkers = 2\n"
                 "include = types.d/*.conf\n"
                 % (os.path.join(workdir, "withinc.sock"), redis_server.url))
    d = jobd(name="withinc", args=["-c", conf])   # the last -c is read
    d.wait_workers(1)
    with d.client() as c:
        jid = c.submit("from_include", [1, 2])
        assert c.wait(jid)["result"] == [1, 2]


def test_include_errors(workdir):
    main = os.path.join(workdir, "m.conf")
    write(main, "[jobd]\ninclude = nothing.d/*.conf\n")
    assert run_jobd("--check", "-c", main).returncode == 0
    write(main, "[jobd]\ninclude = missing.conf\n")
    line = one_line_error(run_jobd("--check", "-c", main))
    assert "m.conf:2: include " in line and "no such file" in line, line
    write(main, "[jobd]\ninclude = loop.conf\n")
    write(os.path.join(workdir, "loop.conf"), "include = m.conf\n")
    line = one_line_error(run_jobd("--check", "-c", main))
    assert "loop.conf:1" in line and "a cycle" in line, line
    # a config line of 1 MB, and a binary file
    write(main, "[jobd]\nprefix = " + "a" * (1 << 20) + "\n")
    line = one_line_error(run_jobd("--check", "-c", main))
    assert "m.conf:2: line longer than 65536" in line, line
    write(main, bytes(range(256)) * 64, "wb")
    line = one_line_error(run_jobd("--check", "-c", main))
    assert "m.conf:1: NUL or control byte" in line, line
    write(os.path.join(workdir, "bin.conf"), b"\x7fELF\x00\x01" * 100, "wb")
    write(main, "[jobd]\ninclude = bin.conf\n")
    line = one_line_error(run_jobd("--check", "-c", main))
    assert "bin.conf:1: NUL or control byte" in line, line


# --- [types] and env_pass ------------------------------------------------

def test_types_and_env_pass_reach_the_handler(jobd, workdir):
    script = write_script(workdir, "env.py",
                          "#!%s\nimport json, os, sys\nsys.stdin.read()\n"
                          "json.dump({k: os.environ.get(k) for k in "
                          "('PASSED', 'DEFAULTED', 'UNSET', 'OWN')}, "
                          "sys.stdout)\n" % PYTHON3)
    conf_types = {"a": {"timeout": 30}, "b": {"env": ["OWN=b"]}}
    d = jobd(types=conf_types, wait=False,
             env={"PASSED": "from jobd's env", "OWN": "not passed"},
             args=["-o", "types.handler=exec",
                   "-o", "types.command=" + script,
                   "-o", "types.env_pass=PASSED, UNSET, DEFAULTED",
                   "-o", "types.env=DEFAULTED=the default"])
    d.ready()
    with d.client() as c:
        for t, own in (("a", None), ("b", "b")):
            jid = c.submit(t, {})
            assert c.wait(jid)["result"] == {
                "PASSED": "from jobd's env", "DEFAULTED": "the default",
                "UNSET": None, "OWN": own}, t


def test_env_pass_bad_names(workdir):
    conf = write(os.path.join(workdir, "e.conf"),
                 "[type:t]\nhandler = builtin\nbuiltin = echo\n"
                 "env_pass = JOBD_SOCKET\n")
    line = one_line_error(run_jobd("--check", "-c", conf))
    assert "e.conf:4: [type:t] env_pass: JOBD_* variables" in line, line
    line = one_line_error(run_jobd("--check", "-o", "types.env_pass=A=B"))
    assert "[types] env_pass: bad variable name" in line, line
