"""jobctl (docs/jobctl.md): every verb, --json and tables, exit codes
0/1/2/3."""
import json
import os
import subprocess

import pytest

from jobd_itest import JOB_ID_RE, run_jobctl, wait_until, write_script


def js(r):
    """js: jobctl's --json output as an object (asserting exit 0)."""
    assert r.returncode == 0, "exit %d\nstdout: %s\nstderr: %s" % (
        r.returncode, r.stdout, r.stderr)
    try:
        return json.loads(r.stdout)
    except ValueError:
        raise AssertionError("--json printed no JSON:\n%s" % r.stdout)


def record(obj):
    """record: the job record in a get/wait response (or the object itself)."""
    return obj["job"] if isinstance(obj.get("job"), dict) else obj


def submit_id(d, *args):
    out = js(d.jobctl("--json", "submit", *args))
    assert JOB_ID_RE.match(out["job_id"]), out
    return out["job_id"]


def test_ping(daemon):
    r = daemon.jobctl("ping")
    assert r.returncode == 0, r
    assert r.stdout.strip()
    assert js(daemon.jobctl("--json", "ping"))["ok"] is True


def test_socket_from_environment(daemon):
    r = run_jobctl("ping", env={"JOBD_SOCKET": daemon.sock})
    assert r.returncode == 0, r


def test_unreachable_daemon_is_exit_1(workdir):
    r = run_jobctl("ping", sock=os.path.join(workdir, "nobody.sock"))
    assert r.returncode == 1, r
    assert r.stderr.strip()


def test_socket_that_is_not_a_socket(workdir):
    """A JOBD_SOCKET naming a file or directory says so, not "Connection
    refused" as if a daemon were down."""
    plain = os.path.join(workdir, "plain")
    open(plain, "w").close()
    for path, kind in ((plain, "regular file"), (workdir, "directory")):
        r = run_jobctl("ping", env={"JOBD_SOCKET": path})
        assert r.returncode == 1, r
        assert "not a socket (a %s)" % kind in r.stderr, r.stderr
    r = run_jobctl("ping", env={"JOBD_SOCKET": plain + ".missing"})
    assert r.returncode == 1 and "No such file" in r.stderr, r.stderr


@pytest.mark.parametrize("args", [
    [], ["frobnicate"], ["submit"], ["status"], ["wait"], ["cancel"],
    ["submit", "jobd.noop", "--timeout"], ["list", "--limit", "many"],
    ["submit", "jobd.noop", "--no-such-flag"], ["pause"],
    ["submit", "jobd.echo", "{not json"],
])
def test_usage_errors_are_exit_2(daemon, args):
    r = daemon.jobctl(*args)
    assert r.returncode == 2, "jobctl %s -> %d\n%s%s" % (args, r.returncode, r.stdout, r.stderr)
    assert r.stderr.strip(), "no usage message"


def test_help(daemon):
    r = daemon.jobctl("--help")
    assert r.returncode == 0
    for verb in ("submit", "status", "result", "wait", "cancel", "requeue",
                 "list", "stats", "workers", "pause", "resume", "ping"):
        assert verb in r.stdout + r.stderr, verb


def test_submit_table_and_json(daemon):
    r = daemon.jobctl("submit", "jobd.echo", '{"a": 1}')
    assert r.returncode == 0, r
    m = [w for w in r.stdout.split() if JOB_ID_RE.match(w)]
    assert m, "no job id in: %r" % r.stdout
    jid = submit_id(daemon, "jobd.echo", '{"b": 2}')
    rec = record(js(daemon.jobctl("--json", "wait", jid, "--timeout", "30")))
    assert rec["status"] == "finished" and rec["result"] == {"b": 2}


def test_submit_payload_from_stdin(daemon):
    out = js(daemon.jobctl("--json", "submit", "jobd.echo", "-", input='{"from": "stdin"}'))
    rec = record(js(daemon.jobctl("--json", "wait", out["job_id"])))
    assert rec["result"] == {"from": "stdin"}


