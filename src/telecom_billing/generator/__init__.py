"""Synthetic traffic: a Faker subscriber base and realistic raw CDRs with labelled defects.

Two products, both deterministic for a seed:

* `generate_subscribers` builds the subscriber base (`subscribers`).
* `CdrGenerator` turns a catalog, a subscriber base and the catalog's traffic model into raw CDR
  lines (canonical or legacy format, DESIGN.md section 3), long calls and data sessions as
  partial records (canonical, DESIGN.md 7c) and, on the side, one `Label` per injected defect and
  per part with the outcome mediation must give (docs/RULES.md).

The parts, one concern each:

| module | what |
|---|---|
| `traffic` | the traffic model: its shape as constants (service mix, usage distributions, daily and weekly profile, roaming), and `load_traffic`, which reads what names catalog entries (plan mix and activity, destination zones, visited countries) and the partial records' thresholds and share from `traffic.yaml` beside `catalog.yaml` |
| `subscribers` | the Faker subscriber base (not imported by the package: Faker takes 0.13 s to import, and `telecom --help` reads the generator's defaults) |
| `places` | Moroccan cities and streets, and the city of an address |
| `population` | the subscribers of one run as weighted tables of pre-formatted parts, per local date |
| `events` | the pool of usage events (service, other party, direction, usage) |
| `clock` | the hours of a simulated period and their share of the lines, and the live hour |
| `defects` | the registry: one function per defect kind, with its weight and expected outcome |
| `sessions` | long calls and data sessions as runs of parts, and the registry of their defects |
| `cdrs` | `CdrGenerator`, which assembles lines from those tables and injects defects |
| `batches`, `files` | what the generator yields, and writing it to files |
| `fields` | raw-record field names, and `subscriber_key` (the Kafka key of a raw line) |

No catalog name (plan id, zone, country) appears in the code: the traffic file names them, and
what it leaves out gets a default derived from the catalog (data/README.md, "Traffic model").

Speed matters (hundreds of thousands of lines per second), so everything random about a
subscriber or a number is drawn once into tables at start-up, and the per-CDR loop only indexes
tables and formats one string. Faker never runs per CDR.
"""

from .batches import Batch, Label, write_labels
from .cdrs import CdrGenerator
from .defects import DEFECTS, Defect
from .fields import subscriber_key
from .files import WriteStats, default_labels_path, write_cdrs
from .options import (
    DEFAULT_COUNT,
    DEFAULT_DEFECT_RATE,
    DEFAULT_SEED,
    DEFAULT_SUBSCRIBERS,
    REFERENCE_MONTH,
    GeneratorOptions,
)
from .traffic import (
    MO_SHARE,
    ROAMING_SHARE,
    SERVICE_MIX,
    UTC_SHARE,
    VOICE_MEDIAN_SEC,
    VOICE_SIGMA,
    Partials,
    Traffic,
    TrafficError,
    default_traffic,
    load_traffic,
)

__all__ = ["DEFAULT_COUNT", "DEFAULT_DEFECT_RATE", "DEFAULT_SEED", "DEFAULT_SUBSCRIBERS", "DEFECTS", "MO_SHARE",
           "REFERENCE_MONTH", "ROAMING_SHARE", "SERVICE_MIX", "UTC_SHARE", "VOICE_MEDIAN_SEC", "VOICE_SIGMA", "Batch",
           "CdrGenerator", "Defect", "GeneratorOptions", "Label", "Partials", "Traffic", "TrafficError", "WriteStats",
           "default_labels_path", "default_traffic", "load_traffic", "subscriber_key",
           "write_cdrs", "write_labels"]
