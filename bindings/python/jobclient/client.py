"""The jobd client: a thin, thread-safe layer over libjobclient.

Threading model: **one connection per thread**.  libjobclient's handles may
be used by one thread at a time, so a :class:`Client` keeps a handle in a
``threading.local``: each thread that uses the client opens its own
connection on first use and keeps it.  No lock is held around calls, so a
slow ``wait`` in one request thread never delays another thread.  A
thread's handle is closed when the thread ends (when its thread-local
storage is collected) or when :meth:`Client.close` is called.
"""

from __future__ import annotations

import ctypes
import json
import logging
import threading
import weakref
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional

from ._lib import load_library
from .errors import JobdError

__all__ = ["Client", "TERMINAL_STATUSES", "JobRecord"]

log = logging.getLogger("jobclient")

#: Statuses after which a job no longer changes by itself.
TERMINAL_STATUSES = frozenset({"finished", "failed", "canceled"})

#: A job record (docs/protocol.md, "The job record") as a dict.
JobRecord = Dict[str, Any]

_JC_ERR_CONNECT = 100
_JC_ERR_IO = 101


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _enc(s: Optional[str]) -> Optional[bytes]:
    return None if s is None else s.encode()


class _Handle:
    """One libjobclient connection, owned by one thread."""

    def __init__(self, lib: ctypes.CDLL, socket_path: Optional[str],
                 timeout: float) -> None:
        self.lib = lib
        self.ptr = ctypes.c_void_p()
        rc = lib.jc_open(_enc(socket_path), ctypes.byref(self.ptr))
        if not self.ptr:
            raise JobdError("nomem", "jc_open could not allocate a handle",
                            errno=104)
        self._finalizer = weakref.finalize(self, lib.jc_close, self.ptr)
        if rc != 0:
            msg = self.errmsg()
            self.close()
            raise JobdError.from_code(rc, msg)
        lib.jc_set_timeout(self.ptr, float(timeout))

    def errmsg(self) -> str:
        raw = self.lib.jc_errmsg(self.ptr)
        return raw.decode(errors="replace") if raw else ""

    def close(self) -> None:
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive


