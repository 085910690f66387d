"""The OpenAI-compatible backend against vLLM's real OpenAI server on loopback (the session's
`vllm_server`); a whole `synthloom run` against it is in tests/flows/test_served_run.py."""

import pytest

from generators.engines.openai_compat import OpenAICompatEngine
from generators.magpie import Magpie
from schemas.config import EngineConfig, MagpieConfig, OpenAIOptions, SamplingConfig
from tests.vllm_server import SERVED

pytestmark = pytest.mark.integration


def make(url: str, embedded_dir) -> OpenAICompatEngine:
    """A fresh engine (not the process-wide shared one), so each test sees its own figures."""
    opts = OpenAIOptions(base_url=url, tokenizer=str(embedded_dir), max_concurrency=4, max_retries=1, backoff_s=0.1)
    return OpenAICompatEngine(EngineConfig(backend="openai", model=SERVED, openai=opts, show_progress=False))


def test_completion_and_chat(vllm_server, embedded_dir):
    engine = make(vllm_server.url, embedded_dir)
    outs = engine.complete(["The capital of France is"] * 3, [SamplingConfig(temperature=0.0, max_tokens=8)] * 3)
    assert len(outs) == 3 and outs[0].completion_tokens > 0 and outs[0].prompt_tokens > 0
    assert outs[0].text == outs[1].text  # greedy
    (chat,) = engine.chat([[{"role": "user", "content": "Say hi."}]], [SamplingConfig(temperature=0, max_tokens=16)])
    assert chat.text and chat.completion_tokens > 0


def test_json_schema_as_response_format(vllm_server, embedded_dir):
    schema = {
        "title": "V",
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
        "additionalProperties": False,
    }
    engine = make(vllm_server.url, embedded_dir)
    (out,) = engine.chat(
        [[{"role": "user", "content": "Is 2+2=4? JSON."}]],
        [SamplingConfig(temperature=0, max_tokens=16)],
        json_schema=schema,
    )
    assert out.text.strip().startswith("{") and '"ok"' in out.text


def test_magpie_over_http(vllm_server, embedded_dir):
    cfg = MagpieConfig(
        n=4, instruction=SamplingConfig(max_tokens=48), response=SamplingConfig(temperature=0, max_tokens=48)
    )
    result = Magpie(config=cfg)(make(vllm_server.url, embedded_dir), "http-run")
    assert result.stats.rows_in == 4 == result.stats.rows_out + result.stats.rejected
    assert result.stats.completion_tokens > 0


def test_chat_logprobs_over_http(vllm_server, embedded_dir):
    """The rubric judge's expected score needs top logprobs per token; the server sends them."""
    (out,) = make(vllm_server.url, embedded_dir).chat(
        [[{"role": "user", "content": "Rate 1-5: is water wet? Answer with one digit."}]],
        [SamplingConfig(temperature=0, max_tokens=4, logprobs=5)],
    )
    assert out.logprobs and len(out.logprobs[0].top) >= 2


def test_tokenizer_loads_once_from_many_threads(embedded_dir):
    """Six shard threads touching the chat template at once in a fresh process (transformers' lazy
    import raced there: ImportError AutoTokenizer); ten fresh processes in a row."""
    import subprocess
    import sys

    code = (
        "import threading\n"
        "from generators.engines.openai_compat import OpenAICompatEngine\n"
        "from schemas.config import EngineConfig, OpenAIOptions\n"
        f"opts = OpenAIOptions(tokenizer={str(embedded_dir)!r})\n"
        "e = OpenAICompatEngine(EngineConfig(backend='openai', model='smol', openai=opts))\n"
        "errs = []\n"
        "def go():\n"
        "    try: e.render_chat([{'role': 'user', 'content': 'x'}], True)\n"
        "    except Exception as err: errs.append(repr(err))\n"
        "ts = [threading.Thread(target=go) for _ in range(8)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
        "assert not errs, errs\n"
    )
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
