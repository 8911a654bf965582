"""The story app on a real jobd + Redis: background jobs end to end,
through Flask's test client and through real HTTP on loopback."""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
import zipfile
from typing import Any, Tuple

import pytest
from apphelpers import IDEA

from storyapp.web import MESSAGES

JOB_KEYS = {"job_id", "status", "created_at", "started_at", "ended_at",
            "result", "progress", "error"}


def poll(client, job_id: str, timeout: float = 60.0):
    """Poll GET /api/job/<id> until terminal; return (final, statuses,
    progress messages seen)."""
    statuses, messages = [], []
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/api/job/{job_id}")
        assert r.status_code == 200, r.get_json()
        job = r.get_json()
        assert JOB_KEYS <= set(job)
        if not statuses or statuses[-1] != job["status"]:
            statuses.append(job["status"])
        if job.get("progress") and job["progress"].get("message"):
            messages.append(job["progress"]["message"])
        if job["status"] in ("finished", "failed", "canceled"):
            return job, statuses, messages
        assert time.monotonic() < deadline, (job, statuses)
        time.sleep(0.05)


def queued(r) -> str:
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert set(body) == {"status", "job_id", "message"}
    assert body["status"] == "queued" and body["job_id"].startswith("j_")
    return body["job_id"]


def test_generate_in_background(stack):
    c = stack.app.test_client()
    r = c.post("/api/generate", json=dict(IDEA, background=True))
    job_id = queued(r)
    assert r.get_json()["message"] == MESSAGES["generate_story"]
    job, statuses, messages = poll(c, job_id)
    assert statuses[0] in ("queued", "started") and "started" in statuses
    assert any("chapter 2 of" in m for m in messages), messages
    assert job["status"] == "finished" and job["progress"]["percent"] == 100
    assert job["timeout"] == 600 and job["type"] == "generate_story"
    res = job["result"]
    assert set(res) == {"status", "story_id", "word_count"}
    assert res["status"] == "completed"
    story = stack.service.store.get(res["story_id"])
    assert res["word_count"] == story.word_count > 2500
    r = c.get(f"/api/job/{job_id}/result")
    assert r.status_code == 200 and r.get_json()["result"] == res
    # the same request synchronously writes the very same text
    sync = c.post("/api/generate", json=IDEA).get_json()
    assert sync["word_count"] == res["word_count"]
    assert sync["story"]["content"] == story.content


def test_result_before_finished_is_409(stack):
    c = stack.app.test_client()
    job_id = queued(c.post("/api/generate",
                           json=dict(IDEA, length=6000, background=True)))
    r = c.get(f"/api/job/{job_id}/result")
    assert r.status_code == 409
    assert r.get_json()["status"] in ("queued", "started")
    poll(c, job_id)
    assert c.get("/api/job/j_01ZZZZZZZZZZZZZZZZZZZZZZZZ").status_code == 404


@pytest.mark.parametrize("fmt", ["txt", "md", "html", "json", "epub"])
def test_export_background_equals_sync(stack, fmt):
    c = stack.app.test_client()
    sid = c.post("/api/generate", json=IDEA).get_json()["story_id"]
    sync = c.get(f"/api/story/{sid}/export/{fmt}")
    job_id = queued(c.get(f"/api/story/{sid}/export/{fmt}?background=true"))
    job, _, _ = poll(c, job_id)
    assert job["status"] == "finished", job
    assert job["timeout"] == 120
    res = job["result"]
    assert res["story_id"] == sid and res["format"] == fmt
    dl = c.get(res["download_url"])
    assert dl.status_code == 200 and dl.data == sync.data
    assert res["size"] == len(sync.data)


def test_revise_background_equals_sync(stack):
    c = stack.app.test_client()
    a = c.post("/api/generate", json=IDEA).get_json()["story_id"]
    b = c.post("/api/generate", json=IDEA).get_json()["story_id"]
    sync = c.post(f"/api/story/{a}/revise", json={"use_llm": True}).get_json()
    job_id = queued(c.post(f"/api/story/{b}/revise",
                           json={"background": True, "use_llm": True}))
    job, _, _ = poll(c, job_id)
    assert job["status"] == "finished" and job["timeout"] == 300
    bg = job["result"]
    sync_story = sync.pop("story")
    assert {**bg, "story_id": a} == sync
    assert stack.service.store.get(b).content == sync_story["content"]


def test_batch_export_in_background(stack):
    """Tracked as one unit under the id the 202 gives (a jobd batch now:
    test_app_workflows.py has the rest)."""
    c = stack.app.test_client()
    ids = [c.post("/api/generate", json=dict(IDEA, theme=t)).get_json()
           ["story_id"] for t in ("hope", "grief", "luck")]
    r = c.post("/api/export/batch", json={
        "story_ids": ids, "format": "epub", "background": True})
    assert r.status_code == 202
    assert r.get_json()["message"] == MESSAGES["export_batch"]
    job_id = r.get_json()["job_id"]
    job, _, _ = poll(c, job_id)
    assert job["status"] == "finished"
    assert job["result"]["count"] == 3 and job["result"]["story_ids"] == ids
    data = c.get(job["result"]["download_url"]).data
    z = zipfile.ZipFile(io.BytesIO(data))
    assert sorted(n for n in z.namelist() if n.endswith(".epub")) == \
        sorted(f"{i}-r0.epub" for i in ids)
    sync = c.post("/api/export/batch", json={"story_ids": ids,
                                             "format": "epub"})
    assert sync.data == data


