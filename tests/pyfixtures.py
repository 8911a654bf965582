"""pyfixtures.py: the one harness of every Python test suite
(tests/integration, tests/python, tests/app, tests/faults).  It starts the
real processes the tests talk to; the suites' conftest.py files only pick
the fixtures they want from here.

- config(jobd={...}, types={...}, access={...}): the one function that
  writes jobd config text (INI) from dicts.
- RedisServer: a private redis-server on a Unix socket, optionally with an
  AOF (appendfsync always) and restartable on the same directory.
- Jobd: one "jobd -f -c CONF" (config written by config()), restartable.
- JobdStack: a RedisServer and a Jobd in one temporary directory.
- StoryApp: RedisServer + jobd with the story app's own jobd.conf + the app.
- Fixtures (used by the conftests): workdir, redis_server, jobd (a
  factory), shared_daemon, sclient, daemon, client; attach_logs() for the
  report hook.
- Helpers: wait_until, jobctl, child_pids, pid_alive, handler paths.

Where things are found:

- jobd: ``$JOBD_BUILDDIR/jobd``; without JOBD_BUILDDIR, ``<repo>/_build``,
  then the repository root.
- libjobclient: ``$JOBCLIENT_LIB``, else
  ``<builddir>/libclient/.libs/libjobclient.so`` (exported as
  JOBCLIENT_LIB for the binding).
- redis-server: ``$REDIS_SERVER`` or the one on PATH.
"""

import json
import os
import re
import shutil
import signal as _signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SRCDIR = os.environ.get("JOBD_SRCDIR") or str(REPO)
BINDINGS = REPO / "bindings" / "python"
APP_DIR = REPO / "examples" / "storyapp"
HANDLERS = os.path.join(SRCDIR, "tests", "handlers")

# proto.py (the raw protocol client) lives with the integration tests.
_INTEGRATION = str(REPO / "tests" / "integration")
if _INTEGRATION not in sys.path:
    sys.path.append(_INTEGRATION)
import proto  # noqa: E402


def build_dirs():
    env = os.environ.get("JOBD_BUILDDIR")
    if env:
        return [Path(env)]
    return [REPO / "_build", REPO]


def find_jobd():
    for d in build_dirs():
        exe = d / "jobd"
        if exe.is_file() and os.access(exe, os.X_OK):
            return exe
    return None


def find_lib():
    env = os.environ.get("JOBCLIENT_LIB")
    if env:
        return env if os.path.exists(env) else None
    for d in build_dirs():
        lib = d / "libclient" / ".libs" / "libjobclient.so"
        if lib.exists():
            return str(lib)
    return None


def find_redis():
    exe = os.environ.get("REDIS_SERVER") or shutil.which(
        "redis-server", path="/usr/bin:/usr/sbin:" + os.environ.get("PATH", ""))
    return exe if exe and os.path.exists(exe) else None


BUILDDIR = str(build_dirs()[0])
JOBD = str(find_jobd() or os.path.join(BUILDDIR, "jobd"))
JOBCTL = os.path.join(os.path.dirname(JOBD), "jobctl", "jobctl")
PYTHON3 = os.environ.get("PYTHON3") or "/usr/bin/python3"
REDIS_SERVER = find_redis() or "/usr/bin/redis-server"

JOB_ID_RE = re.compile(r"^j_[0-9A-HJKMNP-TV-Z]{26}$")
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")
ERROR_CODES = {"bad_json", "bad_request", "unknown_op", "unknown_type",
               "not_found", "conflict", "forbidden", "frame_too_large",
               "unavailable", "busy", "internal"}
TERMINAL = {"finished", "failed", "canceled"}
SANITIZER_RE = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|"
                          r"runtime error:|SUMMARY: UndefinedBehaviorSanitizer")


def use_app_paths():
    """use_app_paths: the binding and the story app importable, and the
    binding pointed at the built library (tests/python, tests/app)."""
    for p in (str(BINDINGS), str(APP_DIR)):
        if p not in sys.path:
            sys.path.insert(0, p)
    export_lib_env()


def export_lib_env():
    """Point the binding at the built library."""
    lib = find_lib()
    if lib and not os.environ.get("JOBCLIENT_LIB"):
        os.environ["JOBCLIENT_LIB"] = lib


