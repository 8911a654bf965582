"""test_upgrade.py: versions of the Redis function library and of the key
schema (docs/architecture.md, "Versions and rolling upgrades").

- A rolling upgrade: the previous build of jobd (built here from git
  history, cached in the build directory) and this one run on one Redis,
  each with its own library, jobs submitted to both; the old one is
  stopped mid-flow; every job ends finished, none lost, none run twice.
- A daemon refuses a namespace whose stored key schema is not its own.
- Daemons of the same version starting together share one library.

The previous build is commit JOBD_UPGRADE_FROM (default c42fd9a, the last
one before library versioning).  Building it takes about half a minute of
CPU once (only jobd, -O0); later runs reuse it.  The test is skipped only
when git or that commit is not available (a release tarball, a shallow
clone).
"""
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

import pyfixtures
from jobd_itest import BUILDDIR, SRCDIR, proto, wait_until, write_script

OLD_COMMIT = os.environ.get("JOBD_UPGRADE_FROM") or "c42fd9a"
LUA = os.path.join(SRCDIR, "daemon", "jobd.lua")
with open(LUA) as _f:   # "#!lua name=jobd_v<N>"
    LIBRARY = _f.readline().split("name=")[1].strip()
SCHEMA_KEY = "jobd:{main}:schema"

# A job that takes a while (the old daemon is stopped with jobs running)
# and notes each run.
RECORDER = """#!/bin/sh
cat >/dev/null
sleep 0.05
echo "$JOBD_JOB_ID" >> "%s"
echo '{}'
"""


# --- the previous build -----------------------------------------------------

def _git(*args):
    return subprocess.run(["git", "-C", SRCDIR] + list(args),
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True)


