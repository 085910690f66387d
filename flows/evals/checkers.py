"""Instruction-following constraints a program can check (the suite's `if_pass` part).

Each constraint is a small pydantic model with `check(response) -> bool` and `describe() -> str`, the
sentence the suite's prompt uses for it (so the prompt and its checker cannot drift apart). Words are
runs of letters/digits (with inner ' or -); a bullet is a line starting with "- ", "* " or "• ";
paragraphs are separated by blank lines; word matching is case-insensitive and whole-word.

Written for synthloom: lm-eval's IFEval checkers were considered and not used, because importing them
downloads NLTK's punkt tokenizer at run time and pulls in lm-eval's evaluation stack (README).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from schemas.config import Frozen

WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
BULLET = re.compile(r"^\s*[-*•]\s+\S", re.MULTILINE)
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
FENCE = re.compile(r"^```[a-zA-Z]*\s*\n(.*)\n```$", re.DOTALL)
LANGUAGES = {"en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian", "pt": "Portuguese"}


def count_words(text: str) -> int:
    return len(WORD.findall(text))


def _quoted(words: list[str], joiner: str) -> str:
    quoted = [f'"{w}"' for w in words]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} {joiner} {quoted[-1]}"


def _has(text: str, phrase: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text, re.IGNORECASE) is not None


class MaxWords(Frozen):
    kind: Literal["max_words"] = "max_words"
    n: int = Field(ge=1)

    def check(self, response: str) -> bool:
        return 0 < count_words(response) <= self.n

    def describe(self) -> str:
        return f"Answer in at most {self.n} words."


class MinWords(Frozen):
    kind: Literal["min_words"] = "min_words"
    n: int = Field(ge=1)

    def check(self, response: str) -> bool:
        return count_words(response) >= self.n

    def describe(self) -> str:
        return f"Write at least {self.n} words."


class Bullets(Frozen):
    kind: Literal["bullets"] = "bullets"
    n: int = Field(ge=1)

    def check(self, response: str) -> bool:
        return len(BULLET.findall(response)) == self.n

    def describe(self) -> str:
        return f"Use exactly {self.n} bullet points, each on its own line starting with '- '."


class Include(Frozen):
    kind: Literal["include"] = "include"
    words: list[str] = Field(min_length=1)

    def check(self, response: str) -> bool:
        return all(_has(response, w) for w in self.words)

    def describe(self) -> str:
        return f"Use the {'word' if len(self.words) == 1 else 'words'} {_quoted(self.words, 'and')}."


class Exclude(Frozen):
    kind: Literal["exclude"] = "exclude"
    words: list[str] = Field(min_length=1)

    def check(self, response: str) -> bool:
        return bool(response.strip()) and not any(_has(response, w) for w in self.words)

    def describe(self) -> str:
        return f"Do not use the {'word' if len(self.words) == 1 else 'words'} {_quoted(self.words, 'or')}."


class JsonKeys(Frozen):
    kind: Literal["json_keys"] = "json_keys"
    keys: list[str] = Field(min_length=1)

    def check(self, response: str) -> bool:
        text = response.strip()
        fenced = FENCE.match(text)
        try:
            value = json.loads(fenced.group(1) if fenced else text)
        except ValueError:
            return False
        return isinstance(value, dict) and all(k in value for k in self.keys)

    def describe(self) -> str:
        return f"Answer only with a JSON object that has the keys {_quoted(self.keys, 'and')}."


class StartsWith(Frozen):
    kind: Literal["starts_with"] = "starts_with"
    phrase: str = Field(min_length=1)

    def check(self, response: str) -> bool:
        return response.lstrip().lower().startswith(self.phrase.lower())

    def describe(self) -> str:
        return f'Start your answer with "{self.phrase}".'


class EndsWith(Frozen):
    kind: Literal["ends_with"] = "ends_with"
    phrase: str = Field(min_length=1)

    def check(self, response: str) -> bool:
        return response.rstrip().lower().endswith(self.phrase.lower())

    def describe(self) -> str:
        return f'End your answer with the exact phrase "{self.phrase}".'


class Lowercase(Frozen):
    kind: Literal["lowercase"] = "lowercase"

    def check(self, response: str) -> bool:
        return any(c.isalpha() for c in response) and response == response.lower()

    def describe(self) -> str:
        return "Write everything in lowercase letters, with no capitals."


class Uppercase(Frozen):
    kind: Literal["uppercase"] = "uppercase"

    def check(self, response: str) -> bool:
        return any(c.isalpha() for c in response) and response == response.upper()

    def describe(self) -> str:
        return "Write everything in capital letters."


class Paragraphs(Frozen):
    kind: Literal["paragraphs"] = "paragraphs"
    n: int = Field(ge=1)

    def check(self, response: str) -> bool:
        return len([p for p in PARAGRAPH_BREAK.split(response.strip()) if p.strip()]) == self.n

    def describe(self) -> str:
        return f"Write exactly {self.n} paragraphs, separated by a blank line."


class InLanguage(Frozen):
    kind: Literal["language"] = "language"
    code: Literal["en", "fr", "de", "es", "it", "pt"]

    def check(self, response: str) -> bool:
        from filters.heuristics import language_detector

        if count_words(response) == 0:
            return False
        found = language_detector(tuple(LANGUAGES)).detect_language_of(response)
        return found is not None and found.iso_code_639_1.name.lower() == self.code

    def describe(self) -> str:
        return f"Answer only in {LANGUAGES[self.code]}."


Constraint = Annotated[
    MaxWords
    | MinWords
    | Bullets
    | Include
    | Exclude
    | JsonKeys
    | StartsWith
    | EndsWith
    | Lowercase
    | Uppercase
    | Paragraphs
    | InLanguage,
    Field(discriminator="kind"),
]
CONSTRAINTS: TypeAdapter[list[Constraint]] = TypeAdapter(list[Constraint])


def passes(constraints: list[Constraint], response: str) -> bool:
    """The item passes when every one of its constraints holds (IFEval's strict prompt-level accuracy)."""
    return all(c.check(response) for c in constraints)
