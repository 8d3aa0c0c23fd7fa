"""agent/safety."""
