"""test_http_actions.py: the actions of the monitoring server (POST
/api/jobs/<id>/requeue|cancel|delete, /api/queues/<q>/pause|resume|
requeue-failed; docs/monitoring.md, "Actions"): what each does, the
errors they map to, and what refuses them: GET (405), a cross-site
request, [http] read_only, a body over max_body_size."""
import json
import os
import signal
import threading
import time

import pytest

from jobd_itest import wait_until
from test_http import Web

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def post(w, path, headers=None, body=None):
    st, hd, data = w.get(path, method="POST", body=body,
                         headers=headers or {})
    return st, (json.loads(data) if data else None)


def test_actions_do_what_their_ops_do(jobd, workdir):
    w = Web(jobd, workdir, workers=1)
    c = w.d.client()
    failed = [c.submit("jobd.fail") for _ in range(3)]
    for j in failed:
        assert c.wait(j)["status"] == "failed"
    # requeue one failed job
    st, body = post(w, "/api/jobs/%s/requeue" % failed[0], SAME_ORIGIN)
    assert st == 200 and body == {"job_ids": [failed[0]]}, body
    c.wait(failed[0])
    # cancel a scheduled job
    later = c.submit("jobd.noop", delay=3600)
    st, body = post(w, "/api/jobs/%s/cancel" % later)
    assert (st, body) == (200, {"status": "canceled"})
    assert c.status(later) == "canceled"
    # delete an ended one
    st, body = post(w, "/api/jobs/%s/delete" % later)
    assert (st, body) == (200, {})
    assert c.call("get", job_id=later)["error"]["code"] == "not_found"
    # pause and resume a queue
    st, body = post(w, "/api/queues/low/pause")
    assert (st, body) == (200, {})
    held = c.submit("jobd.noop", queue="low")
    st, stats = w.json("/api/stats")
    assert stats["queues"]["low"]["paused"] is True
    assert c.status(held) == "queued"
    st, body = post(w, "/api/queues/low/resume")
    assert (st, body) == (200, {})
    assert c.wait(held)["status"] == "finished"
    # requeue every failed job of a queue
    st, body = post(w, "/api/queues/default/requeue-failed")
    assert st == 200 and sorted(body["job_ids"]) == sorted(failed), body
    c.close()


@pytest.mark.parametrize("path,status,code", [
    ("/api/jobs/j_NOSUCHJOB/requeue", 404, "not_found"),
    ("/api/jobs/j_NOSUCHJOB/cancel", 404, "not_found"),
    ("/api/jobs/j_NOSUCHJOB/delete", 404, "not_found"),
    ("/api/queues/nosuch/pause", 400, "bad_request"),
    ("/api/queues/nosuch/requeue-failed", 400, "bad_request"),
])
def test_action_errors_are_json_with_the_ops_code(jobd, workdir, path,
                                                  status, code):
    w = Web(jobd, workdir)
    st, body = post(w, path)
    assert st == status, body
    assert body["error"]["code"] == code and body["error"]["message"], body


def test_action_conflicts_are_409(jobd, workdir):
    w = Web(jobd, workdir)
    c = w.d.client()
    done = c.submit("jobd.noop")
    c.wait(done)
    queued = c.submit("jobd.noop", delay=3600)
    for path in ("/api/jobs/%s/cancel" % done,       # already ended
                 "/api/jobs/%s/requeue" % done,      # not failed
                 "/api/jobs/%s/delete" % queued):    # not ended
        st, body = post(w, path)
        assert st == 409 and body["error"]["code"] == "conflict", (path,
                                                                  body)
    assert c.status(queued) == "scheduled"
    c.close()


def test_get_on_an_action_path_is_405_and_changes_nothing(jobd, workdir):
    w = Web(jobd, workdir)
    c = w.d.client()
    later = c.submit("jobd.noop", delay=3600)
    for m in ("GET", "HEAD", "PUT", "DELETE"):
        for path in ("/api/jobs/%s/cancel" % later,
                     "/api/jobs/%s/delete" % later,
                     "/api/queues/default/pause"):
            st, hd, data = w.get(path, method=m)
            assert st == 405, (m, path)
            assert hd["Allow"] == "POST"
    assert c.status(later) == "scheduled"
    st, stats = w.json("/api/stats")
    assert stats["queues"]["default"]["paused"] is False
    c.close()


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Sec-Fetch-Site": "none"},
    {"Sec-Fetch-Site": ""},
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://127.0.0.1:1"},
    {"Origin": "ftp://HOST"},
    {"Origin": "http://HOST.evil.example"},
    {"Origin": "http://HOST", "Sec-Fetch-Site": "cross-site"},
])
def test_cross_site_actions_are_refused(jobd, workdir, headers):
    w = Web(jobd, workdir)
    host = "127.0.0.1:%d" % w.port
    headers = {k: v.replace("HOST", host) for k, v in headers.items()}
    c = w.d.client()
    later = c.submit("jobd.noop", delay=3600)
    st, body = post(w, "/api/jobs/%s/cancel" % later, headers)
    assert st == 403, body
    assert body["error"]["code"] == "forbidden" and \
        "cross-site" in body["error"]["message"], body
    st, body = post(w, "/api/queues/default/pause", headers)
    assert st == 403, body
    assert c.status(later) == "scheduled"
    assert w.json("/api/stats")[1]["queues"]["default"]["paused"] is False
    c.close()


