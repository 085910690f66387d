"""`synthloom datasets verify`: does each published file still match its manifest (size, SHA-256)?

Reports, per version, what changed: a file whose bytes differ (e.g. one flipped byte), a truncated
or grown file, a missing file, a Parquet file the manifest does not list, an unreadable manifest.
Manifests written before checksums existed are checked by size only, and say so. No Prefect here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flows.store import TABLES, DatasetStore, Version, file_digest, parse_ref
from schemas.errors import CorruptVersionError


@dataclass
class VersionCheck:
    ref: str
    files: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fix: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_version(version: Version) -> VersionCheck:
    check = VersionCheck(version.ref, fix=version.fix())
    try:
        manifest = version.manifest()
    except CorruptVersionError as err:
        check.problems.append(str(err).split("; check it with")[0])
        return check
    if not manifest.files:
        check.notes.append("the manifest lists no files (published before file lists): nothing to compare")
    for rel, entry in sorted(manifest.files.items()):
        path = version.path / rel
        if not path.is_file():
            check.problems.append(f"{rel} is missing")
            continue
        size, digest = file_digest(path)
        check.files += 1
        check.bytes += size
        if size != entry.size:
            what = "truncated" if size < entry.size else "grown"
            check.problems.append(f"{rel} is {what}: {size} bytes, the manifest says {entry.size}")
        elif entry.sha256 is None:
            check.notes.append(f"{rel}: no checksum in the manifest (published before checksums), size matches")
        elif digest != entry.sha256:
            check.problems.append(
                f"{rel} changed: same size, different bytes (sha256 {digest[:12]}..., manifest {entry.sha256[:12]}...)"
            )
    if manifest.files:
        for table in TABLES:
            for path in version.files(table):
                rel = f"{table}/{path.name}"
                if rel not in manifest.files:
                    check.problems.append(f"{rel} is not in the manifest (added after publishing; queries read it)")
    return check


def select(store: DatasetStore, ref: str | None) -> list[Version]:
    """Every version of every dataset; every version of NAME; or NAME@vN alone."""
    if ref is None:
        return [v for name in store.names() for v in store.versions(name)]
    name, number = parse_ref(ref)
    if number is None:
        store.get(name)  # a clear error when there is no such dataset
        return store.versions(name)
    return [store.get(ref)]
