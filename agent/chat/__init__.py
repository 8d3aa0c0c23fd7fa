"""agent/chat."""
