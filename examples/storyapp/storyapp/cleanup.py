"""Removing old exports: the ``clean_exports`` job that jobd's
``[cron:clean_exports]`` submits every hour (docs/storyapp.md, "Cleanup").

Only regular files directly in EXPORT_DIR whose modification time is older
than the age are removed.  The directory is opened once and every name is
looked at and unlinked relative to it, without following symlinks: a
symlink, a subdirectory, a FIFO or a socket stays, and nothing outside the
directory is ever touched (unlinking a name that became a symlink removes
the link, not its target).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
import time
from pathlib import Path
from typing import Any, Dict, Optional

__all__ = ["parse_age", "clean_exports", "DEFAULT_MAX_AGE", "MIN_AGE",
           "MAX_AGE", "MAX_SCAN"]

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 7 * 86400
#: an age under a minute would remove exports a client is about to fetch
MIN_AGE = 60
MAX_AGE = 3650 * 86400
#: directory entries one run looks at; the next run goes on
MAX_SCAN = 100_000

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_AGE = re.compile(r"([0-9]{1,10})\s*([smhd]?)")


def parse_age(value: Any, name: str = "max_age") -> int:
    """An age in seconds from an integer or ``N``/``Ns``/``Nm``/``Nh``/
    ``Nd``; ValueError naming *name* when it is not one or is out of
    [MIN_AGE, MAX_AGE]."""
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected seconds or N[smhd], got {value!r}")
    if isinstance(value, int):
        seconds = value
    else:
        m = _AGE.fullmatch(str(value).strip().lower()) \
            if isinstance(value, str) else None
        if m is None:
            raise ValueError(f"{name}: expected seconds or N[smhd] (e.g. 7d),"
                             f" got {str(value)[:40]!r}")
        seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if not MIN_AGE <= seconds <= MAX_AGE:
        raise ValueError(f"{name}: {seconds} s is out of range "
                         f"({MIN_AGE} s to {MAX_AGE // 86400} days)")
    return seconds


def clean_exports(export_dir: Path, max_age: int,
                  now: Optional[float] = None) -> Dict[str, Any]:
    """Remove the regular files of *export_dir* older than *max_age*
    seconds.  Returns ``{"removed", "kept", "skipped", "max_age",
    "more"}``: skipped counts what is not a regular file; more is true when
    the scan stopped at MAX_SCAN entries."""
    now = time.time() if now is None else now
    cutoff = now - max_age
    out = {"removed": 0, "kept": 0, "skipped": 0, "max_age": max_age,
           "more": False}
    try:
        dfd = os.open(export_dir, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return out
    try:
        with os.scandir(dfd) as it:
            for n, entry in enumerate(it):
                if n >= MAX_SCAN:
                    out["more"] = True
                    break
                try:
                    st = os.stat(entry.name, dir_fd=dfd,
                                 follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    out["skipped"] += 1
                    continue
                if st.st_mtime >= cutoff:
                    out["kept"] += 1
                    continue
                try:
                    os.unlink(entry.name, dir_fd=dfd)
                except OSError as exc:
                    if exc.errno != errno.ENOENT:
                        log.warning("cannot remove %s/%s: %s", export_dir,
                                    entry.name, exc)
                    continue
                out["removed"] += 1
    finally:
        os.close(dfd)
    log.info("clean_exports: removed %d files older than %d s from %s "
             "(%d kept, %d not regular files)", out["removed"], max_age,
             export_dir, out["kept"], out["skipped"])
    return out
