"""The story app on jobd's workflows (issue 15, docs/storyapp.md "Chains",
"Batch exports", "The LLM limit", "Cleanup"): generation chains with
depends_on, batch export as a jobd batch with a zip callback, the [limit:llm]
limit and the hourly clean_exports job.  The first part needs no daemon;
the rest runs the real app on a real jobd and redis-server."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, Dict, List

import pytest
from apphelpers import IDEA, FakeLLM, make_settings

import pyfixtures
from storyapp.cleanup import MIN_AGE, clean_exports, parse_age
from storyapp.jobs import run_job
from storyapp.services import ExportMissing, StoryService
from storyapp.workflows import MAX_STEPS

APP = pyfixtures.APP_DIR
TERMINAL = ("finished", "failed", "canceled")


# --- then: validation, in both modes -----------------------------------------

@pytest.mark.parametrize("then,words", [
    ("revise", ["'then' must be a list", "str"]),
    ({"revise": True}, ["'then' must be a list", "dict"]),
    (["revise"] * 1000, ["1000 steps", f"at most {MAX_STEPS}"]),
    (["revise"] * (MAX_STEPS + 1), [f"at most {MAX_STEPS}"]),
    (["publish"], ["'then'[0]", "unknown step", "publish"]),
    (["revise", "export:../../etc"], ["'then'[1]", "unknown export format",
                                      "../../etc"]),
    (["export:"], ["'then'[0]", "unknown export format"]),
    (["export"], ["'then'[0]", "needs a format"]),
    (["revise:now"], ["'then'[0]", "unknown step"]),
    ([7], ["'then'[0]", "int"]),
    ([None], ["'then'[0]", "NoneType"]),
    ([["revise"]], ["'then'[0]", "list"]),
    ([{"step": "export", "format": "/etc/passwd"}], ["unknown export format"]),
    ([{"step": "export"}], ["unknown export format", "None"]),
    ([{"step": "revise", "use_llm": "yes"}], ["'use_llm' must be true"]),
    ([{"step": "revise", "rm": "-rf"}], ["unknown option", "rm"]),
    ([{"step": "delete"}], ["unknown step", "delete"]),
    ([{"nostep": 1}], ["unknown step"]),
    (["x" * 100000], ["unknown step"]),
])
def test_then_is_validated(client, service, then, words):
    """A bad ``then`` is a 400 naming what is wrong, before anything is
    written or queued."""
    for background in (False, True):
        r = client.post("/api/generate",
                        json=dict(IDEA, then=then, background=background))
        assert r.status_code == 400, r.get_json()
        msg = r.get_json()["error"]
        for w in words:
            assert w in msg, msg
        assert len(msg) < 400        # a huge step is not echoed whole
    assert service.store.list() == []


def test_then_synchronous_runs_the_steps(client, service):
    """Without background the steps run in the request, in order; the
    answer has each step's result and the final story."""
    r = client.post("/api/generate", json=dict(
        IDEA, then=["revise", {"step": "export", "format": "epub"},
                    "export:md"]))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert [s["step"] for s in body["steps"]] == ["revise", "export:epub",
                                                  "export:md"]
    sid = body["story_id"]
    story = service.store.get(sid)
    assert story.revision == 1 and body["story"]["revision"] == 1
    assert body["word_count"] == story.word_count
    assert body["steps"][0]["result"]["revision"] == 1
    epub = body["steps"][1]["result"]
    assert epub["filename"] == f"{sid}-r1.epub"
    dl = client.get(epub["download_url"])
    assert dl.data == client.get(f"/api/story/{sid}/export/epub").data
    # an empty list is no steps: the plain answer
    r = client.post("/api/generate", json=dict(IDEA, then=[]))
    assert r.status_code == 201 and "steps" not in r.get_json()


# --- the batch's zip from the saved files -------------------------------------

