"""test_dashboard.py: the dashboard (GET /, docs/monitoring.md) in a real
browser against a real jobd: what a user sees after real jobs, live
updates through /events without a reload, paging through 10,000 jobs, a
job's page found by id and by a click, actions with their confirmations
and refusals, a cross-site POST refused, hostile text shown as text, the
disconnected state, a narrow window and the dark scheme."""
import base64
import json
import os
import signal
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pyfixtures import (PYTHON3, RedisServer, run_jobctl, wait_until,
                        write_script)

# An exec handler that fails its first run and succeeds once requeued: it
# leaves a marker file beside itself the first time.
FLAKY = """#!%s
import json, os, sys
rec = json.load(sys.stdin)
marker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ran-" + rec["job_id"])
if not os.path.exists(marker):
    open(marker, "w").close()
    sys.stderr.write("first attempt fails on purpose\\n")
    sys.exit(1)
print(json.dumps({"attempt": int(os.environ["JOBD_ATTEMPT"]), "ok": True}))
""" % PYTHON3


def total(b, status):
    return b.text('#totals [data-status="%s"] .n' % status)


def cell(b, queue, col):
    return b.text('#queues tr[data-queue="%s"] [data-col="%s"]' % (queue, col))


def severe(entries):
    return [e["message"] for e in entries if e.get("level") == "SEVERE"]


# --- loading, counts, live -------------------------------------------------

