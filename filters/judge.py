"""LLM judge: rubric scores as schema-checked JSON, and pairwise preference with position swap.

The verdict is a pydantic model; its JSON schema constrains decoding (vLLM structured outputs, or
`response_format` on OpenAI-compatible servers) and validates the text that comes back. Anything
that does not validate — truncated JSON, wrong keys, junk — becomes a reject with its reason and
the raw text; the judge never crashes a run.

Pairwise: both orders (A,B) and (B,A) are judged; only verdicts that agree after the swap are kept,
which removes the position bias small judges have. The result is a DPO-ready table.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, ClassVar, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from filters.base import split_rows
from filters.judge_expected import expected_score
from schemas.config import EngineConfig, Frozen, SamplingConfig
from schemas.engine import NO_ENGINE, Completion, Engine
from schemas.result import Reject, StageResult
from schemas.rows import DPO_SCHEMA, content_id, utc_now
from schemas.stage import StageContext, context
from schemas.templates import PromptTemplate, load_template
from schemas.verdicts import parse_verdict

Difficulty = Literal["very easy", "easy", "medium", "hard", "very hard"]
Category = Literal[
    "information",
    "reasoning",
    "math",
    "coding",
    "writing",
    "editing",
    "brainstorming",
    "advice",
    "role_play",
    "data_analysis",
    "other",
]


class RubricVerdict(BaseModel):
    """Short and enum fields only: small judges loop in long free text until max_tokens cuts them."""

    model_config = ConfigDict(extra="forbid", title="RubricVerdict")
    quality: Literal[1, 2, 3, 4, 5]
    difficulty: Difficulty
    category: Category
    rationale: str = Field(max_length=160)


class PairVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid", title="PairVerdict")
    better: Literal["A", "B", "tie"]


class CalibrationConfig(Frozen):
    """The gate a judge passes before its scores may filter rows (filters/calibration.py)."""

    min_auc: float = Field(0.75, ge=0.5, le=1.0, description="ROC AUC good-vs-bad on the calibration set")
    on_fail: Literal["stop", "keep_unfiltered"] = Field(
        "stop", description="stop: the run ends before generating; keep_unfiltered: scores kept, no threshold"
    )
    calibration_set: str | None = Field(None, description="JSONL of labeled rows; None: the shipped set")


class JudgeConfig(Frozen):
    """The judge's settings. `engine: null` (the default) judges with the pipeline's engine; set it to
    judge with another model (on a GPU machine, a bigger one). Explicit, so a config that went through
    `model_dump` -> `model_validate` (the CLI hands flows a dump) keeps the same engine."""

    engine: EngineConfig | None = Field(None, description="null: the pipeline's engine; else the judge's own")
    rubric_template: str = "judge_rubric"
    pairwise_template: str = "judge_pairwise"
    sampling: SamplingConfig = SamplingConfig(temperature=0.0, max_tokens=160)
    scoring: Literal["expected", "sampled"] = Field(
        "expected", description="judge_score = probability-weighted mean over 1-5 (needs logprobs) or the sampled digit"
    )
    top_logprobs: int = Field(5, ge=5, le=20, description="alternatives per token asked for (expected scoring)")
    calibration: CalibrationConfig = CalibrationConfig()

    def identity(self) -> dict[str, Any]:
        """What decides the verdicts (cache keys): the config with the engine's identity."""
        return {**self.model_dump(mode="json"), "engine": self.engine.identity() if self.engine else None}

    def engine_or(self, pipeline_engine: EngineConfig) -> EngineConfig:
        """The engine this judge runs on: its own when set, else the pipeline's."""
        return self.engine if self.engine is not None else pipeline_engine

    def rubric_sampling(self) -> SamplingConfig:
        if self.scoring == "expected" and self.sampling.logprobs is None:
            return self.sampling.model_copy(update={"logprobs": self.top_logprobs})
        return self.sampling