def test_export_zip_equals_the_synchronous_zip(service):
    ids = [service.generate(_req(theme=t))["story_id"]
           for t in ("hope", "luck")]
    for sid in ids:
        service.export(sid, "html")
    res, f = service.export_zip(ids, "html")
    _, sync = service.export_batch(ids, "html")
    assert f.data == sync.data and res["filename"] == sync.filename
    assert res["count"] == 2 and res["story_ids"] == ids


def test_export_zip_refuses_missing_or_planted_files(service, tmp_path):
    """A story without its saved export (its job failed), or with a
    symlink planted in its place, fails the zip naming the story: no
    partial zip, nothing read through the link."""
    a, b = (service.generate(_req(theme=t))["story_id"]
            for t in ("hope", "luck"))
    service.export(a, "txt")
    with pytest.raises(ExportMissing) as e:
        service.export_zip([a, b], "txt")
    assert b in str(e.value) and a not in str(e.value)
    secret = tmp_path / "secret.txt"
    secret.write_text("not an export")
    (service.settings.export_dir / f"{b}-r0.txt").symlink_to(secret)
    with pytest.raises(ExportMissing):
        service.export_zip([a, b], "txt")
    assert not list(service.settings.export_dir.glob("batch-*"))


def _req(**over: Any):
    from storyapp.generator import StoryRequest
    return StoryRequest.from_payload(dict(IDEA, length=1000, **over))


# --- clean_exports --------------------------------------------------------------

def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t), follow_symlinks=False)


def test_clean_exports_removes_old_regular_files_only(tmp_path):
    settings = make_settings(tmp_path)
    d = settings.export_dir
    d.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    _age(outside, 30 * 86400)
    old = d / "old.epub"
    old.write_text("x")
    _age(old, 8 * 86400)
    tmp = d / ".tmp-abandoned"
    tmp.write_text("x")
    _age(tmp, 8 * 86400)
    new = d / "new.epub"
    new.write_text("x")
    link = d / "link.txt"
    link.symlink_to(outside)
    _age(link, 30 * 86400)
    sub = d / "sub"
    sub.mkdir()
    deep = sub / "deep.txt"
    deep.write_text("x")
    _age(deep, 30 * 86400)
    _age(sub, 30 * 86400)
    fifo = d / "fifo"
    os.mkfifo(fifo)
    _age(fifo, 30 * 86400)

    svc = StoryService(settings)
    res = run_job(svc, {"type": "clean_exports", "job_id": "cron:x:1",
                        "payload": {"max_age": "7d"}},
                  lambda p, m: None)
    assert res == {"removed": 2, "kept": 1, "skipped": 3,
                   "max_age": 7 * 86400, "more": False}
    assert sorted(p.name for p in d.iterdir()) == ["fifo", "link.txt",
                                                   "new.epub", "sub"]
    assert outside.read_text() == "keep me" and deep.exists()
    # the default age (7 days) when the payload has none; a directory
    # that is not there yet is no error
    assert run_job(svc, {"type": "clean_exports", "payload": {}},
                   lambda p, m: None)["removed"] == 0
    assert clean_exports(tmp_path / "none", 3600)["removed"] == 0


@pytest.mark.parametrize("value,ok", [
    ("7d", 7 * 86400), ("12h", 43200), ("90m", 5400), (3600, 3600),
    ("3600", 3600), (" 2d ", 172800),
    ("0", None), (0, None), ("59", None), (-5, None), ("-1d", None),
    ("abc", None), ("7 days", None), ("", None), (True, None),
    (None, None), ([1], None), ("1" * 30, None), (10 ** 12, None),
])
def test_max_age_is_checked(tmp_path, value, ok):
    if ok is not None:
        assert parse_age(value) == ok
        return
    with pytest.raises(ValueError) as e:
        parse_age(value)
    assert "max_age" in str(e.value)
    # the handler refuses it too, before touching a file
    settings = make_settings(tmp_path)
    settings.export_dir.mkdir()
    f = settings.export_dir / "a.txt"
    f.write_text("x")
    _age(f, 400 * 86400)
    with pytest.raises(ValueError):
        run_job(StoryService(settings), {"type": "clean_exports",
                                         "payload": {"max_age": value}},
                lambda p, m: None)
    assert f.exists()
    assert MIN_AGE == 60