def test_page_loads_without_console_errors(dash, browser):
    w = dash()
    st, hd, body = w.request("GET", "/")
    assert st == 200 and hd["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in hd["Content-Security-Policy"]
    assert hd["X-Content-Type-Options"] == "nosniff"
    browser.get(w.url + "/")
    browser.live()
    browser.wait_text('#totals [data-status="queued"] .n', "0")
    browser.wait(lambda: browser.finds("#queues tr[data-queue]"), msg="queue rows")
    assert [e.get_attribute("data-queue") for e in
            browser.finds("#queues tr[data-queue]")] == ["high", "default", "low"]
    browser.wait_text("#job-list .empty", "No jobs.")
    # The job page and the failed registry load clean too.
    jid = w.c.submit("jobd.echo", {"a": 1})
    w.c.wait(jid)
    browser.get(w.url + "/#/job/" + jid)
    browser.wait_text("#job-status", "finished")
    browser.get(w.url + "/#/failed")
    browser.wait_text("#job-list .empty", "No failed jobs.")
    assert severe(browser.logs()) == []
    # Nothing but its own files, from its own origin.
    names = browser.js("return performance.getEntriesByType('resource')"
                       ".map(function (e) { return e.name; });")
    assert all(n.startswith(w.url + "/") for n in names), names
    for f in ("/dashboard.js", "/dashboard.css", "/favicon.svg"):
        assert w.url + f in names, names


def test_shows_the_counts_of_real_jobs(dash, browser):
    w = dash(workers=2)
    c = w.c
    for i in range(3):
        c.wait(c.submit("jobd.echo", {"n": i}))
    failed = [c.submit("jobd.fail", {"why": "demo"}, queue="high", retries=0)
              for _ in range(2)]
    for j in failed:
        c.wait(j)
    c.ok("pause", queue="low")
    low = [c.submit("jobd.noop", queue="low") for _ in range(4)]
    c.submit("jobd.noop", delay=3600)
    running = c.submit("jobd.sleep", {"seconds": 60})
    wait_until(lambda: c.status(running) == "started", 15)

    browser.get(w.url + "/")
    browser.live()
    want = {"queued": "4", "scheduled": "1", "started": "1", "finished": "3",
            "failed": "2", "canceled": "0"}
    for st, n in want.items():
        browser.wait_text('#totals [data-status="%s"] .n' % st, n)
    assert cell(browser, "high", "failed") == "2"
    assert cell(browser, "default", "finished") == "3"
    assert cell(browser, "low", "queued") == "4"
    assert cell(browser, "low", "state") == "paused"
    assert cell(browser, "default", "state") == "running"
    assert cell(browser, "high", "oldest") == "-"
    assert "s" in cell(browser, "low", "oldest")      # "2s", "1m 3s"
    assert browser.text("#failed-badge") == "2"
    # The workers: this daemon's two, one running the sleep (the
    # scoreboard tells within a tick).
    def workers():
        rows = browser.finds("#workers tbody tr")
        texts = [r.text for r in rows]
        if any("busy" in t and running in t for t in texts) and \
                any("idle" in t for t in texts):
            return rows
    rows = browser.wait(workers, msg="a busy worker running %s and an idle one" % running)
    assert len(rows) == 2
    pids = sorted(int(r.get_attribute("data-pid")) for r in rows)
    assert pids == sorted(p for p in w.d.workers() if p != w.http_pid())
    # The daemons: this one, the types it serves and the Redis it uses.
    me = '#daemons tr[data-daemon="%s:%d"]' % (socket.gethostname(), w.d.pid)
    browser.wait(lambda: browser.finds(me), msg="this daemon's row")
    assert "(this one)" in browser.text(me)
    assert "jobd.echo" in browser.text(me + ' [data-col="serves"]')
    assert browser.text(me + ' [data-col="redis-mode"]') == "direct"
    assert browser.text(me + ' [data-col="redis-node"]') == w.d.redis.sock
    assert browser.text(me + ' [data-col="failovers"]') == "0"
    # The list: every job, newest activity first, a row per job.
    browser.wait_text("#total", "11")
    ids = [r.get_attribute("data-job") for r in browser.finds("#job-list tr[data-job]")]
    assert set(failed + low + [running]) <= set(ids) and len(ids) == 11
    # A count is a link to its list.
    browser.click('#queues tr[data-queue="low"] [data-col="queued"] a')
    browser.wait_text("#total", "4")
    assert sorted(r.get_attribute("data-job") for r in
                  browser.finds("#job-list tr[data-job]")) == sorted(low)
    browser.get(w.url + "/")
    browser.wait_text("#total", "11")
    browser.screenshot("dashboard-overview.png")
    assert severe(browser.logs()) == []


def test_updates_live_when_a_job_ends(dash, browser):
    w = dash()
    browser.get(w.url + "/")
    browser.live()
    browser.wait_text('#totals [data-status="finished"] .n', "0")
    browser.js("window.__sameDocument = 42;")
    jid = w.c.submit("jobd.sleep", {"seconds": 2})
    browser.wait_text('#totals [data-status="started"] .n', "1")
    browser.wait(lambda: browser.text('#job-list tr[data-job="%s"] .st' % jid) == "started",
                 msg="the list to show the job started")
    browser.wait_text('#totals [data-status="finished"] .n', "1", timeout=30)
    browser.wait_text('#totals [data-status="started"] .n', "0")
    assert cell(browser, "default", "finished") == "1"
    browser.wait(lambda: browser.text('#job-list tr[data-job="%s"] .st' % jid) == "finished",
                 msg="the list to show the job finished")
    # The same document all along: no reload.
    assert browser.js("return window.__sameDocument;") == 42


def test_disconnected_when_the_stream_drops(dash, browser):
    w = dash()
    browser.get(w.url + "/")
    browser.live()
    assert browser.find("#offline").get_attribute("hidden") is not None
    pid = wait_until(w.http_pid, 10, msg="the HTTP child")
    os.kill(pid, signal.SIGKILL)
    browser.wait(lambda: browser.js(
        "return document.getElementById('conn').dataset.state === 'disconnected'"
        " && !document.getElementById('offline').hidden;"),
        msg="the page to say it is disconnected")
    assert "disconnected" in browser.text("#conn")
    # The master starts another child; the page finds it again by itself.
    wait_until(lambda: w.http_pid() not in (None, pid), 20, msg="a new HTTP child")
    browser.live(timeout=40)
    assert browser.find("#offline").get_attribute("hidden") is not None
    w.c.wait(w.c.submit("jobd.noop"))
    browser.wait_text('#totals [data-status="finished"] .n', "1")


# --- paging -------------------------------------------------------------------

def test_pages_through_10000_jobs(dash, browser):
    w = dash()
    w.c.ok("pause", queue="low")
    ids = w.submit_many([{"type": "jobd.noop", "queue": "low", "payload": {"i": i}}
                         for i in range(10000)])
    assert len(ids) == 10000
    browser.get(w.url + "/#/?status=queued&queue=low&limit=100")
    browser.live()
    browser.wait_text("#total", "10,000")
    browser.wait_text('#totals [data-status="queued"] .n', "10,000")
    assert browser.text("#range") == "1\u2013100"
    assert browser.text("#pages") == "100"
    assert len(browser.finds("#job-list tr[data-job]")) == 100

    def page_ids():
        return [r.get_attribute("data-job") for r in browser.finds("#job-list tr[data-job]")]

    def api_ids(offset, limit=100):
        return [j["job_id"] for j in w.api(
            "/api/jobs?status=queued&queue=low&offset=%d&limit=%d" % (offset, limit))["jobs"]]

    assert page_ids() == api_ids(0)
    browser.click("#pager .last")
    browser.wait_text("#range", "9,901\u201310,000")
    assert browser.text("#page") == "100"
    assert page_ids() == api_ids(9900)
    assert browser.find("#pager .next").get_attribute("disabled") is not None
    assert set(page_ids()) <= set(ids)
    browser.click("#pager .prev")
    browser.wait_text("#range", "9,801\u20139,900")
    assert page_ids() == api_ids(9800)
    browser.click("#pager .first")
    browser.wait_text("#range", "1\u2013100")
    browser.click("#pager .next")
    browser.wait_text("#range", "101\u2013200")
    assert page_ids() == api_ids(100)
    # The page size: 500 a page, 20 pages; the URL keeps the place.
    browser.js("var s = document.getElementById('f-limit'); s.value = '500';"
               "s.dispatchEvent(new Event('change'));")
    browser.wait_text("#pages", "20")
    assert browser.text("#range") == "1\u2013500"
    assert "limit=500" in browser.js("return location.hash;")
    browser.click("#pager .last")
    browser.wait_text("#range", "9,501\u201310,000")
    assert len(browser.finds("#job-list tr[data-job]")) == 500
    # Without filters the total counts every job.
    browser.get(w.url + "/#/?limit=20")
    browser.wait_text("#total", "10,000")
    assert browser.text("#pages") == "500"
    assert severe(browser.logs()) == []


# --- a job's page ------------------------------------------------------------

HOSTILE = "<img src=x onerror=\"window.__pwned=1\"><script>window.__pwned=2</script>"


def test_opens_a_job_by_id_and_by_click(dash, browser):
    w = dash()
    jid = w.c.submit("jobd.echo", {"html": HOSTILE, "n": 7}, job_id="story-42.export:v1")
    assert w.c.wait(jid)["status"] == "finished"
    browser.get(w.url + "/")
    browser.live()
    # By id, in the search box.
    browser.find("#search-id").send_keys(jid + "\n")
    browser.wait_text("#job-status", "finished")
    assert browser.text("#job-id") == jid
    assert json.loads(browser.text("#job-payload")) == {"html": HOSTILE, "n": 7}
    assert json.loads(browser.text("#job-result")) == {"html": HOSTILE, "n": 7}
    assert "1 of " in browser.text("#job-attempts")
    # Untrusted text stays text.
    assert browser.finds("#job img, #job script") == []
    assert browser.js("return window.__pwned;") is None
    # By a click in the list.
    browser.get(w.url + "/")
    browser.wait(lambda: browser.finds('#job-list tr[data-job="%s"] a' % jid), msg="the row")
    browser.click('#job-list tr[data-job="%s"] a' % jid)
    browser.wait_text("#job-id", jid)
    assert browser.js("return location.hash;") == "#/job/" + jid
    # An id that names no job, and text that is no id.
    browser.find("#search-id").send_keys("j_nosuchjob\n")
    browser.wait(lambda: "No job with the id" in (browser.text("#job-error") or ""),
                 msg="the not-found message")
    browser.logs()      # the 404 of /api/jobs/j_nosuchjob is expected
    browser.find("#search-id").send_keys("<b>x</b>\n")
    browser.wait(lambda: "Not a job id" in (browser.text("#toast-text") or ""),
                 msg="the bad-id message")
    assert browser.finds("#toast b") == []


def test_workflows_deferred_jobs_batches_cron_and_limits(dash, browser):
    w = dash(types={"gated": {"handler": "builtin", "builtin": "sleep",
                              "limit": "gate"}},
             extra=["-o", "limit:gate.concurrency=1",
                    "-o", "cron:tidy.schedule=0 3 * * *",
                    "-o", "cron:tidy.type=jobd.noop"])
    parent = w.c.submit("gated", {"seconds": 60})
    child = w.c.submit("jobd.noop", depends_on=[parent])
    parked = w.c.submit("gated", {"seconds": 0})
    b = w.c.ok("batch_open", description="two echoes",
               callback={"type": "jobd.noop"})["batch_id"]
    for i in range(2):
        w.c.submit("jobd.echo", {"i": i}, batch_id=b)
    w.c.ok("batch_seal", batch_id=b)
    assert w.c.ok("wait", job_id=b, timeout=30).get("timed_out") is not True
    # a deferred job: its status, what it waits for, counted in the totals
    browser.get(w.url + "/")
    browser.live()
    browser.wait(lambda: total(browser, "deferred") == "1", msg="1 deferred")
    browser.get(w.url + "/#/job/" + child)
    browser.wait_text("#job-status", "deferred")
    assert parent in browser.text("#job-waiting")
    browser.click("#job-waiting a")
    browser.wait_text("#job-id", parent)
    # a batch with its progress and its callback
    browser.get(w.url + "/#/batch/" + b)
    browser.wait_text("#batch-status", "finished")
    assert "2 of 2 ended" in browser.text("#batch-progress")
    assert "two echoes" in browser.text("#batch-progress")
    assert browser.finds("#batch-callback")
    browser.get(w.url + "/#/batch/b_nosuchbatch")
    browser.wait(lambda: "No batch with the id" in (browser.text("#batch-error") or ""),
                 msg="the not-found message")
    browser.logs()      # the 404 is expected
    # periodic jobs and limits
    browser.get(w.url + "/#/workflows")
    browser.wait(lambda: "tidy" in (browser.text("#cron") or ""), msg="the schedule")
    assert "0 3 * * *" in browser.text("#cron")
    browser.wait(lambda: "gate" in (browser.text("#limits") or ""), msg="the limit")
    row = browser.js("return Array.from(document.querySelectorAll("
                     "'#limits tbody tr:first-child td'), t => t.textContent);")
    # name, concurrency 1, 1 running, no rate, no burst, 1 parked
    assert row[:6] == ["gate", "1", "1", "-", "-", "1"], row
    assert severe(browser.logs()) == []
    w.c.ok("cancel", job_id=parent)
    assert w.c.wait(child)["status"] == "canceled"
    assert w.c.wait(parked)["status"] == "finished"


def test_hostile_error_text_is_shown_as_text(dash, workdir, browser):
    bad = write_script(workdir, "bad.py", """#!%s
import sys
sys.stdin.read()
sys.stderr.write('%s\\n')
sys.exit(3)
""" % (PYTHON3, HOSTILE.replace("'", "\\'")))
    w = dash(types={"bad": {"handler": "exec", "command": [bad], "retries": 0}})
    jid = w.c.submit("bad", {"x": 1}, meta={"note": HOSTILE})
    assert w.c.wait(jid)["status"] == "failed"
    browser.get(w.url + "/#/failed")
    browser.live()
    browser.wait(lambda: browser.finds('#job-list tr[data-job="%s"]' % jid), msg="the row")
    assert HOSTILE in browser.text('#job-list tr[data-job="%s"]' % jid)
    browser.click('#job-list tr[data-job="%s"] a' % jid)
    browser.wait_text("#job-status", "failed")
    assert HOSTILE in browser.text("#job-error-text")
    assert HOSTILE in browser.text("#job-errors")
    assert browser.finds("main img, main script") == []
    assert browser.js("return window.__pwned;") is None


def test_hostile_redis_node_is_shown_as_text(dash, workdir, browser):
    # A socket path is the config's text: a directory named like markup.
    d = os.path.join(str(workdir), '<img src=x onerror="window.__pwned=3">')
    os.mkdir(d)
    red = RedisServer(d).start()
    try:
        w = dash(redis=red)
        browser.get(w.url + "/")
        browser.live()
        node = '#daemons tr[data-daemon="%s:%d"] [data-col="redis-node"]' % (
            socket.gethostname(), w.d.pid)
        browser.wait_text(node, red.sock)
        assert browser.finds("main img, main script") == []
        assert browser.js("return window.__pwned;") is None
    finally:
        red.stop()


def test_progress_shows_on_the_job_page(dash, workdir, browser):
    prog = write_script(workdir, "prog.py", """#!%s
import json, os, sys, time
json.load(sys.stdin)
fd = int(os.environ["JOBD_PROGRESS_FD"])
os.write(fd, b'{"percent": 40, "message": "chapter 2 of 5"}\\n')
time.sleep(30)
""" % PYTHON3)
    w = dash(types={"prog": {"handler": "exec", "command": [prog]}})
    jid = w.c.submit("prog", {})
    wait_until(lambda: ((w.job(jid) or {}).get("progress") or {}).get("percent") == 40, 20,
               msg="the progress line")
    browser.get(w.url + "/#/job/" + jid)
    browser.wait_text("#job-status", "started")
    assert browser.find("#job-progress progress").get_attribute("value") == "40"
    assert "chapter 2 of 5" in browser.text("#job-progress")
    assert browser.find('[data-action="cancel"]').is_enabled()
    assert not browser.find('[data-action="delete"]').is_enabled()


# --- actions -------------------------------------------------------------------

def test_retries_a_failed_job_and_sees_it_finish(dash, workdir, browser):
    flaky = write_script(workdir, "flaky.py", FLAKY)
    w = dash(types={"flaky": {"handler": "exec", "command": [flaky], "retries": 0}})
    jid = w.c.submit("flaky", {"story": 42, "chapters": ["owls", "moths"]})
    assert w.c.wait(jid)["status"] == "failed"
    browser.get(w.url + "/#/failed")
    browser.live()
    browser.wait(lambda: browser.finds('#job-list tr[data-job="%s"]' % jid), msg="the failed row")
    assert "first attempt fails on purpose" in browser.text('#job-list tr[data-job="%s"]' % jid)
    browser.click('#job-list tr[data-job="%s"] a' % jid)
    browser.wait_text("#job-status", "failed")
    assert "first attempt fails on purpose" in browser.text("#job-error-text")
    browser.click('[data-action="requeue"]')
    browser.wait(lambda: "requeued" in (browser.text("#toast-text") or ""), msg="the toast")
    # The stream brings the end: no reload, no click.
    browser.wait_text("#job-status", "finished", timeout=30)
    rec = w.job(jid)
    assert rec["status"] == "finished"
    assert json.loads(browser.text("#job-result")) == rec["result"]
    assert rec["result"]["ok"] is True
    assert "first attempt fails on purpose" in browser.text("#job-errors")
    assert browser.text("#job-attempts").startswith("%d of " % rec["attempts"])
    browser.screenshot("dashboard-job.png")
    assert severe(browser.logs()) == []


def test_destructive_actions_ask_first(dash, browser):
    w = dash()
    done = w.c.submit("jobd.noop")
    w.c.wait(done)
    browser.get(w.url + "/#/job/" + done)
    browser.live()
    browser.wait_text("#job-status", "finished")
    assert not browser.find('[data-action="cancel"]').is_enabled()
    # Delete, then think better of it: nothing happens.
    browser.click('[data-action="delete"]')
    browser.wait(lambda: browser.js("return document.getElementById('confirm').open;"),
                 msg="the confirmation")
    assert done in browser.text("#confirm-text")
    browser.click("#confirm-cancel")
    browser.wait(lambda: not browser.js("return document.getElementById('confirm').open;"))
    assert w.job(done) is not None
    # Delete for real.
    browser.click('[data-action="delete"]')
    browser.click("#confirm-ok")
    browser.wait(lambda: browser.js("return location.hash;") == "#/", msg="back to the overview")
    wait_until(lambda: w.job(done) is None, 10, msg="the job gone")
    # Cancel a queued job (its queue paused), and pause/resume a queue.
    w.c.ok("pause", queue="low")
    q = w.c.submit("jobd.noop", queue="low")
    browser.get(w.url + "/#/job/" + q)
    browser.wait_text("#job-status", "queued")
    browser.click('[data-action="cancel"]')
    browser.click("#confirm-ok")
    browser.wait_text("#job-status", "canceled")
    assert w.job(q)["status"] == "canceled"
    browser.get(w.url + "/")
    browser.wait(lambda: cell(browser, "low", "state") == "paused", msg="low paused")
    browser.click('#queues tr[data-queue="low"] [data-action="resume"]')
    browser.wait(lambda: cell(browser, "low", "state") == "running", msg="low running")
    assert w.stats()["queues"]["low"]["paused"] is False
    browser.click('#queues tr[data-queue="default"] [data-action="pause"]')
    browser.wait(lambda: cell(browser, "default", "state") == "paused", msg="default paused")
    assert w.stats()["queues"]["default"]["paused"] is True


def test_requeue_failed_of_a_queue(dash, workdir, browser):
    flaky = write_script(workdir, "flaky.py", FLAKY)
    w = dash(types={"flaky": {"handler": "exec", "command": [flaky], "retries": 0}})
    ids = [w.c.submit("flaky", {"n": i}) for i in range(3)]
    for j in ids:
        assert w.c.wait(j)["status"] == "failed"
    browser.get(w.url + "/")
    browser.live()
    browser.wait(lambda: cell(browser, "default", "failed") == "3", msg="3 failed")
    browser.click('#queues tr[data-queue="default"] [data-action="requeue-failed"]')
    assert "3 failed" in browser.text("#confirm-text")
    browser.click("#confirm-ok")
    browser.wait_text('#totals [data-status="finished"] .n', "3", timeout=30)
    browser.wait_text('#totals [data-status="failed"] .n', "0")
    assert all(w.job(j)["status"] == "finished" for j in ids)


def test_a_refused_action_shows_the_servers_message(dash, browser):
    w = dash(http={"read_only": "yes"})
    browser.get(w.url + "/")
    browser.live()
    browser.click('#queues tr[data-queue="default"] [data-action="pause"]')
    browser.wait(lambda: browser.js(
        "var t = document.getElementById('toast');"
        "return !t.hidden && t.dataset.kind === 'error';"), msg="the error toast")
    msg = browser.text("#toast-text")
    assert "403" in msg and "read" in msg.lower(), msg
    assert w.stats()["queues"]["default"]["paused"] is False
    assert cell(browser, "default", "state") == "running"


def _basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def test_behind_basic_auth_an_admin_acts_and_a_viewer_is_refused(dash, workdir, browser):
    lines = ""
    for user, role in (("alice", "admin"), ("bob", "viewer")):
        r = run_jobctl("passwd", user, "--role", role, input="pw of " + user + "\n")
        assert r.returncode == 0, r.stderr
        lines += r.stdout
    users = os.path.join(workdir, "users")
    with open(users, "w") as f:
        f.write(lines)
    os.chmod(users, 0o600)
    w = dash(http={"auth": "basic", "users_file": users})
    assert w.request("GET", "/")[0] == 401
    # The admin: the page, its stream and its actions all carry the header.
    browser.send_header("Authorization", _basic("alice", "pw of alice"))
    browser.get(w.url + "/")
    browser.live()
    browser.click('#queues tr[data-queue="low"] [data-action="pause"]')
    browser.wait(lambda: cell(browser, "low", "state") == "paused", msg="low paused")
    assert severe(browser.logs()) == []
    # The viewer sees the same, and is told why an action is refused.
    browser.send_header("Authorization", _basic("bob", "pw of bob"))
    browser.get(w.url + "/")
    browser.live()
    browser.wait(lambda: cell(browser, "low", "state") == "paused", msg="low paused")
    browser.click('#queues tr[data-queue="low"] [data-action="resume"]')
    browser.wait(lambda: browser.js(
        "var t = document.getElementById('toast');"
        "return !t.hidden && t.dataset.kind === 'error';"), msg="the error toast")
    assert "403" in browser.text("#toast-text"), browser.text("#toast-text")
    assert w.c.ok("stats")["queues"]["low"]["paused"] is True


# --- another site -----------------------------------------------------------------

class _Attacker(BaseHTTPRequestHandler):
    page = b""

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *a):
        pass


