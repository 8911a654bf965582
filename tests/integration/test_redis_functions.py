"""test_redis_functions.py: the Redis function library (daemon/jobd.lua)
called directly with FCALL on a private redis-server, without jobd.

Checks the state machine of docs/architecture.md ("Redis key schema and
state machine"): submit, dequeue, finish, fail, cancel, requeue, reap, list,
stats, and the indexes and TTLs they keep.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

SRCDIR = os.environ.get("JOBD_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
LUA = os.path.join(SRCDIR, "daemon", "jobd.lua")
with open(LUA) as _f:   # "#!lua name=jobd_v<N>": functions jobd_v<N>_<name>
    LIBRARY = _f.readline().split("name=")[1].strip()

PREFIX = "t:{ns}:"
META = PREFIX + "meta"
RTTL, FTTL = 3600, 7200
QUEUES = ["high", "default", "low"]
OWNER = "host1:100"


class Lib:
    """Lib: thin wrappers over the FCALLs, with the calling convention."""

    def __init__(self, r):
        import redis  # Debian's python3-redis
        self.r = r
        # Records come back as MessagePack: bytes, not text.
        self.raw = redis.Redis(
            unix_socket_path=r.connection_pool.connection_kwargs["path"])
        with open(LUA) as f:
            r.execute_command("FUNCTION", "LOAD", "REPLACE", f.read())

    def call(self, fn, *args, raw=False):
        return (self.raw if raw else self.r).execute_command(
            "FCALL", LIBRARY + "_" + fn, 1, META, PREFIX, RTTL, FTTL, *args)

    @staticmethod
    def group_args(jobs):
        """The arguments of one group: per job id queue unique_key delay_ms
        run_at_ms fresh record, the record packed as the master does."""
        import msgpack  # Debian's python3-msgpack
        args = [len(jobs)]
        for j in jobs:
            rec = {"type": j.get("type", "t"),
                   "queue": j.get("queue", "default"),
                   "payload": json.dumps(j.get("payload", {})),
                   "timeout_ms": str(j.get("timeout_ms", 60000)),
                   "max_retries": str(j.get("retries", 0)),
                   "result_ttl": str(j.get("result_ttl", RTTL)),
                   "failure_ttl": str(j.get("failure_ttl", FTTL))}
            if j.get("meta"):
                rec["meta"] = json.dumps(j["meta"])
            if j.get("unique_key"):
                rec["unique_key"] = j["unique_key"]
            packed = bytes([0x80 | (len(rec) + 3)]) + b"".join(
                msgpack.packb(k) + msgpack.packb(v) for k, v in rec.items())
            args += [j["id"], rec["queue"], j.get("unique_key", ""),
                     j.get("delay_ms", 0), j.get("run_at_ms", 0),
                     "1" if j.get("fresh") else "0", packed]
        return args

    def submit_groups(self, groups):
        """One call with several groups: one result (list or error) each."""
        args = []
        for jobs in groups:
            args += self.group_args(jobs)
        return self.call("submit", *args)

    def submit_many(self, jobs):
        r = self.submit_groups([jobs])[0]
        if isinstance(r, Exception):
            raise r
        assert r[0::2] == [j["id"] for j in jobs]
        return r[1::2]

    def submit(self, id, **kw):
        return self.submit_many([dict(id=id, **kw)])[0]

    def dequeue(self, queues=QUEUES, lease_ms=30000, owner=OWNER,
                served="* "):
        r = self.call("dequeue", owner, lease_ms, served, len(queues),
                      *queues, raw=True)
        return as_job(r)

    def finish(self, id, token, result="{}", next_=False):
        tail = ["1", OWNER, 30000, "* ", len(QUEUES)] + QUEUES \
            if next_ else ["0"]
        out, nxt = self.call("finish", id, token, result, *tail, raw=True)
        return out.decode(), as_job(nxt)

    def fail(self, id, token, error="boom", mode="fail", delay_ms=0):
        out, nxt = self.call("fail", id, token, error, mode, delay_ms, "0")
        return out

    def get(self, id):
        return record(self.call("get", id, raw=True))

    def list(self, status="", queue="", type_="", offset=0, limit=100):
        r = self.call("list", status, queue, type_, offset, limit,
                      len(QUEUES), *QUEUES, raw=True)
        return r[0], [record(x) for x in r[1:]]

    def stats(self):
        rows, workers = self.call("stats", len(QUEUES), *QUEUES)[:2]
        names = ["queued", "scheduled", "started", "finished", "failed",
                 "canceled", "paused"]
        return {row[0]: dict(zip(names, row[1:])) for row in rows}, workers


def record(r):
    """record: a {id, MessagePack map} reply as a dict of its fields with
    "id"; the counters a record leaves out while they are zero read as
    "0"."""
    import msgpack  # Debian's python3-msgpack
    jid, raw = r
    d = {"attempts": "0", "lost": "0", "id": jid.decode()}
    d.update(msgpack.unpackb(raw, raw=False))
    return d


def as_job(r):
    """as_job: a dequeue reply: the job's fields, or the wait in ms."""
    if isinstance(r, list):
        return record(r)
    return r


