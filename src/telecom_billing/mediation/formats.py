"""Stages `detect_format` and `check_required`: one view of both raw formats (DESIGN.md section 3,
RULES.md sections 3-5 and 12).

`LAYOUTS` is the whole mapping, as data: for each (format, record type), the required fields in
check order, the role each plays in the unified view (`<role>_text` columns), and what is checked.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..contracts.reasons import Reason
from ..contracts.records import FORMATS, SERVICES
from .columns import problem, raw

CANONICAL, LEGACY = FORMATS
# What a required field must be: present; a non-empty id; MO or MT; a number; an integral number.
PRESENT, ID, DIRECTION, NUMBER, INTEGER = "present", "id", "direction", "number", "integer"
DIRECTIONS = ("MO", "MT")

LAYOUTS: dict[tuple[str, str], tuple[tuple[str, str, str], ...]] = {
    (CANONICAL, "voice"): (("cdr_id", "id", ID), ("event_time", "event_time", PRESENT),
                           ("msisdn", "subscriber", PRESENT), ("direction", "direction", DIRECTION),
                           ("other_party", "other_party", PRESENT), ("duration_sec", "duration", INTEGER)),
    (CANONICAL, "sms"): (("cdr_id", "id", ID), ("event_time", "event_time", PRESENT),
                         ("msisdn", "subscriber", PRESENT), ("direction", "direction", DIRECTION),
                         ("other_party", "other_party", PRESENT)),
    (CANONICAL, "data"): (("cdr_id", "id", ID), ("event_time", "event_time", PRESENT),
                          ("msisdn", "subscriber", PRESENT), ("bytes_up", "bytes_up", INTEGER),
                          ("bytes_down", "bytes_down", INTEGER)),
    (LEGACY, "voice"): (("timestamp", "event_time", PRESENT), ("caller_id", "subscriber", PRESENT),
                        ("callee_id", "other_party", PRESENT), ("duration_sec", "duration", INTEGER)),
    (LEGACY, "sms"): (("timestamp", "event_time", PRESENT), ("sender_id", "subscriber", PRESENT),
                      ("receiver_id", "other_party", PRESENT)),
    (LEGACY, "data"): (("timestamp", "event_time", PRESENT), ("user_id", "subscriber", PRESENT),
                       ("data_volume_mb", "volume", NUMBER), ("session_duration_sec", "duration", INTEGER)),
}
LAYOUT_KEYS = tuple(LAYOUTS)
ROLES = ("id", "event_time", "subscriber", "other_party", "direction", "duration", "bytes_up", "bytes_down", "volume")
NUMERIC_ROLES = {role: check for layout in LAYOUTS.values() for _, role, check in layout if check in (NUMBER, INTEGER)}
# A required field's state in `field_states` (3 bits per role, in `ROLES` order); 0 is fine.
STATES = ("absent", "not a non-empty string", "not MO or MT", "not a number", "not an integer")
_BITS = 3


def text(role: str) -> str:
    """The unified column of a role: `subscriber_text` is msisdn, caller_id, sender_id or user_id."""
    return f"{role}_text"


def _layout_is(*keys: tuple[str, str]) -> Column:
    indexes = [LAYOUT_KEYS.index(key) for key in keys]
    return F.col("layout") == indexes[0] if len(indexes) == 1 else F.col("layout").isin(*indexes)


def _by_layout(role: str, of: str) -> Column:
    """CASE over the layouts that have `role`: its raw column (`of="field"`) or its name (`of="name"`)."""
    expr: Column = F.lit(None).cast("string")
    fields: dict[str, list[tuple[str, str]]] = {}
    for key, layout in LAYOUTS.items():
        for field, field_role, _ in layout:
            if field_role == role:
                fields.setdefault(field, []).append(key)
    for field, keys in fields.items():
        expr = F.when(_layout_is(*keys), F.col(raw(field)) if of == "field" else F.lit(field)).otherwise(expr)
    return expr


def field_name(role: str) -> Column:
    """The input name of `role`'s field in the record's layout, for the words of a rejection."""
    return _by_layout(role, "name")


def detect_format(df: DataFrame) -> DataFrame:
    """Adds `source_format`, `record_type`, `layout` (an index of `LAYOUT_KEYS`), the `<role>_text`
    view, the optional fields (`cell_id`, `technology`, `visited_country` upper-cased), `direction`,
    and the checks `unknown_format` and `unknown_record_type`."""
    c = F.col
    fmt = (F.when(c(raw("cdr_id")).isNotNull() | c(raw("event_time")).isNotNull(), F.lit(CANONICAL))
           .when(c(raw("timestamp")).isNotNull(), F.lit(LEGACY)))
    df = df.withColumns({"source_format": fmt, "record_type": c(raw("record_type"))})
    layout: Column = F.lit(None).cast("int")
    for index, (fmt_name, record_type) in reversed(list(enumerate(LAYOUT_KEYS))):
        layout = F.when((c("source_format") == fmt_name) & (c("record_type") == record_type),
                        F.lit(index)).otherwise(layout)
    df = df.withColumn("layout", layout)
    lower = "abcdefghijklmnopqrstuvwxyz"
    legacy_calls = _layout_is((LEGACY, "voice"), (LEGACY, "sms"))
    return df.withColumns({
        **{text(role): _by_layout(role, "field") for role in ROLES},
        "cell_id": c(raw("cell_id")),
        "technology": c(raw("technology")),
        "visited_country": F.when((c("source_format") == CANONICAL) & (c(raw("visited_country")) != ""),
                                  F.translate(c(raw("visited_country")), lower, lower.upper())),
        # Legacy calls and messages are all outgoing (RULES.md section 12); data has no direction.
        "direction": F.when(legacy_calls, F.lit("MO")).otherwise(_by_layout("direction", "field")),
        problem(Reason.UNKNOWN_FORMAT): c("source_format").isNull(),
        problem(Reason.UNKNOWN_RECORD_TYPE): c("record_type").isNotNull() & ~c("record_type").isin(*SERVICES),
    })


def number_column(role: str) -> str:
    """The struct `parse_numbers` writes for a numeric role: value, is_number, integral."""
    return f"{role}_number"


def _state(role: str) -> Column:
    """The role's state: 0 fine, else 1 + the index of its problem in `STATES`."""
    value = F.col(text(role))
    state = F.when(value.isNull(), F.lit(1))
    if role == "id":
        state = state.when(value == "", F.lit(2))
    elif role == "direction":
        state = state.when(~value.isin(*DIRECTIONS), F.lit(3))
    elif role in NUMERIC_ROLES:
        number = F.col(number_column(role))
        state = state.when(~number["is_number"], F.lit(4))
        if NUMERIC_ROLES[role] == INTEGER:
            state = state.when(~number["integral"], F.lit(5))
    return state.otherwise(F.lit(0))


