"""The usage monitor (DESIGN.md 7d, docs/BILLING.md section 12): `cdr.rated` -> `subscriber.alerts`."""
