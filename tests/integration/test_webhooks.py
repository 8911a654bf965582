"""callback_url: a job's end POSTed, signed, to an allowed URL by the
jobd.webhook delivery job (docs/workflows.md, "Callbacks"); and every way a
client or a config could abuse it."""
import datetime
import hashlib
import hmac
import http.server
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from jobd_itest import JOBD, wait_until

SECRET = "s3cret-key-of-the-tests-0123456789"


class _Receiver(http.server.BaseHTTPRequestHandler):
    """Records every POST; /fail/N answers 500 to its first N requests, /slow
    waits 2 s, /redirect answers 302 to /hook."""
    got = []
    fails = {}
    lock = threading.Lock()

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        with _Receiver.lock:
            _Receiver.got.append({"path": self.path, "body": body,
                                  "headers": dict(self.headers),
                                  "at": time.time()})
            seen = sum(1 for g in _Receiver.got if g["path"] == self.path)
        code = 200
        if self.path.startswith("/fail/"):
            code = 500 if seen <= int(self.path.split("/")[2]) else 200
        elif self.path == "/slow":
            time.sleep(2)
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/hook")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        out = b"thanks" if code == 200 else b"try later"
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


@pytest.fixture
def receiver():
    _Receiver.got = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def got(path):
    with _Receiver.lock:
        return [g for g in _Receiver.got if g["path"] == path]


def signature(body):
    return "sha256=" + hmac.new(SECRET.encode(), body,
                                hashlib.sha256).hexdigest()


def hooked(jobd, base, types=None, workers=2, allow=None):
    types = dict(types or {})
    types.setdefault("jobd.webhook", {"backoff": "0.2, 0.2, 0.2, 0.2",
                                      "retries": 4})
    return jobd(workers=workers, types=types,
                args=["-o", "webhooks.allow=" + (allow or base + "/*"),
                      "-o", "webhooks.secret=" + SECRET])


def delivery_of(c, job_id):
    """The jobd.webhook job delivering job_id's end."""
    r = c.ok("list", type="jobd.webhook", limit=100)
    for j in r["jobs"]:
        if j["job_id"].endswith(":" + job_id):
            return j
    return None


def test_the_end_is_posted_signed(jobd, receiver):
    d = hooked(jobd, receiver)
    with d.client() as c:
        jid = c.submit("jobd.echo", {"story": 7},
                       callback_url=receiver + "/hook")
        assert c.get(jid)["callback_url"] == receiver + "/hook"
        assert c.wait(jid)["status"] == "finished"
        wait_until(lambda: got("/hook"), 15, msg="the delivery")
        g = got("/hook")[0]
        assert json.loads(g["body"]) == {"job_id": jid, "status": "finished",
                                         "result": {"story": 7}}
        assert g["headers"]["X-Jobd-Signature"] == signature(g["body"])
        assert g["headers"]["X-Jobd-Job-Id"] == jid
        assert g["headers"]["Content-Type"] == "application/json"
        hook = delivery_of(c, jid)
        assert hook is not None
        assert g["headers"]["X-Jobd-Delivery"] == hook["job_id"]
        rec = c.wait(hook["job_id"])
        assert rec["status"] == "finished" and rec["result"] == {"status": 200}
        # a job without callback_url makes no delivery
        plain = c.submit("jobd.echo", {})
        c.wait(plain)
        time.sleep(0.3)
        assert delivery_of(c, plain) is None


def test_failed_and_canceled_ends_are_posted(jobd, receiver):
    d = hooked(jobd, receiver)
    with d.client() as c:
        bad = c.submit("jobd.fail", {"message": "the llm said no"},
                       callback_url=receiver + "/failed")
        later = c.submit("jobd.echo", {}, delay=600,
                         callback_url=receiver + "/canceled")
        c.ok("cancel", job_id=later)
        assert c.wait(bad)["status"] == "failed"
        wait_until(lambda: got("/failed") and got("/canceled"), 15)
        f = json.loads(got("/failed")[0]["body"])
        assert f["job_id"] == bad and f["status"] == "failed"
        assert "the llm said no" in f["error"] and "result" not in f
        k = json.loads(got("/canceled")[0]["body"])
        assert k == {"job_id": later, "status": "canceled",
                     "error": "canceled"}


