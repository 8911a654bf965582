"""The web process's side of background jobs: submit to jobd, or decline.

:meth:`JobQueue.submit` returns a job id, or ``None`` when the work must be
done synchronously: background jobs are disabled, libjobclient is not
installed, or jobd cannot be reached.  The first time jobd is found
unreachable a warning is logged; while it stays down, nothing more is
logged above DEBUG; when it comes back an INFO line says so.

A submit whose outcome jobd does not know (``JobdInDoubt``: Redis stopped
answering after it got the job) is never simply done again synchronously:
the job is looked up by its id until jobd answers.  Found, it runs in the
background as if the submit had succeeded; not found, it was not stored and
never will be, so the work is done synchronously; still unknown after
``JOBD_TIMEOUT``, :class:`JobInDoubt` is raised (the web layer answers 503
with the job id).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from .config import Settings

log = logging.getLogger(__name__)


def _import_binding() -> None:
    """Make the binding importable when the app runs from a jobd source
    checkout (examples/storyapp) and the package is not installed."""
    import importlib.util
    if importlib.util.find_spec("jobclient") is None:
        here = Path(__file__).resolve().parent.parent.parent.parent
        candidate = here / "bindings" / "python"
        if (candidate / "jobclient" / "__init__.py").exists():
            sys.path.append(str(candidate))


_import_binding()
try:  # the binding is optional: without it the app runs synchronously
    import jobclient
    from jobclient import (JobdError, JobdInDoubt, JobdUnavailable,
                           LibraryNotFoundError)
except ImportError:  # pragma: no cover - exercised when not installed
    jobclient = None  # type: ignore[assignment]

    class JobdError(Exception):  # type: ignore[no-redef]
        code = "internal"

    class JobdUnavailable(JobdError):  # type: ignore[no-redef]
        pass

    class JobdInDoubt(JobdError):  # type: ignore[no-redef]
        job_id = None

    class LibraryNotFoundError(ImportError):  # type: ignore[no-redef]
        pass

__all__ = ["JobQueue", "JobInDoubt", "JobdError", "JobdUnavailable"]

#: Seconds between two look-ups of a job whose submit is in doubt.
LOOKUP_INTERVAL = 0.2


class JobInDoubt(Exception):
    """A submit's outcome is still unknown after looking the job up for
    ``JOBD_TIMEOUT`` seconds: the job may or may not exist.  Neither
    queued nor done; the caller can check ``job_id`` later."""

    def __init__(self, job_type: str, job_id: str, reason: str) -> None:
        self.job_type = job_type
        self.job_id = job_id
        super().__init__(f"{job_type} job {job_id}: outcome unknown "
                         f"({reason})")


class JobQueue:
    """Submits the app's jobs to jobd and reads them back."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Optional["jobclient.Client"] = None
        self._lock = threading.Lock()
        self._down = False           # jobd was unreachable last time
        self._no_library = False     # libjobclient cannot be loaded

    @property
    def enabled(self) -> bool:
        """Background jobs are configured on (whether or not jobd is up)."""
        return self.settings.use_background_jobs

    def client(self) -> "jobclient.Client":
        """The shared client (one connection per thread inside)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    if jobclient is None:
                        raise LibraryNotFoundError(
                            "the jobclient package is not installed")
                    self._client = jobclient.Client(
                        self.settings.jobd_socket,
                        timeout=self.settings.jobd_timeout)
        return self._client

    def _mark_down(self, reason: str) -> None:
        if not self._down:
            self._down = True
            log.warning("jobd unavailable (%s): running jobs synchronously "
                        "until it is back", reason)
        else:
            log.debug("jobd still unavailable: %s", reason)

    def _mark_up(self) -> None:
        if self._down:
            self._down = False
            log.info("jobd reachable again: background jobs resumed")

    def submit(self, job_type: str, payload: Dict[str, Any]) -> Optional[str]:
        """Submit a job; None means "do it synchronously".

        Queue, timeout and retries come from the job type's configuration
        in jobd, never from the request.  Errors other than unavailability
        (e.g. ``unknown_type``: jobd not configured for the app) propagate.
        """
        if not self.enabled or self._no_library:
            return None
        try:
            job_id = self.client().submit(job_type, payload)
        except LibraryNotFoundError as exc:
            self._no_library = True
            log.warning("background jobs disabled: %s", exc)
            return None
        except JobdUnavailable as exc:
            self._mark_down(str(exc))
            return None
        except JobdInDoubt as exc:
            return self._settle(job_type, exc)
        self._mark_up()
        log.info("submitted %s job %s", job_type, job_id)
        return job_id

    def submit_chain(self, jobs: List[Dict[str, Any]]) -> Optional[List[str]]:
        """Submit a chain (:func:`storyapp.workflows.chain_jobs`: ids
        chosen, each job ``depends_on`` the one before) in one
        ``submit_many``: all its jobs are stored or none.  The ids, or
        None for "do it synchronously"."""
        if not self.enabled or self._no_library:
            return None
        first = str(jobs[0]["type"])
        try:
            ids = self.client().submit_many(jobs)
        except LibraryNotFoundError as exc:
            self._no_library = True
            log.warning("background jobs disabled: %s", exc)
            return None
        except JobdUnavailable as exc:
            self._mark_down(str(exc))
            return None
        except JobdInDoubt as exc:
            # whole or nothing: the first job tells for all of them
            if self._settle(first, exc, str(jobs[0]["job_id"])) is None:
                return None
            ids = [str(j["job_id"]) for j in jobs]
        self._mark_up()
        log.info("submitted a chain of %d jobs: %s", len(ids),
                 " -> ".join(ids))
        return [str(i) for i in ids]

    def submit_batch(self, description: str, callback: Dict[str, Any],
                     jobs: List[Dict[str, Any]]) -> Optional[str]:
        """Open a jobd batch with *callback* (run once when it ends), add
        *jobs* to it in one ``submit_many`` and seal it.  The batch id, or
        None for "do it synchronously".

        Three calls, so not all or nothing.  Whatever becomes of the jobs,
        the batch is sealed: with its jobs it runs as it should; without
        them it ends at once and its callback runs (and fails naming the
        missing exports) -- never a callback waiting forever on a batch
        that cannot end.  Jobs known not stored: the request is served
        synchronously; unknown: JobInDoubt naming the batch.
        """
        if not self.enabled or self._no_library:
            return None
        try:
            batch = self.client().batch(description, callback=callback)
        except LibraryNotFoundError as exc:
            self._no_library = True
            log.warning("background jobs disabled: %s", exc)
            return None
        except JobdUnavailable as exc:
            self._mark_down(str(exc))
            return None
        except JobdInDoubt as exc:
            # the batch may exist, but its id is not known here
            raise JobInDoubt("batch_open", "?", str(exc)) from exc
        batch_id = batch.id
        stored = True
        try:
            batch.submit_many(jobs)
        except JobdInDoubt as exc:
            try:
                stored = bool(exc.job_ids) and self._settle(
                    str(jobs[0]["type"]), exc, exc.job_ids[0]) is not None
            except JobInDoubt as doubt:
                self._abandon(batch_id, str(exc))
                raise JobInDoubt("export batch", batch_id,
                                 str(doubt)) from exc
        except JobdUnavailable as exc:
            self._mark_down(str(exc))
            stored = False
        except JobdError as exc:
            self._abandon(batch_id, str(exc))
            raise
        if not stored:
            self._abandon(batch_id, "jobd did not store them")
            return None
        self._seal(batch_id)
        self._mark_up()
        log.info("submitted batch %s: %d jobs, callback %s", batch_id,
                 len(jobs), callback.get("type"))
        return batch_id

    def _seal(self, batch_id: str) -> None:
        """Seal the batch, asking again while jobd cannot tell (a seal
        is idempotent: "already sealed" is success).  Unsealed, a batch
        would never end and its callback never run: after JOBD_TIMEOUT
        the caller gets JobInDoubt naming the batch."""
        deadline = time.monotonic() + max(self.settings.jobd_timeout, 1.0)
        while True:
            try:
                self.client().batch_seal(batch_id)
                return
            except JobdError as exc:
                if exc.code == "conflict":
                    return
                if not isinstance(exc, (JobdUnavailable, JobdInDoubt)):
                    raise
                last = str(exc)
            if time.monotonic() >= deadline:
                raise JobInDoubt("batch_seal", batch_id, last)
            time.sleep(LOOKUP_INTERVAL)

    def _abandon(self, batch_id: str, reason: str) -> None:
        """Seal a batch whose jobs were not added (best effort)."""
        log.warning("batch %s: its jobs were not added (%s): sealing it",
                    batch_id, reason)
        try:
            self._seal(batch_id)
        except (JobdError, JobInDoubt) as exc:
            log.warning("batch %s left open: %s", batch_id, exc)

    def get_batch(self, batch_id: str) -> Dict[str, Any]:
        """``batch_get``'s answer; raises JobdError (``not_found``...)."""
        batch = self.client().batch_get(batch_id)
        self._mark_up()
        return batch

    def _settle(self, job_type: str, exc: "JobdInDoubt",
                job_id: Optional[str] = None) -> Optional[str]:
        """A submit in doubt: look its job up until jobd knows.  The id
        if it was stored, None if it certainly was not (do it now)."""
        job_id = job_id or exc.job_id
        if not job_id:
            raise JobInDoubt(job_type, "?", str(exc))
        log.warning("submit of %s job %s in doubt (%s): looking it up",
                    job_type, job_id, exc)
        deadline = time.monotonic() + max(self.settings.jobd_timeout, 1.0)
        last = str(exc)
        while True:
            try:
                self.client().get(job_id)
            except JobdError as err:
                if err.code == "not_found":
                    # jobd answered after the stall: the job was not stored
                    # and never will be (docs/protocol.md, in_doubt).
                    self._mark_up()
                    log.warning("%s job %s was not stored: running it "
                                "synchronously", job_type, job_id)
                    return None
                last = str(err)
            else:
                self._mark_up()
                log.warning("%s job %s was stored after all: it runs in "
                            "the background", job_type, job_id)
                return job_id
            if time.monotonic() >= deadline:
                raise JobInDoubt(job_type, job_id, last)
            time.sleep(LOOKUP_INTERVAL)

    def get(self, job_id: str) -> Dict[str, Any]:
        """The job record; raises JobdError (``not_found``,
        JobdUnavailable, ...) or LibraryNotFoundError."""
        record = self.client().get(job_id)
        self._mark_up()
        return record

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
