"""Dependencies and batches (docs/protocol.md, "Dependencies" and
"Batches"): depends_on with each on_dep_failure, status deferred, fan-out
beyond one call's budget, batches with a callback run once, wait and
depends_on on batch ids, and the malformed or hostile requests refused
with a message naming what was wrong."""
import os

from jobd_itest import wait_until, write_script
from test_jobs import FLAKY


def error_of(r, code):
    assert r.get("ok") is False and r["error"]["code"] == code, r
    return r["error"]["message"]


# --- dependencies ----------------------------------------------------------

def test_child_waits_deferred_then_runs_after_parent(client):
    parent = client.submit("jobd.sleep", {"seconds": 1})
    r = client.ok("submit", type="jobd.echo", payload={"step": 2},
                  depends_on=[parent])
    child = r["job_id"]
    assert r["status"] == "deferred"
    rec = client.get(child)
    assert rec["status"] == "deferred"
    assert rec["depends_on"] == [parent]
    assert rec["waiting_for"] == [parent]
    assert rec["on_dep_failure"] == "cancel"
    assert client.wait(child)["status"] == "finished"
    rec = client.get(child)
    assert "waiting_for" not in rec
    assert client.get(parent)["ended_at"] <= rec["started_at"]


def test_dependency_on_finished_parent_resolves_at_submit(client):
    parent = client.submit("jobd.noop")
    client.wait(parent)
    r = client.ok("submit", type="jobd.noop", depends_on=[parent])
    assert r["status"] == "queued"
    assert client.wait(r["job_id"])["status"] == "finished"


def test_failed_parent_cancels_child_naming_parent(client):
    parent = client.submit("jobd.fail")
    child = client.ok("submit", type="jobd.noop",
                      depends_on=[parent])["job_id"]
    rec = client.wait(child)
    assert rec["status"] == "canceled"
    assert parent in rec["error"]
    # and a grandchild goes with it
    r = client.ok("submit", type="jobd.noop", depends_on=[child])
    assert r["status"] == "canceled"


def test_on_dep_failure_run_runs_anyway(client):
    parent = client.submit("jobd.fail")
    child = client.ok("submit", type="jobd.noop", depends_on=[parent],
                      on_dep_failure="run")["job_id"]
    assert client.wait(child)["status"] == "finished"


def test_hold_waits_and_runs_when_parent_is_requeued(jobd, workdir):
    flaky = write_script(workdir, "flaky.py", FLAKY)
    d = jobd(types={"flaky": {"handler": "exec", "command": [flaky]}})
    marker = os.path.join(workdir, "marker")
    with d.client() as c:
        parent = c.submit("flaky", {"marker": marker})
        hold = c.ok("submit", type="jobd.noop", depends_on=[parent],
                    on_dep_failure="hold")["job_id"]
        cancel = c.ok("submit", type="jobd.noop",
                      depends_on=[parent])["job_id"]
        assert c.wait(parent)["status"] == "failed"
        assert c.wait(cancel)["status"] == "canceled"
        assert c.get(hold)["status"] == "deferred"
        assert c.get(hold)["waiting_for"] == [parent]
        c.ok("requeue", job_id=parent)          # fails again: still held
        assert c.wait(parent)["status"] == "failed"
        assert c.get(hold)["status"] == "deferred"
        open(marker, "w").close()
        c.ok("requeue", job_id=parent)
        assert c.wait(parent)["status"] == "finished"
        assert c.wait(hold)["status"] == "finished"


def test_hold_child_canceled_when_failed_parent_is_deleted(client):
    parent = client.submit("jobd.fail")
    client.wait(parent)
    r = client.ok("submit", type="jobd.noop", depends_on=[parent],
                  on_dep_failure="hold")
    assert r["status"] == "deferred"
    client.ok("delete", job_id=parent)
    rec = client.get(r["job_id"])
    assert rec["status"] == "canceled"
    assert parent in rec["error"]


def test_canceled_parent_cancels_child(client):
    parent = client.submit("jobd.noop", delay=600)
    child = client.ok("submit", type="jobd.noop",
                      depends_on=[parent])["job_id"]
    client.ok("cancel", job_id=parent)
    rec = client.get(child)
    assert rec["status"] == "canceled"
    assert "canceled" in rec["error"]


