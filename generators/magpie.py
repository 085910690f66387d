"""Magpie self-prompting (arXiv 2406.08464).

An aligned chat model is given only its pre-query template (its chat template up to where a user
message starts) as a raw completion; what it writes is a user instruction. That instruction then
goes through the chat template for the response. Multi-turn repeats this on the conversation.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa

from generators.chat_template import check_pre_query_template, end_of_user_turn, pre_query_prefix
from schemas.config import Frozen, MagpieConfig, SamplingConfig
from schemas.engine import ChatMessages, Completion, Engine
from schemas.result import Attempt, Reject, SftCollector, StageResult, check_generated
from schemas.rows import SFT_SCHEMA, text_hash
from schemas.stage import StageContext, context, derive_seed, lineage, system_turn

GENERATOR_VERSION = "1"

_QUESTION_WORDS = (
    "what why how when where who whom whose which can could would should is are do does did will may might shall"
)
_IMPERATIVES = (
    "write explain describe list give tell create generate make help summarize summarise translate compare "
    "provide suggest find calculate compute solve show design draft plan outline recommend analyze analyse "
    "define discuss classify identify rewrite edit convert develop build implement name propose imagine "
    "compose brainstorm evaluate prove derive estimate determine please consider assume let's i i'm i'd "
    "i've my we we're our hi hello hey"
)
_OPENERS = frozenset((_QUESTION_WORDS + " " + _IMPERATIVES).split())
_FIRST_WORD = re.compile(r"[A-Za-z']+")


def looks_like_request(text: str) -> bool:
    """A question or a request: has a '?', or opens like one ('Write…', 'How…', 'I need…')."""
    if "?" in text:
        return True
    m = _FIRST_WORD.search(text)
    return bool(m) and m.group(0).lower() in _OPENERS


@dataclass
class _Conversation(Attempt):
    index: int
    seed: int
    messages: list[dict[str, str]]  # without the system message


def seeds_table(seed: int, n: int) -> pa.Table:
    """Magpie's input: one row per conversation, conversation i seeded `seed + i`."""
    return pa.table({"seed": pa.array(range(seed, seed + n), pa.int64())})


