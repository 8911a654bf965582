"""The work itself: generate, revise and export stories.

These are the only functions that do the work.  The web process calls them
directly when it runs synchronously (USE_BACKGROUND_JOBS=false, or jobd
unreachable); the job handlers (:mod:`storyapp.jobs`) call the very same
methods inside jobd's workers.  The result dicts they return are what a
background job stores as its result and what a synchronous response
carries, so both paths answer alike.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import export as exporter
from .config import Settings
from .generator import (Chapter, StoryRequest, ValidationError,
                        chapter_count, generate_llm, generate_offline, offline_title,
                        render_story)
from .llm import LLMClient
from .revise import revise_llm_chapters, revise_rules
from .store import (Story, StoryNotFound, StoryStore, new_story_id,
                    word_count)

__all__ = ["StoryService", "Progress", "no_progress", "story_id_for_job",
           "EXPORT_FORMATS", "MAX_BATCH", "ExportMissing"]

log = logging.getLogger(__name__)

#: progress(percent 0..100, message)
Progress = Callable[[float, str], None]

EXPORT_FORMATS = tuple(exporter.FORMATS)
MAX_BATCH = 200
#: the largest export file a batch's zip reads back (bytes)
MAX_EXPORT_SIZE = 64 << 20


class ExportMissing(RuntimeError):
    """A batch's zip found no saved export for some of its stories."""

    def __init__(self, story_ids: List[str], fmt: str) -> None:
        self.story_ids = story_ids
        shown = ", ".join(story_ids[:10])
        more = f" and {len(story_ids) - 10} more" if len(story_ids) > 10 \
            else ""
        super().__init__(f"no {fmt} export saved for {shown}{more} "
                         "(its export job failed or was canceled, or the "
                         "story changed since)")


def no_progress(percent: float, message: str) -> None:
    """A progress sink that ignores everything (the synchronous path)."""


def story_id_for_job(job_id: str) -> str:
    """The story id a generation job writes, derived from the job id so
    that a retried job replaces its own story instead of adding another."""
    return "story_" + hashlib.sha256(job_id.encode()).hexdigest()[:12]


def check_format(fmt: str) -> str:
    if fmt not in exporter.FORMATS:
        raise ValidationError(
            f"unknown export format {fmt!r}; use one of "
            + ", ".join(EXPORT_FORMATS))
    return fmt


def check_story_ids(value: Any) -> List[str]:
    if (not isinstance(value, list) or not value
            or not all(isinstance(s, str) and s for s in value)):
        raise ValidationError("'story_ids' must be a non-empty list of ids")
    if len(value) > MAX_BATCH:
        raise ValidationError(f"at most {MAX_BATCH} stories per batch")
    return list(dict.fromkeys(value))  # de-duplicated, order kept


