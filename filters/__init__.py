"""synthloom: filters."""
