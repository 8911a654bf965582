"""Exports of stories: txt, md, html, json and epub, and zip batches.

Every export is a pure function of the stored story, byte for byte (zip
entries carry the story's ``updated_at`` as their time), so an export made
by a background job equals the one made in the request.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Dict, List, Optional, Tuple

from .generator import split_chapters
from .store import Story

__all__ = ["ExportFile", "FORMATS", "export", "export_batch",
           "export_filename"]


@dataclass(frozen=True)
class ExportFile:
    filename: str
    mimetype: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _zip_time(stamp: str) -> Tuple[int, int, int, int, int, int]:
    try:
        dt = datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        dt = datetime(1980, 1, 1)
    return (max(dt.year, 1980), dt.month, dt.day, dt.hour, dt.minute,
            dt.second)


def _subtitle(story: Story) -> str:
    name = story.character.get("name")
    parts = [story.genre, f"theme: {story.theme}"]
    if name:
        parts.append(f"featuring {name}")
    return " | ".join(parts)


def to_txt(story: Story) -> bytes:
    head = f"{story.title}\n{'=' * len(story.title)}\n{_subtitle(story)}\n\n"
    return (head + story.content).encode("utf-8")


def to_md(story: Story) -> bytes:
    out = [f"# {story.title}", "", f"*{_subtitle(story)}*", ""]
    for ch in split_chapters(story.content):
        out += [f"## Chapter {ch.number}: {ch.title}", "", ch.text, ""]
    return "\n".join(out).encode("utf-8")


def _chapter_html(number: int, title: str, text: str) -> str:
    paras = "\n".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n")
                      if p.strip())
    return (f"<section id=\"chapter-{number}\">\n<h2>Chapter {number}: "
            f"{html.escape(title)}</h2>\n{paras}\n</section>")


def to_html(story: Story) -> bytes:
    body = "\n".join(_chapter_html(c.number, c.title, c.text)
                     for c in split_chapters(story.content))
    doc = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">"
        f"\n<title>{html.escape(story.title)}</title>\n"
        "<style>body{max-width:40em;margin:auto;font-family:Georgia,serif;"
        "line-height:1.6}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(story.title)}</h1>\n"
        f"<p class=\"subtitle\"><em>{html.escape(_subtitle(story))}</em></p>\n"
        f"{body}\n</body>\n</html>\n")
    return doc.encode("utf-8")


def to_json(story: Story) -> bytes:
    d = story.to_dict()
    d["chapters"] = [{"number": c.number, "title": c.title, "text": c.text}
                     for c in split_chapters(story.content)]
    return (json.dumps(d, indent=2, sort_keys=True, ensure_ascii=False)
            + "\n").encode("utf-8")


def to_epub(story: Story) -> bytes:
    """A minimal valid EPUB 3 (with an NCX for EPUB 2 readers)."""
    chapters = split_chapters(story.content)
    when = _zip_time(story.updated_at)
    uid = f"urn:storyapp:{story.id}:r{story.revision}"
    title = html.escape(story.title)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        def put(name: str, text: str, compress: bool = True) -> None:
            info = zipfile.ZipInfo(name, date_time=when)
            info.compress_type = (zipfile.ZIP_DEFLATED if compress
                                  else zipfile.ZIP_STORED)
            info.external_attr = 0o644 << 16
            z.writestr(info, text.encode("utf-8"))

        put("mimetype", "application/epub+zip", compress=False)
        put("META-INF/container.xml",
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:'
            'xmlns:container"><rootfiles><rootfile full-path="OEBPS/'
            'content.opf" media-type="application/oebps-package+xml"/>'
            '</rootfiles></container>\n')
        manifest, spine, nav, ncx = [], [], [], []
        for i, ch in enumerate(chapters, 1):
            name = f"chapter{i}.xhtml"
            put(f"OEBPS/{name}",
                '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n'
                '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>'
                f"{html.escape(ch.title)}</title></head><body>\n"
                f"{_chapter_html(ch.number, ch.title, ch.text)}\n"
                "</body></html>\n")
            manifest.append(f'<item id="c{i}" href="{name}" '
                            'media-type="application/xhtml+xml"/>')
            spine.append(f'<itemref idref="c{i}"/>')
            label = html.escape(f"Chapter {ch.number}: {ch.title}")
            nav.append(f'<li><a href="{name}">{label}</a></li>')
            ncx.append(f'<navPoint id="n{i}" playOrder="{i}"><navLabel><text>'
                       f'{label}</text></navLabel><content src="{name}"/>'
                       "</navPoint>")
        put("OEBPS/nav.xhtml",
            '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n'
            '<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://'
            f'www.idpf.org/2007/ops"><head><title>{title}</title></head><body>'
            f'<nav epub:type="toc"><h1>{title}</h1><ol>{"".join(nav)}</ol>'
            "</nav></body></html>\n")
        put("OEBPS/toc.ncx",
            '<?xml version="1.0" encoding="UTF-8"?>\n<ncx xmlns="http://www.'
            'daisy.org/z3986/2005/ncx/" version="2005-1"><head><meta name='
            f'"dtb:uid" content="{uid}"/></head><docTitle><text>{title}'
            f'</text></docTitle><navMap>{"".join(ncx)}</navMap></ncx>\n')
        modified = story.updated_at[:19] + "Z"
        put("OEBPS/content.opf",
            '<?xml version="1.0" encoding="UTF-8"?>\n<package xmlns="http://'
            'www.idpf.org/2007/opf" version="3.0" unique-identifier="uid">'
            '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'<dc:identifier id="uid">{uid}</dc:identifier>'
            f"<dc:title>{title}</dc:title><dc:language>en</dc:language>"
            f'<meta property="dcterms:modified">{modified}</meta></metadata>'
            '<manifest><item id="nav" href="nav.xhtml" media-type="application/'
            'xhtml+xml" properties="nav"/><item id="ncx" href="toc.ncx" '
            'media-type="application/x-dtbncx+xml"/>'
            f'{"".join(manifest)}</manifest><spine toc="ncx">{"".join(spine)}'
            "</spine></package>\n")
    return buf.getvalue()


#: format -> (renderer, mimetype)
FORMATS: Dict[str, Tuple[Callable[[Story], bytes], str]] = {
    "txt": (to_txt, "text/plain; charset=utf-8"),
    "md": (to_md, "text/markdown; charset=utf-8"),
    "html": (to_html, "text/html; charset=utf-8"),
    "json": (to_json, "application/json"),
    "epub": (to_epub, "application/epub+zip"),
}


def export_filename(story: Story, fmt: str) -> str:
    """The name of a story's export: one per story, revision and format."""
    return f"{story.id}-r{story.revision}.{fmt}"


