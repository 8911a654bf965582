"""test_fairness.py: no client can starve the others (docs/reliability.md,
"Fair share of Redis").

A hostile read-only user ("nobody", in forked children that switch uid
before they connect) pipelines gets of a job with a multi-megabyte payload
and large lists at full tilt, and opens connections up to its limit, while
root's submits keep being answered within a bound and never `unavailable`.
The caps themselves (max_inflight, max_inflight_total, max_inflight_bytes,
max_connections_per_user, admin_connections) are checked for what a client
sees.  Needs root to act as another uid; skipped otherwise.
"""
import os
import signal
import socket
import struct
import threading
import time

import pytest

import proto
from jobd_itest import NOBODY, client_as

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to act as another uid")


@pytest.fixture
def open_dir(workdir):
    """open_dir: the work directory traversable by nobody."""
    os.chmod(workdir, 0o755)
    return workdir


def as_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _read_frames(s, n):
    """Read and drop n frames (not decoded: the attacker spends no CPU on
    them)."""
    buf = b""
    for _ in range(n):
        while len(buf) < 4:
            d = s.recv(1 << 20)
            if not d:
                raise EOFError
            buf += d
        (ln,) = struct.unpack(">I", buf[:4])
        need = 4 + ln
        parts, have = [buf], len(buf)
        while have < need:
            d = s.recv(max(need - have, 1 << 16))
            if not d:
                raise EOFError
            parts.append(d)
            have += len(d)
        buf = b"".join(parts)[need:]


def start_attacker(path, job_id, depth, seconds):
    """start_attacker: a child, as nobody, that pipelines depth gets of
    job_id, as many waits for it (it has ended: each answers at once with
    the whole record) and two lists of 1000 per round for seconds, reading
    the answers without looking at them.  Returns its pid."""
    pid = os.fork()
    if pid != 0:
        return pid
    code = 0
    try:
        as_nobody()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.settimeout(60)
        batch = b"".join(
            [proto.encode({"op": "get", "job_id": job_id})] * depth
            + [proto.encode({"op": "wait", "job_id": job_id,
                             "timeout": 1})] * depth
            + [proto.encode({"op": "list", "limit": 1000})] * 2)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            s.sendall(batch)
            _read_frames(s, 2 * depth + 2)
    except Exception:
        code = 1
    finally:
        os._exit(code)


def fair_daemon(jobd, **settings):
    s = {"socket_mode": "0666", "log_level": "info"}
    s.update(settings)
    d = jobd(settings=s, workers=1)
    d.write_config(access={"submit": "root", "admin": "root"})
    with d.client() as c:
        assert c.call("reload").get("ok") is True
    return d


def test_root_submits_stay_quick_while_nobody_floods_big_gets(jobd, open_dir):
    """Four connections of nobody pipeline gets and waits of a 4 MB job (and
    lists of 1000) at full tilt; root submits one job at a time meanwhile: every
    submit is answered, none `unavailable`, each within 2 s."""
    d = fair_daemon(jobd)
    blob = "x" * (4 * 1024 * 1024)
    with d.client() as c:
        big = c.submit("jobd.noop", {"blob": blob})
        c.wait(big)
        for _ in range(3):      # more records for the lists
            c.submit("jobd.noop", {"blob": blob[:1024 * 1024]})
    kids = [start_attacker(d.sock, big, 16, 8.0) for _ in range(4)]
    lat, errors = [], []
    try:
        time.sleep(1.0)         # let the attack fill the pipes
        with d.client() as c:
            end = time.monotonic() + 5.0
            while time.monotonic() < end:
                t0 = time.monotonic()
                r = c.call("submit", type="jobd.noop", payload={"n": 1})
                lat.append(time.monotonic() - t0)
                if not r.get("ok"):
                    errors.append(r)
                time.sleep(0.02)
    finally:
        statuses = []
        for pid in kids:
            _, st = os.waitpid(pid, 0)
            statuses.append(st)
    assert errors == []
    assert len(lat) >= 5, lat
    assert max(lat) < 2.0, "slowest submit %.2f s (of %d)" % (max(lat), len(lat))
    # the attack did run, and was served too (backpressure, not errors)
    assert statuses == [0, 0, 0, 0], statuses
    assert "no reply for" not in d.log_text()
    assert "redis unreachable" not in d.log_text()