class Client:
    """A connection to jobd, usable from any number of threads.

    Args:
        socket_path: the daemon's Unix socket; ``None`` means
            ``$JOBD_SOCKET``, else libjobclient's default
            (``/run/jobd/jobd.sock``).
        timeout: seconds one call may wait for the daemon (``wait`` adds its
            own wait time on top); 0 or less waits forever.
        library: the path of libjobclient to load instead of searching
            (see :func:`jobclient.load_library`).

    Nothing is connected until the first call, so constructing a client
    never fails because the daemon is down; calls raise
    :class:`JobdUnavailable` instead.

    Example::

        c = Client()
        job_id = c.submit("generate_story", {"idea": "..."}, queue="high")
        record = c.wait(job_id, timeout=5.0)
    """

    def __init__(self, socket_path: Optional[str] = None, *,
                 timeout: float = 30.0,
                 library: Optional[str] = None) -> None:
        self._lib = load_library(library)
        self.socket_path = socket_path
        self.timeout = timeout
        self._local = threading.local()
        self._handles: "weakref.WeakSet[_Handle]" = weakref.WeakSet()
        self._handles_lock = threading.Lock()
        self._closed = False

    # ------------------------------------------------------------------
    # connection management

    def _handle(self) -> _Handle:
        if self._closed:
            raise JobdError("invalid", "the client is closed", errno=105)
        h: Optional[_Handle] = getattr(self._local, "handle", None)
        if h is None or h.closed:
            h = _Handle(self._lib, self.socket_path, self.timeout)
            self._local.handle = h
            with self._handles_lock:
                self._handles.add(h)
        return h

    def close(self) -> None:
        """Close every connection of this client (all threads' handles).

        Call it only when no other thread is using the client.
        """
        self._closed = True
        with self._handles_lock:
            handles = list(self._handles)
            self._handles.clear()
        for h in handles:
            h.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def library_version(self) -> str:
        """libjobclient's version string."""
        return self._lib.jc_version().decode()

    # ------------------------------------------------------------------
    # the calling convention

    def _run(self, fn: Callable[..., int], *args: Any, out: bool = True,
             idempotent: bool = False, conflict_id: bool = False,
             doubt_ids: bool = False) -> Optional[str]:
        """Call a jc_* function, returning its string out-parameter.

        An idempotent call that fails on a dropped connection is retried
        once: libjobclient reconnects on the next call, so a daemon restart
        costs a reconnect, not an error.
        """
        attempts = 2 if idempotent else 1
        for attempt in range(attempts):
            h = self._handle()
            result = ctypes.c_void_p()
            if out:
                rc = fn(h.ptr, *args, ctypes.byref(result))
            else:
                rc = fn(h.ptr, *args)
            text: Optional[str] = None
            if result.value:
                text = ctypes.string_at(result.value).decode()
                self._lib.jc_free(result)
            if rc == 0:
                return text
            msg = h.errmsg()
            if rc == _JC_ERR_CONNECT:
                # A handle whose connect failed is dropped; the next call
                # opens a fresh one.
                h.close()
            if rc == _JC_ERR_IO and attempt + 1 < attempts:
                log.debug("jobd connection dropped (%s); retrying", msg)
                continue
            response = None
            if text and text.startswith("{"):
                try:
                    response = json.loads(text)
                except ValueError:
                    response = None
            job_id = text if (conflict_id and text and response is None) \
                else None
            job_ids = None
            if doubt_ids and text and text.startswith("["):
                try:
                    job_ids = [str(i) for i in json.loads(text)]
                except ValueError:
                    job_ids = None
            raise JobdError.from_code(rc, msg, job_id=job_id,
                                      job_ids=job_ids, response=response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(self, fn: Callable[..., int], *args: Any,
              idempotent: bool = False) -> Any:
        text = self._run(fn, *args, idempotent=idempotent)
        return json.loads(text) if text else None

    # ------------------------------------------------------------------
    # the API (docs/python.md)

    def call(self, request: Mapping[str, Any]) -> Dict[str, Any]:
        """Send any request of docs/protocol.md and return the response.

        Raises :class:`JobdError` when the daemon answers ``"ok": false``;
        the exception's ``response`` holds the whole answer.
        """
        return self._json(self._lib.jc_call, _dumps(dict(request)))

    def ping(self) -> bool:
        """Round trip to the daemon; returns True or raises."""
        self._run(self._lib.jc_ping, out=False, idempotent=True)
        return True

    def submit(self, job_type: str, payload: Any = None, *,
               queue: Optional[str] = None,
               timeout: Optional[float] = None,
               retries: Optional[int] = None,
               job_id: Optional[str] = None,
               unique_key: Optional[str] = None,
               limit_key: Optional[str] = None,
               delay: Optional[float] = None,
               run_at: Optional[str] = None,
               result_ttl: Optional[int] = None,
               meta: Optional[Mapping[str, Any]] = None,
               callback_url: Optional[str] = None,
               depends_on: Optional[Iterable[str]] = None,
               on_dep_failure: Optional[str] = None,
               batch_id: Optional[str] = None) -> str:
        """Submit one job and return its id.

        Args:
            job_type: a type configured in jobd (``unknown_type`` otherwise).
            payload: any JSON-serialisable value (default ``{}``).
            queue, timeout, retries, job_id, unique_key, limit_key, delay,
            run_at, result_ttl, meta: the submit options (docs/protocol.md);
                ``None`` leaves the job type's default.
            callback_url: POST the job's end here, signed
                (docs/workflows.md, "Callbacks").
            depends_on: job or batch ids the job waits for (status
                ``deferred`` meanwhile); on_dep_failure: ``"cancel"`` (the
                default), ``"run"`` or ``"hold"``; batch_id: the open batch
                the job joins (see :meth:`batch`).

        Raises:
            JobdError: with ``code == "conflict"`` and ``job_id`` set to the
                existing job when the job id or unique key is taken.
            JobdInDoubt: the submit reached Redis but its outcome is
                unknown; ``job_id`` is the id the job has if it was stored.
            JobdUnavailable: the job was certainly not stored.
        """
        if isinstance(depends_on, (str, bytes)):
            # list("j_1") would be three ids of one letter
            raise TypeError("depends_on must be a list of ids, not a string")
        opts = {k: v for k, v in (
            ("queue", queue), ("timeout", timeout), ("retries", retries),
            ("job_id", job_id), ("unique_key", unique_key),
            ("limit_key", limit_key), ("delay", delay), ("run_at", run_at),
            ("result_ttl", result_ttl),
            ("meta", dict(meta) if meta is not None else None),
            ("callback_url", callback_url),
            ("depends_on", list(depends_on) if depends_on is not None
             else None),
            ("on_dep_failure", on_dep_failure), ("batch_id", batch_id),
        ) if v is not None}
        out = self._run(self._lib.jc_submit, job_type.encode(),
                        _dumps({} if payload is None else payload),
                        _dumps(opts) if opts else None, conflict_id=True)
        assert out is not None
        return out

    def submit_many(self, jobs: Iterable[Mapping[str, Any]]) -> List[str]:
        """Submit several jobs at once, all or nothing.

        Each job is a dict like ``{"type": ..., "payload": ..., "queue":
        ...}`` with the same options as :meth:`submit`.  Returns the new ids
        in order.  :class:`JobdInDoubt` carries them in ``job_ids``.
        """
        text = self._run(self._lib.jc_submit_many,
                         _dumps([dict(j) for j in jobs]), doubt_ids=True)
        return json.loads(text) if text else None

    def batch(self, description: str = "",
              callback: Optional[Mapping[str, Any]] = None) -> "Batch":
        """Open a batch (docs/protocol.md, "Batches") and return it.

        *callback* is a submit object (``{"type": ..., "payload": ...}``)
        run once when the batch ends.  Use it as a context manager: the
        batch is sealed when the ``with`` block exits (also on an
        exception: the jobs submitted so far make the batch).
        """
        cb = _dumps(dict(callback)) if callback is not None else None
        bid = self._run(self._lib.jc_batch_open, _enc(description), cb)
        assert bid is not None
        return Batch(self, bid)

    def batch_seal(self, batch_id: str) -> str:
        """Seal a batch: no more jobs join.  Returns its status after."""
        return self._run(self._lib.jc_batch_seal, batch_id.encode()) or ""

    def batch_get(self, batch_id: str) -> Dict[str, Any]:
        """The batch: status, total, counts per job status, ..."""
        return self._json(self._lib.jc_batch_get, batch_id.encode(),
                          idempotent=True)

    def get(self, job_id: str) -> JobRecord:
        """The job record (docs/protocol.md); ``not_found`` if none."""
        return self._json(self._lib.jc_get, job_id.encode(), idempotent=True)

    def result(self, job_id: str) -> Dict[str, Any]:
        """``{"status": ..., "result": ...}`` or ``{"status", "error"}``."""
        return self._json(self._lib.jc_result, job_id.encode(),
                          idempotent=True)

    def wait(self, job_id: str, timeout: float = 30.0) -> JobRecord:
        """Wait up to *timeout* seconds for a job to end; return its record.

        The daemon pushes the end of the job (no polling).  When the job is
        still running at the deadline the record is returned anyway: check
        ``record["status"] in TERMINAL_STATUSES``.
        """
        resp = self._json(self._lib.jc_wait, job_id.encode(), float(timeout),
                          idempotent=True)
        return resp["job"]

    def cancel(self, job_id: str) -> str:
        """Cancel a queued, scheduled or running job; returns its status."""
        return self._run(self._lib.jc_cancel, job_id.encode()) or ""

    def requeue(self, job_id: Optional[str] = None, *,
                queue: Optional[str] = None,
                all_failed: bool = False) -> List[str]:
        """Requeue a failed/canceled job, or every failed job.

        ``requeue(job_id)`` requeues one job; ``requeue(all_failed=True,
        queue=Q)`` every failed job of queue Q (all queues when Q is None).
        Returns the ids requeued.
        """
        if all_failed:
            if job_id is not None:
                raise ValueError("give either job_id or all_failed, not both")
            text = self._run(self._lib.jc_requeue_failed, _enc(queue))
        else:
            if job_id is None:
                raise ValueError("requeue needs a job_id or all_failed=True")
            text = self._run(self._lib.jc_requeue, job_id.encode())
        return json.loads(text) if text else []

    def list(self, *, status: Optional[str] = None,
             queue: Optional[str] = None, type: Optional[str] = None,
             offset: Optional[int] = None,
             limit: Optional[int] = None) -> Dict[str, Any]:
        """List jobs: ``{"jobs": [records without payload/result], "total"}``.
        """
        flt = {k: v for k, v in (
            ("status", status), ("queue", queue), ("type", type),
            ("offset", offset), ("limit", limit)) if v is not None}
        return self._json(self._lib.jc_list, _dumps(flt) if flt else None,
                          idempotent=True)

    def stats(self) -> Dict[str, Any]:
        """``{"queues": ..., "workers": [...], "totals": ...}``."""
        return self._json(self._lib.jc_stats, idempotent=True)

    def cron_list(self) -> List[Dict[str, Any]]:
        """The daemon's periodic jobs (``[cron:NAME]``, op ``cron_list``):
        one dict each, with ``name``, ``schedule``, ``timezone``,
        ``next`` and, from Redis, ``last``, ``last_job`` and
        ``last_status`` (None for a schedule that never ran)."""
        return list(self.call({"op": "cron_list"})["schedules"])
    def limits(self) -> Dict[str, Any]:
        """``{name: {"concurrency", "rate", "burst", "running", "parked",
        "keys", "next_at", "configured"}}``: the ``limits`` op
        (docs/protocol.md)."""
        return self.call({"op": "limits"})["limits"]

    def pause(self, queue: str) -> None:
        """Stop dispatching jobs from *queue* (submits still queue)."""
        self._run(self._lib.jc_pause, queue.encode(), out=False,
                  idempotent=True)

    def resume(self, queue: str) -> None:
        """Dispatch from *queue* again."""
        self._run(self._lib.jc_resume, queue.encode(), out=False,
                  idempotent=True)

    def progress(self, job_id: str, percent: float,
                 message: Optional[str] = None) -> None:
        """Report a running job's progress (for handlers)."""
        self._run(self._lib.jc_progress, job_id.encode(), float(percent),
                  _enc(message), out=False, idempotent=True)

    def __repr__(self) -> str:
        return f"Client(socket_path={self.socket_path!r})"


class Batch:
    """An open batch of jobs (:meth:`Client.batch`).

    ``with client.batch("export", callback={...}) as b: b.submit(...)``
    adds jobs and seals the batch on exit; ``b.wait()`` returns when every
    job has ended, ``b.get()`` shows progress.
    """

    def __init__(self, client: Client, batch_id: str) -> None:
        self.client = client
        self.id = batch_id
        self.sealed = False

    @property
    def callback_job_id(self) -> Optional[str]:
        """The id of the callback job, or None."""
        return self.get().get("callback_job_id")

    def submit(self, job_type: str, payload: Any = None, **kw: Any) -> str:
        """:meth:`Client.submit` of a job of this batch."""
        return self.client.submit(job_type, payload, batch_id=self.id, **kw)

    def submit_many(self, jobs: Iterable[Mapping[str, Any]]) -> List[str]:
        """:meth:`Client.submit_many` of jobs of this batch."""
        return self.client.submit_many(
            [dict(j, batch_id=self.id) for j in jobs])

    def seal(self) -> str:
        """No more jobs join; returns the batch's status after."""
        st = self.client.batch_seal(self.id)
        self.sealed = True
        return st

    def get(self) -> Dict[str, Any]:
        """The batch (docs/protocol.md, batch_get)."""
        return self.client.batch_get(self.id)

    def wait(self, timeout: float = 30.0) -> Dict[str, Any]:
        """Wait up to *timeout* seconds for the batch to end; returns
        :meth:`get` (check ``["status"]``)."""
        self.client.wait(self.id, timeout)
        return self.get()

    def __enter__(self) -> "Batch":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.sealed:
            self.seal()

    def __repr__(self) -> str:
        return "Batch(%r)" % self.id
