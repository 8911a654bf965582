"""Job operations (docs/protocol.md): submit, get, result, wait, cancel,
requeue, list, stats, pause/resume, priorities, retries, delays, unique
keys."""
import datetime
import os
import threading
import time


from jobd_itest import (ISO_RE, JOB_ID_RE, PYTHON3, proto, wait_until,
                      write_script)

RECORD_FIELDS = {"job_id", "type", "queue", "status", "created_at",
                 "enqueued_at", "started_at", "ended_at", "timeout",
                 "attempts", "max_retries", "progress", "worker", "meta",
                 "payload", "result", "error"}


def parse_iso(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def assert_error(r, code):
    assert r.get("ok") is False and r["error"]["code"] == code, r


# Exec handler that fails until the file named by payload "marker" exists,
# or until attempt payload "succeed_on".
FLAKY = """#!%s
import json, os, sys
rec = json.load(sys.stdin)
p = rec.get("payload") or {}
attempt = int(os.environ["JOBD_ATTEMPT"])
if "marker" in p and not os.path.exists(p["marker"]):
    sys.stderr.write("marker missing\\n")
    sys.exit(1)
if attempt < p.get("succeed_on", 0):
    sys.stderr.write("attempt %%d too early\\n" %% attempt)
    sys.exit(1)
print(json.dumps({"attempt": attempt}))
""" % PYTHON3

# Exec handler that appends its job id to a file: the order jobs ran in.
RECORDER = """#!/bin/sh
cat >/dev/null
echo "$JOBD_JOB_ID" >> "%s"
echo '{}'
"""


def test_echo_job_and_record_fields(client):
    jid = client.submit("jobd.echo", {"story": "hi", "n": [1, 2]},
                        meta={"user": "ann"})
    assert JOB_ID_RE.match(jid), jid
    rec = client.wait(jid)
    assert RECORD_FIELDS <= set(rec), "missing: %s" % (RECORD_FIELDS - set(rec))
    assert rec["job_id"] == jid
    assert rec["type"] == "jobd.echo"
    assert rec["queue"] == "default"
    assert rec["status"] == "finished"
    assert rec["result"] == {"story": "hi", "n": [1, 2]}
    assert rec["payload"] == {"story": "hi", "n": [1, 2]}
    assert rec["meta"] == {"user": "ann"}
    assert rec["attempts"] == 1
    assert rec["error"] is None
    assert ":" in rec["worker"]
    for f in ("created_at", "enqueued_at", "started_at", "ended_at"):
        assert ISO_RE.match(rec[f]), "%s = %r" % (f, rec[f])
    assert parse_iso(rec["created_at"]) <= parse_iso(rec["started_at"]) \
        <= parse_iso(rec["ended_at"])
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - parse_iso(rec["created_at"])).total_seconds()) < 120


def test_job_ids_are_unique_and_time_ordered(client):
    ids = [client.submit("jobd.noop") for _ in range(50)]
    assert len(set(ids)) == 50
    assert ids == sorted(ids)


def test_submit_defaults(client):
    jid = client.submit("jobd.noop")
    rec = client.wait(jid)
    assert rec["payload"] == {}
    assert rec["result"] == {}
    assert rec["status"] == "finished"


def test_submit_response_status(client):
    r = client.ok("submit", type="jobd.noop")
    assert r["status"] == "queued"
    r = client.ok("submit", type="jobd.noop", delay=30)
    assert r["status"] == "scheduled"


def test_fail_builtin(client):
    jid = client.submit("jobd.fail")
    rec = client.wait(jid)
    assert rec["status"] == "failed"
    assert rec["error"], rec
    r = client.ok("result", job_id=jid)
    assert r["status"] == "failed"
    assert r["error"]


def test_result_op(client):
    client.ok("pause", queue="low")
    q = client.submit("jobd.noop", queue="low")
    r = client.ok("result", job_id=q)
    assert r["status"] == "queued"
    assert r.get("result") is None
    jid = client.submit("jobd.echo", {"x": 1})
    client.wait(jid)
    r = client.ok("result", job_id=jid)
    assert r["status"] == "finished" and r["result"] == {"x": 1}


