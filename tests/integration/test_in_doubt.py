"""test_in_doubt.py: errors that tell the truth while Redis stalls
(docs/protocol.md, "in_doubt").  A real redis-server is SIGSTOPped while
submits are in flight; jobd's no-reply timeout (10 s) answers them:
`in_doubt` (with the job's id) when the command was written to Redis,
`unavailable` when it certainly was not.  After SIGCONT a job answered
in_doubt either exists and runs once, or is absent for good; one answered
unavailable is absent; no job runs twice.
"""
import os
import signal
import threading
import time

from jobd_itest import wait_until
from pyfixtures import write_script
from proto import Client

# A job as big as this fills the socket to a stopped Redis after a few:
# the rest stays in jobd's output buffer, never written.
BIG = "x" * (96 * 1024)

RECORDER = """#!/usr/bin/python3
import os, sys
sys.stdin.read()
with open(%r, "a") as f:
    f.write(os.environ["JOBD_JOB_ID"] + "\\n")
print("{}")
"""


def recorder(workdir):
    runs = os.path.join(workdir, "runs.txt")
    script = write_script(workdir, "record.py", RECORDER % runs)
    return runs, {"rec": {"handler": "exec", "command": [script]}}


def runs_of(path):
    try:
        with open(path) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def submit_in_turns(sock, jobs, gap=0.03):
    """Pipeline the submits on one connection, gap apart (each one its own
    FCALL, not one group), then read every reply (the no-reply timeout
    answers them).  Returns [(request, reply)]."""
    c = Client(sock, timeout=60)
    try:
        for i, job in enumerate(jobs):
            c.send(dict(job, op="submit", id=i))
            time.sleep(gap)
        out = []
        for job in jobs:
            r = c.recv()
            assert r is not None, "jobd closed the connection"
            out.append((job, r))
        return out
    finally:
        c.close()


def code(reply):
    return None if reply.get("ok") else reply["error"]["code"]


def test_stalled_redis_submits_are_in_doubt_or_unavailable(
        jobd, redis_server, workdir):
    runs, types = recorder(workdir)
    d = jobd(workers=1, types=types)
    with d.client() as c:
        assert c.wait(c.submit("rec", {}))["status"] == "finished"
    os.unlink(runs)

    jobs = []
    for i in range(24):
        job = {"type": "rec", "payload": {"n": i, "pad": BIG}}
        if i % 3 != 2:                  # most with the caller's id
            job["job_id"] = "doubt-%d" % i
        jobs.append(job)
    pid = redis_server.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        answers = submit_in_turns(d.sock, jobs)
        took = time.monotonic() - t0
        # Redis down, known to be: a submit now is not even sent.
        with Client(d.sock, timeout=30) as c:
            late = c.call("submit", type="rec", job_id="after-down")
    finally:
        os.kill(pid, signal.SIGCONT)

    codes = [code(r) for _, r in answers]
    assert set(codes) <= {"in_doubt", "unavailable"}, answers
    assert "in_doubt" in codes and "unavailable" in codes, codes
    assert took < 30, "the no-reply timeout answers within about 10 s"
    assert code(late) == "unavailable", late
    assert "job_id" not in late        # not sent: certainly not done
    # The written ones come first: what left jobd before the stall was
    # noticed is a prefix of the sequence.
    first_unavailable = codes.index("unavailable")
    assert "in_doubt" not in codes[first_unavailable:], codes

    doubt, absent = [], ["after-down"]
    for job, r in answers:
        if code(r) == "in_doubt":
            # Every submit in doubt names its job, chosen or generated.
            assert isinstance(r.get("job_id"), str), r
            if "job_id" in job:
                assert r["job_id"] == job["job_id"], r
            assert "may or may not" in r["error"]["message"], r
            doubt.append(r["job_id"])
        else:
            assert "redis" in r["error"]["message"], r
            if "job_id" in job:
                absent.append(job["job_id"])

    with d.client() as c:
        wait_until(lambda: c.call("stats").get("ok"), 30,
                   msg="jobd back on its Redis")
        stored = []
        for jid in doubt:
            r = c.call("get", job_id=jid)
            if r.get("ok"):
                stored.append(jid)
            else:
                assert r["error"]["code"] == "not_found", r
        for jid in stored:
            assert c.wait(jid, 30)["status"] == "finished", jid
        for jid in absent:
            assert c.call("get", job_id=jid)["error"]["code"] == \
                "not_found", jid
        # A look-up after the link came back is final: the old link was
        # fenced, so what was not found stays so.
        time.sleep(2)
        for jid in absent + [j for j in doubt if j not in stored]:
            assert c.call("get", job_id=jid)["error"]["code"] == \
                "not_found", jid
    ran = runs_of(runs)
    assert sorted(ran) == sorted(stored), (ran, stored)
    assert len(set(ran)) == len(ran), "a job ran twice: %r" % ran
    # The new link killed the old one before serving anything.
    stats = redis_server.cli("INFO", "commandstats")
    assert "cmdstat_client|kill:" in stats, stats


