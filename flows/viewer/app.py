"""The Starlette app: routes (GET only), the Host-header guard, security headers and error pages."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flows.viewer import pages
from flows.viewer.data import BadRequest, NotFound, ViewerData
from flows.viewer.templating import render
from schemas.errors import SynthloomError

log = logging.getLogger(__name__)
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
     b"base-uri 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]  # fmt: skip


class HostGuard:
    """Refuses (400) any request whose Host header is not one this server was bound as: a web page on another
    site that rebinds its own name to 127.0.0.1 (DNS rebinding) sends its own name, and is refused.
    Adds the security headers to every response."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]):
        self.app, self.allowed = app, frozenset(h.lower() for h in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        hosts = [v.decode("latin-1").lower() for k, v in scope["headers"] if k == b"host"]
        if len(hosts) != 1 or hosts[0] not in self.allowed:
            shown = hosts[0][:100] if hosts else "none"
            allowed = ", ".join(sorted(self.allowed))
            body = f"refused: Host {shown!r} is not this viewer's address (open it as http://{allowed})\n"
            return await Response(body, status_code=400, media_type="text/plain")(scope, receive, send)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def error_page(status: int, title: str):
    def handler(request: Request, exc: Exception) -> Response:
        return render(request, "error.html", status_code=status, title=title, message=str(exc))

    return handler


def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return render(request, "error.html", status_code=status, title=f"HTTP {status}", message=str(exc.detail))


def server_error(request: Request, exc: Exception) -> Response:
    log.error("viewer: %s on %s", type(exc).__name__, request.url.path, exc_info=exc)
    return render(request, "error.html", status_code=500, title="Internal error", message=type(exc).__name__)


ROUTES = [
    Route("/", pages.index),
    Route("/d/{name}", pages.dataset_page),
    Route("/d/{name}/v/{number:int}", pages.version_page),
    Route("/d/{name}/v/{number:int}/rows/{row_id:path}", pages.row_page),
    Route("/d/{name}/v/{number:int}/rejects", pages.rejects_page),
    Route("/d/{name}/v/{number:int}/card", pages.card_page),
    Route("/d/{name}/v/{number:int}/card/{file}", pages.card_file),
    Route("/d/{name}/v/{number:int}/manifest", pages.manifest_page),
    Route("/lineage/{row_id:path}", pages.lineage_page),
    Route("/diff", pages.diff_page),
    Route("/views/{view}", pages.table_page),
    Mount("/static", StaticFiles(packages=[("flows.viewer", "static")]), name="static"),
]


def create_app(root: Path | str, allowed_hosts: Iterable[str]) -> Starlette:
    """The viewer over the store at `root` (data/datasets), answering only to `allowed_hosts` ('HOST:PORT')."""
    app = Starlette(
        routes=ROUTES,
        middleware=[Middleware(HostGuard, allowed=list(allowed_hosts))],
        exception_handlers={
            NotFound: error_page(404, "Not found"),
            BadRequest: error_page(400, "Bad request"),
            SynthloomError: error_page(500, "The store could not be read"),
            HTTPException: http_error,
            Exception: server_error,
        },
    )
    app.state.data = ViewerData(root)
    return app
