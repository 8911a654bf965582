"""Chains of steps after a generation: ``"then": ["revise", "export:epub"]``
(docs/storyapp.md, "Chains").

A chain is submitted as one ``submit_many``, all jobs or none: the
generation job, then one job per step, each ``depends_on`` the one before
(``on_dep_failure`` left at its default, ``cancel``: a step whose parent
failed or was canceled is canceled, and so is the rest of the chain).

The app picks the job ids itself.  The story a generation job writes is
``story_id_for_job(its job id)``, so with the generation's id chosen here
the story id is known before anything runs, and every later step gets it
in its payload: no step has to read its parent's result.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from .generator import ValidationError
from .services import EXPORT_FORMATS, story_id_for_job

__all__ = ["Step", "parse_then", "new_job_id", "chain_jobs", "MAX_STEPS",
           "revise_type"]

#: steps after the generation (the chain has one job more)
MAX_STEPS = 5

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_job_id() -> str:
    """``j_`` + a ULID (48 bits of milliseconds, 80 random bits), like the
    ids jobd makes itself."""
    n = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10),
                                                         "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[n & 31])
        n >>= 5
    return "j_" + "".join(reversed(chars))


def revise_type(use_llm: bool) -> str:
    """The job type of a revision: with the LLM it goes through the
    ``llm`` limit (jobd.conf's ``revise_story_llm``), without it not."""
    return "revise_story_llm" if use_llm else "revise_story"


@dataclass(frozen=True)
class Step:
    """One step after the generation: ``revise`` or ``export``."""

    kind: str
    options: Dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        if self.kind == "export":
            return f"export:{self.options['format']}"
        return self.kind

    def job(self, story_id: str) -> Dict[str, Any]:
        """The job type and payload of this step for *story_id*."""
        if self.kind == "revise":
            use_llm = bool(self.options.get("use_llm"))
            return {"type": revise_type(use_llm),
                    "payload": {"story_id": story_id, "use_llm": use_llm}}
        return {"type": "export_story",
                "payload": {"story_id": story_id,
                            "format": self.options["format"]}}


def _short(value: Any) -> str:
    return repr(value)[:40]


def _format(where: str, fmt: Any) -> str:
    if not isinstance(fmt, str) or fmt not in EXPORT_FORMATS:
        raise ValidationError(f"{where}: unknown export format {_short(fmt)};"
                              f" use one of {', '.join(EXPORT_FORMATS)}")
    return fmt


def _step(i: int, item: Any) -> Step:
    where = f"'then'[{i}]"
    if isinstance(item, str):
        kind, sep, arg = item.partition(":")
        if kind == "revise" and not sep:
            return Step("revise", {"use_llm": False})
        if kind == "export" and sep:
            return Step("export", {"format": _format(where, arg)})
        if kind == "export":
            raise ValidationError(f"{where}: 'export' needs a format, e.g. "
                                  "'export:epub'")
        raise ValidationError(f"{where}: unknown step {_short(item)}; use "
                              "'revise' or 'export:FORMAT'")
    if isinstance(item, dict):
        kind = item.get("step")
        if kind == "revise":
            allowed = {"step", "use_llm"}
        elif kind == "export":
            allowed = {"step", "format"}
        else:
            raise ValidationError(f"{where}: unknown step {_short(kind)}; "
                                  "'step' is 'revise' or 'export'")
        extra = sorted(str(k)[:40] for k in item if k not in allowed)
        if extra:
            raise ValidationError(f"{where}: unknown option(s) for {kind}: "
                                  + ", ".join(extra))
        if kind == "export":
            return Step("export", {"format": _format(where, item.get(
                "format"))})
        use_llm = item.get("use_llm", False)
        if not isinstance(use_llm, bool):
            raise ValidationError(f"{where}: 'use_llm' must be true or "
                                  f"false, got {_short(use_llm)}")
        return Step("revise", {"use_llm": use_llm})
    raise ValidationError(f"{where}: a step is a string ('revise', "
                          f"'export:epub') or an object, got "
                          f"{type(item).__name__}")


def parse_then(data: Mapping[str, Any]) -> List[Step]:
    """The steps of a request's ``then`` (absent or null: none);
    ValidationError naming what is wrong."""
    raw = data.get("then")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValidationError(f"'then' must be a list of steps, got "
                              f"{type(raw).__name__}")
    if len(raw) > MAX_STEPS:
        raise ValidationError(f"'then' has {len(raw)} steps; at most "
                              f"{MAX_STEPS}")
    return [_step(i, item) for i, item in enumerate(raw)]


def chain_jobs(generate_payload: Dict[str, Any], steps: List[Step],
               first_id: Optional[str] = None) -> List[Dict[str, Any]]:
    """The submit objects of a chain: the generation, then each step
    depending on the job before it."""
    first_id = first_id or new_job_id()
    story_id = story_id_for_job(first_id)
    jobs = [{"type": "generate_story", "payload": generate_payload,
             "job_id": first_id}]
    for step in steps:
        job = step.job(story_id)
        job["job_id"] = new_job_id()
        job["depends_on"] = [jobs[-1]["job_id"]]
        jobs.append(job)
    return jobs
