"""The story store: one SQLite file shared by the web process and the job
handlers.

WAL mode lets the web process read while a handler writes; every operation
opens its own short-lived connection, so the store is safe from any thread
and any process without a lock of its own (SQLite's busy timeout serialises
writers).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List

__all__ = ["Story", "StoryStore", "StoryNotFound", "utcnow"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stories (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    idea        TEXT NOT NULL,
    character   TEXT NOT NULL,      -- JSON
    theme       TEXT NOT NULL,
    genre       TEXT NOT NULL,
    content     TEXT NOT NULL,
    word_count  INTEGER NOT NULL,
    revision    INTEGER NOT NULL DEFAULT 0,
    source      TEXT NOT NULL,      -- 'offline' or 'llm'
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS stories_created ON stories (created_at);
"""


class StoryNotFound(LookupError):
    """No story has that id."""

    def __init__(self, story_id: str) -> None:
        self.story_id = story_id
        super().__init__(f"story not found: {story_id}")


def utcnow() -> str:
    """The current UTC time as ISO-8601 with a Z, to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def word_count(text: str) -> int:
    """Words in a text, as the app counts them everywhere."""
    return len(text.split())


@dataclass
class Story:
    """One stored story."""

    id: str
    title: str
    idea: str
    character: Dict[str, Any]
    theme: str
    genre: str
    content: str
    word_count: int
    revision: int = 0
    source: str = "offline"
    created_at: str = field(default_factory=utcnow)
    updated_at: str = field(default_factory=utcnow)

    def to_dict(self, content: bool = True) -> Dict[str, Any]:
        """The story as JSON-ready dict (``story_id`` rather than ``id``)."""
        d = asdict(self)
        d["story_id"] = d.pop("id")
        if not content:
            d.pop("content")
        return d

    @classmethod
    def _from_row(cls, row: sqlite3.Row) -> "Story":
        d = dict(row)
        d["character"] = json.loads(d["character"])
        return cls(**d)


def new_story_id() -> str:
    """A fresh story id like ``story_3f2a9c1d4e5b``."""
    return "story_" + uuid.uuid4().hex[:12]


class StoryStore:
    """CRUD on the stories table of one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30.0)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA busy_timeout = 30000")
            db.execute("PRAGMA synchronous = NORMAL")
            with db:  # one transaction
                yield db
        finally:
            db.close()

    def add(self, story: Story, replace: bool = False) -> Story:
        """Insert a new story (or, with *replace*, overwrite one with the
        same id)."""
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        with self._connect() as db:
            db.execute(
                f"{verb} INTO stories (id, title, idea, character, theme,"
                " genre, content, word_count, revision, source, created_at,"
                " updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (story.id, story.title, story.idea,
                 json.dumps(story.character, sort_keys=True), story.theme,
                 story.genre, story.content, story.word_count,
                 story.revision, story.source, story.created_at,
                 story.updated_at))
        return story

    def get(self, story_id: str) -> Story:
        """The story, or :class:`StoryNotFound`."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM stories WHERE id = ?",
                             (story_id,)).fetchone()
        if row is None:
            raise StoryNotFound(story_id)
        return Story._from_row(row)

    def exists(self, story_id: str) -> bool:
        with self._connect() as db:
            return db.execute("SELECT 1 FROM stories WHERE id = ?",
                              (story_id,)).fetchone() is not None

    def update_content(self, story_id: str, content: str) -> Story:
        """Replace a story's text, bumping its revision number."""
        with self._connect() as db:
            cur = db.execute(
                "UPDATE stories SET content = ?, word_count = ?,"
                " revision = revision + 1, updated_at = ? WHERE id = ?",
                (content, word_count(content), utcnow(), story_id))
            if cur.rowcount == 0:
                raise StoryNotFound(story_id)
        return self.get(story_id)

    def delete(self, story_id: str) -> None:
        with self._connect() as db:
            cur = db.execute("DELETE FROM stories WHERE id = ?", (story_id,))
            if cur.rowcount == 0:
                raise StoryNotFound(story_id)

    def list(self, limit: int = 100, offset: int = 0) -> List[Story]:
        """Stories, newest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM stories ORDER BY created_at DESC, id"
                " LIMIT ? OFFSET ?", (limit, offset)).fetchall()
        return [Story._from_row(r) for r in rows]

    def get_many(self, story_ids: List[str]) -> List[Story]:
        """The stories in the order asked; StoryNotFound for the first
        missing one."""
        return [self.get(sid) for sid in story_ids]

