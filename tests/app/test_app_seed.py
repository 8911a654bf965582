"""One test per behaviour the app's RQ-era documentation states
(docs/background-jobs.md, "Background Job Support"), now on jobd."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time

import pytest
from apphelpers import IDEA, make_settings

import pyfixtures
from storyapp.config import Settings
from storyapp.web import create_app

APP = pyfixtures.APP_DIR
SEED_MESSAGE = ("Story generation started in background. "
                "Use /api/job/<job_id> to check status.")


# "Update your .env file: REDIS_URL=... USE_BACKGROUND_JOBS=true"
def test_env_file_configures_the_app(tmp_path):
    env = tmp_path / ".env"
    env.write_text("USE_BACKGROUND_JOBS=false\nJOBD_SOCKET=/tmp/x.sock\n"
                   "export STORY_DB='%s'\n" % (tmp_path / "s.db"))
    s = Settings.from_env({"STORYAPP_ENV": str(env)})
    assert s.use_background_jobs is False and s.jobd_socket == "/tmp/x.sock"
    assert s.story_db == tmp_path / "s.db"
    s = Settings.from_env({"STORYAPP_ENV": str(env),
                           "USE_BACKGROUND_JOBS": "true"})
    assert s.use_background_jobs is True      # the environment wins


def render(*args: str, **env: str) -> str:
    p = subprocess.run([sys.executable, str(APP / "worker.py"), "--print",
                        *args], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", **env}, timeout=30,
                       cwd=str(APP))
    assert p.returncode == 0, p.stderr
    return p.stdout


# "REDIS_URL=redis://localhost:6379/0" reaches the worker (jobd)
def test_redis_url_reaches_jobd():
    out = render(REDIS_URL="redis://localhost:6379/0")
    assert " -o jobd.redis=redis://localhost:6379/0" in out, out
    # the app's config as it is, overridden, not rewritten
    assert " -c %s " % shlex.quote(str(APP / "jobd.conf")) in out, out


# "python worker.py" / "python worker.py --queue default,high,low"
def test_worker_queue_option():
    assert "jobd.queues" not in render()      # the config's own order
    out = render("--queue", "default,high,low")
    assert " -o 'jobd.queues=default, high, low'" in out, out


# the handlers get the app's variables by env_pass, not by a rewritten
# config; the secret is not printed
def test_worker_passes_the_environment():
    out = render(STORY_DB="/tmp/s.db", LLM_API_KEY="sekrit")
    assert "sekrit" not in out
    passed = out.splitlines()[0].split(":", 1)[1].split()
    assert {"STORY_DB", "LLM_API_KEY", "PYTHONPATH"} <= set(passed), out
    conf = (APP / "jobd.conf").read_text()
    for name in passed:
        assert re.search(r"^env_pass = .*\b%s\b" % name, conf, re.M), name


# "Procfile includes: web: gunicorn -c gunicorn_config.py app:app /
#  worker: python worker.py"
def test_procfile():
    procs = dict(l.split(":", 1) for l in
                 (APP / "Procfile").read_text().splitlines() if l.strip())
    assert procs["web"].strip() == "gunicorn -c gunicorn_config.py app:app"
    assert procs["worker"].strip() == "python3 worker.py"
    p = subprocess.run(["/usr/bin/gunicorn", "--check-config", "-c",
                        "gunicorn_config.py", "app:app"], cwd=str(APP),
                       capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin",
                            "USE_BACKGROUND_JOBS": "false",
                            "STORY_DB": "/tmp/storyapp-seed-test/s.db"})
    assert p.returncode == 0, p.stderr


# "Job Timeouts: 10m for generation, 5m for revision, 2m for export"
# "Failed jobs ... can be retried"; "Queue Priorities: high, default, low";
# "Multiple Workers"
def checked_sections() -> dict:
    """The app's jobd.conf as jobd reads it (jobd --check): every type
    with what it inherits from [types]."""
    why = pyfixtures.missing_tools()
    if why:
        pytest.skip(why)
    p = subprocess.run([str(pyfixtures.find_jobd()), "--check", "-c",
                        str(APP / "jobd.conf")], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    sections: dict = {}
    for line in p.stdout.splitlines()[1:]:
        key, value = line.split(" ; ")[0].split("=", 1)
        section, key = key.strip().rsplit(".", 1)
        sections.setdefault(section, {}).setdefault(key, value.strip())
    return sections


def test_job_types_config():
    s = checked_sections()
    assert s["type:generate_story"]["timeout"] == "600"
    assert s["type:revise_story"]["timeout"] == "300"
    assert s["type:export_story"]["timeout"] == "120"
    assert int(s["type:generate_story"]["retries"]) >= 1
    assert s["jobd"]["queues"] == "high, default, low"
    assert int(s["jobd"]["workers"]) > 1
    assert s["type:revise_story_llm"]["timeout"] == "300"
    for t in ("generate_story", "revise_story", "revise_story_llm",
              "export_story", "export_batch", "export_zip",
              "clean_exports"):
        assert s[f"type:{t}"]["handler"] == "exec"
        assert s[f"type:{t}"]["persistent"] == "yes"


# "If background jobs are disabled ... all operations fall back to
#  synchronous processing (original behavior). The API remains fully
#  functional."
def test_disabled_means_synchronous(tmp_path):
    c = create_app(make_settings(tmp_path)).test_client()
    r = c.post("/api/generate", json=dict(IDEA, background=True))
    assert r.status_code == 201
    sid = r.get_json()["story_id"]
    assert c.post(f"/api/story/{sid}/revise",
                  json={"background": True}).status_code == 200
    assert c.get(f"/api/story/{sid}/export/txt?background=true"
                 ).status_code == 200


# "... or RQ is not available": here, jobd unreachable
def test_unavailable_means_synchronous(tmp_path):
    s = make_settings(tmp_path, USE_BACKGROUND_JOBS="true",
                      JOBD_SOCKET=str(tmp_path / "none.sock"))
    c = create_app(s).test_client()
    assert c.post("/api/generate", json=dict(IDEA, background=True)
                  ).status_code == 201


# --- with the daemon ---------------------------------------------------------

# "include "background": true ... Response (202 Accepted)"
def test_generate_background_202_exact(stack):
    c = stack.app.test_client()
    t = time.monotonic()
    r = c.post("/api/generate", json=dict(IDEA, length=20000,
                                          background=True))
    # "Non-blocking: Web server remains responsive"
    assert time.monotonic() - t < 2.0
    assert r.status_code == 202
    body = r.get_json()
    assert body == {"status": "queued", "job_id": body["job_id"],
                    "message": SEED_MESSAGE}


# "Checking Job Status" response shape, and "Getting Job Result",
# and the status values queued/started/finished.
def test_job_status_and_result(stack):
    c = stack.app.test_client()
    job_id = c.post("/api/generate", json=dict(IDEA, background=True)
                    ).get_json()["job_id"]
    seen = []
    while True:
        j = c.get(f"/api/job/{job_id}").get_json()
        if not seen or seen[-1] != j["status"]:
            seen.append(j["status"])
        if j["status"] == "finished":
            break
        time.sleep(0.05)
    assert set(seen) <= {"queued", "started", "finished"} and \
        "started" in seen
    for k in ("job_id", "status", "created_at", "started_at", "ended_at",
              "result"):
        assert k in j
    assert j["result"]["status"] == "completed"
    assert j["result"]["story_id"].startswith("story_")
    assert isinstance(j["result"]["word_count"], int)
    r = c.get(f"/api/job/{job_id}/result")
    assert r.status_code == 200 and r.get_json()["result"] == j["result"]


# "failed: Job failed with an error"; "Failed jobs ... can be retried"
def test_failed_then_retried(stack):
    from jobclient import Client
    c = stack.app.test_client()
    jc = Client(str(stack.socket))
    job_id = jc.submit("export_story", {"story_id": "story_gone",
                                        "format": "txt"}, retries=0)
    rec = jc.wait(job_id, timeout=30)
    assert rec["status"] == "failed"
    assert c.get(f"/api/job/{job_id}").get_json()["status"] == "failed"
    assert jc.requeue(job_id) == [job_id]
    assert jc.get(job_id)["status"] in ("queued", "started", "failed")
    rec = jc.wait(job_id, timeout=30)
    assert rec["status"] == "failed" and "story_gone" in str(rec["error"])
    jc.close()


# "Background Revisions", "Batch Exports", export "?background=true"
def test_revise_export_batch_background(stack):
    c = stack.app.test_client()
    sid = c.post("/api/generate", json=IDEA).get_json()["story_id"]
    for r in (c.post(f"/api/story/{sid}/revise",
                     json={"background": True, "use_llm": True}),
              c.get(f"/api/story/{sid}/export/html?background=true"),
              c.post("/api/export/batch", json={"story_ids": [sid],
                                                "background": True})):
        assert r.status_code == 202 and r.get_json()["status"] == "queued"


# "Multiple Workers: Run multiple worker processes" -- jobd's prefork pool
def test_multiple_workers(stack):
    from jobclient import Client
    with Client(str(stack.socket)) as jc:
        assert len(jc.stats()["workers"]) == 2


# "python worker.py" really starts the workers
def test_worker_py_starts_jobd(tmp_path):
    why = pyfixtures.missing_tools()
    if why:
        pytest.skip(why)
    tmp = pyfixtures.short_tmpdir("seedworker-")
    redis = pyfixtures.RedisServer(tmp).start()
    sock = tmp / "jobd.sock"
    env = {"PATH": "/usr/bin:/bin", "JOBD": str(pyfixtures.find_jobd()),
           "JOBD_SOCKET": str(sock), "REDIS_URL": redis.url,
           "STORY_DB": str(tmp / "s.db")}
    p = subprocess.Popen([sys.executable, "worker.py", "--queue",
                          "default,high,low", "-w", "1"], cwd=str(APP),
                         env=env, stderr=subprocess.PIPE)
    try:
        pyfixtures.wait_for_socket(sock, proc=p)
        pyfixtures.wait_for_jobd_ready(sock)
        s = make_settings(tmp, USE_BACKGROUND_JOBS="true",
                          JOBD_SOCKET=str(sock), STORY_DB=str(tmp / "s.db"))
        c = create_app(s).test_client()
        job_id = c.post("/api/generate", json=dict(IDEA, background=True)
                        ).get_json()["job_id"]
        deadline = time.monotonic() + 60
        while c.get(f"/api/job/{job_id}").get_json()["status"] != "finished":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        pyfixtures.stop_process(p)
        redis.stop()
