"""jobd_itest.py: the integration-test harness (fixtures and helpers),
loaded by conftest.py.  Tests import helpers from here, not from conftest
(several test directories have a conftest.py; the module name clashes).

Fixtures that run a real redis-server and real jobd daemons:

- redis_server: a private redis-server on a Unix socket, one per test.
- jobd: a factory; jobd(types={...}, workers=2, ...) writes an INI config,
  starts "$JOBD_BUILDDIR/jobd -f -c CONF", waits for hello and returns a
  Daemon.  Several daemons may share one Redis.  Each daemon's stderr is
  kept in a log file, attached to the report of a failed test.  Teardown:
  SIGTERM, wait, SIGKILL; a daemon that crashed or reported a sanitizer
  error fails the test.
- Helpers: wait_until, jobctl, child_pids, pid_alive, handler paths.
"""
import json
import os
import re
import shutil
import signal as _signal
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proto  # noqa: E402

SRCDIR = os.environ.get("JOBD_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILDDIR = os.environ.get("JOBD_BUILDDIR") or os.path.join(SRCDIR, "_build")
PYTHON3 = os.environ.get("PYTHON3") or "/usr/bin/python3"
REDIS_SERVER = os.environ.get("REDIS_SERVER") or shutil.which("redis-server") \
    or "/usr/bin/redis-server"
JOBD = os.path.join(BUILDDIR, "jobd")
JOBCTL = os.path.join(BUILDDIR, "jobctl", "jobctl")
HANDLERS = os.path.join(SRCDIR, "tests", "handlers")

JOB_ID_RE = re.compile(r"^j_[0-9A-HJKMNP-TV-Z]{26}$")
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")
ERROR_CODES = {"bad_json", "bad_request", "unknown_op", "unknown_type",
               "not_found", "conflict", "forbidden", "frame_too_large",
               "unavailable", "busy", "internal"}
TERMINAL = {"finished", "failed", "canceled"}
SANITIZER_RE = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|"
                          r"runtime error:|SUMMARY: UndefinedBehaviorSanitizer")


# --- small helpers --------------------------------------------------------

def wait_until(cond, timeout=15.0, interval=0.02, msg=None):
    """wait_until: call cond() until it returns something true; return that.
    Fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = cond()
        except (OSError, proto.ProtocolError) as e:
            last = e
            if time.monotonic() >= deadline:
                raise
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %ss waiting for %s (last: %r)"
                                 % (timeout, msg or getattr(cond, "__name__", cond), last))
        time.sleep(interval)


def pid_alive(pid):
    """pid_alive: the process exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def child_pids(pid):
    """child_pids: the live children of pid."""
    kids = set()
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    kids.update(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        return []
    return sorted(k for k in kids if pid_alive(k))


def handler(name):
    """handler: the argv (JSON array text) running tests/handlers/NAME."""
    return [PYTHON3, os.path.join(HANDLERS, name)]


def write_script(dirpath, name, text):
    """write_script: an executable file in dirpath; returns its path."""
    p = os.path.join(dirpath, name)
    with open(p, "w") as f:
        f.write(text)
    os.chmod(p, 0o755)
    return p


def run_jobctl(*args, sock=None, input=None, timeout=60, env=None):
    """run_jobctl: run jobctl (with -s sock when given); CompletedProcess."""
    argv = [JOBCTL]
    if sock is not None:
        argv += ["-s", sock]
    argv += [str(a) for a in args]
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run(argv, input=input, capture_output=True, text=True,
                          timeout=timeout, env=e)


def _ini_value(v):
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):
        return json.dumps(list(v))
    return str(v)


def render_config(settings, types):
    lines = ["[jobd]"]
    for k, v in settings.items():
        if v is not None:
            lines.append("%s = %s" % (k, _ini_value(v)))
    for name, sect in (types or {}).items():
        lines.append("")
        lines.append("[type:%s]" % name)
        for k, v in sect.items():
            if isinstance(v, (list, tuple)) and k == "env":
                for item in v:
                    lines.append("env = %s" % item)
            else:
                lines.append("%s = %s" % (k, _ini_value(v)))
    return "\n".join(lines) + "\n"


# --- redis ----------------------------------------------------------------