# --- worker.py: the limit's and the cleanup's variables ----------------------------

def worker_print(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(APP / "worker.py"),
                           "--print"], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", **env}, timeout=30)


def test_worker_passes_the_limit_and_the_age():
    p = worker_print(LLM_CONCURRENCY="2", LLM_RATE="30/m", LLM_BURST="3",
                     EXPORT_MAX_AGE="2d")
    assert p.returncode == 0, p.stderr
    cmd = p.stdout.splitlines()[1]
    for arg in ("limit:llm.concurrency=2", "limit:llm.rate=30/m",
                "limit:llm.burst=3",
                "cron:clean_exports.payload={\"max_age\": 172800}"):
        assert arg in cmd, cmd
    p = worker_print()
    assert p.returncode == 0 and "limit:llm" not in p.stdout
    assert "cron:" not in p.stdout


@pytest.mark.parametrize("env,name", [
    ({"LLM_RATE": "fast"}, "LLM_RATE"),
    ({"LLM_RATE": "0/s"}, "LLM_RATE"),
    ({"LLM_RATE": "10/d"}, "LLM_RATE"),
    ({"LLM_RATE": "10/m; rm -rf /"}, "LLM_RATE"),
    ({"LLM_RATE": "9" * 50 + "/s"}, "LLM_RATE"),
    ({"LLM_CONCURRENCY": "0"}, "LLM_CONCURRENCY"),
    ({"LLM_CONCURRENCY": "-3"}, "LLM_CONCURRENCY"),
    ({"LLM_CONCURRENCY": "2.5"}, "LLM_CONCURRENCY"),
    ({"LLM_CONCURRENCY": "999999999999"}, "LLM_CONCURRENCY"),
    ({"LLM_BURST": "x"}, "LLM_BURST"),
    ({"LLM_BURST": "0"}, "LLM_BURST"),
    ({"EXPORT_MAX_AGE": "0"}, "EXPORT_MAX_AGE"),
    ({"EXPORT_MAX_AGE": "forever"}, "EXPORT_MAX_AGE"),
])
def test_worker_refuses_bad_limit_values(env, name):
    """A bad value stops worker.py before jobd starts, naming the
    variable (exit 2), rather than a jobd that runs without the limit."""
    p = worker_print(**env)
    assert p.returncode == 2, p.stdout
    assert p.stderr.startswith("worker.py: " + name), p.stderr
    assert "jobd" not in p.stdout


# --- the config as jobd reads it ---------------------------------------------

def _jobd_check(*extra: str) -> subprocess.CompletedProcess:
    why = pyfixtures.missing_tools()
    if why:
        pytest.skip(why)
    return subprocess.run([str(pyfixtures.find_jobd()), "--check", "-c",
                           str(APP / "jobd.conf"), *extra],
                          capture_output=True, text=True, timeout=30)


def test_config_has_the_limit_and_the_cron_job():
    p = _jobd_check()
    assert p.returncode == 0, p.stderr
    out = p.stdout
    for needle in ("limit:llm", "cron:clean_exports", "17 * * * *",
                   "revise_story_llm", "export_zip"):
        assert needle in out, needle
    # the types that call the LLM name the limit; the rules-only revision
    # and the exports do not
    lines = [l for l in out.splitlines() if ".limit " in l + " "
             or ".limit=" in l.replace(" ", "")]
    limited = {l.split(".limit")[0].strip() for l in lines
               if l.split("=", 1)[1].split(";")[0].strip() == "llm"}
    assert {"type:generate_story", "type:revise_story_llm"} <= limited
    assert not {"type:revise_story", "type:export_story"} & limited
    # worker.py's overrides are settings jobd takes
    import worker
    args = worker.jobd_args(worker.workflow_settings(
        {"LLM_CONCURRENCY": "1", "LLM_RATE": "2/s", "EXPORT_MAX_AGE": "1h"}))
    p = _jobd_check(*args[2:])
    assert p.returncode == 0, p.stderr
    assert "2/s" in p.stdout and "3600" in p.stdout


