"""Bind, print the URL, serve until Ctrl-C (uvicorn over a socket bound here, so port 0 works too)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path

import uvicorn

from flows.viewer.app import create_app
from schemas.errors import SynthloomError


class ViewerError(SynthloomError):
    pass


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def allowed_hosts(host: str, port: int) -> set[str]:
    """The Host headers a browser sends for this address; a loopback address may also be named 'localhost'.
    Bound to every interface (0.0.0.0, ::), the machine's own names and addresses are accepted too."""
    allowed = {f"{url_host(host)}:{port}"}
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return allowed
    if ip.is_loopback or ip.is_unspecified:
        allowed |= {f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"}
    if ip.is_unspecified:
        names = {socket.gethostname(), socket.getfqdn()}
        for name in list(names):
            try:
                names.update(socket.gethostbyname_ex(name)[2])
            except OSError:
                continue
        allowed |= {f"{url_host(n)}:{port}" for n in names}
    return allowed


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise ViewerError(f"cannot listen on {host}:{port} ({err.strerror}): pick another --port or --host") from None
    sock.listen(128)
    return sock


def make_server(root: Path, host: str, port: int) -> tuple[uvicorn.Server, socket.socket, str]:
    """A server for the store at `root`, its bound socket, and its URL (port 0: a free port)."""
    sock = bind(host, port)
    port = sock.getsockname()[1]
    app = create_app(root, allowed_hosts(host, port))
    config = uvicorn.Config(app, log_level="warning", proxy_headers=False, server_header=False, lifespan="off")
    return uvicorn.Server(config), sock, f"http://{url_host(host)}:{port}/"


def serve(root: Path, host: str, port: int, echo: Callable[[str], None] = print) -> None:
    server, sock, url = make_server(root, host, port)
    echo(f"synthloom view: {url} (read-only, data from {root}; Ctrl-C stops it)")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
