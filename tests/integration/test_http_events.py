"""test_http_events.py: GET /events, the live updates (docs/monitoring.md,
"Live updates"): "event: stats" with /api/stats's JSON when it changes,
one stats call a tick whatever the number of streams, the stream cap,
and a reader that never reads dropped while the others go on."""
import json
import re
import socket
import time

from jobd_itest import wait_until
from test_http import Web


class Stream:
    """Stream: a raw GET /events; events() parses what has come."""

    def __init__(self, w, rcvbuf=None, headers=""):
        if rcvbuf:
            self.s = socket.socket()
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.s.settimeout(10)
            self.s.connect(("127.0.0.1", w.port))
        else:
            self.s = w.raw()
        self.s.sendall(("GET /events HTTP/1.1\r\nHost: x\r\n%s\r\n"
                        % headers).encode())
        self.buf = b""

    def head(self, timeout=10):
        self.read_until(b"\r\n\r\n", timeout)
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        return head.decode()

    def read_until(self, token, timeout=10):
        deadline = time.monotonic() + timeout
        while token not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %r in %r" % (token, self.buf[-300:]))
            self.s.settimeout(left)
            data = self.s.recv(65536)
            if not data:
                raise AssertionError("stream closed: %r" % self.buf[-300:])
            self.buf += data

    def next_stats(self, timeout=10):
        """next_stats: the data of the next stats event (chunk framing
        is skipped: event lines never hold the chunk sizes' CRLF)."""
        self.read_until(b"event: stats\ndata: ", timeout)
        _, _, self.buf = self.buf.partition(b"event: stats\ndata: ")
        self.read_until(b"\n\n", timeout)
        data, _, self.buf = self.buf.partition(b"\n\n")
        return json.loads(data.split(b"\r\n")[0])

    def close(self):
        self.s.close()


def stats_calls(redis_server, seconds):
    """stats_calls: FCALLs of the stats function Redis saw in seconds
    (MONITOR)."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(redis_server.sock)
    s.sendall(b"*1\r\n$7\r\nMONITOR\r\n")
    data = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        s.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            data += s.recv(65536)
        except socket.timeout:
            break
    s.close()
    return len(re.findall(rb'"jobd_v\d+_stats"', data))


def test_a_stream_gets_stats_when_a_job_ends(jobd, workdir):
    w = Web(jobd, workdir)
    st = Stream(w)
    head = st.head()
    assert head.startswith("HTTP/1.1 200")
    assert "Content-Type: text/event-stream" in head
    assert "Cache-Control: no-store" in head
    first = st.next_stats()
    api = w.json("/api/stats")[1]
    assert set(first) == set(api) and first["queues"] == api["queues"]
    with w.d.client() as c:
        c.wait(c.submit("jobd.noop"))

    def finished():
        return st.next_stats()["queues"]["default"]["finished"] == 1
    wait_until(finished, 20, msg="an event with the finished job")
    st.close()


def test_ten_streams_cost_one_stats_call_a_tick(jobd, workdir,
                                                 redis_server):
    w = Web(jobd, workdir)
    streams = [Stream(w) for _ in range(10)]
    for s in streams:
        s.next_stats()
    calls = stats_calls(redis_server, 5.0)
    # a tick a second: about 5, never one per stream (50)
    assert 3 <= calls <= 7, calls
    # and every stream hears of a change
    with w.d.client() as c:
        c.ok("pause", queue="low")
    for s in streams:
        wait_until(lambda: s.next_stats()["queues"]["low"]["paused"], 10)
        s.close()
    # with no stream open, the tick stops
    time.sleep(1.5)
    assert stats_calls(redis_server, 3.0) == 0


def test_stream_cap_answers_503(jobd, workdir):
    w = Web(jobd, workdir, args=["-o", "http.max_streams=2"])
    a, b = Stream(w), Stream(w)
    a.next_stats()
    b.next_stats()
    st, hd, data = w.get("/events")
    assert st == 503, data
    body = json.loads(data)
    assert body["error"]["code"] == "busy" and "max_streams" in \
        body["error"]["message"]
    # a stream closed frees its place
    a.close()
    wait_until(lambda: w.get("/api/stats")[0] == 200 and
               _admitted(w), 20, msg="a place for a new stream")
    b.close()


def _admitted(w):
    s = Stream(w)
    try:
        return s.head().startswith("HTTP/1.1 200")
    finally:
        s.close()


def test_a_reader_that_never_reads_is_dropped(jobd, workdir):
    # 16 queues (the most) of long names: an event of a few KB
    queues = ["q%02d_%s" % (i, "x" * 60) for i in range(16)]
    w = Web(jobd, workdir, settings={"queues": ", ".join(queues)}, args=[
        "-o", "http.stream_buffer=4K"])
    good = Stream(w)
    good.next_stats()
    stuck = Stream(w, rcvbuf=2048)        # reads nothing from here on
    c = w.d.client()
    c.ok("pause", queue=queues[0])
    n = 0

    def dropped():
        nonlocal n
        n += 1
        c.submit("jobd.noop", queue=queues[0])     # stats change
        good.next_stats()                          # the good one reads
        return "reader fell behind" in w.d.log_text()
    wait_until(dropped, 60, interval=0.5, msg="the stuck stream dropped")
    # the others go on: a change still reaches the reading stream
    c.ok("resume", queue=queues[0])
    wait_until(lambda: good.next_stats()["queues"][queues[0]]["paused"]
               is False, 10)
    stuck.close()
    good.close()
    c.close()


def test_events_methods_and_attacks(jobd, workdir):
    w = Web(jobd, workdir)
    for m in ("POST", "HEAD", "PUT"):
        st, hd, data = w.get("/events", method=m)
        assert st == 405, m
        assert hd["Allow"] == "GET"
    for path in ("/events/", "/events/x", "//events"):
        assert w.get(path)[0] == 404
    # a client that keeps sending on its stream is not buffered forever
    s = Stream(w)
    s.next_stats()
    s.s.settimeout(2)
    sent, blocked = 0, False
    try:
        while sent < 64 << 20:
            sent += s.s.send(b"x" * 65536)
    except socket.timeout:
        blocked = True                  # the child stopped reading
    except OSError:
        blocked = True                  # or closed it
    assert blocked, sent
    s.close()
    assert w.get("/healthz")[0] == 200


def test_a_quiet_stream_gets_a_keepalive_comment(jobd, workdir):
    w = Web(jobd, workdir)
    s = Stream(w)
    s.next_stats()
    t0 = time.monotonic()
    s.read_until(b": keepalive\n\n", timeout=25)
    assert time.monotonic() - t0 > 5       # not one a tick
    assert b"event: stats" not in s.buf    # nothing changed
    s.close()
