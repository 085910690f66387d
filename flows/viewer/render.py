"""Markdown to HTML: model text (raw HTML and images off) and dataset cards (images served by the viewer)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

from markdown_it import MarkdownIt
from markupsafe import Markup

CARD_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\.png")
CELL_CHARS = 200


# CommonMark + tables; HTML in the text is shown as text; images in model text are not loaded (they would leave
# the machine): their markup stays text.
TEXT_MD = MarkdownIt("commonmark", {"html": False}).enable("table").disable("image")
CARD_MD = MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown(text: Any) -> Markup:
    return Markup(TEXT_MD.render("" if text is None else str(text)))  # markdown-it escapes the text itself


def card_html(text: str, base: str) -> Markup:
    """A card README: its PNGs point at `base`/FILE (served by the viewer), its manifest link at the manifest page;
    any other relative link is dropped (the card's folder is not served)."""
    tokens = CARD_MD.parse(text)
    for token in tokens:
        for child in token.children or []:
            if child.type == "image":
                src = str(child.attrGet("src") or "")
                child.attrSet("src", f"{base}/{quote(src)}" if CARD_FILE.fullmatch(src) else "")
            elif child.type == "link_open":
                href = str(child.attrGet("href") or "")
                if href == "../manifest.json":
                    child.attrSet("href", base.rsplit("/", 1)[0] + "/manifest")
                elif not href.startswith(("https://", "http://")):
                    child.attrSet("href", "#")
    return Markup(CARD_MD.renderer.render(tokens, CARD_MD.options, {}))


def cell(value: Any, limit: int = CELL_CHARS) -> str:
    """A value as one short line of text for a table cell."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.3f}"
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def usd(value: Any) -> str:
    """A cost in US dollars; blank when unknown (an engine without prices)."""
    if value is None:
        return ""
    return f"${value:,.2f}" if value >= 10 else f"${value:.4f}"


def full(value: Any) -> str:
    """A value in full: text as is, anything else as indented JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False, indent=2)
