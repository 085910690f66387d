"""Semantic dedup benchmark: paraphrased instructions that MinHash misses, and rows/s.

Labeled set (written for this bench, below): 40 pairs of instructions that ask for the same thing in
other words (the second of each pair should be dropped), plus 40 unrelated instructions, 10 of them
"near misses" that share a topic and most words with a pair but ask for something else (reverse a
list / reverse a string): those, and the first of each pair, should be kept. Rows: all firsts, then
the unrelated rows, then all seconds. Recall = dropped seconds / 40; precision = dropped seconds /
all dropped rows. Both filters compare the instruction only (MinHash: DedupConfig defaults otherwise).

Speed: rows/s of the whole stage (embedding + faiss + rejects table) on N rows made by combining the
set's instructions (model load excluded, reported apart), and of the faiss pass alone.

    .venv/bin/python bench/semantic_dedup.py                  # threshold sweep + speed
    .venv/bin/python bench/semantic_dedup.py --rows 5000
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from filters.dedup import Dedup, DedupConfig
from filters.semantic import SemanticDedup, SemanticDedupConfig, load_embedder, nearest_kept

PAIRS = [
    ("How do I reverse a list in Python?", "What's the way to flip the order of a Python list?"),
    ("What is the capital of Australia?", "Which city is Australia's capital?"),
    ("Write a haiku about autumn leaves.", "Compose a short haiku on falling leaves in fall."),
    ("Explain how photosynthesis works.", "Can you describe the process plants use to turn sunlight into food?"),
    ("Give me three tips for better sleep.", "What are a few ways I can sleep better at night?"),
    ("Translate 'good morning' into Spanish.", "How do you say good morning in Spanish?"),
    ("What causes the seasons on Earth?", "Why does Earth have summer and winter?"),
    ("Summarize the plot of Romeo and Juliet.", "Give a brief overview of the story of Romeo and Juliet."),
    ("How can I center a div in CSS?", "What's the best way to put an element in the middle of the page with CSS?"),
    ("Convert 100 degrees Fahrenheit to Celsius.", "What is 100°F in Celsius?"),
    ("Write a SQL query to count rows in a table.", "How do I get the number of rows of a table in SQL?"),
    ("What are the health benefits of green tea?", "Is drinking green tea good for you, and why?"),
    ("Suggest a name for a coffee shop.", "Can you come up with a good name for my new cafe?"),
    ("How do I make a cup of French press coffee?", "Walk me through brewing coffee with a French press."),
    ("Explain the difference between a virus and a bacterium.", "How are viruses different from bacteria?"),
    ("Write a Python function that checks if a number is prime.", "Implement a primality test in Python."),
    ("What is the boiling point of water at sea level?", "At what temperature does water boil at sea level?"),
    ("Give me a recipe for pancakes.", "How do I make pancakes from scratch?"),
    ("Why is the sky blue?", "What makes the sky look blue during the day?"),
    ("How many planets are in the solar system?", "What's the number of planets orbiting our sun?"),
    ("Write a cover letter for a junior developer job.", "Draft a job application letter for an entry-level coder."),
    ("What is machine learning?", "Can you explain what machine learning is in simple terms?"),
    ("How do I remove duplicates from a list in Python?", "What's a way to deduplicate a Python list?"),
    ("Recommend a good book on personal finance.", "Which book should I read to learn about managing my money?"),
    ("What is the Pythagorean theorem?", "Explain the theorem relating the sides of a right triangle."),
    ("How do I change a flat tire?", "What are the steps to replace a punctured car tyre?"),
    ("List the primary colors.", "What are the primary colours?"),
    ("Write a limerick about a cat.", "Compose a funny five-line limerick featuring a cat."),
    ("How can I improve my public speaking?", "Give me advice on becoming a better public speaker."),
    ("What does HTTP stand for?", "What is the full form of the acronym HTTP?"),
    ("Explain recursion to a beginner.", "How would you describe recursion to someone new to programming?"),
    ("What's the difference between weather and climate?", "How does climate differ from weather?"),
    ("How do I read a CSV file with pandas?", "Load a CSV into a pandas DataFrame: how?"),
    ("Who painted the Mona Lisa?", "Which artist created the Mona Lisa?"),
    ("Give me a workout plan for beginners.", "Design a simple exercise routine for someone just starting out."),
    ("How do vaccines work?", "Explain how a vaccine trains the immune system."),
    ("What is the time complexity of binary search?", "How fast is binary search in big-O terms?"),
    ("Write an email asking my manager for a day off.", "Draft a message to my boss requesting one day of leave."),
    ("How do I calculate the area of a circle?", "What's the formula for a circle's area?"),
    ("What are black holes?", "Can you explain what a black hole is?"),
]

NEAR_MISSES = [
    "How do I reverse a string in Python?",
    "What is the capital of Austria?",
    "Write a haiku about spring rain.",
    "Convert 100 degrees Celsius to Fahrenheit.",
    "Write a SQL query to delete rows from a table.",
    "Give me a recipe for waffles.",
    "Write a Python function that checks if a string is a palindrome.",
    "What is the freezing point of water at sea level?",
    "How do I write a CSV file with pandas?",
    "How do I calculate the circumference of a circle?",
]

UNRELATED = [
    "Describe the rules of chess for a new player.",
    "What should I pack for a week-long hiking trip?",
    "Write a short story about a lighthouse keeper.",
    "How does compound interest work?",
    "Explain the causes of the French Revolution.",
    "What is the difference between TCP and UDP?",
    "Plan a three-day itinerary for Kyoto.",
    "How do I train a puppy to sit?",
    "What are the symptoms of dehydration?",
    "Write a product description for noise-cancelling headphones.",
    "How do solar panels generate electricity?",
    "Suggest five icebreaker questions for a team meeting.",
    "What is the role of mitochondria in a cell?",
    "Write a bash script that backs up a folder every night.",
    "Explain the offside rule in football.",
    "How do I negotiate a higher salary?",
    "What were the main achievements of the Roman Empire?",
    "Write a thank-you note to a teacher.",
    "How do I grow tomatoes on a balcony?",
    "Explain what a blockchain is.",
    "What is the plot of the movie Inception?",
    "Compare electric cars and hybrid cars.",
    "How do I set up a Git repository?",
    "What is the meaning of the word 'ephemeral'?",
    "Write a motivational speech for a sports team.",
    "How does the stock market work?",
    "Give me ideas for a child's birthday party.",
    "Explain the greenhouse effect.",
    "How do I knit a scarf?",
    "What are the main differences between Python and JavaScript?",
]


def labeled_table() -> tuple[pa.Table, set[str]]:
    firsts, seconds = [a for a, _ in PAIRS], [b for _, b in PAIRS]
    texts = firsts + NEAR_MISSES + UNRELATED + seconds
    ids = [f"r{i:03d}" for i in range(len(texts))]
    dup_ids = set(ids[len(texts) - len(seconds) :])
    return pa.table({"id": ids, "instruction": texts, "response": [""] * len(texts)}), dup_ids


def scores(dropped: set[str], dup_ids: set[str]) -> tuple[float, float]:
    hit = len(dropped & dup_ids)
    return hit / len(dup_ids), (hit / len(dropped) if dropped else 1.0)


class Cached:
    """Embeds each text once across the threshold sweep."""

    def __init__(self, embedder):
        self.inner, self.name, self.seen = embedder, embedder.name, {}

    def encode(self, texts):
        todo = [t for t in dict.fromkeys(texts) if t not in self.seen]
        if todo:
            self.seen.update(zip(todo, self.inner.encode(todo), strict=True))
        return np.stack([self.seen[t] for t in texts])


def quality(embedder, thresholds: list[float]) -> list[str]:
    embedder = Cached(embedder)
    table, dup_ids = labeled_table()
    out = ["| filter | threshold | recall on paraphrases | precision | near misses dropped |", "|---|---|---|---|---|"]
    near = set(table.column("id").to_pylist()[len(PAIRS) : len(PAIRS) + len(NEAR_MISSES)])
    minhash = Dedup(config=DedupConfig(text_columns=("instruction",)))(table)
    dropped = {row["id"] for row in _rejected_rows(minhash)}
    r, p = scores(dropped, dup_ids)
    out.append(f"| MinHash+rapidfuzz (defaults) | 0.8 | {r:.3f} | {p:.3f} | {len(dropped & near)}/{len(near)} |")
    for t in thresholds:
        res = SemanticDedup(config=SemanticDedupConfig(threshold=t))(table, embedder)
        dropped = {row["id"] for row in _rejected_rows(res)}
        r, p = scores(dropped, dup_ids)
        out.append(f"| semantic (MiniLM) | {t:.2f} | {r:.3f} | {p:.3f} | {len(dropped & near)}/{len(near)} |")
        if t == SemanticDedupConfig().threshold:
            wrong = [(row["instruction"], row["detail"]) for row in _rejected_rows(res) if row["id"] not in dup_ids]
            print(f"wrongly dropped at the default {t}: {wrong}")
    return out


def _rejected_rows(result) -> list[dict]:
    import json

    records, details = result.rejects.column("record").to_pylist(), result.rejects.column("detail").to_pylist()
    return [{**json.loads(rec), "detail": d} for rec, d in zip(records, details, strict=True)]


def speed(embedder, n: int) -> list[str]:
    table, _ = labeled_table()
    base = table.column("instruction").to_pylist()
    rng = random.Random(0)
    texts = [f"{rng.choice(base)} {rng.choice(base)}" for _ in range(n)]
    big = pa.table({"id": [f"s{i}" for i in range(n)], "instruction": texts, "response": [""] * n})
    t0 = time.perf_counter()
    SemanticDedup()(big, embedder)
    stage = time.perf_counter() - t0
    t0 = time.perf_counter()
    vecs = embedder.encode(texts)
    embed = time.perf_counter() - t0
    t0 = time.perf_counter()
    nearest_kept(vecs, np.ones(n, bool), None, 0.85)
    knn = time.perf_counter() - t0
    return [f"| {n} | {n / stage:.0f} | {n / embed:.0f} | {n / knn:.0f} |"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--thresholds", default="0.95,0.92,0.90,0.88,0.85,0.82,0.80,0.75,0.70")
    args = ap.parse_args()
    t0 = time.perf_counter()
    embedder = load_embedder()
    print(f"model load: {time.perf_counter() - t0:.1f} s")
    print("\n".join(quality(embedder, [float(x) for x in args.thresholds.split(",")])))
    print("\n| rows | stage rows/s | embedding alone rows/s | nearest-kept pass alone rows/s |\n|---|---|---|---|")
    print("\n".join(speed(embedder, args.rows)))


if __name__ == "__main__":
    main()
