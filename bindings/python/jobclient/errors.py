"""Exceptions raised by the jobclient binding.

Every error the daemon reports (docs/protocol.md) and every error
libjobclient raises itself becomes a :class:`JobdError` whose ``code`` is
the protocol name of the error (``"not_found"``, ``"conflict"``, ...) or,
for errors of the library, ``"connect"``, ``"io"``, ``"timeout"``,
``"protocol"``, ``"nomem"`` or ``"invalid"``.

A daemon that cannot be used at all -- its socket cannot be reached, the
connection broke, or the daemon itself cannot reach Redis -- raises
:class:`JobdUnavailable`, a subclass, so that an application can catch that
one class and fall back to doing the work synchronously: it means "certainly
not done".

A request that reached Redis but whose outcome is unknown (Redis stopped
answering) raises :class:`JobdInDoubt`, another subclass of
:class:`JobdError` and *not* of :class:`JobdUnavailable`: falling back
would do the work twice if the job was stored after all.  Its ``job_id``
(``job_ids`` for ``submit_many``) is the id the job has if it was stored:
look it up (``get``) instead.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

__all__ = [
    "JobdError",
    "JobdUnavailable",
    "JobdInDoubt",
    "LibraryNotFoundError",
    "ERROR_CODES",
    "UNAVAILABLE_CODES",
]

#: libjobclient's numeric codes (jobclient.h ``jc_err``) and their names.
ERROR_CODES: Dict[int, str] = {
    1: "bad_json",
    2: "bad_request",
    3: "unknown_op",
    4: "unknown_type",
    5: "not_found",
    6: "conflict",
    7: "forbidden",
    8: "frame_too_large",
    9: "unavailable",
    10: "busy",
    11: "internal",
    12: "in_doubt",
    100: "connect",
    101: "io",
    102: "timeout",
    103: "protocol",
    104: "nomem",
    105: "invalid",
}

#: Codes that mean "jobd cannot do anything for you right now".
UNAVAILABLE_CODES = frozenset({"connect", "io", "unavailable"})


class JobdError(Exception):
    """An error reported by jobd or by libjobclient.

    Attributes:
        code: the protocol name of the error (docs/protocol.md) or
            the library's own name for it (``"connect"``, ``"io"``,
            ``"timeout"``, ...).
        errno: libjobclient's numeric ``jc_err`` value (0 if unknown).
        message: the human-readable message.
        job_id: for ``conflict`` on submit, the id of the job that already
            holds the job id or unique key; for ``in_doubt`` on submit, the
            id the job has if it was stored; otherwise ``None``.
        job_ids: for ``in_doubt`` on submit_many, the ids the jobs have if
            the batch was stored; otherwise ``None``.
        response: the daemon's whole response object, when there was one.
    """

    def __init__(
        self,
        code: str,
        message: str = "",
        *,
        errno: int = 0,
        job_id: Optional[str] = None,
        job_ids: Optional[List[str]] = None,
        response: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.code = code
        self.message = message or code
        self.errno = errno
        self.job_id = job_id
        self.job_ids = job_ids
        self.response = response
        super().__init__(f"{code}: {self.message}")

    @classmethod
    def from_code(
        cls,
        errno: int,
        message: str = "",
        *,
        job_id: Optional[str] = None,
        job_ids: Optional[List[str]] = None,
        response: Optional[Dict[str, Any]] = None,
    ) -> "JobdError":
        """Build the right exception class for a ``jc_err`` value."""
        code = ERROR_CODES.get(errno, "internal")
        if response is not None:
            # The daemon's own code wins when it sent one.
            err = response.get("error")
            if isinstance(err, dict):
                code = str(err.get("code") or code)
                message = str(err.get("message") or message)
            # The ids a conflict or an in_doubt carry at top level.
            if job_id is None and isinstance(response.get("job_id"), str):
                job_id = response["job_id"]
            if job_ids is None and isinstance(response.get("job_ids"), list):
                job_ids = [str(i) for i in response["job_ids"]]
        if code == "in_doubt":
            klass: type = JobdInDoubt
        elif code in UNAVAILABLE_CODES:
            klass = JobdUnavailable
        else:
            klass = JobdError
        return klass(code, message, errno=errno, job_id=job_id,
                     job_ids=job_ids, response=response)


class JobdUnavailable(JobdError):
    """jobd cannot be used: its socket is unreachable, the connection
    dropped, or the daemon cannot reach Redis.  Safe to fall back on."""


class JobdInDoubt(JobdError):
    """The request reached Redis but its outcome is unknown (Redis
    stopped answering).  Not safe to fall back on: look the job up by
    ``job_id`` (``job_ids`` for submit_many) once jobd answers again; if it
    is not found then, it was not stored and never will be."""


class LibraryNotFoundError(ImportError):
    """libjobclient could not be loaded.

    Attributes:
        tried: every path or name that was tried, with the reason it failed.
    """

    def __init__(self, tried: List[str]) -> None:
        self.tried = list(tried)
        lines = "\n  ".join(self.tried) or "(nothing)"
        super().__init__(
            "cannot load libjobclient; set JOBCLIENT_LIB to the path of "
            "libjobclient.so (or JOBD_BUILDDIR to a jobd build tree). "
            f"Tried:\n  {lines}")
