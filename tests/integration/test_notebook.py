"""notebooks/tour.ipynb: run top to bottom (nbclient, a real kernel) on the demo's month, and committed
clean (no outputs, no local paths)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.integration

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "tour.ipynb"


def test_the_committed_notebook_has_no_outputs_and_no_local_paths() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert not re.search(r"/tmp/|/work/|/home/|/root/|/Users/|[A-Z]:\\\\", NOTEBOOK.read_text())


def test_the_notebook_runs_top_to_bottom_on_the_demo(demo: dict[str, Any], kafka_bootstrap: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELECOM_OUTPUT_DIR", str(demo["out"]))
    monkeypatch.setenv("TELECOM_BOOTSTRAP_SERVERS", kafka_bootstrap)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()  # raises on a failing cell
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "period 2026-10: final" in text and "rated CDRs" in text
    plots = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert len(plots) == 4, "revenue by plan, usage by hour, allowance use, rejects by reason"
