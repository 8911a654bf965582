"""redis = managed (docs/jobd.md, "The managed Redis"): jobd starts its own
redis-server in state_dir, restarts it, stops it last, and keeps a second
jobd out of the directory.  Real processes, real signals."""
import os
import signal
import subprocess
import time

import pytest

from jobd_itest import (JOBD, NOBODY, REDIS_SERVER, Jobd, pid_alive,
                        stop_daemons, wait_until)


@pytest.fixture
def managed(request, workdir):
    """managed: factory of jobds with redis = managed, state_dir
    WORKDIR/NAME-state unless given.  managed(name=, wait=, **settings)."""
    started = []
    request.node._jobd_daemons = started

    def start(name=None, wait=True, **settings):
        name = name or "jobd%d" % (len(started) + 1)
        s = {"socket": os.path.join(workdir, "%s.sock" % name),
             "redis": "managed",
             "state_dir": os.path.join(workdir, "%s-state" % name),
             "workers": 1, "log_level": "debug", "lease": 3, "grace": 1,
             "shutdown_grace": 10}
        s.update(settings)
        d = Jobd(workdir, s, name=name)
        d.state = s["state_dir"]
        started.append(d)
        d.start(wait=wait)
        return d

    yield start
    redis_pids = [redis_pid(d) for d in started]
    problems = stop_daemons(started)
    for pid in redis_pids:
        if pid is not None and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            problems.append("redis-server %d outlived its jobd" % pid)
    if problems:
        pytest.fail("; ".join(problems))


def redis_pid(d):
    """redis_pid: the managed redis-server's pid from STATE/redis.pid."""
    try:
        with open(os.path.join(d.state, "redis.pid")) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def live_redis(d, other_than=None):
    """live_redis: wait for a running redis-server of d (not other_than)."""
    return wait_until(lambda: (lambda p: p if p and p != other_than and
                               pid_alive(p) else None)(redis_pid(d)),
                      20, msg="a managed redis-server")


def check(*args, user=None):
    """check: jobd --check with -o settings; the completed process."""
    pre = []
    if user is not None:
        pre = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user,
               "--clear-groups"]
    return subprocess.run(pre + [JOBD, "--check", "-s", "/tmp/x.sock"] +
                          [a for kv in args for a in ("-o", "jobd." + kv)],
                          capture_output=True, text=True, timeout=20,
                          stdin=subprocess.DEVNULL)


def submit_held(c, n=3):
    """submit_held: with the default queue paused, n queued jobs and one
    delayed one; their ids."""
    c.ok("pause", queue="default")
    ids = [c.submit("jobd.echo", {"i": i}) for i in range(n)]
    ids.append(c.submit("jobd.echo", {"i": n}, delay=1))
    for j in ids[:n]:
        assert c.status(j) == "queued"
    assert c.status(ids[n]) == "scheduled"
    return ids


def all_run(c, ids):
    c.ok("resume", queue="default")
    for i, j in enumerate(ids):
        rec = c.wait(j, timeout=30)
        assert rec["status"] == "finished" and rec["result"] == {"i": i}, rec


def test_runs_jobs_with_its_own_redis(managed):
    d = managed()
    st = os.stat(d.state)
    assert st.st_mode & 0o777 == 0o700
    for f in ("jobd.lock", "redis.sock", "redis.pid", "redis.log"):
        assert os.path.exists(os.path.join(d.state, f)), f
    assert os.path.isdir(os.path.join(d.state, "appendonlydir"))
    with open(os.path.join(d.state, "jobd.lock")) as f:
        assert int(f.read()) == d.pid
    pid = live_redis(d)
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        argv = f.read().split(b"\0")
    assert argv[0] == REDIS_SERVER.encode() or b"redis-server" in argv[0], argv
    with d.client() as c:
        j = c.submit("jobd.echo", {"x": 1})
        assert c.wait(j)["result"] == {"x": 1}
        m = c.ok("metrics")
        assert m["managed_redis"] == {"pid": pid, "restarts": 0}, m
    # no TCP port, AOF on, nothing evicted
    cfg = subprocess.run(["redis-cli", "-s", os.path.join(d.state, "redis.sock"),
                          "CONFIG", "GET", "*"], capture_output=True,
                         text=True, timeout=10).stdout.split("\n")
    conf = dict(zip(cfg[0::2], cfg[1::2]))
    assert conf["port"] == "0" and conf["appendonly"] == "yes"
    assert conf["maxmemory-policy"] == "noeviction"
    assert conf["appendfsync"] == "everysec" and conf["save"] == ""


