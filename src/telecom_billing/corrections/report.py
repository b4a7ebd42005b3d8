"""HTML of the corrections: one page per credit or debit note, and the rerating report with a plot
of the per-subscriber deltas."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..billing.report import (
    PLOTS_DIR,
    REPORT_FILE,
    empty_plot,
    html_file,
    new_figure,
    save_figure,
    tax_percent,
    template_environment,
)
from .adjustments import NOTE_NUMBER

TOP = 20


def note_file(note: dict[str, Any]) -> str:
    return html_file(note["note_number"], NOTE_NUMBER, "a note number")


def render_notes(notes: Sequence[dict[str, Any]], folder: Path) -> None:
    template = template_environment().get_template("note.html.j2")
    folder.mkdir(parents=True, exist_ok=True)
    for note in notes:
        html = template.render(note=note, tax_percent=tax_percent(note["tax_rate"]))
        (folder / note_file(note)).write_text(html, encoding="utf-8")


def render_rerate_report(manifest: dict[str, Any], changes: Sequence[dict[str, Any]],
                         summary: Sequence[dict[str, Any]], notes: Sequence[dict[str, Any]], folder: Path) -> None:
    plots = folder / PLOTS_DIR
    plots.mkdir(parents=True, exist_ok=True)
    moved = sorted((s for s in summary if Decimal(s["delta"]) != 0),
                   key=lambda s: (-abs(Decimal(s["delta"])), s["msisdn"]))[:TOP]
    _plot_deltas(moved, manifest["currency"], plots / "subscriber_deltas.png")
    totals = {key: format(sum((Decimal(s[key]) for s in summary), Decimal(0)), "f") for key in ("old", "new", "delta")}
    credit = sum((Decimal(n["total"]) for n in notes if Decimal(n["total"]) < 0), Decimal(0))
    debit = sum((Decimal(n["total"]) for n in notes if Decimal(n["total"]) > 0), Decimal(0))
    html = template_environment().get_template("rerate.html.j2").render(
        manifest=manifest, changes=changes[:TOP], change_count=len(changes), totals=totals, moved=moved,
        notes=notes, credit=f"{credit:.2f}", debit=f"{debit:.2f}", plot=f"{PLOTS_DIR}/subscriber_deltas.png",
        note_file=note_file)
    (folder / REPORT_FILE).write_text(html, encoding="utf-8")


def _plot_deltas(moved: Sequence[dict[str, Any]], currency: str, path: Path) -> None:
    figure, ax = new_figure(max(3.0, 0.3 * len(moved) + 1.5))
    if not moved:
        empty_plot(ax, "no charge changed")
    else:
        values = [float(Decimal(s["delta"])) for s in moved]  # plotting only, never a money path
        ax.barh([s["msisdn"] for s in moved], values, color=["#2ca02c" if v < 0 else "#d62728" for v in values])
        ax.invert_yaxis()
        ax.set_xlabel(f"change of the period's rated charges ({currency})")
        ax.set_title(f"Largest changes per subscriber (top {TOP})")
    save_figure(figure, path)
