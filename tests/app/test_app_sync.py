"""The story app without a daemon: the work itself, the HTTP API in
synchronous mode, the job handler's two protocols and the fallback."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import zipfile

import pytest
from apphelpers import IDEA, make_settings

import pyfixtures
from storyapp.generator import StoryRequest, generate_offline, render_story
from storyapp.services import StoryService
from storyapp.web import create_app

PY = sys.executable


def generate(client, **over):
    body = dict(IDEA, **over)
    r = client.post("/api/generate", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


# --- generation ------------------------------------------------------------

def test_generate_sync_returns_the_story(client, service):
    data = generate(client)
    assert data["status"] == "completed"
    assert data["story_id"].startswith("story_")
    story = service.store.get(data["story_id"])
    assert data["word_count"] == story.word_count == len(story.content.split())
    assert 2800 <= story.word_count <= 3600     # "several thousand words"
    assert data["story"]["content"] == story.content
    assert "Mara" in story.content and "lighthouse keeper" in story.content
    assert story.content.startswith("Chapter 1: ")


def test_generation_is_deterministic_and_uses_all_inputs():
    a = StoryRequest.from_payload(IDEA)
    text = render_story(list(generate_offline(a)))
    assert text == render_story(list(generate_offline(a)))
    other = StoryRequest.from_payload(dict(IDEA, genre="Fantasy",
                                           theme="betrayal"))
    text2 = render_story(list(generate_offline(other)))
    assert text2 != text and "betrayal" in text2 and "Varrow" in text2


@pytest.mark.parametrize("length", [1000, 3000, 8000])
def test_requested_length_is_honoured(client, service, length):
    data = generate(client, length=length)
    assert abs(data["word_count"] - length) < 0.15 * length + 150


@pytest.mark.parametrize("body,msg", [
    ({}, "idea"), ({"idea": ""}, "idea"), ({"idea": "x", "length": 5}, "length"),
    ({"idea": "x", "character": 5}, "character"), ([1, 2], "object"),
])
def test_generate_validation(client, body, msg):
    r = client.post("/api/generate", json=body)
    assert r.status_code == 400 and msg in r.get_json()["error"]


# --- revision ----------------------------------------------------------------

def test_revise_changes_the_text(client, service):
    sid = generate(client)["story_id"]
    before = service.store.get(sid)
    r = client.post(f"/api/story/{sid}/revise", json={"use_llm": False})
    assert r.status_code == 200
    data = r.get_json()
    after = service.store.get(sid)
    assert data["status"] == "completed" and data["revision"] == 1
    assert data["changes"] > 0 and data["method"] == "rules"
    assert after.content != before.content
    assert "very ordinary" not in after.content
    assert " really " not in after.content
    assert data["word_count"] == after.word_count < before.word_count
    assert data["story"]["content"] == after.content


def test_revise_use_llm_without_llm_falls_back_to_rules(client):
    sid = generate(client)["story_id"]
    r = client.post(f"/api/story/{sid}/revise", json={"use_llm": True})
    assert r.get_json()["method"] == "rules"


def test_revise_unknown_story_404(client):
    r = client.post("/api/story/story_nope/revise", json={})
    assert r.status_code == 404 and "story_nope" in r.get_json()["error"]


# --- exports -----------------------------------------------------------------

def check_export(fmt: str, data: bytes, title: str) -> None:
    if fmt == "txt":
        assert data.decode().startswith(title)
    elif fmt == "md":
        assert data.decode().startswith(f"# {title}") and "\n## Chapter 1:" \
            in data.decode()
    elif fmt == "html":
        assert data.startswith(b"<!DOCTYPE html>") and b"<h2>Chapter 1:" in data
    elif fmt == "json":
        d = json.loads(data)
        assert d["title"] == title and d["chapters"][0]["number"] == 1
    elif fmt == "epub":
        z = zipfile.ZipFile(io.BytesIO(data))
        assert z.namelist()[0] == "mimetype"
        assert z.read("mimetype") == b"application/epub+zip"
        assert z.getinfo("mimetype").compress_type == zipfile.ZIP_STORED
        assert "OEBPS/content.opf" in z.namelist()
        assert "OEBPS/chapter1.xhtml" in z.namelist()
        assert z.testzip() is None


@pytest.mark.parametrize("fmt", ["txt", "md", "html", "json", "epub"])
def test_export_sync(client, service, fmt):
    sid = generate(client)["story_id"]
    r = client.get(f"/api/story/{sid}/export/{fmt}")
    assert r.status_code == 200
    assert f"{sid}-r0.{fmt}" in r.headers["Content-Disposition"]
    check_export(fmt, r.data, service.store.get(sid).title)
    # the export is saved too, and downloadable
    r2 = client.get(f"/api/exports/{sid}-r0.{fmt}")
    assert r2.status_code == 200 and r2.data == r.data
    # exports are a pure function of the story
    assert client.get(f"/api/story/{sid}/export/{fmt}").data == r.data


def test_export_errors(client):
    sid = generate(client)["story_id"]
    assert client.get(f"/api/story/{sid}/export/pdf").status_code == 400
    assert client.get("/api/story/story_x/export/txt").status_code == 404
    assert client.get("/api/exports/..%2Fstories.db").status_code == 404


def test_batch_export_sync(client, service):
    ids = [generate(client, theme=t)["story_id"] for t in ("hope", "loss")]
    r = client.post("/api/export/batch", json={"story_ids": ids,
                                               "format": "md"})
    assert r.status_code == 200
    z = zipfile.ZipFile(io.BytesIO(r.data))
    manifest = json.loads(z.read("manifest.json"))
    assert [s["story_id"] for s in manifest["stories"]] == ids
    for sid in ids:
        assert z.read(f"{sid}-r0.md").decode().startswith("# ")
    r = client.post("/api/export/batch", json={"story_ids": ids + ["story_x"]})
    assert r.status_code == 404 and r.get_json()["story_ids"] == ["story_x"]
    assert client.post("/api/export/batch", json={"story_ids": []}
                       ).status_code == 400


# --- jobs endpoints without background jobs ---------------------------------

def test_background_flag_ignored_when_disabled(client, service):
    """USE_BACKGROUND_JOBS=false: the same answers as before jobs existed."""
    r = client.post("/api/generate", json=dict(IDEA, background=True))
    assert r.status_code == 201 and r.get_json()["status"] == "completed"
    sid = r.get_json()["story_id"]
    r = client.post(f"/api/story/{sid}/revise", json={"background": True})
    assert r.status_code == 200 and r.get_json()["revision"] == 1
    r = client.get(f"/api/story/{sid}/export/txt?background=true")
    assert r.status_code == 200 and r.mimetype == "text/plain"


def test_fallback_when_jobd_unreachable_is_logged_once(tmp_path, caplog):
    settings = make_settings(tmp_path, USE_BACKGROUND_JOBS="true",
                             JOBD_SOCKET=str(tmp_path / "no-jobd.sock"))
    pyfixtures.export_lib_env()
    app = create_app(settings)
    c = app.test_client()
    caplog.set_level(logging.DEBUG, logger="storyapp")
    r1 = c.post("/api/generate", json=dict(IDEA, background=True))
    r2 = c.post("/api/generate", json=dict(IDEA, background=True))
    assert r1.status_code == r2.status_code == 201
    assert r1.get_json()["word_count"] == r2.get_json()["word_count"]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING
                and r.name.startswith("storyapp")]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert c.get("/api/job/j_01ABCDEFGHJKMNPQRSTVWXYZ00").status_code == 503


class _DoubtfulJobd:
    """A jobd client whose submits are in doubt and whose look-ups answer
    as scripted: an exception to raise, or a record."""

    def __init__(self, lookups):
        from jobclient import JobdInDoubt
        self.doubt = JobdInDoubt
        self.lookups = list(lookups)
        self.gets = 0

    def submit(self, job_type, payload):
        raise self.doubt("in_doubt", "redis stopped answering",
                         errno=12, job_id="j_01DOUBTDOUBTDOUBTDOUBTDOUB")

    def get(self, job_id):
        self.gets += 1
        step = self.lookups.pop(0) if len(self.lookups) > 1 \
            else self.lookups[0]
        if isinstance(step, Exception):
            raise step
        return step

    def close(self):
        pass


def doubtful_app(tmp_path, lookups, **env):
    settings = make_settings(tmp_path, USE_BACKGROUND_JOBS="true", **env)
    app = create_app(settings)
    fake = _DoubtfulJobd(lookups)
    app.extensions["storyapp"]["jobs"]._client = fake
    return app, fake


def test_in_doubt_submit_not_stored_runs_synchronously(tmp_path):
    """in_doubt is not unavailable: the app looks the job up; only when
    jobd says it does not exist is the work done here, once."""
    from jobclient import JobdError, JobdUnavailable
    app, fake = doubtful_app(tmp_path, [
        JobdUnavailable("unavailable", "redis unreachable"),
        JobdError("not_found", "no such job")])
    service = app.extensions["storyapp"]["service"]
    r = app.test_client().post("/api/generate",
                               json=dict(IDEA, background=True))
    assert r.status_code == 201 and r.get_json()["status"] == "completed"
    assert fake.gets == 2
    assert len(service.store.list()) == 1


def test_in_doubt_submit_stored_runs_in_background(tmp_path):
    app, fake = doubtful_app(tmp_path, [
        {"job_id": "j_01DOUBTDOUBTDOUBTDOUBTDOUB", "status": "queued"}])
    service = app.extensions["storyapp"]["service"]
    r = app.test_client().post("/api/generate",
                               json=dict(IDEA, background=True))
    assert r.status_code == 202, r.get_json()
    assert r.get_json()["job_id"] == "j_01DOUBTDOUBTDOUBTDOUBTDOUB"
    assert service.store.list() == []       # not done here as well


def test_in_doubt_unresolved_is_503_with_the_job_id(tmp_path):
    """jobd never answers the look-up: neither queued nor done, 503 naming
    the job to check later."""
    from jobclient import JobdUnavailable
    app, fake = doubtful_app(tmp_path, [
        JobdUnavailable("unavailable", "redis unreachable")],
        JOBD_TIMEOUT="1")
    service = app.extensions["storyapp"]["service"]
    r = app.test_client().post("/api/generate",
                               json=dict(IDEA, background=True))
    assert r.status_code == 503, r.get_json()
    body = r.get_json()
    assert body["job_id"] == "j_01DOUBTDOUBTDOUBTDOUBTDOUB"
    assert "/api/job/j_01DOUBTDOUBTDOUBTDOUBTDOUB" in body["error"]
    assert fake.gets >= 2 and service.store.list() == []


# --- the handler module, without jobd --------------------------------------

def handler_env(settings) -> dict:
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp",
            "PYTHONPATH": str(pyfixtures.APP_DIR),
            "STORY_DB": str(settings.story_db),
            "EXPORT_DIR": str(settings.export_dir),
            "STORYAPP_ENV": "/nonexistent/.env"}


def test_oneshot_handler_protocol(settings, service):
    rfd, wfd = os.pipe()
    env = dict(handler_env(settings), JOBD_PROGRESS_FD=str(wfd),
               JOBD_JOB_ID="j_01TESTTESTTESTTESTTESTTEST", JOBD_ATTEMPT="1",
               STORY_OFFLINE_DELAY="0.25")
    record = {"job_id": "j_01TESTTESTTESTTESTTESTTEST", "type": "generate_story",
              "attempts": 1, "payload": StoryRequest.from_payload(IDEA)
              .to_payload()}
    p = subprocess.run([PY, "-m", "storyapp.jobs", "generate"],
                       input=json.dumps(record), capture_output=True,
                       text=True, env=env, pass_fds=(wfd,), timeout=60)
    os.close(wfd)
    progress = os.fdopen(rfd).read().splitlines()
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)
    assert result["status"] == "completed"
    story = service.store.get(result["story_id"])
    assert story.word_count == result["word_count"]
    updates = [json.loads(l) for l in progress]
    assert any("chapter 2 of" in u["message"] for u in updates)
    assert updates[-1]["percent"] == 100
    assert [u["percent"] for u in updates] == sorted(u["percent"]
                                                     for u in updates)
    # a retry of the same job rewrites its own story, no duplicate
    p = subprocess.run([PY, "-m", "storyapp.jobs"], input=json.dumps(record),
                       capture_output=True, text=True, env=env, timeout=60)
    assert json.loads(p.stdout)["story_id"] == result["story_id"]
    assert len(service.store.list()) == 1


def test_oneshot_handler_failure_exits_nonzero(settings):
    record = {"job_id": "j_x", "type": "revise_story",
              "payload": {"story_id": "story_missing"}}
    p = subprocess.run([PY, "-m", "storyapp.jobs", "revise"],
                       input=json.dumps(record), capture_output=True,
                       text=True, env=handler_env(settings), timeout=60)
    assert p.returncode != 0 and p.stdout == ""
    assert "story not found: story_missing" in p.stderr.splitlines()[-1]


def test_persistent_handler_protocol(settings, service):
    sid = service.generate(StoryRequest.from_payload(IDEA))["story_id"]
    jobs = [{"job_id": "j_1", "type": "export_story",
             "payload": {"story_id": sid, "format": "html"}},
            {"job_id": "j_2", "type": "revise_story",
             "payload": {"story_id": "story_missing"}},
            {"job_id": "j_3", "type": "revise_story",
             "payload": {"story_id": sid}},
            {"job_id": "j_4", "type": "export_batch",
             "payload": {"story_ids": [sid], "format": "epub"}},
            {"job_id": "j_5", "type": "no_such_type", "payload": {}}]
    p = subprocess.run([PY, "-m", "storyapp.jobs", "--persistent"],
                       input="".join(json.dumps(j) + "\n" for j in jobs),
                       capture_output=True, text=True,
                       env=handler_env(settings), timeout=60)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(l) for l in p.stdout.splitlines()]
    answers = [l for l in lines if "progress" not in l]
    assert all(set(l) <= {"progress", "result", "error"} for l in lines)
    assert len(answers) == 5
    assert answers[0]["result"]["filename"] == f"{sid}-r0.html"
    assert "story not found" in answers[1]["error"]
    assert answers[2]["result"]["revision"] == 1
    assert answers[3]["result"]["count"] == 1
    assert "no handler" in answers[4]["error"]
    assert any("progress" in l for l in lines)


# --- the LLM path (a local fake endpoint) ----------------------------------

def test_llm_generation_and_revision(tmp_path, fake_llm):
    settings = make_settings(tmp_path, LLM_API_URL=fake_llm.url,
                             LLM_API_KEY="sk-test", LLM_MODEL="fake-1")
    svc = StoryService(settings)
    app = create_app(settings, svc)
    c = app.test_client()
    r = c.post("/api/generate", json=dict(IDEA, length=2100))
    assert r.status_code == 201
    data = r.get_json()
    story = svc.store.get(data["story_id"])
    assert story.source == "llm" and story.title == "The Keeper of Voices"
    assert "The fog spoke to Mara" in story.content
    assert data["word_count"] == story.word_count
    # one title request + one per chapter, with the key and model
    assert len(fake_llm.requests) == 1 + 3
    assert all(a == "Bearer sk-test" for a in fake_llm.auth)
    assert fake_llm.requests[0]["path"] == "/v1/chat/completions"
    assert fake_llm.requests[0]["body"]["model"] == "fake-1"
    assert "lighthouse keeper" in fake_llm.requests[1]["body"]["messages"][1][
        "content"]
    r = c.post(f"/api/story/{story.id}/revise", json={"use_llm": True})
    assert r.get_json()["method"] == "llm"
    assert "LLM REVISED." in svc.store.get(story.id).content


def test_llm_failure_is_a_clear_error(tmp_path):
    settings = make_settings(tmp_path, LLM_API_URL="http://127.0.0.1:9/v1",
                             LLM_API_KEY="k", LLM_TIMEOUT="2")
    c = create_app(settings).test_client()
    r = c.post("/api/generate", json=IDEA)
    assert r.status_code == 502 and "LLM endpoint" in r.get_json()["error"]


def test_llm_needs_url_and_key(tmp_path):
    assert not make_settings(tmp_path, LLM_API_URL="http://x").llm_enabled
    assert make_settings(tmp_path, LLM_API_URL="http://x",
                         LLM_API_KEY="k").llm_enabled


# --- hostile query parameters -----------------------------------------------

@pytest.mark.parametrize("query", [
    "limit=abc", "limit=", "limit=1.5", "limit=1e3", "limit=0x10",
    "offset=abc", "offset=-", "limit=" + "9" * 5000, "limit=1_000",
    "offset=%00",
])
def test_malformed_list_parameters_are_400_json(client, query):
    r = client.get("/api/stories?" + query)
    assert r.status_code == 400, (query, r.status_code, r.data[:200])
    assert r.is_json and "must be an integer" in r.get_json()["error"]


def test_list_parameters_are_clamped(client):
    ids = [generate(client)["story_id"] for _ in range(3)]
    every = client.get("/api/stories").get_json()["stories"]
    assert len(every) == 3
    r = client.get("/api/stories?limit=-1")
    assert r.status_code == 200 and r.get_json()["stories"] == []
    r = client.get("/api/stories?limit=99999999")
    assert r.status_code == 200 and len(r.get_json()["stories"]) == 3
    r = client.get("/api/stories?offset=-5&limit=2")
    assert [s["story_id"] for s in r.get_json()["stories"]] == \
        [s["story_id"] for s in every[:2]]
    r = client.get("/api/stories?offset=%2B1&limit=%201%20")
    assert [s["story_id"] for s in r.get_json()["stories"]] == \
        [s["story_id"] for s in every[1:2]]
    assert set(ids) == {s["story_id"] for s in every}


def test_background_parameter_must_be_a_boolean(client):
    story_id = generate(client)["story_id"]
    r = client.get("/api/story/%s/export/txt?background=banana" % story_id)
    assert r.status_code == 400 and r.is_json, r.data[:200]
    assert "'background'" in r.get_json()["error"]
    r = client.get("/api/story/%s/export/txt?background=false" % story_id)
    assert r.status_code == 200


def test_flask_errors_are_json(client):
    r = client.get("/api/no/such/route")
    assert r.status_code == 404 and r.is_json and r.get_json()["error"]
    r = client.put("/api/stories")
    assert r.status_code == 405 and r.is_json and r.get_json()["error"]
