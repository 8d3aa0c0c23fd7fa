"""Trajectories, replay, scorers and eval suites."""