@pytest.mark.parametrize("override,setting", [
    ("limit:llm.rate=fast", "rate"),
    ("limit:llm.concurrency=-1", "concurrency"),
    ("cron:clean_exports.schedule=61 * * * *", "schedule"),
    ("cron:clean_exports.payload={not json", "payload"),
])
def test_config_refuses_bad_overrides(override, setting):
    """What worker.py does not check, jobd does: the start is refused
    naming the setting."""
    p = _jobd_check("-o", override)
    assert p.returncode != 0
    assert setting in p.stderr, p.stderr


# --- on the real stack ----------------------------------------------------------

def poll(c, job_id: str, timeout: float = 90.0,
         seen: List[str] = None) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = c.get(f"/api/job/{job_id}")
        assert r.status_code == 200, r.get_json()
        job = r.get_json()
        if seen is not None and (not seen or seen[-1] != job["status"]):
            seen.append(job["status"])
        if job["status"] in TERMINAL:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def test_chain_runs_in_order_each_step_visible(stack):
    c = stack.app.test_client()
    r = c.post("/api/generate", json=dict(
        IDEA, background=True, then=["revise", "export:epub"]))
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    chain = body["chain"]
    assert len(chain) == 3 and body["job_id"] == chain[0]
    assert body["last_job_id"] == chain[-1] and len(set(chain)) == 3
    assert body["steps"] == ["generate", "revise", "export:epub"]
    assert all(i.startswith("j_") for i in chain)
    # the later steps wait for their parent, visibly
    first = [c.get(f"/api/job/{i}").get_json() for i in chain]
    assert [j["type"] for j in first] == ["generate_story", "revise_story",
                                          "export_story"]
    assert first[2]["status"] == "deferred", first[2]
    assert first[2]["depends_on"] == [chain[1]]
    assert first[2]["waiting_for"] == [chain[1]]
    assert first[1]["depends_on"] == [chain[0]]
    assert "depends_on" not in first[0]
    jobs = [poll(c, i) for i in chain]
    assert [j["status"] for j in jobs] == ["finished"] * 3, jobs
    assert "waiting_for" not in jobs[2]
    for a, b in zip(jobs, jobs[1:]):
        assert a["ended_at"] <= b["started_at"], (a, b)
    sid = body["story_id"]
    assert jobs[0]["result"]["story_id"] == sid
    assert jobs[1]["result"]["story_id"] == sid
    assert jobs[1]["result"]["revision"] == 1
    res = jobs[2]["result"]
    assert res["filename"] == f"{sid}-r1.epub"
    assert c.get(res["download_url"]).data == \
        c.get(f"/api/story/{sid}/export/epub").data


def test_chain_failing_step_cancels_the_rest(stack_factory):
    with FakeLLM(fail_revise=True) as llm:
        stack = stack_factory(LLM_API_URL=llm.url, LLM_API_KEY="sk-test")
        c = stack.app.test_client()
        body = c.post("/api/generate", json=dict(
            IDEA, length=1400, background=True,
            then=[{"step": "revise", "use_llm": True}, "export:txt",
                  "export:md"])).get_json()
        chain = body["chain"]
        gen, rev, ex1, ex2 = (poll(c, i) for i in chain)
    assert gen["status"] == "finished"
    assert rev["type"] == "revise_story_llm" and rev["status"] == "failed"
    assert "answered 500" in json.dumps(rev["error"])
    for job, parent in ((ex1, rev), (ex2, ex1)):
        assert job["status"] == "canceled", job
        assert job["started_at"] is None
        assert parent["job_id"] in json.dumps(job["error"]), job["error"]
    assert not list(stack.settings.export_dir.glob("*.txt"))


