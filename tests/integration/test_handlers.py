"""Handler kinds (docs/jobd.md, HANDLERS): exec (one-shot and persistent),
http, builtin; timeouts, progress, cancel of running handlers."""
import http.server
import json
import os
import threading
import time

import pytest

from jobd_itest import PYTHON3, handler, pid_alive, wait_until, write_script


def assert_error(r, code):
    assert r.get("ok") is False and r["error"]["code"] == code, r


def read_pids(path):
    with open(path) as f:
        data = f.read().split()
    return [int(x) for x in data]


def test_exec_echo_handler(jobd):
    d = jobd(types={"echo": {"handler": "exec", "command": handler("echo.py")}})
    with d.client() as c:
        jid = c.submit("echo", {"hello": ["w", 1]})
        rec = c.wait(jid)
        assert rec["status"] == "finished", rec
        assert rec["result"]["echo"] == {"hello": ["w", 1]}
        assert rec["result"]["job_id"] == jid
        assert rec["result"]["attempt"] == 1


def test_exec_command_as_whitespace_string(jobd):
    d = jobd(types={"echo": {"handler": "exec",
                             "command": " ".join(handler("echo.py"))}})
    with d.client() as c:
        rec = c.wait(c.submit("echo", {"x": 1}))
        assert rec["status"] == "finished" and rec["result"]["echo"] == {"x": 1}


ENV_SCRIPT = """#!%s
import json, os, sys
rec = json.load(sys.stdin)
fd = int(os.environ["JOBD_PROGRESS_FD"])
os.fstat(fd)
print(json.dumps({"stdin_job_id": rec["job_id"], "stdin_payload": rec["payload"],
                  "env": {k: os.environ.get(k) for k in
                          ("JOBD_JOB_ID", "JOBD_ATTEMPT", "JOBD_SOCKET", "STORY_DB")},
                  "argv": sys.argv[1:], "cwd": os.getcwd()}))
""" % PYTHON3


def test_exec_gets_record_env_args_no_shell(jobd, workdir):
    script = write_script(workdir, "env.py", ENV_SCRIPT)
    d = jobd(types={"env": {"handler": "exec",
                            "command": [script, "a b", "$HOME", ";echo"],
                            "env": ["STORY_DB=/tmp/x.db"], "cwd": workdir}})
    evil = {"cmd": "$(touch %s/pwned); `id`" % workdir}
    with d.client() as c:
        jid = c.submit("env", evil)
        rec = c.wait(jid)
    assert rec["status"] == "finished", rec
    r = rec["result"]
    assert r["stdin_job_id"] == jid
    assert r["stdin_payload"] == evil
    assert r["env"]["JOBD_JOB_ID"] == jid
    assert r["env"]["JOBD_ATTEMPT"] == "1"
    assert os.path.samefile(r["env"]["JOBD_SOCKET"], d.sock)
    assert r["env"]["STORY_DB"] == "/tmp/x.db"
    assert r["argv"] == ["a b", "$HOME", ";echo"]
    assert os.path.realpath(r["cwd"]) == os.path.realpath(workdir)
    assert not os.path.exists(os.path.join(workdir, "pwned"))


def test_exec_failure_keeps_stderr_tail(jobd):
    d = jobd(types={"fail": {"handler": "exec", "command": handler("fail.py")}})
    with d.client() as c:
        rec = c.wait(c.submit("fail", {}))
        assert rec["status"] == "failed"
        assert "something broke" in str(rec["error"]), rec["error"]
        assert rec["result"] is None


CONTROLS_SCRIPT = """#!%s
import sys
sys.stdin.read()
# ESC, a C1 CSI, a right-to-left override, a stray byte: a forged line.
sys.stderr.buffer.write(b"before\\x1b[2J\\xc2\\x9b31m\\xe2\\x80\\xaefdp.exe\\xff after\\n"
                        b"FAKE: job ok\\n")
sys.exit(3)
""" % PYTHON3


def test_handler_error_text_loses_terminal_controls(jobd, workdir):
    """A handler's stderr reaches the job's error and the log: what a
    terminal would act on (C0/C1 controls, bidi overrides, stray bytes)
    is replaced, newlines in the error are kept, the log stays one line."""
    script = write_script(workdir, "controls.py", CONTROLS_SCRIPT)
    d = jobd(types={"ctl": {"handler": "exec", "command": [script]}})
    with d.client() as c:
        rec = c.wait(c.submit("ctl", {}))
    assert rec["status"] == "failed", rec
    text = json.dumps(rec["error"], ensure_ascii=False)
    assert "before?[2J?31m?fdp.exe? after" in text, text
    for bad in ("\x1b", "\u009b", "\u202e", "\ufffd"):
        assert bad not in text, (bad, text)
    with open(d.log, "rb") as f:
        log = f.read()
    for bad in (b"\x1b", b"\xc2\x9b", b"\xe2\x80\xae", b"\xff"):
        assert bad not in log, (bad, log[-2000:])
    log.decode("utf-8")                  # the log is valid UTF-8


