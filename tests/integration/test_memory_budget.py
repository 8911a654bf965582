"""test_memory_budget.py: the master's memory is bounded whatever clients
do (docs/reliability.md, "Bounds on what one client, and all of them, may
hold").

Each flood runs against a daemon whose budget is small (max_buffered 32M)
while a well-behaved client on its own connection submits and gets a job
in a loop: the master's peak resident set (VmHWM, reset before the flood)
stays under the budget plus the documented overhead, and every round trip
of the well-behaved client takes less than a second.  Clients of another
uid are made as in test_access.py (needs root for those).
"""
import json
import os
import socket
import struct
import subprocess
import threading
import time

import pytest

from jobd_itest import JOBD
from pyfixtures import BUILDDIR
from test_access import NOBODY, client_as
import proto

MiB = 1024 * 1024
BUDGET = 32 * MiB
# What the master may hold beyond max_buffered (docs/reliability.md): its
# own start-up size, measured, plus this.
OVERHEAD = 24 * MiB

SETTINGS = {
    "max_buffered": "32M",
    "max_waiters": 500,
    "max_json_values": 100000,
    "frame_timeout": 10,
    "socket_mode": "0666",
    "workers": 1,
}

def sanitized_build():
    """sanitized_build: jobd is built with ASan, whose allocator keeps
    freed memory in quarantine: resident sizes say nothing then."""
    try:
        with open(os.path.join(BUILDDIR, "Makefile")) as f:
            return "-fsanitize=address" in f.read()
    except OSError:
        return False


# under ASan the floods still run and their answers are checked
RSS_CHECKED = not sanitized_build()

needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to act as another uid")


