"""The results database's schema in one place (DESIGN.md 7e, docs/SQL.md): tables, indexes and views,
as migrations both SQLite and PostgreSQL run.

The same tables and columns in both; only the types differ. Money is exact: `NUMERIC(18,2)` in
PostgreSQL, decimal text in SQLite. SQLite's `SUM` of text is a floating-point sum, so the views sum
money as integer cents there (`money_sum`), exact while an amount stays under 10^13.

A database records the migrations it has had (`schema_migrations`); `migrate` applies the missing
ones in order, each in its own transaction, so a database made by an older version is brought up to
date by the next `telecom load`. A migration is never edited once released: a change is a new one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .database import POSTGRESQL, SQLITE, Database

TYPES = {
    SQLITE: {"money": "TEXT", "decimal": "TEXT", "date": "TEXT", "instant": "TEXT", "count": "INTEGER",
             "flag": "INTEGER"},
    POSTGRESQL: {"money": "NUMERIC(18,2)", "decimal": "NUMERIC(28,10)", "date": "DATE", "instant": "TIMESTAMPTZ",
                 "count": "BIGINT", "flag": "BOOLEAN"},
}

_TABLES = """
CREATE TABLE periods (
    period TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    catalog_version TEXT NOT NULL,
    currency TEXT NOT NULL,
    invoices {count} NOT NULL,
    subtotal {money} NOT NULL,
    tax {money} NOT NULL,
    total {money} NOT NULL,
    loaded_at TEXT NOT NULL
);
CREATE TABLE invoices (
    invoice_number TEXT PRIMARY KEY,
    period TEXT NOT NULL REFERENCES periods (period),
    status TEXT NOT NULL,
    period_start {date} NOT NULL,
    period_end {date} NOT NULL,
    msisdn TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    activation_date {date} NOT NULL,
    termination_date {date},
    active_days {count} NOT NULL,
    days_in_period {count} NOT NULL,
    currency TEXT NOT NULL,
    catalog_version TEXT NOT NULL,
    recurring {money} NOT NULL,
    usage {money} NOT NULL,
    late_usage {money} NOT NULL,
    subtotal {money} NOT NULL,
    tax_rate {decimal} NOT NULL,
    tax {money} NOT NULL,
    total {money} NOT NULL
);
CREATE TABLE invoice_lines (
    invoice_number TEXT NOT NULL REFERENCES invoices (invoice_number),
    line_no {count} NOT NULL,
    period TEXT NOT NULL,
    type TEXT NOT NULL,
    service TEXT,
    zone TEXT,
    quantity {count} NOT NULL,
    billable_units {count} NOT NULL,
    included_units {count} NOT NULL,
    amount {money} NOT NULL,
    cdr_count {count} NOT NULL,
    origin_period TEXT,
    PRIMARY KEY (invoice_number, line_no)
);
CREATE TABLE reconciliation (
    period TEXT NOT NULL REFERENCES periods (period),
    measure TEXT NOT NULL,
    reason TEXT NOT NULL,
    count {count},
    amount {decimal}
);
CREATE TABLE adjustments (
    note_number TEXT PRIMARY KEY,
    period TEXT NOT NULL,
    type TEXT NOT NULL,
    invoice_number TEXT NOT NULL,
    msisdn TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    final_catalog_version TEXT NOT NULL,
    catalog_version TEXT NOT NULL,
    subtotal {money} NOT NULL,
    tax_rate {decimal} NOT NULL,
    tax {money} NOT NULL,
    total {money} NOT NULL,
    final_total {money} NOT NULL,
    new_total {money} NOT NULL
);
CREATE TABLE adjustment_lines (
    note_number TEXT NOT NULL REFERENCES adjustments (note_number),
    line_no {count} NOT NULL,
    type TEXT NOT NULL,
    service TEXT,
    zone TEXT,
    final_amount {money} NOT NULL,
    new_amount {money} NOT NULL,
    amount {money} NOT NULL,
    PRIMARY KEY (note_number, line_no)
);
CREATE INDEX invoices_by_period ON invoices (period);
CREATE INDEX invoices_by_msisdn ON invoices (msisdn);
CREATE INDEX invoices_by_plan ON invoices (period, plan_id);
CREATE INDEX invoice_lines_by_period ON invoice_lines (period, service, zone);
CREATE INDEX reconciliation_by_period ON reconciliation (period, measure);
CREATE INDEX adjustments_by_period ON adjustments (period);
CREATE INDEX adjustments_by_invoice ON adjustments (invoice_number);
"""

_VIEWS = """
CREATE VIEW revenue_by_plan AS
SELECT period, plan_id, currency, COUNT(*) AS invoices,
       {sum_recurring} AS recurring, {sum_usage} AS usage, {sum_late_usage} AS late_usage,
       {sum_subtotal} AS subtotal, {sum_tax} AS tax, {sum_total} AS total
