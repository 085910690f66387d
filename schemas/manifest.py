"""What a published version records about itself (manifest.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class StageStats(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    rows_in: int
    rows_out: int
    rejected: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def check(self) -> None:
        if self.rows_in != self.rows_out + self.rejected:
            raise ValueError(f"stage {self.name}: {self.rows_in} in != {self.rows_out} kept + {self.rejected} rejected")


class FileEntry(BaseModel):
    """One published file: its size and SHA-256 (None in manifests written before checksums)."""

    model_config = ConfigDict(extra="forbid")
    size: int
    sha256: str | None = None
    rows: int | None = None


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: int = 1
    name: str = ""
    version: int = 0
    run_id: str
    created_at: datetime
    code_version: str
    config: dict[str, Any]
    parent_versions: list[str] = Field(default_factory=list)
    stages: list[StageStats]
    rows: int
    rejects: int
    files: dict[str, FileEntry] = Field(default_factory=dict, description="relpath in the version -> entry")
    stopped: str | None = Field(None, description="'budget' / 'interrupted': a stop cut the run short")
    ledger: dict[str, Any] | None = Field(None, description="tokens and cost: per stage, per kept row, this run's")

    @field_validator("files", mode="before")
    @classmethod
    def _old_layout(cls, value: Any) -> Any:
        """Older manifests list parts per table: {"rows": [{"path", "rows", "bytes"}]} (sizes, no hashes)."""
        if not isinstance(value, dict) or not any(isinstance(v, list) for v in value.values()):
            return value
        out: dict[str, Any] = {}
        for parts in value.values():
            for part in parts if isinstance(parts, list) else []:
                out[part["path"]] = {"size": part["bytes"], "rows": part.get("rows")}
        return out

    def check(self) -> None:
        for s in self.stages:
            s.check()
