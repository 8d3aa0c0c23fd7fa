"""agent/context."""
