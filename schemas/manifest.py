"""What a published version records about itself (manifest.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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
    files: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)

    def check(self) -> None:
        for s in self.stages:
            s.check()
