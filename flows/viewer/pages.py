"""The pages: each handler checks its parameters (params.py), asks queries.py, renders one template."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from flows.viewer import params, queries
from flows.viewer.data import BadRequest, NotFound, ViewerData
from flows.viewer.diff import diff
from flows.viewer.lineage import find_parent
from flows.viewer.render import CARD_FILE, card_html
from flows.viewer.templating import render, row_url, version_url


def data_of(request: Request) -> ViewerData:
    return request.app.state.data


def version_of(request: Request) -> tuple[str, int]:
    """The path's dataset (checked to exist) and version number (in range; queries check it exists)."""
    data = data_of(request)
    name = params.dataset(request.path_params["name"], data.datasets())
    return name, params.version(request.path_params["number"])


def index(request: Request) -> Response:
    data = data_of(request)
    datasets = queries.datasets_summary(data)
    views = [v for v in ("versions", "evals", "trainings") if data.has_view(v)]
    return render(request, "index.html", datasets=datasets, views=views, warnings=data.warnings)


def dataset_page(request: Request) -> Response:
    data = data_of(request)
    name = params.dataset(request.path_params["name"], data.datasets())
    return render(request, "dataset.html", name=name, versions=queries.dataset_versions(data, name))


def version_page(request: Request) -> Response:
    name, number = version_of(request)
    data = data_of(request)
    record = queries.version_record(data, name, number)
    query = params.row_query(request.query_params)
    page = None if record["problem"] else queries.rows_page(data, name, number, query)
    others = [v["version"] for v in queries.dataset_versions(data, name) if v["version"] != number]
    return render(request, "version.html", name=name, number=number, v=record, query=query, page=page, others=others)


def row_page(request: Request) -> Response:
    name, number = version_of(request)
    data = data_of(request)
    row_id = params.text(request.path_params, "row_id")
    record = queries.version_record(data, name, number)
    row = queries.row(data, name, number, row_id)
    return render(request, "row.html", name=name, number=number, v=record, row=row)


def rejects_page(request: Request) -> Response:
    name, number = version_of(request)
    data = data_of(request)
    stage, reason = params.text(request.query_params, "stage"), params.text(request.query_params, "reason")
    record = queries.version_record(data, name, number)
    if stage or reason:
        page = params.page(request.query_params)
        examples = queries.reject_examples(data, name, number, stage, reason, page)
        context = {"stage": stage, "reason": reason, "examples": examples, "page_number": page}
        return render(request, "reject_group.html", name=name, number=number, v=record, **context)
    groups = queries.reject_groups(data, name, number)
    return render(request, "rejects.html", name=name, number=number, v=record, groups=groups)


def card_page(request: Request) -> Response:
    name, number = version_of(request)
    record = queries.version_record(data_of(request), name, number)
    readme = data_of(request).root / name / f"v{number}" / "card" / "README.md"
    html = (
        card_html(readme.read_text(encoding="utf-8"), version_url(name, number, "/card")) if readme.is_file() else None
    )
    return render(request, "card.html", name=name, number=number, v=record, card=html)


def card_file(request: Request) -> Response:
    name, number = version_of(request)
    file = request.path_params["file"]
    folder = data_of(request).root / name / f"v{number}" / "card"
    path = folder / file
    if not CARD_FILE.fullmatch(file) or not path.is_file() or path.resolve().parent != folder.resolve():
        raise NotFound(f"{name}@v{number}'s card has no plot {file[:70]!r}")
    return FileResponse(path, media_type="image/png")


def manifest_page(request: Request) -> Response:
    name, number = version_of(request)
    record = queries.version_record(data_of(request), name, number)
    try:
        manifest = json.loads((data_of(request).root / name / f"v{number}" / "manifest.json").read_bytes())
    except (OSError, ValueError):
        raise NotFound(f"{name}@v{number}'s manifest.json is unreadable") from None
    text = json.dumps(manifest, indent=2, ensure_ascii=False)
    return render(request, "manifest.html", name=name, number=number, v=record, manifest=text)


def lineage_page(request: Request) -> Response:
    data = data_of(request)
    row_id = params.text(request.path_params, "row_id")
    origin = params.text(request.query_params, "from")
    own, parents = None, []
    if origin:
        name, number = params.ref(origin, "from")
        if name in data.datasets() and number is not None:
            own, parents = name, queries.version_record(data, name, number)["parents"] or []
    hits = find_parent(data, row_id, parents, own)
    if len(hits) == 1:
        return RedirectResponse(row_url(hits[0].dataset, hits[0].version, hits[0].row_id), status_code=303)
    status = 200 if hits else 404
    return render(request, "lineage.html", status_code=status, row_id=row_id, origin=origin, hits=hits)


def diff_page(request: Request) -> Response:
    data = data_of(request)
    refs = []
    for key in ("a", "b"):
        if not (value := params.text(request.query_params, key)):
            raise BadRequest("name the two versions to compare: /diff?a=NAME@vN&b=NAME@vM")
        name, number = params.ref(value, key)
        versions = [v["version"] for v in queries.dataset_versions(data, params.dataset(name, data.datasets()))]
        refs.append((name, number if number is not None else max(versions)))
    return render(request, "diff.html", d=diff(data, refs[0], refs[1]), a=refs[0], b=refs[1])


def table_page(request: Request) -> Response:
    view = request.path_params["view"]
    data = data_of(request)
    if view not in ("versions", "evals", "trainings") or not data.has_view(view):
        raise NotFound(f"no catalog view {view[:40]!r} to show")
    page = params.page(request.query_params)
    rows, total = queries.table_page(data, view, page)
    return render(request, "table.html", view=view, rows=rows, total=total, page_number=page)
