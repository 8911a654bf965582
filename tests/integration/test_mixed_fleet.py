"""test_mixed_fleet.py: daemons with different job types on one Redis
(docs/reliability.md, "Mixed fleets").  A daemon never takes a job it
cannot run: a take pops a job of a type its worker does not serve and
moves it, no attempt counted, to that type's holding list, which the
daemons serving the type take from first.  stats shows the types each
daemon serves and the held jobs whose type no live daemon serves.
"""
import threading
import time

from jobd_itest import wait_until

ECHO = {"handler": "builtin", "builtin": "echo"}
LIBRARY = None


def library(r):
    """library: this build's function library name (jobd_v<N>)."""
    for lib in r.execute_command("FUNCTION", "LIST"):
        d = dict(zip(lib[0::2], lib[1::2]))
        if d["library_name"].startswith("jobd_v"):
            return d["library_name"]
    raise AssertionError("no jobd library loaded")


def owner_pid(job):
    return int(job["worker"].rsplit(":", 1)[1])


def submit_many(d, jobs, out, errors):
    """submit_many: submit (type, n) jobs to daemon d, ids into out."""
    try:
        with d.client() as c:
            for jtype, n in jobs:
                for i in range(n):
                    out.append((jtype, c.submit(jtype, {"i": i})))
    except Exception as e:   # noqa: BLE001 (reported by the test)
        errors.append(repr(e))


def a_raw_client(redis_server):
    """a_raw_client: a Redis client returning bytes (records are
    MessagePack)."""
    import redis
    return redis.Redis(unix_socket_path=redis_server.sock)


def stats(d):
    with d.client() as c:
        return c.ok("stats")


