"""What a version teaches: `synthloom eval` (README, "What a version teaches").

Modules: suite (the shipped items, suite/*.jsonl), checkers (if_pass constraints), stats (bootstrap
intervals), scoring (transformers: ref_nll and greedy generation), judging (why judge_winrate is or is
not measured), runner (train -> score -> write), compare (`synthloom eval compare`), report (what the
CLI prints). Below it: flows/eval_config.py (the config), flows/store/evals.py (<dataset>/evals/ files),
flows/report/teaches.py (the card's "What it teaches"). Importing this package loads no model library.
"""
