"""`budget:` and the ledger: a run that reaches its budget publishes what passed as a version with
`stopped: budget`; a rerun with a larger budget publishes the rest as the next version, so the two
together hold exactly the rows (and rejects) one uninterrupted run would. Scripted engine (10 prompt
tokens and one token per word for every completion), shards run one after another in process."""

from __future__ import annotations

import pytest

from flows.catalog import query
from flows.run.config import PipelineConfig
from flows.run.core import PipelineRun
from flows.run.order import run_in_process
from generators.engines.spend import Meter, Metered, Stopped
from schemas.config import Prices, parse_config
from schemas.errors import ConfigError
from tests.flows.run.test_rounds import engine

PRICES = {"prompt_per_mtok": 1.0, "completion_per_mtok": 4.0}


def config(budget: dict | None = None, **extra) -> PipelineConfig:
    data = {
        "dataset": "capped",
        "shard_size": 4,
        "sources": [{"kind": "magpie", "magpie": {"n": 24}}],
        "heuristics": None,
        "engine": {"prices": PRICES},
        "budget": budget,
        **extra,
    }
    return parse_config(PipelineConfig, data, "test")


def run(root, cfg: PipelineConfig, run_id: str = "r"):
    e = engine()
    return run_in_process(PipelineRun(cfg, root, "", run_id, engine_factory=lambda c: e))[0]


def ids(version) -> set[str]:
    return set(version.read().column("id").to_pylist())


def attempts(version) -> int:
    return next(s.rows_in for s in version.manifest().stages if s.name == "magpie")


def test_budget_stops_then_a_larger_budget_publishes_the_rest(tmp_path):
    whole = run(tmp_path / "whole", config())
    cut = run(tmp_path / "d", config({"max_tokens": 300}))
    m = cut.manifest()
    assert m.stopped == "budget" and "max_tokens=300" in m.ledger["stop_detail"]
    assert 0 < attempts(cut) < attempts(whole)  # some shards finished, not all
    assert m.ledger["this_run"]["prompt_tokens"] + m.ledger["this_run"]["completion_tokens"] >= 300
    rest = run(tmp_path / "d", config({"max_tokens": 100_000}), "r2")
    assert rest.manifest().stopped is None and rest.manifest().parent_versions == [cut.ref]
    assert ids(cut).isdisjoint(ids(rest)) and ids(cut) | ids(rest) == ids(whole)
    assert attempts(cut) + attempts(rest) == attempts(whole)  # every attempt once: nothing lost or twice
    rejects = cut.manifest().rejects + rest.manifest().rejects
    assert rejects == whole.manifest().rejects
    again = run(tmp_path / "d", config({"max_tokens": 100_000}), "r3")
    assert again.ref == rest.ref  # the run is complete now: already published


def test_target_rows_counts_the_rows_a_stopped_run_published(tmp_path):
    cfg = config({"max_tokens": 400}, target_rows=6, sources=[{"kind": "magpie", "magpie": {"n": 8}}])
    cut = run(tmp_path, cfg)
    assert cut.manifest().stopped == "budget" and cut.manifest().rows < 6
    rest = run(tmp_path, config(None, target_rows=6, sources=[{"kind": "magpie", "magpie": {"n": 8}}]), "r2")
    assert cut.manifest().rows + rest.manifest().rows == 6 and ids(cut).isdisjoint(ids(rest))


def test_ledger_prices_every_stage_and_the_versions_view_shows_it(tmp_path):
    v = run(tmp_path, config())
    ledger = v.manifest().ledger
    stage = ledger["stages"]["magpie"]
    expected = (stage["prompt_tokens"] * 1.0 + stage["completion_tokens"] * 4.0) / 1e6
    assert ledger["cost_usd"] == pytest.approx(expected) and ledger["per_kept_row"]["cost_usd"] > 0
    assert ledger["this_run"]["usd"] == pytest.approx(expected)
    row = query(tmp_path, "SELECT rows, cost_usd, prompt_tokens, stopped FROM versions").fetchall()[0]
    assert row == (v.manifest().rows, pytest.approx(expected), stage["prompt_tokens"], None)


def test_max_usd_needs_prices_on_every_engine():
    with pytest.raises(ConfigError, match="prices"):
        config({"max_usd": 1.0}, engine={})
    with pytest.raises(ConfigError, match=r"judge\.engine"):
        config({"max_usd": 1.0}, judge={"engine": {"backend": "openai", "model": "m"}})


def test_a_batch_that_fails_after_a_stop_is_a_stop_and_before_it_an_error():
    meter = Meter()

    class Dying:  # Ctrl-C reaches vLLM's engine processes too: the batch in flight fails
        stop = False

        def chat(self, *args):
            if self.stop:
                meter.stop("interrupted")
            raise RuntimeError("engine process died")

    dying = Dying()
    metered = Metered(dying, Prices(prompt_per_mtok=1, completion_per_mtok=1), meter)
    convs = [[{"role": "user", "content": "x"}]]
    with pytest.raises(RuntimeError, match="died"):
        metered.chat(convs, [None])
    dying.stop = True
    with pytest.raises(Stopped, match="interrupted"):
        metered.chat(convs, [None])


def test_the_card_says_what_it_cost_and_why_it_stopped(tmp_path):
    cut = run(tmp_path, config({"max_tokens": 300}))
    card = (cut.path / "card" / "README.md").read_text()
    assert "## Cost" in card and "**Stopped: budget**" in card and "max_tokens=300" in card
    assert "| per kept row |" in card and "| magpie |" in card


@pytest.mark.parametrize(
    ("stopped", "strict", "code"),
    [(None, True, None), ("budget", False, None), ("budget", True, 3), ("interrupted", False, 130)],
)
def test_exit_codes_after_a_stop(stopped, strict, code, capsys):
    import typer

    from flows.cli import _exit_if_stopped

    summary = {"stopped": stopped, "versions": ["capped@v1"], "ledger": {"stop_detail": "max_tokens=300 reached"}}
    if code is None:
        _exit_if_stopped(summary, strict)
    else:
        with pytest.raises(typer.Exit) as done:
            _exit_if_stopped(summary, strict)
        assert done.value.exit_code == code
    err = capsys.readouterr().err
    assert ("published what passed as capped@v1" in err) == (stopped is not None)
