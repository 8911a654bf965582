"""Settings of the story app, read from the environment and a .env file.

The web process and the job handlers run by jobd read the same settings,
so a story written by a handler is where the web process looks for it.
jobd starts handlers with a clean environment; the app's jobd.conf passes
``STORY_DB``, ``EXPORT_DIR`` and ``PYTHONPATH`` with ``env =`` lines and sets
``cwd`` to the app directory, where the handler also reads ``.env``.

Variables:

=====================  ===================================================
``STORY_DB``           SQLite file of the stories (default ``data/stories.db``)
``EXPORT_DIR``         where exports are written (default ``<db dir>/exports``)
``USE_BACKGROUND_JOBS`` ``true`` (default) to run heavy work in jobd
``JOBD_SOCKET``        jobd's socket (default: libjobclient's default)
``JOBD_TIMEOUT``       seconds a call to jobd may take (default 10)
``LLM_API_URL``        OpenAI-compatible endpoint (``.../v1`` or the full
                       ``.../chat/completions`` URL)
``LLM_API_KEY``        its key; the LLM is used only when URL and key are set
``LLM_MODEL``          model name (default ``gpt-4o-mini``)
``LLM_TIMEOUT``        seconds per LLM request (default 120)
``STORY_WORDS``        default story length in words (default 3000)
``STORY_OFFLINE_DELAY`` seconds the offline generator waits per chapter, to
                       mimic an LLM's pace in demos and tests (default 0)
``STORYAPP_ENV``       path of the .env file (default ``./.env``)
=====================  ===================================================
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, MutableMapping, Optional

log = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}


def parse_bool(value: object, default: bool = False) -> bool:
    """Interpret a JSON or environment value as a boolean."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return str(value).strip().lower() in _TRUE


def load_dotenv(path: Path, environ: MutableMapping[str, str]) -> None:
    """Load KEY=VALUE lines from *path* into *environ* without overriding.

    Supports comments, blank lines, ``export KEY=...`` and single or double
    quotes around values -- the subset that .env files use in practice.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        environ.setdefault(key, value)


@dataclass(frozen=True)
class Settings:
    """Everything configurable about the app."""

    story_db: Path
    export_dir: Path
    use_background_jobs: bool = True
    jobd_socket: Optional[str] = None
    jobd_timeout: float = 10.0
    llm_api_url: Optional[str] = None
    llm_api_key: Optional[str] = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout: float = 120.0
    default_words: int = 3000
    offline_delay: float = 0.0

    @property
    def llm_enabled(self) -> bool:
        """True when an LLM endpoint and a key are configured."""
        return bool(self.llm_api_url and self.llm_api_key)

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None,
                 dotenv: bool = True) -> "Settings":
        """Build settings from *environ* (default ``os.environ``) plus .env.
        """
        env = dict(os.environ if environ is None else environ)
        if dotenv:
            load_dotenv(Path(env.get("STORYAPP_ENV", ".env")), env)
        db = Path(env.get("STORY_DB") or "data/stories.db").expanduser()
        export_dir = Path(env.get("EXPORT_DIR") or db.parent / "exports")
        return cls(
            story_db=db.absolute(),
            export_dir=export_dir.expanduser().absolute(),
            use_background_jobs=parse_bool(
                env.get("USE_BACKGROUND_JOBS"), default=True),
            jobd_socket=env.get("JOBD_SOCKET") or None,
            jobd_timeout=float(env.get("JOBD_TIMEOUT") or 10.0),
            llm_api_url=env.get("LLM_API_URL") or None,
            llm_api_key=env.get("LLM_API_KEY") or None,
            llm_model=env.get("LLM_MODEL") or "gpt-4o-mini",
            llm_timeout=float(env.get("LLM_TIMEOUT") or 120.0),
            default_words=int(env.get("STORY_WORDS") or 3000),
            offline_delay=float(env.get("STORY_OFFLINE_DELAY") or 0.0),
        )
