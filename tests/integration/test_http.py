"""test_http.py: the monitoring server ([http] listen, --http;
docs/monitoring.md): /healthz, /metrics checked by promtool against real
jobs of every outcome, the JSON API, its bounds and attacks, the HTTP
child's supervision, and jobctl health."""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from jobd_itest import RedisServer, free_port, run_jobctl, wait_until

PROMTOOL = shutil.which("promtool")


class Web:
    """Web: a jobd with --http on 127.0.0.1:<free port> (or unix:)."""

    def __init__(self, jobd, workdir, unix=False, settings=None, args=(),
                 **kw):
        if unix:
            self.path = os.path.join(str(workdir), "http.sock")
            addr = "unix:" + self.path
        else:
            self.port = free_port()
            self.path = None
            addr = "127.0.0.1:%d" % self.port
        s = {"accept_any_type": True}
        s.update(settings or {})
        self.d = jobd(settings=s, args=["--http", addr] + list(args), **kw)
        wait_until(lambda: self.http_pid() is not None, 10,
                   msg="the HTTP child")
        wait_until(lambda: self.try_get("/healthz") == 200, 15,
                   msg="/healthz answering 200")

    def conn(self, timeout=10):
        if self.path:
            c = http.client.HTTPConnection("localhost", timeout=timeout)
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(timeout)
            s.connect(self.path)
            c.sock = s
            return c
        return http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)

    def raw(self, timeout=10):
        if self.path:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(timeout)
            s.connect(self.path)
        else:
            s = socket.create_connection(("127.0.0.1", self.port), timeout)
        return s

    def get(self, path, method="GET", body=None, headers=None):
        c = self.conn()
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, dict(r.getheaders()), data
        finally:
            c.close()

    def json(self, path, **kw):
        st, hd, data = self.get(path, **kw)
        return st, json.loads(data) if data else None

    def try_get(self, path):
        try:
            return self.get(path)[0]
        except OSError:
            return None

    def http_pid(self):
        pids = re.findall(r"http: child (\d+) started", self.d.log_text())
        if not pids:
            return None
        pid = int(pids[-1])
        return pid if pid in self.d.workers() else None


def scrape(w):
    st, hd, data = w.get("/metrics")
    assert st == 200, data
    assert hd["Content-Type"].startswith("text/plain; version=0.0.4")
    return data.decode()


def promtool_ok(text):
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr


