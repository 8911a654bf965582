"""proto.py: a tiny client of the jobd wire protocol for the tests.

A frame is a 4-byte big-endian length, then that many bytes of JSON.  The
client can pipeline (send many, then read many) and send raw bytes for the
bad-frame tests.
"""
import json
import socket
import struct
import time


class ProtocolError(Exception):
    pass


def encode(obj):
    """encode: one frame holding obj (a dict, or bytes/str sent as is)."""
    if isinstance(obj, (bytes, bytearray)):
        body = bytes(obj)
    elif isinstance(obj, str):
        body = obj.encode()
    else:
        body = json.dumps(obj).encode()
    return struct.pack(">I", len(body)) + body


class Client:
    def __init__(self, path, timeout=30.0):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def settimeout(self, t):
        self.sock.settimeout(t)

    # --- sending ---------------------------------------------------------
    def send(self, obj):
        self.sock.sendall(encode(obj))

    def send_raw(self, data):
        self.sock.sendall(data)

    # --- receiving -------------------------------------------------------
    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.buf += chunk
        return True

    def recv(self):
        """recv: the next response as a dict, or None at EOF."""
        if not self._fill(4):
            if self.buf:
                raise ProtocolError("EOF inside a frame header: %r" % self.buf)
            return None
        (n,) = struct.unpack(">I", self.buf[:4])
        if n == 0:
            raise ProtocolError("the server sent a zero-length frame")
        if not self._fill(4 + n):
            raise ProtocolError("EOF inside a frame body (%d of %d bytes)"
                                % (len(self.buf) - 4, n))
        body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
        try:
            obj = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ProtocolError("the server sent bad JSON: %r (%s)" % (body[:200], e))
        if not isinstance(obj, dict):
            raise ProtocolError("the server sent a non-object: %r" % (obj,))
        return obj

    def at_eof(self, timeout=5.0):
        """at_eof: True when the server closed the connection (after any
        pending responses were read by the caller)."""
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            if self.buf:
                return False
            try:
                data = self.sock.recv(1)
            except ConnectionResetError:
                return True
            except socket.timeout:
                return False
            if data:
                self.buf += data
                return False
            return True
        finally:
            self.sock.settimeout(old)

    # --- requests --------------------------------------------------------
    def request(self, obj):
        """request: send one request, return its response."""
        self.send(obj)
        r = self.recv()
        if r is None:
            raise ProtocolError("the server closed the connection")
        return r

    def call(self, op, **fields):
        fields["op"] = op
        return self.request(fields)

    def ok(self, op, **fields):
        """ok: call op and assert success."""
        r = self.call(op, **fields)
        assert r.get("ok") is True, "%s %r -> %r" % (op, fields, r)
        return r

    # --- job helpers -----------------------------------------------------
    def submit(self, type_, payload=None, **kw):
        if payload is not None:
            kw["payload"] = payload
        return self.ok("submit", type=type_, **kw)["job_id"]

    def get(self, job_id):
        return self.ok("get", job_id=job_id)["job"]

    def status(self, job_id):
        return self.get(job_id)["status"]

    def wait(self, job_id, timeout=30.0):
        """wait: the terminal record; fails the test if it timed out."""
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout + 30)
        try:
            r = self.ok("wait", job_id=job_id, timeout=timeout)
        finally:
            self.sock.settimeout(old)
        assert not r.get("timed_out"), "job %s not done in %ss: %r" % (
            job_id, timeout, r.get("job"))
        return r["job"]


def connect_when_ready(path, timeout=20.0, alive=None):
    """connect_when_ready: a Client once hello succeeds on path.  alive() is
    called between tries and may raise (the daemon exited)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if alive is not None:
            alive()
        try:
            c = Client(path, timeout=5.0)
            try:
                r = c.call("hello")
                if r.get("ok") is True:
                    c.settimeout(30.0)
                    return c
                last = r
            except (OSError, ProtocolError) as e:
                last = e
            c.close()
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise TimeoutError("no hello on %s in %ss: %r" % (path, timeout, last))
