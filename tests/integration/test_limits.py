"""test_limits.py: [limit:NAME] concurrency and rate limits (docs/jobd.md,
"Limits"; docs/protocol.md, "limits").  What runs when is read from the
stamps the handlers write themselves (tests/handlers/stamp.py) and from
the started_at the daemons record, never from the test's own timing.
"""
import json
import os
import signal
import time
from datetime import datetime

import pytest

from jobd_itest import child_pids, handler, wait_until

STAMP = {"handler": "exec", "command": handler("stamp.py")}
ECHO = {"handler": "builtin", "builtin": "echo"}


def stamps(d, ids):
    """stamps: {id: (start, end)} of the jobs ids as their handlers wrote
    them."""
    out = {}
    for i in ids:
        with open(os.path.join(d, i + ".start")) as f:
            s = float(f.read())
        with open(os.path.join(d, i + ".end")) as f:
            e = float(f.read())
        out[i] = (s, e)
    return out


def most_at_once(spans):
    """most_at_once: the most spans (start, end) open at one time."""
    ev = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans],
                key=lambda x: (x[0], x[1]))
    n = best = 0
    for _, k in ev:
        n += k
        best = max(best, n)
    return best


def finish_all(c, ids, timeout=60):
    for i in ids:
        r = c.ok("wait", job_id=i, timeout=timeout)
        assert r["job"]["status"] == "finished", r


def ms(iso):
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000


def limited(jobd, limit, workers=4, name=None, types=None, **kw):
    t = {"slow": dict(STAMP, limit="cap"), "quick": ECHO}
    t.update(types or {})
    return jobd(types=t, workers=workers, name=name,
                sections={"limit:cap": limit}, **kw)


def test_concurrency_bounds_jobs_running_at_once(jobd, workdir):
    """concurrency = 2, 6 slow jobs, 4 workers: never more than 2 ran at
    once, 2 did run together, all finished at their first attempt."""
    d = limited(jobd, {"concurrency": 2})
    d.wait_workers(4)
    with d.client() as c:
        ids = [c.submit("slow", {"dir": workdir, "sleep": 0.6})
               for _ in range(6)]
        finish_all(c, ids)
        assert all(c.get(i)["attempts"] == 1 for i in ids)
        assert all(c.get(i)["limit"] == "cap" for i in ids)
        lim = c.ok("limits")["limits"]["cap"]
    spans = list(stamps(workdir, ids).values())
    assert most_at_once(spans) == 2, spans
    assert lim["concurrency"] == 2 and lim["running"] == 0 and \
        lim["parked"] == 0, lim


def test_two_daemons_share_the_limit(jobd, workdir):
    """Two daemons on one Redis, 3 workers each, concurrency = 2: still
    never more than 2 at once, across both, and both ran some."""
    a = limited(jobd, {"concurrency": 2}, workers=3, name="a")
    b = limited(jobd, {"concurrency": 2}, workers=3, name="b")
    a.wait_workers(3)
    b.wait_workers(3)
    ids = []
    with a.client() as ca, b.client() as cb:
        for k in range(5):
            ids.append(ca.submit("slow", {"dir": workdir, "sleep": 0.5}))
            ids.append(cb.submit("slow", {"dir": workdir, "sleep": 0.5}))
        finish_all(ca, ids)
        hosts = {ca.get(i)["worker"].rsplit(":", 1)[0] for i in ids}
        owners = {ca.get(i)["worker"] for i in ids}
    spans = list(stamps(workdir, ids).values())
    assert most_at_once(spans) == 2, spans
    assert len(owners) >= 2, owners
    assert hosts   # (one host: the pids tell the daemons apart)


def test_rate_spaces_the_starts(jobd, workdir):
    """rate = 5/s, burst 1: the daemons started the jobs at least 200 ms
    apart (their own started_at), in order, and the handlers saw them
    start one after the other."""
    d = limited(jobd, {"rate": "5/s"})
    d.wait_workers(4)
    with d.client() as c:
        ids = [c.submit("slow", {"dir": workdir, "sleep": 0})
               for _ in range(6)]
        finish_all(c, ids)
        started = sorted(ms(c.get(i)["started_at"]) for i in ids)
    gaps = [b - a for a, b in zip(started, started[1:])]
    assert min(gaps) >= 199, gaps
    st = sorted(s for s, _ in stamps(workdir, ids).values())
    assert st[-1] - st[0] >= 0.9, st


