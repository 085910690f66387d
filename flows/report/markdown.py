"""Markdown tables for the dataset card and its sections."""

from __future__ import annotations

from typing import Any


def cell(value: Any) -> str:
    """A value safe inside a Markdown table cell."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    return " ".join(text.split()) or " "


def table(head: list[str], body: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in body] + [""]
