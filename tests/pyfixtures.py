"""Shared helpers of the Python test suites (tests/python, tests/app):
private redis-server and jobd processes in a temporary directory.

Where things are found:

- jobd: ``$JOBD_BUILDDIR/jobd``; without JOBD_BUILDDIR, ``<repo>/_build``,
  the repository root, then /tmp/build-lead.
- libjobclient: ``$JOBCLIENT_LIB``, else
  ``<builddir>/libclient/.libs/libjobclient.so`` (exported as
  JOBCLIENT_LIB for the binding).
- redis-server: ``$REDIS_SERVER`` or /usr/bin/redis-server.

Tests that need a daemon are skipped, with the reason, when one of these
is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional

REPO = Path(__file__).resolve().parent.parent
BINDINGS = REPO / "bindings" / "python"
APP_DIR = REPO / "examples" / "storyapp"

for _p in (str(BINDINGS), str(APP_DIR)):
    if _p not in sys.path:
        sys.path.insert(0, _p)


def build_dirs() -> List[Path]:
    env = os.environ.get("JOBD_BUILDDIR")
    if env:
        return [Path(env)]
    return [REPO / "_build", REPO, Path("/tmp/build-lead")]


def find_jobd() -> Optional[Path]:
    for d in build_dirs():
        exe = d / "jobd"
        if exe.is_file() and os.access(exe, os.X_OK):
            return exe
    return None


def find_lib() -> Optional[str]:
    env = os.environ.get("JOBCLIENT_LIB")
    if env:
        return env if os.path.exists(env) else None
    for d in build_dirs():
        lib = d / "libclient" / ".libs" / "libjobclient.so"
        if lib.exists():
            return str(lib)
    return None


def find_redis() -> Optional[str]:
    exe = os.environ.get("REDIS_SERVER") or shutil.which(
        "redis-server", path="/usr/bin:/usr/sbin:" + os.environ.get("PATH", ""))
    return exe if exe and os.path.exists(exe) else None


def missing_tools() -> Optional[str]:
    """Why daemon tests cannot run, or None."""
    if find_redis() is None:
        return "redis-server not found"
    if find_jobd() is None:
        return ("jobd not built (looked in "
                + ", ".join(str(d) for d in build_dirs()) + ")")
    if find_lib() is None:
        return "libjobclient.so not built (set JOBCLIENT_LIB)"
    return None


def wait_for_socket(path: Path, timeout: float = 10.0,
                    proc: Optional[subprocess.Popen] = None) -> None:
    """Wait until a Unix socket accepts connections."""
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


def jobd_request(path: Path, request: dict, timeout: float = 5.0) -> dict:
    """One raw round trip (docs/protocol.md framing), without the binding."""
    import json
    import struct
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        data = json.dumps(request).encode()
        s.sendall(struct.pack(">I", len(data)) + data)
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("jobd closed the connection")
            buf += chunk
        return json.loads(buf[4:4 + struct.unpack(">I", buf[:4])[0]])


def wait_for_jobd_ready(path: Path, timeout: float = 10.0) -> None:
    """Wait until jobd answers a request that needs Redis (it may listen
    before its Redis connection is up)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = jobd_request(path, {"op": "stats"})
            if isinstance(last, dict) and last.get("ok"):
                return
        except OSError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"jobd at {path} not ready: {last!r}")


def stop_process(proc: Optional[subprocess.Popen], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after *grace* seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class RedisServer:
    """A private redis-server on a Unix socket, no persistence."""

    def __init__(self, tmp: Path) -> None:
        self.dir = tmp
        self.socket = tmp / "redis.sock"
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> "RedisServer":
        exe = find_redis()
        assert exe, "redis-server not found"
        self.log = open(self.dir / "redis.log", "wb")
        self.proc = subprocess.Popen(
            [exe, "--port", "0", "--unixsocket", str(self.socket),
             "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_socket(self.socket, proc=self.proc)
        return self

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


def jobd_config(socket_path: Path, redis_url: str, *, workers: int = 2,
                extra_jobd: Optional[Dict[str, str]] = None,
                types: Iterable[str] = ()) -> str:
    """A jobd config with a [jobd] section and the given [type:...] texts."""
    lines = ["[jobd]", f"socket = {socket_path}", f"redis = {redis_url}",
             f"workers = {workers}", "log_target = stderr",
             "log_level = debug", "grace = 2", "shutdown_grace = 5"]
    lines += [f"{k} = {v}" for k, v in (extra_jobd or {}).items()]
    return "\n".join(lines) + "\n\n" + "\n\n".join(types) + "\n"


class Jobd:
    """jobd -f -c CONF, started and stopped by the tests."""

    def __init__(self, tmp: Path, config_text: str,
                 socket_path: Optional[Path] = None) -> None:
        self.dir = tmp
        self.socket = socket_path or tmp / "jobd.sock"
        self.conf = tmp / "jobd.conf"
        self.conf.write_text(config_text)
        self.logfile = tmp / "jobd.log"
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> "Jobd":
        exe = find_jobd()
        assert exe, "jobd not built"
        log = open(self.logfile, "ab")
        self.proc = subprocess.Popen([str(exe), "-f", "-c", str(self.conf)],
                                     stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_socket(self.socket, proc=self.proc)
            wait_for_jobd_ready(self.socket)
        except Exception:
            stop_process(self.proc)
            raise RuntimeError("jobd did not start:\n" + self.log_tail())
        return self

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace")
                             .splitlines()[-n:])
        except OSError:
            return ""


def export_lib_env() -> None:
    """Point the binding at the built library."""
    lib = find_lib()
    if lib and not os.environ.get("JOBCLIENT_LIB"):
        os.environ["JOBCLIENT_LIB"] = lib


def short_tmpdir(prefix: str) -> Path:
    """A temp dir with a short path (Unix socket paths max 107 bytes)."""
    import tempfile
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
