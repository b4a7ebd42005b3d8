"""Stage `check_partial`: a partial record's own fields (DESIGN.md 7c, RULES.md section 18).

A canonical record with any of `session_id`, `sequence`, `partial` is a part of a long call or data
session; one with none is whole, and so is every legacy record. This stage checks what a part can be
judged on alone (`INVALID_PARTIAL`); its session judges the rest (`mediation.sessions`), after
deduplication.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..contracts.limits import MAX_PARTS, MAX_SESSION_ID_CHARS
from ..contracts.reasons import Reason
from .columns import problem, raw
from .formats import CANONICAL
from .numbers import integer

PART_FIELDS = ("session_id", "sequence", "partial")
INTERMEDIATE, LAST = "intermediate", "last"

# The part's own checks in order (RULES.md section 18), each with its words.
_CHECKS: tuple[tuple[str, str], ...] = (
    ("session_absent", "session_id: absent"),
    ("sequence_absent", "sequence: absent"),
    ("partial_absent", "partial: absent"),
    ("session_empty", "session_id: not a non-empty string"),
    ("session_long", f"session_id: longer than {MAX_SESSION_ID_CHARS} characters"),
    ("sequence_not_integer", "sequence: not an integer"),
    ("sequence_low", "sequence: below 1"),
    ("sequence_high", f"sequence: above {MAX_PARTS}"),
    ("partial_word", "partial: not intermediate or last"),
)


def _conditions() -> dict[str, Column]:
    c = F.col
    number = integer(c(raw("sequence")))
    return {
        "session_absent": c(raw("session_id")).isNull(),
        "sequence_absent": c(raw("sequence")).isNull(),
        "partial_absent": c(raw("partial")).isNull(),
        "session_empty": c(raw("session_id")) == "",
        "session_long": F.length(c(raw("session_id"))) > MAX_SESSION_ID_CHARS,
        "sequence_not_integer": ~number["is_number"] | ~number["integral"],
        "sequence_low": number["value"] < 1,
        "sequence_high": number["value"] > MAX_PARTS,
        "partial_word": ~c(raw("partial")).isin(INTERMEDIATE, LAST),
    }


def is_part() -> Column:
    """True for a canonical record with any of the three fields."""
    present = F.col(raw(PART_FIELDS[0])).isNotNull()
    for field in PART_FIELDS[1:]:
        present = present | F.col(raw(field)).isNotNull()
    return (F.col("source_format") == CANONICAL) & present


# What a session writes on the records it decides (`mediation.sessions`): null until then.
SESSION_COLUMNS: dict[str, str] = {
    "partial_detail": "string",  # the words of a rejection against the session
    "merged": "string",  # an assembled CDR's other parts, `partition:offset` joined by `,`
    "partials": "bigint", "incomplete": "boolean", "missing": "array<bigint>", "last_missing": "boolean",
}


def check_partial(df: DataFrame) -> DataFrame:
    """Adds `part` (boolean), `session_id`, `sequence`, `partial` (a part's, else null), `partial_state`
    (the index in `_CHECKS` of the first check the part fails, 1-based; 0 when it passes), the checks
    `invalid_partial` (the part's own fields) and `late_partial` (false: a session decides), and
    `SESSION_COLUMNS`, null."""
    conditions = _conditions()
    state: Column = F.lit(0)
    for index, (name, _) in reversed(list(enumerate(_CHECKS, start=1))):
        state = F.when(F.coalesce(conditions[name], F.lit(False)), F.lit(index)).otherwise(state)
    df = df.withColumn("part", is_part()).withColumn("partial_state", F.when(F.col("part"), state).otherwise(F.lit(0)))
    valid_part = F.col("part") & (F.col("partial_state") == 0)
    return df.withColumns({
        "session_id": F.when(valid_part, F.col(raw("session_id"))),
        "sequence": F.when(valid_part, integer(F.col(raw("sequence")))["value"]),
        "partial": F.when(valid_part, F.col(raw("partial"))),
        problem(Reason.INVALID_PARTIAL): F.col("partial_state") != 0,
        problem(Reason.LATE_PARTIAL): F.lit(False),
        **{name: F.lit(None).cast(kind) for name, kind in SESSION_COLUMNS.items()},
    })


def invalid_partial_detail() -> Column:
    """The words of the part's first failing check, or those its session gave (`partial_detail`)."""
    words = F.element_at(F.array(*[F.lit(words) for _, words in _CHECKS]), F.greatest(F.col("partial_state"), F.lit(1)))
    return F.coalesce(F.col("partial_detail"), words)


def late_partial_detail() -> Column:
    return F.col("partial_detail")
