"""From someone else's record to our row: which columns hold the conversation, by well-known names
or an explicit `--map`; every other column kept as it is.

Well-known shapes, first match wins: OpenAI `messages` ([{role, content}]), ShareGPT `conversations`
([{from, value}]), `instruction`/`response`, `prompt`/`completion`, `question`/`answer`,
`input`/`output` (with an optional `instruction` put before the input). A record whose shape gives no
user text and no assistant text is a reject (`no_text`), never a silent drop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from schemas.errors import ConfigError

PAIRS = (("instruction", "response"), ("prompt", "completion"), ("question", "answer"), ("input", "output"))
TARGETS = ("instruction", "response", "messages", "conversations", "system")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


class NoText(ValueError):
    """The record maps to no conversation; the message says why."""


@dataclass(frozen=True)
class Mapping:
    """`explicit`: target -> source column (`--map response=answer,instruction=question`)."""

    explicit: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, spec: str | None) -> Mapping:
        if not spec:
            return cls()
        pairs = []
        for part in spec.split(","):
            target, sep, source = (x.strip() for x in part.partition("="))
            if not sep or not target or not source:
                raise ConfigError(f"--map {spec!r}: each item is TARGET=COLUMN, e.g. response=answer")
            if target not in TARGETS:
                raise ConfigError(f"--map: unknown target {target!r}; one of {', '.join(TARGETS)}")
            pairs.append((target, source))
        return cls(tuple(pairs))

    def used(self, record: dict[str, Any]) -> set[str]:
        """The source columns this mapping reads from `record` (the rest are kept as extra columns)."""
        explicit = dict(self.explicit)
        if explicit:
            return set(explicit.values())
        for key in ("messages", "conversations"):
            if isinstance(record.get(key), list):
                return {key, "system"} & set(record)
        for user, assistant in PAIRS:
            if user in record and assistant in record:
                extra = {"instruction"} if user == "input" and "instruction" in record else set()
                return {user, assistant} | extra
        return set()

    def messages(self, record: dict[str, Any]) -> list[dict[str, str]]:
        """The conversation in OpenAI form; raises NoText when there is none."""
        explicit = dict(self.explicit)
        if explicit:
            return _from_explicit(record, explicit)
        if isinstance(record.get("messages"), list):
            return _checked(_openai(record["messages"]), record.get("system"))
        if isinstance(record.get("conversations"), list):
            return _checked(_sharegpt(record["conversations"]), record.get("system"))
        for user, assistant in PAIRS:
            if user in record and assistant in record:
                prompt = _text(record[user])
                if user == "input" and _text(record.get("instruction")):
                    prompt = f"{_text(record['instruction'])}\n\n{prompt}".strip()
                return _checked([_msg("user", prompt), _msg("assistant", _text(record[assistant]))], None)
        names = ", ".join(sorted(k for k in record if not k.startswith("__"))) or "none"
        raise NoText(f"no known conversation columns (has: {names}); use --map instruction=COL,response=COL")


def _from_explicit(record: dict[str, Any], explicit: dict[str, str]) -> list[dict[str, str]]:
    missing = [c for c in explicit.values() if c not in record]
    if missing:
        raise NoText(f"--map names columns this record lacks: {', '.join(missing)}")
    if "messages" in explicit:
        return _checked(_openai(record[explicit["messages"]]), record.get(explicit.get("system", "")))
    if "conversations" in explicit:
        return _checked(_sharegpt(record[explicit["conversations"]]), record.get(explicit.get("system", "")))
    prompt = _text(record.get(explicit.get("instruction", ""), ""))
    answer = _text(record.get(explicit.get("response", ""), ""))
    return _checked([_msg("user", prompt), _msg("assistant", answer)], record.get(explicit.get("system", "")))


def _openai(turns: Any) -> list[dict[str, str]]:
    return [_msg(str(t.get("role", "")), _text(t.get("content"))) for t in _dicts(turns)]


def _sharegpt(turns: Any) -> list[dict[str, str]]:
    return [_msg(SHAREGPT_ROLES.get(str(t.get("from", "")).lower(), ""), _text(t.get("value"))) for t in _dicts(turns)]


def _dicts(turns: Any) -> list[dict[str, Any]]:
    if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
        raise NoText("the conversation is not a list of turns")
    return turns


def _checked(messages: list[dict[str, str]], system: Any) -> list[dict[str, str]]:
    if _text(system) and not any(m["role"] == "system" for m in messages):
        messages = [_msg("system", _text(system)), *messages]
    unknown = sorted({m["role"] for m in messages} - {"system", "user", "assistant", "tool"})
    if unknown:
        raise NoText(f"turns with unknown roles {unknown}")
    if not any(m["role"] == "user" and m["content"].strip() for m in messages):
        raise NoText("no user turn with text")
    if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        raise NoText("no assistant turn with text")
    return messages


def _msg(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # OpenAI content parts: [{type: text, text: ...}]
        return "".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in value)
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else str(value)


def first_turns(messages: list[dict[str, str]]) -> tuple[str, str]:
    """(first user turn, first assistant turn after it): the row's `instruction` and `response`."""
    user = next(i for i, m in enumerate(messages) if m["role"] == "user")
    answer = next((m["content"] for m in messages[user + 1 :] if m["role"] == "assistant"), "")
    return messages[user]["content"], answer