def test_then_refused_submits_nothing(stack):
    from jobclient import Client
    c = stack.app.test_client()
    r = c.post("/api/generate", json=dict(
        IDEA, background=True, then=["revise", "export:../../etc"]))
    assert r.status_code == 400
    with Client(str(stack.socket)) as jc:
        assert jc.list()["total"] == 0


def test_batch_export_is_a_jobd_batch(stack):
    from jobclient import Client
    c = stack.app.test_client()
    ids = [c.post("/api/generate", json=dict(IDEA, theme=t)).get_json()
           ["story_id"] for t in ("hope", "grief", "luck")]
    r = c.post("/api/export/batch", json={
        "story_ids": ids, "format": "epub", "background": True})
    assert r.status_code == 202, r.get_json()
    assert set(r.get_json()) == {"status", "job_id", "message"}
    batch_id = r.get_json()["job_id"]
    seen: List[str] = []
    job = poll(c, batch_id, seen=seen)
    assert job["status"] == "finished", job
    assert job["type"] == "batch" and job["job_id"] == batch_id
    assert job["batch"]["total"] == 3
    assert job["batch"]["counts"]["finished"] == 3
    assert job["batch"]["status"] == "finished"
    assert job["progress"]["percent"] == 100
    res = job["result"]
    assert res["count"] == 3 and res["story_ids"] == ids
    data = c.get(res["download_url"]).data
    assert data == c.post("/api/export/batch", json={
        "story_ids": ids, "format": "epub"}).data
    z = zipfile.ZipFile(io.BytesIO(data))
    assert sorted(n for n in z.namelist() if n.endswith(".epub")) == \
        sorted(f"{i}-r0.epub" for i in ids)
    r = c.get(f"/api/job/{batch_id}/result")
    assert r.status_code == 200 and r.get_json()["result"] == res
    # each story its own job, the zip made once by one callback job
    with Client(str(stack.socket)) as jc:
        listed = jc.list(limit=100)["jobs"]
        zipjob = jc.get(job["zip_job_id"])
    types = sorted(j["type"] for j in listed)
    assert types.count("export_story") == 3
    assert types.count("export_zip") == 1
    assert zipjob["attempts"] == 1 and zipjob["status"] == "finished"
    assert len(list(stack.settings.export_dir.glob("batch-*.zip"))) == 1


def test_batch_with_a_failed_export_fails_naming_it(stack):
    """A story deleted while its export waits: that job fails, the batch
    ends failed, and the zip job fails naming the story (no partial zip).
    """
    from jobclient import Client
    c = stack.app.test_client()
    ids = [c.post("/api/generate", json=dict(IDEA, theme=t)).get_json()
           ["story_id"] for t in ("hope", "grief")]
    with Client(str(stack.socket)) as jc:
        jc.pause("high")
        try:
            batch_id = c.post("/api/export/batch", json={
                "story_ids": ids, "format": "txt",
                "background": True}).get_json()["job_id"]
            job = c.get(f"/api/job/{batch_id}").get_json()
            assert job["status"] == "queued"
            assert job["batch"]["counts"]["queued"] == 2
            c.delete(f"/api/story/{ids[1]}")
        finally:
            jc.resume("high")
    job = poll(c, batch_id)
    assert job["status"] == "failed", job
    assert job["batch"]["status"] == "failed"
    assert job["batch"]["counts"]["failed"] == 1
    assert ids[1] in json.dumps(job["error"])
    assert not list(stack.settings.export_dir.glob("batch-*.zip"))


def test_batch_of_10000_ids_is_refused(stack):
    from jobclient import Client
    c = stack.app.test_client()
    ids = [f"story_{i:012x}" for i in range(10000)]
    r = c.post("/api/export/batch", json={"story_ids": ids,
                                          "background": True})
    assert r.status_code == 400 and "at most 200" in r.get_json()["error"]
    with Client(str(stack.socket)) as jc:
        assert jc.list()["total"] == 0