def test_submit_many_in_doubt_carries_every_id(jobd, redis_server):
    """submit_many in doubt names every id; jobctl's submit in doubt
    names the job to look up."""
    d = jobd(workers=1)
    pid = redis_server.proc.pid
    ctl = {}

    def jobctl_submit():
        ctl["p"] = d.jobctl("submit", "jobd.noop", "--job-id", "ctl-1")

    with Client(d.sock, timeout=60) as c:
        assert c.call("stats")["ok"]
        # Warm up (connection kept): a uid's first request of an op goes
        # to Redis alone, which could hold the other back, unsent.
        c.ok("submit_many", jobs=[{"type": "jobd.noop"}])
        c.ok("submit", type="jobd.noop")
        os.kill(pid, signal.SIGSTOP)
        try:
            t = threading.Thread(target=jobctl_submit)
            t.start()
            r = c.call("submit_many", jobs=[
                {"type": "jobd.noop", "job_id": "many-1"},
                {"type": "jobd.noop"}])
            t.join(60)
        finally:
            os.kill(pid, signal.SIGCONT)
    assert code(r) == "in_doubt", r
    assert len(r["job_ids"]) == 2 and r["job_ids"][0] == "many-1", r
    p = ctl["p"]
    assert p.returncode == 1, p
    assert "jobctl: in_doubt:" in p.stderr and "look up job ctl-1" in \
        p.stderr, p.stderr
    with d.client() as c:
        wait_until(lambda: c.call("stats").get("ok"), 30,
                   msg="jobd back on its Redis")
        found = [c.call("get", job_id=j).get("ok") for j in r["job_ids"]]
        assert found in ([True, True], [False, False]), found  # all or none


def test_reads_lost_with_the_link_are_unavailable(jobd, redis_server):
    """A read cannot have changed anything: unavailable, even if sent."""
    d = jobd(workers=1)
    pid = redis_server.proc.pid
    warm = d.client()
    jid = warm.submit("jobd.noop", delay=3600)
    # Each op once before, the connection kept open (the costs are the
    # uid's while it has one): a user's first request of an op goes to
    # Redis alone (max_inflight_bytes), which could hold the others back,
    # unsent (then unavailable, truthfully).
    warm.get(jid)
    warm.ok("list")
    warm.ok("stats")
    warm.ok("cancel", job_id=warm.submit("jobd.noop", delay=3600))
    out = {}

    def one(op, **kw):
        with Client(d.sock, timeout=60) as c:
            out[op] = c.call(op, **kw)

    os.kill(pid, signal.SIGSTOP)
    try:
        ts = [threading.Thread(target=one, args=a, kwargs=k) for a, k in (
            (("get",), {"job_id": jid}), (("list",), {}), (("stats",), {}),
            (("cancel",), {"job_id": jid}))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
    finally:
        os.kill(pid, signal.SIGCONT)
    warm.close()
    for op in ("get", "list", "stats"):
        assert code(out[op]) == "unavailable", (op, out[op])
    # cancel changes state: in doubt; its outcome is there to read.
    assert code(out["cancel"]) == "in_doubt", out["cancel"]
    with d.client() as c:
        wait_until(lambda: c.call("stats").get("ok"), 30,
                   msg="jobd back on its Redis")
        assert c.status(jid) in ("scheduled", "canceled")
