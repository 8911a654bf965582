"""The story app's HTTP API (Flask).

Endpoints (docs/storyapp.md, "HTTP API"):

- ``POST /api/generate`` -- ``{"idea", "character", "theme", "genre",
  "length", "background", "then"}`` (``then``: a chain of steps,
  :mod:`storyapp.workflows`)
- ``POST /api/story/<story_id>/revise`` -- ``{"background", "use_llm"}``
- ``GET /api/story/<story_id>/export/<format>?background=true``
- ``POST /api/export/batch`` -- ``{"story_ids", "format", "background"}``
- ``GET /api/job/<job_id>`` and ``GET /api/job/<job_id>/result``
- ``GET /api/stories``, ``GET|DELETE /api/story/<story_id>``,
  ``GET /api/exports/<filename>``, ``GET /api/health``

A request with ``background`` true is submitted to jobd and answered with
202 ``{"status": "queued", "job_id", "message"}``.  Without it -- or when
USE_BACKGROUND_JOBS=false, or jobd cannot be reached -- the work runs in
the request through the same :class:`StoryService` method the job handler
calls, and the answer is the synchronous one.
"""

from __future__ import annotations

import io
import logging
import re
from datetime import datetime, timezone
from typing import Any, Dict, Mapping, Optional, Tuple

from flask import Flask, Response, jsonify, request, send_file
from werkzeug.exceptions import HTTPException

from .background import JobdError, JobdUnavailable, JobInDoubt, JobQueue
from .background import LibraryNotFoundError
from .config import Settings, parse_bool
from .export import ExportFile
from .generator import StoryRequest, ValidationError
from .llm import LLMError
from .services import (StoryService, check_format, check_story_ids,
                       story_id_for_job)
from .store import StoryNotFound
from .workflows import Step, chain_jobs, parse_then, revise_type

log = logging.getLogger(__name__)

#: The 202 messages; the generation one is the RQ-era text, word for word.
MESSAGES = {
    "generate_story": "Story generation started in background. "
                      "Use /api/job/<job_id> to check status.",
    "revise_story": "Story revision started in background. "
                    "Use /api/job/<job_id> to check status.",
    "export_story": "Story export started in background. "
                    "Use /api/job/<job_id> to check status.",
    "export_batch": "Batch export started in background. "
                    "Use /api/job/<job_id> to check status.",
    "chain": "Story generation and its steps started in background. "
             "Use /api/job/<job_id> for each job of the chain.",
}

#: Fields of a job record that GET /api/job/<id> shows.
JOB_FIELDS = ("job_id", "type", "queue", "status", "created_at",
              "enqueued_at", "started_at", "ended_at", "progress", "attempts",
              "timeout", "result", "error")

JsonResponse = Tuple[Response, int]


def _error(http_status: int, message: str, **extra: Any) -> JsonResponse:
    body: Dict[str, Any] = {"error": message}
    body.update(extra)
    return jsonify(body), http_status


def _queued(job_type: str, job_id: str) -> JsonResponse:
    return jsonify({"status": "queued", "job_id": job_id,
                    "message": MESSAGES[job_type]}), 202


def _body() -> Dict[str, Any]:
    data = request.get_json(silent=True)
    if data is None:
        if request.data.strip():
            raise ValidationError("the request body is not valid JSON")
        return {}
    if not isinstance(data, dict):
        raise ValidationError("the request body must be a JSON object")
    return data