def missing_tools():
    """Why daemon tests cannot run, or None."""
    if find_redis() is None:
        return "redis-server not found"
    if find_jobd() is None:
        return ("jobd not built (looked in "
                + ", ".join(str(d) for d in build_dirs()) + ")")
    if find_lib() is None:
        return "libjobclient.so not built (set JOBCLIENT_LIB)"
    return None


def short_tmpdir(prefix):
    """A temp dir with a short path (Unix socket paths max 107 bytes)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


# --- small helpers --------------------------------------------------------

def free_port():
    """free_port: a TCP port on 127.0.0.1 free just now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


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


def stop_process(proc, grace=10.0):
    """SIGTERM, then SIGKILL after *grace* seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(_signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def wait_for_socket(path, timeout=10.0, proc=None):
    """Wait until a Unix socket accepts connections."""
    path = Path(path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} "
                               f"before listening on {path}")
        if path.exists():
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(str(path))
                return
            except OSError:
                pass
            finally:
                s.close()
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {path} after {timeout}s")


def jobd_request(path, request, timeout=5.0):
    """One raw protocol round trip, without the binding."""
    c = proto.Client(str(path), timeout=timeout)
    try:
        return c.request(request)
    finally:
        c.close()


def wait_for_jobd_ready(path, timeout=10.0):
    """Wait until jobd answers a request that needs Redis (it may listen
    before its Redis connection is up)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = jobd_request(path, {"op": "stats"})
            if isinstance(last, dict) and last.get("ok"):
                return
        except (OSError, proto.ProtocolError) as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"jobd at {path} not ready: {last!r}")


# --- config text ----------------------------------------------------------

def _ini_value(v):
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):
        return json.dumps(list(v))
    return str(v)


def _section(lines, name, settings):
    if lines:
        lines.append("")
    lines.append("[%s]" % name)
    for k, v in settings.items():
        if v is None:
            continue
        if k == "env" and isinstance(v, (list, tuple)):
            # env is the one key a section may repeat.
            lines.extend("env = %s" % item for item in v)
        else:
            lines.append("%s = %s" % (k, _ini_value(v)))


def config(jobd=None, types=None, **sections):
    """config: jobd config text from dicts.  jobd: the [jobd] settings;
    types: {name: settings} for the [type:NAME] sections; any other keyword
    is one more section ([access], ...).  Values: bool -> yes/no, list ->
    JSON array, None -> left out; a list "env" is one line per item."""
    lines = []
    _section(lines, "jobd", jobd or {})
    for name, sect in sections.items():
        _section(lines, name, sect)
    for name, sect in (types or {}).items():
        _section(lines, "type:%s" % name, sect)
    return "\n".join(lines) + "\n"


def render_config(settings, types):
    """render_config: config() of a [jobd] section and the types."""
    return config(jobd=settings, types=types)


# --- redis ----------------------------------------------------------------

def _redis_command(sock_path, args):
    """_redis_command: one RESP command over a Unix socket; the reply as
    text (simple replies only: enough for PING and INFO)."""
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


