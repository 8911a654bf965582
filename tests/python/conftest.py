"""Fixtures of the binding tests: a private redis-server and jobd, from
tests/pyfixtures.py."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import pyfixtures  # noqa: E402

pyfixtures.use_app_paths()

#: job types for the binding tests: exec handlers written in Python.
HANDLER = Path(__file__).resolve().parent / "handler.py"

#: the [jobd] settings of the binding tests (socket and redis added).
SETTINGS = {"workers": 2, "log_target": "stderr", "log_level": "debug",
            "grace": 2, "shutdown_grace": 5, "max_frame": 65536}


def types_config() -> Dict[str, Dict[str, Any]]:
    py = sys.executable

    def pytype(mode: str) -> Dict[str, Any]:
        return {"handler": "exec", "command": f"{py} {HANDLER} {mode}",
                "timeout": 30, "retries": 0}
    return {"pyecho": pytype("echo"), "pycrash": pytype("crash"),
            "pyprogress": pytype("progress"),
            "slow": {"handler": "builtin", "builtin": "sleep",
                     "timeout": 60, "queue": "low"}}


@pytest.fixture
def daemon() -> Iterator[pyfixtures.JobdStack]:
    why = pyfixtures.missing_tools()
    if why:
        pytest.skip(why)
    tmp = pyfixtures.short_tmpdir("jobclient-")
    try:
        d = pyfixtures.JobdStack(tmp, SETTINGS, types_config())
        try:
            yield d
        finally:
            d.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def client(daemon):
    from jobclient import Client
    c = Client(str(daemon.socket), timeout=10)
    yield c
    c.close()
