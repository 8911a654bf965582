"""test_access.py: who may do what ([access], SO_PEERCRED), the socket's
mode and group, handlers run as another user with resource limits, and the
delete and reload ops (with their jobctl verbs).

Clients of another uid: a forked child switches to that uid/gid, connects
to the daemon (the kernel records its credentials at connect) and hands
the connected socket back over a socketpair, so the test talks through it
as "nobody".  Needs root; skipped otherwise.
"""
import json
import os
import socket
import stat

import pytest

from jobd_itest import NOBODY, PYTHON3, client_as, wait_until, write_script
import proto

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to act as another uid")


def err_code(r):
    assert r.get("ok") is False, r
    return r["error"]["code"]


@pytest.fixture
def open_dir(workdir):
    """open_dir: the work directory traversable by nobody (mkdtemp makes
    it 0700), so that another uid can reach the socket and handlers."""
    os.chmod(workdir, 0o755)
    return workdir


def start_acl(jobd, access, settings=None, types=None):
    """start_acl: a daemon whose config carries an [access] section."""
    s = {"socket_mode": "0666"}
    s.update(settings or {})
    d = jobd(settings=s, types=types)
    d.write_config(access=access)
    c = d.client()
    try:
        assert c.call("reload").get("ok") is True
    finally:
        c.close()
    return d


def test_forbidden_for_nobody_root_may_all(jobd, open_dir):
    d = start_acl(jobd, {"submit": "root", "admin": "root"})
    st = os.stat(d.sock)
    assert stat.S_IMODE(st.st_mode) == 0o666

    root = d.client()
    jid = root.submit("jobd.sleep", {"seconds": 30})
    done = root.submit("jobd.noop")
    root.wait(done)

    nb = client_as(d.sock)
    try:
        # read-only ops are open to anyone who can connect
        assert nb.ok("hello")["server"] == "jobd"
        assert nb.ok("ping")
        assert nb.ok("get", job_id=jid)["job"]["job_id"] == jid
        assert nb.ok("result", job_id=done)["status"] == "finished"
        assert nb.ok("wait", job_id=done, timeout=1)["job"]["status"] == "finished"
        assert "queues" in nb.ok("stats")
        assert nb.ok("list", status="finished")["total"] >= 1
        # the rest is refused, naming the op and the uid
        for op, fields in [("submit", {"type": "jobd.noop"}),
                           ("submit_many", {"jobs": [{"type": "jobd.noop"}]}),
                           ("progress", {"job_id": jid, "percent": 5}),
                           ("cancel", {"job_id": jid}),
                           ("requeue", {"job_id": done}),
                           ("delete", {"job_id": done}),
                           ("pause", {"queue": "default"}),
                           ("resume", {"queue": "default"}),
                           ("reload", {})]:
            r = nb.call(op, **fields)
            assert err_code(r) == "forbidden", (op, r)
            assert r["error"]["message"] == "uid %d may not %s" % (NOBODY, op)
        # the connection stays usable
        assert nb.ok("ping")
    finally:
        nb.close()
    assert "uid 65534 may not cancel" in d.log_text()
    assert root.status(jid) == "started" or root.status(jid) == "queued"

    # root may do everything
    assert root.ok("cancel", job_id=jid)["status"] == "canceled"
    assert root.ok("requeue", job_id=jid)["job_ids"] == [jid]
    assert root.ok("cancel", job_id=jid)["status"] in ("canceled",)
    root.ok("pause", queue="low")
    root.ok("resume", queue="low")
    root.ok("delete", job_id=done)
    root.ok("reload")
    root.close()


def test_group_rules_and_reload_reevaluates(jobd, open_dir):
    d = start_acl(jobd, {"submit": "root, @%d" % NOBODY, "admin": "root"})
    nb = client_as(d.sock)
    try:
        jid = nb.submit("jobd.noop")          # via its gid (nogroup)
        assert nb.wait(jid)["status"] == "finished"
        assert err_code(nb.call("delete", job_id=jid)) == "forbidden"
    finally:
        nb.close()

    # a peer with another gid but whose user's passwd group is nogroup
    other = client_as(d.sock, uid=NOBODY, gid=1)
    try:
        other.submit("jobd.noop")
    finally:
        other.close()

    # a uid outside the lists whose groups do not match either
    stranger = client_as(d.sock, uid=4242, gid=4242)
    try:
        assert err_code(stranger.call("submit", type="jobd.noop")) == "forbidden"
        assert stranger.ok("stats")
    finally:
        stranger.close()

    # rights follow a reload on a connection that stays open
    nb = client_as(d.sock)
    try:
        assert err_code(nb.call("pause", queue="low")) == "forbidden"
        text = open(d.conf).read().replace("admin = root",
                                           "admin = root, nobody")
        d.write_config(text=text)
        d.jobctl("reload").check_returncode()
        nb.ok("pause", queue="low")
        nb.ok("resume", queue="low")
    finally:
        nb.close()