def test_submit_options(daemon):
    jid = submit_id(daemon, "jobd.noop", "--queue", "low", "--timeout", "12",
                    "--retries", "4", "--delay", "60")
    rec = record(js(daemon.jobctl("--json", "status", jid)))
    assert rec["queue"] == "low"
    assert rec["timeout"] == 12
    assert rec["max_retries"] == 4
    assert rec["status"] == "scheduled"


def test_submit_wait_exit_codes(daemon):
    r = daemon.jobctl("submit", "jobd.echo", '{"ok": 1}', "--wait")
    assert r.returncode == 0, r
    r = daemon.jobctl("--json", "submit", "jobd.echo", '{"ok": 1}', "--wait")
    assert r.returncode == 0
    assert record(json.loads(r.stdout))["result"] == {"ok": 1}
    r = daemon.jobctl("submit", "jobd.fail", "--wait")
    assert r.returncode == 3, r
    r = daemon.jobctl("submit", "no.such.type")
    assert r.returncode == 1, r
    assert "unknown_type" in r.stderr or "unknown" in r.stderr.lower()


def test_status_result_table_and_json(daemon):
    jid = submit_id(daemon, "jobd.echo", '{"story": "x"}')
    js(daemon.jobctl("--json", "wait", jid))
    r = daemon.jobctl("status", jid)
    assert r.returncode == 0 and jid in r.stdout and "finished" in r.stdout, r
    rec = record(js(daemon.jobctl("--json", "status", jid)))
    assert rec["job_id"] == jid and rec["status"] == "finished"
    r = daemon.jobctl("result", jid)
    assert r.returncode == 0 and "story" in r.stdout, r
    res = js(daemon.jobctl("--json", "result", jid))
    assert res["status"] == "finished" and res["result"] == {"story": "x"}


def test_unknown_job_is_exit_1(daemon):
    for verb in ("status", "result", "wait", "cancel", "requeue"):
        r = daemon.jobctl(verb, "j_01ARZ3NDEKTSV4RRFFQ69G5FAV")
        assert r.returncode == 1, (verb, r)
        assert "not_found" in r.stderr or "not found" in r.stderr.lower(), (verb, r.stderr)


def test_wait_exit_codes(daemon):
    ok = submit_id(daemon, "jobd.noop")
    assert daemon.jobctl("wait", ok, "--timeout", "30").returncode == 0
    bad = submit_id(daemon, "jobd.fail")
    r = daemon.jobctl("wait", bad, "--timeout", "30")
    assert r.returncode == 3, r
    assert "failed" in r.stdout + r.stderr
    slow = submit_id(daemon, "jobd.sleep", '{"seconds": 30}')
    r = daemon.jobctl("wait", slow, "--timeout", "0.2")
    assert r.returncode == 1, "a wait that timed out: exit %d" % r.returncode
    assert daemon.jobctl("cancel", slow).returncode == 0
    r = daemon.jobctl("wait", slow, "--timeout", "30")
    assert r.returncode == 3, r


def test_cancel(daemon):
    daemon.jobctl("pause", "default")
    jid = submit_id(daemon, "jobd.noop")
    r = daemon.jobctl("cancel", jid)
    assert r.returncode == 0, r
    assert record(js(daemon.jobctl("--json", "status", jid)))["status"] == "canceled"
    r = daemon.jobctl("cancel", jid)
    assert r.returncode == 1, "cancel of a canceled job: %r" % r


def test_requeue_one_and_all_failed(daemon):
    a = submit_id(daemon, "jobd.fail", "--queue", "low")
    b = submit_id(daemon, "jobd.fail", "--queue", "low")
    c = submit_id(daemon, "jobd.fail", "--queue", "high")
    for j in (a, b, c):
        assert daemon.jobctl("wait", j).returncode == 3
    r = js(daemon.jobctl("--json", "requeue", a))
    assert r["job_ids"] == [a]
    assert daemon.jobctl("wait", a).returncode == 3
    rec = record(js(daemon.jobctl("--json", "status", a)))
    assert rec["attempts"] >= 2 or rec["status"] == "failed"
    r = js(daemon.jobctl("--json", "requeue", "--all-failed", "--queue", "low"))
    assert sorted(r["job_ids"]) == sorted([a, b])
    r = daemon.jobctl("requeue", "--all-failed", "--queue", "high")
    assert r.returncode == 0, r