def test_redis_sigkill_restarts_it_and_jobs_survive(managed):
    d = managed(redis_appendfsync="always")
    old = live_redis(d)
    with d.client() as c:
        ids = submit_held(c)
    os.kill(old, signal.SIGKILL)
    new = live_redis(d, other_than=old)
    log = wait_until(lambda: (lambda t: t if "restarting in" in t else None)(
        d.log_text()), 10)
    assert "managed redis-server %d killed by signal 9" % old in log, log
    d.ready()
    with d.client() as c:
        all_run(c, ids)
        assert c.ok("metrics")["managed_redis"] == {"pid": new,
                                                    "restarts": 1}


def test_jobd_sigkill_then_restart_jobs_survive_no_stray_redis(managed):
    d = managed(redis_appendfsync="always")
    old = live_redis(d)
    with d.client() as c:
        ids = submit_held(c)
    d.proc.kill()
    d.proc.wait()
    d.expect_exit = -9
    # Its redis-server goes with it (PR_SET_PDEATHSIG), flushing the AOF.
    wait_until(lambda: not pid_alive(old), 15, msg="the old redis-server to exit")
    d.start()
    new = live_redis(d, other_than=old)
    assert new != old and not pid_alive(old)
    with d.client() as c:
        all_run(c, ids)


def test_leftover_redis_of_the_state_dir_is_stopped(managed, workdir):
    state = os.path.join(workdir, "left-state")
    os.mkdir(state, 0o700)
    # A redis-server in the state_dir that no jobd supervises (as if its
    # jobd's death signal had been lost), named by the pidfile.
    p = subprocess.Popen([REDIS_SERVER, "--port", "0", "--unixsocket",
                          os.path.join(state, "redis.sock"), "--dir", state,
                          "--save", ""], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: os.path.exists(os.path.join(state, "redis.sock")), 10)
        with open(os.path.join(state, "redis.pid"), "w") as f:
            f.write("%d\n" % p.pid)
        d = managed(name="left", state_dir=state)
        assert p.wait(15) is not None
        assert "redis-server %d of an earlier jobd still runs" % p.pid in d.log_text()
        assert live_redis(d) != p.pid
        with d.client() as c:
            assert c.wait(c.submit("jobd.noop"))["status"] == "finished"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_a_stranger_named_by_the_pidfile_is_left_alone(managed, workdir):
    state = os.path.join(workdir, "s-state")
    os.mkdir(state, 0o700)
    p = subprocess.Popen(["sleep", "60"], cwd=state)
    try:
        with open(os.path.join(state, "redis.pid"), "w") as f:
            f.write("%d\n" % p.pid)
        d = managed(name="s", state_dir=state)
        assert p.poll() is None, "jobd killed a process that is not its redis"
        assert live_redis(d) != p.pid
    finally:
        p.kill()
        p.wait()


def test_second_jobd_on_the_same_state_dir_is_refused(managed, workdir):
    d = managed(name="first")
    second = managed(name="second", wait=False, state_dir=d.state)
    assert second.proc.wait(20) == 1
    second.expect_exit = 1
    log = second.log_text()
    assert ("state_dir %s is in use by another jobd (pid %d holds %s/jobd.lock)"
            % (d.state, d.pid, d.state)) in log, log
    # refused before touching anything: no socket, no second redis-server
    assert not os.path.exists(second.sock)
    assert "redis-server" not in log.replace("state_dir", "")
    with d.client() as c:
        assert c.wait(c.submit("jobd.noop"))["status"] == "finished"


def test_two_daemons_with_their_own_state_dirs_do_not_meet(managed):
    a = managed(name="a")
    b = managed(name="b")
    assert live_redis(a) != live_redis(b)
    with a.client() as ca, b.client() as cb:
        ca.ok("pause", queue="default")
        j = ca.submit("jobd.echo", {"on": "a"})
        r = cb.call("get", job_id=j)
        assert r["ok"] is False and r["error"]["code"] == "not_found", r
        assert cb.ok("stats")["queues"]["default"]["queued"] == 0
        assert ca.ok("stats")["queues"]["default"]["queued"] == 1
        ca.ok("resume", queue="default")
        assert ca.wait(j)["result"] == {"on": "a"}


def test_shutdown_stops_redis_after_the_workers(managed):
    d = managed(workers=2, redis_appendfsync="always")
    rpid = live_redis(d)
    with d.client() as c:
        j = c.submit("jobd.sleep", {"seconds": 1})
        wait_until(lambda: c.status(j) == "started", 20)
    assert d.stop(signal.SIGTERM) == 0
    d.expect_exit = 0
    assert not pid_alive(rpid)
    lines = d.log_text().splitlines()

    def at(text):
        return max(i for i, l in enumerate(lines) if text in l)
    workers_out = at("all workers stopped")
    assert at("worker ") <= workers_out
    assert workers_out < at("stopping managed redis-server %d" % rpid) < \
        at("managed redis-server %d stopped" % rpid)
    # the running job finished during the drain, with Redis still there
    d.start()
    with d.client() as c:
        assert c.wait(j)["status"] == "finished"


