"""Fixtures of the story app tests.

- ``settings``/``service``/``sync_app``: the app with USE_BACKGROUND_JOBS
  false and its own SQLite file (no daemon needed).
- ``stack``: tests/pyfixtures.py's StoryApp: a private redis-server and
  jobd on the app's own examples/storyapp/jobd.conf (with worker.py's -o
  overrides and environment for this checkout), sharing a SQLite file with an app that
  runs jobs in the background.
- ``live``: that app served over real HTTP on 127.0.0.1.
- ``fake_llm``: a local OpenAI-compatible chat endpoint (no internet).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import pyfixtures  # noqa: E402

pyfixtures.use_app_paths()

from storyapp.config import Settings  # noqa: E402
from storyapp.services import StoryService  # noqa: E402
from storyapp.web import create_app  # noqa: E402

from apphelpers import IDEA, FakeLLM, make_settings  # noqa: E402,F401


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def service(settings: Settings) -> StoryService:
    return StoryService(settings)


@pytest.fixture
def sync_app(settings: Settings, service: StoryService):
    app = create_app(settings, service)
    app.testing = True
    return app


@pytest.fixture
def client(sync_app):
    return sync_app.test_client()


@pytest.fixture
def idea() -> Dict[str, Any]:
    return json.loads(json.dumps(IDEA))


# --- the fake LLM --------------------------------------------------------

@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    with FakeLLM() as f:
        yield f


# --- the real stack --------------------------------------------------------

#: redis-server + jobd (the app's config) + the app, sharing one DB.
Stack = pyfixtures.StoryApp


def _need_daemon() -> None:
    why = pyfixtures.missing_tools()
    if why:
        pytest.skip(why)


@pytest.fixture
def stack_factory():
    _need_daemon()
    made: List[Stack] = []

    def make(**extra_env: str) -> Stack:
        s = Stack(pyfixtures.short_tmpdir("storyapp-"), extra_env)
        made.append(s)
        return s
    yield make
    for s in made:
        try:
            s.close()
        finally:
            if os.environ.get("KEEP_TMP") is None:
                shutil.rmtree(s.tmp, ignore_errors=True)


@pytest.fixture
def stack(stack_factory) -> Stack:
    return stack_factory()


@pytest.fixture
def live(stack: Stack) -> Iterator[str]:
    """The stack's app over real HTTP; yields the base URL."""
    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, stack.app, threaded=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
