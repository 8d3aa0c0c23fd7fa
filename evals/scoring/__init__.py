"""evals/scoring."""
