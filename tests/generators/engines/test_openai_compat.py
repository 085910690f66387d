"""Unit checks against a real (closed or misbehaving) loopback socket; the real vLLM server
end-to-end test is in test_integration."""

import http.server
import socket
import threading

import pytest

from generators.engines.openai_compat import OpenAICompatEngine
from schemas.config import EngineConfig, OpenAIOptions, SamplingConfig
from schemas.errors import EngineUnavailableError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def engine(url: str, **kw) -> OpenAICompatEngine:
    opts = OpenAIOptions(base_url=url, max_retries=2, backoff_s=0.01, timeout_s=5, **kw)
    return OpenAICompatEngine(EngineConfig(backend="openai", model="m", openai=opts, show_progress=False))


def test_dead_server_error_names_the_url():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EngineUnavailableError, match=rf"{url}/completions failed 3 times.*Is it running"):
        engine(url).complete(["hi"], [SamplingConfig()])


class _Flaky(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_POST(self):
        type(self).hits += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).hits % 2:  # every first try fails with 503, the retry succeeds
            self.send_response(503)
            self.end_headers()
            return
        body = (
            b'{"choices":[{"text":" ok","finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}'
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_retries_5xx_with_backoff_then_succeeds():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        e = engine(f"http://127.0.0.1:{server.server_port}/v1", max_concurrency=1)
        outs = e.complete(["a", "b"], [SamplingConfig()] * 2)
    finally:
        server.shutdown()
    assert [o.text for o in outs] == [" ok", " ok"]
    assert outs[0].truncated and outs[0].prompt_tokens == 3
    assert _Flaky.hits == 4


def test_chat_template_needs_a_tokenizer():
    with pytest.raises(EngineUnavailableError, match="engine.openai.tokenizer"):
        engine("http://127.0.0.1:1/v1").render_chat([{"role": "user", "content": "x"}], True)


def test_sampling_body_sends_extensions_only_when_set():
    from generators.engines.openai_compat import _sampling_body

    assert "repetition_penalty" not in _sampling_body(SamplingConfig())
    assert _sampling_body(SamplingConfig(repetition_penalty=1.1, seed=3))["repetition_penalty"] == 1.1
