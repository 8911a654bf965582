"""test_cron_faults.py: periodic-job ticks under SIGKILL (issue 15, item
8; docs/reliability.md, "Periodic jobs: each tick once").

Two daemons on one Redis (AOF) run the same `* * * * *` schedule with
misfire = once; their schedules' clock is shifted (JOBD_TEST_CRON_OFFSET_MS,
tests only) so that tick B comes seconds after they start.  A master is
SIGKILLed at moments around B (before, at, just after and well after its
claim), one of the two or both; the survivor, or the restarted daemons'
catch-up, must see tick B submitted exactly once: 0 ticks missed, 0
doubled.  The schedule is given a past run first (cron:NAME last = B - 60
s), as a catch-up is only for a schedule that ran before.
"""
import datetime
import os
import signal
import time

import pytest

import faults_lib as fl

DELTAS = [-0.3, 0.0, 0.004, 0.05]   # seconds from tick B to the SIGKILL


def iso(ms):
    return datetime.datetime.fromtimestamp(
        ms // 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def start(cluster, name, offset_ms):
    """start: cluster.start with the schedules' clock shifted."""
    s = {"socket": cluster.sock(name), "redis": cluster.redis.url}
    s.update(cluster.settings)
    d = fl.it.Jobd(cluster.dir, s, cluster.types, name=name,
                   redis=cluster.redis,
                   env={"JOBD_TEST_CRON_OFFSET_MS": str(offset_ms)})
    d.write_config(**{"cron:tick": {"schedule": "* * * * *",
                                    "type": "jobd.echo",
                                    "misfire": "once"}})
    with cluster.lock:
        cluster.daemons[name] = d
        cluster.all.append(d)
    d.start(wait=False)
    return d


def tick_jobs(rc):
    return sorted(k.split(":job:", 1)[1] for k in rc.keys("*:job:cron:tick:*"))


@pytest.mark.parametrize("both", [False, True], ids=["one", "both"])
@pytest.mark.parametrize("delta", DELTAS)
def test_cron_tick_survives_sigkill(cluster, aof_redis, delta, both):
    rc = aof_redis.client()
    now = int(time.time() * 1000)
    b = (now // 60000 + 1) * 60000
    off = b - 6000 - now                  # the daemons' clock: B - 6 s
    rc.hset("jobd:{main}:cron:tick", mapping={"last": str(b - 60000),
                                              "job": "-"})
    ds = [start(cluster, n, off) for n in ("a", "b")]
    for d in ds:
        d.ready()
    at = (b - off) / 1000.0 + delta       # tick B in real time, + delta
    time.sleep(max(0.0, at - time.time()))
    victims = ds if both else ds[:1]
    for d in victims:
        os.kill(d.pid, signal.SIGKILL)
    for d in victims:
        d.proc.wait()
    want = ["cron:tick:%s" % iso(b)]
    if both:
        # nobody may be left to claim B: the restarted daemons' catch-up
        # does, once (their clock now past B, before B + 60 s)
        for n in ("a", "b"):
            start(cluster, n, off)
    for d in cluster.live():
        d.ready()
    fl.it.wait_until(lambda: tick_jobs(rc) == want, 20,
                     msg="tick %s submitted" % iso(b))
    # every live daemon has answered its claims (retries come within 1 s)
    time.sleep(2.0)
    jobs = tick_jobs(rc)
    assert jobs == want, "ticks missed or doubled: %r" % jobs
    assert rc.hget("jobd:{main}:cron:tick", "last") == str(b)
    # the tick's job runs: finished, or (its worker's master SIGKILLed
    # while it ran, jobd.echo has no retries) failed as abandoned
    with cluster.live()[0].client() as c:
        rec = fl.it.wait_until(lambda: (lambda j: j if j.get("status") in
                                        ("finished", "failed") else None)(
            c.get(want[0])), 20)
    assert rec["attempts"] == 1
    if rec["status"] == "failed":
        assert rec["lost"], rec


@pytest.mark.parametrize("delta", [-0.5, 0.0])
def test_cron_tick_survives_redis_sigkill(cluster, aof_redis, delta):
    """Redis SIGKILLed around tick B and back (AOF) 3 s later, both
    daemons up all along: their claims fail, are sent again each second,
    and B is submitted once (0 missed: a daemon was up; 0 doubled)."""
    now = int(time.time() * 1000)
    b = (now // 60000 + 1) * 60000
    off = b - 6000 - now
    ds = [start(cluster, n, off) for n in ("a", "b")]
    for d in ds:
        d.ready()
    at = (b - off) / 1000.0 + delta
    time.sleep(max(0.0, at - time.time()))
    aof_redis.kill()
    time.sleep(3.0)
    aof_redis.start()
    rc = aof_redis.client()
    want = ["cron:tick:%s" % iso(b)]
    fl.it.wait_until(lambda: tick_jobs(rc) == want, 30,
                     msg="tick %s submitted" % iso(b))
    time.sleep(2.0)
    assert tick_jobs(rc) == want, "ticks missed or doubled"
    assert rc.hget("jobd:{main}:cron:tick", "last") == str(b)
