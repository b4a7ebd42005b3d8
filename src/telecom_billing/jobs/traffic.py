"""The traffic service: a generator over a catalog and a subscriber base, and its lines sent to `cdr.raw`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UsageError
from ..generator import CdrGenerator, load_traffic
from ..infra.settings import Settings
from ..producer import encoded, produce
from ..refdata.catalog import load_catalog
from ..refdata.subscribers import load_subscribers

if TYPE_CHECKING:
    from ..generator import CdrGenerator, GeneratorOptions, Traffic
    from ..producer import ProduceStats
    from ..refdata.catalog import Catalog


def build_generator(settings: Settings, options: GeneratorOptions, catalog: Path | None = None,
                    subscribers: Path | None = None, first: int | None = None) -> CdrGenerator:
    """The generator for the catalog (and its traffic model) and the subscriber base (its `first`
    subscribers when given); None paths are the settings' defaults."""
    tariffs, traffic = catalog_and_traffic(catalog or settings.catalog_dir)
    if options.parts_share is not None:
        traffic = dataclasses.replace(traffic, partials=dataclasses.replace(traffic.partials, share=options.parts_share))
    path = subscribers or settings.subscribers_file
    if not Path(path).exists():
        raise UsageError(f"{path}: subscriber file not found; create one with "
                         f"`telecom generate --subscribers-only --out {path}`")
    base = load_subscribers(path)
    if first is not None:
        if first < 1:
            raise UsageError("--subscribers must be at least 1")
        base = base[:first]
    return CdrGenerator(tariffs, base, options, traffic=traffic)


def catalog_and_traffic(path: Path) -> tuple[Catalog, Traffic]:
    """The catalog in folder `path`, and its traffic model (the `traffic.yaml` beside it)."""
    catalog = load_catalog(path)
    return catalog, load_traffic(path, catalog)


def produce_generated(settings: Settings, generator: CdrGenerator) -> ProduceStats:
    """Every line of the generator, keyed by subscriber, to the raw topic (the measured-best tuning)."""
    return produce(settings, settings.topic_raw, encoded(generator.batches(keyed=True)))