class StoryService:
    """Generation, revision and export over one story store."""

    def __init__(self, settings: Settings,
                 store: Optional[StoryStore] = None) -> None:
        self.settings = settings
        self.store = store or StoryStore(settings.story_db)

    def _llm(self) -> Optional[LLMClient]:
        s = self.settings
        if not s.llm_enabled:
            return None
        assert s.llm_api_url and s.llm_api_key
        return LLMClient(s.llm_api_url, s.llm_api_key, s.llm_model,
                         timeout=s.llm_timeout)

    # -- generation ---------------------------------------------------------

    def generate(self, req: StoryRequest, progress: Progress = no_progress,
                 story_id: Optional[str] = None) -> Dict[str, Any]:
        """Write a story and store it.

        Returns ``{"status": "completed", "story_id", "word_count"}``.
        """
        llm = self._llm()
        source = "llm" if llm else "offline"
        progress(1, f"writing a {req.words}-word {req.genre} story ({source})")
        chapters: List[Chapter] = []
        total = chapter_count(req.words)
        title = offline_title(req)
        if llm is not None:
            stream = generate_llm(req, llm)
        else:
            stream = ((title, ch) for ch in generate_offline(req))
        for title, ch in stream:
            if llm is None and self.settings.offline_delay > 0:
                time.sleep(self.settings.offline_delay)
            chapters.append(ch)
            progress(5 + 90 * len(chapters) / total,
                     f"chapter {len(chapters)} of {total}: {ch.title}")
        content = render_story(chapters)
        story = Story(id=story_id or new_story_id(), title=title,
                      idea=req.idea, character=req.character,
                      theme=req.theme, genre=req.genre, content=content,
                      word_count=word_count(content), source=source)
        self.store.add(story, replace=story_id is not None)
        progress(100, f"saved {story.id} ({story.word_count} words)")
        log.info("generated %s: %d words in %d chapters (%s)", story.id,
                 story.word_count, len(chapters), source)
        return {"status": "completed", "story_id": story.id,
                "word_count": story.word_count}

    # -- revision -----------------------------------------------------------

    def revise(self, story_id: str, use_llm: bool = False,
               progress: Progress = no_progress) -> Dict[str, Any]:
        """Revise a stored story in place (its revision number goes up).

        With ``use_llm`` and an LLM configured, each chapter is rewritten by
        the LLM; otherwise the rule-based editor runs.
        """
        story = self.store.get(story_id)
        llm = self._llm() if use_llm else None
        progress(1, f"revising {story_id}")
        if llm is not None:
            revised: List[Chapter] = []
            for i, total, ch in revise_llm_chapters(story.content, llm):
                revised.append(ch)
                progress(5 + 90 * (i + 1) / total,
                         f"revised chapter {i + 1} of {total}")
            content = render_story(revised)
            changes = sum(1 for a, b in zip(story.content.split(),
                                            content.split()) if a != b)
            method = "llm"
        else:
            content, changes = revise_rules(story.content)
            method = "rules"
        updated = self.store.update_content(story_id, content)
        progress(100, f"revision {updated.revision} saved")
        log.info("revised %s (%s): %d changes, %d -> %d words", story_id,
                 method, changes, story.word_count, updated.word_count)
        return {"status": "completed", "story_id": story_id,
                "word_count": updated.word_count,
                "revision": updated.revision, "changes": changes,
                "method": method}

    # -- export ---------------------------------------------------------------

    def _save(self, f: exporter.ExportFile) -> Path:
        """Write an export atomically into the export directory."""
        d = self.settings.export_dir
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(f.data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, d / f.filename)
        except BaseException:
            os.unlink(tmp)
            raise
        return d / f.filename

    def _export_result(self, f: exporter.ExportFile) -> Dict[str, Any]:
        return {"status": "completed", "filename": f.filename,
                "mimetype": f.mimetype, "size": len(f.data),
                "sha256": f.sha256,
                "download_url": f"/api/exports/{f.filename}"}

    def export(self, story_id: str, fmt: str,
               progress: Progress = no_progress
               ) -> Tuple[Dict[str, Any], exporter.ExportFile]:
        """Export one story; the file is also saved in EXPORT_DIR."""
        check_format(fmt)
        story = self.store.get(story_id)
        progress(10, f"rendering {story_id} as {fmt}")
        f = exporter.export(story, fmt)
        self._save(f)
        progress(100, f"wrote {f.filename}")
        result = self._export_result(f)
        result.update(story_id=story_id, format=fmt)
        return result, f

    def export_batch(self, story_ids: Sequence[str], fmt: str,
                     progress: Progress = no_progress
                     ) -> Tuple[Dict[str, Any], exporter.ExportFile]:
        """Export many stories into one zip, saved in EXPORT_DIR."""
        check_format(fmt)
        ids = check_story_ids(list(story_ids))
        stories = []
        for i, sid in enumerate(ids):
            stories.append(self.store.get(sid))
            progress(80 * (i + 1) / len(ids),
                     f"loaded {i + 1} of {len(ids)} stories")
        f = exporter.export_batch(stories, fmt)
        self._save(f)
        progress(100, f"wrote {f.filename}")
        result = self._export_result(f)
        result.update(story_ids=ids, format=fmt, count=len(ids))
        return result, f

    def _read_export(self, filename: str) -> Optional[bytes]:
        """The saved export *filename*, or None: only a regular file in
        EXPORT_DIR itself (a symlink there is not followed)."""
        try:
            fd = os.open(self.settings.export_dir / filename,
                         os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_EXPORT_SIZE:
                return None
            return f.read(MAX_EXPORT_SIZE + 1)[:MAX_EXPORT_SIZE]

    def export_zip(self, story_ids: Sequence[str], fmt: str,
                   progress: Progress = no_progress
                   ) -> Tuple[Dict[str, Any], exporter.ExportFile]:
        """Zip the exports that a batch's ``export_story`` jobs saved in
        EXPORT_DIR (the batch's callback job).  The zip is the one
        :meth:`export_batch` makes.  A story whose file is missing (its
        job failed, or the story was revised since) fails the whole zip,
        naming the stories: a partial zip would pass for a whole one.
        """
        check_format(fmt)
        ids = check_story_ids(list(story_ids))
        stories, data, missing = [], {}, []
        for i, sid in enumerate(ids):
            try:
                story = self.store.get(sid)
            except StoryNotFound:
                missing.append(sid)
                continue
            blob = self._read_export(exporter.export_filename(story, fmt))
            if blob is None:
                missing.append(sid)
                continue
            stories.append(story)
            data[sid] = blob
            progress(80 * (i + 1) / len(ids),
                     f"read {i + 1} of {len(ids)} exports")
        if missing:
            raise ExportMissing(missing, fmt)
        f = exporter.export_batch(stories, fmt, lambda st: data[st.id])
        self._save(f)
        progress(100, f"wrote {f.filename}")
        result = self._export_result(f)
        result.update(story_ids=ids, format=fmt, count=len(ids))
        return result, f

    def export_path(self, filename: str) -> Path:
        """The saved export called *filename* (FileNotFoundError if none)."""
        if "/" in filename or filename.startswith("."):
            raise FileNotFoundError(filename)
        path = self.settings.export_dir / filename
        if not path.is_file():
            raise FileNotFoundError(filename)
        return path