def test_exec_garbage_output_fails(jobd):
    d = jobd(types={"garbage": {"handler": "exec", "command": handler("garbage.py")}})
    with d.client() as c:
        rec = c.wait(c.submit("garbage", {}))
        assert rec["status"] == "failed"
        assert rec["error"]


def test_exec_output_limit(jobd):
    d = jobd(types={"big": {"handler": "exec", "command": handler("bigout.py"),
                            "max_output": 10000}})
    with d.client() as c:
        small = c.wait(c.submit("big", {"bytes": 1000}))
        assert small["status"] == "finished", small
        big = c.wait(c.submit("big", {"bytes": 1000000}))
        assert big["status"] == "failed", "1 MB of output over a 10 kB limit: %r" % (
            {k: big[k] for k in ("status", "error")},)
        # The worker is fine afterwards.
        assert c.wait(c.submit("big", {"bytes": 100}))["status"] == "finished"


def test_exec_missing_program_fails_the_job(jobd, workdir):
    d = jobd(types={"ghost": {"handler": "exec",
                              "command": [os.path.join(workdir, "no-such-program")]}})
    with d.client() as c:
        rec = c.wait(c.submit("ghost", {}))
        assert rec["status"] == "failed" and rec["error"]
        assert c.wait(c.submit("jobd.noop"))["status"] == "finished"


def test_timeout_kills_handler_and_its_children(jobd, workdir):
    d = jobd(types={"hang": {"handler": "exec",
                             "command": handler("spawn_and_sleep.py"),
                             "timeout": 1}})
    pidfile = os.path.join(workdir, "pids")
    with d.client() as c:
        jid = c.submit("hang", {"pidfile": pidfile})
        pids = wait_until(lambda: os.path.exists(pidfile) and
                          len(read_pids(pidfile)) >= 2 and read_pids(pidfile), 20,
                          msg="the handler to write its pids")
        rec = c.wait(jid, timeout=60)
        assert rec["status"] == "failed"
        assert "timeout" in str(rec["error"]).lower() or \
            "timed out" in str(rec["error"]).lower(), rec["error"]
    for pid in pids:
        wait_until(lambda: not pid_alive(pid), 10,
                   msg="pid %d (handler or its child) to be gone" % pid)


def test_timeout_with_retries_is_retried(jobd, workdir):
    d = jobd(types={"hang": {"handler": "exec",
                             "command": handler("spawn_and_sleep.py"),
                             "timeout": 1, "retries": 1, "backoff": "0.1"}})
    with d.client() as c:
        rec = c.wait(c.submit("hang", {"pidfile": os.path.join(workdir, "p")}), timeout=60)
        assert rec["status"] == "failed" and rec["attempts"] == 2


def test_submit_timeout_applies_to_builtin_sleep(client):
    rec = client.wait(client.submit("jobd.sleep", {"seconds": 30}, timeout=1), timeout=60)
    assert rec["status"] == "failed"
    assert "time" in str(rec["error"]).lower()


def test_cancel_running_exec_job_kills_processes(jobd, workdir):
    d = jobd(types={"hang": {"handler": "exec",
                             "command": handler("spawn_and_sleep.py"),
                             "timeout": 300}})
    pidfile = os.path.join(workdir, "pids")
    with d.client() as c:
        jid = c.submit("hang", {"pidfile": pidfile})
        pids = wait_until(lambda: os.path.exists(pidfile) and
                          len(read_pids(pidfile)) >= 2 and read_pids(pidfile), 20)
        assert c.status(jid) == "started"
        r = c.ok("cancel", job_id=jid)
        assert r["status"] in ("started", "canceled")
        rec = c.wait(jid, timeout=30)
        assert rec["status"] == "canceled"
        for pid in pids:
            wait_until(lambda: not pid_alive(pid), 10, msg="pid %d gone" % pid)
        assert c.wait(c.submit("jobd.noop"))["status"] == "finished"


