"""Credit and debit notes (DESIGN.md section 7b): a final invoice recomputed under a new catalog, minus
the final invoice, line by line. Final invoices never change; a note says what is owed either way.

A note's lines are the recurring and usage lines whose amount changed (keyed by type, service and
zone; a line on one side only counts as 0.00 on the other). Late usage lines were billed at the
rated charge of other periods and are not rerated with this one: they stay as they were. The note's
`subtotal` is the sum of its lines, `tax` is the recomputed invoice's tax minus the final's, `total`
their sum, so that final + note = recomputed, to the cent.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from ..billing.invoices import money
from ..billing.period import Period
from ..contracts import schemas
from ..errors import TelecomError
from ..money import charge
from ..refdata.catalog import Catalog

CREDIT_NOTE, DEBIT_NOTE = "credit_note", "debit_note"
NOTE_NUMBER = re.compile(r"(CN|DN)-[0-9]{6}-[0-9A-F]{10}")
LATE_USAGE = "late_usage"


def note_number(kind: str, period: Period, invoice_number: str, catalog_version: str) -> str:
    """Deterministic: the period, the invoice it adjusts and the catalog it comes from."""
    digest = hashlib.sha256(f"{invoice_number}|{catalog_version}".encode()).hexdigest()[:10].upper()
    return f"{'CN' if kind == CREDIT_NOTE else 'DN'}-{period.compact}-{digest}"


def _key(line: dict[str, Any]) -> tuple[str, str, str]:
    return line["type"], line["service"] or "", line["zone"] or ""


def _amounts(invoice: dict[str, Any]) -> dict[tuple[str, str, str], Decimal]:
    return {_key(line): Decimal(line["amount"]) for line in invoice["lines"] if line["type"] != LATE_USAGE}


def note(final: dict[str, Any], recomputed: dict[str, Any], catalog: Catalog, period: Period) -> dict[str, Any] | None:
    """The note turning `final` into `recomputed` (a section 7 invoice under `catalog`, late usage
    carried over from `final`), or None when the total does not change."""
    before, after = _amounts(final), _amounts(recomputed)
    late = sum((Decimal(line["amount"]) for line in final["lines"] if line["type"] == LATE_USAGE), Decimal(0))
    subtotal_after = sum(after.values(), Decimal(0)) + late
    tax_after = _tax(subtotal_after, catalog.tax_rate)
    changed = [key for key in sorted(set(before) | set(after), key=lambda k: (k[0] != "recurring", k))
               if after.get(key, Decimal(0)) != before.get(key, Decimal(0))]
    deltas = {key: after.get(key, Decimal(0)) - before.get(key, Decimal(0)) for key in changed}
    lines = [{"type": kind, "service": service or None, "zone": zone or None,
              "final_amount": money(before.get((kind, service, zone), Decimal(0))),
              "new_amount": money(after.get((kind, service, zone), Decimal(0))),
              "amount": money(deltas[(kind, service, zone)])} for kind, service, zone in changed]
    subtotal = sum(deltas.values(), Decimal(0))
    tax = tax_after - Decimal(final["tax"])
    total = subtotal + tax
    if total == 0:
        return None
    kind = CREDIT_NOTE if total < 0 else DEBIT_NOTE
    return {
        schemas.FIELD: schemas.ADJUSTMENT,
        "note_number": note_number(kind, period, final["invoice_number"], catalog.version),
        "type": kind,
        "invoice_number": final["invoice_number"],
        "period": period.label,
        "msisdn": final["msisdn"],
        "name": final["name"],
        "address": final["address"],
        "plan_id": final["plan_id"],
        "currency": catalog.currency,
        "final_catalog_version": final["catalog_version"],
        "catalog_version": catalog.version,
        "lines": lines,
        "subtotal": money(subtotal),
        "tax_rate": str(catalog.tax_rate),
        "tax": money(tax),
        "total": money(total),
        "final_total": final["total"],
        "new_total": money(Decimal(final["total"]) + total),
    }


def _tax(subtotal: Decimal, rate: Decimal) -> Decimal:
    """round(subtotal * tax_rate, 2) half-up (DESIGN.md section 7): subtotal_cents * tax_rate / 100,
    by the money engine, as `billing.charges.build_invoices` computes it in Spark."""
    return charge(Decimal(0), int(subtotal * 100), rate, 100, 2)


def notes(finals: Iterable[dict[str, Any]], recomputed: Iterable[dict[str, Any]], catalog: Catalog,
          period: Period) -> list[dict[str, Any]]:
    """One note per final invoice whose total changes under `catalog`, in invoice-number order."""
    by_number = {i["invoice_number"]: i for i in recomputed}
    out = []
    for final in sorted(finals, key=lambda i: i["invoice_number"]):
        after = by_number.get(final["invoice_number"])
        if after is None:
            raise TelecomError(f"invoice {final['invoice_number']} of the final period has no counterpart under "
                               f"catalog {catalog.version} (was the subscriber base changed?)")
        made = note(final, after, catalog, period)
        if made is not None:
            out.append(made)
    return out
