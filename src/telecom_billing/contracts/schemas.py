"""The artifacts people parse, and the version of the published schema each one follows.

Every artifact says its version in a `schema_version` field ("MAJOR.MINOR"): the first key of each
JSON document, of each line of a JSONL file and of each record on a topic. `schemas/<name>/v<MAJOR>.json`
at the repository's top describes every MINOR of a MAJOR. A minor version only adds (a field, a file,
a reason code); anything else (a field removed, renamed, retyped or meaning something else) is a new
major version with a new schema file. docs/SCHEMAS.md lists the artifacts and what a reader may
rely on.
"""

from __future__ import annotations

RATED_CDR = "1.1"  # 1.1: partials, incomplete, missing, last_missing; cdr.rated, and rated.jsonl of `telecom rate`
REJECTED_CDR = "1.1"  # 1.1: reason codes INVALID_PARTIAL, LATE_PARTIAL; cdr.rejected, and rejected.jsonl of `telecom rate`
RATE_SUMMARY = "1.1"  # 1.1: merged, sessions; reconciliation.json of `telecom rate`
INVOICE = "1.1"  # 1.1: assembled_cdrs, incomplete_cdrs on each line; each line of invoices.jsonl
RECONCILIATION = "1.1"  # 1.1: raw counts merged and held; reconciliation.json of a period folder and of `telecom reconcile`
MANIFEST = "1.0"  # manifest.json of a period folder
RERATE_MANIFEST = "1.0"  # manifest.json of a rerating folder
RERATE_CHANGE = "1.0"  # each line of a rerating folder's changes.jsonl
ADJUSTMENT = "1.0"  # each line of a rerating folder's adjustments.jsonl (credit and debit notes)
ALERT = "1.0"  # subscriber.alerts: a usage alert of the monitor (DESIGN.md 7d)

# The field every artifact carries.
FIELD = "schema_version"
