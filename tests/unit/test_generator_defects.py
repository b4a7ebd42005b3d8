"""The defect registry: one function per kind, each spoiling a clean line into the outcome it declares."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from reference.rating import mediate_and_rate
from telecom_billing.contracts.reasons import Reason
from telecom_billing.generator import DEFECTS, CdrGenerator, GeneratorOptions, load_traffic
from telecom_billing.generator.defects import DUPLICATE, NOTHING_TO_COPY, Spoil, defect, draw_defect
from telecom_billing.infra.settings import load_settings
from telecom_billing.refdata.catalog import Catalog
from telecom_billing.refdata.subscribers import Subscriber

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 27, 12, 0)  # after every simulated event of the reference month


def test_the_registry_is_the_documented_table_in_its_order() -> None:
    """data/README.md lists every kind with its expected reason; the draw order is the registry's."""
    readme = (REPO / "data" / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Labels\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    documented = [(row.split("|")[1].strip(" `"), row.rsplit("|", 2)[1].split(":")[0].strip(" `")) for row in rows]
    assert documented == [(d.kind, "null" if d.expect is None else d.expect) for d in DEFECTS.values()]


def test_each_defect_declares_a_weight_and_an_outcome() -> None:
    for kind, d in DEFECTS.items():
        assert d.kind == kind and d.weight > 0
        assert d.expect is None or d.expect == DUPLICATE or d.expect in set(Reason)
        assert d.copies == (d.expect == DUPLICATE)  # only a copy of a clean line can be a duplicate
    assert not DEFECTS[NOTHING_TO_COPY].copies


def test_a_kind_is_registered_once() -> None:
    before = dict(DEFECTS)
    with pytest.raises(ValueError, match="registered twice"):
        defect("malformed_json", weight=1, expect=None)(lambda s: s.line)
    assert DEFECTS == before


def test_draws_follow_the_weights_and_never_copy_from_nothing() -> None:
    rnd = random.Random(1)
    drawn = [draw_defect(rnd, can_copy=True).kind for _ in range(20_000)]
    total = sum(d.weight for d in DEFECTS.values())
    for kind, d in DEFECTS.items():
        assert drawn.count(kind) / len(drawn) == pytest.approx(d.weight / total, abs=0.01)
    assert not any(draw_defect(rnd, can_copy=False).copies for _ in range(2000))


@pytest.fixture(scope="module")
def clean(catalog: Catalog, subscribers: list[Subscriber]) -> dict[str, tuple[CdrGenerator, list[str]]]:
    """Per format, a generator and the 300 clean whole lines it made (no parts: a defect never
    lands on one)."""
    traffic = load_traffic(load_settings().catalog_dir, catalog)
    traffic = replace(traffic, partials=replace(traffic.partials, share=0.0))
    made = {}
    for fmt in ("canonical", "legacy"):
        generator = CdrGenerator(catalog, subscribers, GeneratorOptions(count=300, fmt=fmt, defects=0, seed=9),
                                 traffic=traffic)
        made[fmt] = generator, [line for batch in generator.batches() for line in batch.lines]
    return made


@pytest.mark.parametrize("fmt", ["canonical", "legacy"])
@pytest.mark.parametrize("kind", list(DEFECTS))
def test_each_defect_gets_its_declared_outcome(kind: str, fmt: str, clean: dict[str, tuple[CdrGenerator, list[str]]],
                                               catalog: Catalog, subscribers: list[Subscriber]) -> None:
    generator, lines = clean[fmt]
    originals, targets = lines[:20], lines[20:80]  # every service; a usage defect turns an SMS into a call
    calls = iter([line for line in lines[80:] if '"voice"' in line])  # each once: stand-ins for SMS lines
    rnd = random.Random(kind)
    spoiled = [DEFECTS[kind].spoil(Spoil(line, rnd, generator.legacy, originals, generator.unknown, generator.tz,
                                         None, lambda: next(calls))) for line in targets]
    assert all(after != before for after, before in zip(spoiled, targets, strict=True)) or kind == "exact_resend"
    result = mediate_and_rate([line.encode() for line in originals + spoiled], catalog, subscribers, now=NOW)
    assert result.rated_offsets[: len(originals)] == list(range(len(originals)))
    rejected = {r["source"]["offset"]: r["reason"] for r in result.rejected}
    outcomes = [DUPLICATE if i in result.duplicate_offsets else rejected.get(i)
                for i in range(len(originals), len(originals) + len(spoiled))]
    assert outcomes == [DEFECTS[kind].expect] * len(spoiled)
