"""The story app's job handlers, run by jobd's workers (exec handlers).

Two modes:

* one-shot -- ``python3 -m storyapp.jobs generate_story`` (or
  ``generate``, ``revise``, ``export``, ``export_batch``, ``export_zip``,
  ``clean_exports``; with no argument
  the record's ``type`` decides): the job record arrives as JSON on stdin,
  the result is printed as JSON on stdout, exit status 0.  An exception
  exits 1 with its traceback on stderr (jobd keeps the tail as the job's
  error).  Progress lines go to the descriptor ``$JOBD_PROGRESS_FD``.

* persistent -- ``python3 -m storyapp.jobs --persistent``: one process
  serves every type; each job record is one JSON line on stdin and each
  answer one JSON line on stdout: ``{"progress": {...}}`` lines, then
  ``{"result": ...}`` or ``{"error": "..."}``.  The interpreter and the app
  are loaded once, which saves the start-up on every job.

In both modes anything the code prints goes to stderr, so stdout carries
nothing but the protocol.  The handlers call the same
:class:`~storyapp.services.StoryService` methods as the synchronous web
path.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import traceback
from typing import IO, Any, Callable, Dict, Mapping, Optional

from .cleanup import DEFAULT_MAX_AGE, clean_exports, parse_age
from .config import Settings, parse_bool
from .generator import StoryRequest
from .services import Progress, StoryService, story_id_for_job

log = logging.getLogger("storyapp.jobs")

Handler = Callable[[StoryService, Mapping[str, Any], Dict[str, Any],
                    Progress], Dict[str, Any]]


def _payload(record: Mapping[str, Any]) -> Dict[str, Any]:
    payload = record.get("payload") or {}
    if not isinstance(payload, dict):
        raise ValueError("the job payload must be a JSON object")
    return payload


def handle_generate(svc: StoryService, record: Mapping[str, Any],
                    payload: Dict[str, Any], progress: Progress
                    ) -> Dict[str, Any]:
    req = StoryRequest.from_payload(payload, svc.settings.default_words)
    job_id = str(record.get("job_id") or os.environ.get("JOBD_JOB_ID") or "")
    return svc.generate(req, progress,
                        story_id=story_id_for_job(job_id) if job_id else None)


def handle_revise(svc: StoryService, record: Mapping[str, Any],
                  payload: Dict[str, Any], progress: Progress
                  ) -> Dict[str, Any]:
    return svc.revise(str(payload["story_id"]),
                      use_llm=parse_bool(payload.get("use_llm")),
                      progress=progress)


def handle_export(svc: StoryService, record: Mapping[str, Any],
                  payload: Dict[str, Any], progress: Progress
                  ) -> Dict[str, Any]:
    result, _ = svc.export(str(payload["story_id"]),
                           str(payload.get("format", "txt")), progress)
    return result


def handle_export_batch(svc: StoryService, record: Mapping[str, Any],
                        payload: Dict[str, Any], progress: Progress
                        ) -> Dict[str, Any]:
    result, _ = svc.export_batch(payload.get("story_ids") or [],
                                 str(payload.get("format", "txt")), progress)
    return result


def handle_export_zip(svc: StoryService, record: Mapping[str, Any],
                      payload: Dict[str, Any], progress: Progress
                      ) -> Dict[str, Any]:
    """A batch export's callback: zip what its export_story jobs saved."""
    result, _ = svc.export_zip(payload.get("story_ids") or [],
                               str(payload.get("format", "txt")), progress)
    return result


def handle_clean_exports(svc: StoryService, record: Mapping[str, Any],
                         payload: Dict[str, Any], progress: Progress
                         ) -> Dict[str, Any]:
    """[cron:clean_exports]: remove exports older than payload's max_age
    (seconds or N[smhd]; default 7 days)."""
    max_age = parse_age(payload.get("max_age", DEFAULT_MAX_AGE))
    return clean_exports(svc.settings.export_dir, max_age)