def test_disjoint_types_under_load(jobd, redis_server):
    """Two daemons, disjoint types and a shared one, submitters at both at
    once: every job finishes at its first attempt, on a daemon serving its
    type; nothing fails."""
    a = jobd(types={"alpha": ECHO, "both": ECHO}, workers=2, name="a")
    b = jobd(types={"beta": ECHO, "both": ECHO}, workers=2, name="b")
    pids = {"a": set(a.wait_workers(2)), "b": set(b.wait_workers(2))}
    serves = {"alpha": {"a"}, "beta": {"b"}, "both": {"a", "b"}}
    ids, errors = [], []
    threads = [
        threading.Thread(target=submit_many,
                         args=(a, [("alpha", 300), ("both", 100)], ids,
                               errors)),
        threading.Thread(target=submit_many,
                         args=(b, [("beta", 300), ("both", 100)], ids,
                               errors)),
        threading.Thread(target=submit_many,
                         args=(a, [("alpha", 200)], ids, errors)),
        threading.Thread(target=submit_many,
                         args=(b, [("beta", 200)], ids, errors)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert len(ids) == 1200
    ran = {"a": 0, "b": 0}
    with a.client() as c:
        for jtype, jid in ids:
            job = c.wait(jid, timeout=60)
            assert job["status"] == "finished", job
            assert job["attempts"] == 1, job
            where = [n for n, p in pids.items() if owner_pid(job) in p]
            assert where and where[0] in serves[jtype], (jtype, job)
            ran[where[0]] += 1
    # Each daemon ran its own type's 500 (and some of the shared).
    assert ran["a"] >= 500 and ran["b"] >= 500, ran
    for d in (a, b):
        assert "no handler" not in d.log_text()
    s = stats(a)
    assert s["totals"]["failed"] == 0 and s["totals"]["queued"] == 0, s
    assert s["unserved"] == {}, s
    daemons = {x["daemon"].rsplit(":", 1)[1]: x for x in s["daemons"]}
    assert sorted(daemons[str(a.pid)]["types"]) == \
        sorted(["alpha", "both", "jobd.echo", "jobd.fail", "jobd.noop",
                "jobd.sleep"]), s
    assert "beta" in daemons[str(b.pid)]["types"]
    assert daemons[str(a.pid)]["any_type"] is False


def park_beta_jobs(jobd, n, queue="default"):
    """park_beta_jobs: n "beta" jobs in Redis while no daemon serves beta:
    submitted to a daemon b with the queue paused, b stopped.  Returns
    (ids, b); the queue stays paused."""
    b = jobd(types={"beta": ECHO}, workers=1, name="b")
    ids = []
    with b.client() as c:
        c.ok("pause", queue=queue)
        for i in range(0, n, 500):
            r = c.ok("submit_many", jobs=[{"type": "beta", "payload": {"i": j}}
                                          for j in range(i, min(n, i + 500))])
            ids += r["job_ids"]
    assert b.stop() == 0
    return ids, b


def test_unserved_type_waits_visible_and_runs_later(jobd, redis_server):
    a = jobd(types={"alpha": ECHO}, workers=2, name="a")
    ids, b = park_beta_jobs(jobd, 20)
    with a.client() as c:
        c.ok("resume", queue="default")
        done = c.submit("alpha", {"x": 1})
        assert c.wait(done)["status"] == "finished"
        # b's served types expire with its heartbeat (one lease, 3 s).
        wait_until(lambda: stats(a)["unserved"] == {"beta": 20}, 15,
                   msg="beta shown unserved")
        s = stats(a)
        assert s["queues"]["default"]["queued"] == 20, s
        assert s["totals"]["failed"] == 0
        for jid in ids:
            job = c.get(jid)
            assert job["status"] == "queued" and job.get("attempts", 0) == 0, job
        # Held jobs are listed, canceled and deleted like any queued job.
        r = c.ok("list", status="queued", queue="default", limit=100)
        assert r["total"] == 20
        assert sorted(j["job_id"] for j in r["jobs"]) == sorted(ids)
        assert c.ok("list", status="queued", type="beta")["total"] == 20
        assert c.ok("cancel", job_id=ids[0])
        assert c.status(ids[0]) == "canceled"
        c.ok("delete", job_id=ids[0])
        assert c.call("get", job_id=ids[0])["error"]["code"] == "not_found"
        assert stats(a)["unserved"] == {"beta": 19}
        # jobctl shows it too: the stats and the job's status.
        out = a.jobctl("stats").stdout
        assert "unserved: beta: 19 queued, no live daemon serves" in out, out
        assert "daemon %s" % "" in out and "serves: alpha jobd." in out, out
        out = a.jobctl("status", ids[1]).stdout
        assert "waiting:" in out and "no live daemon serves its type" in out
        assert "waiting:" not in a.jobctl("status", done).stdout
    # A daemon serving beta starts: the held jobs run there, first try.
    b.start()
    with a.client() as c:
        for jid in ids[1:]:
            job = c.wait(jid, timeout=30)
            assert job["status"] == "finished" and job["attempts"] == 1, job
            assert owner_pid(job) in b.workers()
        assert stats(a)["unserved"] == {}
    assert "no handler" not in a.log_text()


def test_held_jobs_bound_each_take(jobd, redis_server):
    """Attack: thousands of jobs of an unserved type ahead of a served one.
    One take moves at most 100 of them (bounded work per call), the served
    job still runs within seconds, and idle workers do not spin."""
    n = 3000
    ids, b = park_beta_jobs(jobd, n)
    r = redis_server.client()
    lib = library(r)
    K = "jobd:{main}:"
    # One take by hand, by a caller serving only alpha: 100 moved, no
    # job taken, the caller told to come back at once.
    r.execute_command("FCALL", lib + "_pause", 1, K + "meta", K, 0, 0,
                      "default", "0")
    t0 = time.monotonic()
    out = r.execute_command("FCALL", lib + "_dequeue", 1, K + "meta", K,
                            0, 0, "test:1", 30000, " alpha ", 1, "default")
    assert time.monotonic() - t0 < 1.0
    assert out == 0, out
    assert r.llen(K + "q:default:t:beta") == 100
    assert r.llen(K + "q:default") == n - 100
    assert r.smembers(K + "held:default") == {"beta"}
    with a_raw_client(redis_server) as rb:
        job = rb.get((K + "job:" + r.lindex(K + "q:default:t:beta", 0))
                     .encode())
    assert b"attempts" not in job and b"queued" in job

    assert r.zscore(K + "wake:beta", "w") is not None
    a = jobd(types={"alpha": ECHO}, workers=2, name="a")
    with a.client() as c:
        t0 = time.monotonic()
        jid = c.submit("alpha", {"x": 1})
        assert c.wait(jid, timeout=30)["status"] == "finished"
        assert time.monotonic() - t0 < 10
    wait_until(lambda: r.llen(K + "q:default") == 0, 15)
    assert r.llen(K + "q:default:t:beta") == n
    # Idle with 3000 held jobs: the workers poll, they do not spin.
    before = int(r.info("stats")["total_commands_processed"])
    time.sleep(2)
    rate = (int(r.info("stats")["total_commands_processed"]) - before) / 2
    assert rate < 200, rate
    wait_until(lambda: stats(a)["unserved"] == {"beta": n}, 15,
               msg="beta shown unserved")


def test_reload_adding_type_takes_held_jobs(jobd, redis_server):
    """A reload that adds a type: the jobs held for it run on the new
    workers, and old workers hand new-type jobs over instead of failing
    them ("no handler")."""
    a = jobd(types={"alpha": ECHO}, workers=2, name="a")
    ids, _ = park_beta_jobs(jobd, 10)
    with a.client() as c:
        c.ok("resume", queue="default")
        wait_until(lambda: stats(a)["queues"]["default"]["queued"] == 10 and
                   redis_server.client().llen("jobd:{main}:q:default") == 0,
                   15)
        a.write_config(types={"alpha": ECHO, "beta": ECHO})
        c.ok("reload")
        more = [c.submit("beta", {"n": i}) for i in range(50)]
        for jid in ids + more:
            job = c.wait(jid, timeout=30)
            assert job["status"] == "finished" and job["attempts"] == 1, job
        assert stats(a)["unserved"] == {}
    assert "no handler" not in a.log_text()


def redis_of(s, d):
    """redis_of: daemon d's entry in stats s ("daemons"), by pid."""
    for x in s["daemons"]:
        if x["daemon"].rsplit(":", 1)[1] == str(d.pid):
            return x
    return None


def test_stats_shows_each_daemons_redis(jobd, redis_server):
    """Every daemon's heartbeat carries how it reaches Redis (mode, node,
    failovers): stats, asked of either daemon, shows it for both, and so
    does jobctl stats."""
    a = jobd(types={"alpha": ECHO}, workers=1, name="a")
    b = jobd(types={"beta": ECHO}, workers=1, name="b")
    want = {"redis_mode": "direct", "redis_node": redis_server.sock,
            "redis_failovers": 0}

    def both_known(d):
        s = stats(d)
        return all(redis_of(s, x) and
                   {k: redis_of(s, x).get(k) for k in want} == want
                   for x in (a, b))
    for d in (a, b):
        wait_until(lambda: both_known(d), 15,
                   msg="both daemons' redis in %s's stats" % d.name)
    s = stats(a)
    assert s["this_daemon"]["daemon"] == redis_of(s, a)["daemon"], s
    assert "beta" in redis_of(s, b)["types"], s
    out = a.jobctl("stats").stdout
    # b's line (not the one answering) comes from its heartbeat.
    line = "  redis: direct %s, 0 failover(s)" % redis_server.sock
    assert out.count(line) == 2, out
    b_at = out.index("daemon %s serves:" % redis_of(s, b)["daemon"])
    assert out[b_at:].split("\n")[1] == line, out


def test_stats_hostile_redis_info(jobd, redis_server):
    """Attack: whatever is written straight into a daemon's redis: key
    (garbage, not JSON, too long, another type, controls) shows as no
    Redis info for that daemon; stats and jobctl stats still work and show
    the real daemon's."""
    a = jobd(types={"alpha": ECHO}, workers=1, name="a")
    r = redis_server.client()
    K = "jobd:{main}:"
    bad = {
        "garbage:1": b"\x00\x01garbage\xff",
        "notjson:2": "not json {",
        "huge:3": '{"mode":"direct","node":"' + "x" * 200000 + '"}',
        "array:4": "[1,2,3]",
        "types:5": '{"mode":["direct"],"node":7,"failovers":"9"}',
        "list:6": None,
    }
    until = int(time.time() * 1000) + 120000
    for h, v in bad.items():
        r.set(K + "served:" + h, " alpha ")
        r.zadd(K + "hosts", {h: until})
        if v is None:
            r.rpush(K + "redis:" + h, "a", "list")
        else:
            r.set(K + "redis:" + h, v)
    # Controls become '?' (the terminal is not driven by a stored value).
    r.set(K + "served:ctl:7", " alpha ")
    r.zadd(K + "hosts", {"ctl:7": until})
    r.set(K + "redis:ctl:7",
          '{"mode":"direct\\u001b[2J","node":"n\\u202e","failovers":1}')
    wait_until(lambda: redis_of(stats(a), a) is not None and
               "redis_mode" in redis_of(stats(a), a), 15,
               msg="a's heartbeat in stats")
    s = stats(a)
    by = {x["daemon"]: x for x in s["daemons"]}
    for h in bad:
        assert h in by, s
        assert not any(k.startswith("redis_") for k in by[h]), by[h]
    assert by["ctl:7"]["redis_mode"] == "direct?[2J", by["ctl:7"]
    assert by["ctl:7"]["redis_node"] == "n?", by["ctl:7"]
    assert redis_of(s, a)["redis_node"] == redis_server.sock
    p = a.jobctl("stats")
    assert p.returncode == 0, p.stderr
    assert "daemon huge:3 serves: alpha" in p.stdout, p.stdout
    assert "\x1b" not in p.stdout and "x" * 100 not in p.stdout
    assert p.stdout.count("  redis: ") == 2, p.stdout   # a's and ctl:7's