def test_failed_job_shows_its_error(stack):
    """A handler failing (its story deleted while the job waited) ->
    failed, with the error in /api/job/<id>."""
    from jobclient import Client
    c = stack.app.test_client()
    sid = c.post("/api/generate", json=IDEA).get_json()["story_id"]
    jc = Client(str(stack.socket))
    jc.pause("default")
    try:
        job_id = queued(c.post(f"/api/story/{sid}/revise",
                               json={"background": True}))
        assert c.delete(f"/api/story/{sid}").status_code == 200
    finally:
        jc.resume("default")
    job, statuses, _ = poll(c, job_id)
    assert job["status"] == "failed"
    assert f"story not found: {sid}" in json.dumps(job["error"])
    r = c.get(f"/api/job/{job_id}/result")
    assert r.status_code == 409 and r.get_json()["status"] == "failed"
    jc.close()


def test_fallback_when_daemon_stops(stack, caplog):
    c = stack.app.test_client()
    stack.jobd.stop()
    r = c.post("/api/generate", json=dict(IDEA, background=True))
    assert r.status_code == 201 and r.get_json()["status"] == "completed"
    sid = r.get_json()["story_id"]
    r = c.post(f"/api/story/{sid}/revise", json={"background": True})
    assert r.status_code == 200 and r.get_json()["revision"] == 1
    r = c.get(f"/api/story/{sid}/export/md?background=true")
    assert r.status_code == 200 and r.data.startswith(b"# ")
    assert c.get("/api/job/j_01ZZZZZZZZZZZZZZZZZZZZZZZZ").status_code == 503
    # and back to background work when jobd returns
    stack.jobd.start()
    r = c.post("/api/generate", json=dict(IDEA, background=True))
    assert r.status_code == 202


def test_llm_generation_in_background(stack_factory, fake_llm):
    stack = stack_factory(LLM_API_URL=fake_llm.url, LLM_API_KEY="sk-test")
    c = stack.app.test_client()
    job_id = queued(c.post("/api/generate",
                           json=dict(IDEA, length=1400, background=True)))
    job, _, _ = poll(c, job_id)
    assert job["status"] == "finished", job
    story = stack.service.store.get(job["result"]["story_id"])
    assert story.source == "llm" and story.title == "The Keeper of Voices"
    assert len(fake_llm.requests) == 1 + 3


# --- real HTTP on loopback ---------------------------------------------------

def http(base: str, method: str, path: str,
         body: Any = None) -> Tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw, status, ctype = resp.read(), resp.status, \
                resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        raw, status, ctype = e.read(), e.code, e.headers.get("Content-Type", "")
    return status, json.loads(raw) if "json" in ctype else raw


def test_over_http(live):
    status, body = http(live, "POST", "/api/generate",
                        dict(IDEA, background=True))
    assert status == 202 and body["status"] == "queued"
    job_id = body["job_id"]
    seen = set()
    deadline = time.monotonic() + 60
    while True:
        status, job = http(live, "GET", f"/api/job/{job_id}")
        assert status == 200
        seen.add(job["status"])
        if job["status"] == "finished":
            break
        assert job["status"] in ("queued", "started")
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "started" in seen
    sid = job["result"]["story_id"]
    status, res = http(live, "GET", f"/api/job/{job_id}/result")
    assert status == 200 and res["result"]["story_id"] == sid
    status, story = http(live, "GET", f"/api/story/{sid}")
    assert story["word_count"] == job["result"]["word_count"]
    status, body = http(live, "GET", f"/api/story/{sid}/export/json?background=true")
    assert status == 202
    status, body = http(live, "POST", f"/api/story/{sid}/revise",
                        {"background": True})
    assert status == 202


def test_submit_in_doubt_is_looked_up_not_redone(stack_factory):
    """Redis stalls while jobd holds a submit: jobd answers in_doubt, and
    the app, instead of falling back to doing the story here as well,
    looks the job up once jobd answers again and runs it in the
    background.  One story results, never two."""
    import os
    import signal
    import threading
    import pyfixtures
    stack = stack_factory(JOBD_TIMEOUT="40")
    c = stack.app.test_client()
    assert c.get("/api/health").get_json()["jobd"] == "ok"
    service = stack.service
    out = {}

    def post():
        out["r"] = c.post("/api/generate", json=dict(IDEA, background=True))

    pid = stack.redis.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        t = threading.Thread(target=post)
        t.start()
        pyfixtures.wait_until(
            lambda: "no reply for" in stack.jobd.log_text(), 30,
            msg="jobd to give up on the stalled Redis")
    finally:
        os.kill(pid, signal.SIGCONT)
    t.join(60)
    r = out["r"]
    job_id = queued(r)
    job, _, _ = poll(c, job_id)
    assert job["status"] == "finished", job
    assert len(service.store.list()) == 1