def test_not_found(client):
    for op in ("get", "result", "cancel", "requeue"):
        assert_error(client.call(op, job_id="j_01ARZ3NDEKTSV4RRFFQ69G5FAV"), "not_found")
    assert_error(client.call("wait", job_id="nope", timeout=0.1), "not_found")


def test_caller_job_id_and_conflict(client):
    r = client.ok("submit", type="jobd.echo", job_id="order-42:a.b_c", payload=[1])
    assert r["job_id"] == "order-42:a.b_c"
    assert client.wait("order-42:a.b_c")["result"] == [1]
    r = client.call("submit", type="jobd.echo", job_id="order-42:a.b_c")
    assert_error(r, "conflict")
    assert r.get("job_id") == "order-42:a.b_c"


def test_unique_key_conflict_names_the_holder(client):
    client.ok("pause", queue="default")
    a = client.submit("jobd.noop", unique_key="story-7")
    r = client.call("submit", type="jobd.noop", unique_key="story-7", id=3)
    assert_error(r, "conflict")
    assert r["job_id"] == a, r
    assert r["id"] == 3
    other = client.submit("jobd.noop", unique_key="story-8")
    assert other != a
    client.ok("resume", queue="default")
    client.wait(a)
    # Terminal: the key is free again.
    b = client.submit("jobd.noop", unique_key="story-7")
    assert b != a
    client.wait(b)


def test_submit_many(client):
    r = client.ok("submit_many", jobs=[
        {"type": "jobd.echo", "payload": {"i": i}} for i in range(5)])
    ids = r["job_ids"]
    assert len(ids) == 5 and len(set(ids)) == 5
    for i, jid in enumerate(ids):
        assert client.wait(jid)["result"] == {"i": i}


def test_submit_many_is_all_or_nothing(client):
    total = lambda: client.ok("list")["total"]  # noqa: E731
    before = total()
    for bad in ({"type": "no.such.type"}, {"type": 3}, {"payload": {}},
                {"type": "jobd.noop", "timeout": "x"}):
        r = client.call("submit_many", jobs=[
            {"type": "jobd.echo", "job_id": "many-1"},
            bad,
            {"type": "jobd.echo", "job_id": "many-3"}])
        assert r["ok"] is False, r
        assert r["error"]["code"] in ("bad_request", "unknown_type"), r
        assert_error(client.call("get", job_id="many-1"), "not_found")
        assert_error(client.call("get", job_id="many-3"), "not_found")
    # A conflict in the middle: nothing created either.
    client.submit("jobd.noop", job_id="taken")
    r = client.call("submit_many", jobs=[
        {"type": "jobd.echo", "job_id": "many-1"},
        {"type": "jobd.echo", "job_id": "taken"},
        {"type": "jobd.echo", "job_id": "many-3"}])
    assert_error(r, "conflict")
    assert_error(client.call("get", job_id="many-1"), "not_found")
    assert_error(client.call("get", job_id="many-3"), "not_found")
    # Two jobs of one batch with the same unique key.
    r = client.call("submit_many", jobs=[
        {"type": "jobd.noop", "unique_key": "u1", "job_id": "many-1"},
        {"type": "jobd.noop", "unique_key": "u1"}])
    assert_error(r, "conflict")
    assert_error(client.call("get", job_id="many-1"), "not_found")
    assert total() == before + 1


def test_delay_is_scheduled_then_runs(client):
    t0 = time.monotonic()
    jid = client.submit("jobd.echo", {"d": 1}, delay=1.5)
    assert client.status(jid) == "scheduled"
    rec = client.wait(jid, timeout=30)
    assert rec["status"] == "finished"
    assert time.monotonic() - t0 >= 1.4
    assert parse_iso(rec["started_at"]) >= parse_iso(rec["created_at"]) + \
        datetime.timedelta(seconds=1)