def check_required(df: DataFrame) -> DataFrame:
    """Adds `field_states` (every role's state, 3 bits each) and the check `missing_field`: the record
    type absent, or a required field of the layout not fine. Needs `parse_numbers`."""
    states: Column = F.lit(0).cast("bigint")
    for index, role in enumerate(ROLES):
        states = states.bitwiseOR(F.shiftleft(_state(role).cast("bigint"), _BITS * index))
    required: Column = F.lit(0).cast("bigint")
    for key, layout in LAYOUTS.items():
        mask = sum(((1 << _BITS) - 1) << (_BITS * ROLES.index(role)) for _, role, _ in layout)
        required = F.when(_layout_is(key), F.lit(mask)).otherwise(required)
    df = df.withColumn("field_states", states)
    missing = ((F.col("record_type").isNull() & F.col("source_format").isNotNull())
               | (F.col("field_states").bitwiseAND(required) != 0))
    return df.withColumn(problem(Reason.MISSING_FIELD), missing)


def missing_field_detail() -> Column:
    """`record_type: absent`, or `<field>: <problem>` for the layout's first required field not fine."""
    detail: Column = F.lit(None).cast("string")
    for key, layout in reversed(list(LAYOUTS.items())):
        first: Column = F.lit(None).cast("string")
        for field, role, _ in reversed(layout):
            state = F.shiftright(F.col("field_states"), _BITS * ROLES.index(role)).bitwiseAND((1 << _BITS) - 1)
            words = F.element_at(F.array(*[F.lit(s) for s in STATES]), state.cast("int"))
            first = F.when(state != 0, F.concat(F.lit(f"{field}: "), words)).otherwise(first)
        detail = F.when(_layout_is(key), first).otherwise(detail)
    return F.when(F.col("record_type").isNull(), F.lit("record_type: absent")).otherwise(detail)


def unknown_format_detail() -> Column:
    return F.lit("neither canonical nor legacy")


def unknown_record_type_detail() -> Column:
    return F.lit("record_type is not voice, sms or data")