def test_a_refusing_receiver_gets_retries_with_the_same_body(jobd, receiver):
    d = hooked(jobd, receiver)
    with d.client() as c:
        jid = c.submit("jobd.echo", [1, 2], callback_url=receiver + "/fail/2")
        c.wait(jid)
        wait_until(lambda: len(got("/fail/2")) >= 3, 20, msg="3 attempts")
        tries = got("/fail/2")
        assert len({t["body"] for t in tries}) == 1
        assert all(t["headers"]["X-Jobd-Signature"] == signature(t["body"])
                   for t in tries)
        # backed off, not hammered
        assert tries[1]["at"] - tries[0]["at"] >= 0.15
        hook = c.wait(delivery_of(c, jid)["job_id"])
        assert hook["status"] == "finished" and hook["attempts"] == 3
        assert "http 500" in hook["errors"][0]["error"]


def test_a_receiver_that_never_answers_2xx_fails_the_delivery(jobd, receiver):
    d = hooked(jobd, receiver)
    with d.client() as c:
        jid = c.submit("jobd.echo", {}, callback_url=receiver + "/fail/99")
        c.wait(jid)
        hook = wait_until(lambda: delivery_of(c, jid), 10)
        rec = c.wait(hook["job_id"], timeout=30)
        assert rec["status"] == "failed" and rec["attempts"] == 5
        assert len(got("/fail/99")) == 5
        # a redirect is not followed: the URL allowed is the URL called
        jid = c.submit("jobd.echo", {}, callback_url=receiver + "/redirect")
        c.wait(jid)
        rec = c.wait(wait_until(lambda: delivery_of(c, jid), 10)["job_id"],
                     timeout=30)
        assert rec["status"] == "failed" and "http 302" in rec["error"]
        assert not got("/hook")


def test_delivery_does_not_hold_up_the_next_job(jobd, receiver):
    d = hooked(jobd, receiver, workers=1)
    with d.client() as c:
        a = c.submit("jobd.sleep", {"seconds": 0.5},
                     callback_url=receiver + "/slow")
        b = c.submit("jobd.echo", {})
        c.wait(a)
        rb = c.wait(b)
        wait_until(lambda: got("/slow"), 15)
        # b was queued before a ended: the worker ran it, then the delivery
        ended_b = datetime.datetime.fromisoformat(
            rb["ended_at"].replace("Z", "+00:00")).timestamp()
        assert ended_b <= got("/slow")[0]["at"]


def test_bad_callback_urls_are_refused(jobd, receiver):
    d = hooked(jobd, receiver, allow="https://*.example.com/*, " + receiver + "/ok")
    with d.client() as c:
        def refused(url, why):
            r = c.call("submit", type="jobd.echo", callback_url=url)
            assert r["ok"] is False, (url, r)
            assert r["error"]["code"] == "bad_request", r
            assert "callback_url" in r["error"]["message"], r
            assert why in r["error"]["message"], (url, r)

        assert c.ok("submit", type="jobd.echo",
                    callback_url="https://hooks.example.com/x")
        refused(receiver + "/other", "matches no [webhooks] allow")
        refused("https://evil.test/.example.com/x", "matches no")
        refused("https://hooks.example.com@evil.test/x", "host part")
        refused("https://evil.test#.example.com/x", "fragment")
        refused("file:///etc/passwd", "http:// or https://")
        refused("gopher://hooks.example.com/x", "http:// or https://")
        refused("https:///nohost", "no host")
        refused("https://a.example.com/x\r\nX-Evil: 1", "not allowed in a URL")
        refused("https://a.example.com/" + "x" * 3000, "longer than 2048")
        refused("https://a.example.com/\u00e9", "not allowed in a URL")
        r = c.call("submit", type="jobd.echo", callback_url=12)
        assert r["ok"] is False and "callback_url" in r["error"]["message"]
        # a client cannot make jobd sign a body of its own choosing
        r = c.call("submit", type="jobd.webhook",
                   payload={"url": receiver + "/ok", "body": "{}",
                            "job_id": "x"})
        assert r["ok"] is False and "jobd.webhook" in r["error"]["message"]
        # one bad job refuses its whole submit_many
        r = c.call("submit_many", jobs=[
            {"type": "jobd.echo", "callback_url": "https://a.example.com/x"},
            {"type": "jobd.echo", "callback_url": "https://evil.test/"}])
        assert r["ok"] is False and "jobs[1]" in r["error"]["message"], r


def test_callback_url_without_webhooks_is_refused(jobd):
    d = jobd()
    with d.client() as c:
        r = c.call("submit", type="jobd.echo",
                   callback_url="https://hooks.example.com/x")
        assert r["ok"] is False and r["error"]["code"] == "bad_request"
        assert "no [webhooks] allow" in r["error"]["message"]