def test_list(daemon):
    daemon.jobctl("pause", "low")
    ids = [submit_id(daemon, "jobd.noop", "--queue", "low") for _ in range(5)]
    r = daemon.jobctl("list", "--status", "queued", "--queue", "low")
    assert r.returncode == 0
    for j in ids:
        assert j in r.stdout
    out = js(daemon.jobctl("--json", "list", "--status", "queued", "--queue", "low",
                           "--limit", "2"))
    assert out["total"] == 5
    assert [j["job_id"] for j in out["jobs"]] == ids[:2]
    r = daemon.jobctl("list", "--limit", "2", "--status", "queued")
    assert r.returncode == 0 and ids[0] in r.stdout and ids[4] not in r.stdout


def test_stats_workers_pause_resume(daemon):
    assert daemon.jobctl("pause", "low").returncode == 0
    s = js(daemon.jobctl("--json", "stats"))
    assert s["queues"]["low"]["paused"] is True
    r = daemon.jobctl("stats")
    assert r.returncode == 0
    for q in ("high", "default", "low"):
        assert q in r.stdout
    assert daemon.jobctl("resume", "low").returncode == 0
    assert js(daemon.jobctl("--json", "stats"))["queues"]["low"]["paused"] is False

    pids = daemon.wait_workers(2)

    def listed():
        w = js(daemon.jobctl("--json", "workers"))
        ws = w["workers"] if isinstance(w, dict) else w
        return {x["pid"] for x in ws} == set(pids)
    wait_until(listed, 15, interval=0.2, msg="jobctl workers to list %s" % pids)
    r = daemon.jobctl("workers")
    assert r.returncode == 0
    for p in pids:
        assert str(p) in r.stdout, "worker %d not in:\n%s" % (p, r.stdout)


def test_server_error_is_exit_1(daemon):
    r = daemon.jobctl("--json", "status", "bad id with spaces")
    assert r.returncode in (1, 2), r