_INT_ARG = re.compile(r"[+-]?[0-9]{1,18}")
_BOOL_ARGS = {"1": True, "true": True, "yes": True, "on": True,
              "0": False, "false": False, "no": False, "off": False}


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    """Query parameter *name* as an integer clamped to [lo, hi]; a value
    that is not an integer is the client's error (400), not ours (500)."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _INT_ARG.fullmatch(raw.strip()):
        raise ValidationError(
            f"query parameter {name!r} must be an integer, got {raw[:40]!r}")
    return max(lo, min(hi, int(raw)))


def _bool_arg(name: str) -> bool:
    """Query parameter *name* as a boolean (true/false, 1/0, yes/no,
    on/off); anything else is a 400 rather than a silent false."""
    raw = request.args.get(name)
    if raw is None:
        return False
    value = _BOOL_ARGS.get(raw.strip().lower())
    if value is None:
        raise ValidationError(
            f"query parameter {name!r} must be true or false, "
            f"got {raw[:40]!r}")
    return value


def _send(f: ExportFile) -> Response:
    return send_file(io.BytesIO(f.data), mimetype=f.mimetype,
                     as_attachment=True, download_name=f.filename,
                     max_age=0)


def job_view(record: Mapping[str, Any]) -> Dict[str, Any]:
    """The public view of a job record (a batch's is already one)."""
    view = {k: record.get(k) for k in JOB_FIELDS}
    view["job_id"] = record.get("job_id")
    # a chain's step, a batch's job
    for extra in ("depends_on", "waiting_for", "batch_id"):
        if record.get(extra) is not None:
            view[extra] = record[extra]
    return view


def _iso_ms(ms: Any) -> Optional[str]:
    """A batch's time as the job records show theirs (jobd gives it so;
    Unix ms are converted, 0 or none is null)."""
    if isinstance(ms, str):
        return ms or None
    if not isinstance(ms, (int, float)) or isinstance(ms, bool) or ms <= 0:
        return None
    t = datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ms) % 1000:03d}Z"