def test_burst_lets_some_start_at_once(jobd, workdir):
    """rate = 1/m, burst 3: three start at once, the fourth is parked
    (and shown parked by limits, with the time its token is due)."""
    d = limited(jobd, {"rate": "1/m", "burst": 3})
    d.wait_workers(4)
    with d.client() as c:
        ids = [c.submit("slow", {"dir": workdir, "sleep": 0})
               for _ in range(4)]
        finish_all(c, ids[:3])
        wait_until(lambda: c.ok("limits")["limits"]["cap"]["parked"] == 1)
        lim = c.ok("limits")["limits"]["cap"]
        assert lim["rate"] == "1/m" and lim["burst"] == 3, lim
        assert lim["next_at"] is not None, lim
        assert c.get(ids[3])["status"] == "queued"
        assert c.ok("stats")["limited"] == {"cap": 1}
        # a parked job is found by list among the queued
        listed = [j["job_id"] for j in
                  c.ok("list", status="queued")["jobs"]]
        assert ids[3] in listed
        listed = [j["job_id"] for j in
                  c.ok("list", status="queued", queue="default")["jobs"]]
        assert ids[3] in listed


def test_limit_key_gives_each_key_its_budget(jobd, workdir):
    """concurrency = 1 per limit_key: jobs of keys a and b overlap, two
    jobs of one key never do."""
    d = limited(jobd, {"concurrency": 1})
    d.wait_workers(4)
    with d.client() as c:
        a = [c.submit("slow", {"dir": workdir, "sleep": 0.6}, limit_key="a")
             for _ in range(2)]
        b = [c.submit("slow", {"dir": workdir, "sleep": 0.6},
                      limit_key="user:b") for _ in range(2)]
        finish_all(c, a + b)
        assert c.get(b[0])["limit_key"] == "user:b"
    s = stamps(workdir, a + b)
    assert most_at_once([s[i] for i in a]) == 1
    assert most_at_once([s[i] for i in b]) == 1
    assert most_at_once(list(s.values())) == 2


def test_other_types_behind_parked_jobs_run_at_once(jobd, workdir):
    """concurrency = 1, a long job running and two parked: a job of
    another type queued behind them in the same queue runs now."""
    d = limited(jobd, {"concurrency": 1}, workers=2)
    d.wait_workers(2)
    with d.client() as c:
        slow = [c.submit("slow", {"dir": workdir, "sleep": 3})
                for _ in range(3)]
        q = c.submit("quick", {"x": 1})
        r = c.ok("wait", job_id=q, timeout=10)
        assert r["job"]["status"] == "finished"
        lim = c.ok("limits")["limits"]["cap"]
        assert lim["running"] == 1 and lim["parked"] == 2, lim
        assert [c.get(i)["status"] for i in slow].count("queued") == 2
        for i in slow:
            if c.get(i)["status"] == "queued":
                c.ok("cancel", job_id=i)
        wait_until(lambda: c.ok("limits")["limits"]["cap"]["parked"] == 0)


def test_cancel_of_a_parked_job(jobd, workdir):
    """A parked job canceled: canceled, off its park list, never run; the
    next parked one runs when the slot frees."""
    d = limited(jobd, {"concurrency": 1}, workers=2)
    d.wait_workers(2)
    with d.client() as c:
        ids = [c.submit("slow", {"dir": workdir, "sleep": 1})
               for _ in range(3)]
        wait_until(lambda: c.ok("limits")["limits"]["cap"]["parked"] == 2)
        running = [i for i in ids if c.get(i)["status"] == "started"]
        parked = [i for i in ids if i not in running]
        assert c.ok("cancel", job_id=parked[0])["status"] == "canceled"
        assert c.ok("limits")["limits"]["cap"]["parked"] == 1
        finish_all(c, running + parked[1:])
    assert not os.path.exists(os.path.join(workdir, parked[0] + ".start"))


def test_sigkilled_holder_gives_its_slot_back(jobd, workdir):
    """concurrency = 1: the daemon running the limited job is SIGKILLed
    with its workers; the other daemon reaps the lease, the slot comes
    back (the job is abandoned: no retry left) and the parked job runs."""
    a = limited(jobd, {"concurrency": 1}, workers=1, name="a")
    a.wait_workers(1)
    with a.client() as ca:
        first = ca.submit("slow", {"dir": workdir, "sleep": 30})
        wait_until(lambda: os.path.exists(
            os.path.join(workdir, first + ".start")))
    b = limited(jobd, {"concurrency": 1}, workers=2, name="b")
    b.wait_workers(2)
    with b.client() as cb:
        second = cb.submit("slow", {"dir": workdir, "sleep": 0})
        wait_until(lambda: cb.ok("limits")["limits"]["cap"]["parked"] == 1)
        assert cb.get(second)["status"] == "queued"
        pids = [a.pid]
        for w in a.workers():
            pids += [int(w)] + [int(h) for h in child_pids(int(w))]
        a.expect_exit = -9
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        r = cb.ok("wait", job_id=second, timeout=30)
        assert r["job"]["status"] == "finished", r
        j = cb.get(first)
        assert j["status"] == "failed" and "abandoned" in j["error"], j
        lim = cb.ok("limits")["limits"]["cap"]
        assert lim["parked"] == 0, lim


