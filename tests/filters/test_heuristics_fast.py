"""The language check's fast path (plainly English prose skips lingua) keeps every verdict the same."""

import json
from pathlib import Path

import pyarrow as pa
import pytest

from filters.heuristics import HeuristicsConfig, heuristic_verdicts, plainly_english, prose_for_language_id

DATA = Path(__file__).resolve().parents[2] / "data" / "quality"

FRENCH = (
    "La photosynthèse est le processus par lequel les plantes vertes transforment la lumière du soleil en "
    "énergie chimique. Elles absorbent le dioxyde de carbone et rejettent de l'oxygène dans l'atmosphère. "
)
MIXED = [
    ("Explain photosynthesis.", "Here is the answer that you asked for, with the details. " + FRENCH * 6),
    ("Explain photosynthesis.", FRENCH * 3 + " And that is how the plants of the world make their food."),
    ("Translate into German: the cat sits on the mat.", "Die Katze sitzt auf der Matte, und das ist alles."),
    ("What is the capital of Spain?", "La capital de España es Madrid, que es también la ciudad más grande."),
    ("Write about the sea.", "De zee is groot en het water is koud; the waves that come and go are what we love."),
    ("Summarize this.", "To jest bardzo dobry tekst i to jest wszystko, co mogę o tym powiedzieć dzisiaj."),
]


def rows() -> pa.Table:
    records = [json.loads(line) for name in ("labeled.jsonl", "holdout.jsonl") for line in (DATA / name).open()]
    pairs = [(r["instruction"], r["response"]) for r in records] + MIXED
    return pa.table({"instruction": [p[0] for p in pairs], "response": [p[1] for p in pairs]})


@pytest.mark.parametrize("candidates", ["common", "small"])
def test_fast_path_verdicts_equal_lingua_on_every_text(candidates):
    extra = {} if candidates == "common" else {"language_candidates": ("en", "de", "fr", "es")}
    cfg = HeuristicsConfig(language_parallel=False, **extra)
    table = rows()
    assert heuristic_verdicts(table, cfg, fast=True) == heuristic_verdicts(table, cfg, fast=False)


def test_fast_path_is_taken_for_most_english_responses():
    texts = rows().column("response").to_pylist()
    plain = [plainly_english(prose_for_language_id(t, 500)) for t in texts]
    assert sum(plain) >= 0.35 * len(texts)
    foreign = [MIXED[2][1], MIXED[3][1], MIXED[5][1], "Het is in de stad en het water is koud of warm."]
    assert not any(plainly_english(prose_for_language_id(r, 500)) for r in foreign)


def test_plainly_english_needs_ascii_words_and_function_words():
    assert plainly_english("The cat and the dog were there with their owners when they came into the room.")
    assert not plainly_english("The café and the naïve dog were there with their owners when they came in.")
    assert not plainly_english("the and")  # too few words
    assert not plainly_english("Photosynthesis converts light energy into chemical energy stored glucose molecules.")
