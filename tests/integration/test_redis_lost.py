"""test_redis_lost.py: a Redis that comes back empty (restarted without
persistence, or flushed under a running jobd) is reported as an error
saying the jobs were lost, once; jobd carries on with the empty namespace
(docs/architecture.md, "A Redis that comes back empty").  A first start on
an empty Redis, or a restart of a persistent Redis, says nothing.
"""
import os
import signal
import socket
import time

import pyfixtures
from jobd_itest import wait_until

LOST = "redis came back empty (namespace main): every job it held is lost"


def lost_lines(d):
    return [l for l in d.log_text().splitlines() if LOST in l]


def settle(d, seconds=3.0):
    """Let a few reaper passes (1 s apart), hence epoch checks, go by."""
    time.sleep(seconds)
    return lost_lines(d)


def test_fresh_start_is_not_a_loss(jobd, redis_server):
    d = jobd(workers=1)
    with d.client() as c:
        assert c.wait(c.submit("jobd.noop"))["status"] == "finished"
        assert "redis_data_lost_at" not in c.ok("stats")
    assert settle(d) == []
    assert redis_server.client().exists("jobd:{main}:epoch") == 1


def test_flushall_under_running_jobd_is_reported(jobd, redis_server):
    d = jobd(workers=1)
    with d.client() as c:
        held = c.submit("jobd.noop", delay=3600)
        c.ok("stats")               # the count the error line quotes
        time.sleep(1.5)             # a reaper pass reads the epoch
        redis_server.client().flushall()
        wait_until(lambda: lost_lines(d), 5,
                   msg="the lost-data error in the log")
        lines = lost_lines(d)
        assert len(lines) == 1, lines
        assert "error" in lines[0] and "(1 at the last stats)" in lines[0]
        assert "redis_data_lost_at" in c.ok("stats")
        assert c.call("get", job_id=held)["error"]["code"] == "not_found"
        # It carries on: new jobs run, and the error is not repeated.
        assert c.wait(c.submit("jobd.echo", {"x": 1}))["status"] == "finished"
    assert len(settle(d)) == 1


def test_redis_restarted_without_persistence_is_reported(jobd,
                                                         redis_server):
    d = jobd(workers=1)
    with d.client() as c:
        assert c.wait(c.submit("jobd.noop"))["status"] == "finished"
    time.sleep(1.5)
    redis_server.kill()
    redis_server.start()
    wait_until(lambda: lost_lines(d), 15,
               msg="the lost-data error in the log")
    with d.client() as c:
        wait_until(lambda: c.call("submit", type="jobd.noop").get("ok"),
                   15, msg="jobd back on the restarted Redis")
        assert c.wait(c.submit("jobd.noop"))["status"] == "finished"
    assert len(settle(d)) == 1


def test_persistent_redis_restart_is_not_a_loss(jobd, workdir):
    aof_dir = os.path.join(workdir, "aof")   # not the fixture's socket
    os.mkdir(aof_dir)
    r = pyfixtures.RedisServer(aof_dir, aof=True).start()
    try:
        d = jobd(workers=1, redis=r)
        with d.client() as c:
            assert c.wait(c.submit("jobd.noop"))["status"] == "finished"
        time.sleep(1.5)
        r.kill()
        r.start()
        with d.client() as c:
            wait_until(lambda: c.call("submit", type="jobd.noop").get("ok"),
                       15, msg="jobd back on the restarted Redis")
            assert c.wait(c.submit("jobd.noop"))["status"] == "finished"
        assert settle(d) == []
    finally:
        d.stop()
        r.stop()


def test_restart_leaves_other_clients_connections_alone(jobd, workdir):
    """After a Redis restart jobd closes its old link only on the server
    that held it: the old link's client id names some other connection on
    the new server, which must live on (it was killed: a CI run saw the
    test's own connection reset)."""
    aof_dir = os.path.join(workdir, "aof")
    os.mkdir(aof_dir)
    r = pyfixtures.RedisServer(aof_dir, aof=True).start()
    held = []
    d = None
    try:
        for _ in range(40):     # jobd's links get ids a restart does not reach
            r.cli("PING")
        d = jobd(workers=1, redis=r)
        with d.client() as c:
            assert c.wait(c.submit("jobd.noop"))["status"] == "finished"
        old_ids = [int(f[3:]) for f in r.cli("CLIENT", "LIST").split()
                   if f.startswith("id=")]
        # The master is stopped while Redis restarts, so that these
        # connections take the old ids before it links again.
        os.kill(d.pid, signal.SIGSTOP)
        try:
            r.kill()
            r.start()
            while True:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(5)
                s.connect(r.sock)
                s.sendall(b"CLIENT ID\r\n")
                my_id = int(s.recv(64)[1:].strip())
                held.append(s)
                if my_id > max(old_ids) + 2:
                    break
        finally:
            os.kill(d.pid, signal.SIGCONT)
        with d.client() as c:
            wait_until(lambda: c.call("submit", type="jobd.noop").get("ok"),
                       15, msg="jobd back on the restarted Redis")
            assert c.wait(c.submit("jobd.noop"))["status"] == "finished"
        dead = []
        for s in held:
            try:
                s.sendall(b"PING\r\n")
                if s.recv(64) != b"+PONG\r\n":
                    dead.append(s)
            except OSError:
                dead.append(s)
        assert dead == [], "%d of %d connections closed by jobd" % (
            len(dead), len(held))
    finally:
        for s in held:
            s.close()
        if d is not None:
            d.stop()
        r.stop()