def test_pipelined_requests_through_tiny_shares_are_all_answered(jobd,
                                                                 open_dir):
    """With every share at its minimum, several connections pipelining a
    mix of ops (submit, get, result, list, stats, ping, hello, wait) are
    each answered, in request order, nothing dropped or stuck."""
    d = fair_daemon(jobd, max_inflight=1, max_inflight_total=1,
                    max_inflight_bytes="64K")
    with d.client() as c:
        jid = c.submit("jobd.noop", {"blob": "y" * 200000})
        c.wait(jid)
    conns = [d.client() for _ in range(3)] + [client_as(d.sock)]
    try:
        for c in conns:
            c.settimeout(20)
        for rnd in range(3):
            sent = {}
            for i, c in enumerate(conns):
                reqs = []
                for k in range(12):
                    op = ["get", "result", "list", "stats", "ping", "hello",
                          "submit", "wait"][k % 8]
                    req = {"op": op, "id": "%d.%d.%d" % (rnd, i, k)}
                    if op in ("get", "result", "wait"):
                        req["job_id"] = jid
                    if op == "wait":
                        req["timeout"] = 1
                    if op == "submit":
                        if i == 3:      # nobody may not submit: forbidden
                            req["op"] = "list"
                        else:
                            req.update(type="jobd.noop", payload={})
                    reqs.append(req)
                c.send_raw(b"".join(proto.encode(q) for q in reqs))
                sent[i] = reqs
            for i, c in enumerate(conns):
                for q in sent[i]:
                    r = c.recv()
                    assert r is not None and r.get("id") == q["id"], (q, r)
                    assert r.get("ok") is True, (q, r)
                    if q["op"] == "get":
                        assert len(r["job"]["payload"]["blob"]) == 200000
    finally:
        for c in conns:
            c.close()


def test_shares_of_closed_connections_come_back(jobd, open_dir):
    """Clients that pipeline gets and waits and hang up at once leave
    requests in flight; their shares come back when Redis answers them:
    with room for two requests in all, everyone is still served after
    many such clients."""
    d = fair_daemon(jobd, max_inflight_total=2, max_inflight=2)
    with d.client() as c:
        jid = c.submit("jobd.noop", {"blob": "q" * 100000})
        c.wait(jid)
    for _ in range(20):
        h = client_as(d.sock)
        h.send_raw((proto.encode({"op": "get", "job_id": jid}) +
                    proto.encode({"op": "wait", "job_id": jid,
                                  "timeout": 5})) * 10)
        h.close()
    time.sleep(0.5)
    with d.client() as c:
        for _ in range(5):
            t0 = time.monotonic()
            assert c.call("get", job_id=jid).get("ok") is True
            c.submit("jobd.noop", {})
            assert time.monotonic() - t0 < 2.0


def test_a_pipelining_client_does_not_go_first(jobd, open_dir):
    """A client pipelines 40 gets of a 200 kB job; another's get, sent just
    after, is answered after a few of them (the first client has
    max_inflight in flight, the rest wait unread), not after all 40 as
    when the whole pipeline went to Redis ahead of it."""
    d = fair_daemon(jobd, max_inflight=4)
    with d.client() as c:
        jid = c.submit("jobd.noop", {"blob": "z" * 200000})
        small = c.submit("jobd.noop", {})
        c.wait(jid)
    hog = client_as(d.sock)
    other = client_as(d.sock)
    hog.send_raw(proto.encode({"op": "get", "job_id": jid}) * 40)
    other.send({"op": "get", "job_id": small})
    r = other.recv()
    assert r.get("ok") is True and r["job"]["job_id"] == small
    # how many of the hog's answers had been written by then
    got = 0
    hog.sock.setblocking(False)
    time.sleep(0.05)
    data = b""
    while True:
        try:
            chunk = hog.sock.recv(1 << 20)
        except BlockingIOError:
            break
        if not chunk:
            break
        data += chunk
    hog.sock.setblocking(True)
    hog.buf = data
    while len(hog.buf) >= 4 and len(hog.buf) >= 4 + struct.unpack(
            ">I", hog.buf[:4])[0]:
        hog.recv()
        got += 1
    assert got < 20, "the other client waited for %d of 40" % got
    for _ in range(40 - got):
        assert hog.recv().get("ok") is True
    hog.close()
    other.close()