def test_llm_limit_concurrency_is_kept(stack_factory):
    """LLM_CONCURRENCY=1 on two workers: the generations run one after
    the other, and an export submitted behind them runs meanwhile."""
    stack = stack_factory(LLM_CONCURRENCY="1")
    c = stack.app.test_client()
    sid = c.post("/api/generate", json=dict(IDEA, length=1000)
                 ).get_json()["story_id"]
    gens = [c.post("/api/generate", json=dict(IDEA, theme=t, length=2000,
                                              background=True)
                   ).get_json()["job_id"] for t in ("a", "b", "c")]
    exp = c.get(f"/api/story/{sid}/export/md?background=true"
                ).get_json()["job_id"]
    done = [poll(c, j) for j in gens]
    assert all(j["status"] == "finished" for j in done), done
    spans = sorted((j["started_at"], j["ended_at"]) for j in done)
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        assert e1 <= s2, spans            # never two at once
    ex = poll(c, exp)
    assert ex["status"] == "finished" and ex["ended_at"] < spans[-1][0]


def test_chain_and_batch_fall_back_when_jobd_stops(stack):
    """jobd unreachable: a chain and a batch export are done in the
    request, with the synchronous answers."""
    c = stack.app.test_client()
    sid = c.post("/api/generate", json=dict(IDEA, length=1000)
                 ).get_json()["story_id"]
    stack.jobd.stop()
    r = c.post("/api/generate", json=dict(
        IDEA, length=1000, background=True, then=["revise", "export:md"]))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert [s["step"] for s in body["steps"]] == ["revise", "export:md"]
    assert body["story"]["revision"] == 1
    r = c.post("/api/export/batch", json={
        "story_ids": [sid, body["story_id"]], "format": "md",
        "background": True})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(r.data)).namelist()
    assert f"{sid}-r0.md" in names and "manifest.json" in names


def test_clean_exports_runs_at_its_tick(stack_factory, monkeypatch):
    """[cron:clean_exports] as configured (17 * * * *) submits the job at
    the tick, once, with the age from EXPORT_MAX_AGE.  jobd's schedules run
    on a clock shifted to stand LEAD seconds before the next :17
    (JOBD_TEST_CRON_OFFSET_MS, a test-only setting of jobd's)."""
    import datetime
    from jobclient import Client
    lead = 15
    now = datetime.datetime.now(datetime.timezone.utc)
    tick = now.replace(minute=17, second=0, microsecond=0)
    if tick <= now:
        tick += datetime.timedelta(hours=1)
    offset = int((tick - now).total_seconds() * 1000) - lead * 1000
    monkeypatch.setenv("JOBD_TEST_CRON_OFFSET_MS", str(offset))
    stack = stack_factory(EXPORT_MAX_AGE="2m")
    d = stack.settings.export_dir
    d.mkdir(parents=True, exist_ok=True)
    (d / "old.txt").write_text("x")
    _age(d / "old.txt", 3600)
    (d / "new.txt").write_text("x")
    job_id = "cron:clean_exports:" + tick.strftime("%Y-%m-%dT%H:%M:%SZ")
    with Client(str(stack.socket)) as jc:
        def ended():
            try:
                return jc.get(job_id)["status"] in TERMINAL
            except Exception as exc:   # not_found until the tick
                if getattr(exc, "code", None) != "not_found":
                    raise
                return False
        pyfixtures.wait_until(ended, lead + 60, interval=0.2,
                              msg=f"job {job_id}")
        rec = jc.get(job_id)
        ticks = [j for j in jc.list(type="clean_exports")["jobs"]]
    assert rec["status"] == "finished", rec
    assert rec["queue"] == "low" and rec["type"] == "clean_exports"
    assert rec["result"]["removed"] == 1 and rec["result"]["max_age"] == 120
    assert sorted(p.name for p in d.iterdir()) == ["new.txt"]
    assert [j["job_id"] for j in ticks] == [job_id]
