"""The run core (no Prefect): a pipeline config (config.py) planned into shards (plan.py), each
shard through its source and shard stages with checkpoints (core.py, checkpoints.py), the judge
gate (judge_gate.py), then merge, dedup, decontaminate and publish (finish.py). One-off commands
are pipelines too (one_off.py)."""