class Magpie(Frozen):
    """The Magpie stage: `run(seeds_table(...), ctx) -> StageResult` (schemas/stage.py);
    `Magpie(config=...)(engine, run_id)` runs it on `config.n` conversations from `config.seed`."""

    version: ClassVar[str] = GENERATOR_VERSION
    inputs: ClassVar[tuple[str, ...]] = ("seed",)
    outputs: ClassVar[tuple[str, ...]] = tuple(SFT_SCHEMA.names)
    config: MagpieConfig = MagpieConfig()

    # -- pure pieces -------------------------------------------------------------------------
    def system(self) -> list[dict[str, str]]:
        return system_turn(self.config.system_prompt)

    def format_input(self, engine: Engine, history: ChatMessages) -> str:
        """The raw prompt that makes the model write the next user turn."""
        return pre_query_prefix(engine.render_chat, history, self.config.system_prompt)

    def parse_instruction(self, c: Completion, special_tokens: tuple[str, ...]) -> str | Reject:
        text = check_generated(c.text.strip(), c, "instruction", self.config.instruction.max_tokens, special_tokens)
        if isinstance(text, Reject):
            return text
        if text.endswith(":"):
            return Reject("instruction_ends_with_colon", "ends with ':' (an unfinished prompt)", c.text)
        words = len(text.split())
        if words < self.config.min_instruction_words:
            return Reject("instruction_too_short", f"{words} words < {self.config.min_instruction_words}", c.text)
        if not looks_like_request(text):
            return Reject("instruction_not_a_request", "neither a question nor a request", c.text)
        return text

    def parse_response(self, c: Completion, special_tokens: tuple[str, ...]) -> str | Reject:
        return check_generated(c.text.strip(), c, "response", self.config.response.max_tokens, special_tokens)

    def instruction_params(self, conv: _Conversation, turn: int, stop: str) -> SamplingConfig:
        p = self.config.instruction
        seed = derive_seed(conv.seed, turn)
        return p.model_copy(update={"seed": seed, "stop": tuple(dict.fromkeys((*p.stop, stop)))})

    def sampling_json(self) -> str:
        return json.dumps(
            {"instruction": self.config.instruction.model_dump(), "response": self.config.response.model_dump()},
            sort_keys=True,
        )

    # -- the run -------------------------------------------------------------------------------
    def __call__(self, engine: Engine, run_id: str) -> StageResult:
        """`config.n` conversations from `config.seed`: `run` under the name "magpie"."""
        return self.run(seeds_table(self.config.seed, self.config.n), context("magpie", engine, run_id))

    def run(self, rows: pa.Table, ctx: StageContext) -> StageResult:
        """One conversation per input row, seeded by its `seed` column; no model is loaded for none."""
        if "seed" not in rows.column_names:
            raise ValueError(f"{ctx.name}: Magpie's input needs a `seed` column (has {rows.column_names})")
        seeds = [int(s) for s in rows.column("seed").to_pylist()]
        if not seeds:
            return SftCollector(ctx.name).result(0, 0, 0, 0.0)
        engine = ctx.engine()
        started = time.perf_counter()
        convs = self._conversations(engine, seeds)
        return self._result(engine, convs, ctx.run_id, ctx.name, time.perf_counter() - started)

    def _conversations(self, engine: Engine, seeds: list[int]) -> list[_Conversation]:
        check_pre_query_template(engine.render_chat, engine.model_id, self.config.system_prompt)
        special = engine.special_tokens()
        stop = end_of_user_turn(engine.render_chat)
        convs = [_Conversation(i, seed, []) for i, seed in enumerate(seeds)]
        for turn in range(self.config.turns):
            live = [c for c in convs if c.reject is None]
            if not live:
                break
            self._instruction_turn(engine, live, turn, stop, special)
            live = [c for c in live if c.reject is None]
            self._response_turn(engine, live, turn, special)
        return convs

    def _instruction_turn(
        self, engine: Engine, live: list[_Conversation], turn: int, stop: str, special: tuple[str, ...]
    ) -> None:
        prompts = [self.format_input(engine, c.messages) for c in live]
        params = [self.instruction_params(c, turn, stop) for c in live]
        for conv, out in zip(live, engine.complete(prompts, params), strict=True):
            conv.add_usage(out)
            parsed = self.parse_instruction(out, special)
            if isinstance(parsed, Reject):
                conv.reject = parsed.at_turn(turn)
            else:
                conv.messages.append({"role": "user", "content": parsed})

    def _response_turn(self, engine: Engine, live: list[_Conversation], turn: int, special: tuple[str, ...]) -> None:
        chats = [[*self.system(), *c.messages] for c in live]
        params = [self.config.response] * len(live)
        for conv, out in zip(live, engine.chat(chats, params), strict=True):
            conv.add_usage(out)
            parsed = self.parse_response(out, special)
            if isinstance(parsed, Reject):
                conv.reject = parsed.at_turn(turn)
            else:
                conv.messages.append({"role": "assistant", "content": parsed})

    def _result(
        self, engine: Engine, convs: list[_Conversation], run_id: str, name: str, seconds: float
    ) -> StageResult:
        prefix = pre_query_prefix(engine.render_chat, (), self.config.system_prompt)
        base = lineage(
            source_kind="magpie",
            generator="magpie",
            generator_version=GENERATOR_VERSION,
            model_id=engine.model_id,
            template_name="magpie/pre_query",
            template_hash=text_hash(prefix),
            sampling=self.sampling_json(),
            run_id=run_id,
        )
        out = SftCollector(name)
        for c in convs:
            messages = [*self.system(), *c.messages]
            out.add(messages, c.reject, c.seed, base, (c.prompt_tokens, c.completion_tokens))
        return out.result(
            len(convs), sum(c.prompt_tokens for c in convs), sum(c.completion_tokens for c in convs), seconds
        )
