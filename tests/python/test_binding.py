"""The binding against a real jobd: every method, the error codes, a dead
daemon, and threads."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest

import jobclient
from jobclient import Client, JobdError, JobdUnavailable, TERMINAL_STATUSES

JOB_ID = re.compile(r"^j_[0-9A-HJKMNP-TV-Z]{26}$")


def test_ping_and_call(client):
    assert client.ping() is True
    hello = client.call({"op": "hello"})
    assert hello["ok"] is True and hello["server"] == "jobd"
    assert hello["protocol"] == 1
    # The library is the release the binding is: tests/build/check-version.sh
    # holds __version__ to configure.ac's.
    assert client.library_version() == jobclient.__version__


def test_submit_get_result_wait(client):
    job_id = client.submit("jobd.echo", {"x": [1, "é"]}, meta={"by": "test"})
    assert JOB_ID.match(job_id)
    rec = client.wait(job_id, timeout=10)
    assert rec["status"] == "finished" and rec["result"] == {"x": [1, "é"]}
    got = client.get(job_id)
    assert got["job_id"] == job_id and got["type"] == "jobd.echo"
    assert got["meta"] == {"by": "test"} and got["payload"] == {"x": [1, "é"]}
    for k in ("created_at", "enqueued_at", "started_at", "ended_at"):
        assert got[k].endswith("Z")
    res = client.result(job_id)
    assert res["status"] == "finished" and res["result"] == {"x": [1, "é"]}


def test_submit_options(client):
    job_id = client.submit("slow", {"seconds": 0.1}, queue="high",
                           timeout=7, retries=3, job_id="my-own.id:1",
                           result_ttl=60)
    assert job_id == "my-own.id:1"
    rec = client.get(job_id)
    assert rec["queue"] == "high" and rec["timeout"] == 7
    assert rec["max_retries"] == 3
    delayed = client.submit("jobd.noop", delay=30)
    assert client.get(delayed)["status"] == "scheduled"
    assert client.cancel(delayed) == "canceled"


def test_submit_passes_callback_url(client):
    # this daemon has no [webhooks]: the refusal shows the field arrived
    with pytest.raises(JobdError) as e:
        client.submit("jobd.noop", callback_url="https://hooks.example.com/x")
    assert e.value.code == "bad_request"
    assert "callback_url" in str(e.value)


def test_exec_handler_result_and_progress(client):
    job_id = client.submit("pyprogress", {"n": 1})
    seen = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rec = client.get(job_id)
        if rec.get("progress"):
            seen.add(rec["progress"].get("message"))
        if rec["status"] in TERMINAL_STATUSES:
            break
        time.sleep(0.05)
    assert rec["status"] == "finished", rec
    assert rec["result"]["env_job_id"] == job_id
    assert rec["result"]["attempt"] == "1"
    assert len(seen & {"step 1", "step 2", "step 3", "step 4"}) >= 2


def test_exec_handler_crash(client):
    job_id = client.submit("pycrash", {"why": "testing"})
    rec = client.wait(job_id, timeout=20)
    assert rec["status"] == "failed"
    assert "handler crashed on purpose" in str(rec["error"])
    res = client.result(job_id)
    assert res["status"] == "failed" and "crashed" in str(res["error"])


def test_wait_times_out(client):
    job_id = client.submit("slow", {"seconds": 5})
    t = time.monotonic()
    rec = client.wait(job_id, timeout=0.3)
    assert time.monotonic() - t < 3
    assert rec["status"] not in TERMINAL_STATUSES
    client.cancel(job_id)


def test_submit_many_list_stats(client):
    ids = client.submit_many([{"type": "jobd.noop"},
                              {"type": "jobd.echo", "payload": {"a": 1},
                               "queue": "low"}])
    assert len(ids) == 2 and all(JOB_ID.match(i) for i in ids)
    for i in ids:
        client.wait(i, timeout=10)
    listed = client.list(status="finished", limit=10)
    assert listed["total"] >= 2
    assert {j["job_id"] for j in listed["jobs"]} >= set(ids)
    assert "payload" not in listed["jobs"][0]
    assert client.list(type="jobd.echo")["total"] >= 1
    st = client.stats()
    assert {"queues", "workers", "totals"} <= set(st)
    assert len(st["workers"]) == 2
    # all or nothing
    with pytest.raises(JobdError) as e:
        client.submit_many([{"type": "jobd.noop"}, {"type": "nope"}])
    assert e.value.code == "unknown_type"


def test_submit_many_sends_the_callers_text(client):
    """jc_submit_many passes the caller's JSON text on unparsed; what is not
    one array of jobs is still refused as an invalid argument, and nothing
    outside the array can reach the request."""
    def raw(text):
        return client._json(client._lib.jc_submit_many, text.encode())

    # Brackets, braces and escaped quotes inside strings; whitespace around.
    tricky = {"s": "]}\\\"[{", "t": "\u00e9\u2603"}
    ids = raw(' \n[ {"type": "jobd.echo",\n  "payload": %s} ,'
              '{"type":"jobd.noop"} ]\n ' % json.dumps(tricky))
    assert len(ids) == 2
    assert client.wait(ids[0], timeout=10)["status"] == "finished"
    assert client.result(ids[0])["result"] == tricky
    before = client.list(status="queued", limit=1)["total"]
    for text, why in [
            ('[{"type":"jobd.noop"},]',                     # not JSON
             "jobs: unexpected token near ']' (line 1, column 23)"),
            ('[{"type":"jobd.noop"}', "end of file"),        # unclosed
            ('[{"type":"jobd.noop"}],"op":"cancel_all"', "end of file"),
            ('[{"a":1]}', "expected"),                       # mismatched
            ('{"type":"jobd.noop"}', "not an array"),
            ('[{"type":"jobd.noop","payload":"]"]', "expected")]:
        with pytest.raises(JobdError) as e:
            raw(text)
        assert e.value.code == "invalid", text
        assert why in str(e.value), (text, str(e.value))
    # The connection is still good, and nothing was submitted.
    assert client.list(status="queued", limit=1)["total"] == before
    assert len(raw('[{"type":"jobd.noop"}]')) == 1


def test_cron_list(client):
    """cron_list: the daemon's [cron:NAME] schedules (none here; the
    op's content is tested in tests/integration/test_cron.py)."""
    assert client.cron_list() == []
    r = client.call({"op": "cron_list"})
    assert r["ok"] is True and r["schedules"] == []