def test_progress_from_exec_handler(jobd):
    d = jobd(types={"prog": {"handler": "exec", "command": handler("progress.py")}})
    with d.client() as c:
        jid = c.submit("prog", {"step": 0.7})
        seen = set()

        def progressed():
            p = c.get(jid).get("progress")
            if p and p.get("percent") is not None:
                seen.add((p["percent"], p.get("message")))
            return len(seen) >= 2
        wait_until(progressed, 30, interval=0.05, msg="two progress updates")
        rec = c.wait(jid, timeout=30)
    assert rec["status"] == "finished"
    assert all(0 <= p <= 100 for p, _ in seen)
    assert rec["progress"] and rec["progress"]["percent"] is not None


def test_progress_op_for_a_started_job(client):
    jid = client.submit("jobd.sleep", {"seconds": 30})
    wait_until(lambda: client.status(jid) == "started", 20)
    client.ok("progress", job_id=jid, percent=42, message="chapter 2")
    p = client.get(jid)["progress"]
    assert p["percent"] == 42 and p["message"] == "chapter 2"
    client.ok("cancel", job_id=jid)
    client.wait(jid)
    r = client.call("progress", job_id=jid, percent=50, message="late")
    assert r["ok"] is False, "progress accepted for a canceled job: %r" % r


def test_persistent_handler_is_reused_and_restarted(jobd):
    d = jobd(workers=1, types={"pers": {"handler": "exec", "persistent": True,
                                        "command": handler("persistent.py"),
                                        "retries": 0}})
    with d.client() as c:
        recs = [c.wait(c.submit("pers", {"n": i})) for i in range(4)]
        for i, r in enumerate(recs):
            assert r["status"] == "finished", r
            assert r["result"]["echo"] == {"n": i}
        pids = {r["result"]["pid"] for r in recs}
        assert len(pids) == 1, "a new process per job: %s" % pids
        old = pids.pop()
        assert pid_alive(old)

        crash = c.wait(c.submit("pers", {"crash": True}))
        assert crash["status"] == "failed"
        wait_until(lambda: not pid_alive(old), 10, msg="the crashed process gone")

        after = [c.wait(c.submit("pers", {"n": i})) for i in range(2)]
        assert all(r["status"] == "finished" for r in after), after
        new = {r["result"]["pid"] for r in after}
        assert len(new) == 1 and old not in new


def test_persistent_handler_timeout_restarts_it(jobd, workdir):
    hang = write_script(workdir, "hang.py", """#!%s
import json, os, sys, time
for line in sys.stdin:
    job = json.loads(line)
    if (job.get("payload") or {}).get("hang"):
        time.sleep(1000)
    print(json.dumps({"result": {"pid": os.getpid()}}), flush=True)
""" % PYTHON3)
    d = jobd(workers=1, types={"p": {"handler": "exec", "persistent": True,
                                     "command": [hang], "timeout": 1}})
    with d.client() as c:
        first = c.wait(c.submit("p", {}))["result"]["pid"]
        rec = c.wait(c.submit("p", {"hang": True}), timeout=60)
        assert rec["status"] == "failed"
        wait_until(lambda: not pid_alive(first), 10)
        again = c.wait(c.submit("p", {}))
        assert again["status"] == "finished" and again["result"]["pid"] != first


class _Hook(http.server.BaseHTTPRequestHandler):
    received = []

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        _Hook.received.append((self.path, self.headers.get("Content-Type"), body))
        if self.path == "/ok":
            rec = json.loads(body)
            out = json.dumps({"got": rec["payload"], "job_id": rec["job_id"]}).encode()
            code, ctype = 200, "application/json"
        elif self.path == "/created":
            out, code, ctype = b'{"made": true}', 201, "application/json"
        elif self.path == "/error":
            out, code, ctype = b'{"error": "nope"}', 500, "application/json"
        elif self.path == "/big":
            out = json.dumps({"blob": "x" * 50000}).encode()
            code, ctype = 200, "application/json"
        elif self.path == "/text":
            out, code, ctype = b"hello, not json", 200, "text/plain"
        elif self.path == "/slow":
            time.sleep(5)
            out, code, ctype = b"{}", 200, "application/json"
        else:
            out, code, ctype = b"no", 404, "text/plain"
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