FROM invoices GROUP BY period, plan_id, currency;
CREATE VIEW revenue_by_service_zone AS
SELECT l.period, l.service, l.zone, i.currency, SUM(l.cdr_count) AS cdrs, SUM(l.quantity) AS quantity,
       SUM(l.billable_units) AS billable_units, SUM(l.included_units) AS included_units,
       {sum_line_amount} AS amount
FROM invoice_lines l JOIN invoices i ON i.invoice_number = l.invoice_number
WHERE l.type = 'usage' GROUP BY l.period, l.service, l.zone, i.currency;
CREATE VIEW rejects_by_reason AS
SELECT period, measure AS scope, reason, count
FROM reconciliation WHERE measure IN ('raw_run_rejected', 'raw_period_rejected') AND reason <> '';
CREATE VIEW late_usage_by_origin AS
SELECT l.period, l.origin_period, l.service, l.zone, i.currency, SUM(l.cdr_count) AS cdrs,
       {sum_line_amount} AS amount
FROM invoice_lines l JOIN invoices i ON i.invoice_number = l.invoice_number
WHERE l.type = 'late_usage' GROUP BY l.period, l.origin_period, l.service, l.zone, i.currency;
"""


# Rated CDRs, opt-in (`telecom load --with-cdrs`): the rated CDR's fields (RULES.md section 16).
_RATED_CDRS = """
CREATE TABLE rated_cdrs (
    period TEXT NOT NULL,
    cdr_id TEXT NOT NULL,
    record_type TEXT NOT NULL,
    event_time {instant} NOT NULL,
    msisdn TEXT NOT NULL,
    other_party TEXT,
    direction TEXT,
    duration_sec {count},
    bytes_up {count},
    bytes_down {count},
    quantity {count} NOT NULL,
    cell_id TEXT,
    technology TEXT,
    visited_country TEXT,
    roaming {flag} NOT NULL,
    source_format TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    zone TEXT NOT NULL,
    band TEXT NOT NULL,
    billable_units {count} NOT NULL,
    price {decimal} NOT NULL,
    per {count} NOT NULL,
    unit_price {decimal} NOT NULL,
    connect_fee {decimal} NOT NULL,
    charge {decimal} NOT NULL,
    currency TEXT NOT NULL,
    catalog_version TEXT NOT NULL,
    rated_at {instant} NOT NULL,
    PRIMARY KEY (period, cdr_id)
);
CREATE INDEX rated_cdrs_by_msisdn ON rated_cdrs (period, msisdn)
"""


# Partial records (DESIGN.md 7c): an assembled CDR's fields (null on a whole one; `missing` as its
# sequences joined by `,`), and each invoice line's count of assembled and incomplete CDRs.
_PARTIAL_RECORDS = """
ALTER TABLE rated_cdrs ADD COLUMN partials {count};
ALTER TABLE rated_cdrs ADD COLUMN incomplete {flag};
ALTER TABLE rated_cdrs ADD COLUMN missing TEXT;
ALTER TABLE rated_cdrs ADD COLUMN last_missing {flag};
ALTER TABLE invoice_lines ADD COLUMN assembled_cdrs {count} NOT NULL DEFAULT 0;
ALTER TABLE invoice_lines ADD COLUMN incomplete_cdrs {count} NOT NULL DEFAULT 0
"""


def money_sum(dialect: str, column: str) -> str:
    """An exact SUM of a money column: NUMERIC in PostgreSQL; in SQLite, integer cents written back
    as decimal text with two places (`-0.05`, not a float)."""
    if dialect == POSTGRESQL:
        return f"SUM({column})"
    cents = f"SUM(CAST(ROUND({column} * 100) AS INTEGER))"
    return (f"printf('%s%d.%02d', CASE WHEN {cents} < 0 THEN '-' ELSE '' END, "
            f"abs({cents}) / 100, abs({cents}) % 100)")


def _views(dialect: str) -> str:
    sums = {f"sum_{c}": money_sum(dialect, c) for c in ("recurring", "usage", "late_usage", "subtotal", "tax", "total")}
    return _VIEWS.format(**sums, sum_line_amount=money_sum(dialect, "l.amount"))


# Each migration: a version and the statements it runs (a function of the dialect).
MIGRATIONS = (
    (1, lambda dialect: _TABLES.format(**TYPES[dialect])),
    (2, _views),
    (3, lambda dialect: _RATED_CDRS.format(**TYPES[dialect])),
    (4, lambda dialect: _PARTIAL_RECORDS.format(**TYPES[dialect])),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


def applied_version(db: Database) -> int:
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    return max((row[0] for row in db.query("SELECT version FROM schema_migrations")), default=0)


def migrate(db: Database, up_to: int = SCHEMA_VERSION) -> list[int]:
    """Apply the migrations the database has not had, up to `up_to`; returns their versions."""
    done = applied_version(db)
    applied = []
    for version, statements in MIGRATIONS:
        if done < version <= up_to:
            with db.transaction():
                for statement in filter(None, (s.strip() for s in statements(db.dialect).split(";"))):
                    db.execute(statement)
                db.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                           (version, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")))
            applied.append(version)
    return applied
