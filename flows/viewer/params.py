"""Request parameters, checked before any query: anything unexpected is a BadRequest (a 400 page), never SQL."""

from __future__ import annotations

import re
from collections.abc import Mapping

from flows.store import parse_ref
from flows.viewer.data import BadRequest, NotFound
from flows.viewer.queries import FILTERS, SORTS, RowQuery
from schemas.errors import DatasetError

MAX_PAGE = 100_000
MAX_TEXT = 200  # characters of a search or filter value
MAX_WORDS = 8
MAX_VERSION = 2**31 - 1  # the catalog's `version` column is int32
NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


def text(params: Mapping[str, str], key: str) -> str:
    value = params.get(key, "")
    if len(value) > MAX_TEXT:
        raise BadRequest(f"{key} is longer than {MAX_TEXT} characters")
    if "\x00" in value:
        raise BadRequest(f"{key} contains a NUL character")
    return value


def page(params: Mapping[str, str]) -> int:
    value = params.get("page", "1")
    if not (value.isascii() and value.isdigit() and len(value) <= 6 and 1 <= int(value) <= MAX_PAGE):
        raise BadRequest(f"page must be a whole number from 1 to {MAX_PAGE}, not {value[:20]!r}")
    return int(value)


def row_query(params: Mapping[str, str]) -> RowQuery:
    q = text(params, "q")
    if len(q.split()) > MAX_WORDS:
        raise BadRequest(f"search for at most {MAX_WORDS} words at once")
    sort = params.get("sort", "id")
    if sort not in SORTS:
        raise BadRequest(f"sort must be one of {', '.join(SORTS)}, not {sort[:40]!r}")
    direction = params.get("dir", "asc")
    if direction not in ("asc", "desc"):
        raise BadRequest(f"dir must be asc or desc, not {direction[:40]!r}")
    filters = {key: value for key in FILTERS if (value := text(params, key))}
    return RowQuery(q=q, sort=sort, desc=direction == "desc", filters=filters, page=page(params))


def dataset(name: str, known: list[str]) -> str:
    if not NAME.fullmatch(name) or name not in known:
        raise NotFound(f"no dataset named {name[:70]!r}")
    return name


def version(number: int) -> int:
    if not 1 <= number <= MAX_VERSION:
        raise NotFound(f"no version v{str(number)[:20]}")
    return number


def ref(value: str, key: str) -> tuple[str, int | None]:
    """NAME@vN (or NAME: the latest) from a query parameter."""
    try:
        name, number = parse_ref(value)
    except DatasetError:
        raise BadRequest(f"{key} must be NAME@vN, e.g. demo@v1, not {value[:70]!r}") from None
    if number is not None and number > MAX_VERSION:
        raise BadRequest(f"{key}: no version that large")
    return name, number