def status_bytes(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no %s in /proc/%d/status" % (key, pid))


def reset_peak(pid):
    """reset_peak: VmHWM starts again from VmRSS."""
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")


class Prober:
    """Prober: a well-behaved client on its own connection, submitting a
    job and getting it in a loop; the slowest round trip is kept."""

    def __init__(self, d):
        self.c = d.client(timeout=10)
        self.worst = 0.0
        self.rounds = 0
        self.times = []
        self.errors = []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                jid = self.c.submit("jobd.noop")
                assert self.c.get(jid)["job_id"] == jid
            except (OSError, AssertionError, proto.ProtocolError) as e:
                self.errors.append(repr(e))
                return
            self.worst = max(self.worst, time.monotonic() - t0)
            self.times.append(time.monotonic() - t0)
            self.rounds += 1
            time.sleep(0.02)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join(15)
        self.c.close()
        if exc[0] is None:
            self.check()

    def check(self):
        assert not self.errors, self.errors
        assert self.rounds >= 3, "the well-behaved client made %d rounds" \
            % self.rounds
        assert self.worst < 1.0, "a round trip took %.2f s" % self.worst


@pytest.fixture
def budget_daemon(jobd, workdir):
    os.chmod(workdir, 0o755)
    d = jobd(settings=SETTINGS, workers=1)
    # warm up, then take the resting size as the base
    c = d.client()
    for _ in range(20):
        c.get(c.submit("jobd.noop"))
    c.close()
    d.base_rss = status_bytes(d.pid, "VmRSS")
    reset_peak(d.pid)
    return d


def assert_peak_bounded(d):
    peak = status_bytes(d.pid, "VmHWM")
    if not RSS_CHECKED:
        return peak
    limit = d.base_rss + BUDGET + OVERHEAD
    assert peak <= limit, "master peak RSS %.1f MiB > %.1f MiB (base %.1f)" \
        % (peak / MiB, limit / MiB, d.base_rss / MiB)
    return peak


def frame_header(n):
    return struct.pack(">I", n)


def read_error(c, timeout=10):
    c.settimeout(timeout)
    r = c.recv()
    assert r is not None and r.get("ok") is False, r
    return r["error"]


def big_ping(n):
    """big_ping: a valid frame of about n bytes (ping ignores the pad)."""
    return proto.encode({"op": "ping", "pad": "x" * (n - 30)})


# --- many connections each holding an almost complete large frame ---------

def test_partial_large_frames_stay_within_budget(budget_daemon):
    d = budget_daemon
    n = 3 * MiB
    held, refused = [], []
    with Prober(d):
        for _ in range(30):
            c = d.client(timeout=10)
            try:
                c.send_raw(frame_header(n))
                for off in range(0, n - 1000, 256 * 1024):
                    c.send_raw(b" " * min(256 * 1024, n - 1000 - off))
            except (BrokenPipeError, ConnectionResetError):
                pass
            # a refused frame is answered at once; a held one is not
            if c.at_eof(0.2) is False and not c.buf:
                held.append(c)
                continue
            err = read_error(c)
            assert err["code"] == "busy", err
            assert "max_buffered" in err["message"], err
            refused.append(c)
        peak = assert_peak_bounded(d)
    # the budget holds a few such frames, not thirty
    assert 3 <= len(held) <= 8, (len(held), len(refused))
    assert refused
    for c in held + refused:
        c.close()
    # and gives them back
    time.sleep(0.5)
    assert not RSS_CHECKED or \
        status_bytes(d.pid, "VmRSS") < d.base_rss + 8 * MiB, peak


# --- big frames, then idle: the reader buffers shrink ---------------------

def test_reader_buffers_shrink_after_large_frames(budget_daemon):
    d = budget_daemon
    conns = []
    with Prober(d):
        for _ in range(12):
            c = d.client(timeout=10)
            c.send_raw(big_ping(6 * MiB))
            assert c.recv()["ok"] is True
            conns.append(c)       # stays open, idle
        assert_peak_bounded(d)
    # twelve idle connections that each once sent 6 MiB hold little
    rss = status_bytes(d.pid, "VmRSS")
    assert not RSS_CHECKED or rss < d.base_rss + 8 * MiB, \
        "RSS %.1f MiB, base %.1f MiB" \
        % (rss / MiB, d.base_rss / MiB)
    for c in conns:
        assert c.ok("ping")
        c.close()


# --- replies a client does not read ---------------------------------------

def test_unread_replies_are_bounded(jobd, workdir):
    # a budget of 8M (6M for large holders) against 30M of replies asked
    # for: the gets are paced so that what is measured is memory, not the
    # Redis pipeline (that is fairness, tested with the in-flight bounds)
    d = jobd(settings=dict(SETTINGS, max_buffered="8M", max_frame="1M"),
             workers=1)
    c = d.client()
    size = 256 * 1024
    jid = c.submit("jobd.noop", "y" * size, delay=3600)
    c.close()
    base = status_bytes(d.pid, "VmRSS")
    reset_peak(d.pid)
    readers = [d.client(timeout=30) for _ in range(2)]
    sent = 0
    with Prober(d):
        t_end = time.monotonic() + 3
        while time.monotonic() < t_end:
            for r in readers:
                r.send({"op": "get", "job_id": jid, "id": sent})
            sent += 1
            time.sleep(0.06)
        time.sleep(0.5)
        peak = status_bytes(d.pid, "VmHWM")
    assert not RSS_CHECKED or peak <= base + 8 * MiB + OVERHEAD, \
        (peak / MiB, base / MiB)
    # what did not fit was answered busy, in order; the rest in full
    ok = busy = 0
    for r in readers:
        for i in range(sent):
            rep = r.recv()
            assert rep is not None and rep["id"] == i, rep
            if rep["ok"]:
                assert len(rep["job"]["payload"]) == size
                ok += 1
            else:
                assert rep["error"]["code"] == "busy", rep
                assert "max_buffered" in rep["error"]["message"]
                busy += 1
        r.close()
    # at most 6M of replies waited unread (and what the sockets hold)
    assert sent * 2 * size > 20 * MiB
    assert 4 <= ok <= (6 * MiB + 2 * MiB) // size, (ok, busy)
    assert busy > 0


# --- thousands of waiters -------------------------------------------------

@needs_root
def test_waiters_are_capped(budget_daemon):
    d = budget_daemon
    c = d.client()
    jid = c.submit("jobd.noop", delay=3600)     # never ends during the test
    c.close()
    conns = []
    with Prober(d):
        for _ in range(10):
            w = client_as(d.sock)
            w.send_raw(b"".join(proto.encode({"op": "wait", "job_id": jid,
                                              "timeout": 3, "id": i})
                                for i in range(100)))
            conns.append(w)
        time.sleep(1)
        assert_peak_bounded(d)
    timed_out = busy = 0
    for w in conns:
        w.settimeout(20)
        for i in range(100):
            rep = w.recv()
            assert rep is not None and rep["id"] == i, rep
            if rep["ok"]:
                assert rep["timed_out"] is True
                timed_out += 1
            else:
                assert rep["error"]["code"] == "busy", rep
                assert "max_waiters" in rep["error"]["message"], rep
                busy += 1
        w.close()
    assert timed_out == 500 and busy == 500, (timed_out, busy)


# --- one frame of millions of tiny values ---------------------------------

def test_frame_of_tiny_values_is_refused_before_decoding(budget_daemon):
    d = budget_daemon
    values = 3500000
    body = ('{"op":"submit","type":"jobd.noop","id":1,"payload":['
            + "0," * (values - 1) + "0]}").encode()
    c = d.client(timeout=30)
    with Prober(d):
        for _ in range(3):
            c.send_raw(frame_header(len(body)) + body)
            r = c.recv()
        time.sleep(0.3)
        assert_peak_bounded(d)
    # refused before decoding: no id to echo, as for bad_json
    assert r["ok"] is False and "id" not in r, r
    assert r["error"]["code"] == "bad_request"
    assert "max_json_values (100000)" in r["error"]["message"], r
    # the connection stays usable, and a request under the bound passes
    jid = c.submit("jobd.noop", [0] * 90000)
    assert len(c.get(jid)["payload"]) == 90000
    c.close()


# --- a peer that may only read cannot send a large frame ------------------

@needs_root
def test_read_only_peer_large_frame_refused_at_header(budget_daemon):
    d = budget_daemon
    d.write_config(access={"submit": "root", "admin": "root"})
    c = d.client()
    assert c.ok("reload")
    c.close()
    nb = client_as(d.sock)
    assert nb.ok("ping")
    nb.send_raw(big_ping(60 * 1024))          # under the cap: served
    assert nb.recv()["ok"] is True
    nb.send_raw(frame_header(MiB))            # the body is never sent
    err = read_error(nb, timeout=5)
    assert err["code"] == "frame_too_large", err
    assert err["message"] == ("frame of %d bytes: uid %d may only run "
                              "reading ops, whose frames are at most 65536 "
                              "bytes" % (MiB, NOBODY)), err
    assert nb.at_eof()
    nb.close()
    # a submitter still may
    c = d.client()
    c.send_raw(big_ping(MiB))
    assert c.recv()["ok"] is True
    c.close()


# --- deadlines ------------------------------------------------------------

def test_frame_timeout_and_idle_timeout(jobd):
    d = jobd(settings={"frame_timeout": 1, "idle_timeout": 1.5})
    slow = d.client(timeout=10)
    idle = d.client(timeout=10)
    waiting = d.client(timeout=10)
    jid = waiting.submit("jobd.noop", delay=3600)
    waiting.send({"op": "wait", "job_id": jid, "timeout": 3})
    t0 = time.monotonic()
    slow.send_raw(frame_header(100) + b'{"op":')
    err = read_error(slow)
    assert err["code"] == "bad_request", err
    assert err["message"] == ("frame not complete within frame_timeout "
                              "(1 s): 10 bytes of it came"), err
    assert 0.9 < time.monotonic() - t0 < 3
    assert slow.at_eof()
    # an idle connection is closed; one with a pending wait is not
    assert idle.at_eof(5)
    assert 1.0 < time.monotonic() - t0 < 5
    r = waiting.recv()
    assert r["ok"] is True and r["timed_out"] is True, r
    assert time.monotonic() - t0 > 2.9
    # then it is idle in turn
    assert waiting.at_eof(5)
    for c in (slow, idle, waiting):
        c.close()


def test_budget_settings_refuse_bad_values():
    cases = [
        ("jobd.max_buffered=1k", "[jobd] max_buffered: out of range"),
        ("jobd.max_buffered=lots", "[jobd] max_buffered: "),
        ("jobd.max_buffered=2048G", "[jobd] max_buffered: out of range"),
        ("jobd.frame_timeout=0", "[jobd] frame_timeout: out of range"),
        ("jobd.frame_timeout=2h", "[jobd] frame_timeout: out of range"),
        ("jobd.idle_timeout=-1", "[jobd] idle_timeout: "),
        ("jobd.idle_timeout=soon", "[jobd] idle_timeout: "),
        ("jobd.max_waiters=0", "[jobd] max_waiters: out of range"),
        ("jobd.max_waiters=1e9", "[jobd] max_waiters: "),
        ("jobd.max_json_values=10", "[jobd] max_json_values: out of range"),
        ("jobd.max_json_values=many", "[jobd] max_json_values: not a number"),
    ]
    for arg, msg in cases:
        r = subprocess.run([JOBD, "--check", "-o", arg], capture_output=True,
                           text=True, timeout=20, stdin=subprocess.DEVNULL)
        assert r.returncode == 1, (arg, r)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        assert len(lines) == 1 and msg in lines[0], (arg, r.stderr)
