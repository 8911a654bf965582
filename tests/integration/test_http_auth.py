"""test_http_auth.py: [http] auth = basic with users_file (docs/
monitoring.md, "Access"): 401 without valid credentials on every path,
viewers read, admins act; malformed Authorization headers; the users
file's errors named by file and line, its mode, its reload; jobctl
passwd."""
import base64
import os
import pty
import select
import signal
import subprocess

import pytest

from jobd_itest import JOBCTL, JOBD, run_jobctl, wait_until
from test_http import Web

PASSWORDS = {"alice": "wonder land", "bob": "b0b:with:colons"}


def passwd_line(user, password, role=None):
    args = ["passwd", user] + (["--role", role] if role else [])
    r = run_jobctl(*args, input=password + "\n")
    assert r.returncode == 0, r.stderr
    return r.stdout


def users_file(workdir, text, mode=0o600, name="users"):
    path = os.path.join(str(workdir), name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def basic(user, password):
    return "Basic " + base64.b64encode(
        ("%s:%s" % (user, password)).encode()).decode()


class AuthWeb(Web):
    """AuthWeb: a Web whose requests carry self.auth unless told."""

    def __init__(self, jobd, workdir, users, auth, **kw):
        self.auth = auth
        args = ["-o", "http.auth=basic", "-o", "http.users_file=" + users]
        super().__init__(jobd, workdir, args=args + list(kw.pop("args", ())),
                         **kw)

    def get(self, path, method="GET", body=None, headers=None, auth=True):
        h = dict(headers or {})
        if auth and self.auth and "Authorization" not in h:
            h["Authorization"] = self.auth
        return super().get(path, method=method, body=body, headers=h)


@pytest.fixture
def two_users(workdir):
    text = ("# the dashboard's users\n\n" +
            passwd_line("alice", PASSWORDS["alice"], "admin") +
            "   \n" + passwd_line("bob", PASSWORDS["bob"]))
    return users_file(workdir, text)


def test_basic_auth_roles(jobd, workdir, two_users):
    admin = basic("alice", PASSWORDS["alice"])
    viewer = basic("bob", PASSWORDS["bob"])
    w = AuthWeb(jobd, workdir, two_users, admin)
    for path in ("/healthz", "/metrics", "/api/stats", "/api/jobs",
                 "/api/jobs/j_X", "/events", "/nosuchpage"):
        for cred in (None, basic("alice", "wrong"), basic("carol", "x"),
                     basic("bob", PASSWORDS["alice"]), basic("alice", "")):
            h = {"Authorization": cred} if cred else {}
            st, hd, data = w.get(path, headers=h, auth=False)
            assert st == 401, (path, cred)
            assert hd["WWW-Authenticate"] == 'Basic realm="jobd"'
            assert b"unauthorized" in data
        st, hd, data = w.get(path, method="POST", auth=False)
        assert st == 401
    for path in ("/healthz", "/metrics", "/api/stats", "/api/jobs"):
        st, hd, data = w.get(path, headers={"Authorization": viewer})
        assert st == 200, path
    c = w.d.client()
    later = c.submit("jobd.noop", delay=3600)
    for path in ("/api/jobs/%s/cancel" % later, "/api/queues/low/pause"):
        st, hd, data = w.get(path, method="POST",
                             headers={"Authorization": viewer})
        assert st == 403 and b"admin" in data, (path, data)
    assert c.status(later) == "scheduled"
    st, hd, data = w.get("/api/jobs/%s/cancel" % later, method="POST")
    assert st == 200, data
    assert c.status(later) == "canceled"
    c.close()
    log = w.d.log_text()
    assert PASSWORDS["alice"] not in log and "wrong" not in log


def test_malformed_authorization_headers_get_401(jobd, workdir, two_users):
    w = AuthWeb(jobd, workdir, two_users, basic("alice", PASSWORDS["alice"]))
    pid = w.http_pid()
    good = base64.b64encode(b"alice:" + PASSWORDS["alice"].encode()).decode()
    for value in ("Basic", "Basic ", "Basic !!!!", "Basic " + good[:-1],
                  "Basic " + good + "=", "Basic " + good + " x",
                  "Basic " + base64.b64encode(b"alicewonder").decode(),
                  "Basic " + base64.b64encode(b"alice\0:x").decode(),
                  "Basic " + base64.b64encode(
                      b"alice:" + PASSWORDS["alice"].encode() + b"\0").decode(),
                  "Bearer " + good, "Basic=" + good, "Basicc " + good,
                  "Basic " + "QUFB" * 1500, "Basic " + "=" * 8,
                  "Basic " + base64.b64encode(b":").decode(),
                  "Basic " + base64.b64encode(
                      b"\xff\xfe:" + b"x" * 2000).decode(),
                  "\tBasic " + good + "\x7f"):
        st, hd, data = w.get("/api/stats", headers={"Authorization": value},
                             auth=False)
        assert st == 401, value[:40]
    # the scheme is case-insensitive, blanks after it may be several
    for value in ("basic " + good, "BASIC  " + good):
        st, hd, data = w.get("/api/stats", headers={"Authorization": value},
                             auth=False)
        assert st == 200, value
    # a header over max_header_size is refused before any of it is read
    st = None
    try:
        st = w.get("/api/stats", headers={"Authorization": "Basic " +
                                          "A" * 20000}, auth=False)[0]
    except OSError:
        pass
    assert st in (None, 400, 413, 431)
    assert w.http_pid() == pid            # no crash, no respawn
    assert w.get("/api/stats")[0] == 200


@pytest.mark.parametrize("line,why", [
    ("alice", "three fields"),
    ("alice:$y$j9T$abc$def", "three fields"),
    ("alice:$y$j9T$abc$def:admin:x", "three fields"),
    ("alice:$y$j9T$abc$def:root", "admin or viewer"),
    ("alice:$y$j9T$abc$def:", "admin or viewer"),
    (":$y$j9T$abc$def:admin", "bad user name"),
    ("al ice:$y$j9T$abc$def:admin", "bad user name"),
    ("a" * 65 + ":$y$j9T$abc$def:admin", "bad user name"),
    ("alice:plaintext:admin", "crypt(3)"),
    ("alice::admin", "crypt(3)"),
    ("alice:*:admin", "crypt(3)"),
    ("alice:!:admin", "crypt(3)"),
    ("alice:$y$:admin", "crypt(3)"),
    ("alice:$zz$abc$def:admin", "crypt(3)"),
    ("alice:abcdefghijklm:admin", "weak"),                 # DES
    ("alice:$1$abcdefgh$abcdefghijklmnopqrstuv:admin", "weak"),  # MD5
    ("alice:" + "x" * 2000 + ":admin", "longer than"),
    ("bob:$y$j9T$abc$def:admin\nbob:$y$j9T$abc$ghi:viewer", "twice"),
])
def test_bad_users_file_lines_fail_the_start_with_file_and_line(
        workdir, line, why):
    good = "carol:$y$j9T$abc$def:viewer\n"
    path = users_file(workdir, "# users\n" + good + line + "\n")
    lineno = 3 + line.count("\n")
    r = subprocess.run([JOBD, "--check", "-o", "http.auth=basic", "-o",
                        "http.users_file=" + path],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "[http] users_file: %s:%d: " % (path, lineno) in r.stderr, \
        r.stderr
    assert why in r.stderr, r.stderr


@pytest.mark.parametrize("setup,why", [
    ("missing", "No such file"),
    ("empty", "no users"),
    ("directory", "not a regular file"),
    ("relative", "absolute"),
    ("none", "required with auth = basic"),
    ("toomany", "more than 1000 users"),
])
def test_bad_users_files_are_refused(workdir, setup, why):
    path = os.path.join(str(workdir), "users")
    if setup == "empty":
        users_file(workdir, "# nobody\n\n")
    elif setup == "directory":
        os.mkdir(path)
    elif setup == "relative":
        path = "users"
    elif setup == "toomany":
        users_file(workdir, "".join("u%d:$y$j9T$abc$def:viewer\n" % i
                                    for i in range(1001)))
    args = [JOBD, "--check", "-o", "http.auth=basic"]
    if setup != "none":
        args += ["-o", "http.users_file=" + path]
    r = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and why in r.stderr, r.stderr
    assert "[http] " in r.stderr


def test_users_file_readable_by_others_is_a_warning(jobd, workdir):
    path = users_file(workdir, passwd_line("alice", "pw", "admin"),
                      mode=0o644)
    w = AuthWeb(jobd, workdir, path, basic("alice", "pw"))
    wait_until(lambda: "readable by others" in w.d.log_text(), 10)
    assert "chmod o-r" in w.d.log_text()


def test_users_file_is_read_again_on_reload(jobd, workdir):
    path = users_file(workdir, passwd_line("alice", "one", "admin"))
    w = AuthWeb(jobd, workdir, path, basic("alice", "one"))
    old = w.http_pid()
    users_file(workdir, passwd_line("alice", "two", "viewer") +
               passwd_line("dave", "three", "admin"))
    w.d.signal(signal.SIGHUP)
    wait_until(lambda: w.http_pid() not in (None, old), 15,
               msg="the HTTP child started again")
    w.auth = basic("dave", "three")
    wait_until(lambda: w.try_get("/healthz") == 200, 15)
    assert w.get("/api/stats", headers={
        "Authorization": basic("alice", "one")})[0] == 401
    alice = {"Authorization": basic("alice", "two")}
    assert w.get("/api/stats", headers=alice)[0] == 200
    assert w.get("/api/queues/low/pause", method="POST",
                 headers=alice)[0] == 403          # a viewer now
    # A reload with a bad file is refused: the users stay as they were.
    old = w.http_pid()
    users_file(workdir, "dave:nohash:admin\n")
    w.d.signal(signal.SIGHUP)
    wait_until(lambda: "users_file" in w.d.log_text().split(
        "reload")[-1], 15, msg="the reload refused")
    assert w.http_pid() == old
    assert w.get("/api/stats")[0] == 200


def test_jobctl_passwd_line_and_errors():
    line = passwd_line("alice", "secret")
    user, hash_, role = line.rstrip("\n").split(":")
    assert (user, role) == ("alice", "viewer")
    assert hash_.startswith("$y$") and "secret" not in line
    assert passwd_line("alice", "secret") != line      # a new salt
    assert passwd_line("x", "y", "admin").endswith(":admin\n")
    for args, status, why in (
            (["passwd"], 2, "user name"),
            (["passwd", "bad:name"], 2, "bad user name"),
            (["passwd", "alice", "--role", "root"], 2, "admin or viewer"),
            (["passwd", "a", "b"], 2, "user name")):
        r = run_jobctl(*args, input="pw\n")
        assert r.returncode == status and why in r.stderr, r
    for text, why in (("\n", "empty"), ("", "one line"),
                      ("x" * 2000 + "\n", "one line")):
        r = run_jobctl("passwd", "alice", input=text)
        assert r.returncode == 1 and why in r.stderr, r
        assert r.stdout == ""


def test_jobctl_passwd_on_a_terminal_does_not_echo():
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(JOBCTL, [JOBCTL, "passwd", "eve", "--role", "admin"])
    out = b""

    def read_until(token, timeout=10):
        nonlocal out
        while token not in out:
            r, _, _ = select.select([fd], [], [], timeout)
            if not r:
                raise AssertionError("no %r in %r" % (token, out))
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    read_until(b"Password: ")
    os.write(fd, b"hunter2\n")
    read_until(b"again: ")
    os.write(fd, b"hunter2\n")
    read_until(b":admin")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.WEXITSTATUS(status) == 0, out
    assert b"hunter2" not in out, out
    assert b"eve:$y$" in out


def test_bad_users_file_stops_the_daemon_at_start(jobd, workdir):
    path = users_file(workdir, "alice:$y$j9T$abc$def:root\n")
    d = jobd(args=["-o", "http.auth=basic", "-o", "http.users_file=" + path,
                   "--http", "127.0.0.1:1"], wait=False)
    assert d.proc.wait(20) == 1
    d.expect_exit = 1
    assert "%s:1: role must be admin or viewer" % path in d.log_text()
