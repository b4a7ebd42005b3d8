from __future__ import annotations

from typing import Any

from pyspark.testing import assertDataFrameEqual

from telecom_billing.mediation.formats import LAYOUT_KEYS
from telecom_billing.mediation.msisdn import check_msisdns, invalid_msisdn_detail, normalize_msisdns

SCHEMA = "layout int, subscriber_text string, other_party_text string"
VOICE, LEGACY_VOICE = LAYOUT_KEYS.index(("canonical", "voice")), LAYOUT_KEYS.index(("legacy", "voice"))


def test_normalize_and_check(frame: Any) -> None:
    df = frame(SCHEMA, [
        (VOICE, "212612345678", "33612345678"),
        (VOICE, "+212 612-345.678", "0612345678"),
        (VOICE, "00212612345678", "(212)\t612345678"),
        (VOICE, "212612345678", "000212612345678"),
        (LEGACY_VOICE, "invalid_phone", "212612345678"),
        (VOICE, "212612345678", None),
    ])
    out = normalize_msisdns(df, "212").transform(check_msisdns).select(
        "msisdn", "other_party", "msisdn_key", "invalid_msisdn", invalid_msisdn_detail().alias("words"))
    assertDataFrameEqual(out, [
        ("212612345678", "33612345678", 212612345678, False, "other_party: invalid"),
        ("212612345678", "212612345678", 212612345678, False, "other_party: invalid"),
        ("212612345678", "212612345678", 212612345678, False, "other_party: invalid"),
        ("212612345678", None, 212612345678, True, "other_party: invalid"),
        (None, "212612345678", None, True, "caller_id: invalid"),
        ("212612345678", None, 212612345678, False, "other_party: invalid"),
    ], checkRowOrder=True)