def test_same_origin_actions_pass(jobd, workdir):
    """What the dashboard's own fetch() sends passes, as does a script
    that sends neither header."""
    w = Web(jobd, workdir)
    host = "127.0.0.1:%d" % w.port
    for headers in ({"Sec-Fetch-Site": "same-origin",
                     "Origin": "http://" + host},
                    {"Origin": "http://" + host.upper()},
                    {"Origin": "https://" + host},      # behind a TLS proxy
                    {}):
        st, body = post(w, "/api/queues/low/pause", headers)
        assert (st, body) == (200, {}), headers
        st, body = post(w, "/api/queues/low/resume", headers)
        assert (st, body) == (200, {}), headers


def test_read_only_refuses_every_action(jobd, workdir):
    w = Web(jobd, workdir, args=["-o", "http.read_only=yes"])
    c = w.d.client()
    later = c.submit("jobd.noop", delay=3600)
    for path in ("/api/jobs/%s/requeue" % later,
                 "/api/jobs/%s/cancel" % later,
                 "/api/jobs/%s/delete" % later,
                 "/api/queues/default/pause", "/api/queues/default/resume",
                 "/api/queues/default/requeue-failed"):
        st, body = post(w, path, SAME_ORIGIN)
        assert st == 403, path
        assert "read-only" in body["error"]["message"], body
    assert c.status(later) == "scheduled"
    assert w.json("/api/jobs/" + later)[0] == 200      # reads still work
    c.close()


def test_action_body_over_max_body_size_is_413(jobd, workdir):
    w = Web(jobd, workdir, args=["-o", "http.max_body_size=1K"])
    c = w.d.client()
    later = c.submit("jobd.noop", delay=3600)
    st, hd, data = w.get("/api/jobs/%s/cancel" % later, method="POST",
                         body=b"x" * 5000)
    assert st == 413
    assert c.status(later) == "scheduled"
    st, body = post(w, "/api/jobs/%s/cancel" % later, body=b"x" * 500)
    assert (st, body) == (200, {"status": "canceled"})    # under it: read
    c.close()


@pytest.mark.parametrize("path", [
    "/api/jobs//cancel", "/api/jobs/../cancel", "/api/jobs/a/b/cancel",
    "/api/jobs/%2e%2e/cancel", "/api/jobs/a%2fb/cancel",
    "/api/jobs/" + "a" * 129 + "/cancel", "/api/jobs/x%00y/cancel",
    "/api/queues//pause", "/api/queues/default/pause/",
    "/api/queues/default/PAUSE", "/api/queues/default/requeue",
    "/api/queues/default",
])
def test_bad_action_paths_are_404(jobd, workdir, path):
    w = Web(jobd, workdir)
    st, body = post(w, path)
    assert st == 404 and body["error"]["code"] == "not_found", (path, body)


def test_a_slow_cancel_holds_up_no_other_request(jobd, workdir):
    """A cancel of a running job answers when the job has ended (after
    the grace); it has a connection of its own, so reads go on."""
    script = os.path.join(str(workdir), "stubborn.sh")
    ready = os.path.join(str(workdir), "ready")
    with open(script, "w") as f:
        f.write("#!/bin/sh\ntrap '' TERM\ntouch %s\nsleep 60\n" % ready)
    os.chmod(script, 0o755)
    w = Web(jobd, workdir, settings={"grace": 4}, types={
        "stubborn": {"handler": "exec", "command": script}})
    c = w.d.client()
    job = c.submit("stubborn")
    wait_until(lambda: os.path.exists(ready), 20, msg="the job ignoring TERM")
    answer = {}

    def cancel():
        answer["r"] = post(w, "/api/jobs/%s/cancel" % job)
    t = threading.Thread(target=cancel)
    t.start()
    time.sleep(0.5)                     # the cancel is on its way
    st, stats = w.json("/api/stats")
    assert st == 200 and stats["queues"]["default"]["started"] == 1
    assert t.is_alive(), "the cancel answered before the job ended"
    t.join(30)
    assert answer["r"] == (200, {"status": "canceled"}), answer
    c.close()


def test_action_with_redis_stopped_is_in_doubt_502(jobd, workdir,
                                                    redis_server):
    w = Web(jobd, workdir, settings={"redis_timeout": 1})
    pid = redis_server.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        st, body = post(w, "/api/queues/default/pause")
    finally:
        os.kill(pid, signal.SIGCONT)
    assert st == 502 and body["error"]["code"] == "in_doubt", (st, body)
    # then Redis known down: certainly not done, 503
    redis_server.stop()
    wait_until(lambda: w.try_get("/healthz") == 503, 15)
    st, body = post(w, "/api/queues/default/resume")
    assert st == 503 and body["error"]["code"] == "unavailable", (st, body)


@pytest.mark.parametrize("key,val,why", [
    ("read_only", "maybe", ""), ("auth", "digest", "none or basic"),
    ("auth", "", "none or basic"), ("max_streams", "0", ""),
    ("max_streams", "100000", ""), ("stream_buffer", "1K", ""),
    ("stream_buffer", "1G", ""), ("users_file", "relative/users",
                                  "absolute"),
])
def test_bad_new_http_settings_are_refused(key, val, why):
    from jobd_itest import JOBD
    import subprocess
    r = subprocess.run([JOBD, "--check", "-o", "http.%s=%s" % (key, val)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "[http] %s" % key in r.stderr, r.stderr
    assert why in r.stderr, r.stderr
