"""test_sentinel.py: jobd on Redis Sentinel (`redis = sentinel://...`,
docs/scaling.md) against real redis-sentinel processes
(tests/integration/redis_topology.py): jobs flow, the master is SIGKILLed
under a steady submit load, and the same jobd process carries on with the
promoted replica.  With `durable = yes` no acknowledged job is lost; without
it a failover may lose some (asynchronous replication), so only the error
codes and the recovery are checked.  Waiters and leases survive the
switch.  Attacks: bad URLs, an unknown master name, no sentinel up, a wrong
sentinel password.
"""
import os
import shutil
import subprocess
import tempfile
import threading

import pytest

from jobd_itest import JOBD, proto, render_config, wait_until
from redis_topology import (DOUBT, SentinelTopology, SubmitLoad, check_refused,
                            final_states, free_port, settle)

DATA_PW = "d4ta:pw@x"          # characters the URL must percent-encode
SENTINEL_PW = "s3nt/pw?y"


@pytest.fixture
def sentinels(workdir):
    """sentinels(**kw): a SentinelTopology in workdir, stopped after."""
    made = []

    def make(**kw):
        made.append(SentinelTopology(os.path.join(workdir, "st%d" % len(made)), **kw))
        return made[-1]
    yield make
    for t in made:
        t.stop()


def sentinel_jobd(jobd, topo, url=None, **settings):
    return jobd(settings=dict({"redis": url or topo.url()}, **settings),
                workers=3)


class Waiter(threading.Thread):
    """Waiter: a client `wait` on job_id on its own connection; .reply."""

    def __init__(self, sock, job_id):
        super().__init__(daemon=True)
        self.sock, self.job_id, self.reply = sock, job_id, None
        self.start()

    def run(self):
        with proto.Client(self.sock, timeout=90) as c:
            self.reply = c.call("wait", job_id=self.job_id, timeout=60)


def failover_under_load(d, topo):
    """Kill the master while a load submits and two sleeping jobs run (one
    ends inside the outage, one outlives it and its lease), each waited on
    by a client; wait for the new master and 20 accepted submits after it.
    Returns (load, [short, long] waiter replies)."""
    with d.client() as c:
        jobs = [c.submit("jobd.sleep", {"seconds": s}) for s in (2, 7)]
        waiters = [Waiter(d.sock, j) for j in jobs]
        wait_until(lambda: all(c.status(j) == "started" for j in jobs), 10,
                   msg="the sleeping jobs to start")
    with SubmitLoad(d.sock, interval=0.01) as load:
        load.wait_accepted(20)
        old = topo.kill_master()
        topo.wait_new_master(old)
        load.wait_accepted(20, timeout=30)
    for w in waiters:
        w.join(60)
    print("failover under load:", load.summary())
    return load, [w.reply for w in waiters]


def check_carried_on(d, pid):
    assert d.alive() and d.proc.pid == pid, "jobd restarted or died"
    with d.client() as c:
        wait_until(lambda: c.call("health").get("ok"), 10, msg="health ok")
        assert c.wait(c.submit("jobd.echo", {"after": 1}))["result"] == {"after": 1}


def check_sleepers(replies):
    for r in replies:
        assert r is not None and r.get("ok"), "the wait got no answer: %r" % r
        job = r["job"]
        assert job["status"] == "finished", job
        assert job["attempts"] == 1, "the lease was taken away: %r" % job


def test_failover_durable_loses_nothing_acknowledged(jobd, sentinels):
    # Two replicas: after the switch the promoted one still has a replica
    # to confirm WAIT 1.
    topo = sentinels(password=DATA_PW, sentinel_password=SENTINEL_PW, replicas=2)
    d = sentinel_jobd(jobd, topo, durable=True)
    pid = d.proc.pid
    with d.client() as c:
        assert c.wait(c.submit("jobd.echo", {"x": 1}))["result"] == {"x": 1}
    load, replies = failover_under_load(d, topo)
    check_carried_on(d, pid)
    bad = {code for _, code, _ in load.errors} - DOUBT
    assert not bad, "errors other than unavailable/in_doubt: %s" % load.summary()
    states = final_states(d.sock, load.ids())
    lost = [j for j, st in states.items() if st != "finished"]
    assert not lost, "%d acknowledged jobs not finished (%s): %r" % (
        len(lost), load.summary(), {j: states[j] for j in lost[:10]})
    doubtful = final_states(d.sock, [j for _, code, j in load.errors if j])
    assert set(doubtful.values()) <= {"finished", "not_found"}, doubtful
    check_sleepers(replies)
    log = d.log_text()
    for secret in (DATA_PW, SENTINEL_PW, "d4ta", "s3nt"):
        assert secret not in log, "a password in jobd's log"