def test_run_at(client):
    at = (datetime.datetime.now(datetime.timezone.utc) +
          datetime.timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    jid = client.submit("jobd.noop", run_at=at)
    assert client.status(jid) == "scheduled"
    rec = client.wait(jid, timeout=30)
    assert parse_iso(rec["started_at"]) >= parse_iso(at) - datetime.timedelta(seconds=1)
    past = "2001-01-01T00:00:00Z"
    rec = client.wait(client.submit("jobd.noop", run_at=past))
    assert rec["status"] == "finished"


def test_wait_times_out(client):
    jid = client.submit("jobd.sleep", {"seconds": 30})
    t0 = time.monotonic()
    r = client.ok("wait", job_id=jid, timeout=0.3)
    took = time.monotonic() - t0
    assert r["timed_out"] is True
    assert r["job"]["status"] in ("queued", "started")
    assert 0.25 <= took < 10
    client.ok("cancel", job_id=jid)


def test_wait_on_terminal_job_returns_at_once(client):
    jid = client.submit("jobd.noop")
    client.wait(jid)
    t0 = time.monotonic()
    r = client.ok("wait", job_id=jid, timeout=60)
    assert not r.get("timed_out")
    assert r["job"]["status"] == "finished"
    assert time.monotonic() - t0 < 10


def test_wait_wakes_up_when_the_job_ends(client, daemon):
    # A job that ends 1 s from now; wait with a long timeout returns soon
    # after, and other clients are served while it waits.
    jid = client.submit("jobd.sleep", {"seconds": 1})
    t0 = time.monotonic()
    with daemon.client() as other:
        client.send({"op": "wait", "job_id": jid, "timeout": 120, "id": "w"})
        assert other.call("ping")["ok"] is True
        r = client.recv()
    took = time.monotonic() - t0
    assert r["id"] == "w" and not r.get("timed_out")
    assert r["job"]["status"] == "finished"
    assert took < 30, "wait took %.1fs for a 1 s job" % took


def test_wait_responses_keep_pipeline_order(client):
    slow = client.submit("jobd.sleep", {"seconds": 0.5})
    client.send_raw(proto.encode({"op": "wait", "job_id": slow, "timeout": 60, "id": 1}) +
                    proto.encode({"op": "ping", "id": 2}))
    r1 = client.recv()
    r2 = client.recv()
    assert r1["id"] == 1 and r1["job"]["status"] == "finished"
    assert r2["id"] == 2


def test_many_waiters_all_wake(daemon, client):
    jid = client.submit("jobd.sleep", {"seconds": 1})
    out = []

    def waiter():
        with daemon.client() as c:
            out.append(c.wait(jid, timeout=60)["status"])

    ts = [threading.Thread(target=waiter) for _ in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(90)
    assert out == ["finished"] * 20


def test_cancel_queued_job(client):
    client.ok("pause", queue="default")
    jid = client.submit("jobd.echo", {"x": 1})
    r = client.ok("cancel", job_id=jid)
    assert r["status"] == "canceled"
    client.ok("resume", queue="default")
    rec = client.wait(jid)
    assert rec["status"] == "canceled"
    after = client.submit("jobd.noop")
    client.wait(after)
    assert client.get(jid)["status"] == "canceled"
    assert client.get(jid)["started_at"] is None


def test_cancel_scheduled_job(client):
    jid = client.submit("jobd.noop", delay=1)
    assert client.ok("cancel", job_id=jid)["status"] == "canceled"
    time.sleep(2)
    assert client.status(jid) == "canceled"


def test_cancel_running_job(client, daemon):
    jid = client.submit("jobd.sleep", {"seconds": 60})
    wait_until(lambda: client.status(jid) == "started", 20)
    t0 = time.monotonic()
    client.ok("cancel", job_id=jid)
    rec = client.wait(jid, timeout=30)
    assert rec["status"] == "canceled"
    assert time.monotonic() - t0 < 30
    # Both workers free again.
    ids = [client.submit("jobd.sleep", {"seconds": 0.5}) for _ in range(2)]
    for i in ids:
        assert client.wait(i)["status"] == "finished"


def test_cancel_terminal_job_is_refused(client):
    jid = client.submit("jobd.noop")
    client.wait(jid)
    r = client.call("cancel", job_id=jid)
    assert_error(r, "conflict")
    assert client.status(jid) == "finished"


def test_pause_and_resume(client):
    client.ok("pause", queue="default")
    jid = client.submit("jobd.noop")
    hi = client.submit("jobd.noop", queue="high")
    assert client.wait(hi)["status"] == "finished"
    time.sleep(0.5)
    assert client.status(jid) == "queued"
    st = client.ok("stats")["queues"]["default"]
    assert st["paused"] is True and st["queued"] >= 1
    client.ok("resume", queue="default")
    assert client.wait(jid)["status"] == "finished"
    assert client.ok("stats")["queues"]["default"]["paused"] is False


def test_priority_order_with_one_worker(jobd, workdir):
    log = os.path.join(workdir, "order.log")
    rec = write_script(workdir, "recorder.sh", RECORDER % log)
    d = jobd(workers=1, types={"rec": {"handler": "exec", "command": [rec]}})
    with d.client() as c:
        blocker = c.submit("jobd.sleep", {"seconds": 1.5})
        wait_until(lambda: c.status(blocker) == "started", 20)
        order = [("low", "l1"), ("default", "d1"), ("high", "h1"),
                 ("low", "l2"), ("high", "h2"), ("default", "d2")]
        for q, name in order:
            c.ok("submit", type="rec", queue=q, job_id=name)
        for _, name in order:
            assert c.wait(name)["status"] == "finished"
    with open(log) as f:
        ran = f.read().split()
    assert ran == ["h1", "h2", "d1", "d2", "l1", "l2"]


def test_paused_queue_is_skipped_by_priority(jobd, workdir):
    log = os.path.join(workdir, "order.log")
    rec = write_script(workdir, "recorder.sh", RECORDER % log)
    d = jobd(workers=1, types={"rec": {"handler": "exec", "command": [rec]}})
    with d.client() as c:
        c.ok("pause", queue="high")
        c.ok("submit", type="rec", queue="high", job_id="h1")
        c.ok("submit", type="rec", queue="low", job_id="l1")
        assert c.wait("l1")["status"] == "finished"
        assert c.status("h1") == "queued"
        c.ok("resume", queue="high")
        assert c.wait("h1")["status"] == "finished"
    with open(log) as f:
        assert f.read().split() == ["l1", "h1"]


def test_list_filters_offset_limit_total(client):
    client.ok("pause", queue="low")
    lows = [client.submit("jobd.noop", queue="low") for _ in range(7)]
    echo = [client.submit("jobd.echo", {"i": i}) for i in range(3)]
    failed = client.submit("jobd.fail")
    for j in echo + [failed]:
        client.wait(j)

    r = client.ok("list", status="queued", queue="low")
    assert r["total"] == 7
    assert [j["job_id"] for j in r["jobs"]] == lows   # dispatch order
    for j in r["jobs"]:
        assert "payload" not in j and "result" not in j
        assert j["status"] == "queued" and j["queue"] == "low"

    page = client.ok("list", status="queued", queue="low", offset=2, limit=3)
    assert page["total"] == 7
    assert [j["job_id"] for j in page["jobs"]] == lows[2:5]
    assert client.ok("list", status="queued", queue="low", offset=6, limit=5)["jobs"] \
        == r["jobs"][6:]
    assert client.ok("list", status="queued", queue="low", offset=100)["jobs"] == []

    r = client.ok("list", type="jobd.echo")
    assert r["total"] == 3
    assert {j["job_id"] for j in r["jobs"]} == set(echo)
    r = client.ok("list", status="failed")
    assert [j["job_id"] for j in r["jobs"]] == [failed]
    r = client.ok("list", status="finished", limit=2)
    assert r["total"] == 3 and len(r["jobs"]) == 2
    r = client.ok("list", status="queued", queue="high")
    assert r["total"] == 0 and r["jobs"] == []
    r = client.ok("list")
    assert r["total"] == 11


def test_stats_counts(client, daemon):
    client.ok("pause", queue="low")
    for _ in range(3):
        client.submit("jobd.noop", queue="low")
    for j in [client.submit("jobd.noop") for _ in range(2)] + [client.submit("jobd.fail")]:
        client.wait(j)
    canceled = client.submit("jobd.noop", queue="low")
    client.ok("cancel", job_id=canceled)
    client.submit("jobd.noop", queue="high", delay=60)

    s = client.ok("stats")
    low, dflt, high = s["queues"]["low"], s["queues"]["default"], s["queues"]["high"]
    for q in (low, dflt, high):
        assert set(q) >= {"queued", "scheduled", "started", "finished",
                          "failed", "canceled", "paused"}, q
    assert low["queued"] == 3 and low["paused"] is True and low["canceled"] == 1
    assert dflt["finished"] == 2 and dflt["failed"] == 1 and dflt["paused"] is False
    assert high["scheduled"] == 1
    t = s["totals"]
    assert t["queued"] == 3 and t["finished"] == 2 and t["failed"] == 1
    assert t["scheduled"] == 1 and t["canceled"] == 1
    pids = set(daemon.wait_workers(2))
    workers = wait_until(lambda: (lambda ws: ws if {w["pid"] for w in ws} == pids else None)(
        client.ok("stats")["workers"]), 15, msg="stats to list the workers %s" % pids)
    assert len(workers) == 2
    for w in workers:
        assert set(w) >= {"pid", "host", "state", "job_id", "jobs_done"}, w
    wait_until(lambda: sum(w["jobs_done"] for w in client.ok("stats")["workers"]) >= 3,
               10, msg="jobs_done to count the 3 jobs run")


def test_stats_shows_busy_worker(client):
    jid = client.submit("jobd.sleep", {"seconds": 30})
    wait_until(lambda: client.status(jid) == "started", 20)

    def busy():
        ws = client.ok("stats")["workers"]
        return [w for w in ws if w["job_id"] == jid]
    w = wait_until(busy, 10, msg="a worker showing the job")[0]
    assert w["state"] != "idle"
    assert client.ok("stats")["queues"]["default"]["started"] == 1
    client.ok("cancel", job_id=jid)


def test_requeue_failed_job(jobd, workdir):
    flaky = write_script(workdir, "flaky.py", FLAKY)
    d = jobd(types={"flaky": {"handler": "exec", "command": [flaky]}})
    marker = os.path.join(workdir, "marker")
    with d.client() as c:
        jid = c.submit("flaky", {"marker": marker})
        rec = c.wait(jid)
        assert rec["status"] == "failed"
        assert "marker missing" in str(rec["error"])
        open(marker, "w").close()
        r = c.ok("requeue", job_id=jid)
        assert r["job_ids"] == [jid]
        rec = c.wait(jid)
        assert rec["status"] == "finished", rec
        assert rec["error"] is None
        # A finished job cannot be requeued.
        assert_error(c.call("requeue", job_id=jid), "conflict")


def test_requeue_canceled_job(client):
    client.ok("pause", queue="default")
    jid = client.submit("jobd.noop")
    client.ok("cancel", job_id=jid)
    client.ok("resume", queue="default")
    assert client.ok("requeue", job_id=jid)["job_ids"] == [jid]
    assert client.wait(jid)["status"] == "finished"


def test_requeue_all_failed_of_a_queue(jobd, workdir):
    flaky = write_script(workdir, "flaky.py", FLAKY)
    d = jobd(types={"flaky": {"handler": "exec", "command": [flaky]}})
    marker = os.path.join(workdir, "marker")
    with d.client() as c:
        lows = [c.submit("flaky", {"marker": marker}, queue="low") for _ in range(3)]
        other = c.submit("flaky", {"marker": marker}, queue="high")
        for j in lows + [other]:
            assert c.wait(j)["status"] == "failed"
        open(marker, "w").close()
        r = c.ok("requeue", queue="low", all_failed=True)
        assert sorted(r["job_ids"]) == sorted(lows)
        for j in lows:
            assert c.wait(j)["status"] == "finished"
        assert c.status(other) == "failed"


def test_retries_then_failed_with_3_attempts(jobd, workdir):
    flaky = write_script(workdir, "flaky.py", FLAKY)
    d = jobd(types={"flaky": {"handler": "exec", "command": [flaky],
                              "retries": 2, "backoff": "0.2"}})
    with d.client() as c:
        jid = c.submit("flaky", {"marker": "/nonexistent/marker"})
        rec = c.wait(jid, timeout=60)
        assert rec["status"] == "failed"
        assert rec["attempts"] == 3
        assert rec["max_retries"] == 2
        assert "marker missing" in str(rec["error"])


def test_retry_succeeds_on_third_attempt(jobd, workdir):
    flaky = write_script(workdir, "flaky.py", FLAKY)
    d = jobd(types={"flaky": {"handler": "exec", "command": [flaky],
                              "retries": 5, "backoff": "0.2"}})
    with d.client() as c:
        rec = c.wait(c.submit("flaky", {"succeed_on": 3}), timeout=60)
        assert rec["status"] == "finished"
        assert rec["result"] == {"attempt": 3}
        assert rec["attempts"] == 3


def test_retry_waits_in_scheduled(jobd, workdir):
    flaky = write_script(workdir, "flaky.py", FLAKY)
    d = jobd(types={"flaky": {"handler": "exec", "command": [flaky],
                              "retries": 1, "backoff": "3"}})
    with d.client() as c:
        jid = c.submit("flaky", {"succeed_on": 2})
        rec = wait_until(lambda: (lambda r: r if r["attempts"] == 1 and
                                  r["status"] == "scheduled" else None)(c.get(jid)),
                         20, msg="the job scheduled for a retry")
        assert rec["error"]
        rec = c.wait(jid, timeout=60)
        assert rec["status"] == "finished" and rec["attempts"] == 2


def test_submit_retries_and_timeout_override_type(client):
    jid = client.submit("jobd.fail", retries=1, timeout=7)
    rec = client.wait(jid, timeout=120)
    assert rec["status"] == "failed"
    assert rec["max_retries"] == 1
    assert rec["attempts"] == 2
    assert rec["timeout"] == 7


def test_result_ttl_expires_the_record(client):
    jid = client.submit("jobd.echo", {"short": "lived"}, result_ttl=1)
    assert client.wait(jid)["status"] == "finished"
    wait_until(lambda: client.call("get", job_id=jid)["ok"] is False, 15,
               msg="the record to expire")
    assert_error(client.call("get", job_id=jid), "not_found")


def test_unique_key_of_finished_job_is_free(client):
    a = client.submit("jobd.noop", unique_key="k")
    client.wait(a)
    b = client.submit("jobd.noop", unique_key="k")
    assert a != b
    assert client.wait(b)["status"] == "finished"


def test_queue_field_and_type_default_queue(jobd):
    d = jobd(types={"lowly": {"handler": "builtin", "builtin": "echo",
                              "queue": "low"}})
    with d.client() as c:
        assert c.wait(c.submit("lowly", {"a": 1}))["queue"] == "low"
        assert c.wait(c.submit("lowly", {"a": 1}, queue="high"))["queue"] == "high"


def test_builtins_off(jobd):
    d = jobd(builtins=False, settings={}, types={"mine": {"handler": "builtin",
                                                         "builtin": "noop"}})
    with d.client() as c:
        assert_error(c.call("submit", type="jobd.noop"), "unknown_type")
        assert c.wait(c.submit("mine"))["status"] == "finished"


def dbsize(r):
    return int(r.cli("DBSIZE").strip().lstrip(":").split()[-1])


def test_redis_memory_returns_to_baseline_after_ttls(jobd, redis_server):
    """Finished and failed records expire with their TTL and the registries
    are trimmed, so a steady load leaves no growth behind in Redis."""
    d = jobd(workers=2, settings={"result_ttl": 1, "failure_ttl": 1})
    c = d.client()
    try:
        warm = c.submit("jobd.noop")
        c.wait(warm)
        time.sleep(1.5)
        c.wait(c.submit("jobd.noop"))        # a terminal transition trims
        base = dbsize(redis_server)
        for _ in range(3):
            ids = c.ok("submit_many", jobs=[{"type": t, "payload": {"x": "y" * 200}}
                                            for t in ["jobd.echo", "jobd.fail"] * 250])["job_ids"]
            for j in ids:
                c.wait(j)
        assert dbsize(redis_server) >= base + 500
        time.sleep(1.5)
        c.wait(c.submit("jobd.noop"))        # trims the registries again
        after = dbsize(redis_server)
        assert after <= base + 2, (base, after)
        st = c.ok("stats")["totals"]
        assert st.get("finished", 0) <= 2 and st.get("failed", 0) == 0, st
    finally:
        c.close()


def test_submits_of_one_turn_share_a_call_and_stay_separate(daemon,
                                                           redis_server):
    """Submits that reach the master together go to Redis as one call
    (one FCALL for the lot), yet each answers for itself, all or nothing,
    in order with the requests around it."""
    r = redis_server.client()
    c = daemon.client()
    c.ok("pause", queue="default")
    c.submit("jobd.noop", job_id="held")
    reqs = [
        {"op": "submit", "type": "jobd.noop", "job_id": "t1", "id": 0},
        {"op": "submit", "type": "jobd.noop", "job_id": "held", "id": 1},
        {"op": "submit_many", "id": 2, "jobs": [
            {"type": "jobd.noop", "job_id": "t2"},
            {"type": "jobd.noop", "job_id": "t1"}]},
        {"op": "submit", "type": "jobd.noop", "unique_key": "k", "id": 3},
        {"op": "submit", "type": "jobd.noop", "unique_key": "k", "id": 4},
        {"op": "submit_many", "id": 5, "jobs": [
            {"type": "jobd.noop", "job_id": "t3"},
            {"type": "jobd.noop", "job_id": "t4"}]},
        {"op": "get", "job_id": "t3", "id": 6},
        {"op": "submit", "type": "jobd.noop", "job_id": "t5", "id": 7},
    ]
    before = int(r.info("commandstats")["cmdstat_fcall"]["calls"])
    c.send_raw(b"".join(proto.encode(q) for q in reqs))
    got = [c.recv() for _ in reqs]
    calls = int(r.info("commandstats")["cmdstat_fcall"]["calls"]) - before
    assert [g["id"] for g in got] == list(range(len(reqs)))
    assert got[0]["ok"] and got[0]["job_id"] == "t1"
    assert_error(got[1], "conflict")
    assert got[1]["job_id"] == "held"
    assert_error(got[2], "conflict")
    assert got[2]["job_id"] == "t1"
    assert_error(c.call("get", job_id="t2"), "not_found")
    assert got[3]["ok"]
    assert_error(got[4], "conflict")
    assert got[4]["job_id"] == got[3]["job_id"]
    assert got[5]["job_ids"] == ["t3", "t4"]
    assert got[6]["ok"] and got[6]["job"]["status"] == "queued"
    assert got[7]["ok"] and got[7]["job_id"] == "t5"
    # Six submits before the get, one after: two calls (workers' own
    # calls can add to the count, but not six).
    assert calls < 6, calls
    c.ok("resume", queue="default")
    for jid in ("t1", "t3", "t4", "t5", got[3]["job_id"]):
        assert c.wait(jid)["status"] == "finished"
    c.close()