class Redis:
    def __init__(self, workdir):
        self.dir = workdir
        self.sock = os.path.join(workdir, "redis.sock")
        self.url = "unix://" + self.sock
        self.log = os.path.join(workdir, "redis.log")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", "0", "--unixsocket", self.sock,
             "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
             "--dir", workdir, "--logfile", self.log, "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT)
        wait_until(self._ready, 10, msg="redis-server to answer PING")

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("redis-server exited %s: %s"
                               % (self.proc.returncode, self.log_tail(20)))
        return self.cli("PING").strip() == "PONG" if os.path.exists(self.sock) else False

    def cli(self, *args):
        """cli: run a Redis command through redis-cli (if any) or a socket."""
        return _redis_command(self.sock, args)

    def client(self):
        import redis  # Debian's python3-redis
        return redis.Redis(unix_socket_path=self.sock, decode_responses=True)

    def log_tail(self, n):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _redis_command(sock_path, args):
    """_redis_command: one RESP command over a Unix socket; the reply as
    text (simple replies only: enough for PING and INFO)."""
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(sock_path)
        out = "*%d\r\n" % len(args)
        for a in args:
            a = str(a).encode()
            out += "$%d\r\n" % len(a) + a.decode() + "\r\n"
        s.sendall(out.encode())
        data = s.recv(1 << 20)
        if data.startswith(b"+"):
            return data[1:].decode().strip()
        if data.startswith(b"$"):
            hdr, _, rest = data.partition(b"\r\n")
            n = int(hdr[1:])
            while len(rest) < n + 2 and n >= 0:
                more = s.recv(1 << 20)
                if not more:
                    break
                rest += more
            return rest[:n].decode(errors="replace")
        return data.decode(errors="replace")
    finally:
        s.close()


