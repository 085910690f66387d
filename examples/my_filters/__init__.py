"""Example user stages for a synthloom pipeline (README, "Your own stage")."""
