"""Junk detectors beyond length and phrase lists: each takes plain strings and returns a reason's
detail (a short string saying what was found) or None. `filters.heuristics` wires them into the
heuristics stage, one reject reason each; `bench/quality.py` measures them on a labeled set."""
