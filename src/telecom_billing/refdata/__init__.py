"""Reference data: the tariff catalog and the subscriber base, loaded and validated."""
