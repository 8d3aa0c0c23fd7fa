"""evals/agentdojo."""
