"""test_workflows.py: dependencies and batches while masters are
SIGKILLed (docs/reliability.md, "Workflows under faults").

Two daemons share an AOF Redis; chains of jobs, batches with a callback
and failing parents with children are submitted through b while a is
SIGKILLed and restarted (its workers and handlers die with it, its leases
are reaped).  A parent's end and its children's release are one Redis
function call, and so are a batch's last job and its callback's release,
so whichever daemon ends them, and whatever dies meanwhile:
- no job is left deferred, no fan-out left pending;
- a child of a finished parent runs, after the parent's run that
  finished it; a child of a failed parent is canceled;
- each batch ends, and its callback job is released once: it runs, and
  runs again only for a lost lease (runs == 1 + lost).
"""
import os
import random
import signal
import time

import faults_lib as fl

CHAINS = 10
CHAIN_LEN = 4
BATCHES = 4
BATCH_JOBS = 15
FAILING = 5
KILLS = 3
K = "jobd:{main}:"


def log_order(path):
    """log_order: (first 'start' line, last 'end ok' line) per job id, as
    line numbers of the exec log (appended in time order)."""
    first, ok_end = {}, {}
    with open(path, errors="replace") as f:
        for n, line in enumerate(f):
            p = line.split()
            if len(p) >= 2 and p[0] == "start":
                first.setdefault(p[1], n)
            elif len(p) >= 5 and p[0] == "end" and p[4] == "ok":
                ok_end[p[1]] = n
    return first, ok_end


def test_chains_and_batches_survive_master_sigkills(cluster, aof_redis):
    a = cluster.start("a", workers=3)
    b = cluster.start("b", workers=3)
    rc = aof_redis.client()
    rng = random.Random(int(os.environ.get("FAULTS_SEED", "15")))
    chains, batches, failing = [], [], []
    with b.client() as c:
        for i in range(CHAINS):
            ids = ["ch%d-%d" % (i, k) for k in range(CHAIN_LEN)]
            c.ok("submit_many", jobs=[
                dict({"type": "f.short", "job_id": ids[k]},
                     **({"depends_on": [ids[k - 1]]} if k else {}))
                for k in range(CHAIN_LEN)])
            chains.append(ids)
        for i in range(BATCHES):
            r = c.ok("batch_open", description="f%d" % i,
                     callback={"type": "f.quick"})
            c.ok("submit_many", jobs=[
                {"type": "f.short", "batch_id": r["batch_id"]}
                for _ in range(BATCH_JOBS)])
            c.ok("batch_seal", batch_id=r["batch_id"])
            batches.append((r["batch_id"], r["callback_job_id"]))
        for i in range(FAILING):
            p = c.submit("f.fail", retries=0)
            kid = c.ok("submit", type="f.quick", depends_on=[p])["job_id"]
            failing.append((p, kid))

    kills = 0
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.4, 1.2))
        os.kill(a.pid, signal.SIGKILL)
        a.proc.wait()
        kills += 1
        a = cluster.start("a", workers=3)

    def settled():
        if sum(rc.zcard(k) for k in rc.scan_iter(K + "i:deferred:*")):
            return False
        if rc.hlen(K + "dep:pending"):
            return False
        ids = [j for ch in chains for j in ch] + [cb for _, cb in batches]
        recs = fl.read_records(rc, ids)
        return all(r and r["status"] in ("finished", "failed", "canceled")
                   for r in recs.values())
    fl.it.wait_until(settled, 120, interval=0.5,
                     msg="every chain, batch and callback to end")

    first, ok_end = log_order(cluster.exec_log)
    runs = fl.read_exec_log(cluster.exec_log)
    stuck = 0
    for ch in chains:
        recs = fl.read_records(rc, ch)
        for k in range(1, CHAIN_LEN):
            parent, child = recs[ch[k - 1]], recs[ch[k]]
            if parent["status"] == "finished":
                assert child["status"] != "deferred", (ch[k], child)
                if child["status"] == "finished":
                    assert first[ch[k]] > ok_end[ch[k - 1]], (
                        "%s ran before its parent %s finished" %
                        (ch[k], ch[k - 1]))
            else:
                # abandoned after too many lost leases: the child goes too
                assert child["status"] == "canceled", (ch[k], child)
            stuck += child["status"] == "deferred"
    for bid, cb in batches:
        st = rc.hget(K + "batch:" + bid, "status")
        assert st in ("finished", "failed"), (bid, st)
        rec = fl.record(rc, cb)
        assert rec["status"] == "finished", (cb, rec)
        n = len(runs.get(cb, []))
        assert n == 1 + int(rec["lost"]), (
            "callback %s of %s ran %d times with %s lost leases" %
            (cb, bid, n, rec["lost"]))
    for p, kid in failing:
        assert fl.record(rc, p)["status"] == "failed"
        assert fl.record(rc, kid)["status"] == "canceled"
        assert kid not in runs
    print("workflows under faults: %d master SIGKILLs, %d chains of %d, "
          "%d batches of %d, %d failing parents: 0 children stuck (%d), "
          "%d callbacks each released once"
          % (kills, CHAINS, CHAIN_LEN, BATCHES, BATCH_JOBS, FAILING, stuck,
             len(batches)))


