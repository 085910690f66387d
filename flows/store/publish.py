"""Assemble a manifest from stage results and publish one version. No Prefect here, and no cards: a
caller that wants one passes `card` (flows.report.write_card), so the store knows nothing of reports."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pyarrow as pa

from flows.store import DatasetStore, Version
from flows.store.spill import Concat, Spill
from schemas.manifest import Manifest, StageStats
from schemas.result import StageResult
from schemas.rows import REJECT_SCHEMA, utc_now

log = logging.getLogger(__name__)


def code_version() -> str:
    try:
        pkg = version("synthloom")
    except PackageNotFoundError:
        pkg = "0+unknown"
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{pkg}+g{sha}" if sha else pkg


def publish_version(
    store: DatasetStore,
    name: str,
    rows: pa.Table | Spill,
    rejects: list[pa.Table | Spill],
    stages: list[StageStats],
    config: dict[str, Any],
    run_id: str,
    parent_versions: list[str] | None = None,
    *,
    stopped: str | None = None,
    ledger: dict[str, Any] | None = None,
    card: Callable[[Version], object] | None = None,
) -> Version:
    """Publish `rows` and every stage's rejects as one version; the manifest's counts are checked.
    Rows and rejects are written a record batch at a time: spills (flows/store/spill.py) stay on disk.
    `card(version)` runs once the version is published; if it fails, the version stays and a warning says so."""
    all_rejects = Concat(rejects, REJECT_SCHEMA)
    manifest = Manifest(
        run_id=run_id,
        created_at=utc_now(),
        code_version=code_version(),
        config=config,
        parent_versions=parent_versions or [],
        stages=stages,
        rows=rows.num_rows,
        rejects=all_rejects.num_rows,
        stopped=stopped,
        ledger=ledger,
    )
    manifest.check()
    published = store.publish(name, {"rows": rows, "rejects": all_rejects}, manifest)
    if card is None:
        return published
    try:
        card(published)
    except Exception as err:  # the data is published; the card can be regenerated with write_card
        log.warning("dataset card for %s not written: %s: %s", published.ref, type(err).__name__, err)
    return published


def publish_result(
    store: DatasetStore,
    name: str,
    result: StageResult,
    config: dict[str, Any],
    run_id: str,
    parent_versions: list[str] | None = None,
) -> Version:
    return publish_version(store, name, result.rows, [result.rejects], [result.stats], config, run_id, parent_versions)