def test_cross_site_post_is_refused(dash, browser):
    w = dash()
    victim = w.c.submit("jobd.noop")
    w.c.wait(victim)
    # A page on another origin (another host name and port) that POSTs to
    # the dashboard: first a fetch, then a form the browser submits.
    target = w.url
    page = """<!doctype html><title>elsewhere</title>
<form id="f" method="post" action="%s/api/queues/default/pause"></form>
<script>
fetch("%s/api/jobs/%s/delete", {method: "POST", mode: "no-cors"})
  .catch(function () {})
  .then(function () { document.title = "fetched"; document.getElementById("f").submit(); });
</script>""" % (target, target, victim)
    handler = type("H", (_Attacker,), {"page": page.encode()})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        browser.get("http://localhost:%d/" % srv.server_port)
        browser.wait(lambda: browser.js("return location.href;").startswith(target),
                     msg="the form's POST to the dashboard")
        status = browser.wait(lambda: browser.js(
            "var n = performance.getEntriesByType('navigation')[0];"
            "return n && n.responseStatus;"), msg="the POST's status")
        assert status == 403
        assert "forbidden" in browser.find("body").text.lower()
    finally:
        srv.shutdown()
        srv.server_close()
    assert w.stats()["queues"]["default"]["paused"] is False
    assert w.job(victim)["status"] == "finished"


# --- looks ------------------------------------------------------------------------

def test_narrow_window_and_dark_scheme(dash, browser):
    w = dash()
    w.c.wait(w.c.submit("jobd.echo", {"text": "x" * 400}))
    browser.reset(width=380, height=800, dark=True)
    browser.get(w.url + "/")
    browser.live()
    browser.wait_text("#total", "1")
    # Nothing wider than the window but the tables' own scrollers.
    assert browser.js("return document.documentElement.scrollWidth <= window.innerWidth;")
    bg = browser.js("return getComputedStyle(document.body).backgroundColor;")
    rgb = [int(x) for x in bg[bg.index("(") + 1:bg.index(")")].split(",")[:3]]
    assert sum(rgb) < 150, bg
    assert browser.find("#search-id").is_displayed()
    browser.reset(width=1280, height=900, dark=False)
    browser.get(w.url + "/")
    browser.wait_text("#total", "1")
    bg = browser.js("return getComputedStyle(document.body).backgroundColor;")
    rgb = [int(x) for x in bg[bg.index("(") + 1:bg.index(")")].split(",")[:3]]
    assert sum(rgb) > 600, bg
    assert severe(browser.logs()) == []
