"""test_limits_faults.py: a concurrency limit shared by two daemons while
their workers, their masters and Redis are SIGKILLed (docs/reliability.md,
"Limits").  Every job ends, none is left parked or holding a slot, and the
runs that completed never overlapped more than the limit allows, as the
handlers' own stamps show.
"""
import os
import random
import signal
import time

import faults_lib as fl

CONC = 2
JOBS = fl.env_num("FAULTS_LIMIT_JOBS", 40, int)
SECONDS = fl.env_num("FAULTS_LIMIT_SECONDS", 12)
STAMP = os.path.join(fl.HERE, "..", "handlers", "stamp.py")


def start(cluster, name, workdir):
    """start: a daemon of the cluster with [limit:cap] and type capped."""
    s = {"socket": cluster.sock(name), "redis": cluster.redis.url}
    s.update(cluster.settings)
    types = {"capped": {"handler": "exec", "command": ["/usr/bin/python3",
                                                        STAMP],
                        "limit": "cap", "retries": 5}}
    d = fl.it.Jobd(cluster.dir, s, types, name=name, redis=cluster.redis)
    d.write_config(**{"limit:cap": {"concurrency": CONC}})
    with cluster.lock:
        cluster.daemons[name] = d
        cluster.all.append(d)
    d.start(wait=True)
    return d


def spans(workdir):
    """spans: (start, end) of every run that completed (a run killed with
    its handler leaves a start without an end)."""
    out = []
    for f in os.listdir(workdir):
        if f.endswith(".end"):
            jid = f[:-4]
            with open(os.path.join(workdir, jid + ".start")) as fs, \
                    open(os.path.join(workdir, f)) as fe:
                out.append((float(fs.read()), float(fe.read())))
    return out


def most_at_once(sp):
    ev = sorted([(s, 1) for s, _ in sp] + [(e, -1) for _, e in sp],
                key=lambda x: (x[0], x[1]))
    n = best = 0
    for _, k in ev:
        n += k
        best = max(best, n)
    return best


def test_limit_under_kills(cluster, aof_redis, fworkdir):
    rnd = random.Random(fl.env_num("FAULTS_SEED", 15, int))
    stamps = os.path.join(fworkdir, "stamps")
    os.makedirs(stamps)
    ds = {n: start(cluster, n, stamps) for n in ("a", "b")}
    ids = []
    with ds["a"].client() as c:
        for i in range(JOBS):
            ids.append(c.submit("capped", {"dir": stamps, "sleep": 0.3},
                                job_id="lim-%d" % i))
    kills = {"worker": 0, "master": 0, "redis": 0}
    t_end = time.monotonic() + SECONDS
    while time.monotonic() < t_end:
        time.sleep(rnd.uniform(0.5, 1.5))
        what = rnd.choice(["worker", "worker", "master", "redis"])
        name = rnd.choice(["a", "b"])
        d = ds[name]
        if what == "worker":
            workers, _ = fl.descendants(d.pid)
            if workers:
                for p in fl.tree(workers[0]) + [workers[0]]:
                    fl.kill(p)
                kills["worker"] += 1
        elif what == "master":
            for p in fl.tree(d.pid):
                fl.kill(p)
            d.expect_exit = -9
            fl.kill(d.pid)
            d.proc.wait(10)
            kills["master"] += 1
            ds[name] = start(cluster, name, stamps)
        else:
            aof_redis.kill()
            time.sleep(0.3)
            aof_redis.start()
            kills["redis"] += 1
    rc = aof_redis.client()

    def all_ended():
        recs = fl.read_records(rc, ids)
        return all(r and r.get("status") in fl.TERMINAL
                   for r in recs.values())
    fl.it.wait_until(all_ended, 120, interval=0.2,
                     msg="every limited job to end")
    recs = fl.read_records(rc, ids)
    st = [r["status"] for r in recs.values()]
    finished = st.count("finished")
    K = "jobd:{main}:"
    leftovers = {
        "parked": rc.llen(K + "limit:cap:park"),
        "slots": rc.zcard(K + "limit:cap:run"),
    }
    print("faults: limits: %d jobs, %d finished, %d failed; kills %r; "
          "left %r" % (len(ids), finished, st.count("failed"), kills,
                       leftovers))
    assert leftovers == {"parked": 0, "slots": 0}, leftovers
    assert finished + st.count("failed") == len(ids)
    assert finished >= len(ids) // 2, st
    for r in recs.values():
        if r["status"] == "failed":
            assert "abandoned" in (r.get("error") or "") or \
                "lease" in (r.get("error") or ""), r
    sp = spans(stamps)
    assert len(sp) >= finished
    assert most_at_once(sp) <= CONC, sorted(sp)
