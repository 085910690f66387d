"""DuckDB over the store: sandboxed, read-only SQL across every dataset and version.

Per dataset NAME: `NAME` (newest version's rows), `NAME_all` (every version's rows plus a `version`
column, one scan over all their files), `NAME_rejects` / `NAME_rejects_all` (the same for rejects).
View `versions`: one row per dataset version (counts, parents, config hash, stage stats, manifest
problems). View `trainings`: one row per trainer hand-off (flows/train.py), read from
<root>/.catalog/trainings/*.json, present once one exists. `versions`/`trainings` become
`_versions`/`_trainings` if a dataset has that name. View `evals`: one row per model x metric of each
`synthloom eval` (flows/store/evals.py), read from <root>/<dataset>/evals/*.parquet, present once one
exists. A corrupt version is left out with a warning.

Modules: sandbox (the locked-down connection), scan (which files, checked cheaply), tables (JSON
to Arrow), views (lazy view building), query (the `synthloom query` entry point and its errors).
"""

from flows.catalog.query import READ_ONLY, connect, query, sql_error
from flows.catalog.views import TRAININGS, VERSIONS, Catalog, training_files, trainings_dir

__all__ = [
    "READ_ONLY",
    "TRAININGS",
    "VERSIONS",
    "Catalog",
    "connect",
    "query",
    "sql_error",
    "training_files",
    "trainings_dir",
]