@pytest.fixture
def lib():
    """lib: a private redis-server on a Unix socket with the library."""
    import redis  # Debian's python3-redis
    server = os.environ.get("REDIS_SERVER") or shutil.which("redis-server") \
        or "/usr/bin/redis-server"
    d = tempfile.mkdtemp(prefix="jdf", dir="/tmp")
    sock = os.path.join(d, "r.sock")
    proc = subprocess.Popen([server, "--port", "0", "--unixsocket", sock,
                             "--save", "", "--appendonly", "no",
                             "--daemonize", "no"],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        r = redis.Redis(unix_socket_path=sock, decode_responses=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                r.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.02)
        yield Lib(r)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(d, ignore_errors=True)


def test_round_trip(lib):
    assert lib.submit("a", payload={"x": 1}) == "queued"
    j = lib.get("a")
    assert j["status"] == "queued" and j["attempts"] == "0"
    job = lib.dequeue()
    assert job["id"] == "a" and job["status"] == "started"
    assert job["attempts"] == "1" and job["owner"] == OWNER
    assert json.loads(job["payload"]) == {"x": 1}
    assert lib.r.zscore(PREFIX + "active", "a") is not None
    assert lib.dequeue() == -1
    out, nxt = lib.finish("a", job["token"], '{"ok": 1}')
    assert out == "finished" and nxt == -1
    j = lib.get("a")
    assert j["status"] == "finished" and json.loads(j["result"]) == {"ok": 1}
    assert int(j["ended_at"]) >= int(j["started_at"])
    assert lib.r.zscore(PREFIX + "active", "a") is None
    # A terminal record expires after its result TTL.
    assert 0 < lib.r.ttl(PREFIX + "job:a") <= RTTL


def test_events_published(lib):
    p = lib.r.pubsub()
    p.subscribe(PREFIX + "events", PREFIX + "ends")
    p.get_message(timeout=1)
    p.get_message(timeout=1)
    lib.submit("e1")
    assert record(lib.call("watch", "e1", raw=True))["status"] == "queued"
    job = lib.dequeue()
    lib.call("cancel", "e1")
    lib.fail("e1", job["token"], "stopped")
    # Nobody watches e0: its end is not published.
    lib.submit("e0")
    lib.call("cancel", "e0")
    lib.submit("e2")
    lib.call("watch", "e2", raw=True)
    lib.call("cancel", "e2")
    msgs = []
    for _ in range(20):
        m = p.get_message(timeout=1)
        if m and m["type"] == "message":
            msgs.append(m["data"])
        if len(msgs) == 3:
            break
    assert msgs == ["cancel e1 " + OWNER, "end e1 canceled", "end e2 canceled"]


def test_watch_marks_only_unended_jobs(lib):
    lib.submit("w")
    job = lib.dequeue()
    lib.finish("w", job["token"])
    assert record(lib.call("watch", "w", raw=True))["status"] == "finished"
    # An ended job is not written (a write would have cleared its TTL).
    assert lib.r.ttl(PREFIX + "job:w") > 0
    assert "watch" not in lib.get("w")
    with pytest.raises(Exception) as e:
        lib.call("watch", "nope")
    assert "NOT_FOUND" in str(e.value)


def test_priority_and_fifo(lib):
    lib.submit("l1", queue="low")
    lib.submit("d1", queue="default")
    lib.submit("h1", queue="high")
    lib.submit("d2", queue="default")
    lib.submit("h2", queue="high")
    order = [lib.dequeue()["id"] for _ in range(5)]
    assert order == ["h1", "h2", "d1", "d2", "l1"]


def test_finish_takes_next(lib):
    lib.submit_many([{"id": "n1"}, {"id": "n2"}])
    job = lib.dequeue()
    out, nxt = lib.finish("n1", job["token"], next_=True)
    assert out == "finished" and nxt["id"] == "n2"
    assert nxt["status"] == "started"


def test_paused_queue_skipped(lib):
    lib.submit("h1", queue="high")
    lib.submit("d1", queue="default")
    lib.call("pause", "high", "1")
    assert lib.dequeue()["id"] == "d1"
    assert lib.dequeue() == -1
    st, _ = lib.stats()
    assert st["high"]["paused"] == 1 and st["high"]["queued"] == 1
    lib.call("pause", "high", "0")
    assert lib.r.zcard(PREFIX + "wake") == 1
    assert lib.dequeue()["id"] == "h1"


def test_delayed_job_promoted(lib):
    assert lib.submit("s1", delay_ms=300) == "scheduled"
    j = lib.get("s1")
    assert j["status"] == "scheduled" and "run_at" in j
    w = lib.dequeue()
    assert isinstance(w, int) and 0 < w <= 300
    time.sleep(0.35)
    job = lib.dequeue()
    assert job["id"] == "s1" and "run_at" not in job
    # run_at in the past queues at once.
    assert lib.submit("s2", run_at_ms=1000) == "queued"


def test_unique_key(lib):
    lib.submit("u1", unique_key="k")
    with pytest.raises(Exception) as e:
        lib.submit("u2", unique_key="k")
    assert str(e.value).startswith("CONFLICT u1 ")
    assert not lib.r.exists(PREFIX + "job:u2")
    job = lib.dequeue()
    lib.finish("u1", job["token"])
    # Released once terminal.
    assert lib.submit("u2", unique_key="k") == "queued"


def test_duplicate_id_conflict(lib):
    lib.submit("x")
    with pytest.raises(Exception) as e:
        lib.submit("x")
    assert str(e.value).startswith("CONFLICT x ")


def test_submit_many_all_or_nothing(lib):
    lib.submit("held", unique_key="k")
    keys_before = set(lib.r.keys("*"))
    meta_before = lib.r.hgetall(META)
    with pytest.raises(Exception) as e:
        lib.submit_many([{"id": "m1"}, {"id": "m2", "queue": "new"},
                         {"id": "m3", "unique_key": "k"}])
    assert str(e.value).startswith("CONFLICT held ")
    assert set(lib.r.keys("*")) == keys_before
    assert lib.r.hgetall(META) == meta_before
    # Duplicates inside one batch conflict too.
    with pytest.raises(Exception):
        lib.submit_many([{"id": "d"}, {"id": "d"}])
    with pytest.raises(Exception):
        lib.submit_many([{"id": "d1", "unique_key": "z"},
                         {"id": "d2", "unique_key": "z"}])
    assert not lib.r.exists(PREFIX + "job:d", PREFIX + "job:d1")
    assert lib.submit_many([{"id": "m1"}, {"id": "m2", "delay_ms": 10000}]) \
        == ["queued", "scheduled"]


def test_stale_token_is_lost(lib):
    lib.submit("a")
    job = lib.dequeue()
    before = lib.get("a")
    assert lib.finish("a", "999999")[0] == "lost"
    assert lib.fail("a", "999999") == "lost"
    assert lib.get("a") == before


def test_retry_then_fail(lib):
    lib.submit("r", retries=1)
    job = lib.dequeue()
    assert lib.fail("r", job["token"], "first", delay_ms=100) == "scheduled"
    j = lib.get("r")
    assert j["status"] == "scheduled" and j["error"] == "first"
    hist = json.loads(j["errors"])
    assert [h["error"] for h in hist] == ["first"] and hist[0]["attempt"] == 1
    time.sleep(0.15)
    job = lib.dequeue()
    assert job["id"] == "r" and job["attempts"] == "2"
    assert lib.fail("r", job["token"], "second") == "failed"
    j = lib.get("r")
    assert j["status"] == "failed" and j["error"] == "second"
    assert [h["error"] for h in json.loads(j["errors"])] == ["first", "second"]
    assert 0 < lib.r.ttl(PREFIX + "job:r") <= FTTL
    assert lib.r.zscore(PREFIX + "i:failed:default", "r") is not None


def test_error_history_bounded(lib):
    lib.submit("h", retries=10)
    for i in range(7):
        job = lib.dequeue()
        assert lib.fail("h", job["token"], "e%d" % i) == "scheduled"
    hist = json.loads(lib.get("h")["errors"])
    assert [h["error"] for h in hist] == ["e2", "e3", "e4", "e5", "e6"]


def test_fail_requeue_mode_front_no_attempt(lib):
    lib.submit_many([{"id": "a"}, {"id": "b"}])
    job = lib.dequeue()
    assert lib.fail("a", job["token"], "shutdown", mode="requeue") == "queued"
    j = lib.get("a")
    assert j["status"] == "queued" and j["attempts"] == "0"
    assert lib.dequeue()["id"] == "a"


def test_cancel(lib):
    lib.submit("q")
    # queue and type come along, for the daemon's metrics
    assert lib.call("cancel", "q") == ["canceled", "queued", "", "default",
                                       "t"]
    assert lib.r.llen(PREFIX + "q:default") == 0
    lib.submit("s", delay_ms=10000)
    assert lib.call("cancel", "s")[:3] == ["canceled", "scheduled", ""]
    assert lib.r.zcard(PREFIX + "scheduled") == 0
    lib.submit("r", retries=3)
    job = lib.dequeue()
    assert lib.call("cancel", "r")[:3] == ["started", "started", OWNER]
    assert lib.get("r")["cancel"] == "1"
    # The heartbeat reports the flag; the fail that follows cancels.
    lost, canc = lib.call("heartbeat", "host1", "[]", 30000, 30000, " t ", 1,
                          "r", job["token"])
    assert lost == [] and canc == ["r"]
    assert lib.fail("r", job["token"], "killed") == "canceled"
    assert lib.get("r")["status"] == "canceled"
    with pytest.raises(Exception) as e:
        lib.call("cancel", "r")
    assert str(e.value).startswith("CONFLICT r ")
    with pytest.raises(Exception) as e:
        lib.call("cancel", "nope")
    assert str(e.value).startswith("NOT_FOUND nope ")
    assert lib.dequeue() == -1


def test_requeue(lib):
    lib.submit_many([{"id": "f1"}, {"id": "f2", "queue": "low"}])
    for _ in range(2):
        job = lib.dequeue()
        lib.fail(job["id"], job["token"], "bad")
    lib.submit("ok")
    job = lib.dequeue()
    lib.finish(job["id"], job["token"])
    with pytest.raises(Exception) as e:
        lib.call("requeue", "job", "ok")
    assert str(e.value).startswith("CONFLICT ok ")
    assert lib.call("requeue", "job", "f1") == ["f1"]
    j = lib.get("f1")
    assert j["status"] == "queued" and j["attempts"] == "0"
    assert "error" not in j and lib.r.ttl(PREFIX + "job:f1") == -1
    assert lib.call("requeue", "failed", "", 100) == ["f2"]
    assert lib.stats()[0]["low"]["queued"] == 1
    assert lib.stats()[0]["default"]["failed"] == 0


def test_reap_requeues_front_and_fences(lib):
    lib.submit_many([{"id": "a", "retries": 1}, {"id": "b"}])
    lib.call("reap", 100, 3, 60000)     # a reaper is running
    job = lib.dequeue(lease_ms=50)
    time.sleep(0.1)
    requeued, failed, labels = lib.call("reap", 100, 3, 60000)
    assert requeued == ["a"] and failed == [] and labels == ["default", "t"]
    j = lib.get("a")
    assert j["status"] == "queued" and j["lost"] == "1" and "token" not in j
    # The old holder is fenced off.
    assert lib.finish("a", job["token"])[0] == "lost"
    lost, _ = lib.call("heartbeat", "", "", 1000, 30000, " t ", 1, "a",
                       job["token"])
    assert lost == ["a"]
    # Front of the queue, before b.
    job2 = lib.dequeue(lease_ms=50)
    assert job2["id"] == "a" and job2["attempts"] == "2"
    # Attempts used up: the next loss fails it as abandoned.
    time.sleep(0.1)
    requeued, failed, labels = lib.call("reap", 100, 3, 60000)
    assert requeued == [] and failed == ["a"] and labels == ["default", "t"]
    j = lib.get("a")
    assert j["status"] == "failed" and j["error"].startswith("abandoned")
    errors = json.loads(j["errors"])
    assert "stopped renewing" in errors[0]["error"]


def test_reap_after_an_outage_extends_leases(lib):
    """No reaper ran for longer than a lease (Redis down, every master
    stopped): holders could not renew either, so expired leases get one
    more lease instead of being taken away."""
    lib.submit("a")
    job = lib.dequeue(lease_ms=50)
    lib.r.hset(PREFIX + "meta", "last_reap", 1)      # long ago
    time.sleep(0.1)
    assert lib.call("reap", 100, 3, 300) == [[], [], []]
    assert lib.get("a")["status"] == "started"
    # The holder renews within the extra lease: nothing is lost.
    lost, _ = lib.call("heartbeat", "", "", 1000, 300, " t ", 1, "a",
                       job["token"])
    assert lost == []
    time.sleep(0.1)
    assert lib.call("reap", 100, 3, 300) == [[], [], []]
    # A holder that never comes back loses it one lease later (reapers
    # running all along now): no retries left, so it fails as abandoned.
    out = [[], [], []]
    for _ in range(10):
        time.sleep(0.1)
        out = lib.call("reap", 100, 3, 300)
        if out != [[], [], []]:
            break
    assert out == [[], ["a"], ["default", "t"]]
    assert lib.get("a")["error"].startswith("abandoned")


def test_heartbeat_renews_and_publishes_workers(lib):
    lib.submit("a")
    job = lib.dequeue(lease_ms=100)
    workers = json.dumps([{"pid": 1, "host": "h", "state": "busy",
                           "job_id": "a", "jobs_done": 3}])
    for _ in range(3):
        time.sleep(0.05)
        lost, _ = lib.call("heartbeat", "h", workers, 5000, 100, " t ", 1, "a",
                           job["token"])
        assert lost == []
    assert lib.call("reap", 100, 3) == [[], [], []]
    assert lib.get("a")["status"] == "started"
    _, w = lib.stats()
    assert [json.loads(x) for x in w] == [json.loads(workers)]
    assert 0 < lib.r.pttl(PREFIX + "host:h") <= 5000
    assert 0 < lib.r.pttl(PREFIX + "served:h") <= 5000
    # No Redis info passed (after the pairs): none kept, stats says ''.
    assert lib.r.exists(PREFIX + "redis:h") == 0
    assert lib.call("stats", 0)[2:4] == [["h", " t ", ""], []]


def test_heartbeat_keeps_redis_info_bounded(lib):
    """The daemon's Redis info (the argument after the pairs) is kept per
    host with the host info's TTL and shown by stats; one over 1 KiB is
    refused, and whatever else is found under the key (too long, not a
    string) reads as '' without breaking stats."""
    info = '{"mode":"direct","node":"/s.sock","failovers":0}'
    lib.call("heartbeat", "h", "[]", 5000, 100, " t ", 0, info)
    assert lib.r.get(PREFIX + "redis:h") == info
    assert 0 < lib.r.pttl(PREFIX + "redis:h") <= 5000
    assert lib.call("stats", 0)[2] == ["h", " t ", info]
    lib.call("heartbeat", "h", "[]", 5000, 100, " t ", 0, "x" * 1025)
    assert lib.r.exists(PREFIX + "redis:h") == 0
    assert lib.call("stats", 0)[2] == ["h", " t ", ""]
    lib.call("heartbeat", "h", "[]", 5000, 100, " t ", 0, "y" * 1024)
    assert lib.call("stats", 0)[2] == ["h", " t ", "y" * 1024]
    lib.r.set(PREFIX + "redis:h", "z" * 100000)
    assert lib.call("stats", 0)[2] == ["h", " t ", ""]
    lib.r.delete(PREFIX + "redis:h")
    lib.r.rpush(PREFIX + "redis:h", "a list")
    assert lib.call("stats", 0)[2] == ["h", " t ", ""]


def test_take_hands_off_types_not_served(lib):
    """A take pops only the types it serves: others move to their holding
    list, record untouched; a take serving them pops those first."""
    lib.submit("a1", type="a")
    lib.submit("b1", type="b")
    lib.submit("a2", type="a")
    job = lib.dequeue(served=" b c ")
    assert job["id"] == "b1"
    assert lib.r.lrange(PREFIX + "q:default:t:a", 0, -1) == ["a1"]
    assert lib.r.lrange(PREFIX + "q:default", 0, -1) == ["a2"]
    assert lib.get("a1")["status"] == "queued"
    assert lib.get("a1")["attempts"] == "0"
    st, _ = lib.stats()
    assert st["default"]["queued"] == 2
    assert lib.call("stats", 0)[3] == ["a", 1]    # no daemon serves a
    total, jobs = lib.list(status="queued")
    assert total == 2 and [j["id"] for j in jobs] == ["a1", "a2"]
    # Nothing it serves left: a2 is handed off too, the wait returned.
    assert lib.dequeue(served=" b ") == -1
    assert lib.r.lrange(PREFIX + "q:default:t:a", 0, -1) == ["a1", "a2"]
    assert lib.r.zscore(PREFIX + "wake:a", "w") is not None
    # Cancel finds a held job.
    assert lib.call("cancel", "a2")[0] == "canceled"
    assert lib.r.lrange(PREFIX + "q:default:t:a", 0, -1) == ["a1"]
    # A taker serving a takes the held job, first attempt.
    job = lib.dequeue(served=" a ")
    assert job["id"] == "a1" and job["attempts"] == "1"
    assert lib.dequeue(served=" a ") == -1
    assert lib.r.smembers(PREFIX + "held:default") == set()
    # '*': every type.
    lib.submit("z1", type="zz")
    assert lib.dequeue(served="* b ")["id"] == "z1"


def test_progress(lib):
    lib.submit("a")
    with pytest.raises(Exception) as e:
        lib.call("progress", "a", "", '{"percent": 1}')
    assert str(e.value).startswith("CONFLICT a ")
    job = lib.dequeue()
    lib.call("progress", "a", job["token"], '{"percent": 40, "message": "m"}')
    assert json.loads(lib.get("a")["progress"])["percent"] == 40
    with pytest.raises(Exception) as e:
        lib.call("progress", "a", "1234567", '{"percent": 50}')
    assert str(e.value).startswith("LOST a ")


def test_list_and_stats_exact(lib):
    jobs = [{"id": "q%d" % i, "queue": QUEUES[i % 3],
             "type": "even" if i % 2 == 0 else "odd"} for i in range(12)]
    lib.submit_many(jobs)
    lib.submit("sch", delay_ms=60000, queue="low")
    started = [lib.dequeue() for _ in range(5)]   # 4 high, then 1 default
    lib.finish(started[0]["id"], started[0]["token"])
    lib.finish(started[1]["id"], started[1]["token"])
    lib.fail(started[2]["id"], started[2]["token"], "x")
    lib.call("cancel", "q2")                       # queued, low
    st, _ = lib.stats()
    assert st["high"] == {"queued": 0, "scheduled": 0, "started": 1,
                          "finished": 2, "failed": 1, "canceled": 0,
                          "paused": 0}
    assert st["default"]["queued"] == 3 and st["default"]["started"] == 1
    assert st["low"] == {"queued": 3, "scheduled": 1, "started": 0,
                         "finished": 0, "failed": 0, "canceled": 1,
                         "paused": 0}
    total, page = lib.list()
    assert total == 13
    assert len(page) == 13
    assert [j["status"] for j in page[:2]] == ["started", "started"]
    assert all("payload" not in j and "result" not in j for j in page)
    total, page = lib.list(status="queued")
    assert total == 6
    # Dispatch order: priority, then age.
    assert [j["id"] for j in page] == ["q4", "q7", "q10", "q5", "q8", "q11"]
    total, page = lib.list(status="queued", offset=2, limit=3)
    assert total == 6 and [j["id"] for j in page] == ["q10", "q5", "q8"]
    total, page = lib.list(status="finished")
    assert total == 2 and page[0]["id"] == started[1]["id"]   # newest first
    total, page = lib.list(queue="low")
    assert total == 5
    total, page = lib.list(type_="even", status="queued")
    assert total == 3 and {j["id"] for j in page} == {"q4", "q8", "q10"}
    total, page = lib.list(type_="odd", limit=2)
    assert total == 6 and len(page) == 2
    # Readers tolerate expired records.
    lib.r.delete(PREFIX + "job:" + started[0]["id"])
    total, page = lib.list(status="finished")
    assert total == 1 and len(page) == 1


def test_list_terminal_across_queues_pages_newest_first(lib):
    """A terminal status listed across queues is the queues' indexes
    merged newest first (then by id, descending), and every page of it,
    deep or not, is the same slice of that order."""
    jobs = [{"id": "j%02d" % i, "queue": QUEUES[i % 3]} for i in range(30)]
    lib.submit_many(jobs)
    for _ in range(30):
        job = lib.dequeue()
        lib.finish(job["id"], job["token"])
    # End times with ties within and across queues, and one far older.
    ends = {"j%02d" % i: 1_700_000_000_000 + (i * 7) % 11 for i in range(30)}
    ends["j29"] = 5
    for jid, at in ends.items():
        q = QUEUES[int(jid[1:]) % 3]
        lib.r.zadd(PREFIX + "i:finished:" + q, {jid: at})
    order = sorted(ends, key=lambda j: (ends[j], j), reverse=True)
    for limit in (1, 4, 30):
        for offset in range(0, 32):
            total, page = lib.list(status="finished", offset=offset,
                                   limit=limit)
            assert total == 30
            assert [j["id"] for j in page] == order[offset:offset + limit]
    # An entry whose record expired is skipped and dropped from its index.
    lib.r.delete(PREFIX + "job:" + order[0])
    total, page = lib.list(status="finished", limit=2)
    assert order[0] not in [j["id"] for j in page] and total == 29
    total, page = lib.list(status="finished", limit=2)
    assert [j["id"] for j in page] == order[1:3] and total == 29
    assert lib.r.zscore(PREFIX + "i:finished:" +
                        QUEUES[int(order[0][1:]) % 3], order[0]) is None


def test_requeue_all_failed_across_queues_bounded(lib):
    lib.submit_many([{"id": "f%d" % i, "queue": QUEUES[i % 3]}
                     for i in range(6)])
    for _ in range(6):
        job = lib.dequeue()
        lib.fail(job["id"], job["token"], "bad")
    first = lib.call("requeue", "failed", "", 4)
    assert len(first) == 4
    rest = lib.call("requeue", "failed", "", 100)
    assert sorted(first + rest) == ["f%d" % i for i in range(6)]
    assert all(lib.get("f%d" % i)["status"] == "queued" for i in range(6))


def test_terminal_index_trimmed(lib):
    lib.submit("old")
    job = lib.dequeue()
    lib.finish("old", job["token"])
    # Age the index entry past the configured result TTL.
    lib.r.zadd(PREFIX + "i:finished:default", {"old": 1})
    lib.submit("new")
    job = lib.dequeue()
    lib.finish("new", job["token"])
    # Not per finish: the reaper (each master, once a second) trims.
    assert lib.r.zcard(PREFIX + "i:finished:default") == 2
    lib.call("reap", 100, 3, 30000)
    assert lib.r.zrange(PREFIX + "i:finished:default", 0, -1) == ["new"]
    assert lib.stats()[0]["default"]["finished"] == 1


def test_reap_drops_the_old_index_across_queues(lib):
    """Earlier builds kept i:<status> across queues; nothing reads or
    trims it now, so the reaper drops it."""
    lib.r.zadd(PREFIX + "i:finished", {"old": 1})
    lib.r.zadd(PREFIX + "i:failed", {"old": 1})
    lib.call("reap", 100, 3, 30000)
    assert not lib.r.exists(PREFIX + "i:finished", PREFIX + "i:failed")


def test_stats_counts_what_a_trim_keeps(lib):
    """stats writes nothing (it must work over maxmemory): an entry past
    its TTL is not counted, and left for the reaper to trim."""
    lib.submit("old")
    job = lib.dequeue()
    lib.finish("old", job["token"])
    lib.r.zadd(PREFIX + "i:finished:default", {"old": 1})
    assert lib.stats()[0]["default"]["finished"] == 0
    assert lib.r.zcard(PREFIX + "i:finished:default") == 1


def test_function_flags(lib):
    """What Redis lets run over maxmemory (docs/reliability.md, "Redis
    under pressure"): reads are no-writes, what frees memory or adds a few
    bytes is allow-oom, the rest is refused then."""
    want = {"get": ["no-writes"], "list": ["allow-oom"],
            "stats": ["no-writes"], "cancel": ["allow-oom"],
            "delete": ["allow-oom"], "watch": ["allow-oom"],
            "pause": ["allow-oom"], "heartbeat": ["allow-oom"],
            "schema": ["allow-oom"], "submit": [], "dequeue": [],
            "finish": [], "fail": [], "requeue": [], "progress": [],
            "reap": [], "release": []}
    libs = lib.r.execute_command("FUNCTION", "LIST")
    got = {}
    for entry in libs:
        e = dict(zip(entry[::2], entry[1::2]))
        for f in e["functions"]:
            fd = dict(zip(f[::2], f[1::2]))
            name = fd["name"].split("_", 2)[2]
            got[name] = sorted(fd["flags"])
    for name, flags in want.items():
        assert got.get(name) == flags, (name, got.get(name))


def test_record_is_one_compact_key(lib):
    """A queued job is one STRING key (MessagePack) and one LIST entry."""
    lib.submit("a", payload={"x": "y" * 200})
    assert lib.r.type(PREFIX + "job:a") == "string"
    assert lib.r.type(PREFIX + "q:default") == "list"
    assert lib.r.memory_usage(PREFIX + "job:a") < 200 + 300


def test_unreadable_record_is_skipped_not_fatal(lib):
    lib.submit("a")
    lib.submit("b")
    lib.r.set(PREFIX + "job:a", "\xc1 not msgpack")
    job = lib.dequeue()
    assert job["id"] == "b"
    with pytest.raises(Exception) as e:
        lib.get("a")
    assert "NOT_FOUND" in str(e.value)


def test_wake_marker(lib):
    lib.submit_many([{"id": "a"}, {"id": "b"}])
    assert lib.r.bzpopmin(PREFIX + "wake", 1) is not None
    lib.dequeue()
    # b remains: the marker is re-armed for the next idle worker.
    assert lib.r.zcard(PREFIX + "wake") == 1
    lib.r.delete(PREFIX + "wake")
    lib.dequeue()
    assert lib.r.zcard(PREFIX + "wake") == 0


def test_busy_taker_passes_no_wake(lib):
    """Only an idle worker's dequeue passes the wake-up on; a worker that
    finishes and takes its next job consumed none."""
    lib.submit_many([{"id": "a"}, {"id": "b"}, {"id": "c"}])
    job = lib.dequeue()
    lib.r.delete(PREFIX + "wake")
    out, nxt = lib.finish("a", job["token"], next_=True)
    assert out == "finished" and nxt["id"] == "b"
    assert lib.r.zcard(PREFIX + "wake") == 0


def test_schedule_earlier_than_memo(lib):
    """A take remembers when the next scheduled job is due; a job
    scheduled later with an earlier due time still runs on time."""
    assert lib.submit("late", delay_ms=60000) == "scheduled"
    w = lib.dequeue()
    assert isinstance(w, int) and 59000 < w <= 60000
    assert lib.submit("soon", delay_ms=200) == "scheduled"
    time.sleep(0.25)
    assert lib.dequeue()["id"] == "soon"


def test_memo_sees_outside_change(lib):
    """A queue paused behind the functions' back (not by jobd_pause) is
    skipped within a second."""
    lib.submit_many([{"id": "h1", "queue": "high"},
                     {"id": "h2", "queue": "high"}])
    assert lib.dequeue()["id"] == "h1"
    lib.r.sadd(PREFIX + "paused", "high")
    time.sleep(1.1)
    assert lib.dequeue() == -1


def test_queue_found_empty_gets_every_new_job(lib):
    """A take skips a queue it found empty; a job reaching that queue by
    any road (submit, a due scheduled job, a retry, a shutdown's put-back,
    a requeue) is still
    taken before the lower queues' jobs."""
    assert lib.dequeue() == -1          # every queue found empty
    lib.submit_many([{"id": "d%d" % i} for i in range(4)])
    lib.submit("h1", queue="high")
    assert lib.dequeue()["id"] == "h1"
    lib.submit("h2", queue="high", delay_ms=100)
    time.sleep(0.15)
    assert lib.dequeue()["id"] == "h2"  # promoted when due
    job = lib.dequeue()
    assert job["id"] == "d0"
    lib.submit("h3", queue="high", retries=1)
    assert lib.dequeue()["id"] == "h3"
    assert lib.fail("h3", lib.get("h3")["token"]) == "scheduled"
    assert lib.dequeue()["id"] == "h3"  # its retry, due at once
    assert lib.fail("h3", lib.get("h3")["token"], mode="requeue") == \
        "queued"
    assert lib.dequeue()["id"] == "h3"  # put back in front (shutdown)
    assert lib.fail("h3", lib.get("h3")["token"], mode="final") == "failed"
    assert lib.call("requeue", "job", "h3") == ["h3"]
    assert lib.dequeue()["id"] == "h3"  # requeued by hand
    assert [lib.dequeue()["id"] for _ in range(3)] == ["d1", "d2", "d3"]


def test_empty_memo_sees_outside_push(lib):
    """An id pushed onto a queue behind the functions' back (not by
    jobd.lua) is taken within a second."""
    lib.submit("h1", queue="high")
    lib.r.lpop(PREFIX + "q:high")
    assert lib.dequeue() == -1
    lib.r.rpush(PREFIX + "q:high", "h1")
    time.sleep(1.1)
    assert lib.dequeue()["id"] == "h1"


def test_fresh_ids_in_one_push(lib):
    """Daemon-made ids skip the lookup; a batch keeps its order per queue
    and a caller-chosen id that exists is still refused."""
    jobs = [{"id": "f%03d" % i, "fresh": True,
             "queue": ("high", "low")[i % 2]} for i in range(300)]
    assert lib.submit_many(jobs) == ["queued"] * 300
    assert lib.r.lrange(PREFIX + "q:high", 0, -1) == \
        ["f%03d" % i for i in range(0, 300, 2)]
    assert lib.r.scard(PREFIX + "queues") == 2
    with pytest.raises(Exception) as e:
        lib.submit("f000")
    assert str(e.value).startswith("CONFLICT f000 ")


def test_groups_each_all_or_nothing(lib):
    """Several clients' submits in one call: a group that conflicts
    writes nothing, the others are stored, and later groups see earlier
    ones (a unique key taken by group 1 is held for group 3)."""
    r = lib.submit_groups([
        [{"id": "g1", "unique_key": "u"}],
        [{"id": "g2"}, {"id": "g1"}],
        [{"id": "g3", "unique_key": "u"}],
        [{"id": "g4"}, {"id": "g5", "queue": "low"}],
    ])
    assert r[0] == ["g1", "queued"]
    assert isinstance(r[1], Exception) and \
        str(r[1]).startswith("CONFLICT g1 job id already used")
    assert isinstance(r[2], Exception) and \
        str(r[2]).startswith("CONFLICT g1 unique key held")
    assert r[3] == ["g4", "queued", "g5", "queued"]
    assert not lib.r.exists(PREFIX + "job:g2")
    assert not lib.r.exists(PREFIX + "job:g3")
    assert lib.r.lrange(PREFIX + "q:default", 0, -1) == ["g1", "g4"]


def test_submit_malformed_writes_nothing(lib):
    args = lib.group_args([{"id": "m1"}]) + [2, "m2"]
    with pytest.raises(Exception) as e:
        lib.call("submit", *args)
    assert str(e.value).startswith("BAD_REQUEST - submit: bad argument")
    assert not lib.r.exists(PREFIX + "job:m1")


def test_get_not_found(lib):
    with pytest.raises(Exception) as e:
        lib.get("missing")
    assert str(e.value).startswith("NOT_FOUND missing ")


def test_release_ends_the_jobs_of_a_dead_owner(lib):
    """A worker that died before telling its master which job it took:
    its jobs are found by owner and failed (or retried) at once."""
    lib.submit_many([{"id": "a", "retries": 1, "type": "ta"},
                     {"id": "b", "type": "tb"}, {"id": "c"}])
    lib.dequeue(owner="h:1")
    lib.dequeue(owner="h:1")
    other = lib.dequeue(owner="h:2")
    ids, labels = lib.call("release", "h:1", "worker died: killed by signal 9")
    assert sorted(ids) == ["a", "b"]
    # queue and type of each, for the daemon's count of lost attempts
    pairs = [tuple(labels[k:k + 2]) for k in range(0, len(labels), 2)]
    assert sorted(pairs) == [("default", "ta"), ("default", "tb")], labels
    a, b = lib.get("a"), lib.get("b")
    assert a["status"] == "scheduled" and "signal 9" in a["error"]
    assert b["status"] == "failed" and "worker died" in b["error"]
    # Another owner's job is untouched and still its holder's.
    assert lib.get(other["id"])["status"] == "started"
    assert lib.call("release", "h:1", "again") == [[], []]


def _cmd_calls(lib, name):
    """_cmd_calls: how many times Redis ran command name (Lua's calls
    included), from INFO commandstats."""
    s = lib.r.info("commandstats").get("cmdstat_" + name)
    return s["calls"] if s else 0


def test_large_records_are_read_without_their_payload(lib):
    """list, a type scan, stats' running jobs and result do not copy a
    large payload: the record is walked by GETRANGE (never one GET of it)
    and what they return is what a decoded record gives."""
    big = {"blob": "x" * 300000}
    meta = {"m": "y" * 5000}        # a kept field larger than a window
    lib.submit("L1", type="big", payload=big, meta=meta, retries=2)
    lib.submit("L2", type="big", payload=big)
    lib.submit("s1", type="small", payload={"a": 1})
    job = lib.dequeue()             # L1 started
    assert job["id"] == "L1"
    lib.r.config_resetstat()
    total, jobs = lib.list(status="")
    assert total == 3
    by = {j["id"]: j for j in jobs}
    assert set(by) == {"L1", "L2", "s1"}
    full = lib.get("L1")
    for k in ("payload", "result", "starts", "token", "watch"):
        full.pop(k, None)
    assert by["L1"] == full
    assert json.loads(by["L1"]["meta"]) == meta
    assert "payload" not in by["L2"] and by["L2"]["status"] == "queued"
    total, jobs = lib.list(type_="big")
    assert total == 2 and sorted(j["id"] for j in jobs) == ["L1", "L2"]
    assert all("payload" not in j for j in jobs)
    stats, _ = lib.stats()
    assert stats["default"]["started"] == 1
    assert stats["default"]["queued"] == 2
    # GET read the small record (list, type scan) and L1 (lib.get), never
    # L2 nor L1 for list and stats: GETRANGE read those
    assert _cmd_calls(lib, "get") == 3
    assert _cmd_calls(lib, "getrange") > 0
    # get returns the record as stored; result leaves the payload out
    raw = lib.raw.get(PREFIX + "job:L2")
    assert lib.call("get", "L2", raw=True)[1] == raw
    res = record(lib.call("get", "L2", "result", raw=True))
    assert "payload" not in res and res["status"] == "queued"
    assert res["type"] == "big"
    # watch marks a large unended record once, then returns it as stored
    w = record(lib.call("watch", "L2", raw=True))
    assert w["watch"] == "1" and json.loads(w["payload"]) == big
    raw = lib.raw.get(PREFIX + "job:L2")
    assert lib.call("watch", "L2", raw=True)[1] == raw


def test_unreadable_record_is_not_found(lib):
    """A key that is not a record is treated as gone by get, result, watch
    and list, as before (logged by Redis), not an error."""
    lib.submit("u1")
    lib.r.set(PREFIX + "job:u1", "not msgpack")
    for args in (("get", "u1"), ("get", "u1", "result"), ("watch", "u1")):
        with pytest.raises(Exception, match="NOT_FOUND"):
            lib.call(*args)
    total, jobs = lib.list(status="queued")
    assert jobs == []
    # large (walked, not decoded): a value longer than the record
    lib.r.set(PREFIX + "job:u1",
              b"\x81\xa4type\xdb\x00\x10\x00\x00" + b"a" * 5000)
    with pytest.raises(Exception, match="NOT_FOUND"):
        lib.call("get", "u1", "result")
    assert lib.list(status="queued")[1] == []
