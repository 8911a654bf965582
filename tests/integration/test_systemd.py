"""systemd integration (docs/systemd.md): the units pass systemd-analyze;
the sd_notify messages (READY, STATUS, RELOADING, STOPPING, WATCHDOG) on a
fake NOTIFY_SOCKET; socket activation with LISTEN_FDS/LISTEN_PID; hostile
NOTIFY_SOCKET and LISTEN_FDS values."""
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from jobd_itest import (JOBD, PYTHON3, SRCDIR, Jobd, RedisServer, config,
                        proto, wait_until)

UNITS = os.path.join(SRCDIR, "contrib", "systemd")

# exec jobd (argv[1:]) as this very process, so that $LISTEN_PID and
# $WATCHDOG_PID can name it; ACT_FD: the descriptors to pass as fd 3, 4...
# (a comma list).
WRAP = r"""
import fcntl, os, sys
fds = os.environ.pop("ACT_FD", None)
if fds is not None:
    fds = [int(f) for f in fds.split(",")]
    # above 3, 4...: none is overwritten by the dup2s below
    moved = [fcntl.fcntl(f, fcntl.F_DUPFD, 100) for f in fds]
    for i, f in enumerate(moved):
        os.dup2(f, 3 + i)
    os.environ["LISTEN_FDS"] = str(len(fds))
    os.environ["LISTEN_PID"] = str(os.getpid())
if "WATCHDOG_USEC" in os.environ and "WATCHDOG_PID" not in os.environ:
    os.environ["WATCHDOG_PID"] = str(os.getpid())
os.execv(sys.argv[1], sys.argv[1:])
"""


def need_libsystemd():
    r = subprocess.run(["ldd", JOBD], capture_output=True, text=True)
    if "libsystemd" not in r.stdout:
        pytest.skip("jobd built without libsystemd (--with-systemd=no): "
                    "notify and socket activation are no-ops")