def test_default_access_is_open(daemon, open_dir):
    """No [access]: the socket's mode is the only gate."""
    os.chmod(daemon.sock, 0o666)
    nb = client_as(daemon.sock)
    try:
        jid = nb.submit("jobd.noop")
        nb.wait(jid)
        nb.ok("delete", job_id=jid)
    finally:
        nb.close()


def test_socket_mode_and_group(jobd, open_dir):
    d = jobd(settings={"socket_mode": "0660", "socket_group": "nogroup"})
    st = os.stat(d.sock)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert st.st_gid == NOBODY
    # nobody gets in through the group; uid 4242 is locked out by the mode
    nb = client_as(d.sock)
    nb.ok("ping")
    nb.close()
    with pytest.raises(AssertionError):
        client_as(d.sock, uid=4242, gid=4242)


def test_unknown_user_in_access_fails_start(jobd, open_dir):
    d = jobd()
    d.write_config(access={"admin": "root, no_such_user_q"})
    r = d.jobctl("reload")
    assert r.returncode == 1
    assert "no such user 'no_such_user_q'" in r.stderr
    assert "[access] admin" in r.stderr


HANDLER_ID = """\
import json, os, sys
sys.stdin.read()
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(),
                  "groups": os.getgroups(), "env": sorted(os.environ)}))
"""

BUSY = """\
import sys
sys.stdin.read()
while True:
    pass
"""

BUSY_LINE = """\
import sys
sys.stdin.readline()
while True:
    pass
"""

ALLOC = """\
import sys
sys.stdin.read()
b = bytearray(1 << 30)
print("{}")
"""

FILES = """\
import sys
sys.stdin.read()
fs = [open("/dev/null") for _ in range(200)]
print("{}")
"""


def test_handler_user_and_limits(jobd, open_dir):
    w = open_dir
    types = {
        "whoami": {"handler": "exec", "user": "nobody", "cwd": "/",
                   "command": [PYTHON3, write_script(w, "id.py", HANDLER_ID)]},
        "busy": {"handler": "exec", "limit_cpu": 1, "timeout": 60,
                 "command": [PYTHON3, write_script(w, "busy.py", BUSY)]},
        "alloc": {"handler": "exec", "limit_memory": "256M",
                  "user": "nobody", "cwd": "/",
                  "command": [PYTHON3, write_script(w, "alloc.py", ALLOC)]},
        "files": {"handler": "exec", "limit_files": 16,
                  "command": [PYTHON3, write_script(w, "files.py", FILES)]},
        "files_ok": {"handler": "exec", "limit_files": 1024,
                     "command": [PYTHON3, write_script(w, "files2.py", FILES)]},
        "busy_p": {"handler": "exec", "persistent": True, "limit_cpu": 1,
                   "timeout": 60,
                   "command": [PYTHON3, write_script(w, "busyp.py", BUSY_LINE)]},
    }
    d = jobd(types=types)
    c = d.client()

    job = c.wait(c.submit("whoami"))
    assert job["status"] == "finished", job
    assert job["result"]["uid"] == NOBODY
    assert job["result"]["gid"] == NOBODY
    assert 0 not in job["result"]["groups"]
    # a clean environment: nothing of jobd's own environment leaks
    assert "JOBD_BUILDDIR" not in job["result"]["env"]

    jid = c.submit("busy")
    job = c.wait(jid, timeout=20)
    assert job["status"] == "failed"
    assert "killed by signal" in job["error"], job["error"]
    assert ("signal %d" % 24) in job["error"] or "signal 9" in job["error"]
    assert job["started_at"] is not None

    job = c.wait(c.submit("alloc"), timeout=20)
    assert job["status"] == "failed"
    assert "MemoryError" in job["error"], job["error"]

    job = c.wait(c.submit("files"), timeout=20)
    assert job["status"] == "failed"
    assert "Too many open files" in job["error"], job["error"]
    assert c.wait(c.submit("files_ok"), timeout=20)["status"] == "finished"

    job = c.wait(c.submit("busy_p"), timeout=30)
    assert job["status"] == "failed"
    assert "signal" in job["error"], job["error"]
    c.close()


