"""Results in SQL (DESIGN.md 7e): period folders projected into SQLite or PostgreSQL (docs/SQL.md)."""
