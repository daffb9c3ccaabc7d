"""Assistant text as safe HTML: Markdown rendered, then sanitized, citations as footnote links.

Anything an assistant writes (an LLM, the offline assistant, a staff reply) is untrusted: a
model can be talked into echoing `<script>` or `<img onerror=...>` from a customer's message
or a web page. So the only HTML that reaches the page is what survives `nh3` with a short
allow-list; Markdown's own output goes through the same filter.

Citation markers ("[1]", "[2]") become superscript links to the message's source list
(`#m<message id>-src-<ref>`) — only for refs the message really cites, so a stray "[3]" in
text stays text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import markdown as markdown_lib
import nh3
from django import template
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "b", "i", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h3", "h4", "h5", "h6", "sup", "hr", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
# No `class` or `id`: with them a message could borrow the page's own styles (a fake Confirm
# button, a card) or clobber element ids the page's links and scripts look up.
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "td": {"align"}, "th": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}

# "[1]" not followed by "(" or "[" — those are Markdown links/references, not citations.
_CITATION_MARK = re.compile(r"\[(\d{1,2})\](?![(\[])")
# Bullets people and assistants type: Markdown's own, and the typographic ones Markdown ignores.
_BULLET_LINE = re.compile(r"^(\s*)(?:[-*+•·▪◦‣]|\d{1,3}[.)])\s+")
_TYPOGRAPHIC_BULLET = re.compile(r"^(\s*)[•·▪◦‣]\s+")
_INLINE_BULLETS = re.compile(r"\s+•\s+")
_FENCE = re.compile(r"^\s*(```|~~~)")
# "#W2378156" at the start of a line (or a list item) is an order id, not a heading: Python-Markdown
# takes "#" without a following space as one, and the sanitizer then drops the "#".
_ORDER_HASH = re.compile(r"^(\s*(?:[-*+]\s+)?)#(?=[^\s#])")


def lists_as_markdown(text: str) -> str:
    """Make the lists assistants write render as lists.

    Markdown starts a list only after a blank line and knows only -, * and + as bullets, so
    "Your orders:\n• #W1 …\n• #W2 …" came out as one paragraph with inline bullets. Here "•"-style
    bullets become "-", a blank line opens and closes each list, and a line with two or more
    " • " separators is split into items. Code blocks are left alone.
    """
    lines_out: list[str] = []
    in_fence = False
    previous_was_item = False
    for line in (text or "").split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
            lines_out.append(line)
            previous_was_item = False
            continue
        if in_fence:
            lines_out.append(line)
            continue
        parts = _INLINE_BULLETS.split(line)
        if len(parts) >= 3:
            lead, items = parts[0].strip(), [part.strip() for part in parts[1:] if part.strip()]
            expanded = ([lead] if lead else []) + [f"- {item}" for item in items]
        else:
            expanded = [line]
        for part in expanded:
            is_item = bool(_BULLET_LINE.match(part))
            if is_item:
                part = _TYPOGRAPHIC_BULLET.sub(r"\1- ", part)
                if not previous_was_item and lines_out and lines_out[-1].strip():
                    lines_out.append("")
            elif previous_was_item and part.strip() and not part.startswith((" ", "\t")):
                lines_out.append("")  # text after a list is a new paragraph, not part of the last item
            lines_out.append(_ORDER_HASH.sub(r"\1\\#", part))
            previous_was_item = is_item or (previous_was_item and part.startswith((" ", "\t")) and bool(part.strip()))
    return "\n".join(lines_out)


def sanitize_html(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def _cited_refs(citations: Iterable[Any] | None) -> set[int]:
    refs: set[int] = set()
    for citation in citations or []:
        if isinstance(citation, dict):
            try:
                refs.add(int(citation.get("ref")))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
    return refs


def markdown_to_safe_html(text: str, *, citations: Iterable[Any] | None = None, anchor: str = "") -> SafeString:
    """Render `text` as sanitized HTML; "[n]" for a cited ref n becomes a footnote link."""
    refs = _cited_refs(citations)

    def footnote(match: re.Match[str]) -> str:
        ref = int(match.group(1))
        if ref not in refs or not anchor:
            return match.group(0)
        return f'<sup><a href="#{anchor}-src-{ref}">[{ref}]</a></sup>'

    # Footnotes are inserted before sanitizing so the allow-list vets them like everything else.
    source = _CITATION_MARK.sub(footnote, lists_as_markdown(text or ""))
    html = markdown_lib.markdown(source, extensions=["sane_lists", "tables"], output_format="html")
    return mark_safe(sanitize_html(html))  # noqa: S308 - nh3 output with an allow-list


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """`{{ text|markdown }}`: Markdown → sanitized HTML (no citation links)."""
    return markdown_to_safe_html(text)


@register.simple_tag
def message_html(message: Any, text: str | None = None) -> SafeString:
    """`{% message_html message %}`: an assistant message's text with its citations linked.

    `text` replaces the message's own text (e.g. without what a card beside it already says).
    """
    source = message.text if text is None else text
    return markdown_to_safe_html(source, citations=message.citations, anchor=f"m{message.pk}")


@register.filter
def citation_href(citation: Any) -> str:
    """A citation's link, only if it is a site path or http(s) URL (never `javascript:`)."""
    url = str(citation.get("url", "")) if isinstance(citation, dict) else ""
    if url.startswith("/") and not url.startswith("//"):
        return url
    if url.startswith(("https://", "http://")):
        return url
    return ""