def batch_view(batch: Mapping[str, Any],
               zip_job: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """A background batch export as GET /api/job/<batch_id> shows it: the
    fields of a job, so that a client polling for ``finished`` and reading
    ``result`` works as with the single export_batch job it replaces.

    ``status`` is ``queued`` until an export started, then ``started``
    until the zip job (the batch's callback) ends, then the zip job's
    status; ``result``/``error`` are the zip job's.  ``batch`` is
    batch_get's answer (status, total, counts).
    """
    counts = batch.get("counts") or {}
    total = int(batch.get("total") or 0)
    ended = sum(int(counts.get(s) or 0)
                for s in ("finished", "failed", "canceled"))
    zip_status = (zip_job or {}).get("status")
    if zip_status in ("finished", "failed", "canceled"):
        status = zip_status
    elif not batch.get("callback_job_id") and \
            batch.get("status") in ("finished", "failed"):
        status = str(batch["status"])   # a batch without a callback
    elif ended or int(counts.get("started") or 0) or zip_status == "started":
        status = "started"
    else:
        status = "queued"
    percent = 90.0 * ended / total if total else 0.0
    message = f"{ended} of {total} stories exported"
    if zip_status == "started":
        message = "zipping the exports"
    if status == "finished":
        percent, message = 100.0, "zip written"
    view = {
        "job_id": batch.get("batch_id"), "type": "batch",
        "queue": (zip_job or {}).get("queue"), "status": status,
        "created_at": _iso_ms(batch.get("created_at")),
        "enqueued_at": _iso_ms(batch.get("sealed_at")),
        "started_at": _iso_ms(batch.get("sealed_at")),
        "ended_at": (zip_job or {}).get("ended_at")
        if zip_status in ("finished", "failed", "canceled") else None,
        "progress": {"percent": round(percent, 1), "message": message},
        "attempts": (zip_job or {}).get("attempts"),
        "timeout": (zip_job or {}).get("timeout"),
        "result": (zip_job or {}).get("result"),
        "error": (zip_job or {}).get("error"),
        "batch": {k: batch.get(k) for k in ("batch_id", "description",
                                            "status", "total", "counts")},
        "zip_job_id": batch.get("callback_job_id"),
    }
    return view


def create_app(settings: Optional[Settings] = None,
               service: Optional[StoryService] = None,
               jobs: Optional[JobQueue] = None) -> Flask:
    """Build the Flask app.  Everything defaults to ``Settings.from_env()``.
    """
    settings = settings or Settings.from_env()
    service = service or StoryService(settings)
    jobs = jobs or JobQueue(settings)

    app = Flask("storyapp")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["storyapp"] = {"settings": settings, "service": service,
                                  "jobs": jobs}

    def background(data: Optional[Mapping[str, Any]] = None) -> bool:
        if data is not None and "background" in data:
            return parse_bool(data.get("background"))
        return _bool_arg("background")

    # -- errors ------------------------------------------------------------

    @app.errorhandler(ValidationError)
    def _bad(exc: ValidationError) -> JsonResponse:
        return _error(400, str(exc))

    @app.errorhandler(StoryNotFound)
    def _missing(exc: StoryNotFound) -> JsonResponse:
        return _error(404, str(exc), story_id=exc.story_id)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> JsonResponse:
        # Flask's own answers (404, 405, 413 ...) as JSON, like ours.
        return _error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(JobInDoubt)
    def _in_doubt(exc: JobInDoubt) -> JsonResponse:
        # Neither queued nor done: doing it now could do it twice.
        return _error(503, f"the job service stopped answering; job "
                      f"{exc.job_id} may have been queued: check "
                      f"/api/job/{exc.job_id} before trying again",
                      job_id=exc.job_id)

    @app.errorhandler(LLMError)
    def _llm(exc: LLMError) -> JsonResponse:
        log.error("LLM failure: %s", exc)
        return _error(502, str(exc))

    # -- generation -----------------------------------------------------------

    @app.post("/api/generate")
    def generate() -> JsonResponse:
        data = _body()
        req = StoryRequest.from_payload(data, settings.default_words)
        steps = parse_then(data)
        if background(data) and steps:
            chain = chain_jobs(req.to_payload(), steps)
            ids = jobs.submit_chain(chain)
            if ids:
                return jsonify({
                    "status": "queued", "job_id": ids[0],
                    "message": MESSAGES["chain"],
                    "chain": ids, "last_job_id": ids[-1],
                    "steps": ["generate"] + [st.name for st in steps],
                    "story_id": story_id_for_job(ids[0])}), 202
        elif background(data):
            job_id = jobs.submit("generate_story", req.to_payload())
            if job_id:
                return _queued("generate_story", job_id)
        result = service.generate(req)
        done = []
        for st in steps:
            done.append({"step": st.name,
                         "result": run_step(st, result["story_id"])})
        story = service.store.get(result["story_id"])
        if steps:
            result = {**result, "word_count": story.word_count,
                      "steps": done}
        return jsonify({**result, "story": story.to_dict()}), 201

    def run_step(st: Step, story_id: str) -> Dict[str, Any]:
        """A chain's step done in the request (the synchronous path)."""
        if st.kind == "revise":
            return service.revise(story_id,
                                  use_llm=bool(st.options.get("use_llm")))
        return service.export(story_id, st.options["format"])[0]

    # -- stories -------------------------------------------------------------

    @app.get("/api/stories")
    def stories() -> JsonResponse:
        limit = _int_arg("limit", 100, 0, 1000)
        offset = _int_arg("offset", 0, 0, 10**9)
        items = [s.to_dict(content=False)
                 for s in service.store.list(limit, offset)]
        return jsonify({"stories": items}), 200

    @app.get("/api/story/<story_id>")
    def story(story_id: str) -> JsonResponse:
        return jsonify(service.store.get(story_id).to_dict()), 200

    @app.delete("/api/story/<story_id>")
    def delete_story(story_id: str) -> JsonResponse:
        service.store.delete(story_id)
        return jsonify({"status": "deleted", "story_id": story_id}), 200

    @app.post("/api/story/<story_id>/revise")
    def revise(story_id: str) -> JsonResponse:
        data = _body()
        use_llm = parse_bool(data.get("use_llm"))
        if not service.store.exists(story_id):
            raise StoryNotFound(story_id)
        if background(data):
            job_id = jobs.submit(revise_type(use_llm),
                                 {"story_id": story_id, "use_llm": use_llm})
            if job_id:
                return _queued("revise_story", job_id)
        result = service.revise(story_id, use_llm=use_llm)
        story = service.store.get(story_id)
        return jsonify({**result, "story": story.to_dict()}), 200

    # -- exports ---------------------------------------------------------------

    @app.get("/api/story/<story_id>/export/<fmt>")
    def export(story_id: str, fmt: str) -> Any:
        check_format(fmt)
        if not service.store.exists(story_id):
            raise StoryNotFound(story_id)
        if background():
            job_id = jobs.submit("export_story", {"story_id": story_id,
                                                  "format": fmt})
            if job_id:
                return _queued("export_story", job_id)
        _, f = service.export(story_id, fmt)
        return _send(f)

    @app.post("/api/export/batch")
    def export_batch() -> Any:
        data = _body()
        fmt = check_format(str(data.get("format", "txt")))
        ids = check_story_ids(data.get("story_ids"))
        missing = [sid for sid in ids if not service.store.exists(sid)]
        if missing:
            return _error(404, "stories not found: " + ", ".join(missing),
                          story_ids=missing)
        if background(data):
            batch_id = jobs.submit_batch(
                f"export of {len(ids)} stories as {fmt}",
                {"type": "export_zip",
                 "payload": {"story_ids": ids, "format": fmt}},
                [{"type": "export_story",
                  "payload": {"story_id": sid, "format": fmt}}
                 for sid in ids])
            if batch_id:
                return _queued("export_batch", batch_id)
        _, f = service.export_batch(ids, fmt)
        return _send(f)

    @app.get("/api/exports/<filename>")
    def download(filename: str) -> Any:
        try:
            path = service.export_path(filename)
        except FileNotFoundError:
            return _error(404, f"no export named {filename}")
        return send_file(path, as_attachment=True, download_name=filename,
                         max_age=0)

    # -- jobs ------------------------------------------------------------------

    def load_job(job_id: str) -> Any:
        try:
            try:
                return jobs.get(job_id)
            except JobdError as exc:
                if exc.code != "not_found":
                    raise
                # not a job: maybe a batch (a background batch export)
                return load_batch(job_id, exc)
        except LibraryNotFoundError:
            return _error(503, "background jobs are not available "
                          "(libjobclient is not installed)")
        except JobdUnavailable as exc:
            return _error(503, f"the job service is unavailable: "
                          f"{exc.message}")
        except JobdError as exc:
            if exc.code == "not_found":
                return _error(404, f"no job {job_id}", job_id=job_id)
            if exc.code == "bad_request":
                return _error(400, exc.message, job_id=job_id)
            raise

    def load_batch(batch_id: str, not_job: Exception) -> Dict[str, Any]:
        try:
            batch = jobs.get_batch(batch_id)
        except JobdError as exc:
            if exc.code in ("not_found", "unknown_op", "bad_request"):
                raise not_job   # neither a job nor a batch: 404
            raise
        callback = None
        cb_id = batch.get("callback_job_id")
        if cb_id:
            try:
                callback = jobs.get(cb_id)
            except JobdError as exc:
                if exc.code != "not_found":
                    raise
        return batch_view(batch, callback)

    @app.get("/api/job/<job_id>")
    def job(job_id: str) -> JsonResponse:
        record = load_job(job_id)
        if isinstance(record, tuple):
            return record
        if record.get("type") == "batch" and "zip_job_id" in record:
            return jsonify(record), 200
        return jsonify(job_view(record)), 200

    @app.get("/api/job/<job_id>/result")
    def job_result(job_id: str) -> JsonResponse:
        record = load_job(job_id)
        if isinstance(record, tuple):
            return record
        status = record.get("status")
        if status == "finished":
            return jsonify({"job_id": job_id, "status": status,
                            "result": record.get("result")}), 200
        if status in ("failed", "canceled"):
            return _error(409, f"job {job_id} is {status}", job_id=job_id,
                          status=status, job_error=record.get("error"))
        return _error(409, f"job {job_id} is not finished yet",
                      job_id=job_id, status=status,
                      progress=record.get("progress"))

    @app.get("/api/health")
    def health() -> JsonResponse:
        jobd = "disabled"
        if jobs.enabled:
            try:
                jobs.client().ping()
                jobd = "ok"
            except (JobdError, LibraryNotFoundError) as exc:
                jobd = f"unavailable: {exc}"
        return jsonify({"status": "ok", "jobd": jobd,
                        "llm": settings.llm_enabled}), 200

    return app
