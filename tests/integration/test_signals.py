"""Process supervision (docs/jobd.md, SIGNALS): worker respawn, SIGTERM,
SIGHUP, several daemons on one Redis."""
import collections
import os
import random
import signal
import subprocess
import time

from jobd_itest import pid_alive, wait_until, write_script

COUNTER = """#!/bin/sh
cat >/dev/null
echo "$JOBD_JOB_ID $PPID" >> "%s"
sleep 0.02
echo '{}'
"""


def test_killed_worker_is_respawned(daemon, client):
    old = daemon.wait_workers(2)
    victim = old[0]
    os.kill(victim, signal.SIGKILL)
    new = wait_until(lambda: (lambda w: w if len(w) == 2 and victim not in w else None)(
        daemon.workers()), 20, msg="a replacement worker")
    assert victim not in new
    assert daemon.alive()
    # The pool still works with both workers.
    ids = [client.submit("jobd.sleep", {"seconds": 0.3}) for _ in range(4)]
    for j in ids:
        assert client.wait(j)["status"] == "finished"
    assert "%d" % victim in daemon.log_text(), "the death of worker %d is not logged" % victim


def test_worker_killed_mid_job_fails_or_retries_the_job(daemon, client):
    daemon.wait_workers(2)
    jid = client.submit("jobd.sleep", {"seconds": 60})
    rec = wait_until(lambda: (lambda r: r if r["status"] == "started" else None)(
        client.get(jid)), 20)
    pid = int(rec["worker"].rsplit(":", 1)[1])
    assert pid in daemon.workers()
    os.kill(pid, signal.SIGKILL)
    rec = client.wait(jid, timeout=30)
    assert rec["status"] == "failed"
    assert "signal" in str(rec["error"]).lower() or "died" in str(rec["error"]).lower(), rec
    daemon.wait_workers(2)

    # With a retry left the job runs again elsewhere and finishes.
    jid = client.submit("jobd.sleep", {"seconds": 1.5}, retries=1)
    rec = wait_until(lambda: (lambda r: r if r["status"] == "started" else None)(
        client.get(jid)), 20)
    os.kill(int(rec["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
    rec = client.wait(jid, timeout=60)
    assert rec["status"] == "finished" and rec["attempts"] == 2


def test_sigterm_with_queued_jobs_then_restart_finishes_all(jobd, redis_server):
    d = jobd(workers=1)
    with d.client() as c:
        running = c.submit("jobd.sleep", {"seconds": 1})
        queued = [c.submit("jobd.echo", {"i": i}) for i in range(20)]
        wait_until(lambda: c.status(running) == "started", 20)
    assert d.stop(signal.SIGTERM, timeout=30) == 0
    d.expect_exit = 0
    assert not os.path.exists(d.sock) or not _answers(d.sock)
    # Nothing was lost: everything is still in Redis, not run yet or done.
    d2 = jobd(workers=2, name="again")
    with d2.client() as c:
        assert c.wait(running)["status"] == "finished"
        for i, j in enumerate(queued):
            rec = c.wait(j)
            assert rec["status"] == "finished" and rec["result"] == {"i": i}


def _answers(path):
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_sigterm_lets_a_running_job_finish(jobd):
    d = jobd(workers=1)
    with d.client() as c:
        jid = c.submit("jobd.sleep", {"seconds": 2})
        wait_until(lambda: c.status(jid) == "started", 20)
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.proc.wait(30) == 0
    d.expect_exit = 0
    assert time.monotonic() - t0 < 25
    d2 = jobd(workers=1, name="check")
    with d2.client() as c:
        rec = c.get(jid)
        assert rec["status"] == "finished", rec
        assert rec["attempts"] == 1


def test_sigterm_answers_pending_waits_unavailable(jobd):
    """A wait pending when jobd stops is answered "unavailable" (this
    daemon stopped waiting) with the job's status, not "timed_out" (the
    job did not take too long); a wait for a job that ends in the grace
    period still gets its record."""
    d = jobd(workers=1, settings={"shutdown_grace": 3})
    with d.client() as c, d.client() as w1, d.client() as w2:
        running = c.submit("jobd.sleep", {"seconds": 1})
        queued = c.submit("jobd.noop")
        wait_until(lambda: c.status(running) == "started", 20)
        w1.send({"op": "wait", "job_id": queued, "timeout": 60, "id": 1})
        w2.send({"op": "wait", "job_id": running, "timeout": 60, "id": 2})
        time.sleep(0.3)   # both waits registered
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        r = w1.recv()
        assert time.monotonic() - t0 < 5, "the wait was not answered at once"
        assert r["ok"] is False and r["error"]["code"] == "unavailable", r
        assert "shutting down" in r["error"]["message"], r
        assert r["job_id"] == queued and r["status"] == "queued", r
        assert r["id"] == 1 and "timed_out" not in r
        r = w2.recv()
        assert r["id"] == 2, r
        assert (r["ok"] is True and r["job"]["status"] == "finished") or (
            r["ok"] is False and r["error"]["code"] == "unavailable"
            and r["status"] == "started"), r
    assert d.proc.wait(30) == 0
    d.expect_exit = 0


def test_sigterm_past_grace_puts_job_back(jobd):
    d = jobd(workers=1, settings={"shutdown_grace": 1})
    with d.client() as c:
        jid = c.submit("jobd.sleep", {"seconds": 4})
        wait_until(lambda: c.status(jid) == "started", 20)
    assert d.stop(signal.SIGTERM, timeout=30) == 0
    d.expect_exit = 0
    d2 = jobd(workers=1, name="after")
    with d2.client() as c:
        rec = c.wait(jid, timeout=60)
        assert rec["status"] == "finished", rec


def test_sigterm_during_start_up_still_stops(jobd):
    # SIGTERM while workers are still being forked: every worker must stop
    # and the master exit (a race: several tries).
    rng = random.Random(7)
    for i in range(10):
        d = jobd(workers=4, name="early%d" % i, wait=False)
        d.expect_exit = 0
        wait_until(lambda: os.path.exists(d.sock), 20, interval=0.001,
                   msg="the socket of jobd early%d" % i)
        time.sleep(rng.uniform(0, 0.01))
        d.signal(signal.SIGTERM)
        try:
            rc = d.proc.wait(15)
        except subprocess.TimeoutExpired:
            raise AssertionError("try %d: jobd still running 15 s after SIGTERM "
                                 "during start-up (children %s)" % (i, d.workers()))
        assert rc == 0, "try %d: exit status %s" % (i, rc)


def test_repeated_sigterm_exits_cleanly(jobd):
    """SIGTERM after SIGTERM until jobd is gone (an impatient init script):
    it still exits 0, never killed by a signal that arrives while it tears
    down (slow under ASan, whose leak check runs at exit)."""
    for i in range(3):
        d = jobd(workers=1, name="impatient%d" % i)
        d.expect_exit = 0
        deadline = time.monotonic() + 30
        while d.proc.poll() is None and time.monotonic() < deadline:
            try:
                d.signal(signal.SIGTERM)
            except ProcessLookupError:
                break
            time.sleep(0.002)
        assert d.proc.wait(30) == 0, "try %d: exit status %s" % (
            i, d.proc.returncode)


def test_sigint_stops_cleanly(daemon):
    daemon.signal(signal.SIGINT)
    assert daemon.proc.wait(30) == 0
    daemon.expect_exit = 0


def test_sighup_reloads_changed_config(jobd):
    d = jobd(workers=2)
    old_workers = d.wait_workers(2)
    c = d.client()
    try:
        r = c.call("submit", type="newtype")
        assert r["ok"] is False and r["error"]["code"] == "unknown_type"
        c.ok("pause", queue="low")
        queued = c.submit("jobd.noop", queue="low")

        types = dict(d.types)
        types["newtype"] = {"handler": "builtin", "builtin": "echo"}
        settings = dict(d.settings, workers=3)
        d.write_config(settings, types)
        d.signal(signal.SIGHUP)

        def reloaded():
            return c.call("submit", type="newtype", payload={"v": 2}).get("job_id")
        jid = wait_until(reloaded, 20, interval=0.1, msg="the new type after SIGHUP")
        # Same connection, still served; the job runs with the new config.
        assert c.wait(jid)["result"] == {"v": 2}
        new_workers = d.wait_workers(3, timeout=30)
        assert not set(old_workers) & set(new_workers), "old workers not retired"
        assert c.status(queued) == "queued"
        c.ok("resume", queue="low")
        assert c.wait(queued)["status"] == "finished"
        assert d.alive()
    finally:
        c.close()


def test_sighup_with_bad_config_keeps_the_old_one(jobd):
    d = jobd(workers=1, types={"t1": {"handler": "builtin", "builtin": "echo"}})
    workers = d.wait_workers(1)
    with d.client() as c:
        text = open(d.conf).read() + "\n[jobd]\nworkers = lots\n"
        bad_line = text.count("\n")
        d.write_config(text=text)
        d.signal(signal.SIGHUP)
        where = "%s:%d" % (os.path.basename(d.conf), bad_line)
        wait_until(lambda: where in d.log_text(), 10,
                   msg="the reload error naming %s" % where)
        time.sleep(0.5)
        assert d.alive()
        assert c.wait(c.submit("t1", {"still": "here"}))["result"] == {"still": "here"}
        assert d.workers() == workers


def test_two_daemons_on_one_redis_run_each_job_once(jobd, workdir, redis_server):
    log = os.path.join(workdir, "ran.log")
    script = write_script(workdir, "count.sh", COUNTER % log)
    types = {"count": {"handler": "exec", "command": [script]}}
    a = jobd(workers=2, types=types, name="a")
    b = jobd(workers=2, types=types, name="b", redis=redis_server)
    ids = []
    with a.client() as ca, b.client() as cb:
        for i in range(100):
            ids.append((ca if i % 2 else cb).submit("count", {"i": i}))
        for i, j in enumerate(ids):
            rec = (cb if i % 2 else ca).wait(j, timeout=120)
            assert rec["status"] == "finished", rec
            assert rec["attempts"] == 1
    with open(log) as f:
        lines = [l.split() for l in f.read().splitlines()]
    counts = collections.Counter(jid for jid, _ in lines)
    dup = [j for j, n in counts.items() if n > 1]
    assert not dup, "jobs run more than once: %s" % dup[:5]
    assert set(counts) == set(ids)
    workers_of = {int(ppid) for _, ppid in lines}
    a_w, b_w = set(a.workers()), set(b.workers())
    assert workers_of & a_w and workers_of & b_w, \
        "one daemon did all the work (a %s, b %s, ran on %s)" % (a_w, b_w, workers_of)
    with a.client() as ca:
        s = ca.ok("stats")
        assert len(s["workers"]) == 4, s["workers"]


def test_other_daemon_recovers_job_of_killed_master(jobd, redis_server):
    a = jobd(workers=1, name="a")
    with a.client() as ca:
        jid = ca.submit("jobd.sleep", {"seconds": 2}, retries=1)
        wait_until(lambda: ca.status(jid) == "started", 20)
        worker = ca.get(jid)["worker"]
    a_workers = a.workers()
    assert int(worker.rsplit(":", 1)[1]) in a_workers, (worker, a_workers)
    a.signal(signal.SIGKILL)
    a.proc.wait(10)
    a.expect_exit = -9
    for pid in a_workers:
        wait_until(lambda: not pid_alive(pid), 10, msg="worker %d to die with its master" % pid)
    # The lease (3 s) runs out; the other daemon takes the job over.
    b = jobd(workers=1, name="b", redis=redis_server)
    with b.client() as cb:
        rec = cb.wait(jid, timeout=90)
        assert rec["status"] == "finished", rec
        assert rec["worker"] != worker


KILL_MY_WORKER = """#!/usr/bin/python3
import os, signal, sys
sys.stdin.read()
os.kill(os.getppid(), signal.SIGKILL)   # the worker running this handler
"""


def test_job_that_kills_its_worker_ends_failed_not_looping(jobd, workdir):
    """A poison job that crashes its worker every time: each death counts an
    attempt, so after its retries it lands in the failed registry with the
    deaths in its error history, and the pool is whole again."""
    script = write_script(workdir, "kill_my_worker.py", KILL_MY_WORKER)
    d = jobd(workers=2, types={"poison": {"handler": "exec", "command": script,
                                          "retries": 2, "backoff": "0.1"}})
    c = d.client()
    try:
        jid = c.submit("poison")
        rec = c.wait(jid, timeout=60)
        assert rec["status"] == "failed"
        assert rec["attempts"] == 3
        assert "worker died" in rec["error"]
        assert len(rec["errors"]) == 3
        assert all("worker died" in e["error"] for e in rec["errors"])
        failed = c.ok("list", status="failed")["jobs"]
        assert [j["job_id"] for j in failed] == [jid]
        d.wait_workers(2)
        ok = c.submit("jobd.echo", {"after": "poison"})
        assert c.wait(ok)["status"] == "finished"
    finally:
        c.close()


# --- the scoreboard: which job a worker runs, without a message per job ----

def _secs(iso):
    import datetime
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_timeout_follows_the_job_a_worker_runs_now(jobd):
    """The master reads which job a worker runs from the scoreboard.  A job
    handed over right after another on the same worker keeps its whole
    timeout: the previous job's timer, firing after that job ended, is
    re-armed for the new one instead of stopping it.  And a job still times
    out at its own start + timeout (within the master's check period)."""
    d = jobd(workers=1)
    with d.client() as c:
        a = c.submit("jobd.sleep", {"seconds": 1.5}, timeout=2)
        b = c.submit("jobd.sleep", {"seconds": 1.2}, timeout=2)
        h = c.submit("jobd.sleep", {"seconds": 30}, timeout=1)
        ra, rb, rh = (c.wait(j, timeout=60) for j in (a, b, h))
    assert ra["status"] == "finished", ra
    # b ran from a's end on: a's timer (a's start + 2 s) fired during b.
    assert _secs(rb["started_at"]) - _secs(ra["ended_at"]) < 0.4, (ra, rb)
    assert rb["status"] == "finished" and rb["attempts"] == 1, rb
    assert rh["status"] == "failed" and "timeout" in rh["error"], rh
    ran = _secs(rh["ended_at"]) - _secs(rh["started_at"])
    assert 1.0 <= ran < 3.0, "a 1 s timeout ended the job after %.3f s" % ran


def test_stats_follow_the_job_a_worker_runs_now(jobd):
    """stats (from the heartbeat, which reads the scoreboard) show the job a
    worker runs now and the jobs it has done, across a job handed over with
    the previous outcome and a cancel."""
    d = jobd(workers=1)
    [pid] = d.wait_workers(1)
    with d.client() as c:
        a = c.submit("jobd.sleep", {"seconds": 0.5})
        b = c.submit("jobd.sleep", {"seconds": 60})

        def mine():
            ws = [w for w in c.ok("stats")["workers"] if w["pid"] == pid]
            return ws[0] if ws else None
        w = wait_until(lambda: (lambda w: w if w and w["job_id"] == b else None)(mine()),
                       15, msg="stats to show worker %d running %s" % (pid, b))
        assert w["state"] == "busy" and w["jobs_done"] == 1, w
        assert c.wait(a)["status"] == "finished"
        c.ok("cancel", job_id=b)
        assert c.wait(b)["status"] == "canceled"
        w = wait_until(lambda: (lambda w: w if w and w["state"] == "idle" else None)(mine()),
                       15, msg="stats to show worker %d idle" % pid)
        assert w["job_id"] is None and w["jobs_done"] == 2, w


def test_worker_killed_storing_an_outcome_leaves_no_job_to_the_lease(jobd, redis_server):
    """A worker dies after its outcome call took the next job but before it
    published that job.  Its record still shows the previous job, marked as
    being stored: the master fails that one (already finished: a no-op) and
    finds the next by owner at once, rather than leave it to the lease
    (30 s here).  Redis is paused for writes so that the outcome call is
    held; the worker is stopped before the reply reaches it."""
    d = jobd(workers=1, settings={"lease": 30})
    [pid] = d.wait_workers(1)
    with d.client() as c:
        a = c.submit("jobd.sleep", {"seconds": 1})
        b = c.submit("jobd.sleep", {"seconds": 60})
        wait_until(lambda: c.status(a) == "started", 20, interval=0.01)
        t0 = time.monotonic()
        assert redis_server.cli("CLIENT", "PAUSE", "20000", "WRITE") == "OK"
        stopped = False
        try:
            # a ends 1 s after its start: its outcome call waits in Redis.
            time.sleep(max(0.0, t0 + 2.5 - time.monotonic()))
            os.kill(pid, signal.SIGSTOP)
            stopped = True
            assert redis_server.cli("CLIENT", "UNPAUSE") == "OK"
            wait_until(lambda: c.status(b) == "started", 20,
                       msg="the outcome call of %s to hand over %s" % (a, b))
        finally:
            if stopped:
                os.kill(pid, signal.SIGKILL)
            redis_server.cli("CLIENT", "UNPAUSE")
        rb = c.wait(b, timeout=10)
        assert rb["status"] == "failed" and "worker died" in rb["error"], rb
        assert c.wait(a, timeout=10)["status"] == "finished"
        d.wait_workers(1)
        assert c.wait(c.submit("jobd.noop"))["status"] == "finished"
