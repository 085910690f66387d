"""Assemble a manifest from stage results and publish one version. No Prefect here."""

from __future__ import annotations

import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from flows.store import DatasetStore, Version
from generators.result import StageResult
from schemas.manifest import Manifest
from schemas.rows import utc_now


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


def publish_result(
    store: DatasetStore,
    name: str,
    result: StageResult,
    config: dict[str, Any],
    run_id: str,
    parent_versions: list[str] | None = None,
) -> Version:
    manifest = Manifest(
        run_id=run_id,
        created_at=utc_now(),
        code_version=code_version(),
        config=config,
        parent_versions=parent_versions or [],
        stages=[result.stats],
        rows=result.rows.num_rows,
        rejects=result.rejects.num_rows,
    )
    manifest.check()
    return store.publish(name, {"rows": result.rows, "rejects": result.rejects}, manifest)