def test_reload_refuses_a_change_of_the_managed_redis(managed, workdir):
    d = managed(name="rl")
    pid = live_redis(d)
    for change in ({"redis_appendfsync": "always"},
                   {"state_dir": os.path.join(workdir, "elsewhere")},
                   {"redis_server": "/bin/true"}):
        d.write_config(settings=dict(d.settings, **change))
        with d.client() as c:
            r = c.call("reload")
            assert r["ok"] is False and "need a restart" in \
                r["error"]["message"], (change, r)
    assert redis_pid(d) == pid and pid_alive(pid)
    d.write_config(settings=dict(d.settings, workers=2))
    with d.client() as c:
        c.ok("reload")
        assert c.wait(c.submit("jobd.noop"))["status"] == "finished"
    assert redis_pid(d) == pid


# --- bad settings --------------------------------------------------------

def one_line(r):
    assert r.returncode == 1, r
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_check_shows_the_settings_and_starts_nothing(workdir):
    state = os.path.join(workdir, "never")
    r = check("state_dir=" + state)
    assert r.returncode == 0, r
    assert "redis managed (" in r.stdout and state in r.stdout
    for line in ("jobd.redis = managed", "jobd.state_dir = " + state,
                 "jobd.redis_appendfsync = everysec"):
        assert line in r.stdout, r.stdout
    assert not os.path.exists(state), "--check created the state_dir"


def test_bad_redis_server(workdir):
    plain = os.path.join(workdir, "plain")
    with open(plain, "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(plain, 0o644)
    state = "state_dir=" + os.path.join(workdir, "st")
    assert "[jobd] redis_server: %s/none: No such file or directory" % \
        workdir in one_line(check(state, "redis_server=%s/none" % workdir))
    assert "[jobd] redis_server: %s: not an executable file" % plain in \
        one_line(check(state, "redis_server=" + plain))
    assert "[jobd] redis_server: %s: not an executable file" % workdir in \
        one_line(check(state, "redis_server=" + workdir))
    assert "not an absolute path" in one_line(check(state, "redis_server=redis-server"))
    assert "expected always, everysec or no" in \
        one_line(check(state, "redis_appendfsync=sometimes"))
    # an empty PATH falls back to the usual directories; a PATH without it
    r = subprocess.run([JOBD, "--check", "-o", "jobd." + state],
                       capture_output=True, text=True, timeout=20,
                       env={"PATH": workdir})
    assert "redis-server is not on PATH" in one_line(r)


def test_redis_server_that_exits_is_restarted_with_a_backoff(managed):
    d = managed(name="false", wait=False, redis_server="/bin/false")
    time.sleep(3)
    assert d.alive(), d.log_tail()
    log = d.log_text()
    deaths = log.count("managed redis-server")
    assert "exit status 1 after" in log, log
    # 0.1 + 0.2 + 0.4 + 0.8 + 1.6 s: a handful of tries, not a busy loop
    assert 2 <= log.count("exit status 1 after") <= 7, log
    assert deaths < 20
    with d.client() as c:
        r = c.call("stats")
        assert r["ok"] is False and r["error"]["code"] == "unavailable", r


def test_bad_state_dir(workdir):
    f = os.path.join(workdir, "afile")
    open(f, "w").close()
    assert "-o jobd.state_dir=%s: [jobd] state_dir: %s: not a directory" % \
        (f, f) in one_line(check("state_dir=" + f))
    assert "not an absolute path" in one_line(check("state_dir=rel/dir"))
    long = "/tmp/" + "d" * 92
    assert "longer than 96 bytes" in one_line(check("state_dir=" + long))
    assert check("state_dir=" + "/tmp/" + "d" * 91).returncode == 0
    # not writable by the user jobd runs as
    ro = os.path.join(workdir, "ro")
    os.mkdir(ro, 0o755)
    if os.geteuid() == 0:
        os.chmod(workdir, 0o755)
        r = check("state_dir=" + ro, user=NOBODY)
    else:
        os.chmod(ro, 0o555)
        r = check("state_dir=" + ro)
    assert "[jobd] state_dir: %s: not writable by jobd" % ro in one_line(r)


def test_state_dir_that_cannot_be_made_fails_the_start(managed, workdir):
    d = managed(name="nodir", wait=False,
                state_dir=os.path.join(workdir, "no", "such"))
    assert d.proc.wait(20) == 1
    d.expect_exit = 1
    assert "state_dir %s/no/such: cannot create it: No such file or " \
        "directory" % workdir in d.log_text()
    assert not os.path.exists(d.sock)