def test_pause_resume_cancel_requeue(client):
    client.pause("low")
    assert client.stats()["queues"]["low"]["paused"] is True
    job_id = client.submit("jobd.noop", queue="low")
    time.sleep(0.5)
    assert client.get(job_id)["status"] == "queued"
    assert client.cancel(job_id) == "canceled"
    assert client.requeue(job_id) == [job_id]
    assert client.get(job_id)["status"] == "queued"
    client.resume("low")
    assert client.wait(job_id, timeout=10)["status"] == "finished"
    failed = [client.submit("jobd.fail") for _ in range(2)]
    for f in failed:
        assert client.wait(f, timeout=10)["status"] == "failed"
    assert set(client.requeue(all_failed=True)) >= set(failed)
    with pytest.raises(ValueError):
        client.requeue()


def test_cancel_running_job(client):
    job_id = client.submit("slow", {"seconds": 30})
    deadline = time.monotonic() + 10
    while client.get(job_id)["status"] != "started":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client.cancel(job_id) == "canceled"
    assert client.wait(job_id, timeout=10)["status"] == "canceled"


def test_progress_from_a_handler(client):
    job_id = client.submit("slow", {"seconds": 3})
    deadline = time.monotonic() + 10
    while client.get(job_id)["status"] != "started":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    client.progress(job_id, 42, "halfway-ish")
    assert client.get(job_id)["progress"] == {"percent": 42,
                                              "message": "halfway-ish"}
    client.cancel(job_id)