class RubricJudge(Frozen):
    """Scores each row; adds judge_* columns. `run(rows, ctx) -> StageResult` (or `judge(table, engine)`)."""

    version: ClassVar[str] = "2"  # 2: judge_score column (expected score from logprobs)
    inputs: ClassVar[tuple[str, ...]] = ("instruction", "response")
    outputs: ClassVar[tuple[str, ...]] = (
        "judge_raw",
        "judge_score",
        "judge_quality",
        "judge_difficulty",
        "judge_category",
        "judge_rationale",
        "judge_model",
        "judge_rubric",
        "judge_rubric_hash",
    )
    config: JudgeConfig = JudgeConfig()

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        """The stage contract (schemas/stage.py): `rows` with judge_* columns, unparseable verdicts
        rejected; no model is loaded for an empty shard."""
        engine = ctx.engine() if rows.num_rows else NO_ENGINE
        started = time.perf_counter()
        template = self.template()
        outs, parsed, scores = self.judge_rows(rows.to_pylist(), engine)
        scored = self._scored(rows, outs, parsed, scores, engine.model_id, template)
        verdicts = [(p.reason, p.detail) if isinstance(p, Reject) else None for p in parsed]
        result = split_rows(scored, "judge", verdicts, raw_column="judge_raw", started=started)
        stats = result.stats.model_copy(update=_usage(outs))
        return StageResult(result.rows, result.rejects, stats).named(ctx.name)

    def __call__(self, table: pa.Table, engine: Engine) -> StageResult:
        """`run` under the name "judge"."""
        return self.run(table, context("judge", engine))

    def template(self) -> PromptTemplate:
        return load_template(self.config.rubric_template)

    def format_input(self, row: dict[str, Any], template: PromptTemplate) -> list[dict[str, str]]:
        return [{"role": "user", "content": template.render(instruction=row["instruction"], response=row["response"])}]

    def parse_output(self, c: Completion) -> BaseModel | Reject:
        return parse_verdict(c, RubricVerdict)

    def score(self, verdict: BaseModel, c: Completion) -> float:
        """The expected score where the engine returned logprobs (and the config asks for it), else the
        sampled quality."""
        expected = expected_score(c) if self.config.scoring == "expected" else None
        return float(verdict.quality) if expected is None else expected  # type: ignore[attr-defined]

    def judge_rows(
        self, rows: list[dict[str, Any]], engine: Engine
    ) -> tuple[list[Completion], list[BaseModel | Reject], list[float | None]]:
        """One engine call for every row: (completions, parsed verdicts, scores; None where unparseable)."""
        template = self.template()
        sampling = self.config.rubric_sampling()
        schema = RubricVerdict.model_json_schema()
        outs = engine.chat([self.format_input(r, template) for r in rows], [sampling] * len(rows), json_schema=schema)
        parsed = [self.parse_output(c) for c in outs]
        scores = [None if isinstance(p, Reject) else self.score(p, c) for p, c in zip(parsed, outs, strict=True)]
        return outs, parsed, scores

    @staticmethod
    def _scored(
        table: pa.Table,
        outs: list[Completion],
        parsed: list[BaseModel | Reject],
        scores: list[float | None],
        model_id: str,
        template: PromptTemplate,
    ) -> pa.Table:
        """`table` with the judge_* columns (None where the verdict did not parse)."""
        scored = table.append_column("judge_raw", pa.array([c.text for c in outs], pa.string()))
        scored = scored.append_column("judge_score", pa.array(scores, pa.float64()))
        for name, typ in (
            ("quality", pa.int64()),
            ("difficulty", pa.string()),
            ("category", pa.string()),
            ("rationale", pa.string()),
        ):
            values = [None if isinstance(p, Reject) else getattr(p, name) for p in parsed]
            scored = scored.append_column(f"judge_{name}", pa.array(values, typ))
        for name, value in (
            ("judge_model", model_id),
            ("judge_rubric", template.name),
            ("judge_rubric_hash", template.hash),
        ):
            scored = scored.append_column(name, pa.array([value] * table.num_rows, pa.string()))
        return scored


