"""synthloom: flows."""