@pytest.mark.parametrize("call,code", [
    (lambda c: c.submit("no_such_type"), "unknown_type"),
    (lambda c: c.get("j_01ZZZZZZZZZZZZZZZZZZZZZZZZ"), "not_found"),
    (lambda c: c.result("j_01ZZZZZZZZZZZZZZZZZZZZZZZZ"), "not_found"),
    (lambda c: c.cancel("j_01ZZZZZZZZZZZZZZZZZZZZZZZZ"), "not_found"),
    (lambda c: c.call({"op": "no_such_op"}), "unknown_op"),
    (lambda c: c.call({"op": "get"}), "bad_request"),
    (lambda c: c.submit("jobd.noop", timeout=-1), "bad_request"),
    (lambda c: c.submit("jobd.noop", {"blob": "x" * 70000}),
     "frame_too_large"),
    # larger than the socket's buffer: the daemon would answer and close
    # in the middle of the send ("Broken pipe"); the library asks hello's
    # max_frame first and refuses it unsent
    (lambda c: c.submit("jobd.noop", {"blob": "x" * (3 << 20)}),
     "frame_too_large"),
    (lambda c: c.submit_many([{"type": "jobd.noop",
                               "payload": "x" * (1 << 20)}] * 3),
     "frame_too_large"),
])
def test_error_codes(client, call, code):
    with pytest.raises(JobdError) as e:
        call(client)
    assert e.value.code == code, e.value
    assert not isinstance(e.value, JobdUnavailable)
    assert client.ping()          # the client is still usable afterwards


def test_conflict_names_the_holder(client):
    first = client.submit("slow", {"seconds": 5}, unique_key="story-1")
    with pytest.raises(JobdError) as e:
        client.submit("slow", {"seconds": 5}, unique_key="story-1")
    assert e.value.code == "conflict" and e.value.job_id == first
    client.submit("jobd.noop", job_id="fixed-id")
    with pytest.raises(JobdError) as e:
        client.submit("jobd.noop", job_id="fixed-id")
    assert e.value.code == "conflict"
    client.cancel(first)


def test_library_timeout(daemon):
    import os
    import signal
    c = Client(str(daemon.socket), timeout=0.5)
    assert c.ping()
    os.kill(daemon.jobd.proc.pid, signal.SIGSTOP)
    try:
        with pytest.raises(JobdError) as e:
            c.stats()
        assert e.value.code == "timeout"
    finally:
        os.kill(daemon.jobd.proc.pid, signal.SIGCONT)
    c.close()


def test_redis_down_is_unavailable(daemon, client):
    assert client.ping()
    daemon.redis.stop()
    with pytest.raises(JobdUnavailable) as e:
        client.submit("jobd.noop")
    assert e.value.code == "unavailable"


def test_stalled_redis_submit_is_in_doubt(daemon):
    """A submit that reached a Redis which then stopped answering raises
    JobdInDoubt with the job's id, not JobdUnavailable (an app would fall
    back and do the work twice); the id can be looked up afterwards."""
    import os
    import signal
    from jobclient import JobdInDoubt
    c = Client(str(daemon.socket), timeout=60)
    assert c.stats()
    # Each op once, this thread's connection kept open: a user's first
    # request of an op goes to Redis alone (jobd's fair share), and one
    # held back unsent would rightly be unavailable.
    c.submit("jobd.noop")
    c.submit_many([{"type": "jobd.noop"}])
    got: dict = {}

    def run(name, fn, *args):
        try:
            got[name] = fn(*args)
        except JobdError as exc:
            got[name] = exc

    calls = {
        "one": (c.submit, "jobd.noop"),
        "many": (c.submit_many, [{"type": "jobd.noop"},
                                 {"type": "jobd.echo"}]),
        "raw": (c.call, {"op": "submit", "type": "jobd.noop",
                         "job_id": "raw-1"}),
    }
    pid = daemon.redis.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        ts = [threading.Thread(target=run, args=(k,) + v)
              for k, v in calls.items()]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        # Redis known to be down now: certainly not stored.
        with pytest.raises(JobdUnavailable):
            c.submit("jobd.noop")
    finally:
        os.kill(pid, signal.SIGCONT)
    for name in calls:
        err = got[name]
        assert isinstance(err, JobdInDoubt), (name, err)
        assert not isinstance(err, JobdUnavailable)
        assert err.code == "in_doubt" and "may or may not" in err.message
    assert got["one"].errno == 12 and JOB_ID.match(got["one"].job_id)
    assert got["many"].job_id is None and len(got["many"].job_ids) == 2
    assert all(JOB_ID.match(j) for j in got["many"].job_ids)
    assert got["raw"].job_id == "raw-1"
    assert got["raw"].response["job_id"] == "raw-1"
    deadline = time.monotonic() + 30
    while True:
        try:
            c.stats()
            break
        except JobdUnavailable:
            assert time.monotonic() < deadline, "jobd back on its Redis"
            time.sleep(0.1)
    # Each is found and runs, or is not found, for good.
    for jid in [got["one"].job_id, "raw-1"] + got["many"].job_ids:
        try:
            assert c.wait(jid, 10)["status"] == "finished"
        except JobdError as nf:
            assert nf.code == "not_found", nf
    c.close()


