"""Turn Markdown, HTML or plain text into sanitized HTML plus heading-delimited sections.

Every format goes through the same path: render to HTML, sanitize with nh3, give each heading
a stable id, then read the sections back out of that HTML. Because the ids the help center
shows and the anchors stored on chunks come from the same HTML, a citation link always lands
on the heading it names.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import markdown
import nh3
import yaml
from django.utils.text import slugify

from supportbot.errors import InvalidInput

FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
HEADING = re.compile(r"<h([1-6])(\s[^>]*)?>(.*?)</h\1>", re.DOTALL | re.IGNORECASE)
TAG = re.compile(r"<[^>]+>")
HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.DOTALL | re.IGNORECASE)
BLOCK_TAGS = {
    "p",
    "li",
    "tr",
    "pre",
    "blockquote",
    "div",
    "table",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "section",
    "article",
    "header",
    "footer",
    "br",
    "hr",
    "figure",
    "figcaption",
}
HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
# What survives sanitizing: nh3's defaults minus anything that could carry script or styling.
CONTENT_CLEAN_TAGS = {"script", "style", "head", "title", "noscript", "template", "iframe", "object"}


@dataclass
class Section:
    """Text under one heading: `path` runs from the document title down to that heading."""

    path: list[str]
    anchor: str
    blocks: list[str] = field(default_factory=list)


@dataclass
class ParsedDocument:
    title: str
    html: str
    sections: list[Section]
    summary: str
    meta: dict[str, str]


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """`---` YAML front matter (title, kind, slug) and the body after it."""
    match = FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        data = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"The front matter is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput("The front matter must be a mapping such as 'title: ...' and 'kind: ...'.")
    return {str(key): str(value) for key, value in data.items() if value is not None}, text[match.end() :]


def sanitize_html(raw_html: str) -> str:
    return nh3.clean(raw_html, clean_content_tags=CONTENT_CLEAN_TAGS)


def markdown_to_html(text: str) -> str:
    return markdown.markdown(text, extensions=["tables", "fenced_code", "sane_lists"], output_format="html")


def text_to_html(text: str) -> str:
    paragraphs = [part.strip() for part in re.split(r"\n\s*\n", text) if part.strip()]
    return "\n".join(f"<p>{html_lib.escape(part)}</p>" for part in paragraphs)


def inner_text(fragment: str) -> str:
    return " ".join(html_lib.unescape(TAG.sub(" ", fragment)).split())


def add_heading_ids(clean_html: str) -> str:
    """Give every heading a unique id derived from its text (the citation anchor)."""
    used: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        level, inner = match.group(1), match.group(3)
        base = slugify(inner_text(inner))[:80] or "section"
        anchor, counter = base, 2
        while anchor in used:
            anchor, counter = f"{base}-{counter}", counter + 1
        used.add(anchor)
        return f'<h{level} id="{anchor}">{inner}</h{level}>'

    return HEADING.sub(replace, clean_html)


class _SectionReader(HTMLParser):
    """Walks sanitized HTML, starting a new section at each heading."""

    def __init__(self, title: str) -> None:
        super().__init__(convert_charrefs=True)
        self.title = title
        self.headings: list[tuple[int, str]] = []
        self.sections: list[Section] = [Section(path=[title], anchor="")]
        self._heading: tuple[int, str] | None = None
        self._heading_text: list[str] = []
        self._buffer: list[str] = []
        self._in_pre = False
        self._bullet_pending = False

    def _flush(self) -> None:
        text = "".join(self._buffer)
        text = text.strip() if self._in_pre else " ".join(text.split())
        if text:
            self.sections[-1].blocks.append(text)
        self._buffer = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in HEADING_TAGS:
            self._flush()
            self._heading = (int(tag[1]), dict(attrs).get("id") or "")
            self._heading_text = []
        elif tag in BLOCK_TAGS:
            self._flush()
            # The bullet is written with the item's first text, which may sit in a nested <p>.
            self._bullet_pending = tag == "li"
            if tag == "pre":
                self._in_pre = True
        elif tag in {"td", "th"} and self._buffer:
            self._buffer.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag in HEADING_TAGS and self._heading is not None:
            level, anchor = self._heading
            text = " ".join("".join(self._heading_text).split())
            self._heading = None
            if not text:
                return
            if level == 1 and text.casefold() == self.title.casefold() and not self.headings:
                # The document's own title repeated as its first heading: not a new section.
                return
            while self.headings and self.headings[-1][0] >= level:
                self.headings.pop()
            self.headings.append((level, text))
            self.sections.append(Section(path=[self.title, *(t for _, t in self.headings)], anchor=anchor))
        elif tag in BLOCK_TAGS:
            self._flush()
            if tag == "pre":
                self._in_pre = False

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading_text.append(data)
        else:
            if self._bullet_pending and data.strip():
                self._buffer.append("- ")
                self._bullet_pending = False
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def read_sections(clean_html: str, *, title: str) -> list[Section]:
    reader = _SectionReader(title)
    reader.feed(clean_html)
    reader.close()
    return [section for section in reader.sections if section.blocks]


def _summary(sections: list[Section]) -> str:
    for section in sections:
        for block in section.blocks:
            if not block.startswith("- ") and len(block) > 20:
                return block if len(block) <= 280 else block[:277].rsplit(" ", 1)[0] + "…"
    return ""


def _drop_title_heading(clean_html: str, title: str) -> str:
    """The page prints the title itself; a leading <h1> repeating it would show it twice."""
    match = HEADING.search(clean_html)
    if match and match.group(1) == "1" and inner_text(match.group(3)).casefold() == title.casefold():
        if not inner_text(clean_html[: match.start()]):
            return clean_html[match.end() :].lstrip()
    return clean_html


def parse_document(text: str, *, source_format: str, title: str = "") -> ParsedDocument:
    """Parse source text. `title` is the fallback when the source names none.

    Raises InvalidInput when the text is empty or has no readable content.
    """
    meta: dict[str, str] = {}
    if source_format == "markdown":
        meta, body = split_front_matter(text)
        raw_html = markdown_to_html(body)
    elif source_format == "html":
        found = HTML_TITLE.search(text)
        if found and inner_text(found.group(1)):
            meta["title"] = inner_text(found.group(1))
        raw_html = text
    elif source_format == "text":
        raw_html = text_to_html(text)
    else:
        raise InvalidInput(f"Unknown source format '{source_format}'; expected markdown, html or text.")
    clean = sanitize_html(raw_html)
    resolved_title = meta.get("title", "").strip()
    if not resolved_title:
        first = HEADING.search(clean)
        resolved_title = inner_text(first.group(3)) if first and first.group(1) == "1" else title.strip()
    if not resolved_title:
        raise InvalidInput("The document has no title: add a title (front matter, <title> or a first # heading).")
    clean = add_heading_ids(_drop_title_heading(clean, resolved_title))
    sections = read_sections(clean, title=resolved_title)
    if not sections:
        raise InvalidInput("The document has no text to index.")
    return ParsedDocument(
        title=resolved_title[:200], html=clean, sections=sections, summary=_summary(sections), meta=meta
    )
