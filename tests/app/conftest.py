"""Fixtures of the story app tests.

- ``settings``/``service``/``sync_app``: the app with USE_BACKGROUND_JOBS
  false and its own SQLite file (no daemon needed).
- ``stack``: a private redis-server and jobd configured with the app's own
  examples/storyapp/jobd.conf (rendered by worker.py for this checkout),
  sharing a SQLite file with an app that runs jobs in the background.
- ``live``: that app served over real HTTP on 127.0.0.1.
- ``fake_llm``: a local OpenAI-compatible chat endpoint (no internet).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import pyfixtures  # noqa: E402

pyfixtures.export_lib_env()

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

class Stack:
    """redis-server + jobd (the app's config) + the app, sharing one DB."""

    def __init__(self, tmp: Path, extra_env: Dict[str, str]) -> None:
        import worker  # examples/storyapp/worker.py
        self.tmp = tmp
        self.redis = pyfixtures.RedisServer(tmp).start()
        self.socket = tmp / "jobd.sock"
        env = {"JOBD_SOCKET": str(self.socket), "REDIS_URL": self.redis.url,
               "STORY_DB": str(tmp / "stories.db"),
               "EXPORT_DIR": str(tmp / "exports"),
               "STORYAPP_ENV": str(tmp / "none.env"),
               "STORY_OFFLINE_DELAY": "0.3", **extra_env}
        local = worker.local_settings(env, workers=2)
        local["jobd"].update(log_level="debug", log_target="stderr")
        text = worker.render_config(
            (pyfixtures.APP_DIR / "jobd.conf").read_text(),
            jobd=local["jobd"], handler_env=local["env"])
        self.jobd = pyfixtures.Jobd(tmp, text, self.socket)
        self.jobd.start()
        env["USE_BACKGROUND_JOBS"] = "true"
        env["JOBD_SOCKET"] = str(self.socket)
        self.settings = Settings.from_env(env, dotenv=False)
        self.service = StoryService(self.settings)
        self.app = create_app(self.settings, self.service)
        self.app.testing = True

    def close(self) -> None:
        self.app.extensions["storyapp"]["jobs"].close()
        self.jobd.stop()
        self.redis.stop()


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
                import shutil
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
