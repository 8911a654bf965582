"""jobd_itest.py: what the integration tests import their helpers from
(PYTHON3, wait_until, proto, ...).  The harness itself is tests/pyfixtures.py,
shared by every Python suite; this name stays for the test modules."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyfixtures import *  # noqa: E402,F401,F403
from pyfixtures import proto  # noqa: E402,F401

import socket  # noqa: E402

NOBODY = 65534       # uid of nobody and gid of nogroup on Debian


def client_as(path, uid=NOBODY, gid=NOBODY, groups=()):
    """client_as: a proto.Client whose connection was made by a process
    running as uid/gid with the supplementary groups given."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            parent.close()
            os.setgroups(list(groups))
            os.setgid(gid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            socket.send_fds(child, [b"x"], [s.fileno()])
            code = 0
        finally:
            os._exit(code)
    child.close()
    try:
        _, fds, _, _ = socket.recv_fds(parent, 16, 1)
    finally:
        parent.close()
        _, status = os.waitpid(pid, 0)
    assert status == 0 and fds, "the child could not connect as uid %d" % uid
    c = proto.Client.__new__(proto.Client)
    c.path = path
    c.sock = socket.socket(fileno=fds[0])
    c.sock.settimeout(30)
    c.buf = b""
    return c
