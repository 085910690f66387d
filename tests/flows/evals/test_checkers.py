"""Each if_pass checker passes and fails on hand-written answers."""

import pytest
from pydantic import ValidationError

from flows.evals.checkers import (
    CONSTRAINTS,
    Bullets,
    EndsWith,
    Exclude,
    Include,
    InLanguage,
    JsonKeys,
    Lowercase,
    MaxWords,
    MinWords,
    Paragraphs,
    StartsWith,
    Uppercase,
    count_words,
    passes,
)

CASES = [
    (MaxWords(n=5), "Water evaporates, then rains.", "Water evaporates from the sea and then falls as rain."),
    (MinWords(n=6), "Volcanoes are openings where molten rock escapes.", "Hot rock."),
    (Bullets(n=3), "Benefits:\n- stronger heart\n* better sleep\n• more energy", "- one\n- two\n\n1. three"),
    (Include(words=["Sunday", "sandwiches"]), "Bring sandwiches on sunday!", "Bring sandwiches on Sundays."),
    (Exclude(words=["orange"]), "The sky turns gold and red.", "The sky turns Orange and red."),
    (JsonKeys(keys=["name", "age"]), '```json\n{"name": "Tom", "age": 3}\n```', '{"name": "Tom"} and more'),
    (StartsWith(phrase="The Moon"), "  the moon changes shape.", "Well, the Moon changes shape."),
    (EndsWith(phrase="Good luck!"), "Take breaks often. Good luck!\n", "Good luck! Take breaks often."),
    (Lowercase(), "a quiet morning, with tea.", "A quiet morning, with tea."),
    (Uppercase(), "CAUTION: WET FLOOR 2", "CAUTION: wet floor"),
    (Paragraphs(n=2), "First part.\n\n  \nSecond part.", "One block.\nStill the same block."),
    (InLanguage(code="fr"), "Bonjour, je m'appelle Léa et j'habite à Lyon avec ma famille.", "Hello, my name is Lea."),
]


@pytest.mark.parametrize(("constraint", "good", "bad"), CASES, ids=[c.kind for c, _, _ in CASES])
def test_each_checker_passes_and_fails(constraint, good, bad):
    assert constraint.check(good) is True
    assert constraint.check(bad) is False
    assert constraint.describe().endswith(".")


def test_empty_answers_fail_everything_but_length_caps_do_not_pass_them_either():
    for constraint, _, _ in CASES:
        assert constraint.check("") is False, constraint.kind
    assert JsonKeys(keys=["a"]).check("[1, 2]") is False  # JSON, but not an object


def test_words_and_descriptions():
    assert count_words("Don't stop - it's well-known, 35 km!") == 6
    assert Include(words=["a"]).describe() == 'Use the word "a".'
    assert Exclude(words=["a", "b", "c"]).describe() == 'Do not use the words "a", "b" or "c".'
    assert Include(words=["cat"]).check("concatenate") is False  # whole words only


def test_constraints_parse_from_json_and_reject_unknown_kinds():
    parsed = CONSTRAINTS.validate_python([{"kind": "max_words", "n": 10}, {"kind": "lowercase"}])
    assert [c.kind for c in parsed] == ["max_words", "lowercase"]
    assert passes(parsed, "short and lower") and not passes(parsed, "Short and Upper")
    with pytest.raises(ValidationError):
        CONSTRAINTS.validate_python([{"kind": "rhymes"}])
    with pytest.raises(ValidationError):
        CONSTRAINTS.validate_python([{"kind": "max_words", "n": 10, "extra": 1}])
