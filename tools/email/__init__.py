"""Email tools and backends."""
