"""jobd's command line: --help, --version, bad configs, flag overrides."""
import os
import re
import subprocess

from jobd_itest import JOBD, proto, wait_until


def run_jobd(*args, timeout=20):
    return subprocess.run([JOBD] + list(args), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_help_lists_the_options():
    r = run_jobd("--help")
    assert r.returncode == 0, r
    out = r.stdout + r.stderr
    for opt in ("-c", "-s", "--redis", "-w", "--foreground", "--pidfile", "--version"):
        assert opt in out, "--help does not mention %s:\n%s" % (opt, out)


def test_version_prints_name_and_version():
    r = run_jobd("--version")
    assert r.returncode == 0, r
    out = (r.stdout + r.stderr).strip()
    assert "jobd" in out
    assert re.search(r"\d+\.\d+\.\d+", out), out


def test_unknown_option_is_a_usage_error():
    r = run_jobd("--no-such-option")
    assert r.returncode != 0
    assert r.stderr.strip(), "no message for an unknown option"


BAD_CONFIGS = [
    # (text, line number, words that must appear)
    ("[jobd]\nworkers = 2\nlease = banana\n", 3, ["lease"]),
    ("[jobd]\n\n\nworkers = many\n", 4, ["workers"]),
    ("[jobd]\nno_such_setting = 1\n", 2, ["no_such_setting"]),
    ("[jobd]\nworkers = 1\n\n[type:x]\nhandler = teleport\n", 5, ["handler"]),
    ("[jobd]\nmax_frame = -5\n", 2, ["max_frame"]),
    ("[type:y]\nhandler = exec\ntimeout = soon\n", 3, ["timeout"]),
]


def test_bad_config_is_one_line_with_file_line_setting(workdir):
    for i, (text, line, words) in enumerate(BAD_CONFIGS):
        conf = os.path.join(workdir, "bad%d.conf" % i)
        sock = os.path.join(workdir, "bad%d.sock" % i)
        with open(conf, "w") as f:
            f.write(text.replace("[jobd]\n", "[jobd]\nsocket = %s\n" % sock, 1)
                    if "[jobd]" in text else text)
        if "[jobd]" in text:
            line += 1  # the socket line we inserted
        r = run_jobd("-f", "-c", conf, "-s", sock)
        assert r.returncode != 0, "jobd accepted:\n%s" % text
        msg = [l for l in r.stderr.splitlines() if l.strip()]
        assert len(msg) == 1, "expected one line for %r, got:\n%s" % (text, r.stderr)
        assert "bad%d.conf" % i in msg[0], msg[0]
        assert re.search(r":%d\b" % line, msg[0]), "line %d not named: %s" % (line, msg[0])
        for w in words:
            assert w in msg[0], "%r not named: %s" % (w, msg[0])
        assert not os.path.exists(sock), "the socket was created before the check"


def test_missing_config_file_fails(workdir):
    r = run_jobd("-f", "-c", os.path.join(workdir, "nope.conf"))
    assert r.returncode != 0
    assert "nope.conf" in r.stderr


def test_flags_override_the_file(jobd, workdir, redis_server):
    # The file names a socket and 3 workers; -s and -w win.
    other = os.path.join(workdir, "flag.sock")
    d = jobd(workers=3, args=["-s", other, "-w", "1"], wait=False)
    c = proto.connect_when_ready(other, 30, alive=d._check_alive)
    try:
        assert c.ok("hello")["server"] == "jobd"
    finally:
        c.close()
    assert not os.path.exists(d.sock)
    d.sock = other
    wait_until(lambda: len(d.workers()) == 1, 20, msg="one worker")


def test_pidfile_is_written(jobd, workdir):
    pidfile = os.path.join(workdir, "jobd.pid")
    d = jobd(args=["--pidfile", pidfile])
    wait_until(lambda: os.path.exists(pidfile), 10)
    with open(pidfile) as f:
        assert int(f.read().strip()) == d.pid


def test_runs_with_no_config_but_flags(workdir, redis_server):
    sock = os.path.join(workdir, "noconf.sock")
    p = subprocess.Popen([JOBD, "-f", "-s", sock, "--redis", redis_server.url,
                          "-w", "1"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        def alive():
            if p.poll() is not None:
                raise AssertionError("jobd exited %s: %s" % (p.returncode, p.stderr.read()))
        c = proto.connect_when_ready(sock, 30, alive=alive)
        with c:
            jid = c.submit("jobd.echo", {"a": 1})
            assert c.wait(jid)["result"] == {"a": 1}
    finally:
        p.terminate()
        assert p.wait(30) == 0


def test_warns_when_redis_may_evict_jobs(jobd, redis_server):
    """An eviction policy can silently drop job records: jobd says so at
    start-up, naming the policy and the fix."""
    redis_server.cli("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    d = jobd()
    wait_until(lambda: "maxmemory-policy is allkeys-lru" in d.log_text(),
               timeout=10)
    assert "noeviction" in d.log_text()


def test_no_eviction_warning_with_noeviction(jobd, redis_server):
    redis_server.cli("CONFIG", "SET", "maxmemory-policy", "noeviction")
    d = jobd()
    wait_until(lambda: "redis connected" in d.log_text(), timeout=10)
    assert "not noeviction" not in d.log_text()
