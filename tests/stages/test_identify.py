from __future__ import annotations

from typing import Any

from pyspark.testing import assertDataFrameEqual

from telecom_billing.contracts.reasons import PRECEDENCE, Reason
from telecom_billing.mediation.columns import problem
from telecom_billing.mediation.identify import identify


def test_ids_and_msisdn_as_far_as_the_record_got(frame: Any) -> None:
    checks = ", ".join(f"{problem(r)} boolean" for r in PRECEDENCE)
    schema = (f"{checks}, source_format string, in_cdr_id string, record_type string, event_time string, "
              "msisdn string, other_party string, duration_sec bigint, bytes_down bigint, cell_id string, "
              "technology string")

    def row(failing: Reason | None, *values: Any) -> tuple[Any, ...]:
        return (*[r == failing for r in PRECEDENCE], *values)

    legacy = ("legacy", None, "data", "2025-04-20T22:00:09.000000Z", "212662663966", None, 524, 7633633,
              "BNIBOUFRAH_02", "3G")
    df = frame(schema, [
        row(None, "canonical", "c-1", "voice", None, "212600000001", None, None, None, None, None),
        row(Reason.UNKNOWN_FORMAT, "canonical", "c-2", None, None, None, None, None, None, None, None),
        row(Reason.MISSING_FIELD, "canonical", "", "voice", None, "212600000001", None, None, None, None, None),
        row(Reason.MISSING_FIELD, "canonical", "c-4", None, None, "212600000001", None, None, None, None, None),
        row(None, *legacy),
        row(Reason.INVALID_TIMESTAMP, *legacy),
    ])
    # "L" + sha256("data|2025-04-20T22:00:09.000000Z|212662663966||524|7633633|BNIBOUFRAH_02|3G")[:31]
    legacy_id = "L83510a927f2e3085dbd8b09a18a94de"
    assertDataFrameEqual(identify(df).select("cdr_id", "known_msisdn"), [
        ("c-1", "212600000001"), (None, None), (None, "212600000001"), ("c-4", None),
        (legacy_id, "212662663966"), (None, "212662663966"),
    ], checkRowOrder=True)
