"""Locating and loading libjobclient through ctypes.

The search order is:

1. ``$JOBCLIENT_LIB`` -- the path of the shared object (or a name that the
   dynamic loader understands, such as ``libjobclient.so.1``).  When it is
   set it is the only candidate: a wrong value is an error, not a hint.
2. The build tree: ``$JOBD_BUILDDIR/libclient/.libs/libjobclient.so`` and,
   when the package is imported from a source checkout,
   ``<checkout>/libclient/.libs/libjobclient.so``.
3. The system library path: ``libjobclient.so.1``, then whatever
   ``ctypes.util.find_library("jobclient")`` answers.

The library is loaded once per process, on first use, and the prototypes of
every function the binding calls are declared so that ctypes converts
arguments and results correctly (``char **`` out-parameters are
``c_void_p`` so that the strings can be released with ``jc_free``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from pathlib import Path
from typing import List, Optional

from .errors import LibraryNotFoundError

__all__ = ["load_library", "candidate_paths"]

_SONAME = "libjobclient.so.1"
_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None

_c = ctypes.c_char_p
_p = ctypes.c_void_p
_pp = ctypes.POINTER(ctypes.c_void_p)
_i = ctypes.c_int
_d = ctypes.c_double

# name: (restype, argtypes)
_PROTOTYPES = {
    "jc_version": (_c, []),
    "jc_strerror": (_c, [_i]),
    "jc_code_name": (_c, [_i]),
    "jc_open": (_i, [_c, _pp]),
    "jc_close": (None, [_p]),
    "jc_set_timeout": (None, [_p, _d]),
    "jc_errmsg": (_c, [_p]),
    "jc_errcode": (_i, [_p]),
    "jc_socket_path": (_c, [_p]),
    "jc_free": (None, [_p]),
    "jc_call": (_i, [_p, _c, _pp]),
    "jc_ping": (_i, [_p]),
    "jc_submit": (_i, [_p, _c, _c, _c, _pp]),
    "jc_submit_many": (_i, [_p, _c, _pp]),
    "jc_get": (_i, [_p, _c, _pp]),
    "jc_result": (_i, [_p, _c, _pp]),
    "jc_wait": (_i, [_p, _c, _d, _pp]),
    "jc_cancel": (_i, [_p, _c, _pp]),
    "jc_requeue": (_i, [_p, _c, _pp]),
    "jc_requeue_failed": (_i, [_p, _c, _pp]),
    "jc_list": (_i, [_p, _c, _pp]),
    "jc_stats": (_i, [_p, _pp]),
    "jc_pause": (_i, [_p, _c]),
    "jc_resume": (_i, [_p, _c]),
    "jc_progress": (_i, [_p, _c, _d, _c]),
    "jc_batch_open": (_i, [_p, _c, _c, _pp]),
    "jc_batch_seal": (_i, [_p, _c, _pp]),
    "jc_batch_get": (_i, [_p, _c, _pp]),
}


def _source_root() -> Optional[Path]:
    """The jobd checkout this package lives in, if it lives in one."""
    here = Path(__file__).resolve().parent  # .../bindings/python/jobclient
    root = here.parent.parent.parent
    if (root / "libclient" / "jobclient.h").exists():
        return root
    return None


def candidate_paths() -> List[str]:
    """Every path or library name the loader will try, in order."""
    env = os.environ.get("JOBCLIENT_LIB")
    if env:
        return [env]
    out: List[str] = []
    builddir = os.environ.get("JOBD_BUILDDIR")
    roots = [Path(builddir)] if builddir else []
    src = _source_root()
    if src is not None:
        roots.append(src)
    for root in roots:
        for name in ("libjobclient.so", _SONAME):
            out.append(str(root / "libclient" / ".libs" / name))
    out.append(_SONAME)
    found = ctypes.util.find_library("jobclient")
    if found and found not in out:
        out.append(found)
    return out


def _declare(lib: ctypes.CDLL) -> None:
    for name, (restype, argtypes) in _PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


def load_library(path: Optional[str] = None) -> ctypes.CDLL:
    """Load libjobclient (once per process) and return it.

    Args:
        path: load exactly this file instead of searching.

    Raises:
        LibraryNotFoundError: nothing loadable was found; the message names
            every candidate tried and why it failed.
    """
    global _lib
    if path is None and _lib is not None:
        return _lib
    with _lock:
        if path is None and _lib is not None:
            return _lib
        tried: List[str] = []
        for cand in ([path] if path else candidate_paths()):
            is_file = "/" in cand
            if is_file and not os.path.exists(cand):
                tried.append(f"{cand} (no such file)")
                continue
            try:
                lib = ctypes.CDLL(cand)
                _declare(lib)
            except (OSError, AttributeError) as exc:
                tried.append(f"{cand} ({exc})")
                continue
            if path is None:
                _lib = lib
            return lib
        raise LibraryNotFoundError(tried)