@pytest.mark.parametrize("section,err", [
    ({"rate": "5"}, "expected N/s, N/m or N/h"),
    ({"rate": "5/d"}, "expected N/s, N/m or N/h"),
    ({"rate": "0/s"}, "rate"),
    ({"rate": "5000/s"}, "rate"),
    ({"rate": "-1/s"}, "rate"),
    ({"concurrency": 0}, "concurrency"),
    ({"concurrency": 10 ** 12}, "concurrency"),
    ({"concurrency": "two"}, "concurrency"),
    ({"burst": 3}, "needs concurrency or rate"),
    ({"concurrency": 1, "burst": 3}, "burst: only with rate"),
    ({}, "needs concurrency or rate"),
    ({"rate": "1/s", "size": 3}, "unknown setting"),
])
def test_bad_limit_sections_are_refused(jobd, workdir, section, err):
    """A bad [limit:NAME] value stops the start with a message naming
    the section and what was wrong."""
    d = jobd(types={"slow": dict(STAMP, limit="cap")},
             sections={"limit:cap": section}, wait=False)
    d.proc.wait(20)
    assert d.proc.returncode != 0
    d.expect_exit = d.proc.returncode
    log = d.log_text()
    assert "[limit:cap]" in log and err in log, log


def test_a_type_naming_an_unknown_limit_is_refused(jobd):
    d = jobd(types={"slow": dict(STAMP, limit="nosuch")}, wait=False)
    d.proc.wait(20)
    d.expect_exit = d.proc.returncode
    assert d.proc.returncode != 0
    assert "[type:slow] limit: no [limit:nosuch] section" in d.log_text()


def test_bad_limit_names_are_refused(jobd):
    d = jobd(types={"slow": dict(STAMP, limit="a:b")}, wait=False)
    d.proc.wait(20)
    d.expect_exit = d.proc.returncode
    assert d.proc.returncode != 0
    assert "bad limit name" in d.log_text()


@pytest.mark.parametrize("key", ["", "x" * 129, "a b", "tab\there",
                                 "nl\n", "caf\u00e9", "{ns}"])
def test_bad_limit_keys_are_refused(jobd, workdir, key):
    d = limited(jobd, {"concurrency": 1}, workers=1)
    with d.client() as c:
        r = c.call("submit", type="slow", payload={"dir": workdir},
                   limit_key=key)
    assert r["ok"] is False and r["error"]["code"] == "bad_request", r
    assert "'limit_key' must be 1 to 128 characters" in \
        r["error"]["message"], r


@pytest.mark.parametrize("key", [5, ["a"], {"a": 1}, True])
def test_limit_key_of_a_wrong_type_is_refused(jobd, workdir, key):
    d = limited(jobd, {"concurrency": 1}, workers=1)
    with d.client() as c:
        r = c.call("submit", type="slow", payload={"dir": workdir},
                   limit_key=key)
    assert r["ok"] is False and r["error"]["code"] == "bad_request", r
    assert "limit_key" in r["error"]["message"], r


def test_jobctl_limits(jobd, workdir):
    """jobctl limits prints the settings and the state; jobctl submit
    --limit-key sets the job's key."""
    d = limited(jobd, {"concurrency": 3, "rate": "10/m", "burst": 2},
                workers=1)
    r = d.jobctl("submit", "slow", '{"dir": "%s"}' % workdir,
                 "--limit-key", "u-1", "--wait")
    assert r.returncode == 0, r
    r = d.jobctl("--json", "list")
    assert json.loads(r.stdout)["jobs"][0]["limit_key"] == "u-1", r.stdout
    r = d.jobctl("submit", "slow", "{}", "--limit-key", "bad key")
    assert r.returncode == 1 and "limit_key" in r.stderr, r
    r = d.jobctl("limits")
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["LIMIT", "CONCURRENCY", "RUNNING", "RATE",
                                "BURST", "PARKED", "KEYS", "NEXT"]
    assert lines[1].split()[:7] == ["cap", "3", "0", "10/m", "2", "0", "0"]