def test_two_parents_and_cancel_of_a_deferred_job(client):
    a = client.submit("jobd.noop", delay=600)
    b = client.submit("jobd.noop")
    child = client.ok("submit", type="jobd.noop",
                      depends_on=[a, b])["job_id"]
    client.wait(b)
    rec = client.get(child)
    assert rec["status"] == "deferred" and rec["waiting_for"] == [a]
    listed = client.ok("list", status="deferred")
    assert child in [j["job_id"] for j in listed["jobs"]]
    st = client.ok("stats")
    assert st["queues"]["default"]["deferred"] >= 1
    assert client.ok("cancel", job_id=child)["status"] == "canceled"
    assert client.ok("stats")["queues"]["default"]["deferred"] == 0


def test_chain_in_one_submit_many_with_explicit_ids(client):
    jobs = [{"type": "jobd.noop", "job_id": "chain-1"}]
    for i in range(2, 6):
        jobs.append({"type": "jobd.noop", "job_id": "chain-%d" % i,
                     "depends_on": ["chain-%d" % (i - 1)]})
    jobs.reverse()      # order in the list does not matter
    client.ok("submit_many", jobs=jobs)
    assert client.wait("chain-5")["status"] == "finished"
    ends = [client.get("chain-%d" % i)["ended_at"] for i in range(1, 6)]
    assert ends == sorted(ends)


def test_fan_out_beyond_one_call_finishes_every_child(client):
    parent = client.submit("jobd.sleep", {"seconds": 0.5})
    n = 350     # more than the 100 a call resolves: the reaper goes on
    jobs = [{"type": "jobd.noop", "depends_on": [parent]} for _ in range(n)]
    ids = client.ok("submit_many", jobs=jobs)["job_ids"]
    client.wait(parent)

    def all_done():
        return all(client.status(i) == "finished" for i in ids[::7] + ids[-3:])
    wait_until(all_done, timeout=60)
    listed = client.ok("list", status="deferred")
    assert listed["total"] == 0, listed


def test_cancel_fan_out_cascades_beyond_budget(client):
    parent = client.submit("jobd.noop", delay=600)
    ids = client.ok("submit_many", jobs=[
        {"type": "jobd.noop", "depends_on": [parent]}
        for _ in range(250)])["job_ids"]
    client.ok("cancel", job_id=parent)
    wait_until(lambda: client.ok("list", status="deferred")["total"] == 0,
               timeout=30)
    assert {client.status(i) for i in ids} == {"canceled"}


# --- dependencies: refused ------------------------------------------------

def test_depends_on_refusals_name_the_field(client):
    c = client
    assert "depends_on" in error_of(
        c.call("submit", type="jobd.noop", depends_on="j_x"), "bad_request")
    assert "depends_on" in error_of(
        c.call("submit", type="jobd.noop", depends_on=[]), "bad_request")
    assert "depends_on" in error_of(
        c.call("submit", type="jobd.noop", depends_on=[5]), "bad_request")
    assert "depends_on" in error_of(
        c.call("submit", type="jobd.noop", depends_on=["x" * 129]),
        "bad_request")
    assert "depends_on" in error_of(
        c.call("submit", type="jobd.noop", depends_on=["a b"]),
        "bad_request")
    assert "1 to 100" in error_of(
        c.call("submit", type="jobd.noop",
               depends_on=["p%d" % i for i in range(10000)]),
        "bad_request")
    m = error_of(c.call("submit", type="jobd.noop",
                        depends_on=["p%d" % i for i in range(101)]),
                 "bad_request")
    assert "1 to 100" in m
    m = error_of(c.call("submit", type="jobd.noop", depends_on=["a", "a"]),
                 "bad_request")
    assert "repeats" in m
    m = error_of(c.call("submit", type="jobd.noop", job_id="self",
                        depends_on=["self"]), "bad_request")
    assert "itself" in m
    m = error_of(c.call("submit", type="jobd.noop", on_dep_failure="maybe",
                        depends_on=["a"]), "bad_request")
    assert "on_dep_failure" in m
    m = error_of(c.call("submit", type="jobd.noop", on_dep_failure="run"),
                 "bad_request")
    assert "needs 'depends_on'" in m


