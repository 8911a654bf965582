"""jobclient: the Python binding of jobd's client library.

A pure-Python package that loads ``libjobclient`` with ctypes; it has no
compiled extension of its own.

    >>> from jobclient import Client, JobdError, JobdUnavailable
    >>> c = Client()                  # socket from $JOBD_SOCKET or the default
    >>> job_id = c.submit("generate_story", {"idea": "..."}, queue="high")
    >>> c.get(job_id)["status"]
    'queued'

Errors raise :class:`JobdError` (``.code`` is the error code of
docs/protocol.md); a daemon that cannot be reached raises
:class:`JobdUnavailable`, a subclass; a request whose outcome is
unknown raises :class:`JobdInDoubt` (not a JobdUnavailable).  A
:class:`Client` may be shared by all the threads of a web server: it keeps
one connection per thread.  See docs/python.md.
"""

from ._lib import candidate_paths, load_library
from .client import TERMINAL_STATUSES, Batch, Client, JobRecord
from .errors import (ERROR_CODES, JobdError, JobdInDoubt, JobdUnavailable,
                     LibraryNotFoundError)

__version__ = "0.1.0"

__all__ = [
    "Batch",
    "Client",
    "JobRecord",
    "JobdError",
    "JobdUnavailable",
    "JobdInDoubt",
    "LibraryNotFoundError",
    "ERROR_CODES",
    "TERMINAL_STATUSES",
    "candidate_paths",
    "load_library",
    "__version__",
]
