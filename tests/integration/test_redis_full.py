"""test_redis_full.py: a real Redis at maxmemory with noeviction
(docs/reliability.md, "Redis under pressure").  Reads (stats, list, get,
result, wait) still work, cancel and delete too so that an admin can free
memory, submits get `busy` saying Redis is out of memory, the error replies
are not taken for a lost link (no reconnect loop), a running job ends
normally once memory is freed, and a jobd started against a full Redis
says so and comes up when memory is freed.
"""
import time

from jobd_itest import wait_until

BIG = 4 * 1024 * 1024       # the key that fills Redis


def used_memory(r):
    return int(r.info("memory")["used_memory"])


def fill(redis_server):
    """Put Redis over its maxmemory by 2 MB (noeviction): a big key, and a
    maxmemory below what it holds."""
    r = redis_server.client()
    r.config_set("maxmemory-policy", "noeviction")
    r.setrange("filler", BIG - 1, "x")
    r.config_set("maxmemory", str(used_memory(r) - 2 * 1024 * 1024))
    assert is_full(redis_server), "Redis should refuse writes now"


def is_full(redis_server):
    try:
        redis_server.client().set("probe", "1")
    except Exception as e:          # redis.exceptions.OutOfMemoryError
        return "OOM" in str(e)
    return False


def free(redis_server):
    redis_server.client().delete("filler")


def code(reply):
    return None if reply.get("ok") else reply["error"]["code"]


def unreachable_lines(d, since=0):
    return [l for l in d.log_text()[since:].splitlines()
            if "redis unreachable" in l]


def test_full_redis_reads_cancel_delete_work_submits_are_busy(
        jobd, redis_server):
    d = jobd(workers=1)
    with d.client() as c:
        done = c.submit("jobd.echo", {"x": 1})
        gone = c.submit("jobd.noop")
        assert c.wait(done)["status"] == "finished"
        assert c.wait(gone)["status"] == "finished"
        later = [c.submit("jobd.noop", delay=3600) for _ in range(2)]
        mark = len(d.log_text())
        fill(redis_server)

        # Reads: every one, with and without filters.
        stats = c.ok("stats")
        assert stats["totals"]["finished"] == 2, stats
        assert stats["totals"]["scheduled"] == 2, stats
        assert c.ok("list")["total"] == 4
        assert c.ok("list", status="finished")["total"] == 2
        assert len(c.ok("list", type="jobd.echo")["jobs"]) == 1
        assert c.get(done)["result"] == {"x": 1}
        assert c.ok("result", job_id=done)["result"] == {"x": 1}
        assert c.call("get", job_id="nope")["error"]["code"] == "not_found"
        assert c.wait(done, 1)["status"] == "finished"
        w = c.ok("wait", job_id=later[1], timeout=0.2)
        assert w.get("timed_out") is True

        # Writes of new data: busy, saying why.
        for r in (c.call("submit", type="jobd.noop"),
                  c.call("submit_many", jobs=[{"type": "jobd.noop"}]),
                  c.call("requeue", all_failed=True)):
            assert code(r) == "busy", r
            assert "out of memory" in r["error"]["message"], r
            assert "maxmemory" in r["error"]["message"], r

        # What frees memory still works.
        assert c.ok("cancel", job_id=later[0])["status"] == "canceled"
        c.ok("delete", job_id=gone)
        assert c.call("get", job_id=gone)["error"]["code"] == "not_found"
        c.ok("pause", queue="default")
        c.ok("resume", queue="default")

        # Error replies are answers, not a lost link: no reconnect loop.
        time.sleep(3)               # reaper and heartbeat passes, refused
        assert c.ok("stats")
        assert unreachable_lines(d, mark) == [], d.log_tail(40)
        log = d.log_text()[mark:]
        assert log.count("redis is out of memory (maxmemory, noeviction)") \
            == 1, log

        free(redis_server)
        wait_until(lambda: c.call("submit", type="jobd.noop").get("ok"), 10,
                   msg="submits accepted once memory is freed")
        assert c.wait(c.submit("jobd.echo", {"y": 2}))["result"] == {"y": 2}
        wait_until(lambda: "redis accepts writes again" in d.log_text(), 5,
                   msg="jobd to log that Redis takes writes again")
    assert unreachable_lines(d, mark) == []


def test_running_job_ends_normally_once_memory_is_freed(jobd, redis_server):
    """The worker's finish is refused while Redis is full: it retries on
    the same connection, the lease is kept alive meanwhile (heartbeats
    are allowed over maxmemory), and the job ends finished, run once."""
    d = jobd(workers=1)             # lease 3 s
    with d.client() as c:
        jid = c.submit("jobd.sleep", {"seconds": 1})
        wait_until(lambda: c.status(jid) == "started", 10,
                   msg="the job to start")
        mark = len(d.log_text())
        fill(redis_server)
        time.sleep(6)               # two leases: its finish is refused
        rec = c.get(jid)
        assert rec["status"] == "started", rec
        assert "cannot store its outcome" in d.log_text()[mark:]
        free(redis_server)
        rec = c.wait(jid, 20)
        assert rec["status"] == "finished", rec
        assert rec["attempts"] == 1 and rec.get("lost", 0) == 0, rec
    log = d.log_text()[mark:]
    assert "outcome stored after" in log, log
    assert "lease" not in log, log
    assert unreachable_lines(d, mark) == [], log
    assert "reconnecting" not in log, log


def test_start_against_a_full_redis_says_so(jobd, redis_server):
    """No library loaded yet and Redis full: FUNCTION LOAD is refused;
    jobd says why (not "Redis 7 needed"), keeps trying, and comes up once
    memory is freed."""
    fill(redis_server)
    d = jobd(workers=1, wait=False)
    wait_until(lambda: "refuses to load jobd's function library"
               in d.log_text(), 20, msg="jobd to say Redis is full")
    assert d.alive()
    log = d.log_text()
    assert "Redis 7 needed" not in log, log
    assert "free memory" in log and "maxmemory" in log, log
    with d.client() as c:
        r = c.call("stats")
        assert code(r) == "unavailable", r
        assert "out of memory" in r["error"]["message"], r
    free(redis_server)
    d.ready(30)
    with d.client() as c:
        assert c.wait(c.submit("jobd.noop"))["status"] == "finished"


def test_restart_against_a_full_redis_with_the_library(jobd, redis_server):
    """The library is loaded already: a jobd (re)starting against a full
    Redis comes up, serves reads, and refuses submits as busy."""
    d = jobd(workers=1)
    with d.client() as c:
        done = c.submit("jobd.noop")
        assert c.wait(done)["status"] == "finished"
    d.stop()
    fill(redis_server)
    d.start()                       # waits for stats to work
    with d.client() as c:
        assert c.get(done)["status"] == "finished"
        r = c.call("submit", type="jobd.noop")
        assert code(r) == "busy" and "out of memory" in \
            r["error"]["message"], r
    free(redis_server)