def test_c_example_submits_and_waits(shared_daemon):
    """examples/c/submit_wait.c, built by make check against libjobclient,
    runs a job end to end."""
    exe = os.path.join(os.environ.get("JOBD_BUILDDIR", ""), "examples", "c",
                       "submit_wait")
    env = dict(os.environ, JOBD_SOCKET=shared_daemon.sock)
    out = subprocess.run([exe, "jobd.echo", '{"from": "c"}'], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("submitted j_")
    assert '"from":"c"' in out.stdout.replace(" ", "")
    failed = subprocess.run([exe, "jobd.fail", "{}"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert failed.returncode == 3


HOSTILE = "\x1b[2J\x1b[H\rFORGED: line\nFORGED status: \x07\x9b31m\u202eevil\x7f"
HOSTILE_HANDLER = r'''
import json, os, sys
json.load(sys.stdin)
msg = %r
with os.fdopen(int(os.environ["JOBD_PROGRESS_FD"]), "w") as p:
    p.write(json.dumps({"percent": 50, "message": msg}) + "\n")
sys.stderr.write(msg)
sys.exit(3)
'''


def assert_terminal_safe(text, what):
    """No byte a terminal acts on: C0/C1 controls (but the lines jobctl
    itself ends), DEL, bidi overrides; and no forged line."""
    for ch in text:
        assert ch == "\n" or not (ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f
                                  or 0x202a <= ord(ch) <= 0x202e), (
            "%s: %r in %r" % (what, ch, text))
    assert not any(line.startswith("FORGED")
                   for line in text.splitlines()), (what, text)


def test_human_output_escapes_control_characters(jobd, workdir):
    """A handler's progress message, error and result cannot clear the
    terminal or forge lines through jobctl's human output; --json keeps
    the exact text."""
    import sys
    script = write_script(workdir, "hostile.py", HOSTILE_HANDLER % HOSTILE)
    d = jobd(types={"hostile": {"handler": "exec",
                                "command": [sys.executable, script],
                                "retries": 0}})
    bad = submit_id(d, "hostile", "{}")
    assert d.jobctl("wait", bad).returncode == 3
    echo = submit_id(d, "jobd.echo", json.dumps(HOSTILE))
    assert d.jobctl("wait", echo).returncode == 0
    for args in (["status", bad], ["wait", bad], ["result", bad],
                 ["result", echo], ["status", echo],
                 ["list", "--status", "failed"], ["list"]):
        r = d.jobctl(*args)
        assert_terminal_safe(r.stdout, "stdout of jobctl %s" % args)
        assert_terminal_safe(r.stderr, "stderr of jobctl %s" % args)
    r = d.jobctl("status", bad)
    assert "\\e[2J" in r.stdout and "\\u{009B}" in r.stdout, r.stdout
    assert "\\u{202E}evil" in r.stdout, r.stdout
    # Non-ASCII text that is not a control stays as it is.
    ok = submit_id(d, "jobd.echo", json.dumps("érable 東京"))
    d.jobctl("wait", ok)
    assert d.jobctl("result", ok).stdout.strip() == "érable 東京"
    # Machines get the exact bytes.
    rec = record(js(d.jobctl("--json", "result", echo)))
    assert rec["result"] == HOSTILE


def test_batch_verbs_and_submit_dependencies(daemon):
    r = daemon.jobctl("batch", "open", "nightly", "--callback",
                      '{"type": "jobd.noop"}')
    assert r.returncode == 0, r.stderr
    bid, _, cb = r.stdout.split()
    assert bid.startswith("b_") and JOB_ID_RE.match(cb), r.stdout
    parent = submit_id(daemon, "jobd.noop", "--batch", bid)
    child = js(daemon.jobctl("--json", "submit", "jobd.echo", "{}",
                             "--depends-on", parent, "--on-dep-failure",
                             "run", "--batch", bid))
    rec = record(js(daemon.jobctl("--json", "wait", child["job_id"])))
    assert rec["status"] == "finished" and rec["depends_on"] == [parent]
    assert rec["batch_id"] == bid
    r = daemon.jobctl("status", child["job_id"])
    assert "depends_on" in r.stdout and parent in r.stdout, r.stdout
    assert "batch_id" in r.stdout and bid in r.stdout, r.stdout
    late = js(daemon.jobctl("--json", "submit", "jobd.noop", "--delay",
                            "600"))["job_id"]
    deferred = submit_id(daemon, "jobd.noop", "--depends-on", late)
    r = daemon.jobctl("stats")
    head, rows = r.stdout.split("\n")[0].split(), r.stdout.split("\n")[1:]
    col = head.index("DEFERRED")
    default = [ln.split() for ln in rows if ln.startswith("default")][0]
    assert default[col] == "2", r.stdout    # the job and the callback
    listed = js(daemon.jobctl("--json", "list", "--status", "deferred"))
    # newest first: the job, then the batch's callback
    assert [j["job_id"] for j in listed["jobs"]] == [deferred, cb]
    r = daemon.jobctl("batch", "show", bid)
    assert r.returncode == 0 and "open" in r.stdout, r.stdout
    assert "finished 2" in r.stdout and "nightly" in r.stdout, r.stdout
    r = daemon.jobctl("batch", "seal", bid)
    assert r.returncode == 0 and r.stdout.split() == [bid, "finished"]
    assert record(js(daemon.jobctl("--json", "wait", cb)))["status"] == \
        "finished"
    b = js(daemon.jobctl("--json", "batch", "show", bid))
    assert b["status"] == "finished" and b["total"] == 2
    r = daemon.jobctl("batch", "seal", bid)
    assert r.returncode == 1 and "sealed" in r.stderr
    for args in (["batch"], ["batch", "show"], ["batch", "frob", "x"],
                 ["batch", "open", "--callback", "{bad"]):
        assert daemon.jobctl(*args).returncode == 2, args
