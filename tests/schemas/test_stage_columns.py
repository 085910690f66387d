"""The stage contract's column check (schemas/stage.py): pure, no pipeline."""

from __future__ import annotations

from typing import ClassVar

import pytest

from schemas.errors import ConfigError
from schemas.stage import Columns, check_columns

SOURCE = ("id", "instruction", "response")


def step(name: str, inputs=(), outputs=(), replaces=False) -> Columns:
    return Columns(name, inputs, outputs, replaces)


def test_a_chain_whose_stages_find_their_columns_passes():
    check_columns("magpie", SOURCE, [step("judge", ("response",), ("judge_score",)), step("cut", ("judge_score",))])


def test_a_missing_column_is_one_line_naming_stage_column_and_what_there_is():
    chain = [step("judge", ("response",), ("judge_score", "judge_quality")), step("no_shouting", ("answer",))]
    with pytest.raises(ConfigError) as err:
        check_columns("magpie", SOURCE, chain)
    assert str(err.value) == (
        "stage 'no_shouting' needs column 'answer', which no earlier step makes (source magpie makes: id, "
        "instruction, response; stages before it add: judge_score, judge_quality); rename it or add a stage "
        "that makes it"
    )
    assert "\n" not in str(err.value)


def test_a_stage_that_replaces_the_rows_leaves_only_its_outputs():
    chain = [step("pairwise", ("instruction",), ("prompt", "chosen"), replaces=True), step("heuristics", SOURCE[1:])]
    with pytest.raises(ConfigError, match=r"needs columns 'instruction', 'response'.*\(stage 'pairwise' makes: prompt"):
        check_columns("magpie", SOURCE, chain)


def test_undeclared_stages_are_not_checked_and_hide_what_follows():
    check_columns("magpie", SOURCE, [step("mine", None, ("answer",)), step("theirs", ("answer",))])
    check_columns("magpie", SOURCE, [step("opaque", None, None), step("theirs", ("anything",))])
    with pytest.raises(ConfigError, match="'theirs' needs column 'answer'"):  # declares inputs only: adds nothing
        check_columns("magpie", SOURCE, [Columns.of("filter", Declares()), step("theirs", ("answer",))])


class Declares:
    inputs: ClassVar[tuple[str, ...]] = ("response",)


class DeclaresNothing:
    pass


def test_columns_of_a_stage_reads_its_class_attributes():
    assert Columns.of("a", Declares()) == Columns("a", ("response",), (), False)  # a filter: adds nothing
    assert Columns.of("b", DeclaresNothing()) == Columns("b", None, None, False)
