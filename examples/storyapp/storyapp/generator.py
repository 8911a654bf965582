"""Story generation: the request, the offline generator and the LLM one.

The offline generator is deterministic: the same idea, character, theme,
genre and length always give the same story, so the synchronous and the
background paths can be compared word for word, and the app works with no
network.  It writes a first draft with the habits of a first draft
("very", "really", "suddenly", "started to"), which the revision pass
(:mod:`storyapp.revise`) then edits out.

Both generators yield one chapter at a time so the caller can report real
progress.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from .llm import LLMClient

__all__ = ["StoryRequest", "ValidationError", "Chapter", "offline_title",
           "generate_offline", "generate_llm", "chapter_count",
           "render_story", "split_chapters"]

MIN_WORDS = 300
MAX_WORDS = 50000


class ValidationError(ValueError):
    """A request the app cannot work on (answered with HTTP 400)."""


@dataclass(frozen=True)
class StoryRequest:
    """What the user asked for."""

    idea: str
    character: Dict[str, Any]
    theme: str
    genre: str
    words: int

    @classmethod
    def from_payload(cls, data: Mapping[str, Any],
                     default_words: int = 3000) -> "StoryRequest":
        """Validate a POST /api/generate body (or a job payload)."""
        if not isinstance(data, Mapping):
            raise ValidationError("the request body must be a JSON object")
        idea = data.get("idea")
        if not isinstance(idea, str) or not idea.strip():
            raise ValidationError("'idea' is required (a non-empty string)")
        if len(idea) > 4000:
            raise ValidationError("'idea' is longer than 4000 characters")
        character = data.get("character") or {}
        if isinstance(character, str):
            character = {"name": character}
        if not isinstance(character, Mapping):
            raise ValidationError("'character' must be an object or a name")
        theme = data.get("theme") or "hope"
        genre = data.get("genre") or "General Fiction"
        if not isinstance(theme, str) or not isinstance(genre, str):
            raise ValidationError("'theme' and 'genre' must be strings")
        raw_words = data.get("length", data.get("words", default_words))
        try:
            words = int(raw_words)
        except (TypeError, ValueError):
            raise ValidationError("'length' must be a number of words")
        if not MIN_WORDS <= words <= MAX_WORDS:
            raise ValidationError(
                f"'length' must be between {MIN_WORDS} and {MAX_WORDS} words")
        return cls(idea=idea.strip(), character=dict(character),
                   theme=theme.strip(), genre=genre.strip(), words=words)

    def to_payload(self) -> Dict[str, Any]:
        """The job payload that recreates this request."""
        d = asdict(self)
        d["length"] = d.pop("words")
        return d

    @property
    def name(self) -> str:
        return str(self.character.get("name") or "Alex").strip() or "Alex"

    @property
    def traits(self) -> List[str]:
        t = self.character.get("traits") or []
        if isinstance(t, str):
            t = [s.strip() for s in t.split(",")]
        t = [str(s) for s in t if str(s).strip()]
        return t or ["stubborn", "curious"]

    def seed(self) -> int:
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big")


@dataclass(frozen=True)
class Chapter:
    number: int
    title: str
    text: str  # paragraphs separated by blank lines


def chapter_count(words: int) -> int:
    """How many chapters a story of *words* words gets (3 to 30)."""
    return max(3, min(30, round(words / 700)))


def render_story(chapters: List[Chapter]) -> str:
    """The stored text: ``Chapter N: Title`` headings and paragraphs."""
    return "\n\n".join(f"Chapter {c.number}: {c.title}\n\n{c.text.strip()}"
                       for c in chapters) + "\n"


def split_chapters(content: str) -> List[Chapter]:
    """Inverse of :func:`render_story` (text without headings is one
    chapter)."""
    chapters: List[Chapter] = []
    title, number, body = "", 0, []  # type: Tuple[str, int, List[str]]
    for block in content.strip().split("\n\n"):
        head = block.split("\n", 1)
        if head[0].startswith("Chapter ") and ":" in head[0]:
            if number or body:
                chapters.append(Chapter(number or 1, title,
                                        "\n\n".join(body)))
            num, _, title = head[0][len("Chapter "):].partition(":")
            number = int(num) if num.strip().isdigit() else len(chapters) + 1
            title = title.strip()
            body = [head[1]] if len(head) > 1 and head[1].strip() else []
        else:
            body.append(block)
    if number or body:
        chapters.append(Chapter(number or 1, title or "Untitled",
                                "\n\n".join(body)))
    return chapters


# ---------------------------------------------------------------------------
# the offline generator

_SETTINGS = {
    "fantasy": ("the kingdom of Varrow", ["the old watchtower", "the river ford",
                "the king's library", "the thornwood", "the salt market"],
                ["a rune-cut key", "a cracked lantern", "a map drawn in ash"]),
    "science fiction": ("the station Meridian", ["the hydroponics deck",
                        "the docking ring", "the silent observatory",
                        "the reactor gallery", "the crew mess"],
                        ["a data shard", "a faulty beacon", "a sealed log"]),
    "mystery": ("the harbour town of Greyhaven", ["the night ferry",
                "the pawnbroker's back room", "the lighthouse",
                "the police archive", "the fish market"],
                ["a torn photograph", "a brass key", "a ledger with a page"
                 " missing"]),
    "romance": ("the coastal village of Sel", ["the bakery on the corner",
                "the cliff path", "the summer dance hall", "the old pier",
                "the bookshop"], ["a letter never sent", "a pressed flower",
                                   "a borrowed coat"]),
    "horror": ("the house on Merrow Hill", ["the cellar stairs", "the locked"
               " nursery", "the orchard at dusk", "the chapel ruin",
               "the long corridor"], ["a music box", "a child's drawing",
                                      "a mirror wrapped in cloth"]),
    "general fiction": ("the town of Millbrook", ["the kitchen table",
                        "the bus station", "the hospital corridor",
                        "the allotment", "the old school"],
                        ["a box of letters", "a set of keys",
                         "a photograph album"]),
}

_ALLIES = ["Ines", "Tomas", "Ruth", "Bram", "Odile", "Kasimir", "Lena",
           "Marek", "Hana", "Wen"]
_WEATHER = ["a cold rain", "a low yellow fog", "the first warm wind of spring",
            "a hard frost", "a sky the colour of pewter", "a restless heat"]
_FEELINGS = ["dread", "hope", "a strange calm", "anger", "longing",
             "relief", "doubt"]

# Texture: sentences that fit anywhere, mixed into every stage.
_TEXTURE = [
    "The light over {place} was thin and grey, and {weather} pressed against the windows.",
    "{name} turned {object} over in both hands, as if it might explain itself.",
    "Somewhere beyond {place} a dog barked, then thought better of it.",
    "It was the kind of silence that made {name} count heartbeats.",
    "{ally} had a way of saying nothing that said a great deal.",
    "Memory is a poor map, {name} thought, but it was the only one left.",
    "The smell of {weather} clung to coats and hair and tempers.",
    "{name} wrote three words in the margin of a notebook and crossed out two.",
    "On the road to {place}, every stranger looked like a question.",
    "{ally} laughed, briefly, and the sound surprised them both.",
    "The clock in {setting} ran four minutes slow, and nobody had ever fixed it.",
    "{name} felt {feeling}, and then, underneath it, something harder to name.",
    "Rain, or the memory of rain, ticked along the gutters of {place}.",
    "There were rules about {theme} in {setting}, and nobody had written them down.",
    "{name} remembered being a child at {place}, small and certain and wrong.",
    "The answer, when it came, came sideways, the way true answers do.",
]

_CHAPTER_TITLES = {
    "opening": ["An Ordinary Morning", "The First Sign", "Before the Storm"],
    "rising": ["Old Debts", "The Long Road", "What the Letters Said",
               "Strangers and Friends", "The Second Door", "Under Pressure"],
    "crisis": ["The Breaking Point", "Everything at Once", "No Way Back"],
    "resolution": ["After", "The Last Light", "What Remains"],
}

_SENTENCES = {
    "opening": [
        "{name} woke to {weather} and the feeling that something in {setting} had shifted overnight.",
        "For years {name} had been known as {trait}, and it had served well enough until now.",
        "The idea had been there all along: {idea}.",
        "Nobody in {setting} talked about {theme}, but everybody felt it.",
        "{name} started to walk toward {place}, as on every other day.",
        "It was a very ordinary morning, and that was the first thing that was wrong.",
        "{ally} was already waiting at {place}, holding {object}.",
        "\"You look like you haven't slept,\" {ally} said. \"I really haven't,\" {name} answered.",
    ],
    "rising": [
        "At {place} the trail went cold, and {name} felt {feeling} settle in.",
        "{ally} argued that {theme} was a luxury; {name} was not so sure.",
        "Suddenly the pieces began to fit, though not in the way anyone had hoped.",
        "{name} just kept going, because being {trait} meant not stopping.",
        "The question of {theme} would not leave them alone.",
        "Everything came back to the same stubborn fact: {idea}.",
        "{name} started to understand why {object} mattered so much.",
        "\"We can't go back,\" said {ally}. \"Then we go through,\" said {name}.",
        "By nightfall {place} was very quiet, and the quiet was worse than noise.",
        "There was a price for every answer, and {name} was really beginning to pay it.",
    ],
    "crisis": [
        "Everything {name} had built came down at {place} in a single hour.",
        "{ally} was gone, and {object} was the only thing left to hold.",
        "Suddenly {name} understood that being {trait} would not be enough.",
        "The choice was very simple and almost impossible: {theme}, or safety.",
        "{name} stood in {weather} and made the decision that would change {setting}.",
        "\"If this is the end,\" {name} said, \"it ends on my terms.\"",
        "Fear came in like a tide, and {name} just let it come.",
    ],
    "resolution": [
        "Later, {name} would say that it was {theme} that saved them.",
        "{setting} was not the same, and neither was {name}.",
        "{ally} came back in the spring, carrying {object} as if it weighed nothing.",
        "The idea that had started it all ({idea}) now seemed very small and very large at once.",
        "{name} walked to {place} one last time and found it ordinary again.",
        "Some debts are paid in full; others are simply carried, and {name} carried this one gladly.",
        "\"Was it worth it?\" {ally} asked. {name} thought about {theme} and nodded.",
    ],
}


def _setting_for(genre: str) -> Tuple[str, List[str], List[str]]:
    g = genre.lower()
    for key, value in _SETTINGS.items():
        if key in g or (key == "science fiction" and "sci" in g):
            return value
    return _SETTINGS["general fiction"]


def offline_title(req: StoryRequest) -> str:
    """A deterministic title from the theme and the setting."""
    rng = random.Random(req.seed())
    setting, places, objects = _setting_for(req.genre)
    pattern = rng.choice(["The {t} of {s}", "{n} and the {o}",
                          "A Season of {t}", "What {n} Found"])
    return pattern.format(t=req.theme.title(), s=setting.replace("the ", "")
                          .title(), n=req.name,
                          o=rng.choice(objects).replace("a ", "").title())


def _stage(index: int, total: int) -> str:
    if index == 0:
        return "opening"
    if index == total - 1:
        return "resolution"
    if index == total - 2:
        return "crisis"
    return "rising"


def _idea_fragment(idea: str) -> str:
    frag = idea.strip().rstrip(".!?")
    if frag.lower().startswith("a story about "):
        frag = frag[len("a story about "):]
    return frag[:1].lower() + frag[1:] if frag else "something unspoken"


def generate_offline(req: StoryRequest) -> Iterator[Chapter]:
    """Yield the chapters of a deterministic story of about req.words words.
    """
    rng = random.Random(req.seed())
    setting, places, objects = _setting_for(req.genre)
    total = chapter_count(req.words)
    per_chapter = req.words / total
    written = 0
    used_titles: set = set()
    for index in range(total):
        stage = _stage(index, total)
        titles = [t for t in _CHAPTER_TITLES[stage] if t not in used_titles]
        title = rng.choice(titles or _CHAPTER_TITLES[stage])
        used_titles.add(title)
        target = round(per_chapter * (index + 1)) - written
        paragraphs: List[str] = []
        count = 0
        deck: List[str] = []
        while count < target:
            n_sent = rng.randint(4, 7)
            sentences = []
            for _ in range(n_sent):
                if not deck:  # draw without replacement, then reshuffle
                    deck = _SENTENCES[stage] + _TEXTURE
                    deck = rng.sample(deck, len(deck))
                template = deck.pop()
                sentences.append(template.format(
                    name=req.name, trait=rng.choice(req.traits),
                    setting=setting, place=rng.choice(places),
                    object=rng.choice(objects), theme=req.theme.lower(),
                    idea=_idea_fragment(req.idea),
                    ally=rng.choice(_ALLIES), weather=rng.choice(_WEATHER),
                    feeling=rng.choice(_FEELINGS)))
            para = " ".join(sentences)
            para = para[0].upper() + para[1:]
            paragraphs.append(para)
            count += len(para.split())
        written += count
        yield Chapter(index + 1, title, "\n\n".join(paragraphs))


# ---------------------------------------------------------------------------
# the LLM generator

_SYSTEM = ("You are a novelist. Write vivid, coherent prose. Answer with the"
           " requested text only, no commentary, no markdown headings.")


def _brief(req: StoryRequest) -> str:
    return (f"Story idea: {req.idea}\nMain character: "
            f"{json.dumps(req.character, ensure_ascii=False)}\n"
            f"Theme: {req.theme}\nGenre: {req.genre}")


def generate_llm(req: StoryRequest, llm: LLMClient,
                 title: Optional[str] = None) -> Iterator[Tuple[str, Chapter]]:
    """Yield (title, chapter) for each chapter written by the LLM.

    The first request asks for a title; then one request per chapter, each
    given the end of the previous chapter for continuity.
    """
    total = chapter_count(req.words)
    per_chapter = max(100, req.words // total)
    if title is None:
        title = llm.chat(_SYSTEM, f"{_brief(req)}\n\nGive a title for this"
                         " story. Answer with the title only.")
        title = title.strip().strip('"').splitlines()[0][:200] or \
            offline_title(req)
    previous = ""
    for index in range(total):
        stage = _stage(index, total)
        prompt = (f"{_brief(req)}\nTitle: {title}\n\nWrite chapter "
                  f"{index + 1} of {total} ({stage} of the story), about "
                  f"{per_chapter} words. First line: the chapter title only. "
                  "Then the chapter's paragraphs separated by blank lines.")
        if previous:
            prompt += f"\n\nThe previous chapter ended:\n{previous}"
        text = llm.chat(_SYSTEM, prompt).strip()
        first, _, rest = text.partition("\n")
        chapter_title = first.strip().strip("#*").strip()
        if chapter_title.lower().startswith("chapter") and ":" in chapter_title:
            chapter_title = chapter_title.split(":", 1)[1].strip()
        body = rest.strip() or text
        previous = body[-600:]
        yield title, Chapter(index + 1, chapter_title or f"Part {index + 1}",
                             body)
