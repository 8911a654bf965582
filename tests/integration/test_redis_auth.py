"""A password-protected Redis (requirepass): the redis URL's credentials
reach every connection (the master's two, each worker's), a wrong or
missing password stops jobd at start naming the cause, and the password
never shows in jobd's log or --check output."""
import os
import socket
import subprocess
import urllib.parse

import pytest

from jobd_itest import JOBD, REDIS_SERVER, render_config, wait_until

PASSWORD = "s3cr:et@/x%y-pw"   # every character the URL must encode


class AuthRedis:
    """AuthRedis: a redis-server whose default user needs PASSWORD."""

    def __init__(self, workdir):
        self.sock = os.path.join(workdir, "authredis.sock")
        self.log = os.path.join(workdir, "authredis.log")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", "0", "--unixsocket", self.sock,
             "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
             "--dir", workdir, "--logfile", self.log, "--daemonize", "no",
             "--requirepass", PASSWORD],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT)
        wait_until(lambda: self.command("PING") == b"+PONG", 10,
                   msg="redis-server with requirepass to answer")

    def url(self, password=PASSWORD, user="default", db=None):
        cred = ""
        if password is not None:
            cred = "%s:%s@" % (urllib.parse.quote(user, safe=""),
                               urllib.parse.quote(password, safe=""))
        return "unix://%s%s%s" % (cred, self.sock,
                                  "" if db is None else "?db=%d" % db)

    def command(self, *args, db=0, password=PASSWORD):
        """command: AUTH, SELECT db, then args; the last reply's first line."""
        if not os.path.exists(self.sock):
            return None
        cmds = [("AUTH", password), ("SELECT", str(db)), args]
        out = b""
        for c in cmds:
            out += b"*%d\r\n" % len(c)
            for a in c:
                a = a.encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(self.sock)
            s.sendall(out)
            data = b""
            while data.count(b"\r\n") < 3:
                more = s.recv(65536)
                if not more:
                    break
                data += more
        finally:
            s.close()
        return data.split(b"\r\n")[2]

    def log_tail(self, n):
        with open(self.log, errors="replace") as f:
            return "".join(f.readlines()[-n:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def authredis(workdir):
    r = AuthRedis(workdir)
    yield r
    r.stop()


def secrets_in(text):
    """secrets_in: the forms of the password found in text."""
    return [s for s in (PASSWORD, urllib.parse.quote(PASSWORD, safe=""),
                        "s3cr") if s in text]


def test_right_password_runs_jobs_in_the_selected_db(jobd, authredis):
    class R:
        url = authredis.url(db=3)
    d = jobd(redis=R, workers=2)
    c = d.client()
    ids = [c.submit("jobd.echo", {"n": i}) for i in range(6)]
    for i, jid in enumerate(ids):
        rec = c.wait(jid)
        assert rec["status"] == "finished", rec
        assert rec["result"] == {"n": i}
    c.close()
    # The workers' connections took them (AUTH, then SELECT 3): the keys
    # are in db 3, none in db 0.
    assert int(authredis.command("DBSIZE", db=3)[1:]) > 0
    assert authredis.command("DBSIZE", db=0) == b":0"
    log = d.log_text()
    assert "authentication failed" not in log
    assert not secrets_in(log), log
    assert "redis unix://default:***@" in log


def test_legacy_password_without_user(jobd, authredis):
    class R:
        url = "unix://:%s@%s" % (urllib.parse.quote(PASSWORD, safe=""),
                                 authredis.sock)
    d = jobd(redis=R, workers=1)
    c = d.client()
    assert c.wait(c.submit("jobd.noop"))["status"] == "finished"
    c.close()


@pytest.mark.parametrize("password, cause", [
    ("wrong-password", "WRONGPASS"),
    (None, "NOAUTH"),
])
def test_refused_credentials_stop_jobd_at_start(jobd, authredis, password,
                                                cause):
    class R:
        url = authredis.url(password=password)
    d = jobd(redis=R, workers=1, wait=False)
    d.expect_exit = 1
    try:
        d.proc.wait(20)
    except subprocess.TimeoutExpired:
        pytest.fail("jobd did not exit with refused credentials:\n%s"
                    % d.log_tail(40))
    log = d.log_text()
    assert d.proc.returncode == 1, log
    assert "redis authentication failed" in log, log
    assert cause in log, log
    assert "Redis 7 needed" not in log, log
    assert "wrong-password" not in log and not secrets_in(log), log


def test_check_output_hides_the_password(workdir, authredis):
    conf = os.path.join(workdir, "check.conf")
    with open(conf, "w") as f:
        f.write(render_config({"socket": os.path.join(workdir, "c.sock"),
                               "redis": authredis.url(db=2),
                               "workers": 1}, {}))
    r = subprocess.run([JOBD, "--check", "-c", conf], capture_output=True,
                       text=True, timeout=20, stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "unix://default:***@" in out, out
    assert not secrets_in(out), out


@pytest.mark.parametrize("url, words", [
    ("redis://h:70000", ["port", "1..65535"]),
    ("redis://h/-1", ["database number"]),
    ("unix://user:hunter2@relative/path", ["absolute path"]),
    ("redis://user:hunter2%zz@h", ["percent-encoding", "password"]),
    ("redis://hunter2@h", ["needs a password"]),
])
def test_bad_url_is_refused_without_echoing_it(workdir, url, words):
    conf = os.path.join(workdir, "bad.conf")
    with open(conf, "w") as f:
        f.write(render_config({"socket": os.path.join(workdir, "b.sock"),
                               "redis": url}, {}))
    for args in (["--check", "-c", conf], ["--check", "-c", conf,
                                           "--redis", url]):
        r = subprocess.run([JOBD] + args, capture_output=True, text=True,
                           timeout=20, stdin=subprocess.DEVNULL)
        out = r.stdout + r.stderr
        assert r.returncode != 0, out
        for w in words:
            assert w in out, out
        assert "hunter2" not in out, out


def test_reconnects_authenticate_again(jobd, authredis, workdir):
    """A Redis restart: the master's new connections and the workers'
    send AUTH again; an outage after start-up is retried, not fatal."""
    class R:
        url = authredis.url()
    d = jobd(redis=R, workers=1)
    c = d.client()
    assert c.wait(c.submit("jobd.noop"))["status"] == "finished"
    authredis.stop()
    wait_until(lambda: "redis unreachable" in d.log_text(), 15,
               msg="jobd to notice the outage")
    authredis.__init__(workdir)
    d.ready(30)
    assert d.alive()
    assert c.wait(c.submit("jobd.echo", {"again": 1}))["result"] == {"again": 1}
    c.close()
    assert "authentication failed" not in d.log_text()


# --- redis_password_file --------------------------------------------------

def write_secret(workdir, text, mode=0o600, name="redis-password"):
    path = os.path.join(workdir, name)
    with open(path, "wb") as f:
        f.write(text if isinstance(text, bytes) else text.encode())
    os.chmod(path, mode)
    return path


def test_password_file_authenticates_every_connection(jobd, authredis,
                                                      workdir):
    """The password from a file (first line, its newline dropped) with a
    user name in the URL: the master and the workers authenticate, jobs
    run, and the password is in neither the log, --check nor ps."""
    path = write_secret(workdir, PASSWORD + "\nsecond line ignored\n")

    class R:
        url = "unix://default@%s?db=1" % authredis.sock
    d = jobd(redis=R, workers=2, settings={"redis_password_file": path})
    c = d.client()
    ids = [c.submit("jobd.echo", {"n": i}) for i in range(4)]
    assert [c.wait(j)["result"] for j in ids] == [{"n": i} for i in range(4)]
    c.close()
    assert int(authredis.command("DBSIZE", db=1)[1:]) > 0
    log = d.log_text()
    assert not secrets_in(log), log
    assert "others may read" not in log, log
    with open("/proc/%d/cmdline" % d.proc.pid, "rb") as f:
        assert not secrets_in(f.read().decode(errors="replace"))
    r = subprocess.run([JOBD, "--check", "-c", d.conf], capture_output=True,
                       text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "redis_password_file" in r.stdout and path in r.stdout
    assert not secrets_in(r.stdout + r.stderr)


def test_password_file_is_read_again_on_reload(jobd, authredis, workdir):
    """A rotated password: the file is rewritten, Redis's password changed,
    SIGHUP: the new connections use the new one."""
    import signal as sig
    path = write_secret(workdir, PASSWORD)

    class R:
        url = "unix://%s" % authredis.sock
    d = jobd(redis=R, workers=1, settings={"redis_password_file": path})
    c = d.client()
    assert c.wait(c.submit("jobd.noop"))["status"] == "finished"
    write_secret(workdir, "rotated-pw-2")
    assert authredis.command("CONFIG", "SET", "requirepass",
                             "rotated-pw-2") == b"+OK"
    os.kill(d.proc.pid, sig.SIGHUP)
    wait_until(lambda: "configuration reloaded" in d.log_text(), 15,
               msg="the reload logged")
    # Every link dropped: each reconnects, and only the new password from
    # the file read again lets it in.
    assert authredis.command("CLIENT", "KILL", "TYPE", "normal", "SKIPME",
                             "yes", password="rotated-pw-2")[:1] == b":"
    n = wait_until(lambda: _submit_or_none(c, "jobd.echo", {"after": 1}), 20,
                   msg="a submit after the reconnect")
    assert c.wait(n)["result"] == {"after": 1}
    c.close()
    assert "rotated-pw-2" not in d.log_text()


def _submit_or_none(c, type_, payload):
    try:
        return c.submit(type_, payload)
    except Exception:       # unavailable while the link comes back
        return None


def test_world_readable_password_file_warns(jobd, authredis, workdir):
    path = write_secret(workdir, PASSWORD, mode=0o644)

    class R:
        url = "unix://%s" % authredis.sock
    d = jobd(redis=R, workers=1, settings={"redis_password_file": path})
    assert "others may read it" in d.log_text()
    assert not secrets_in(d.log_text())


@pytest.mark.parametrize("content, url_cred, words", [
    (None, "", ["redis_password_file", "No such file"]),
    (b"", "", ["empty first line"]),
    (b"\nhunter2\n", "", ["empty first line"]),
    (b"x" * 513, "", ["longer than 512"]),
    (b"hun\x00ter2", "", ["NUL byte"]),
    (b"hunter2", "u:hunter3@", ["give it in one place"]),
    ("dir", "", ["not a regular file"]),
])
def test_bad_password_file_stops_jobd_naming_it(workdir, authredis, content,
                                                url_cred, words):
    path = os.path.join(workdir, "pwfile")
    if content == "dir":
        os.mkdir(path)
    elif content is not None:
        write_secret(workdir, content, name="pwfile")
    conf = os.path.join(workdir, "pw.conf")
    with open(conf, "w") as f:
        f.write(render_config({"socket": os.path.join(workdir, "p.sock"),
                               "redis": "unix://%s%s" % (url_cred,
                                                         authredis.sock),
                               "redis_password_file": path}, {}))
    r = subprocess.run([JOBD, "--check", "-c", conf], capture_output=True,
                       text=True, timeout=20, stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    for w in words:
        assert w in out, out
    assert "hunter2" not in out and "hunter3" not in out, out


def test_wrong_password_in_file_stops_jobd_at_start(jobd, authredis,
                                                    workdir):
    path = write_secret(workdir, "not-the-password")

    class R:
        url = "unix://%s" % authredis.sock
    d = jobd(redis=R, workers=1, wait=False,
             settings={"redis_password_file": path})
    d.expect_exit = 1
    d.proc.wait(20)
    log = d.log_text()
    assert d.proc.returncode == 1, log
    assert "redis authentication failed" in log and "WRONGPASS" in log, log
    assert "not-the-password" not in log
