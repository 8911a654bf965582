"""Fixtures of the binding tests: a private redis-server and jobd."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Iterator, List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import pyfixtures  # noqa: E402

pyfixtures.export_lib_env()

#: job types for the binding tests: exec handlers written in Python.
HANDLER = Path(__file__).resolve().parent / "handler.py"


def types_config() -> List[str]:
    py = sys.executable
    return [
        f"[type:pyecho]\nhandler = exec\ncommand = {py} {HANDLER} echo\n"
        "timeout = 30\nretries = 0",
        f"[type:pycrash]\nhandler = exec\ncommand = {py} {HANDLER} crash\n"
        "timeout = 30\nretries = 0",
        f"[type:pyprogress]\nhandler = exec\ncommand = {py} {HANDLER} progress"
        "\ntimeout = 30\nretries = 0",
        "[type:slow]\nhandler = builtin\nbuiltin = sleep\ntimeout = 60\n"
        "queue = low",
    ]


class Daemon:
    def __init__(self, tmp: Path, **jobd: str) -> None:
        self.tmp = tmp
        self.redis = pyfixtures.RedisServer(tmp).start()
        self.socket = tmp / "jobd.sock"
        text = pyfixtures.jobd_config(self.socket, self.redis.url,
                                      extra_jobd=jobd, types=types_config())
        self.jobd = pyfixtures.Jobd(tmp, text, self.socket).start()

    def close(self) -> None:
        self.jobd.stop()
        self.redis.stop()


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    why = pyfixtures.missing_tools()
    if why:
        pytest.skip(why)
    tmp = pyfixtures.short_tmpdir("jobclient-")
    d = Daemon(tmp, max_frame="65536")
    try:
        yield d
    finally:
        d.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def client(daemon):
    from jobclient import Client
    c = Client(str(daemon.socket), timeout=10)
    yield c
    c.close()