def test_dead_daemon(tmp_path, daemon):
    c = Client(str(tmp_path / "nothing-here.sock"))
    with pytest.raises(JobdUnavailable) as e:
        c.ping()
    assert e.value.code == "connect"
    with pytest.raises(JobdUnavailable):
        c.submit("jobd.noop")
    # a daemon that goes away under a connected client
    live = Client(str(daemon.socket))
    assert live.ping()
    daemon.jobd.stop()
    with pytest.raises(JobdUnavailable):
        live.submit("jobd.noop")
    with pytest.raises(JobdUnavailable):
        live.stats()
    # and comes back: the same client reconnects by itself
    daemon.jobd.start()
    assert live.ping()
    assert live.wait(live.submit("jobd.noop"), timeout=10)["status"] == \
        "finished"


def test_eight_threads_submit_at_once(client):
    barrier = threading.Barrier(8)
    ids: list = []
    errors: list = []
    lock = threading.Lock()

    def work(n: int) -> None:
        try:
            barrier.wait()
            mine = [client.submit("jobd.echo", {"t": n, "i": i})
                    for i in range(25)]
            with lock:
                ids.extend(mine)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(ids) == 200 == len(set(ids))
    for i in ids:
        assert client.wait(i, timeout=30)["status"] == "finished"
    # each thread had its own connection
    assert len(client._handles) >= 1


def test_closed_client(daemon):
    c = Client(str(daemon.socket))
    c.ping()
    c.close()
    with pytest.raises(JobdError) as e:
        c.ping()
    assert e.value.code == "invalid"
    with Client(str(daemon.socket)) as c2:
        assert c2.ping()


def test_limits_and_limit_key(daemon):
    """limit_key on submit, the limits op: a type under [limit:cap]."""
    from conftest import types_config
    types = types_config()
    types["capped"] = {"handler": "builtin", "builtin": "noop",
                       "limit": "cap"}
    daemon.jobd.stop()
    daemon.jobd.write_config(types=types,
                             **{"limit:cap": {"concurrency": 2}})
    daemon.jobd.start()
    c = Client(str(daemon.socket), timeout=10)
    try:
        jid = c.submit("capped", {}, limit_key="user-7")
        assert c.wait(jid, 10)["status"] == "finished"
        job = c.get(jid)
        assert job["limit"] == "cap" and job["limit_key"] == "user-7"
        lim = c.limits()["cap"]
        assert lim["concurrency"] == 2 and lim["running"] == 0 and \
            lim["parked"] == 0 and lim["configured"] is True, lim
        with pytest.raises(JobdError) as e:
            c.submit("capped", {}, limit_key="user 7")
        assert e.value.code == "bad_request" and "limit_key" in str(e.value)
    finally:
        c.close()