class PairwiseJudge(Frozen):
    """Rows with a `candidates` list (>= 2 responses): judges candidates 0 and 1 in both orders."""

    version: ClassVar[str] = "1"
    inputs: ClassVar[tuple[str, ...]] = ("instruction", "candidates")
    outputs: ClassVar[tuple[str, ...]] = tuple(DPO_SCHEMA.names)
    replaces_columns: ClassVar[bool] = True  # its kept rows are the DPO pairs, not the rows it read
    config: JudgeConfig = JudgeConfig()

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        """The stage contract: the kept rows are the DPO rows (prompt, chosen, rejected)."""
        dpo, judged = self.judged(rows, ctx)
        return replace(judged, rows=dpo)

    def template(self) -> PromptTemplate:
        return load_template(self.config.pairwise_template)

    def format_input(self, instruction: str, a: str, b: str, template: PromptTemplate) -> list[dict[str, str]]:
        return [{"role": "user", "content": template.render(instruction=instruction, response_a=a, response_b=b)}]

    @staticmethod
    def combine(ab: BaseModel | Reject, ba: BaseModel | Reject) -> int | Reject:
        """Index of the preferred candidate (0 or 1), or why there is none."""
        for order, v in (("A,B", ab), ("B,A", ba)):
            if isinstance(v, Reject):
                return Reject(v.reason, f"order {order}: {v.detail}", v.raw_text)
        a_first, b_first = ab.better, ba.better  # type: ignore[union-attr]
        if a_first == "A" and b_first == "B":
            return 0
        if a_first == "B" and b_first == "A":
            return 1
        return Reject(
            "position_inconsistent" if "tie" not in (a_first, b_first) else "judge_tie",
            f"order A,B said {a_first}; order B,A said {b_first}",
            f"{a_first}|{b_first}",
        )

    def judged(self, rows: pa.Table, ctx: StageContext) -> tuple[pa.Table, StageResult]:
        """(DPO table, StageResult over the input rows: kept = rows that gave a pair), under `ctx.name`;
        `run` is this with the DPO rows as the kept rows. No model is loaded for an empty shard."""
        engine = ctx.engine() if rows.num_rows else NO_ENGINE
        started = time.perf_counter()
        template = self.template()
        records = rows.to_pylist()
        usable = [i for i, r in enumerate(records) if len(r.get("candidates") or []) >= 2]
        convs = [conv for i in usable for conv in self._both_orders(records[i], template)]
        outs = engine.chat(convs, [self.config.sampling] * len(convs), json_schema=PairVerdict.model_json_schema())
        verdicts: list[tuple[str, str] | None] = [("fewer_than_2_candidates", "needs >= 2 candidates")] * len(records)
        dpo: list[dict[str, Any]] = []
        for k, i in enumerate(usable):
            ab, ba = outs[2 * k], outs[2 * k + 1]
            choice = self.combine(parse_verdict(ab, PairVerdict), parse_verdict(ba, PairVerdict))
            if isinstance(choice, Reject):
                verdicts[i] = (choice.reason, choice.detail)
                continue
            verdicts[i] = None
            dpo.append(self._dpo_row(records[i], choice, ab.text, ba.text, engine.model_id, template))
        result = split_rows(rows, "pairwise_judge", verdicts, raw_column=None, started=started)
        judged = StageResult(result.rows, result.rejects, result.stats.model_copy(update=_usage(outs)))
        return pa.Table.from_pylist(dpo, schema=DPO_SCHEMA), judged.named(ctx.name)

    def _both_orders(self, row: dict[str, Any], template: PromptTemplate) -> list[list[dict[str, str]]]:
        """The prompts for candidates 0 and 1 of `row`: (A, B), then swapped (B, A)."""
        c0, c1 = row["candidates"][:2]
        return [
            self.format_input(row["instruction"], c0, c1, template),
            self.format_input(row["instruction"], c1, c0, template),
        ]

    @staticmethod
    def _dpo_row(
        row: dict[str, Any], choice: int, raw_ab: str, raw_ba: str, judge: str, template: PromptTemplate
    ) -> dict[str, Any]:
        chosen, rejected = row["candidates"][choice], row["candidates"][1 - choice]
        return {
            "id": content_id(row["instruction"], chosen, rejected),
            "prompt": row["instruction"],
            "chosen": chosen,
            "rejected": rejected,
            "judge_model": judge,
            "judge_raw": f"{raw_ab}\n{raw_ba}",
            "source_kind": row.get("source_kind", ""),
            "generator": "pairwise_judge",
            "generator_version": "1",
            "model_id": row.get("model_id", ""),
            "template_name": template.name,
            "template_hash": template.hash,
            "sampling": row.get("sampling", ""),
            "seed": row.get("seed", 0),
            "run_id": row.get("run_id", ""),
            "parent_ids": [row.get("id", "")],
            "created_at": utc_now(),
        }


def _usage(outs: list[Completion]) -> dict[str, int]:
    """The tokens a stage's engine calls used, for its stats."""
    return {
        "prompt_tokens": sum(c.prompt_tokens for c in outs),
        "completion_tokens": sum(c.completion_tokens for c in outs),
    }
