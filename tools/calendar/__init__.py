"""Calendar tools and backends."""