def export(story: Story, fmt: str) -> ExportFile:
    """Render one story; KeyError for an unknown format."""
    render, mimetype = FORMATS[fmt]
    return ExportFile(export_filename(story, fmt), mimetype, render(story))


def export_batch(stories: List[Story], fmt: str,
                 data_of: Optional[Callable[[Story], bytes]] = None
                 ) -> ExportFile:
    """A zip of every story's export plus a manifest.json.

    *data_of* gives a story's export bytes (default: rendered now); the
    batch job passes the files its per-story jobs wrote, which are the
    same bytes, so both zips are equal.
    """
    if data_of is None:
        data_of = lambda story: export(story, fmt).data  # noqa: E731
    key = json.dumps([fmt] + [[s.id, s.revision, s.updated_at]
                              for s in stories]).encode()
    name = f"batch-{hashlib.sha256(key).hexdigest()[:12]}-{fmt}.zip"
    latest = max((s.updated_at for s in stories), default="1980-01-01")
    when = _zip_time(latest)
    buf = io.BytesIO()
    manifest = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for story in stories:
            f = ExportFile(export_filename(story, fmt), FORMATS[fmt][1],
                           data_of(story))
            info = zipfile.ZipInfo(f.filename, date_time=when)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, f.data)
            manifest.append({"story_id": story.id, "title": story.title,
                             "file": f.filename, "sha256": f.sha256,
                             "word_count": story.word_count})
        info = zipfile.ZipInfo("manifest.json", date_time=when)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        z.writestr(info, json.dumps({"format": fmt, "stories": manifest},
                                    indent=2, sort_keys=True) + "\n")
    return ExportFile(name, "application/zip", buf.getvalue())
