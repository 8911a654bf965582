"""A minimal client of an OpenAI-compatible chat completions endpoint.

Only the standard library (urllib) is used.  ``LLM_API_URL`` may be the
API's base URL (``https://api.example.com/v1``) or the full
``.../chat/completions`` URL.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any, Dict

log = logging.getLogger(__name__)

__all__ = ["LLMClient", "LLMError"]


class LLMError(RuntimeError):
    """The LLM endpoint failed or answered something unusable."""


class LLMClient:
    """Calls ``POST {url}/chat/completions`` with a bearer key."""

    def __init__(self, url: str, api_key: str, model: str,
                 timeout: float = 120.0, temperature: float = 0.8) -> None:
        url = url.rstrip("/")
        if not url.endswith("/chat/completions"):
            url += "/chat/completions"
        self.url = url
        self.api_key = api_key
        self.model = model
        self.timeout = timeout
        self.temperature = temperature

    def chat(self, system: str, user: str) -> str:
        """One chat completion; returns the assistant message's text."""
        body: Dict[str, Any] = {
            "model": self.model,
            "temperature": self.temperature,
            "messages": [{"role": "system", "content": system},
                         {"role": "user", "content": user}],
        }
        req = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {self.api_key}"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                data = json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read(500).decode("utf-8", "replace")
            raise LLMError(f"LLM endpoint {self.url} answered {exc.code}: "
                           f"{detail}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise LLMError(f"LLM endpoint {self.url} failed: {exc}") from exc
        try:
            text = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"LLM endpoint {self.url} answered without "
                           "choices[0].message.content") from exc
        if not isinstance(text, str) or not text.strip():
            raise LLMError(f"LLM endpoint {self.url} answered an empty text")
        log.debug("LLM answered %d characters", len(text))
        return text
