"""Library loading and error mapping: no daemon needed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import pyfixtures
import jobclient
from jobclient import ERROR_CODES, JobdError, JobdUnavailable
from jobclient.errors import LibraryNotFoundError


def run_py(code: str, **env: str) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items()
         if k not in ("JOBCLIENT_LIB", "JOBD_BUILDDIR")}
    e.update(env, PYTHONPATH=str(pyfixtures.BINDINGS))
    return subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, env=e, timeout=30)


def test_import_needs_no_library():
    p = run_py("import jobclient; print(jobclient.__version__)",
               JOBCLIENT_LIB="/nonexistent/libjobclient.so")
    assert p.returncode == 0 and p.stdout.strip() == "0.1.0"


def test_jobclient_lib_wrong_path_names_it():
    p = run_py("import jobclient\ntry:\n jobclient.Client()\n"
               "except jobclient.LibraryNotFoundError as e:\n print(e)",
               JOBCLIENT_LIB="/nonexistent/libjobclient.so")
    assert "JOBCLIENT_LIB" in p.stdout
    assert "/nonexistent/libjobclient.so (no such file)" in p.stdout


def test_search_order(tmp_path):
    p = run_py("import jobclient; print('\\n'.join(jobclient.candidate_paths()))",
               JOBD_BUILDDIR=str(tmp_path))
    paths = p.stdout.split()
    assert paths[0] == f"{tmp_path}/libclient/.libs/libjobclient.so"
    assert str(pyfixtures.REPO / "libclient/.libs/libjobclient.so") in paths
    assert "libjobclient.so.1" in paths      # the system library path
    p = run_py("import jobclient; print(jobclient.candidate_paths())",
               JOBCLIENT_LIB="/x/lib.so")
    assert p.stdout.strip() == "['/x/lib.so']"


def test_not_a_library_is_reported(tmp_path):
    bogus = tmp_path / "libjobclient.so"
    bogus.write_text("not an ELF file")
    with pytest.raises(LibraryNotFoundError) as e:
        jobclient.load_library(str(bogus))
    assert str(bogus) in str(e.value) and e.value.tried


def test_error_mapping():
    assert ERROR_CODES[5] == "not_found" and ERROR_CODES[100] == "connect"
    for errno, code in ERROR_CODES.items():
        e = JobdError.from_code(errno, "msg")
        assert e.code == code and e.errno == errno and e.message == "msg"
        assert isinstance(e, JobdError)
        assert isinstance(e, JobdUnavailable) == (
            code in ("connect", "io", "unavailable"))
    # the daemon's response wins over the library's code
    e = JobdError.from_code(11, "", response={"ok": False, "error": {
        "code": "busy", "message": "too many"}})
    assert e.code == "busy" and e.message == "too many"
    assert str(e) == "busy: too many"


def test_pip_install_offline(tmp_path):
    """pip installs the package with nothing but the image's setuptools."""
    import shutil
    src = tmp_path / "src"   # build from a copy: keep the checkout clean
    shutil.copytree(pyfixtures.BINDINGS, src,
                    ignore=shutil.ignore_patterns("build", "*.egg-info",
                                                  "__pycache__"))
    # The checkout may be read-only (make distcheck): the copy must not be.
    for f in [src, *src.rglob("*")]:
        f.chmod(f.stat().st_mode | 0o200)
    p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index",
                        "--no-build-isolation", "--target",
                        str(tmp_path / "site"), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "site" / "jobclient" / "client.py").exists()
    assert (tmp_path / "site" / "jobclient" / "py.typed").exists()
