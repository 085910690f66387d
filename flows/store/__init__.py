"""The dataset store: immutable versions with manifests (datasets.py), publishing (publish.py),
per-dataset locks (locks.py), temp-dir hygiene (tempdirs.py), integrity checks (verify.py) and
export (export.py)."""

from flows.store.datasets import *  # noqa: F403
from flows.store.datasets import DatasetStore, Version, check_name, parse_ref  # noqa: F401
