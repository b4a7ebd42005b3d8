"""Readable output: one HTML invoice per subscriber and a period report with plots.

Jinja2 templates (`templates/*.html.j2`, autoescaped: names and addresses are data, never markup)
and matplotlib on the Agg canvas without pyplot's global state. PNGs carry no metadata, so the same
figures give the same bytes.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from matplotlib.figure import Figure

from ..errors import TelecomError
from .charges import INVOICE_NUMBER, LINE_COUNTS

PLOTS_DIR = "plots"
REPORT_FILE = "report.html"
TOP = 10
SERVICE_COLOURS = {"voice": "#1f77b4", "sms": "#ff7f0e", "data": "#2ca02c"}
SERVICE_NAMES = {"voice": "Voice", "sms": "SMS", "data": "Data"}
# What one CDR of a service is to a customer: (one, several); a usage event split into partial records
# is a long call or data session (DESIGN.md 7c).
USAGE_EVENTS = {"voice": ("call", "calls"), "data": ("session", "sessions")}


def template_environment() -> Any:
    env = Environment(loader=PackageLoader("telecom_billing", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["quantity"] = format_quantity
    env.filters["label"] = label
    env.filters["service"] = lambda s: SERVICE_NAMES.get(s, s)
    env.filters["grouped"] = grouped
    env.filters["partial_note"] = partial_note
    return env


def grouped(n: int) -> str:
    """12345 -> `12 345`."""
    return f"{n:,}".replace(",", " ")


def partial_note(line: dict[str, Any]) -> str:
    """An invoice line's CDRs assembled from partial records, for people: `3 calls assembled from
    parts, 1 incomplete` (empty when none was)."""
    assembled, incomplete = line["assembled_cdrs"], line["incomplete_cdrs"]
    if not assembled:
        return ""
    one, several = USAGE_EVENTS.get(line["service"], ("record", "records"))
    note = f"{grouped(assembled)} {one if assembled == 1 else several} assembled from parts"
    return f"{note}, {grouped(incomplete)} incomplete" if incomplete else note


def label(name: str | None) -> str:
    return (name or "").replace("_", " ")


def format_quantity(quantity: int, service: str | None) -> str:
    """Seconds as h/min/s, bytes in binary units, messages as a count."""
    if service == "voice":
        hours, rest = divmod(int(quantity), 3600)
        minutes, seconds = divmod(rest, 60)
        return f"{hours} h {minutes:02d} min {seconds:02d} s" if hours else f"{minutes} min {seconds:02d} s"
    if service == "data":
        value = Decimal(int(quantity))
        for unit in ("B", "KiB", "MiB", "GiB"):
            if value < 1024 or unit == "GiB":
                return f"{value:.0f} B" if unit == "B" else f"{value:.2f} {unit}"
            value /= 1024
    if service == "sms":
        return f"{int(quantity)} SMS"
    return f"{int(quantity)} days"


def html_file(number: str, pattern: re.Pattern[str], what: str) -> str:
    """`<number>.html`, after checking the number is one of ours (never a path from record content)."""
    if not pattern.fullmatch(number):
        raise TelecomError(f"refusing to name a file after {number!r}: not {what}")
    return f"{number}.html"


def invoice_file(invoice: dict[str, Any]) -> str:
    return html_file(invoice["invoice_number"], INVOICE_NUMBER, "an invoice number")


def tax_percent(tax_rate: str) -> str:
    """`0.20` -> `20`, `0.075` -> `7.5`: the catalog's tax rate as a percentage, for people."""
    return format((Decimal(tax_rate) * 100).normalize(), "f")


def render_invoices(invoices: Sequence[dict[str, Any]], folder: Path) -> None:
    template = template_environment().get_template("invoice.html.j2")
    folder.mkdir(parents=True, exist_ok=True)
    for invoice in invoices:
        allowances = [{**a, "share": (Decimal(a["used"]) * 100 / a["quantity"]).quantize(Decimal(1))}
                      for a in invoice["allowances"]]
        html = template.render(invoice=invoice, allowances=allowances, tax_percent=tax_percent(invoice["tax_rate"]))
        (folder / invoice_file(invoice)).write_text(html, encoding="utf-8")


def render_report(invoices: Sequence[dict[str, Any]], hourly: Sequence[dict[str, Any]],
                  reconciliation: dict[str, Any], folder: Path, html_dir: str) -> None:
    """`report.html` and its PNG plots in `plots/`."""
    plots = folder / PLOTS_DIR
    plots.mkdir(parents=True, exist_ok=True)
    revenue = revenue_by_service_zone(invoices)
    top = sorted(invoices, key=lambda i: (-Decimal(i["total"]), i["invoice_number"]))[:TOP]
    allowances = allowance_use(invoices)
    partials = partial_records(invoices)
    figures = {
        "revenue_by_service_zone.png": lambda path: _plot_revenue(revenue, path),
        "usage_by_hour.png": lambda path: _plot_hours(hourly, path),
        "allowance_use.png": lambda path: _plot_allowances(allowances, path),
        "top_subscribers.png": lambda path: _plot_top(top, path),
    }
    for name, draw in figures.items():
        draw(plots / name)
    currency = invoices[0]["currency"] if invoices else reconciliation["amounts"]["currency"]
    html = template_environment().get_template("report.html.j2").render(
        report=reconciliation, revenue=revenue, top=top, allowances=allowances, partials=partials, currency=currency,
        plots={name.removesuffix(".png"): f"{PLOTS_DIR}/{name}" for name in figures}, html_dir=html_dir,
        invoice_file=invoice_file, invoice_count=len(invoices))
    (folder / REPORT_FILE).write_text(html, encoding="utf-8")


# -- data for the plots --------------------------------------------------------------------------------


def revenue_by_service_zone(invoices: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for invoice in invoices:
        for line in invoice["lines"]:
            if line["type"] == "usage":
                sums[(line["service"], line["zone"])] += Decimal(line["amount"])
    return [{"service": s, "zone": z, "amount": f"{a:.2f}"} for (s, z), a in sorted(sums.items())]


def partial_records(invoices: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per service billed (usage and late usage lines): its CDRs (`cdr_count`), how many were
    assembled from partial records (`assembled_cdrs`), and how many of those closed incomplete
    (`incomplete_cdrs`)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for invoice in invoices:
        for line in invoice["lines"]:
            if line["type"] != "recurring":
                counts[line["service"]].update({name: line[name] for name in LINE_COUNTS})
    return [{"service": service, **{name: c[name] for name in LINE_COUNTS}} for service, c in sorted(counts.items())]


def allowance_use(invoices: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per plan and allowance: subscribers, average share used, share of subscribers who used it all."""
    groups: dict[tuple[str, str], list[Decimal]] = defaultdict(list)
    for invoice in invoices:
        for a in invoice["allowances"]:
            groups[(invoice["plan_id"], a["name"])].append(Decimal(a["used"]) / a["quantity"])
    out = []
    for (plan, name), shares in sorted(groups.items()):
        out.append({"plan_id": plan, "name": name, "subscribers": len(shares),
                    "average_percent": (sum(shares, Decimal(0)) * 100 / len(shares)).quantize(Decimal("0.1")),
                    "exhausted_percent": (Decimal(sum(1 for s in shares if s >= 1)) * 100 / len(shares))
                    .quantize(Decimal("0.1"))})
    return out


# -- plots ---------------------------------------------------------------------------------------------


def new_figure(height: float = 4.0) -> Any:
    figure = Figure(figsize=(8, height), dpi=100, layout="constrained")
    return figure, figure.subplots()


def save_figure(figure: Any, path: Path) -> None:
    figure.savefig(path, format="png", metadata={"Software": None})


def empty_plot(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def _plot_revenue(revenue: Sequence[dict[str, Any]], path: Path) -> None:
    figure, ax = new_figure(max(3.0, 0.3 * len(revenue) + 1.5))
    if not revenue:
        empty_plot(ax, "no usage in this period")
    else:
        names = [f"{r['service']} / {label(r['zone'])}" for r in revenue]
        values = [float(Decimal(r["amount"])) for r in revenue]  # plotting only, never a money path
        ax.barh(names, values, color=[SERVICE_COLOURS.get(r["service"], "grey") for r in revenue])
        ax.invert_yaxis()
        ax.set_xlabel("usage revenue, before tax")
        ax.set_title("Revenue by service and zone")
    save_figure(figure, path)


def _plot_hours(hourly: Sequence[dict[str, Any]], path: Path) -> None:
    figure, ax = new_figure()
    if not hourly:
        empty_plot(ax, "no usage in this period")
    else:
        for service in sorted({h["service"] for h in hourly}):
            counts = {h["local_hour"]: h["cdrs"] for h in hourly if h["service"] == service}
            ax.plot(range(24), [counts.get(hour, 0) for hour in range(24)], marker="o", label=service,
                    color=SERVICE_COLOURS.get(service))
        ax.set_xticks(range(0, 24, 2))
        ax.set_xlabel("local hour of day")
        ax.set_ylabel("CDRs")
        ax.legend()
        ax.set_title("Usage by hour of day")
    save_figure(figure, path)


def _plot_allowances(allowances: Sequence[dict[str, Any]], path: Path) -> None:
    figure, ax = new_figure(max(3.0, 0.45 * len(allowances) + 1.5))
    if not allowances:
        empty_plot(ax, "no allowances in the billed plans")
    else:
        names = [f"{a['plan_id']} / {label(a['name'])}" for a in allowances]
        positions = range(len(allowances))
        ax.barh([p - 0.2 for p in positions], [float(a["average_percent"]) for a in allowances], height=0.4,
                label="average share used")
        ax.barh([p + 0.2 for p in positions], [float(a["exhausted_percent"]) for a in allowances], height=0.4,
                label="subscribers who used it all")
        ax.set_yticks(list(positions), names)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("%")
        ax.legend(loc="lower right")
        ax.set_title("Allowance use")
    save_figure(figure, path)


def _plot_top(top: Sequence[dict[str, Any]], path: Path) -> None:
    figure, ax = new_figure()
    if not top:
        empty_plot(ax, "no invoices in this period")
    else:
        ax.barh([i["invoice_number"] for i in top], [float(Decimal(i["total"])) for i in top], color="#9467bd")
        ax.invert_yaxis()
        ax.set_xlabel(f"invoice total, {top[0]['currency']}")
        ax.set_title(f"Top {len(top)} invoices")
    save_figure(figure, path)
