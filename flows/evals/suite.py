"""The fixed eval suite shipped with synthloom: flows/evals/suite/<name>_ref.jsonl and <name>_if.jsonl.

- `<name>_ref.jsonl`: {id, kind, instruction, reference} — `ref_nll` scores the reference answer's tokens.
- `<name>_if.jsonl`: {id, prompt, constraints} — `if_pass` generates an answer and checks the constraints.

Written for this project, never used as training input; filters/decontaminate.py indexes both files by
default, so generated rows that copy an item are rejected. The suite hash covers the items used (after
`size`), so results over different subsets never compare as equal.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from flows.eval_config import DEFAULT_SUITE
from flows.evals.checkers import Constraint
from schemas.config import Frozen
from schemas.errors import ConfigError, DatasetError

SUITE_DIR = Path(__file__).parent / "suite"
KINDS = ("coding", "math", "writing", "advice", "facts", "reasoning", "multistep")


class RefItem(Frozen):
    id: str = Field(min_length=1)
    kind: str
    instruction: str = Field(min_length=1)
    reference: str = Field(min_length=1)


class IfItem(Frozen):
    id: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    constraints: list[Constraint] = Field(min_length=1, max_length=3)


@dataclass(frozen=True)
class Suite:
    name: str
    ref: tuple[RefItem, ...]
    instruct: tuple[IfItem, ...]

    @property
    def hash(self) -> str:
        """sha256 (16 hex) of the items used, in order."""
        items = [i.model_dump(mode="json") for i in (*self.ref, *self.instruct)]
        return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()[:16]


def suite_files(name: str = DEFAULT_SUITE) -> tuple[Path, Path]:
    return SUITE_DIR / f"{name}_ref.jsonl", SUITE_DIR / f"{name}_if.jsonl"


def available() -> list[str]:
    return sorted(p.name.removesuffix("_ref.jsonl") for p in SUITE_DIR.glob("*_ref.jsonl"))


def load_suite(name: str = DEFAULT_SUITE, size: int | None = None, with_if: bool = True) -> Suite:
    """The suite's items; `size` keeps the first N of each part, spread over the kinds (tests, smoke runs);
    `with_if=False` leaves out the if_pass part."""
    ref_path, if_path = suite_files(name)
    if not ref_path.is_file() or not if_path.is_file():
        raise ConfigError(f"unknown eval suite {name!r}: suites are {', '.join(available()) or 'none'}")
    ref = [RefItem.model_validate(r) for r in _records(ref_path)]
    instruct = [IfItem.model_validate(r) for r in _records(if_path)] if with_if else []
    if size is not None:
        ref, instruct = _spread(ref, size), instruct[:size]
    return Suite(name, tuple(ref), tuple(instruct))


def _spread(items: list[RefItem], size: int) -> list[RefItem]:
    """The first `size` items taking one of each kind in turn, so a small subset still mixes kinds."""
    by_kind = {k: [i for i in items if i.kind == k] for k in dict.fromkeys(i.kind for i in items)}
    picked: list[RefItem] = []
    for rank in range(max(map(len, by_kind.values()), default=0)):
        picked += [group[rank] for group in by_kind.values() if rank < len(group)]
    return picked[:size]


def _records(path: Path) -> list[dict]:
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise DatasetError(f"eval suite file {path}, line {number}: invalid JSON ({err.msg})") from None
    return records
