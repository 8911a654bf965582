"""Helpers shared by the story app tests (imported by conftest and the
test modules)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List

from storyapp.config import Settings


def make_settings(tmp: Path, **env: str) -> Settings:
    base = {"STORY_DB": str(tmp / "stories.db"),
            "EXPORT_DIR": str(tmp / "exports"),
            "USE_BACKGROUND_JOBS": "false", "STORY_WORDS": "3000"}
    base.update(env)
    return Settings.from_env(base, dotenv=False)


IDEA = {"idea": "A story about a lighthouse keeper who hears voices in the fog",
        "character": {"name": "Mara", "traits": ["brave", "lonely"]},
        "theme": "courage", "genre": "Mystery"}



class FakeLLM:
    """Records requests; answers deterministic chapter-shaped text."""

    def __init__(self, fail_revise: bool = False) -> None:
        #: answer the editor's (revision) prompts with a 500
        self.fail_revise = fail_revise
        self.requests: List[Dict[str, Any]] = []
        self.auth: List[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)

    def _handler(self):
        fake = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(
                    int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "body": body})
                fake.auth.append(self.headers.get("Authorization", ""))
                prompt = body["messages"][-1]["content"]
                if fake.fail_revise and "editor" in \
                        body["messages"][0]["content"]:
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if "Give a title" in prompt:
                    text = "The Keeper of Voices"
                elif "editor" in body["messages"][0]["content"]:
                    text = "LLM REVISED. " + prompt.split("\n\n", 1)[-1]
                else:
                    n = len(fake.requests)
                    text = (f"Fog Chapter {n}\n\n" + " ".join(
                        ["The fog spoke to Mara in the voice of the sea."]
                        * 80) + "\n\nShe answered it, at last.")
                data = json.dumps({"choices": [{"message": {
                    "role": "assistant", "content": text}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
        return H

    def __enter__(self) -> "FakeLLM":
        self.thread.start()
        return self

    def __exit__(self, *a: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
