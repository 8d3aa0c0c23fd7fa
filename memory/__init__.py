"""Persistence: sessions, messages, facts and the effect journal (SQLite)."""