class NotifySocket:
    """NotifySocket: what systemd listens on, as a datagram socket."""

    def __init__(self, workdir):
        self.path = os.path.join(workdir, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.msgs = []

    def poll(self, timeout=0.1):
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(4096).decode()
                self.msgs.extend(data.split("\n"))
                self.sock.settimeout(0.01)
        except (socket.timeout, BlockingIOError):
            pass
        return self.msgs

    def wait_for(self, pred, timeout=20.0, msg=None):
        """wait_for: the first message (after those already seen) where
        pred holds; consumed with those before it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll(0.1)
            for i, m in enumerate(self.msgs):
                if pred(m):
                    del self.msgs[:i + 1]
                    return m
        raise AssertionError("no notify message: %s; got %r" % (msg, self.msgs))

    def close(self):
        self.sock.close()


def make_jobd(workdir, redis, env, name="jobd", **settings):
    s = {"socket": os.path.join(workdir, "%s.sock" % name), "redis": redis.url,
         "workers": 2, "log_level": "debug", "lease": 3, "grace": 1,
         "shutdown_grace": 5}
    s.update(settings)
    return Jobd(workdir, s, name=name, redis=redis, env=env,
                wrapper=[PYTHON3, "-c", WRAP])


@pytest.fixture
def notify(workdir):
    n = NotifySocket(workdir)
    yield n
    n.close()


# --- the unit files -------------------------------------------------------

def installed_units(tmp):
    """installed_units: the units as make install writes them, for this
    build's jobd."""
    for u in ("jobd.service", "jobd.socket"):
        with open(os.path.join(UNITS, u)) as f:
            text = f.read().replace("/usr/sbin/jobd", JOBD)
        with open(os.path.join(tmp, u), "w") as f:
            f.write(text)
    return [os.path.join(tmp, u) for u in ("jobd.service", "jobd.socket")]


def test_units_verify_and_security_score(workdir):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is absent (Debian package systemd)")
    units = installed_units(workdir)
    r = subprocess.run([tool, "verify", "--man=no"] + units,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([tool, "security", "--offline=yes", "--no-pager",
                        units[0]], capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for jobd.service: ([0-9.]+)", r.stdout)
    assert m, r.stdout + r.stderr
    # docs/systemd.md states the figure; a weaker unit must update it
    assert float(m.group(1)) <= 2.0, r.stdout


def test_a_broken_unit_fails_verify(workdir):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is absent (Debian package systemd)")
    units = installed_units(workdir)
    with open(units[0], "a") as f:
        f.write("KillMode=sideways\n")
    r = subprocess.run([tool, "verify", "--man=no", units[0]],
                       capture_output=True, text=True, timeout=60)
    assert "KillMode" in r.stdout + r.stderr


# --- sd_notify ------------------------------------------------------------

def test_ready_waits_for_redis_then_status_reload_stop(workdir, notify):
    need_libsystemd()
    rdir = tempfile.mkdtemp(prefix="r", dir=workdir)
    redis = RedisServer(rdir)          # not started yet
    d = make_jobd(workdir, redis, {"NOTIFY_SOCKET": notify.path})
    try:
        d.start(wait=False)
        # Past READY_WAIT (3 s): jobd serves "unavailable", but is not ready.
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            assert "READY=1" not in notify.poll(0.2), notify.msgs
            assert d.alive()
        redis.start()
        notify.wait_for(lambda m: m == "READY=1", 30, "READY=1 once Redis is up")
        st = notify.wait_for(lambda m: m.startswith("STATUS=redis up"), 15,
                             "a STATUS line")
        assert re.fullmatch(r"STATUS=redis up, 2/2 workers, 0 queued, 0 running",
                            st), st
        d.ready()
        d.signal(signal.SIGHUP)
        notify.wait_for(lambda m: m == "RELOADING=1", 10, "RELOADING=1")
        notify.wait_for(lambda m: m == "READY=1", 10, "READY=1 after the reload")
        # a reload the file refuses still ends with READY=1
        with open(d.conf, "a") as f:
            f.write("no_such_setting = 1\n")
        d.signal(signal.SIGHUP)
        notify.wait_for(lambda m: m == "RELOADING=1", 10, "RELOADING=1")
        notify.wait_for(lambda m: m == "READY=1", 10, "READY=1 after a refused reload")
        assert d.stop() == 0
        notify.wait_for(lambda m: m == "STOPPING=1", 5, "STOPPING=1")
    finally:
        d.stop()
        redis.stop()
        d.finish()


def test_status_counts_queued_jobs(workdir, notify, redis_server):
    need_libsystemd()
    d = make_jobd(workdir, redis_server, {"NOTIFY_SOCKET": notify.path},
                  workers=1)
    try:
        d.start()
        with d.client() as c:
            c.call("pause", queue="default")
            for _ in range(3):
                c.submit("jobd.sleep", {"seconds": 0})
        notify.wait_for(lambda m: m == "STATUS=redis up, 1/1 workers, "
                        "3 queued, 0 running", 20, "3 queued")
    finally:
        d.stop()
        d.finish()


def test_watchdog_pings_when_asked(workdir, notify, redis_server):
    need_libsystemd()
    d = make_jobd(workdir, redis_server, {"NOTIFY_SOCKET": notify.path,
                                          "WATCHDOG_USEC": "400000"})
    try:
        d.start()
        for _ in range(3):
            notify.wait_for(lambda m: m == "WATCHDOG=1", 5, "WATCHDOG=1")
    finally:
        d.stop()
        d.finish()


def test_watchdog_for_another_pid_is_ignored(workdir, notify, redis_server):
    need_libsystemd()
    d = make_jobd(workdir, redis_server, {"NOTIFY_SOCKET": notify.path,
                                          "WATCHDOG_USEC": "200000",
                                          "WATCHDOG_PID": "1"})
    try:
        d.start()
        notify.wait_for(lambda m: m == "READY=1", 10, "READY=1")
        notify.poll(1.0)
        assert "WATCHDOG=1" not in notify.msgs
    finally:
        d.stop()
        d.finish()


@pytest.mark.parametrize("path", ["/nonexistent-dir/notify.sock",
                                  "/" + "n" * 300, "@abstract-nobody-listens",
                                  "relative/notify.sock"])
def test_hostile_notify_socket_does_not_hurt(workdir, redis_server, path):
    d = make_jobd(workdir, redis_server, {"NOTIFY_SOCKET": path})
    try:
        d.start()
        with d.client() as c:
            jid = c.submit("jobd.sleep", {"seconds": 0})
            assert c.wait(jid)["status"] == "finished"
        d.signal(signal.SIGHUP)
        assert d.stop() == 0
    finally:
        d.stop()
        assert d.finish() is None


# --- socket activation ----------------------------------------------------

def start_activated(workdir, redis, fd_obj, name="act", env=None, http=None):
    """start_activated: jobd given fd_obj (or a list of them) as fd 3...
    with LISTEN_FDS and LISTEN_PID its own pid; (Popen, socket path, log
    path).  http: the [http] listen setting."""
    sockp = os.path.join(workdir, "%s.sock" % name)
    conf = os.path.join(workdir, "%s.conf" % name)
    log = os.path.join(workdir, "%s.log" % name)
    sections = {"jobd": {"socket": sockp, "redis": redis.url,
                         "workers": 1, "shutdown_grace": 5}}
    if http is not None:
        sections["http"] = {"listen": http}
    with open(conf, "w") as f:
        f.write(config(**sections))
    objs = fd_obj if isinstance(fd_obj, list) else [fd_obj]
    fds = [o.fileno() for o in objs]
    e = dict(os.environ, ACT_FD=",".join(map(str, fds)))
    e.update(env or {})
    logf = open(log, "wb")
    p = subprocess.Popen([PYTHON3, "-c", WRAP, JOBD, "-f", "-c", conf],
                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                         env=e, pass_fds=fds)
    logf.close()
    return p, sockp, log


def test_socket_activation_uses_and_keeps_the_socket(workdir, redis_server):
    need_libsystemd()
    path = os.path.join(workdir, "act.sock")
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    os.chmod(path, 0o666)
    ls.listen(16)
    p, _, log = start_activated(workdir, redis_server, ls)
    try:
        ls.close()              # jobd holds it now
        c = proto.connect_when_ready(path, 20)
        wait_until(lambda: c.call("stats").get("ok") is True, 20)
        jid = c.submit("jobd.sleep", {"seconds": 0})
        assert c.wait(jid)["status"] == "finished"
        c.close()
        assert os.stat(path).st_mode & 0o777 == 0o666, "jobd changed its mode"
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
        assert os.path.exists(path), "jobd removed the socket systemd made"
        text = open(log).read()
        assert "listening on the socket systemd passed" in text, text
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_socket_activation_of_clients_and_dashboard_sockets(workdir,
                                                           redis_server):
    """jobd.socket's Unix socket and the dashboard's TCP one ("http" in
    LISTEN_FDNAMES), passed together: each goes to its server."""
    need_libsystemd()
    path = os.path.join(workdir, "act.sock")
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(16)
    hs = socket.socket()
    hs.bind(("127.0.0.1", 0))
    hs.listen(16)
    port = hs.getsockname()[1]
    p, _, log = start_activated(workdir, redis_server, [ls, hs],
                                env={"LISTEN_FDNAMES": "jobd:http"},
                                http="127.0.0.1:1")
    try:
        ls.close()
        hs.close()
        c = proto.connect_when_ready(path, 20)
        wait_until(lambda: c.call("stats").get("ok") is True, 20)
        c.close()

        def healthz():
            try:
                h = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                h.request("GET", "/healthz")
                return h.getresponse().status == 200
            except OSError:
                return False
        wait_until(healthz, 20, msg="the dashboard on the passed socket")
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_two_client_sockets_are_refused(workdir, redis_server):
    need_libsystemd()
    socks = []
    for n in ("a", "b"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(os.path.join(workdir, "%s.sock" % n))
        s.listen(4)
        socks.append(s)
    p, _, log = start_activated(workdir, redis_server, socks)
    try:
        assert p.wait(30) == 1
        assert "are both for the clients" in open(log).read()
    finally:
        for s in socks:
            s.close()
        if p.poll() is None:
            p.kill()
            p.wait()


def test_socket_activation_path_mismatch_is_warned(workdir, redis_server):
    need_libsystemd()
    other = os.path.join(workdir, "other.sock")
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(other)
    ls.listen(4)
    p, _, log = start_activated(workdir, redis_server, ls)
    try:
        ls.close()
        c = proto.connect_when_ready(other, 20)
        c.close()
        assert "the socket systemd passed is %s" % other in open(log).read()
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)


@pytest.mark.parametrize("kind", ["file", "udp", "unlistened", "dgram"])
def test_socket_activation_of_a_non_listening_socket_is_refused(
        workdir, redis_server, kind):
    need_libsystemd()
    if kind == "file":
        obj = open(os.path.join(workdir, "plain"), "w")
    elif kind == "udp":
        obj = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    elif kind == "dgram":
        obj = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        obj.bind(os.path.join(workdir, "dg.sock"))
    else:
        obj = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        obj.bind(os.path.join(workdir, "nl.sock"))
    p, sockp, log = start_activated(workdir, redis_server, obj)
    try:
        assert p.wait(30) == 1
        text = open(log).read()
        assert "not a listening Unix stream socket" in text, text
        assert not os.path.exists(sockp), "jobd bound its own socket instead"
    finally:
        obj.close()
        if p.poll() is None:
            p.kill()
            p.wait()


def test_listen_fds_for_another_pid_binds_its_own(workdir, redis_server):
    """LISTEN_PID naming another process: the fds are not jobd's."""
    need_libsystemd()
    d = make_jobd(workdir, redis_server, {"LISTEN_FDS": "1", "LISTEN_PID": "1"})
    try:
        d.start()
        assert os.path.exists(d.sock)
    finally:
        d.stop()
        d.finish()