def test_connections_per_user_and_the_admin_reserve(jobd, open_dir):
    """nobody may hold max_connections_per_user connections; the next is
    refused with `busy` naming the setting, then closed.  Of
    max_connections, admin_connections are kept for admins: root takes
    them, up to max_connections."""
    d = fair_daemon(jobd, max_connections=8, admin_connections=2,
                    max_connections_per_user=4)
    mine = [client_as(d.sock) for _ in range(4)]
    for c in mine:
        assert c.call("ping").get("ok") is True
    extra = client_as(d.sock)
    r = extra.recv()
    assert r["ok"] is False and r["error"]["code"] == "busy", r
    assert "max_connections_per_user" in r["error"]["message"]
    assert extra.at_eof()
    extra.close()
    # root is not held to max_connections_per_user, and takes the reserve
    roots = [d.client() for _ in range(4)]          # 8 of 8
    for c in roots:
        assert c.call("ping").get("ok") is True
    over = d.client()                               # 9: max_connections
    r = over.recv()
    assert r["error"]["code"] == "busy" and "too many connections" in \
        r["error"]["message"]
    over.close()
    for c in mine + roots:
        c.close()
    assert "max_connections_per_user" in d.log_text()


def test_admin_reserve_keeps_root_in(jobd, open_dir):
    """nobody fills max_connections - admin_connections; its next one is
    refused naming admin_connections, while root still connects and is
    served."""
    d = fair_daemon(jobd, max_connections=6, admin_connections=2,
                    max_connections_per_user=100)
    mine = [client_as(d.sock) for _ in range(4)]
    for c in mine:
        assert c.call("ping").get("ok") is True
    extra = client_as(d.sock)
    r = extra.recv()
    assert r["error"]["code"] == "busy", r
    assert "admin_connections" in r["error"]["message"], r
    assert extra.at_eof()
    extra.close()
    time.sleep(0.2)
    roots = [d.client() for _ in range(2)]
    for c in roots:
        jid = c.submit("jobd.noop", {})
        assert c.call("get", job_id=jid).get("ok") is True
    for c in mine + roots:
        c.close()


# --- the no-reply watchdog: busy or dead -----------------------------------

def test_watchdog_waits_for_a_busy_redis(jobd, redis_server):
    """Redis holds jobd's writes for 5 s (CLIENT PAUSE WRITE, as during a
    failover; a long function of jobd's own looks the same) but answers
    other commands: nothing comes on jobd's link for longer than
    redis_timeout (2 s), yet a probe is answered, so jobd waits, logs it,
    and the submit made meanwhile succeeds."""
    d = jobd(settings={"redis_timeout": 2}, workers=1)
    redis_server.cli("CLIENT", "PAUSE", "5000", "WRITE")
    with d.client() as c:
        t0 = time.monotonic()
        r = c.call("submit", type="jobd.noop", payload={})
        took = time.monotonic() - t0
    assert r.get("ok") is True, r
    assert took > 3.0, took        # it did wait for Redis
    log = d.log_text()
    assert "redis busy" in log and "answers a probe" in log
    assert "redis unreachable" not in log


def test_watchdog_drops_a_stopped_redis(jobd, redis_server):
    """A SIGSTOPped Redis answers neither the link nor a probe: after
    redis_timeout (2 s) the request in flight fails and jobd reconnects
    once Redis runs again."""
    d = jobd(settings={"redis_timeout": 2}, workers=1)
    pid = redis_server.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        with d.client() as c:
            t0 = time.monotonic()
            r = c.call("submit", type="jobd.noop", payload={})
            took = time.monotonic() - t0
    finally:
        os.kill(pid, signal.SIGCONT)
    assert r.get("ok") is False, r
    assert 1.5 < took < 6.0, took
    assert "none to a probe" in d.log_text()
    with d.client() as c:
        deadline = time.monotonic() + 20
        while True:
            r = c.call("submit", type="jobd.noop", payload={})
            if r.get("ok") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert r.get("ok") is True, r
