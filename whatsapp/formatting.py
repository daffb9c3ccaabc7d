"""Assistant Markdown → WhatsApp text: its own emphasis marks, plain links, split to fit.

WhatsApp renders *bold*, _italic_, ~strike~ and ```monospace```, and nothing else: no
headings, no [text](url) links. The answer is parsed as CommonMark (markdown-it-py) and
written back with those marks, so a stray asterisk in a product name is not mistaken for
emphasis the way a regular expression would. Links become "text (url)"; relative URLs (the
help-center citations) are made absolute with SITE_URL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from markdown_it import MarkdownIt
from markdown_it.token import Token

# A text message body may be at most 4096 characters; an interactive message body 1024.
TEXT_LIMIT = 4096
INTERACTIVE_BODY_LIMIT = 1024
BUTTON_TITLE_LIMIT = 20

_parser = MarkdownIt("commonmark").enable("strikethrough")
_INLINE_MARKS = {
    "strong_open": "*",
    "strong_close": "*",
    "em_open": "_",
    "em_close": "_",
    "s_open": "~",
    "s_close": "~",
}


def absolute_url(url: str) -> str:
    return settings.SITE_URL + url if url.startswith("/") else url


def markdown_to_whatsapp(markdown: str) -> str:
    """The answer in WhatsApp's formatting (see the module docstring)."""
    lines: list[str] = []
    lists: list[int | None] = []  # None for a bullet list, else the next number
    prefix = ""
    heading = False
    quote = 0
    for token in _parser.parse(markdown or ""):
        kind = token.type
        if kind == "bullet_list_open":
            lists.append(None)
        elif kind == "ordered_list_open":
            lists.append(int(token.attrGet("start") or 1))
        elif kind in {"bullet_list_close", "ordered_list_close"}:
            lists.pop()
            if not lists:
                lines.append("")
        elif kind == "list_item_open":
            indent = "  " * (len(lists) - 1)
            number = lists[-1]
            if number is None:
                prefix = f"{indent}- "
            else:
                prefix = f"{indent}{number}. "
                lists[-1] = number + 1
        elif kind == "heading_open":
            heading = True
        elif kind == "heading_close":
            heading = False
            lines.append("")
        elif kind == "blockquote_open":
            quote += 1
        elif kind == "blockquote_close":
            quote -= 1
        elif kind == "inline":
            text = _inline(token.children or [])
            if heading and text:
                text = f"*{text.strip('*')}*"
            if quote:
                text = "\n".join("> " + line for line in text.split("\n"))
            lines.append(prefix + text)
            prefix = ""
        elif kind == "paragraph_close" and not token.hidden:
            lines.append("")
        elif kind in {"fence", "code_block"}:
            lines.append("```\n" + token.content.rstrip("\n") + "\n```")
            lines.append("")
        elif kind == "hr":
            lines.extend(["———", ""])
        elif kind == "html_block":
            lines.append(token.content.strip())
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _inline(children: Sequence[Token]) -> str:
    out: list[str] = []
    links: list[tuple[str, int]] = []  # (href, position of the link text in `out`)
    for child in children:
        kind = child.type
        if kind in _INLINE_MARKS:
            out.append(_INLINE_MARKS[kind])
        elif kind == "text":
            out.append(child.content)
        elif kind == "code_inline":
            out.append(f"```{child.content}```")
        elif kind in {"softbreak", "hardbreak"}:
            out.append("\n")
        elif kind == "link_open":
            links.append((str(child.attrGet("href") or ""), len(out)))
        elif kind == "link_close" and links:
            href, start = links.pop()
            label = "".join(out[start:]).strip()
            url = absolute_url(href)
            # An autolink or a link whose text is its URL is shown once.
            if url and label not in {href, url, href.removeprefix("mailto:")}:
                out.append(f" ({url})")
        elif kind == "image":
            alt = child.content or "image"
            out.append(f"{alt} ({absolute_url(str(child.attrGet('src') or ''))})")
        elif kind == "html_inline":
            out.append(child.content)
    return "".join(out)


def citations_block(citations: Sequence[dict[str, Any]]) -> str:
    """The sources an answer cites as [1], [2], as plain links WhatsApp makes tappable."""
    lines = []
    for index, citation in enumerate(citations, start=1):
        ref = citation.get("ref", index)
        title = str(citation.get("title") or "Help center")
        heading = str(citation.get("heading") or "")
        label = f"{title} — {heading}" if heading and heading != title else title
        url = absolute_url(str(citation.get("url") or ""))
        lines.append(f"[{ref}] {label}" + (f": {url}" if url else ""))
    return "Sources:\n" + "\n".join(lines) if lines else ""


def answer_to_whatsapp(text: str, citations: Sequence[dict[str, Any]] = ()) -> str:
    body = markdown_to_whatsapp(text)
    sources = citations_block(citations)
    return f"{body}\n\n{sources}" if sources and body else (body or sources)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """`text` in parts of at most `limit` characters, cut at a paragraph, line or word."""
    parts: list[str] = []
    text = text.strip()
    while len(text) > limit:
        cut = -1
        for separator in ("\n\n", "\n", " "):
            cut = text.rfind(separator, 0, limit + 1)
            # Cutting very early would leave a stub of a part; try a finer separator.
            if cut >= limit // 2:
                break
        if cut < limit // 2:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


def button_title(title: str) -> str:
    title = " ".join(title.split())
    return title if len(title) <= BUTTON_TITLE_LIMIT else title[: BUTTON_TITLE_LIMIT - 1].rstrip() + "…"