def test_batch_last_job_holder_sigkilled(cluster, aof_redis):
    """The daemon running a batch's last job is SIGKILLed: the job is
    reaped and run by the other daemon, whose finish ends the batch and
    releases the callback, once."""
    a = cluster.start("a", workers=1)
    rc = aof_redis.client()
    with a.client() as c:
        r = c.ok("batch_open", callback={"type": "f.quick"})
        bid, cb = r["batch_id"], r["callback_job_id"]
        jid = c.ok("submit", type="f.mid", batch_id=bid)["job_id"]
        c.ok("batch_seal", batch_id=bid)
    e = fl.wait_run(cluster, jid, 1)
    assert e.master == a.pid
    b = cluster.start("b", workers=2)
    os.kill(a.pid, signal.SIGKILL)
    a.proc.wait()
    fl.it.wait_until(lambda: fl.record(rc, cb).get("status") == "finished",
                     60, msg="the callback to run")
    assert fl.record(rc, jid)["status"] == "finished"
    assert int(fl.record(rc, jid)["lost"]) == 1
    assert rc.hget(K + "batch:" + bid, "status") == "finished"
    runs = fl.read_exec_log(cluster.exec_log)
    assert [r.master for r in runs[jid]] == [a.pid, b.pid]
    assert len(runs[cb]) == 1 and runs[cb][0].master == b.pid


def test_redis_sigkilled_during_fan_out(cluster, aof_redis):
    """Redis (AOF, appendfsync always) is SIGKILLed while a parent's 400
    children are being released (100 a call, the reaper the rest): after
    its restart every child runs, none is left deferred."""
    a = cluster.start("a", workers=3)
    rc = aof_redis.client()
    with a.client() as c:
        parent = c.submit("f.short")
        kids = c.ok("submit_many", jobs=[
            {"type": "f.quick", "depends_on": [parent]}
            for _ in range(400)])["job_ids"]
    fl.it.wait_until(lambda: fl.record(rc, parent).get("status") ==
                     "finished", 30, interval=0.01, msg="the parent to end")
    aof_redis.kill()
    time.sleep(0.5)
    aof_redis.start()
    rc = aof_redis.client()

    def settled():
        recs = fl.read_records(rc, kids)
        return all(r and r["status"] == "finished" for r in recs.values())
    fl.it.wait_until(settled, 120, interval=0.5,
                     msg="every child to run after Redis's restart")
    assert sum(rc.zcard(k) for k in rc.scan_iter(K + "i:deferred:*")) == 0
    assert rc.hlen(K + "dep:pending") == 0
    runs = fl.read_exec_log(cluster.exec_log)
    first, ok_end = log_order(cluster.exec_log)
    assert all(first[k] > ok_end[parent] for k in kids)
    assert all(len(runs[k]) >= 1 for k in kids)