def test_unknown_parent_and_cycle_write_nothing(client):
    m = error_of(client.call("submit", type="jobd.noop", job_id="orphan",
                             depends_on=["no-such-job"]), "not_found")
    assert "no-such-job" in m
    error_of(client.call("get", job_id="orphan"), "not_found")
    r = client.call("submit_many", jobs=[
        {"type": "jobd.noop", "job_id": "cy-a", "depends_on": ["cy-b"]},
        {"type": "jobd.noop", "job_id": "cy-b", "depends_on": ["cy-a"]},
        {"type": "jobd.noop", "job_id": "cy-c"}])
    assert "cycle" in error_of(r, "bad_request")
    for i in ("cy-a", "cy-b", "cy-c"):
        error_of(client.call("get", job_id=i), "not_found")


def test_too_many_parents_in_one_submit_many(client):
    parent = client.submit("jobd.noop")
    jobs = [{"type": "jobd.noop",
             "depends_on": [parent] + ["x%d" % k for k in range(99)]}
            for _ in range(102)]
    m = error_of(client.call("submit_many", jobs=jobs), "bad_request")
    assert "10000" in m


# --- batches ------------------------------------------------------------------

def test_batch_with_callback_runs_it_once_when_sealed_and_done(client):
    r = client.ok("batch_open", description="export",
                  callback={"type": "jobd.echo", "payload": {"zip": 1}})
    bid, cb = r["batch_id"], r["callback_job_id"]
    assert bid.startswith("b_") and cb.startswith("j_")
    assert client.get(cb)["status"] == "deferred"
    ids = [client.ok("submit", type="jobd.noop", batch_id=bid)["job_id"]
           for _ in range(3)]
    ids += client.ok("submit_many", jobs=[
        {"type": "jobd.sleep", "payload": {"seconds": 0.3}, "batch_id": bid}
        for _ in range(2)])["job_ids"]
    assert client.get(ids[0])["batch_id"] == bid
    for i in ids:
        client.wait(i)
    b = client.ok("batch_get", batch_id=bid)
    assert b["status"] == "open" and b["total"] == 5
    assert b["counts"]["finished"] == 5
    assert client.get(cb)["status"] == "deferred"   # not sealed yet
    assert client.ok("batch_seal", batch_id=bid)["status"] == "finished"
    rec = client.wait(cb)
    assert rec["status"] == "finished" and rec["result"] == {"zip": 1}
    assert rec["depends_on"] == [bid]
    b = client.ok("batch_get", batch_id=bid)
    assert b["status"] == "finished" and b["description"] == "export"
    assert b["ended_at"] is not None and b["callback_job_id"] == cb


def test_batch_failed_and_wait_on_batch_id(client):
    bid = client.ok("batch_open", description="x")["batch_id"]
    client.ok("submit", type="jobd.fail", batch_id=bid)
    slow = client.ok("submit", type="jobd.sleep", payload={"seconds": 1},
                     batch_id=bid)["job_id"]
    dep = client.ok("submit", type="jobd.noop", depends_on=[bid])
    assert dep["status"] == "deferred"
    client.ok("batch_seal", batch_id=bid)
    assert client.ok("batch_get", batch_id=bid)["status"] in (
        "running", "failed")
    rec = client.wait(bid)
    assert rec["job_id"] == bid and rec["status"] == "failed"
    assert client.status(slow) == "finished"
    b = client.ok("batch_get", batch_id=bid)
    assert b["counts"]["failed"] == 1 and b["counts"]["finished"] == 1
    # a failed batch cancels its cancel-policy dependents
    assert client.wait(dep["job_id"])["status"] == "canceled"


def test_empty_batch_ends_at_seal_and_callback_runs(client):
    r = client.ok("batch_open", callback={"type": "jobd.noop"})
    assert client.ok("batch_seal", batch_id=r["batch_id"])["status"] == \
        "finished"
    assert client.wait(r["callback_job_id"])["status"] == "finished"