#: job type -> handler; the short names are accepted on the command line.
HANDLERS: Dict[str, Handler] = {
    "generate_story": handle_generate,
    "revise_story": handle_revise,
    "revise_story_llm": handle_revise,
    "export_story": handle_export,
    "export_batch": handle_export_batch,
    "export_zip": handle_export_zip,
    "clean_exports": handle_clean_exports,
}
ALIASES = {"generate": "generate_story", "revise": "revise_story",
           "export": "export_story"}


def run_job(svc: StoryService, record: Mapping[str, Any], progress: Progress,
            job_type: Optional[str] = None) -> Dict[str, Any]:
    """Dispatch one job record to its handler and return the result."""
    jtype = ALIASES.get(job_type or "", job_type) or str(record.get("type"))
    handler = HANDLERS.get(jtype)
    if handler is None:
        raise ValueError(f"no handler for job type {jtype!r}")
    started = time.monotonic()
    log.info("job %s (%s) attempt %s started", record.get("job_id"), jtype,
             record.get("attempts"))
    result = handler(svc, record, _payload(record), progress)
    log.info("job %s finished in %.2fs", record.get("job_id"),
             time.monotonic() - started)
    return result


class _ThrottledProgress:
    """Forwards progress, dropping updates closer than 0.2 s apart (the
    final 100% always goes through)."""

    def __init__(self, emit: Callable[[Dict[str, Any]], None]) -> None:
        self.emit = emit
        self.last = 0.0

    def __call__(self, percent: float, message: str) -> None:
        now = time.monotonic()
        if percent < 100 and now - self.last < 0.2 and self.last:
            return
        self.last = now
        try:
            self.emit({"percent": round(max(0.0, min(100.0, percent)), 1),
                       "message": message})
        except OSError as exc:  # progress is best effort
            log.debug("progress not delivered: %s", exc)


def _fd_progress() -> Progress:
    fd = os.environ.get("JOBD_PROGRESS_FD")
    if not fd or not fd.isdigit():
        return lambda percent, message: None
    try:
        stream = os.fdopen(int(fd), "w", buffering=1, encoding="utf-8")
    except OSError as exc:
        log.warning("JOBD_PROGRESS_FD=%s unusable (%s): no progress", fd, exc)
        return lambda percent, message: None

    def emit(update: Dict[str, Any]) -> None:
        stream.write(json.dumps(update) + "\n")
        stream.flush()
    return _ThrottledProgress(emit)


def _protocol_stdout() -> IO[str]:
    """Keep the real stdout for the protocol; send stray prints to stderr.
    """
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8",
                    buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return out


def main_oneshot(job_type: Optional[str], svc: StoryService) -> int:
    out = _protocol_stdout()
    record = json.loads(sys.stdin.read())
    result = run_job(svc, record, _fd_progress(), job_type)
    out.write(json.dumps(result) + "\n")
    out.flush()
    return 0


def main_persistent(svc: StoryService) -> int:
    out = _protocol_stdout()

    def send(obj: Dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    progress = _ThrottledProgress(lambda upd: send({"progress": upd}))
    log.info("persistent handler ready (pid %d)", os.getpid())
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            progress.last = 0.0
            result = run_job(svc, record, progress)
        except Exception as exc:  # one failed job must not end the process
            log.error("job failed: %s", traceback.format_exc())
            send({"error": f"{type(exc).__name__}: {exc}"})
        else:
            send({"result": result})
    return 0


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m storyapp.jobs",
        description="Run story app jobs for jobd (exec handler).")
    parser.add_argument("type", nargs="?",
                        help="job type for one-shot mode (default: the "
                        "record's type): " + ", ".join(
                            list(HANDLERS) + list(ALIASES)))
    parser.add_argument("--persistent", action="store_true",
                        help="serve one JSON line per job on stdin")
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s storyapp.jobs[%(process)d] %(levelname)s "
               "%(message)s")
    svc = StoryService(Settings.from_env())
    if args.persistent:
        return main_persistent(svc)
    return main_oneshot(args.type, svc)


if __name__ == "__main__":
    sys.exit(main())
