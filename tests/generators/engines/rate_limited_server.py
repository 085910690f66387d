"""A small OpenAI-compatible server on a real loopback socket that enforces a rate limit the way a
hosted API does: a token bucket of `rate` requests/s (burst `burst`), 429 with Retry-After when it is
empty, and `latency` seconds of work per answered request. It counts what it answered per request
(the prompt is the request's id), so a test can check every request was answered exactly once."""

from __future__ import annotations

import email.utils
import http.server
import json
import math
import threading
import time
from collections import Counter
from typing import Any


class RateLimitedServer:
    def __init__(self, rate: float, burst: int, latency: float = 0.05, retry_after: str = "seconds"):
        self.rate, self.burst, self.latency, self.retry_after = rate, burst, latency, retry_after
        self.tokens = float(burst)
        self.last = time.monotonic()
        self.lock = threading.Lock()
        self.answered: Counter[str] = Counter()
        self.limited: list[float] = []  # when each 429 was sent (monotonic)
        self.ok_times: list[float] = []
        self.slow_first: set[str] = set()  # ids whose first answer stalls past the client's timeout
        self.stalled: Counter[str] = Counter()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/v1"

    def __enter__(self) -> RateLimitedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def take(self) -> float | None:
        """A token (None), or the seconds until the next one."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return None
            self.limited.append(now)
            return (1 - self.tokens) / self.rate

    def header(self, wait: float) -> tuple[str, str] | None:
        if self.retry_after == "none":
            return None
        if self.retry_after == "date":  # HTTP-dates have whole seconds: round up, plus the second we are in
            return "Retry-After", email.utils.formatdate(time.time() + math.ceil(wait) + 1, usegmt=True)
        return "Retry-After", str(max(1, math.ceil(wait)))

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                rid = body.get("prompt") or body["messages"][-1]["content"]
                if rid in server.slow_first and not server.stalled[rid]:
                    server.stalled[rid] += 1
                    time.sleep(3)  # longer than the test client's timeout: it must retry
                    return self._send(200, {"choices": [{"text": "late", "finish_reason": "stop"}]})
                wait = server.take()
                if wait is not None:
                    header = server.header(wait)
                    return self._send(429, {"error": {"message": "rate limited"}}, [header] if header else [])
                time.sleep(server.latency)
                with server.lock:
                    server.answered[rid] += 1
                    server.ok_times.append(time.monotonic())
                usage = {"prompt_tokens": 5, "completion_tokens": 2}
                self._send(200, {"choices": [{"text": f"answer to {rid}", "finish_reason": "stop"}], "usage": usage})

            def _send(self, code: int, data: dict, headers: list[tuple[str, str]] = ()) -> None:  # type: ignore[assignment]
                raw = json.dumps(data).encode()
                try:
                    self.send_response(code)
                    for k, v in headers:
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
