"""The OpenAI-compatible backend against vLLM's real OpenAI server on loopback (same venv)."""

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from generators.engines.openai_compat import OpenAICompatEngine
from generators.magpie import Magpie
from schemas.config import EngineConfig, MagpieConfig, OpenAIOptions, SamplingConfig
from schemas.errors import EngineUnavailableError
from tests.generators.engines.test_openai_compat import free_port

pytestmark = pytest.mark.integration
SERVED = "smollm2"


@pytest.fixture(scope="module")
def server(embedded_dir, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(embedded_dir),
        "--served-model-name",
        SERVED,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        "float32",
        "--enforce-eager",
        "--max-model-len",
        "2048",
        "--kv-cache-memory-bytes",
        str(1 << 30),
    ]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 400
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"vLLM server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(2)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"vLLM server did not become healthy:\n{log.read_text()[-3000:]}")
    yield proc, f"{url}/v1"
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def make(url: str, embedded_dir) -> OpenAICompatEngine:
    opts = OpenAIOptions(base_url=url, tokenizer=str(embedded_dir), max_concurrency=4, max_retries=1, backoff_s=0.1)
    return OpenAICompatEngine(EngineConfig(backend="openai", model=SERVED, openai=opts, show_progress=False))


def test_completion_and_chat(server, embedded_dir):
    engine = make(server[1], embedded_dir)
    outs = engine.complete(["The capital of France is"] * 3, [SamplingConfig(temperature=0.0, max_tokens=8)] * 3)
    assert len(outs) == 3 and outs[0].completion_tokens > 0 and outs[0].prompt_tokens > 0
    assert outs[0].text == outs[1].text  # greedy
    (chat,) = engine.chat([[{"role": "user", "content": "Say hi."}]], [SamplingConfig(temperature=0, max_tokens=16)])
    assert chat.text and chat.completion_tokens > 0


def test_json_schema_as_response_format(server, embedded_dir):
    schema = {
        "title": "V",
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
        "additionalProperties": False,
    }
    engine = make(server[1], embedded_dir)
    (out,) = engine.chat(
        [[{"role": "user", "content": "Is 2+2=4? JSON."}]],
        [SamplingConfig(temperature=0, max_tokens=16)],
        json_schema=schema,
    )
    assert out.text.strip().startswith("{") and '"ok"' in out.text


def test_magpie_over_http(server, embedded_dir):
    cfg = MagpieConfig(
        n=4, instruction=SamplingConfig(max_tokens=48), response=SamplingConfig(temperature=0, max_tokens=48)
    )
    result = Magpie(config=cfg)(make(server[1], embedded_dir), "http-run")
    assert result.stats.rows_in == 4 == result.stats.rows_out + result.stats.rejected
    assert result.stats.completion_tokens > 0


def test_server_killed_mid_run_is_a_clear_error(server, embedded_dir):
    proc, url = server
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    with pytest.raises(EngineUnavailableError, match=rf"{url}/completions failed"):
        make(url, embedded_dir).complete(["x"], [SamplingConfig(max_tokens=4)])
