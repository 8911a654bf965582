"""faults_lib.py: the fault-injection suite's harness.

- Cluster: jobd daemons (two by default: "a" and "b" stand for two hosts)
  sharing one Redis with an AOF (pyfixtures.RedisServer(aof=True), which
  can be SIGKILLed and started again on the same directory), each
  restartable under the same name, socket and log.
- ExecLog: parses the execution log written by handlers/record.sh and
  handlers/record_persistent.py.
- FaultLog: what was done to which process, when.

The processes are started by tests/pyfixtures.py (RedisServer, Jobd,
child_pids, ...), the harness of every Python suite.
"""
import collections
import functools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import pyfixtures as it  # noqa: E402
from pyfixtures import proto  # noqa: E402

HANDLERS = os.path.join(HERE, "handlers")
RECORD_SH = os.path.join(HANDLERS, "record.sh")
RECORD_PY = os.path.join(HANDLERS, "record_persistent.py")
TERMINAL = {"finished", "failed", "canceled"}


def env_num(name, default, kind=float):
    v = os.environ.get(name)
    if v is None or v == "":
        return default
    return kind(v)


def uptime():
    """uptime: seconds since boot, the clock the handlers log with."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


# --- logs ------------------------------------------------------------------

class FaultLog:
    """FaultLog: every fault injected: (uptime, kind, pid, daemon, detail).
    kinds: kill_handler, kill_worker, kill_master, sigterm, sigterm2,
    sighup, redis_kill, redis_start, master_start."""

    def __init__(self):
        self.lock = threading.Lock()
        self.events = []

    def add(self, kind, pid=0, daemon="", detail=""):
        with self.lock:
            self.events.append({"t": uptime(), "kind": kind, "pid": pid,
                                "daemon": daemon, "detail": detail})

    def counts(self):
        return dict(collections.Counter(e["kind"] for e in self.events))

    def killed(self):
        """killed: pid -> uptime of the SIGKILL we sent it (handler, worker,
        master) or of the SIGTERM (shutdown) sent to a master."""
        out = {}
        for e in self.events:
            if e["kind"] in ("kill_handler", "kill_worker", "kill_master",
                             "sigterm", "sigterm2") and e["pid"]:
                out.setdefault(e["pid"], e["t"])
        return out

    def redis_down(self):
        """redis_down: [(from, to)] uptimes when Redis was down."""
        spans, t0 = [], None
        for e in self.events:
            if e["kind"] == "redis_kill":
                t0 = e["t"]
            elif e["kind"] == "redis_start" and t0 is not None:
                spans.append((t0, e["t"]))
                t0 = None
        return spans

    def dump(self, path):
        with open(path, "w") as f:
            json.dump(self.events, f, indent=1)


Execution = collections.namedtuple(
    "Execution", "job attempt pid worker master t end")


def read_exec_log(path):
    """read_exec_log: job id -> [Execution] in the order they started
    (the log is appended with O_APPEND, so file order is time order)."""
    runs = collections.defaultdict(list)
    by_pid = {}
    try:
        f = open(path, errors="replace")
    except FileNotFoundError:
        return runs
    with f:
        for line in f:
            p = line.split()
            if len(p) >= 7 and p[0] == "start":
                e = Execution(p[1], int(p[2]), int(p[3]), int(p[4]),
                              int(p[5]), float(p[6]), None)
                runs[p[1]].append(e)
                by_pid[(p[1], int(p[3]))] = len(runs[p[1]]) - 1
            elif len(p) >= 5 and p[0] == "end":
                k = (p[1], int(p[3]))
                if k in by_pid:
                    i = by_pid[k]
                    runs[p[1]][i] = runs[p[1]][i]._replace(end=p[4])
    return runs


# --- daemons ---------------------------------------------------------------

def fault_types(exec_log):
    """fault_types: the job types of the suite, all logging to exec_log."""
    sh = ["/bin/sh", RECORD_SH]
    common = {"timeout": 60, "retries": 3, "backoff": "0.2"}
    types = {}
    for mode in ("quick", "short", "slow"):
        t = dict(common)
        t.update(handler="exec", command=sh + [mode, exec_log])
        types["f." + mode] = t
    types["f.fail"] = {"handler": "exec", "command": sh + ["fail", exec_log],
                       "timeout": 60, "retries": 1, "backoff": "0.2"}
    types["f.long"] = {"handler": "exec",
                       "command": sh + ["long", exec_log, "10"],
                       "timeout": 120, "retries": 3, "backoff": "0.2"}
    types["f.mid"] = {"handler": "exec",
                      "command": sh + ["long", exec_log, "3"],
                      "timeout": 60, "retries": 3, "backoff": "0.2"}
    types["f.pers"] = {"handler": "exec", "persistent": True,
                       "command": [it.PYTHON3, RECORD_PY, exec_log],
                       "timeout": 60, "retries": 3, "backoff": "0.2"}
    return types


class Cluster:
    """Cluster: daemons sharing one RedisServer(aof=True) in workdir."""

    def __init__(self, workdir, redis, exec_log, settings=None, workers=3):
        self.dir = workdir
        self.redis = redis
        self.exec_log = exec_log
        self.types = fault_types(exec_log)
        self.settings = {"lease": 2, "grace": 1, "shutdown_grace": 2,
                         "log_level": "info", "workers": workers,
                         "builtins": True}
        self.settings.update(settings or {})
        self.daemons = {}      # name -> current Daemon
        self.all = []          # every Daemon ever started (for logs)
        self.lock = threading.RLock()

    def start(self, name, wait=True, timeout=30.0, args=(), **override):
        s = {"socket": os.path.join(self.dir, "%s.sock" % name),
             "redis": self.redis.url}
        s.update(self.settings)
        s.update(override)
        d = it.Jobd(self.dir, s, self.types, name=name, redis=self.redis,
                    args=args)
        with self.lock:
            self.daemons[name] = d
            self.all.append(d)
        d.start(wait=False)
        if wait:
            d.ready(timeout)
        return d

    def sock(self, name):
        return os.path.join(self.dir, "%s.sock" % name)

    def live(self):
        with self.lock:
            return [d for d in self.daemons.values() if d.alive()]

    def log_text(self, name):
        with self.lock:
            d = self.daemons.get(name)
        return d.log_text() if d is not None else ""

    def all_logs(self):
        seen, out = set(), []
        for d in self.all:
            if d.log in seen:
                continue
            seen.add(d.log)
            out.append((d.name, d.log_text()))
        return out

    def stop_all(self, timeout=20.0):
        """stop_all: SIGTERM every daemon; returns problems (bad exits)."""
        problems = []
        for d in list(self.daemons.values()):
            if d.alive():
                d.proc.send_signal(signal.SIGTERM)
        for d in list(self.daemons.values()):
            try:
                d.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                d.proc.kill()
                d.proc.wait()
                problems.append("jobd %s did not exit %ss after SIGTERM"
                                % (d.name, timeout))
        for d in self.all:
            report = d.finish()
            if report:
                problems.append("jobd %s: sanitizer report: %s"
                                % (d.name, report))
        return sorted(set(problems))

    def kill_all(self):
        for d in self.all:
            if d.alive():
                d.proc.kill()
                d.proc.wait()


def descendants(pid):
    """descendants: (workers, handler pids) of a master."""
    workers = it.child_pids(pid)
    handlers = []
    for w in workers:
        handlers.extend(it.child_pids(w))
    return workers, handlers


def tree(pid):
    """tree: every descendant of pid (handlers' own children included)."""
    out, todo = [], [pid]
    while todo:
        for k in it.child_pids(todo.pop()):
            out.append(k)
            todo.append(k)
    return out


def kill(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


# --- submitting ------------------------------------------------------------

class Submitter:
    """Submitter: submits jobs (caller-chosen ids) through whichever daemon
    answers.  A job counts as accepted when a submit answered ok, or when a
    retried submit answered conflict (the earlier try had in fact been
    accepted).  Errors and broken connections leave it pending, retried
    later with the same id."""

    def __init__(self, cluster, names):
        self.cluster = cluster
        self.names = list(names)
        self.conns = {}
        self.accepted = {}       # id -> spec
        self.pending = collections.OrderedDict()
        self.tried = set()
        self.attempts = 0
        self.errors = collections.Counter()
        self.max_latency = 0.0
        self.latencies = []

    def _conn(self, name):
        c = self.conns.get(name)
        if c is None:
            c = proto.Client(self.cluster.sock(name), timeout=15.0)
            self.conns[name] = c
        return c

    def _drop(self, name):
        c = self.conns.pop(name, None)
        if c is not None:
            c.close()

    def call(self, req):
        """call: send req to some daemon; the response, or None."""
        names = self.names[:]
        random.shuffle(names)
        self.maybe_sent = False
        for name in names:
            t0 = time.monotonic()
            try:
                r = self._conn(name).request(req)
            except (OSError, proto.ProtocolError) as e:
                # A request written before the connection broke may have
                # been carried out.
                if not isinstance(e, (ConnectionRefusedError,
                                      FileNotFoundError)):
                    self.maybe_sent = True
                self._drop(name)
                self.errors["connection: %s" % type(e).__name__] += 1
                continue
            finally:
                dt = time.monotonic() - t0
                self.max_latency = max(self.max_latency, dt)
                self.latencies.append(dt)
            return r
        return None

    def submit(self, spec):
        """submit: try once; True when accepted."""
        jid = spec["job_id"]
        retry = jid in self.tried
        self.tried.add(jid)
        self.attempts += 1
        req = dict(spec)
        req["op"] = "submit"
        r = self.call(req)
        if r is not None and r.get("ok"):
            self.accepted[jid] = spec
            self.pending.pop(jid, None)
            return True
        if r is not None:
            code = r.get("error", {}).get("code")
            if code == "conflict" and (retry or self.maybe_sent):
                self.accepted[jid] = spec
                self.pending.pop(jid, None)
                return True
            self.errors["error: %s" % code] += 1
        self.pending[jid] = spec
        return False

    def retry_pending(self, limit=50):
        for jid in list(self.pending)[:limit]:
            self.submit(self.pending[jid])

    def close(self):
        for n in list(self.conns):
            self._drop(n)


def job_specs(n, seed):
    """job_specs: n job specs, a mix of exec (record.sh, persistent) and
    builtin types; ids f000001..  Each spec carries its kind in "_kind"
    (removed before sending)."""
    rnd = random.Random(seed)
    kinds = [("f.quick", 44), ("f.short", 14), ("f.slow", 2), ("f.fail", 6),
             ("f.pers", 8), ("f.pers.fail", 2), ("jobd.noop", 12),
             ("jobd.sleep", 6), ("jobd.fail", 3), ("cancel", 3)]
    names = [k for k, _ in kinds]
    weights = [w for _, w in kinds]
    out = []
    for i in range(n):
        k = rnd.choices(names, weights)[0]
        spec = {"job_id": "f%06d" % (i + 1)}
        if k == "f.pers":
            spec.update(type="f.pers", payload={"ms": rnd.choice([0, 5, 50])})
        elif k == "f.pers.fail":
            spec.update(type="f.pers", payload={"fail": True}, retries=1)
        elif k == "jobd.sleep":
            spec.update(type="jobd.sleep", payload={"seconds": 0.3},
                        retries=3)
        elif k in ("jobd.noop", "jobd.fail"):
            spec.update(type=k, retries=3 if k == "jobd.noop" else 1)
        elif k == "cancel":
            # A slow job we cancel soon after: queued or started.
            spec.update(type="f.slow")
        else:
            spec.update(type=k)
        out.append((k, spec))
    return out


# --- reading the outcome ---------------------------------------------------

@functools.lru_cache(maxsize=None)
def _library():
    """_library: the versioned library name, jobd.lua's "#!lua name=...";
    its functions are <name>_<function>."""
    with open(os.path.join(it.SRCDIR, "daemon", "jobd.lua")) as f:
        return f.readline().split("name=")[1].strip()


def _get(p, jid, prefix="jobd", ns="main"):
    """_get: queue jobd's own record read (the get function) of jid on
    p, a Redis client or pipeline."""
    k = "%s:{%s}:" % (prefix, ns)
    return p.execute_command("FCALL", _library() + "_get", 1, k + "meta", k,
                             0, 0, jid)


def _fields(r):
    """_fields: a jobd_get reply, {id, MessagePack map}, as a dict (None: no
    such job); the counters a record leaves out while they are zero read as
    "0"."""
    import msgpack  # Debian's python3-msgpack
    if not isinstance(r, list):
        return None
    d = {"attempts": "0", "lost": "0"}
    d.update(msgpack.unpackb(r[1], raw=False))
    return d


def _raw(rc):
    """_raw: a client of rc's Redis that reads replies as bytes: records
    come back as MessagePack, not text."""
    import redis
    kw = rc.connection_pool.connection_kwargs
    return redis.Redis(unix_socket_path=kw["path"],
                       socket_timeout=kw.get("socket_timeout"))


def read_records(rc, ids):
    """read_records: id -> the job's fields (or None when missing)."""
    raw = _raw(rc)
    out = {}
    ids = list(ids)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        p = raw.pipeline(transaction=False)
        for jid in chunk:
            _get(p, jid)
        for jid, h in zip(chunk, p.execute(raise_on_error=False)):
            out[jid] = _fields(h)
    return out


# --- small helpers for the focused tests -----------------------------------

def wait_run(cluster, jid, n=1, timeout=20.0):
    """wait_run: the n-th logged execution of jid."""
    def cond():
        r = read_exec_log(cluster.exec_log).get(jid, [])
        return r[n - 1] if len(r) >= n else None
    return it.wait_until(cond, timeout, msg="run %d of %s" % (n, jid))


def record(rc, jid):
    try:
        return _fields(_get(_raw(rc), jid)) or {}
    except Exception:   # NOT_FOUND
        return {}


def pgid_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def group_gone(pgid, timeout=5.0):
    """group_gone: True once no process of group pgid is left (zombies of
    a reaped group count as gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = False
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % p) as f:
                    st = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(st[2]) == pgid and st[0] not in ("Z", "X"):
                alive = True
                break
        if not alive:
            return True
        time.sleep(0.05)
    return False
