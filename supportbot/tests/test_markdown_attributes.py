"""Assistant and staff text may not carry `class` or `id` into the page (chat Markdown)."""

from __future__ import annotations

from chat.templatetags.chat_markdown import markdown_to_safe_html


def test_raw_html_loses_its_class_and_id_attributes():
    html = markdown_to_safe_html(
        '<span class="x" id="y">hi</span> <a class="btn btn-confirm" id="confirm" href="https://example.com">Confirm</a>\n\n'
        '<p class="card" id="m1-src-1">text</p> <sup class="cite">1</sup> <td class="x" align="left">'
    )
    assert "class=" not in html and "id=" not in html
    assert "hi" in html and 'href="https://example.com"' in html and "Confirm" in html


def test_markdown_attribute_syntax_does_not_become_attributes():
    html = markdown_to_safe_html(
        "# Title {: .btn #confirm }\n\n[Confirm](https://example.com){: .btn-primary #x }\n\ntext\n{: #p .q }"
    )
    assert "class=" not in html and "id=" not in html


def test_citation_footnotes_still_link_to_their_source():
    html = markdown_to_safe_html("Returns within 30 days [1].", citations=[{"ref": 1}], anchor="m7")
    assert '<sup><a href="#m7-src-1"' in html