@pytest.fixture
def http_hook():
    _Hook.received = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_http_handler(jobd, http_hook):
    d = jobd(types={
        "hook": {"handler": "http", "url": http_hook + "/ok"},
        "made": {"handler": "http", "url": http_hook + "/created"},
        "err": {"handler": "http", "url": http_hook + "/error"},
        "text": {"handler": "http", "url": http_hook + "/text"},
        "gone": {"handler": "http", "url": http_hook + "/missing"},
        "slow": {"handler": "http", "url": http_hook + "/slow", "timeout": 1},
        "closed": {"handler": "http", "url": "http://127.0.0.1:1/x"},
        "big": {"handler": "http", "url": http_hook + "/big",
                "max_output": 10000},
        "fits": {"handler": "http", "url": http_hook + "/big",
                 "max_output": 60000},
    })
    with d.client() as c:
        jid = c.submit("hook", {"story": 1})
        rec = c.wait(jid)
        assert rec["status"] == "finished", rec
        assert rec["result"] == {"got": {"story": 1}, "job_id": jid}
        path, ctype, body = _Hook.received[0]
        assert path == "/ok" and "json" in (ctype or "")
        sent = json.loads(body)
        assert sent["job_id"] == jid and sent["type"] == "hook"

        assert c.wait(c.submit("made"))["result"] == {"made": True}
        for t in ("err", "text", "gone", "closed"):
            rec = c.wait(c.submit(t), timeout=60)
            assert rec["status"] == "failed", (t, rec)
            assert rec["error"], (t, rec)
        rec = c.wait(c.submit("slow"), timeout=60)
        assert rec["status"] == "failed"
        rec = c.wait(c.submit("big"), timeout=60)
        assert rec["status"] == "failed" and "10000" in rec["error"], rec
        rec = c.wait(c.submit("fits"), timeout=60)
        assert rec["status"] == "finished", rec
        assert rec["result"] == {"blob": "x" * 50000}
        assert c.wait(c.submit("hook", {"after": 1}))["status"] == "finished"


def test_builtin_type_section(jobd):
    d = jobd(types={"slow": {"handler": "builtin", "builtin": "sleep"},
                    "mirror": {"handler": "builtin", "builtin": "echo"}})
    with d.client() as c:
        assert c.wait(c.submit("mirror", [1, "two"]))["result"] == [1, "two"]
        t0 = time.monotonic()
        assert c.wait(c.submit("slow", {"seconds": 0.5}))["status"] == "finished"
        assert time.monotonic() - t0 >= 0.45


CLEAN_SCRIPT = """#!%s
import ctypes, json, os, signal, sys
sys.stdin.read()
pdeath = ctypes.c_int(0)
ctypes.CDLL(None).prctl(2, ctypes.byref(pdeath), 0, 0, 0)  # PR_GET_PDEATHSIG
fds = []
for fd in range(4, 1024):
    try:
        os.fstat(fd)
        fds.append(fd)
    except OSError:
        pass
print(json.dumps({"own_group": os.getpgrp() == os.getpid(),
                  "sighup_default": signal.getsignal(signal.SIGHUP) == signal.SIG_DFL,
                  "blocked": sorted(int(s) for s in
                                    signal.pthread_sigmask(signal.SIG_BLOCK, [])),
                  "pdeathsig": pdeath.value, "other_fds": fds}))
""" % PYTHON3


def test_exec_child_starts_clean_and_start_errors_are_clear(jobd, workdir):
    """A handler runs in its own process group, with default signal
    dispositions (the worker ignores SIGHUP), nothing blocked, SIGKILL as
    its parent-death signal and only descriptors 0-3; a handler that cannot
    start (no program, no working directory) fails its job saying why."""
    ghost = os.path.join(workdir, "no-such-program")
    nodir = os.path.join(workdir, "no-such-dir")
    d = jobd(types={
        "clean": {"handler": "exec",
                  "command": write_script(workdir, "clean.py", CLEAN_SCRIPT)},
        "ghost": {"handler": "exec", "command": [ghost]},
        "ghost_p": {"handler": "exec", "command": [ghost], "persistent": True},
        "nodir": {"handler": "exec", "command": ["/bin/true"], "cwd": nodir},
    })
    with d.client() as c:
        rec = c.wait(c.submit("clean"))
        assert rec["status"] == "finished", rec
        assert rec["result"] == {"own_group": True, "sighup_default": True,
                                 "blocked": [], "pdeathsig": 9,
                                 "other_fds": []}, rec["result"]
        for t, path in (("ghost", ghost), ("ghost_p", ghost), ("nodir", nodir)):
            rec = c.wait(c.submit(t))
            assert rec["status"] == "failed", (t, rec)
            assert path in rec["error"], (t, rec["error"])
            assert "No such file or directory" in rec["error"], (t, rec["error"])
        assert c.wait(c.submit("clean"))["status"] == "finished"