class RedisServer:
    """RedisServer: a private redis-server on a Unix socket in workdir.
    aof=True: appendonly with appendfsync always (a SIGKILL loses nothing
    acknowledged), restartable with start() on the same directory."""

    def __init__(self, workdir, aof=False):
        self.dir = str(workdir)
        self.aof = aof
        self.sock = os.path.join(self.dir, "redis.sock")
        self.socket = Path(self.sock)
        self.url = "unix://" + self.sock
        self.log = os.path.join(self.dir, "redis.log")
        self.proc = None

    def start(self, timeout=30.0):
        argv = [REDIS_SERVER, "--port", "0", "--unixsocket", self.sock,
                "--unixsocketperm", "700", "--save", ""]
        if self.aof:
            argv += ["--appendonly", "yes", "--appendfsync", "always",
                     "--maxmemory-policy", "noeviction",
                     "--enable-debug-command", "yes"]
        else:
            argv += ["--appendonly", "no"]
        argv += ["--dir", self.dir, "--logfile", self.log,
                 "--daemonize", "no"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        wait_until(self._ready, timeout, msg="redis-server to answer PING")
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("redis-server exited %s: %s"
                               % (self.proc.returncode, self.log_tail(20)))
        if not os.path.exists(self.sock):
            return False
        try:
            return self.cli("PING").strip() == "PONG"
        except OSError:
            return False

    def cli(self, *args):
        """cli: one Redis command over the socket; the reply as text."""
        return _redis_command(self.sock, args)

    def client(self, **kw):
        import redis  # Debian's python3-redis
        return redis.Redis(unix_socket_path=self.sock, decode_responses=True,
                           **kw)

    def log_tail(self, n=40):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def kill(self):
        """kill: SIGKILL, and wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- jobd -----------------------------------------------------------------

class Jobd:
    """Jobd: one "jobd -f -c DIR/NAME.conf", its output in DIR/NAME.log.
    The config is config(jobd=settings, types=types), or text as given.
    start() may be called again after stop()."""

    def __init__(self, workdir, settings=None, types=None, *, name="jobd",
                 text=None, redis=None, args=(), env=None, socket_path=None,
                 wrapper=()):
        self.name = name
        self.dir = str(workdir)
        self.redis = redis
        self.settings = dict(settings or {})
        self.types = dict(types or {})
        self.sock = str(socket_path or self.settings.get("socket")
                        or os.path.join(self.dir, "%s.sock" % name))
        self.socket = Path(self.sock)
        self.conf = os.path.join(self.dir, "%s.conf" % name)
        self.log = os.path.join(self.dir, "%s.log" % name)
        self.args = list(args)
        self.wrapper = list(wrapper)   # e.g. valgrind and its options
        self.env = env
        self.expect_exit = None   # set when a test stops it itself
        self.final_log = None
        self.proc = None
        self.pid = None
        self.logf = None
        self.write_config(text=text)

    def write_config(self, settings=None, types=None, text=None, **sections):
        """write_config: config(jobd=settings, types=types, **sections),
        its own settings and types when not given, or text as is."""
        if text is None:
            text = config(jobd=settings if settings is not None else self.settings,
                          types=types if types is not None else self.types,
                          **sections)
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self, wait=True, timeout=30.0):
        e = dict(os.environ)
        e.update(self.env or {})
        if self.logf is not None:
            self.logf.close()
        self.final_log = None
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(self.wrapper + [JOBD, "-f", "-c", self.conf]
                                     + self.args,
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf,
                                     env=e)
        self.pid = self.proc.pid
        if wait:
            self.ready(timeout)
        return self

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
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=_signal.SIGTERM, timeout=30.0):
        """stop: signal and wait; the exit status (SIGKILL after timeout)."""
        if self.proc is None:
            return None
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
        if self.final_log is not None:
            return self.final_log
        try:
            self.logf.flush()
        except (ValueError, AttributeError):
            pass
        with open(self.log, errors="replace") as f:
            return f.read()

    def log_tail(self, n=40):
        try:
            return "".join(self.log_text().splitlines(True)[-n:])
        except OSError:
            return "(no log)"

    def finish(self):
        """finish: close the log and keep its text (the work directory may
        go away next); a sanitizer report in it, or None."""
        if self.logf is not None:
            self.logf.close()
        try:
            self.final_log = self.log_text()
        except OSError:
            self.final_log = ""
        m = SANITIZER_RE.search(self.final_log)
        return m.group(0) if m else None


class JobdStack:
    """JobdStack: a RedisServer and one Jobd (config(jobd=settings,
    types=types), socket and redis filled in) in tmp."""

    def __init__(self, tmp, settings=None, types=None):
        self.tmp = Path(tmp)
        self.redis = RedisServer(tmp).start()
        self.socket = self.tmp / "jobd.sock"
        s = {"socket": str(self.socket), "redis": self.redis.url}
        s.update(settings or {})
        self.jobd = Jobd(tmp, s, types, redis=self.redis)
        try:
            self.jobd.start()
        except BaseException:
            self.close()
            raise

    def close(self):
        try:
            self.jobd.stop()
        finally:
            self.redis.stop()


class StoryApp:
    """StoryApp: redis-server + jobd (the app's own examples/storyapp/
    jobd.conf as it is, with worker.py's -o overrides and environment for
    this checkout) + the app
    (USE_BACKGROUND_JOBS), sharing one SQLite file in tmp."""

    def __init__(self, tmp, extra_env=None):
        import worker  # examples/storyapp/worker.py
        from storyapp.config import Settings
        from storyapp.services import StoryService
        from storyapp.web import create_app
        self.tmp = Path(tmp)
        self.redis = RedisServer(tmp).start()
        self.socket = self.tmp / "jobd.sock"
        env = {"JOBD_SOCKET": str(self.socket), "REDIS_URL": self.redis.url,
               "STORY_DB": str(self.tmp / "stories.db"),
               "EXPORT_DIR": str(self.tmp / "exports"),
               "STORYAPP_ENV": str(self.tmp / "none.env"),
               "STORY_OFFLINE_DELAY": "0.3", **(extra_env or {})}
        local = worker.local_settings(env, workers=2)
        local["jobd"].update(log_level="debug", log_target="stderr")
        # the -c after Jobd's own (empty) file is the one jobd reads
        self.jobd = Jobd(tmp, text="", socket_path=self.socket,
                         redis=self.redis, args=worker.jobd_args(local),
                         env=local["env"])
        try:
            self.jobd.start()
        except BaseException:
            self.redis.stop()
            raise
        env["USE_BACKGROUND_JOBS"] = "true"
        env["JOBD_SOCKET"] = str(self.socket)
        self.settings = Settings.from_env(env, dotenv=False)
        self.service = StoryService(self.settings)
        self.app = create_app(self.settings, self.service)
        self.app.testing = True

    def close(self):
        try:
            self.app.extensions["storyapp"]["jobs"].close()
            self.jobd.stop()
        finally:
            self.redis.stop()


# --- fixtures (a conftest imports those its suite uses) -------------------

@pytest.fixture
def workdir():
    """workdir: a short private directory (Unix socket paths are limited to
    108 bytes, so pytest's tmp_path is too deep)."""
    d = tempfile.mkdtemp(prefix="jdt", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def redis_server(workdir, request):
    r = RedisServer(workdir).start()
    request.node._redis_server = r
    yield r
    r.stop()


def start_daemon(started, workdir, default_redis, types=None, workers=2,
                 redis=None, settings=None, args=(), name=None, wait=True,
                 env=None, builtins=True, sections=None):
    """start_daemon: a Jobd with the integration tests' defaults, appended
    to started (before it is ready, so that teardown sees it)."""
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
    d = Jobd(workdir, s, types, name=name, redis=r, args=args, env=env)
    if sections:
        # more sections, e.g. {"limit:llm": {...}}
        d.write_config(**sections)
    started.append(d)
    d.start(wait=wait)
    return d


def stop_daemons(started):
    """stop_daemons: SIGTERM each daemon; the list of problems seen (bad
    exit, sanitizer reports)."""
    problems = []
    for d in started:
        if d.proc is None:
            continue
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
        report = d.finish()
        if report:
            problems.append("jobd %s: sanitizer report in its log: %s"
                            % (d.name, report))
    if problems:
        for d in started:
            sys.stderr.write("---- jobd log %s ----\n%s\n" % (d.name, d.log_tail(200)))
    return problems


@pytest.fixture
def jobd(request, workdir, redis_server):
    """jobd: factory fixture.  jobd(types=None, workers=2, redis=None,
    settings={...}, args=[...], name=None, wait=True) -> Jobd."""
    started = []
    request.node._jobd_daemons = started

    def start(**kw):
        return start_daemon(started, workdir, redis_server, **kw)

    yield start
    problems = stop_daemons(started)
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture(scope="module")
def shared_daemon(request):
    """shared_daemon: one redis-server and jobd (2 workers) for a whole
    module, for tests that leave no state behind that others could see."""
    wd = tempfile.mkdtemp(prefix="jdm", dir="/tmp")
    r = RedisServer(wd).start()
    started = []
    request.module._jobd_shared = started
    try:
        d = start_daemon(started, wd, r, name="shared")
        yield d
        problems = stop_daemons(started)
    finally:
        for d in started:
            if d.alive():
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


def attach_logs(item, rep, daemons=None, redis=None, lines=300):
    """attach_logs: the logs of the daemons (default: the test's jobd
    fixture's) and of redis-server to the report of a failed test."""
    if not rep.failed:
        return
    if daemons is None:
        daemons = getattr(item, "_jobd_daemons", [])
    for d in daemons:
        rep.sections.append(("jobd log %s (pid %s)" % (d.name, d.pid),
                             d.log_tail(lines)))
    r = redis if redis is not None else getattr(item, "_redis_server", None)
    if r is not None and rep.when != "setup":
        rep.sections.append(("redis-server log", r.log_tail(40)))
