"""Markdown → WhatsApp formatting, citations as links, splitting at the length limit."""

from __future__ import annotations

import pytest

from whatsapp.formatting import answer_to_whatsapp, button_title, markdown_to_whatsapp, split_text


@pytest.fixture(autouse=True)
def site(settings):
    settings.SITE_URL = "https://shop.example"


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("**bold** and __bold__", "*bold* and *bold*"),
        ("*italic* and _italic_", "_italic_ and _italic_"),
        ("~~gone~~", "~gone~"),
        ("run `make test`", "run ```make test```"),
        ("```\ncode block\n```", "```\ncode block\n```"),
        ("## Returns\n\nWithin 30 days.", "*Returns*\n\nWithin 30 days."),
        ("- one\n- two", "- one\n- two"),
        ("1. first\n2. second", "1. first\n2. second"),
        ("[our policy](/help/returns#window)", "our policy (https://shop.example/help/returns#window)"),
        ("<https://ups.example/track>", "https://ups.example/track"),
        ("Price: 5 * 3 = 15", "Price: 5 * 3 = 15"),
        ("> quoted", "> quoted"),
    ],
)
def test_markdown_becomes_whatsapp_formatting(markdown, expected):
    assert markdown_to_whatsapp(markdown) == expected


def test_citations_become_plain_links_after_the_answer():
    text = answer_to_whatsapp(
        "You have 30 days [1].",
        [{"ref": 1, "title": "Returns policy", "heading": "Return window", "url": "/help/returns#return-window"}],
    )
    assert (
        text
        == "You have 30 days [1].\n\nSources:\n[1] Returns policy — Return window: https://shop.example/help/returns#return-window"
    )


def test_split_keeps_parts_under_the_limit_and_cuts_at_paragraphs():
    paragraphs = ["a" * 3000, "b" * 3000, "c" * 100]
    parts = split_text("\n\n".join(paragraphs))
    assert parts == ["a" * 3000, "b" * 3000 + "\n\n" + "c" * 100]


def test_split_cuts_an_endless_word_hard():
    parts = split_text("x" * 9000)
    assert [len(part) for part in parts] == [4096, 4096, 808]


def test_button_titles_fit_twenty_characters():
    assert button_title("Confirm") == "Confirm"
    assert len(button_title("A very long quick reply title indeed")) == 20