def _build_step(argv, cwd, log):
    """_build_step: run one build command, its output appended to log."""
    with open(log, "ab") as f:
        f.write(("$ %s\n" % " ".join(argv)).encode())
        f.flush()
        r = subprocess.run(["nice"] + argv, cwd=cwd, stdin=subprocess.DEVNULL,
                           stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        with open(log, errors="replace") as f:
            tail = "".join(f.readlines()[-40:])
        pytest.fail("building jobd %s: %s failed:\n%s"
                    % (OLD_COMMIT, argv[0], tail))


@pytest.fixture(scope="module")
def old_jobd():
    """old_jobd: the path of jobd built from OLD_COMMIT, cached under
    $JOBD_BUILDDIR/upgrade-from/<commit>/jobd."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed: cannot build the previous jobd")
    top = _git("rev-parse", "--show-toplevel")
    if top.returncode != 0 or \
            os.path.realpath(top.stdout.strip()) != os.path.realpath(SRCDIR):
        pytest.skip("%s is not a git checkout (a release tarball?): no "
                    "previous build to upgrade from" % SRCDIR)
    rev = _git("rev-parse", "--verify", "-q", OLD_COMMIT + "^{commit}")
    if rev.returncode != 0:
        pytest.skip("commit %s is not in this checkout's history (a shallow "
                    "clone?); fetch it or set JOBD_UPGRADE_FROM"
                    % OLD_COMMIT)
    commit = rev.stdout.strip()
    cache = os.path.join(BUILDDIR, "upgrade-from", commit[:12])
    binary = os.path.join(cache, "jobd")
    if os.access(binary, os.X_OK):
        return binary
    os.makedirs(cache, exist_ok=True)
    with open(cache + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)    # another run may be building it
        if os.access(binary, os.X_OK):
            return binary
        t0 = time.monotonic()
        src = os.path.join(cache, "src")
        log = os.path.join(cache, "build.log")
        shutil.rmtree(src, ignore_errors=True)
        os.makedirs(src)
        with open(log, "wb"):
            pass
        archive = subprocess.Popen(["git", "-C", SRCDIR, "archive", commit],
                                   stdout=subprocess.PIPE)
        untar = subprocess.run(["tar", "-x", "-C", src], stdin=archive.stdout)
        archive.stdout.close()
        if archive.wait() != 0 or untar.returncode != 0:
            pytest.fail("git archive %s failed" % commit)
        _build_step(["./autogen.sh"], src, log)
        _build_step(["./configure", "-q", "CFLAGS=-O0"], src, log)
        _build_step(["make", "-j2", "jobd"], src, log)
        shutil.copy2(os.path.join(src, "jobd"), binary + ".tmp")
        os.rename(binary + ".tmp", binary)
        shutil.rmtree(src, ignore_errors=True)
        sys.stderr.write("test_upgrade: built jobd %s in %.0f s (cached in "
                         "%s)\n" % (commit[:12], time.monotonic() - t0, cache))
    return binary


# --- helpers ------------------------------------------------------------------

def libraries(r):
    """libraries: {library name: [function names]} from FUNCTION LIST."""
    out = {}
    for lib in r.execute_command("FUNCTION", "LIST"):
        d = dict(zip(lib[0::2], lib[1::2]))
        out[d["library_name"]] = sorted(dict(zip(f[0::2], f[1::2]))["name"]
                                        for f in d["functions"])
    return out


class Submitter(threading.Thread):
    """Submitter: submits "rec" jobs with ids PREFIX-<n> to one daemon until
    stopped or the daemon stops answering.  acked: ids the daemon said it
    stored; tried: every id sent."""

    def __init__(self, daemon, prefix, pause=0.02):
        super().__init__(daemon=True)
        self.sock = daemon.sock
        self.prefix = prefix
        self.pause = pause
        self.acked, self.tried, self.errors = [], [], []
        self.halt = threading.Event()

    def run(self):
        n = 0
        try:
            with proto.Client(self.sock, timeout=20) as c:
                while not self.halt.is_set():
                    n += 1
                    jid = "%s-%d" % (self.prefix, n)
                    self.tried.append(jid)
                    r = c.call("submit", type="rec", job_id=jid,
                               payload={"n": n})
                    if r.get("ok") is not True:
                        self.errors.append(r)
                        return
                    self.acked.append(r["job_id"])
                    time.sleep(self.pause)
        except (OSError, proto.ProtocolError) as e:
            self.errors.append(e)


def pid_of(job):
    """pid_of: the pid of the worker of a job record ("host:pid")."""
    return int(job["worker"].rsplit(":", 1)[1])


def start_old(jobd, binary, **kw):
    """start_old: jobd(**kw) running the previous build's binary."""
    saved = pyfixtures.JOBD
    pyfixtures.JOBD = binary
    try:
        return jobd(**kw)
    finally:
        pyfixtures.JOBD = saved


# --- the rolling upgrade --------------------------------------------------------

def test_rolling_upgrade_old_and_new_daemon_share_redis(jobd, redis_server,
                                                        workdir, old_jobd):
    log = os.path.join(workdir, "ran.log")
    rec = write_script(workdir, "rec.sh", RECORDER % log)
    types = {"rec": {"handler": "exec", "command": [rec]}}
    r = redis_server.client()

    old = start_old(jobd, old_jobd, types=types, workers=2, name="old")
    assert LIBRARY not in libraries(r)
    new = jobd(types=types, workers=2, name="new")
    libs = libraries(r)
    # Side by side, each its own functions; the old library untouched.
    assert "jobd_submit" in libs["jobd"], libs
    assert LIBRARY + "_submit" in libs[LIBRARY], libs
    assert all(f.startswith(LIBRARY + "_") for f in libs[LIBRARY])
    assert r.get(SCHEMA_KEY) == "1"
    assert "function library %s, key schema 1" % LIBRARY in new.log_text()
    old_workers = set(old.wait_workers(2))
    new_workers = set(new.wait_workers(2))

    subs = [Submitter(old, "o"), Submitter(new, "n")]
    for s in subs:
        s.start()
    wait_until(lambda: all(len(s.acked) >= 50 for s in subs), 30,
               msg="jobs flowing through both daemons")

    def old_running():
        with old.client() as c:
            jobs = c.ok("list", status="started")["jobs"]
        return any(pid_of(j) in old_workers for j in jobs)
    wait_until(old_running, 20, msg="a job running on the old daemon")
    assert old.stop() == 0          # SIGTERM mid-flow, a job running
    subs[0].join(30)
    acked_new = len(subs[1].acked)
    wait_until(lambda: len(subs[1].acked) >= acked_new + 50, 30,
               msg="jobs flowing through the new daemon alone")
    subs[1].halt.set()
    subs[1].join(30)
    assert not subs[1].errors, subs[1].errors

    acked = subs[0].acked + subs[1].acked
    unacked = [j for s in subs for j in s.tried if j not in set(s.acked)]
    ran_by = {}
    with new.client() as c:
        for jid in acked:
            job = c.wait(jid, timeout=60)
            assert job["status"] == "finished", job
            ran_by[jid] = pid_of(job)
        for jid in unacked:     # sent as the old daemon stopped: all or none
            res = c.call("get", job_id=jid)
            if res.get("ok"):
                assert c.wait(jid, timeout=60)["status"] == "finished"
                acked.append(jid)
    with open(log) as f:
        ran = f.read().split()
    twice = sorted({j for j in ran if ran.count(j) > 1})
    assert not twice, "jobs run twice: %s" % twice[:20]
    assert sorted(ran) == sorted(acked)
    # Both daemons' workers took jobs from the shared queue.
    assert set(ran_by.values()) & old_workers, "the old daemon ran no job"
    assert set(ran_by.values()) & new_workers, "the new daemon ran no job"
    # Stopping the old daemon removed nothing: FUNCTION DELETE is the
    # operator's (docs/architecture.md).
    assert "jobd" in libraries(r)


# --- the key schema -------------------------------------------------------------

@pytest.mark.parametrize("stored,why", [
    ("2", "is newer than this jobd knows (1)"),
    ("999999999999", "is newer than this jobd knows (1)"),
    ("0", "is not one this jobd can use (it uses 1)"),
    ("banana", "is not one this jobd can use (it uses 1)"),
    ("", "is not one this jobd can use (it uses 1)"),
])
def test_daemon_refuses_another_key_schema(jobd, redis_server, stored, why):
    r = redis_server.client()
    r.set(SCHEMA_KEY, stored)
    r.set("jobd:{main}:job:x", "kept")
    r.rpush("jobd:{main}:q:default", "x")   # a worker's take would pop it
    d = jobd(wait=False)
    d.expect_exit = 1
    try:
        d.proc.wait(30)
    except subprocess.TimeoutExpired:
        pytest.fail("jobd did not stop on key schema %r:\n%s"
                    % (stored, d.log_tail(40)))
    assert d.proc.returncode == 1
    text = d.log_text()
    assert "cannot use this Redis: the key schema in Redis " \
           "(jobd:{main}:schema = %s) %s" % (stored, why) in text, text
    # Nothing written: the stored schema and data are as they were.
    assert r.get(SCHEMA_KEY) == stored
    assert r.get("jobd:{main}:job:x") == "kept"
    assert r.lrange("jobd:{main}:q:default", 0, -1) == ["x"]


def test_daemon_refuses_a_schema_key_of_another_type(jobd, redis_server):
    """A schema key that is not a string (someone else's data in the
    namespace) is refused with a message, not retried for ever."""
    r = redis_server.client()
    r.hset(SCHEMA_KEY, "v", "1")
    d = jobd(wait=False)
    d.expect_exit = 1
    try:
        d.proc.wait(30)
    except subprocess.TimeoutExpired:
        pytest.fail("jobd did not stop on a hash at the schema key:\n%s"
                    % d.log_tail(40))
    text = d.log_text()
    assert "the key schema in Redis (jobd:{main}:schema) is a hash, not a " \
           "version" in text, text
    assert r.hgetall(SCHEMA_KEY) == {"v": "1"}


def test_other_namespace_schema_is_not_checked(jobd, redis_server):
    """The schema is per namespace: another namespace's does not matter."""
    r = redis_server.client()
    r.set("jobd:{other}:schema", "2")
    d = jobd()
    with d.client() as c:
        assert c.wait(c.submit("jobd.noop"))["status"] == "finished"
    assert r.get(SCHEMA_KEY) == "1"


def test_running_daemon_stops_when_it_meets_another_schema(jobd,
                                                           redis_server):
    """A reconnect checks again: a namespace flushed and taken over by a
    newer jobd (schema 2) while this one was away is not written to."""
    r = redis_server.client()
    d = jobd(workers=1)
    with d.client() as c:
        assert c.wait(c.submit("jobd.noop"))["status"] == "finished"
    r.set(SCHEMA_KEY, "2")
    d.expect_exit = 1
    r.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    try:
        d.proc.wait(30)
    except subprocess.TimeoutExpired:
        pytest.fail("jobd kept running:\n%s" % d.log_tail(40))
    assert d.proc.returncode == 1
    assert "is newer than this jobd knows (1)" in d.log_text()


# --- daemons of one version -------------------------------------------------------

FOREIGN = """#!lua name=jobd_v999
redis.register_function('jobd_v999_ping', function() return 'pong' end)
"""


def test_same_version_daemons_starting_together(jobd, redis_server):
    r = redis_server.client()
    r.execute_command("FUNCTION", "LOAD", FOREIGN)
    ds = [jobd(wait=False, workers=1, name="same%d" % i) for i in range(3)]
    for d in ds:
        d.ready()
    libs = libraries(r)
    assert sorted(libs) == [LIBRARY, "jobd_v999"], libs
    # Another version's library is never replaced nor deleted.
    assert r.execute_command("FCALL", "jobd_v999_ping", 0) == "pong"
    assert r.get(SCHEMA_KEY) == "1"
    clients = [d.client() for d in ds]
    try:
        ids = [(c, c.submit("jobd.echo", {"i": i})) for i, c in
               enumerate(clients)]
        for c, jid in ids:
            assert c.wait(jid)["status"] == "finished"
        # The library deleted under running daemons (an operator's
        # FUNCTION DELETE too early): the next call loads it again.
        r.execute_command("FUNCTION", "DELETE", LIBRARY)
        for c in clients:
            assert c.wait(c.submit("jobd.noop"))["status"] == "finished"
        assert LIBRARY in libraries(r)
    finally:
        for c in clients:
            c.close()
    for d in ds:
        assert d.stop(signal.SIGTERM) == 0
