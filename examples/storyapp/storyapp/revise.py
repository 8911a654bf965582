"""Story revision: rule-based edits, or an LLM pass chapter by chapter.

The rule-based editor does what a copy editor does to a first draft: it
drops filler words ("really", "just"), replaces "very + adjective" with a
stronger word, turns "started to walk" into "walked", cuts "suddenly",
and avoids three sentences in a row that open with the same word.  It is
deterministic, so a background revision and a synchronous one give the same
text.
"""

from __future__ import annotations

import re
from typing import Iterator, List, Tuple

from .generator import Chapter, render_story, split_chapters
from .llm import LLMClient

__all__ = ["revise_rules", "revise_llm_chapters"]

# Replacements start with a consonant, so "a very X" stays grammatical.
_VERY = {
    "ordinary": "plain", "quiet": "silent", "simple": "stark",
    "small": "tiny", "large": "vast", "cold": "freezing", "good": "fine",
    "bad": "dire", "tired": "drained", "old": "weathered", "big": "huge",
    "happy": "giddy", "sad": "bereft", "afraid": "terrified",
}

_STARTED_TO = {
    "walk": "walked", "understand": "understood", "run": "ran",
    "think": "thought", "feel": "felt", "see": "saw", "go": "went",
}

_FILLERS = re.compile(r"\b(really|just) ", re.IGNORECASE)
_SUDDENLY = re.compile(r"\bSuddenly,? (\w)")
_VERY_RE = re.compile(r"\bvery (\w+)", re.IGNORECASE)
_STARTED_RE = re.compile(r"\bstarted to (\w+)")
_FUNCTION_WORDS = {"The", "It", "There", "Everything", "Nobody", "Some",
                   "Fear", "Later", "By", "At", "For"}
_TRANSITIONS = ["Then", "Still", "Even so", "By then", "Meanwhile"]


def _very(m: "re.Match[str]") -> str:
    word = m.group(1)
    better = _VERY.get(word.lower())
    if better is None:
        return m.group(0)
    return better.capitalize() if m.group(0)[0].isupper() else better


def _started(m: "re.Match[str]") -> str:
    return _STARTED_TO.get(m.group(1), m.group(0))


def _vary_openings(paragraph: str) -> Tuple[str, int]:
    """Prefix a transition when three sentences in a row open alike."""
    sentences = re.split(r"(?<=[.!?\"]) (?=[A-Z\"])", paragraph)
    changes = 0
    for i in range(2, len(sentences)):
        first = [s.split(" ", 1)[0] for s in sentences[i - 2:i + 1]]
        if first[0] == first[1] == first[2] and not sentences[i].startswith(
                tuple(_TRANSITIONS)) and not sentences[i].startswith('"'):
            word = _TRANSITIONS[i % len(_TRANSITIONS)]
            s = sentences[i]
            head, _, tail = s.partition(" ")
            if head in _FUNCTION_WORDS:
                s = f"{head.lower()} {tail}"
            sentences[i] = f"{word}, {s}"
            changes += 1
    return " ".join(sentences), changes


def revise_rules(content: str) -> Tuple[str, int]:
    """Edit a story's text; returns (new text, number of edits)."""
    changes = 0
    chapters = split_chapters(content)
    out: List[Chapter] = []
    for ch in chapters:
        paragraphs = []
        for para in ch.text.split("\n\n"):
            before = para
            para = _FILLERS.sub("", para)
            para = _SUDDENLY.sub(lambda m: m.group(1).upper(), para)
            para = _VERY_RE.sub(_very, para)
            para = _STARTED_RE.sub(_started, para)
            para = re.sub(r"  +", " ", para)
            para, varied = _vary_openings(para)
            changes += varied
            if para != before:
                changes += _diff_words(before, para)
            paragraphs.append(para)
        out.append(Chapter(ch.number, ch.title, "\n\n".join(paragraphs)))
    return render_story(out), changes


def _diff_words(a: str, b: str) -> int:
    """A cheap measure of how many words an edit touched."""
    wa, wb = a.split(), b.split()
    return abs(len(wa) - len(wb)) + sum(1 for x, y in zip(wa, wb) if x != y
                                        ) // 4


_SYSTEM = ("You are a careful fiction editor. Improve the prose: tighten"
           " wording, remove filler, strengthen verbs, keep the plot, the"
           " names and the length. Answer with the revised text only.")


def revise_llm_chapters(content: str, llm: LLMClient
                        ) -> Iterator[Tuple[int, int, Chapter]]:
    """Yield (index, total, revised chapter) for each chapter."""
    chapters = split_chapters(content)
    for i, ch in enumerate(chapters):
        text = llm.chat(_SYSTEM, f"Chapter {ch.number}: {ch.title}\n\n"
                        f"{ch.text}").strip()
        if text.startswith("Chapter ") and "\n" in text:
            text = text.split("\n", 1)[1].strip()
        yield i, len(chapters), Chapter(ch.number, ch.title, text)

