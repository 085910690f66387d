"""Tokens, cost and stop reason on the dataset page, whether or not the catalog's `versions` view has them yet."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest
from starlette.testclient import TestClient

from flows.catalog import views
from flows.catalog.tables import versions_table
from flows.store import DatasetStore
from flows.store.publish import publish_version
from flows.viewer import create_app
from flows.viewer.data import ViewerData
from flows.viewer.queries import VERSION_COSTS, dataset_versions
from tests.flows.viewer.store import publish, sft_table, stats

LEDGER = {"prompt_tokens": 1200, "completion_tokens": 345, "cost_usd": 0.0123}


def costs_table(scans: list) -> pa.Table:
    """`versions` as the catalog builds it once it reads the manifest's ledger totals and stop reason."""
    table = versions_table(scans)
    if "stopped" in table.column_names:  # the catalog reads them itself now
        return table
    ledgers = [s.manifest.get("ledger") or {} for s in scans]
    for column, kind in (("prompt_tokens", pa.int64()), ("completion_tokens", pa.int64()), ("cost_usd", pa.float64())):
        table = table.append_column(pa.field(column, kind), pa.array([g.get(column) for g in ledgers], kind))
    return table.append_column("stopped", pa.array([s.manifest.get("stopped") for s in scans], pa.string()))


def no_costs_table(scans: list) -> pa.Table:
    """`versions` as the catalog built it before it read them."""
    table = versions_table(scans)
    return table.drop_columns([c for c in VERSION_COSTS if c in table.column_names])


@pytest.fixture
def root(tmp_path):
    store = DatasetStore(tmp_path)
    publish(store, "demo", sft_table(["First question?"]), [], [])
    rows = sft_table(["Second question?"])
    counts = [s.model_copy(update={"prompt_tokens": 7, "completion_tokens": 3}) for s in stats(rows.num_rows, [])]
    publish_version(store, "demo", rows, [], counts, {"n": 2}, "r2", stopped="budget", ledger=LEDGER)
    return tmp_path


def cells(html: str, cls: str) -> list[str]:
    return re.findall(rf'<td class="[^"]*\b{cls}\b[^"]*">([^<]*)</td>', html)


def page(root) -> str:
    with TestClient(create_app(root, {"127.0.0.1:9"}), base_url="http://127.0.0.1:9") as c:
        answer = c.get("/d/demo")
        assert c.get("/d/demo/v/2").status_code == 200 and c.get("/diff?a=demo@v1&b=demo@v2").status_code == 200
    assert answer.status_code == 200
    return answer.text


def test_without_the_columns_cost_and_stop_are_blank(root, monkeypatch):
    monkeypatch.setattr(views, "versions_table", no_costs_table)
    records = dataset_versions(ViewerData(root), "demo")
    assert [(r["tokens"], r["cost_usd"], r["stopped"]) for r in records] == [(10, None, None), (0, None, None)]
    html = page(root)
    assert cells(html, "tokens") == ["10", "0"]  # summed over the stages
    assert cells(html, "cost") == ["", ""] and cells(html, "stopped") == ["", ""]


def test_with_the_columns_the_ledger_and_stop_reason_show(root, monkeypatch):
    monkeypatch.setattr(views, "versions_table", costs_table)
    records = dataset_versions(ViewerData(root), "demo")
    newest, oldest = records
    assert (newest["tokens"], newest["cost_usd"], newest["stopped"]) == (1545, 0.0123, "budget")
    assert oldest["cost_usd"] is None and oldest["stopped"] is None
    html = page(root)
    assert cells(html, "tokens")[0] == "1545"
    assert cells(html, "cost") == ["$0.0123", ""] and cells(html, "stopped") == ["budget", ""]
