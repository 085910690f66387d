"""synthloom: generators."""
