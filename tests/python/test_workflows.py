"""The binding's dependencies and batches: submit(depends_on=...,
on_dep_failure=..., batch_id=...), Client.batch as a context manager that
seals on exit, batch_get, wait on a batch, and the errors they raise."""

from __future__ import annotations

import pytest

from jobclient import Batch, JobdError


def test_submit_depends_on_and_on_dep_failure(client):
    parent = client.submit("jobd.sleep", {"seconds": 0.5})
    child = client.submit("jobd.echo", {"n": 2}, depends_on=[parent])
    rec = client.get(child)
    assert rec["status"] == "deferred" and rec["waiting_for"] == [parent]
    assert client.wait(child, timeout=20)["status"] == "finished"
    bad = client.submit("jobd.fail")
    runs = client.submit("jobd.noop", depends_on=[bad], on_dep_failure="run")
    assert client.wait(runs, timeout=20)["status"] == "finished"


def test_batch_context_manager_seals_and_runs_callback(client):
    with client.batch("three", callback={"type": "jobd.echo",
                                         "payload": {"done": True}}) as b:
        assert isinstance(b, Batch) and b.id.startswith("b_")
        ids = [b.submit("jobd.noop") for _ in range(2)]
        ids += b.submit_many([{"type": "jobd.noop"}])
        assert b.get()["status"] == "open"
    assert b.sealed
    got = b.wait(timeout=20)
    assert got["status"] == "finished" and got["total"] == 3
    assert got["counts"]["finished"] == 3
    cb = client.wait(got["callback_job_id"], timeout=20)
    assert cb["status"] == "finished" and cb["result"] == {"done": True}
    assert client.get(ids[0])["batch_id"] == b.id


def test_batch_errors(client):
    b = client.batch("x")
    b.seal()
    with pytest.raises(JobdError) as e:
        b.submit("jobd.noop")
    assert e.value.code == "conflict"
    with pytest.raises(JobdError) as e:
        client.batch_get("b_none")
    assert e.value.code == "not_found"
    with pytest.raises(JobdError) as e:
        client.batch("y", callback={"type": "jobd.noop", "job_id": "x"})
    assert e.value.code == "bad_request" and "job_id" in str(e.value)
    with pytest.raises(TypeError):
        client.submit("jobd.noop", depends_on="j_x")
    with pytest.raises(JobdError) as e:
        client.submit("jobd.noop", depends_on=["j_missing"])
    assert e.value.code == "not_found" and "j_missing" in str(e.value)
