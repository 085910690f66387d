"""split_rows: kept rows in order whether they come back as the input itself, zero-copy slices (a
few rejects) or a filtered copy (many), and one reject per dropped row."""

import pyarrow as pa
import pytest

from filters import base
from filters.base import split_rows


@pytest.mark.parametrize("rejected", [[], [0], [9], [3, 4, 7], list(range(10))])
@pytest.mark.parametrize("few", [256, 1])
def test_kept_rows_and_rejects_match_the_verdicts(monkeypatch, rejected, few):
    monkeypatch.setattr(base, "FEW_REJECTS", few)  # 1: the filter path even for these small cases
    table = pa.table({"id": [str(i) for i in range(10)], "response": [f"r{i}" for i in range(10)]})
    verdicts = [("bad", "why") if i in rejected else None for i in range(10)]
    result = split_rows(table, "s", verdicts)
    assert result.rows.column("id").to_pylist() == [str(i) for i in range(10) if i not in rejected]
    assert result.rejects.column("raw_text").to_pylist() == [f"r{i}" for i in rejected]
    assert (result.stats.rows_in, result.stats.rows_out, result.stats.rejected) == (
        10,
        10 - len(rejected),
        len(rejected),
    )
