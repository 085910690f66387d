"""synthloom: schemas."""
