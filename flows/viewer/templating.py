"""Jinja templates (package data under templates/, autoescaped) and the URL helpers they use."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from flows.store import parse_ref
from flows.viewer.queries import PAGE_SIZE, RowQuery
from flows.viewer.render import cell, full, markdown, usd
from schemas.errors import DatasetError


def version_url(name: str, number: int, suffix: str = "") -> str:
    return f"/d/{quote(name)}/v/{int(number)}{suffix}"


def row_url(name: str, number: int, row_id: Any) -> str:
    return version_url(name, number, f"/rows/{quote(str(row_id), safe='')}")


def lineage_url(row_id: Any, origin: str) -> str:
    return f"/lineage/{quote(str(row_id), safe='')}?{urlencode({'from': origin})}"


def ref_url(ref: Any) -> str | None:
    """The page of a 'NAME@vN' reference, or None when it is not one."""
    try:
        name, number = parse_ref(str(ref))
    except DatasetError:
        return None
    return version_url(name, number) if number is not None else f"/d/{quote(name)}"


def next_dir(sort: str, query: RowQuery) -> str:
    """The direction a sort link asks for: the other one when it is the current sort; numbers start high."""
    if sort == query.sort:
        return "asc" if query.desc else "desc"
    return "asc" if sort in ("id", "source") else "desc"


def with_params(request: Request, **changes: Any) -> str:
    """This page's URL with some query parameters changed (None drops one)."""
    query = dict(request.query_params)
    query.update({k: str(v) for k, v in changes.items() if v is not None})
    for key in [k for k, v in changes.items() if v is None]:
        query.pop(key, None)
    return f"{request.url.path}?{urlencode(query)}"


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("flows.viewer", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(markdown=markdown, cell=cell, full=full, usd=usd)
    env.globals.update(
        version_url=version_url,
        row_url=row_url,
        lineage_url=lineage_url,
        ref_url=ref_url,
        with_params=with_params,
        next_dir=next_dir,
        page_size=PAGE_SIZE,
    )
    return env


ENV = environment()


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = ENV.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status_code)