def test_delete(daemon, client):
    done = client.submit("jobd.noop")
    client.wait(done)
    failed = client.submit("jobd.fail")
    client.wait(failed)
    queued = client.submit("jobd.noop", delay=3600)   # scheduled
    client.ok("pause", queue="low")
    q2 = client.submit("jobd.noop", queue="low")      # queued

    client.ok("delete", job_id=done)
    assert err_code(client.call("get", job_id=done)) == "not_found"
    assert err_code(client.call("delete", job_id=done)) == "not_found"
    assert all(j["job_id"] != done
               for j in client.ok("list", status="finished")["jobs"])
    client.ok("delete", job_id=failed)
    assert client.ok("list", status="failed")["total"] == 0
    r = client.call("delete", job_id=queued)
    assert err_code(r) == "conflict"
    assert "scheduled" in r["error"]["message"]
    assert err_code(client.call("delete", job_id=q2)) == "conflict"
    assert err_code(client.call("delete")) == "bad_request"

    # jobctl: exit codes
    done = client.submit("jobd.noop")
    client.wait(done)
    r = daemon.jobctl("delete", done)
    assert r.returncode == 0, r.stderr
    assert "deleted" in r.stdout
    r = daemon.jobctl("delete", done)
    assert r.returncode == 1 and "not_found" in r.stderr
    r = daemon.jobctl("delete", q2)
    assert r.returncode == 1 and "conflict" in r.stderr
    assert daemon.jobctl("delete").returncode == 2
    r = daemon.jobctl("--json", "delete", q2)
    assert json.loads(r.stdout)["error"]["code"] == "conflict"


def test_failed_registry_newest_first_and_requeue(daemon, client):
    ids = []
    for i in range(3):
        ids.append(client.submit("jobd.fail", queue="low" if i == 1 else None))
        client.wait(ids[-1])
    r = daemon.jobctl("--json", "list", "--status", "failed")
    assert r.returncode == 0, r.stderr
    assert [j["job_id"] for j in json.loads(r.stdout)["jobs"]] == ids[::-1]
    r = daemon.jobctl("requeue", "--all-failed", "--queue", "low")
    assert r.returncode == 0, r.stderr
    assert ids[1] in r.stdout
    wait_until(lambda: client.status(ids[1]) == "failed"
               and client.get(ids[1])["attempts"] == 1)
    r = daemon.jobctl("--json", "requeue", "--all-failed")
    assert sorted(json.loads(r.stdout)["job_ids"]) == sorted(ids)
    for j in ids:
        client.wait(j)
    r = daemon.jobctl("requeue", ids[0])
    assert r.returncode == 0, r.stderr


def test_reload_op(daemon, client):
    assert err_code(client.call("submit", type="extra")) == "unknown_type"
    daemon.write_config(types={"extra": {"handler": "builtin",
                                         "builtin": "echo"}})
    client.ok("reload")
    jid = client.submit("extra", {"a": 1})
    assert client.wait(jid)["result"] == {"a": 1}

    # a broken file: the error comes back and the old config stays
    good = open(daemon.conf).read()
    daemon.write_config(text=good + "\n[jobd]\nworkers = many\n")
    r = client.call("reload")
    assert err_code(r) == "internal"
    assert "workers" in r["error"]["message"]
    assert "many" in r["error"]["message"]
    assert client.wait(client.submit("extra", {"b": 2}))["result"] == {"b": 2}
    r = daemon.jobctl("reload")
    assert r.returncode == 1
    assert "workers" in r.stderr

    daemon.write_config(text=good)
    r = daemon.jobctl("reload")
    assert r.returncode == 0, r.stderr
    assert "reloaded" in r.stdout
    assert daemon.jobctl("reload", "x").returncode == 2
    # pipelined requests around a reload are all answered in order
    client.send({"op": "ping", "id": 1})
    client.send({"op": "reload", "id": 2})
    client.send({"op": "ping", "id": 3})
    assert [client.recv()["id"] for _ in range(3)] == [1, 2, 3]
    assert daemon.alive()