def value(text, name, **labels):
    """value: the sample of name with exactly these labels, or None."""
    want = ",".join('%s="%s"' % kv for kv in labels.items())
    for line in text.splitlines():
        if line.startswith(name + "{" + want + "}") or \
                (not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    return None


def outcomes(text, queue, type_):
    return {o: value(text, "jobd_jobs_completed_total", queue=queue,
                     type=type_, outcome=o)
            for o in ("finished", "failed", "canceled", "retried", "lost")}


# --- health ---------------------------------------------------------------

def test_healthz_and_jobctl_health_follow_redis(jobd, workdir, redis_server):
    w = Web(jobd, workdir)
    st, body = w.json("/healthz")
    assert (st, body) == (200, {"status": "ok", "redis_mode": "direct",
                                "redis_node": redis_server.sock})
    r = w.d.jobctl("health")
    assert r.returncode == 0, r
    assert r.stdout.strip() == "ok: jobd is up and reaches Redis at %s " \
        "(direct)" % redis_server.sock, r
    redis_server.stop()
    wait_until(lambda: w.try_get("/healthz") == 503, 15,
               msg="/healthz 503 once Redis is gone")
    st, body = w.json("/healthz")
    assert body["status"] == "unavailable" and body["reason"], body
    r = w.d.jobctl("health")
    assert r.returncode == 1 and "unavailable" in r.stderr, r
    # Without Redis /metrics still answers, and says so.
    text = scrape(w)
    assert value(text, "jobd_redis_up") == 0
    redis_server.start()
    wait_until(lambda: w.try_get("/healthz") == 200, 20,
               msg="/healthz 200 once Redis is back")
    assert w.d.jobctl("health").returncode == 0


def test_jobctl_health_without_a_daemon_exits_1(workdir):
    r = run_jobctl("health", sock=os.path.join(str(workdir), "none.sock"))
    assert r.returncode == 1, r


# --- metrics --------------------------------------------------------------

@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian prometheus)")
def test_metrics_count_every_outcome(jobd, workdir):
    w = Web(jobd, workdir, types={
        "flaky": {"handler": "builtin", "builtin": "fail", "retries": 2,
                  "backoff": "0.1"},
        "slow": {"handler": "builtin", "builtin": "sleep", "queue": "low"},
    })
    c = w.d.client()
    ids = [c.submit("jobd.noop") for _ in range(5)]
    ids += [c.submit("jobd.fail") for _ in range(7)]
    ids += [c.submit("flaky")]                    # 2 retries, then failed
    ids += [c.submit("unconfigured.type")]        # counts as "other"
    for j in ids:
        c.wait(j)
    # canceled before running, and while running
    held = [c.submit("jobd.noop", delay=3600) for _ in range(3)]
    for j in held:
        assert c.ok("cancel", job_id=j)["status"] == "canceled"
    running = c.submit("slow", {"seconds": 60})
    wait_until(lambda: c.status(running) == "started", 20)
    c.ok("cancel", job_id=running)
    assert c.wait(running)["status"] == "canceled"
    # lost: its worker SIGKILLed mid-job
    victim = c.submit("slow", {"seconds": 60})
    rec = wait_until(lambda: (lambda r: r if r["status"] == "started"
                              else None)(c.get(victim)), 20)
    os.kill(int(rec["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
    assert c.wait(victim)["status"] == "failed"

    def settled():
        t = scrape(w)
        return t if outcomes(t, "low", "slow")["lost"] == 1 and \
            value(t, "jobd_workers", state="idle") == 2 else None
    text = wait_until(settled, 20, msg="the lost attempt counted")
    promtool_ok(text)
    assert outcomes(text, "default", "jobd.noop") == {
        "finished": 5, "failed": 0, "canceled": 3, "retried": 0, "lost": 0}
    assert outcomes(text, "default", "jobd.fail")["failed"] == 7
    assert outcomes(text, "default", "flaky") == {
        "finished": 0, "failed": 1, "canceled": 0, "retried": 2, "lost": 0}
    assert outcomes(text, "low", "slow") == {
        "finished": 0, "failed": 0, "canceled": 1, "retried": 0, "lost": 1}
    assert outcomes(text, "default", "other")["failed"] == 1
    assert "unconfigured.type" not in text       # bounded labels
    assert value(text, "jobd_jobs_submitted_total", queue="default",
                 type="jobd.noop") == 8
    assert value(text, "jobd_jobs_submitted_total", queue="default",
                 type="jobd.fail") == 7
    # histograms: one observation per attempt run
    assert value(text, "jobd_job_duration_seconds_count", queue="default",
                 type="jobd.fail") == 7
    assert value(text, "jobd_job_duration_seconds_bucket", queue="default",
                 type="flaky", le="+Inf") == 3
    assert value(text, "jobd_job_wait_seconds_count", queue="default",
                 type="jobd.noop") == 5
    assert value(text, "jobd_queue_jobs", queue="default",
                 status="failed") == 9
    assert value(text, "jobd_queue_paused", queue="low") == 0
    assert value(text, "jobd_workers", state="idle") + \
        value(text, "jobd_workers", state="busy") == 2
    assert value(text, "jobd_redis_up") == 1
    # which Redis this daemon uses, and its failovers (none: one server)
    assert value(text, "jobd_redis_info", mode="direct",
                 node=w.d.redis.sock) == 1
    assert value(text, "jobd_redis_failovers_total") == 0
    assert value(text, "jobd_build_info", version=re.search(
        r'jobd_build_info\{version="([^"]+)"', text).group(1)) == 1
    # no job ids, payloads or pids in labels
    assert "j_" not in text and "pid" not in text
    c.close()


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian prometheus)")
def test_counters_survive_worker_respawns(jobd, workdir):
    w = Web(jobd, workdir)
    c = w.d.client()
    for j in [c.submit("jobd.noop") for _ in range(6)]:
        c.wait(j)
    before = outcomes(scrape(w), "default", "jobd.noop")
    assert before["finished"] == 6
    workers = [p for p in w.d.workers() if p != w.http_pid()]
    for p in workers:
        os.kill(p, signal.SIGKILL)
    wait_until(lambda: (lambda ps: len(ps) == 3 and not set(ps) & set(workers))
               (w.d.workers()), 20, msg="respawned workers")
    text = scrape(w)
    promtool_ok(text)
    assert outcomes(text, "default", "jobd.noop") == before
    for j in [c.submit("jobd.noop") for _ in range(2)]:
        c.wait(j)
    assert outcomes(scrape(w), "default", "jobd.noop")["finished"] == 8
    c.close()


# A socket path is the config's text: a hostile one is a label value
# escaped as the text format wants, JSON text in the API, and terminal-safe
# text from jobctl.
NODE_DIR = '<img src=x onerror="alert(1)"> \u00e9\\q}{,x="y'


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian prometheus)")
def test_a_hostile_redis_node_is_escaped(jobd, workdir):
    d = os.path.join(str(workdir), NODE_DIR)
    os.mkdir(d)
    red = RedisServer(d).start()
    try:
        w = Web(jobd, workdir, redis=red)
        text = scrape(w)
        promtool_ok(text)
        esc = red.sock.replace("\\", "\\\\").replace('"', '\\"')
        line = 'jobd_redis_info{mode="direct",node="%s"} 1' % esc
        assert line in text.splitlines(), text
        st, body = w.json("/healthz")
        assert st == 200 and body["redis_node"] == red.sock, body
        c = w.d.client()
        assert c.ok("metrics")["redis_node"] == red.sock
        me = c.ok("stats")["this_daemon"]
        assert me["redis_node"] == red.sock and me["redis_failovers"] == 0
        c.close()
        r = w.d.jobctl("stats")
        assert r.returncode == 0 and "  redis: direct %s, 0 failover(s)" % \
            red.sock in r.stdout, r
    finally:
        red.stop()


def test_stats_name_this_daemon_and_its_redis(jobd, workdir, redis_server):
    w = Web(jobd, workdir)
    c = w.d.client()
    me = c.ok("stats")["this_daemon"]
    assert me == {"daemon": "%s:%d" % (socket.gethostname(), w.d.pid),
                  "redis_mode": "direct", "redis_node": redis_server.sock,
                  "redis_failovers": 0}, me
    # the daemons list (heartbeats) names the same id
    wait_until(lambda: me["daemon"] in [d["daemon"] for d in
               c.ok("stats")["daemons"]], 15, msg="this daemon's heartbeat")
    m = c.ok("metrics")
    assert (m["redis_mode"], m["redis_node"], m["redis_failovers"]) == \
        ("direct", redis_server.sock, 0)
    st, body = w.json("/api/stats")
    assert st == 200 and body["this_daemon"] == me, body
    r = w.d.jobctl("stats")
    assert "  redis: direct %s, 0 failover(s)" % redis_server.sock \
        in r.stdout, r
    c.close()


def test_oldest_queued_age_and_paused(jobd, workdir):
    w = Web(jobd, workdir, workers=1)
    c = w.d.client()
    c.ok("pause", queue="low")
    c.submit("jobd.noop", queue="low")
    time.sleep(1.2)
    text = scrape(w)
    assert value(text, "jobd_queue_paused", queue="low") == 1
    assert value(text, "jobd_queue_oldest_job_age_seconds", queue="low") >= 1.0
    assert value(text, "jobd_queue_jobs", queue="low", status="queued") == 1
    st, body = w.json("/api/stats")
    assert body["queues"]["low"]["oldest_queued_age"] >= 1.0
    c.ok("resume", queue="low")
    c.close()


# --- the JSON API ------------------------------------------------------------

def test_api_stats_jobs_and_job(jobd, workdir):
    w = Web(jobd, workdir, unix=True)
    c = w.d.client()
    ids = [c.submit("jobd.echo", {"i": i}) for i in range(25)]
    for j in ids:
        c.wait(j)
    st, body = w.json("/api/stats")
    assert st == 200 and body["queues"]["default"]["finished"] == 25
    assert "ok" not in body
    st, body = w.json("/api/jobs?status=finished&limit=10&offset=20")
    assert st == 200 and body["total"] == 25 and len(body["jobs"]) == 5
    st, body = w.json("/api/jobs?queue=default&type=jobd.echo&limit=1")
    assert st == 200 and body["total"] == 25 and len(body["jobs"]) == 1
    st, body = w.json("/api/jobs/" + ids[3])
    assert st == 200 and body["job"]["result"] == {"i": 3}
    st, body = w.json("/api/jobs/j_NOSUCHJOB")
    assert st == 404 and body["error"]["code"] == "not_found"
    st, hd, data = w.get("/api/stats", method="HEAD")
    assert st == 200 and data == b""
    c.close()


def test_api_batches_cron_and_limits(jobd, workdir):
    w = Web(jobd, workdir, unix=True,
            args=["-o", "limit:llm.concurrency=2", "-o", "limit:llm.rate=10/s",
                  "-o", "cron:nightly.schedule=@daily",
                  "-o", "cron:nightly.type=jobd.noop"])
    c = w.d.client()
    b = c.ok("batch_open", description="d")["batch_id"]
    c.submit("jobd.echo", {}, batch_id=b)
    c.ok("batch_seal", batch_id=b)
    c.ok("wait", job_id=b, timeout=30)
    st, body = w.json("/api/batches/" + b)
    assert st == 200 and body["status"] == "finished" and body["total"] == 1
    assert body["counts"]["finished"] == 1
    st, body = w.json("/api/batches/b_NOSUCH")
    assert st == 404 and body["error"]["code"] == "not_found"
    st, body = w.json("/api/batches/" + "x" * 200)
    assert st in (400, 404) and body["error"]["code"] in ("bad_request",
                                                          "not_found")
    st, body = w.json("/api/cron")
    assert st == 200 and [s["name"] for s in body["schedules"]] == ["nightly"]
    assert body["schedules"][0]["schedule"] == "@daily"
    st, body = w.json("/api/limits")
    assert st == 200 and body["limits"]["llm"]["concurrency"] == 2
    assert body["limits"]["llm"]["rate"] == "10/s"
    for path in ("/api/cron", "/api/limits", "/api/batches/" + b):
        st, hd, data = w.get(path, method="POST")
        assert st == 405, path
    c.close()


@pytest.mark.parametrize("query,why", [
    ("limit=0", "limit"),
    ("limit=1001", "limit"),
    ("limit=-1", "limit"),
    ("limit=abc", "limit"),
    ("offset=9999999999", "offset"),
    ("status=bogus", "status"),
    ("queue=no%20such", "queue"),
    ("type=a%20b", "type"),
    ("color=red", "unknown parameter"),
    ("limit=1&limit=2", "twice"),
])
def test_api_bad_params_get_400_json(jobd, workdir, query, why):
    w = Web(jobd, workdir)
    st, body = w.json("/api/jobs?" + query)
    assert st == 400, body
    assert body["error"]["code"] == "bad_request" and why in \
        body["error"]["message"], body


def test_methods_and_unknown_paths(jobd, workdir):
    w = Web(jobd, workdir)
    for m in ("POST", "PUT", "DELETE", "PATCH"):
        st, hd, data = w.get("/api/stats", method=m, body=b"{}")
        assert st == 405 and json.loads(data)["error"]["code"] == \
            "method_not_allowed"
        assert hd["Allow"] == "GET, HEAD"
    for path in ("/api", "/api/", "/api/jobs/", "/api/jobs/a/b",
                 "/api/jobs/..", "/api/jobs/%2e%2e", "/../etc/passwd",
                 "/api/jobs/..%2f..%2fetc", "//api/stats", "/metrics/",
                 "/api/jobs/x%00y", "/healthz?x=1/../"):
        st, hd, data = w.get(path)
        if path.startswith("/healthz"):
            assert st == 200
            continue
        assert st == 404, path
        assert json.loads(data)["error"]["code"] == "not_found", path


# --- the dashboard's files ----------------------------------------------------

PAGE_FILES = {
    "/": "text/html; charset=utf-8",
    "/dashboard.js": "text/javascript; charset=utf-8",
    "/dashboard.css": "text/css; charset=utf-8",
    "/favicon.svg": "image/svg+xml",
}


def test_dashboard_files_with_their_headers(jobd, workdir):
    w = Web(jobd, workdir)
    bodies = {}
    for path, ctype in PAGE_FILES.items():
        st, hd, data = w.get(path)
        assert st == 200 and hd["Content-Type"] == ctype, (path, st, hd)
        csp = hd["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe" not in csp and "data:" not in csp, csp
        assert hd["X-Content-Type-Options"] == "nosniff"
        assert hd["X-Frame-Options"] == "DENY"
        assert hd["Cache-Control"] == "no-cache"
        assert len(data) > 100 and int(hd["Content-Length"]) == len(data)
        # Revalidation: the same ETag gets 304 and no body; another, all.
        etag = hd["ETag"]
        assert re.fullmatch(r'"[0-9a-f]{16}"', etag), etag
        st, hd2, data2 = w.get(path, headers={"If-None-Match": etag})
        assert (st, data2, hd2["ETag"]) == (304, b"", etag), path
        st, _, data3 = w.get(path, headers={"If-None-Match": '"0000000000000000"'})
        assert st == 200 and data3 == data
        st, _, data4 = w.get(path, method="HEAD")
        assert st == 200 and data4 == b""
        bodies[path] = data.decode()
    html, js = bodies["/"], bodies["/dashboard.js"]
    # One script, its own file; no inline script, style or handler; nothing
    # from another origin.
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/dashboard.js" defer>']
    assert "<style" not in html and not re.search(r"\s(style|on[a-z]+)=", html)
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "innerHTML" not in js and "eval(" not in js and "document.write" not in js
    assert "new EventSource('/events')" in js


def test_dashboard_paths_and_methods_attacked(jobd, workdir):
    w = Web(jobd, workdir)
    _, _, page = w.get("/")
    # A query is ignored, never reflected.
    st, _, data = w.get("/?q=%3Cscript%3Ealert(1)%3C/script%3E&x=" + "y" * 2000)
    assert st == 200 and data == page
    for path in ("/index.html", "/dashboard.js/", "/dashboard.js%00",
                 "/web/dashboard.js", "/../dashboard.js", "/./dashboard.js",
                 "/DASHBOARD.JS", "/dashboard.js.map", "//", "/favicon.ico",
                 "/daemon/web/index.html"):
        st, hd, data = w.get(path)
        assert st == 404 and json.loads(data)["error"]["code"] == "not_found", path
        assert "Content-Security-Policy" not in hd
    for m in ("POST", "PUT", "DELETE"):
        for path in ("/", "/dashboard.js"):
            st, hd, data = w.get(path, method=m, body=b"x=1")
            assert st == 405 and hd["Allow"] == "GET, HEAD", (m, path)


# --- bounds and attacks -----------------------------------------------------

def _answer(w, data):
    s = w.raw()
    try:
        s.sendall(data)
        return s.recv(4096)
    except (ConnectionResetError, BrokenPipeError):
        return b""
    finally:
        s.close()


def test_oversized_headers_and_body(jobd, workdir):
    w = Web(jobd, workdir)
    head = _answer(w, b"GET /api/stats HTTP/1.1\r\nHost: x\r\nX-Big: " +
                   b"a" * 20000 + b"\r\n\r\n")
    assert head == b"" or re.match(rb"HTTP/1.1 4(00|13|31)", head), head[:80]
    head = _answer(w, b"POST /api/stats HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Length: 100000000\r\n\r\n" + b"x" * 70000)
    assert head == b"" or head.startswith(b"HTTP/1.1 413"), head[:80]
    # a body under the bound reaches the route (405 here)
    st, hd, data = w.get("/api/stats", method="POST", body=b"x" * 1000)
    assert st == 405
    assert w.try_get("/healthz") == 200


def test_slowloris_is_closed_after_request_timeout(jobd, workdir):
    w = Web(jobd, workdir, args=["-o", "http.request_timeout=1"])
    s = w.raw()
    s.sendall(b"GET /api/stats HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    t0 = time.monotonic()
    s.settimeout(10)
    try:
        data = s.recv(4096)
    except ConnectionResetError:
        data = b""
    took = time.monotonic() - t0
    assert took < 5, took
    assert data == b"" or data.startswith(b"HTTP/1.1 4"), data
    s.close()
    assert w.try_get("/healthz") == 200


def test_connection_cap(jobd, workdir):
    port = free_port()
    d = jobd(settings={"accept_any_type": True},
             args=["--http", "127.0.0.1:%d" % port, "-o",
                   "http.max_connections=4", "-o",
                   "http.request_timeout=30"])
    wait_until(lambda: _status(port, "/healthz") == 200, 15)
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
    for s in held:                  # accepted and idle
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
    extra = socket.create_connection(("127.0.0.1", port), 10)
    extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    extra.settimeout(1.5)
    with pytest.raises(socket.timeout):
        extra.recv(4096)            # waits: over the cap
    held.pop().close()
    extra.settimeout(10)
    assert extra.recv(4096).startswith(b"HTTP/1.1 200")
    for s in held + [extra]:
        s.close()
    # The master kept serving protocol clients throughout.
    assert d.jobctl("ping").returncode == 0


def _status(port, path):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", path)
        st = c.getresponse().status
        c.close()
        return st
    except OSError:
        return None


def test_killed_http_child_is_respawned(jobd, workdir):
    w = Web(jobd, workdir)
    old = w.http_pid()
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: w.http_pid() not in (None, old), 15,
               msg="a new HTTP child")
    wait_until(lambda: w.try_get("/healthz") == 200, 15)
    assert w.d.jobctl("ping").returncode == 0
    with w.d.client() as c:
        assert c.wait(c.submit("jobd.noop"))["status"] == "finished"
    assert "http: child" in w.d.log_text()


def test_stopped_http_child_does_not_stall_the_master(jobd, workdir):
    w = Web(jobd, workdir)
    pid = w.http_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        with w.d.client() as c:
            assert c.wait(c.submit("jobd.noop"))["status"] == "finished"
            assert c.ok("health")
    finally:
        os.kill(pid, signal.SIGCONT)
    assert w.try_get("/healthz") == 200


def test_reload_restarts_the_http_child_with_new_limits(jobd, workdir):
    w = Web(jobd, workdir)
    old = w.http_pid()
    w.d.write_config(http={"request_timeout": 1})
    w.d.signal(signal.SIGHUP)
    wait_until(lambda: w.http_pid() not in (None, old), 15,
               msg="the HTTP child started again")
    wait_until(lambda: w.try_get("/healthz") == 200, 15)
    s = w.raw()
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    t0 = time.monotonic()
    s.settimeout(10)
    try:
        s.recv(4096)
    except ConnectionResetError:
        pass
    assert time.monotonic() - t0 < 5      # the new 1 s, not 10 s
    s.close()


def test_sigterm_stops_the_http_child(jobd, workdir):
    from jobd_itest import pid_alive
    w = Web(jobd, workdir, unix=True)
    pid = w.http_pid()
    assert w.d.stop() == 0
    w.d.expect_exit = 0
    assert not pid_alive(pid)
    assert not os.path.exists(w.path)    # its socket file removed


# --- the setting ------------------------------------------------------------

@pytest.mark.parametrize("addr,why", [
    ("9181", "HOST:PORT"),
    ("127.0.0.1", "HOST:PORT"),
    ("127.0.0.1:0", "port"),
    ("127.0.0.1:65536", "port"),
    ("127.0.0.1:http", "port"),
    (":9181", "missing host"),
    ("::1:9181", "brackets"),
    ("[::1]9181", "[IPv6]:PORT"),
    ("unix:relative.sock", "absolute"),
    ("unix:/" + "a" * 200, "longer"),
    ("bad host!:80", "bad character"),
])
def test_bad_listen_addresses_are_refused(workdir, addr, why):
    from jobd_itest import JOBD
    r = subprocess.run([JOBD, "--check", "--http", addr],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "[http] listen" in r.stderr and why in r.stderr, r.stderr


@pytest.mark.parametrize("key,val", [
    ("max_connections", "0"), ("max_connections", "5000"),
    ("max_header_size", "10"), ("max_header_size", "2G"),
    ("max_body_size", "-1"), ("request_timeout", "0"),
    ("request_timeout", "2h"), ("request_timeout", "soon"),
])
def test_bad_http_settings_are_refused(key, val):
    from jobd_itest import JOBD
    r = subprocess.run([JOBD, "--check", "-o", "http.%s=%s" % (key, val)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "[http] %s" % key in r.stderr, r.stderr


def test_address_in_use_fails_the_start(jobd, workdir):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    d = jobd(args=["--http", "127.0.0.1:%d" % port], wait=False)
    assert d.proc.wait(20) == 1
    d.expect_exit = 1
    assert "http: bind 127.0.0.1:%d" % port in d.log_text()
    s.close()


def test_non_loopback_address_is_served_with_a_warning(jobd, workdir):
    port = free_port()
    d = jobd(args=["--http", "0.0.0.0:%d" % port])
    wait_until(lambda: _status(port, "/healthz") == 200, 15)
    assert "not a loopback address" in d.log_text()


def test_socket_from_systemd_is_used_and_nonblocking(jobd, workdir):
    """LISTEN_FDS: the socket systemd made (here: this test) is served."""
    from jobd_itest import JOBD
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(16)
    port = lst.getsockname()[1]
    d = jobd()
    d.stop()
    d.expect_exit = 0
    # a shell that puts the socket on fd 3 and sets LISTEN_PID to the
    # jobd it execs
    log = open(d.log, "ab")
    fd = lst.fileno()
    p = subprocess.Popen(
        ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" -f -c "$1" '
         '--http 127.0.0.1:1', JOBD, d.conf],
        preexec_fn=lambda: os.dup2(fd, 3), pass_fds=(3,), stdout=log,
        stderr=log, env=dict(os.environ, LISTEN_FDNAMES="http"))
    try:
        lst.close()
        wait_until(lambda: _status(port, "/healthz") == 200, 20,
                   msg="/healthz on the inherited socket")
        assert "socket passed by systemd" in d.log_text()
        # several clients at once: a blocking socket would stall accept
        socks = [socket.create_connection(("127.0.0.1", port))
                 for _ in range(5)]
        assert _status(port, "/api/stats") == 200
        for s in socks:
            s.close()
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 0


# --- contrib ------------------------------------------------------------

CONTRIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                       "contrib")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian prometheus)")
def test_contrib_alert_rules_pass_promtool():
    p = subprocess.run([PROMTOOL, "check", "rules",
                        os.path.join(CONTRIB, "prometheus", "jobd-alerts.yml")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "6 rules found" in p.stdout


def test_contrib_grafana_dashboard_uses_real_metrics():
    with open(os.path.join(CONTRIB, "grafana", "jobd.json")) as f:
        dash = json.load(f)
    names = set(re.findall(r"jobd_[a-z_]+", json.dumps(dash)))
    known = {"jobd_jobs_submitted_total", "jobd_jobs_completed_total",
             "jobd_job_duration_seconds_bucket", "jobd_job_wait_seconds_bucket",
             "jobd_queue_jobs", "jobd_queue_oldest_job_age_seconds",
             "jobd_queue_paused", "jobd_workers", "jobd_redis_up",
             "jobd_client_connections", "jobd_build_info"}
    assert names and names <= known, names - known