def test_batch_refusals(client):
    bid = client.ok("batch_open", description="d")["batch_id"]
    client.ok("batch_seal", batch_id=bid)
    assert "sealed" in error_of(client.call("batch_seal", batch_id=bid),
                                "conflict")
    assert "sealed" in error_of(
        client.call("submit", type="jobd.noop", batch_id=bid), "conflict")
    error_of(client.call("submit", type="jobd.noop", batch_id="b_nope"),
             "not_found")
    error_of(client.call("batch_seal", batch_id="b_nope"), "not_found")
    jid = client.submit("jobd.noop")
    assert "batch" in error_of(client.call("batch_get", batch_id=jid),
                               "not_found")
    assert "batch_id" in error_of(client.call("batch_get"), "bad_request")
    assert "batch_id" in error_of(client.call("batch_get", batch_id=7),
                                  "bad_request")
    m = error_of(client.call("batch_open", description="d" * 1025),
                 "bad_request")
    assert "description" in m
    m = error_of(client.call("batch_open", callback="jobd.noop"),
                 "bad_request")
    assert "callback" in m
    m = error_of(client.call("batch_open", callback={"payload": {}}),
                 "bad_request")
    assert "callback" in m and "type" in m
    m = error_of(client.call("batch_open", callback={
        "type": "jobd.noop", "timeout": -1}), "bad_request")
    assert "callback" in m and "timeout" in m
    m = error_of(client.call("batch_open", callback={
        "type": "jobd.noop", "depends_on": ["x"]}), "bad_request")
    assert "depends_on" in m
    for f, v in (("job_id", "cbx"), ("unique_key", "u"),
                 ("batch_id", bid)):
        m = error_of(client.call("batch_open", callback={
            "type": "jobd.noop", f: v}), "bad_request")
        assert "'%s' is not allowed" % f in m
    error_of(client.call("batch_open", callback={"type": "no.such"}),
             "unknown_type")


def test_hold_child_canceled_when_failed_parent_expires(client):
    parent = client.submit("jobd.fail", failure_ttl=1)
    client.wait(parent)
    child = client.ok("submit", type="jobd.noop", depends_on=[parent],
                      on_dep_failure="hold")["job_id"]
    assert client.status(child) == "deferred"
    # the record expires; the reaper (once a second) notices
    wait_until(lambda: client.status(child) == "canceled", timeout=20)
    assert "deleted or expired" in client.get(child)["error"]


def test_requeued_canceled_deferred_job_runs(client):
    parent = client.submit("jobd.noop", delay=600)
    child = client.ok("submit", type="jobd.noop",
                      depends_on=[parent])["job_id"]
    client.ok("cancel", job_id=child)
    client.ok("requeue", job_id=child)
    rec = client.wait(child)
    assert rec["status"] == "finished" and "waiting_for" not in rec


def test_requeued_job_reopens_ended_batch_callback_not_run_again(client):
    r = client.ok("batch_open", callback={"type": "jobd.noop"})
    bid, cb = r["batch_id"], r["callback_job_id"]
    bad = client.ok("submit", type="jobd.fail", batch_id=bid)["job_id"]
    client.ok("batch_seal", batch_id=bid)
    assert client.wait(bid)["status"] == "failed"
    first = client.wait(cb)
    assert first["status"] == "finished" and first["attempts"] == 1
    client.ok("pause", queue="default")      # the job waits: look first
    client.ok("requeue", job_id=bad)
    b = client.ok("batch_get", batch_id=bid)
    assert b["status"] == "running" and b["ended_at"] is None
    assert b["counts"]["queued"] == 1 and b["counts"]["failed"] == 0
    client.ok("resume", queue="default")
    client.wait(bad)
    assert client.wait(bid)["status"] == "failed"
    b = client.ok("batch_get", batch_id=bid)
    assert b["counts"]["failed"] == 1 and b["total"] == 1
    again = client.get(cb)
    assert again["attempts"] == 1 and again["ended_at"] == first["ended_at"]


def test_wait_on_open_batch_times_out(client):
    bid = client.ok("batch_open")["batch_id"]
    r = client.ok("wait", job_id=bid, timeout=0.3)
    assert r["timed_out"] is True and r["job"]["status"] == "open"
    error_of(client.call("wait", job_id="b_none", timeout=0.1), "not_found")
