"""`synthloom schedules`: the pipeline deployments `serve` created, read from the Prefect API: the
schedule, whether it is active, the overlap policy, the next scheduled runs, and the last runs
with their state and the version each published (the manifests' run_id is the flow run id)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    DeploymentFilterName,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort

from flows.store import DatasetStore

FLOW = "synthloom-pipeline"
OVERLAP = {"ENQUEUE": "queue", "CANCEL_NEW": "skip"}
DONE_OR_GOING = [t for t in StateType if t != StateType.SCHEDULED]


def schedules_report(name: str | None = None, upcoming: int = 3, last: int = 5) -> list[dict[str, Any]]:
    """One dict per deployment of the pipeline flow (all, or the one named)."""
    names = DeploymentFilter(name=DeploymentFilterName(any_=[name])) if name else None
    with get_client(sync_client=True) as client:
        deployments = client.read_deployments(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW])), deployment_filter=names
        )
        return [_deployment(client, d, upcoming, last) for d in deployments]


def _deployment(client: Any, d: Any, upcoming: int, last: int) -> dict[str, Any]:
    params = d.parameters or {}
    published = _published_by_run(params.get("root"), (params.get("config") or {}).get("dataset"))
    options = d.concurrency_options
    upcoming_runs = _runs(client, d.id, [StateType.SCHEDULED], FlowRunSort.EXPECTED_START_TIME_ASC, upcoming)
    return {
        "deployment": f"{FLOW}/{d.name}",
        "paused": d.paused,
        "schedules": [{"schedule": _describe(s.schedule), "active": s.active} for s in d.schedules],
        "limit": d.global_concurrency_limit.limit if d.global_concurrency_limit else None,
        "overlap": OVERLAP.get(options.collision_strategy.value) if options else None,
        "next": [_when(r) for r in upcoming_runs],
        "last": [
            {"run": r.name, "scheduled": _when(r), "state": r.state_name, "published": published.get(str(r.id), [])}
            for r in _runs(client, d.id, DONE_OR_GOING, FlowRunSort.EXPECTED_START_TIME_DESC, last)
        ],
    }


def _runs(client: Any, deployment_id: Any, states: list[StateType], sort: FlowRunSort, limit: int) -> list[Any]:
    return client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=states))),
        sort=sort,
        limit=limit,
    )


def _describe(schedule: Any) -> str:
    tz = getattr(schedule, "timezone", None) or "UTC"
    if cron := getattr(schedule, "cron", None):
        return f'cron "{cron}" ({tz})'
    if interval := getattr(schedule, "interval", None):
        return f"every {interval.total_seconds():g}s"
    return str(schedule)


def _when(run: Any) -> str:
    when = run.expected_start_time or run.next_scheduled_start_time
    return when.isoformat(timespec="seconds") if when else "?"


def _published_by_run(root: str | None, dataset: str | None) -> dict[str, list[str]]:
    """flow run id -> refs it published (the dataset and its _corpus), from the manifests."""
    if not root or not dataset or not Path(root).is_dir():
        return {}
    store, out = DatasetStore(Path(root)), {}
    for name in (dataset, f"{dataset}_corpus"):
        for v in store.versions(name):
            out.setdefault(v.manifest().run_id, []).append(v.ref)
    return out


def format_report(report: list[dict[str, Any]]) -> str:
    if not report:
        return f"no {FLOW} deployments on this Prefect server: start one with `synthloom serve PIPELINE --cron ...`"
    lines = []
    for d in report:
        scheds = ", ".join(f"{s['schedule']}{'' if s['active'] else ' (inactive)'}" for s in d["schedules"])
        state = "paused (serve is not running)" if d["paused"] else "active"
        lines.append(
            f"{d['deployment']}: {scheds or 'no schedule'}; {state}; runs at a time: {d['limit']}, "
            f"overlap: {d['overlap']}"
        )
        lines.append(f"  next: {', '.join(d['next']) or '-'}")
        lines.append("  last runs:" if d["last"] else "  last runs: -")
        for r in d["last"]:
            lines.append(f"    {r['scheduled']}  {r['state']:<12} {r['run']:<24} {', '.join(r['published']) or '-'}")
    return "\n".join(lines)
