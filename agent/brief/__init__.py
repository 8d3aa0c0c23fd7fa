"""agent/brief."""