def test_a_url_no_longer_allowed_is_not_called(jobd, receiver):
    d = jobd(workers=1)
    d.write_config(webhooks={"allow": receiver + "/*", "secret": SECRET})
    d.signal(signal.SIGHUP)
    with d.client() as c:
        wait_until(lambda: c.call("submit", type="jobd.echo",
                                  callback_url=receiver + "/gone",
                                  delay=1.5)["ok"], 15)
        jobs = c.ok("list", status="scheduled")["jobs"]
        assert len(jobs) == 1
        d.write_config(webhooks={"allow": "https://hooks.example.com/*",
                                 "secret": SECRET})
        d.signal(signal.SIGHUP)
        wait_until(lambda: not c.call("submit", type="jobd.echo",
                                      callback_url=receiver + "/x")["ok"], 15)
        c.wait(jobs[0]["job_id"])
        hook = wait_until(lambda: delivery_of(c, jobs[0]["job_id"]), 10)
        rec = c.wait(hook["job_id"], timeout=60)
        assert rec["status"] == "failed" and rec["attempts"] == 1
        assert "not allowed by [webhooks] allow" in rec["error"]
        assert not got("/gone")


def run_check(tmp_path, text):
    conf = tmp_path / "j.conf"
    conf.write_text("[jobd]\nredis = redis://127.0.0.1:1\n" + text)
    return subprocess.run([JOBD, "--check", "-c", str(conf)],
                          capture_output=True, text=True, timeout=20,
                          stdin=subprocess.DEVNULL)


def test_bad_webhooks_sections(tmp_path):
    def bad(text, why):
        r = run_check(tmp_path, text)
        assert r.returncode == 1, (text, r)
        assert why in r.stderr and "webhook" in r.stderr, (text, r.stderr)

    bad("[webhooks]\nallow = https://h.example.com/*\n", "needs secret")
    bad("[webhooks]\nallow = https://h.example.com/*\nsecret = short\n",
        "at least 16 bytes")
    key = tmp_path / "key"
    key.write_text(SECRET + "\n")
    key.chmod(0o600)
    bad("[webhooks]\nallow = https://h.example.com/*\nsecret = %s\n"
        "secret_file = %s\n" % (SECRET, key), "one place")
    bad("[webhooks]\nallow = ftp://h.example.com/*\nsecret = %s\n" % SECRET,
        "http:// or https://")
    bad("[webhooks]\nallow = %s\nsecret = %s\n"
        % (", ".join("https://h%d.example.com/*" % i for i in range(33)),
           SECRET), "more than 32")
    bad("[webhooks]\nallow = https://h.example.com/*\nsecret_file = %s\n"
        % (tmp_path / "missing"), "secret_file")
    bad("[webhooks]\nallow = https://h.example.com/*\nsecret_file = key\n",
        "absolute")
    r = run_check(tmp_path, "[webhooks]\nallow = https://h.example.com/*\n"
                  "secret = %s\n" % SECRET)
    assert r.returncode == 0, r
    assert SECRET not in r.stdout + r.stderr
    assert "***" in r.stdout
    r = run_check(tmp_path, "[webhooks]\nallow = https://h.example.com/*\n"
                  "secret_file = %s\n" % key)
    assert r.returncode == 0, r
    assert SECRET not in r.stdout + r.stderr
    # a user's [type:jobd.webhook] tunes retries, not what it runs
    r = run_check(tmp_path, "[webhooks]\nallow = https://h.example.com/*\n"
                  "secret = %s\n[type:jobd.webhook]\nretries = 2\n" % SECRET)
    assert r.returncode == 0, r
    bad("[webhooks]\nallow = https://h.example.com/*\nsecret = %s\n"
        "[type:jobd.webhook]\nhandler = exec\ncommand = /bin/sh\n" % SECRET,
        "jobd chooses what delivers")
    # no other type may run the signer
    r = run_check(tmp_path, "[type:t]\nhandler = builtin\nbuiltin = webhook\n")
    assert r.returncode == 1 and "builtin" in r.stderr, r


def test_jobctl_takes_callback_url(jobd, receiver):
    d = hooked(jobd, receiver)
    r = d.jobctl("submit", "jobd.echo", '{"via": "jobctl"}', "--callback-url",
                 receiver + "/ctl", "--wait")
    assert r.returncode == 0, r
    r = d.jobctl("submit", "jobd.echo", "--callback-url", "https://evil.test/")
    assert r.returncode != 0 and "callback_url" in r.stderr, r
    wait_until(lambda: got("/ctl"), 15)
    assert json.loads(got("/ctl")[0]["body"])["result"] == {"via": "jobctl"}