def test_failover_without_durable_recovers(jobd, sentinels):
    topo = sentinels()
    d = sentinel_jobd(jobd, topo)
    pid = d.proc.pid
    load, replies = failover_under_load(d, topo)
    check_carried_on(d, pid)
    bad = {code for _, code, _ in load.errors} - DOUBT
    assert not bad, "errors other than unavailable/in_doubt: %s" % load.summary()
    states = final_states(d.sock, load.ids())
    lost = sum(1 for st in states.values() if st == "not_found")
    unfinished = [st for st in states.values() if st not in ("finished", "not_found")]
    assert not unfinished, unfinished
    # Asynchronous replication may lose acknowledged jobs: counted, not
    # asserted (bench/failover.py measures it).
    print("durable = no: %d of %d acknowledged jobs lost" % (lost, len(states)))
    check_sleepers(replies)


# --- attacks ----------------------------------------------------------------

@pytest.mark.parametrize("url, words", [
    ("sentinel://127.0.0.1:26379", ["missing master name"]),
    ("sentinel://127.0.0.1:26379/", ["missing master name"]),
    ("sentinel://127.0.0.1:99999/m", ["bad port"]),
    ("sentinel://127.0.0.1:/m", ["missing port"]),
    ("sentinel://" + ",".join("h%d" % i for i in range(17)) + "/m",
     ["too many hosts"]),
    ("sentinel://h/m?sentinel_password=hunter2&bogus=1", ["unknown parameter"]),
    ("sentinel://h/m?sentinel_password=hunter2&sentinel_password=x",
     ["given twice"]),
    ("sentinel://u:hunter2@h/bad$name", ["master name"]),
])
def test_bad_sentinel_url_is_refused(workdir, url, words):
    check_refused(workdir, url, words, secret="hunter2")


def test_check_hides_the_sentinel_password(workdir):
    conf = os.path.join(workdir, "check.conf")
    url = "sentinel://u:hunter2@127.0.0.1:1,127.0.0.1:2/m?sentinel_password=hunter3"
    with open(conf, "w") as f:
        f.write(render_config({"socket": os.path.join(workdir, "c.sock"),
                               "redis": url}, {}))
    r = subprocess.run([JOBD, "--check", "-c", conf], capture_output=True,
                       text=True, timeout=20, stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "hunter2" not in out and "hunter3" not in out, out
    assert "sentinel://" in out and "/m" in out, out


@pytest.fixture(scope="module")
def shared_sentinels():
    root = tempfile.mkdtemp(prefix="jdst", dir="/tmp")
    topo = SentinelTopology(root, password=DATA_PW, sentinel_password=SENTINEL_PW)
    yield topo
    topo.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_unknown_master_name_is_named(jobd, shared_sentinels):
    d = jobd(settings={"redis": shared_sentinels.url(name="nosuchmaster")},
             workers=1, wait=False)
    settle(d, lambda text: "nosuchmaster" in text
           and "does not know that master name" in text)
    assert DATA_PW not in d.log_text() and SENTINEL_PW not in d.log_text()


def test_wrong_sentinel_password_is_an_auth_error(jobd, shared_sentinels):
    d = jobd(settings={"redis": shared_sentinels.url(sentinel_password="wr0ng-spw")},
             workers=1, wait=False)
    settle(d, lambda text: "auth" in text or "wrongpass" in text)
    assert "wr0ng-spw" not in d.log_text() and DATA_PW not in d.log_text()


def test_no_sentinel_up_is_unavailable_not_a_crash(jobd, workdir):
    url = "sentinel://%s/jobdmaster" % ",".join(
        "127.0.0.1:%d" % free_port() for _ in range(3))
    d = jobd(settings={"redis": url}, workers=1, wait=False)
    settle(d, lambda text: "sentinel" in text)


def test_all_sentinels_lost_after_start_keeps_the_master(jobd, sentinels):
    """The sentinels are for discovery: with them all gone jobd keeps its
    master; with the master gone too it says unavailable; when the
    sentinels come back they promote the replica and jobd follows."""
    topo = sentinels()
    d = sentinel_jobd(jobd, topo)
    pid = d.proc.pid
    m = topo.master()
    topo.stop_sentinels()
    with d.client() as c:
        assert c.wait(c.submit("jobd.noop"))["status"] == "finished"
        m.kill()
        r = wait_until(lambda: (lambda h: h if not h.get("ok") else None)(c.call("health")),
                       15, msg="health to say unavailable")
        assert r["error"]["code"] == "unavailable", r
        assert r["error"]["message"], r
        assert d.alive() and d.proc.pid == pid
        for s in topo.sentinels:
            s.start()
        topo.wait_new_master(m)
        wait_until(lambda: c.call("health").get("ok"), 30, msg="health ok again")
        assert c.wait(c.submit("jobd.noop"))["status"] == "finished"