@pytest.fixture
def workdir():
    """workdir: a short private directory (Unix socket paths are limited to
    108 bytes, so pytest's tmp_path is too deep)."""
    d = tempfile.mkdtemp(prefix="jdt", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def redis_server(workdir, request):
    r = Redis(workdir)
    request.node._redis_server = r
    yield r
    r.stop()


# --- jobd -----------------------------------------------------------------

class Daemon:
    """Daemon: one running jobd."""

    def __init__(self, name, workdir, redis, settings, types, args, env,
                 wait=True, startup_timeout=30.0):
        self.name = name
        self.dir = workdir
        self.redis = redis
        self.sock = settings["socket"]
        self.conf = os.path.join(workdir, "%s.conf" % name)
        self.log = os.path.join(workdir, "%s.log" % name)
        self.settings = settings
        self.types = types
        self.expect_exit = None   # set when a test stops it itself
        self.write_config(settings, types)
        e = dict(os.environ)
        e.update(env or {})
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([JOBD, "-f", "-c", self.conf] + list(args),
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf,
                                     env=e)
        self.pid = self.proc.pid
        if wait:
            self.ready(startup_timeout)

    def write_config(self, settings=None, types=None, text=None):
        if text is None:
            text = render_config(settings if settings is not None else self.settings,
                                 types if types is not None else self.types)
        with open(self.conf, "w") as f:
            f.write(text)

    def _check_alive(self):
        if self.proc.poll() is not None:
            raise AssertionError("jobd %s exited with %s during start-up:\n%s"
                                 % (self.name, self.proc.returncode, self.log_tail(60)))

    def ready(self, timeout=30.0):
        """ready: wait for hello, then for Redis to be usable through it (a
        daemon that just started answers "unavailable" while it connects)."""
        c = proto.connect_when_ready(self.sock, timeout, alive=self._check_alive)
        try:
            def redis_up():
                self._check_alive()
                return c.call("stats").get("ok") is True
            wait_until(redis_up, timeout, interval=0.02,
                       msg="jobd %s to reach Redis" % self.name)
        finally:
            c.close()
        return self

    def client(self, timeout=30.0):
        return proto.Client(self.sock, timeout=timeout)

    def workers(self):
        """workers: pids of the worker processes (children of the master)."""
        return child_pids(self.pid)

    def wait_workers(self, n, timeout=20.0):
        return wait_until(lambda: (lambda w: w if len(w) == n else None)(self.workers()),
                          timeout, msg="%d workers of jobd %s" % (n, self.name))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=_signal.SIGTERM, timeout=30.0):
        """stop: signal and wait; the exit status (SIGKILL after timeout)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("jobd %s did not exit %ss after signal %s"
                                     % (self.name, timeout, sig))
        return self.proc.returncode

    def jobctl(self, *args, **kw):
        return run_jobctl(*args, sock=self.sock, **kw)

    def log_text(self):
        if getattr(self, "final_log", None) is not None:
            return self.final_log
        try:
            self.logf.flush()
        except ValueError:
            pass
        with open(self.log, errors="replace") as f:
            return f.read()

    def log_tail(self, n):
        try:
            return "".join(self.log_text().splitlines(True)[-n:])
        except OSError:
            return "(no log)"


def _start_daemon(started, workdir, default_redis, types=None, workers=2,
                  redis=None, settings=None, args=(), name=None, wait=True,
                  env=None, builtins=True):
    name = name or "jobd%d" % (len(started) + 1)
    r = redis or default_redis
    s = {
        "socket": os.path.join(workdir, "%s.sock" % name),
        "redis": r.url,
        "workers": workers,
        "log_level": "debug",
        "lease": 3,
        "grace": 1,
        "shutdown_grace": 10,
        "builtins": builtins,
    }
    s.update(settings or {})
    d = Daemon(name, workdir, r, s, dict(types or {}), args, env, wait=False)
    started.append(d)
    if wait:
        d.ready()
    return d


def _stop_daemons(started):
    """_stop_daemons: SIGTERM each daemon; the list of problems seen (bad
    exit, sanitizer reports)."""
    problems = []
    for d in started:
        if d.proc.poll() is None:
            d.proc.send_signal(_signal.SIGTERM)
            try:
                d.proc.wait(25)
            except subprocess.TimeoutExpired:
                d.proc.kill()
                d.proc.wait()
                problems.append("jobd %s did not exit 25 s after SIGTERM" % d.name)
            else:
                if d.proc.returncode != 0:
                    problems.append("jobd %s exited %s after SIGTERM"
                                    % (d.name, d.proc.returncode))
        elif d.expect_exit is None and d.proc.returncode != 0:
            problems.append("jobd %s died during the test (status %s)"
                            % (d.name, d.proc.returncode))
        d.logf.close()
        d.final_log = d.log_text()   # the work directory goes away next
        m = SANITIZER_RE.search(d.final_log)
        if m:
            problems.append("jobd %s: sanitizer report in its log: %s"
                            % (d.name, m.group(0)))
    if problems:
        for d in started:
            sys.stderr.write("---- jobd log %s ----\n%s\n" % (d.name, d.log_tail(200)))
    return problems


@pytest.fixture
def jobd(request, workdir, redis_server):
    """jobd: factory fixture.  jobd(types=None, workers=2, redis=None,
    settings={...}, args=[...], name=None, wait=True) -> Daemon."""
    started = []
    request.node._jobd_daemons = started

    def start(**kw):
        return _start_daemon(started, workdir, redis_server, **kw)

    yield start
    problems = _stop_daemons(started)
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture(scope="module")
def shared_daemon(request):
    """shared_daemon: one redis-server and jobd (2 workers) for a whole
    module, for tests that leave no state behind that others could see."""
    wd = tempfile.mkdtemp(prefix="jdm", dir="/tmp")
    r = Redis(wd)
    started = []
    request.module._jobd_shared = started
    try:
        d = _start_daemon(started, wd, r, name="shared")
        yield d
        problems = _stop_daemons(started)
    finally:
        for d in started:
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
        r.stop()
        shutil.rmtree(wd, ignore_errors=True)
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def sclient(shared_daemon, request):
    """sclient: a connection to the module's shared daemon."""
    request.node._jobd_daemons = [shared_daemon]
    c = shared_daemon.client()
    yield c
    c.close()


@pytest.fixture
def daemon(jobd):
    """daemon: one jobd with 2 workers and the builtin types."""
    return jobd()


@pytest.fixture
def client(daemon):
    c = daemon.client()
    yield c
    c.close()
