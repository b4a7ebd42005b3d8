"""An independent, pure-Python reference of mediation + rating, written from docs/RULES.md.

The Spark pipeline is property-tested against it and the benchmark uses it as the Python peer, so
it shares no rule logic with `telecom_billing` (only the typed catalog, subscribers and the contracts),
never imports pyspark, indexes the catalog once per call, and never raises on any input. Partial records
(RULES.md section 18): a part's own checks here, its session in `partials.py`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from reference.partials import PART_FIELDS, PARTIAL_KINDS, WHOLE, Assembly, Closing, Part, PartFields, Sessions
from telecom_billing.contracts import schemas
from telecom_billing.contracts.limits import MAX_PARTS, MAX_SESSION_ID_CHARS
from telecom_billing.contracts.reasons import Reason
from telecom_billing.contracts.records import DUPLICATE, MERGED, RATED, REJECTED
from telecom_billing.refdata.catalog import Catalog, Rate
from telecom_billing.refdata.subscribers import Subscriber

MAX_VOICE_SECONDS = 86_400
MAX_DATA_BYTES = 107_374_182_400
MAX_SESSION_SECONDS = 86_400
FUTURE_TOLERANCE = timedelta(hours=1)
# Jackson's StreamReadConstraints defaults, as Spark's JSON reader applies them (RULES.md section 2).
MAX_JSON_DEPTH = 1000
MAX_NUMBER_DIGITS = 1000
MAX_NAME_UNITS = 50_000
MAX_STRING_UNITS = 20_000_000
BYTES_PER_MB = 1_048_576
UNIT_PRICE_PLACES = 10
EPOCH = datetime(1970, 1, 1)
# Magnitudes beyond this are classified by sign alone (no usage limit comes near it).
_HUGE = Decimal(10) ** 15

_NUMBER_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_E164 = re.compile(r"[1-9][0-9]{7,14}")
_MSISDN_NOISE = str.maketrans("", "", " \t-.()")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_SPACE = " \t\r\n"
_NOT_OBJECT = "not a JSON object"
# The fields mediation reads; every one is read as text (RULES.md section 2).
_READ_FIELDS = frozenset({
    "cdr_id", "record_type", "event_time", "msisdn", "other_party", "direction", "duration_sec",
    "bytes_up", "bytes_down", "cell_id", "technology", "visited_country", "timestamp", "caller_id",
    "callee_id", "sender_id", "receiver_id", "user_id", "data_volume_mb", "session_duration_sec",
    *PART_FIELDS,
})

_CANONICAL_REQUIRED = {
    "voice": ("cdr_id", "event_time", "msisdn", "direction", "other_party", "duration_sec"),
    "sms": ("cdr_id", "event_time", "msisdn", "direction", "other_party"),
    "data": ("cdr_id", "event_time", "msisdn", "bytes_up", "bytes_down"),
}
_LEGACY_REQUIRED = {
    "voice": ("timestamp", "caller_id", "callee_id", "duration_sec"),
    "sms": ("timestamp", "sender_id", "receiver_id"),
    "data": ("timestamp", "user_id", "data_volume_mb", "session_duration_sec"),
}
_LEGACY_PARTIES = {"voice": ("caller_id", "callee_id"), "sms": ("sender_id", "receiver_id"), "data": ("user_id", None)}
_INTEGER_FIELDS = frozenset({"duration_sec", "bytes_up", "bytes_down", "session_duration_sec"})
_NUMBER_FIELDS = _INTEGER_FIELDS | {"data_volume_mb"}


@dataclass(frozen=True)
class Assembled:
    """An assembled CDR (RULES.md section 18): its place (its first part's offset), the offsets of the other
    parts merged into it, and its assembly. It is rated or rejected at that place."""

    cdr_id: str
    offset: int
    merged_offsets: tuple[int, ...]
    assembly: Assembly


@dataclass
class Result:
    """Rated and rejected records in offset order; an assembled CDR takes its first part's place."""

    rated: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    # Arrival positions (offsets) of the rated records, of the duplicates and of the parts merged into an
    # assembled CDR beyond its first part, in order.
    rated_offsets: list[int] = field(default_factory=list)
    duplicate_offsets: list[int] = field(default_factory=list)
    merged_offsets: list[int] = field(default_factory=list)
    assembled: list[Assembled] = field(default_factory=list)

    @property
    def merged(self) -> int:
        return len(self.merged_offsets)

    def outcomes(self) -> dict[int, str]:
        """Each raw record's outcome by offset: rated, rejected, duplicate or merged (DESIGN.md 7c)."""
        outcomes = dict.fromkeys(self.rated_offsets, RATED)
        outcomes.update(dict.fromkeys((r["source"]["offset"] for r in self.rejected), REJECTED))
        outcomes.update(dict.fromkeys(self.duplicate_offsets, DUPLICATE))
        outcomes.update(dict.fromkeys(self.merged_offsets, MERGED))
        return dict(sorted(outcomes.items()))


@dataclass(frozen=True)
class SessionCounts:
    """How many sessions were assembled, complete and incomplete (rated or rejected `NO_RATE`)."""

    complete: int
    incomplete: int


def session_counts(result: Result) -> SessionCounts:
    """The sessions a result assembled, complete and incomplete."""
    incomplete = sum(1 for assembled in result.assembled if assembled.assembly.incomplete)
    return SessionCounts(len(result.assembled) - incomplete, incomplete)


def split_records(data: bytes) -> list[bytes]:
    """The file driver's records: lines split on `\\n`, one trailing `\\r` dropped, no record
    after a final newline (RULES.md section 16)."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def active_on(subscriber: Subscriber, day: date) -> bool:
    """Active on local date `day`: activation <= day < termination (none: still active; RULES.md section 10)."""
    return subscriber.activation_date <= day and (subscriber.termination_date is None
                                                  or day < subscriber.termination_date)


def mediate_and_rate(
    lines: Iterable[bytes | tuple[bytes, datetime]],
    catalog: Catalog,
    subscribers: Iterable[Subscriber],
    now: datetime,
    dedup_window: timedelta = timedelta(hours=24),
    topic: str | None = None,
    partition: int | None = None,
) -> Result:
    """Mediate and rate raw records in arrival order; the position of a record is its offset.

    A record is either the payload bytes (the whole input arrives at once, as in the file driver,
    so every later copy of a `cdr_id` is a duplicate) or `(payload, arrival_time)`: a copy is then a
    duplicate only while the first copy's arrival is less than `dedup_window` old.

    Parts of partial records (RULES.md section 18) are assembled with the file driver's semantics in
    both cases: a session closes once complete, and every session still open at the end of the input
    closes as incomplete.
    """
    rater = _Rater(catalog, subscribers, now)
    run = _Run(rater, dedup_window)
    for offset, item in enumerate(lines):
        payload, arrival_time = item if isinstance(item, tuple) else (item, None)
        source = {"topic": topic, "partition": partition, "offset": offset}
        run.take(_Arrival(offset, payload, source), arrival_time)
    return run.finish()


# -- internals --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Arrival:
    """A raw record and its place in the input."""

    offset: int
    payload: bytes
    source: dict[str, Any]


@dataclass(frozen=True)
class _Mediated:
    """A part as its session holds it: where it came from and what mediation made of it."""

    arrival: _Arrival
    cdr: _Cdr


class _SeenIds:
    """The `cdr_id`s of the records that passed every check before deduplication (RULES.md section 11)."""

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self.first_arrivals: dict[str, datetime | None] = {}

    def repeats(self, cdr_id: str, arrival_time: datetime | None) -> bool:
        """True for a later copy within the window; else the id is (again) seen from this arrival."""
        if cdr_id in self.first_arrivals:
            first = self.first_arrivals[cdr_id]
            if first is None or arrival_time is None or arrival_time - first < self.window:
                return True
        self.first_arrivals[cdr_id] = arrival_time
        return False


class _Run:
    """One input's records taken in arrival order, each to exactly one outcome."""

    def __init__(self, rater: _Rater, dedup_window: timedelta) -> None:
        self.rater = rater
        self.seen_ids = _SeenIds(dedup_window)
        self.sessions: Sessions[_Mediated] = Sessions()
        self.rated: list[tuple[int, dict[str, Any]]] = []
        self.rejected: list[tuple[int, dict[str, Any]]] = []
        self.duplicate_offsets: list[int] = []
        self.merged_offsets: list[int] = []
        self.assembled: list[Assembled] = []

    def take(self, arrival: _Arrival, arrival_time: datetime | None) -> None:
        outcome = self.rater.mediate(arrival.payload)
        if isinstance(outcome, _Rejection):
            self._reject(arrival, outcome)
        elif self.seen_ids.repeats(outcome.cdr_id, arrival_time):
            self.duplicate_offsets.append(arrival.offset)
        elif outcome.part is None:
            self._rate(arrival, outcome)
        else:
            self._take_part(_Mediated(arrival, outcome), outcome.part)

    def finish(self) -> Result:
        """Close the sessions still open, then the result in offset order."""
        for closing in self.sessions.close_open():
            self._assemble(closing)
        self.rated.sort(key=lambda entry: entry[0])
        self.rejected.sort(key=lambda entry: entry[0])
        return Result(
            rated=[record for _, record in self.rated],
            rejected=[record for _, record in self.rejected],
            duplicates=len(self.duplicate_offsets),
            rated_offsets=[offset for offset, _ in self.rated],
            duplicate_offsets=self.duplicate_offsets,
            merged_offsets=sorted(self.merged_offsets),
            assembled=sorted(self.assembled, key=lambda assembled: assembled.offset),
        )

    def _take_part(self, part: _Mediated, fields: PartFields) -> None:
        cdr = part.cdr
        key = (cdr.msisdn, fields.session_id)
        if self.sessions.repeats(key, fields.sequence):
            self.duplicate_offsets.append(part.arrival.offset)
            return
        closed_as = self.sessions.closed_as(key)
        if closed_as is not None:
            self._reject_part(part, Reason.LATE_PARTIAL, f"session closed as {closed_as}")
            return
        shared = (cdr.record_type, cdr.other_party, cdr.direction, cdr.visited_country)
        closing = self.sessions.hold(key, Part(fields, shared, part))
        if closing is not None:
            self._assemble(closing)

    def _assemble(self, closing: Closing[_Mediated]) -> None:
        """Rate (or reject) a closed session's assembled CDR in its first part's place; account for the
        other parts merged and reject the parts that do not belong."""
        self._rate(closing.first.record.arrival, _assembled_cdr(closing))
        merged_offsets = tuple(part.record.arrival.offset for part in closing.others)
        self.merged_offsets.extend(merged_offsets)
        first_offset = closing.first.record.arrival.offset
        self.assembled.append(Assembled(closing.session_id, first_offset, merged_offsets, closing.assembly))
        for part, detail in closing.rejected:
            self._reject_part(part.record, Reason.INVALID_PARTIAL, detail)

    def _rate(self, arrival: _Arrival, cdr: _Cdr) -> None:
        outcome = self.rater.rate(cdr)
        if isinstance(outcome, _Rejection):
            self._reject(arrival, outcome)
        else:
            self.rated.append((arrival.offset, outcome))

    def _reject_part(self, part: _Mediated, reason: Reason, detail: str) -> None:
        self._reject(part.arrival, _Rejection(reason, detail, part.cdr.msisdn, part.cdr.cdr_id))

    def _reject(self, arrival: _Arrival, rejection: _Rejection) -> None:
        self.rejected.append((arrival.offset, rejection.as_dict(arrival.payload, arrival.source)))


def _assembled_cdr(closing: Closing[_Mediated]) -> _Cdr:
    """The first part's record with the session's id, the merged parts' summed usage and the assembly
    (RULES.md section 18); rated like any CDR, without the per-record usage limits."""
    parts = [part.record.cdr for part in closing.merged]
    return replace(
        closing.first.record.cdr,
        cdr_id=closing.session_id,
        duration_sec=_total(cdr.duration_sec for cdr in parts),
        bytes_up=_total(cdr.bytes_up for cdr in parts),
        bytes_down=_total(cdr.bytes_down for cdr in parts),
        quantity=sum(cdr.quantity for cdr in parts),
        part=None,
        assembly=closing.assembly,
    )


def _total(values: Iterable[int | None]) -> int | None:
    """The sum of a usage field over parts of one record type: None when the type has no such field."""
    present = [value for value in values if value is not None]
    return sum(present) if present else None


class _Reject(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        self.reason = reason
        self.detail = detail


@dataclass
class _Rejection:
    reason: Reason
    detail: str
    msisdn: str | None
    cdr_id: str | None

    def as_dict(self, payload: bytes, source: dict[str, Any]) -> dict[str, Any]:
        try:
            raw: str | None = bytes(payload).decode("utf-8")
            raw_base64 = None
        except UnicodeDecodeError:
            raw = None
            raw_base64 = base64.b64encode(bytes(payload)).decode("ascii")
        return {
            schemas.FIELD: schemas.REJECTED_CDR,
            "reason": str(self.reason),
            "detail": self.detail,
            "raw": raw,
            "raw_base64": raw_base64,
            "msisdn": self.msisdn,
            "cdr_id": self.cdr_id,
            "source": source,
        }


@dataclass
class _Cdr:
    """A record that passed validation, with its subscriber's plan."""

    cdr_id: str
    record_type: str
    event_time: datetime  # naive UTC
    msisdn: str
    other_party: str | None
    direction: str | None
    duration_sec: int | None
    bytes_up: int | None
    bytes_down: int | None
    cell_id: str | None
    technology: str | None
    visited_country: str | None
    source_format: str
    plan_id: str
    local_weekday: int
    local_minute: int
    quantity: int  # seconds (voice), 1 (sms), bytes_up + bytes_down (data)
    part: PartFields | None = None  # a part of a partial record; None for a whole record
    assembly: Assembly = WHOLE


class _JsonInt(str):
    """The literal text of a JSON integer."""


class _JsonFloat(str):
    """The literal text of a JSON number with a fraction or an exponent."""


class _JsonObject(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs in document order, duplicates included."""


class _JsonLimit(ValueError):
    """A document beyond one of Jackson's read limits."""


def _utf16_units(text: str) -> int:
    return len(text) + sum(1 for c in text if c > "\uffff") if not text.isascii() else len(text)


def _number_literal(kind: type[str]) -> Any:
    def parse(text: str) -> str:
        if sum(c.isdigit() for c in text) > MAX_NUMBER_DIGITS:
            raise _JsonLimit("number too long")
        return kind(text)

    return parse


def _pairs(pairs: list[tuple[str, Any]]) -> _JsonObject:
    for key, _ in pairs:
        if len(key) * 2 > MAX_NAME_UNITS and _utf16_units(key) > MAX_NAME_UNITS:
            raise _JsonLimit("name too long")
    return _JsonObject(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON literal {name}")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs,
    parse_int=_number_literal(_JsonInt),
    parse_float=_number_literal(_JsonFloat),
    parse_constant=_no_constant,
)


def _json_depth(value: Any) -> int:
    """Nesting depth of a parsed document (iterative: the document may be thousands deep)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, _JsonObject):
            item = [v for _, v in item]
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in item)
    return deepest


def _longest_string(value: Any) -> int:
    """The longest string value (UTF-16 units) in a document, keys aside (they have their own limit)."""
    if isinstance(value, str) and not isinstance(value, (_JsonInt, _JsonFloat)):
        return _utf16_units(value)
    if isinstance(value, _JsonObject):
        return max((_longest_string(v) for _, v in value), default=0)
    if isinstance(value, list):
        return max((_longest_string(v) for v in value), default=0)
    return 0


def java_double_text(value: float) -> str:
    """Java's `Double.toString` layout with the shortest round-trip digits (what Jackson writes).

    Plain notation for 1e-3 <= |x| < 1e7 (at least one fraction digit), else `d.dddE[-]n`.
    JDK 19+ picks the shortest digits exactly like Python's `repr`; JDK 17 prints a few doubles
    of magnitude 1e16 to 1e26 with an extra digit (RULES.md section 2).
    """
    if math.isinf(value):
        return '"Infinity"' if value > 0 else '"-Infinity"'
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent_text = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    significant = (whole + fraction).lstrip("0")
    # value = 0.<digits> * 10^exponent
    exponent = int(exponent_text or 0) + len(whole) - (len(whole + fraction) - len(significant))
    digits = significant.rstrip("0")
    if 1e-3 <= abs(value) < 1e7:
        if exponent <= 0:
            return f"{sign}0.{'0' * -exponent}{digits}"
        if exponent >= len(digits):
            return f"{sign}{digits}{'0' * (exponent - len(digits))}.0"
        return f"{sign}{digits[:exponent]}.{digits[exponent:]}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{exponent - 1}"


def _jackson_string(text: str) -> str:
    """A JSON string as Jackson's UTF-8 generator writes it: short escapes, other controls as
    upper-case `\\u00XX`, every UTF-16 surrogate unit escaped (`\\uD83D\\uDE00`), the rest raw."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"' or char == "\\":
            out.append("\\" + char)
        elif code < 0x20:
            out.append(_SHORT_ESCAPES.get(char) or f"\\u{code:04X}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04X}")
        elif code > 0xFFFF:
            high, low = divmod(code - 0x10000, 0x400)
            out.append(f"\\u{0xD800 + high:04X}\\u{0xDC00 + low:04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


_SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _jackson_copy(value: Any) -> str:
    """Compact JSON of a parsed value, as Jackson's `copyCurrentStructure` writes it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, _JsonInt):
        return str(int(value))
    if isinstance(value, _JsonFloat):
        return java_double_text(float(value))
    if isinstance(value, str):
        return _jackson_string(value)
    if isinstance(value, _JsonObject):
        return "{" + ",".join(f"{_jackson_string(k)}:{_jackson_copy(v)}" for k, v in value) + "}"
    return "[" + ",".join(_jackson_copy(v) for v in value) + "]"


def _field_text(value: Any) -> str | None:
    """A field as Spark reads it into a string column (RULES.md section 2): a string as is (an
    unpaired surrogate becomes `?`), any other value as its JSON text, null as absent."""
    if value is None:
        return None
    if isinstance(value, (_JsonInt, _JsonFloat)) or not isinstance(value, str):
        return _jackson_copy(value)
    return _SURROGATE.sub("?", value) if not value.isascii() else value


@contextmanager
def _recursion_room() -> Iterator[None]:
    """Room for recursion over documents up to `MAX_JSON_DEPTH` levels deep (several frames a level)."""
    limit = sys.getrecursionlimit()
    if limit < 4 * MAX_JSON_DEPTH:
        sys.setrecursionlimit(4 * MAX_JSON_DEPTH)
    try:
        yield
    finally:
        if sys.getrecursionlimit() != limit:
            sys.setrecursionlimit(limit)


def _parse_json(payload: bytes) -> dict[str, str]:
    """The read fields of a record as text (absent or null fields left out), or a rejection."""
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError:
        raise _Reject(Reason.MALFORMED_JSON, "not UTF-8") from None
    start = len(text) - len(text.lstrip(_JSON_SPACE))
    if not text.startswith("{", start):
        raise _Reject(Reason.MALFORMED_JSON, _NOT_OBJECT)
    # Python's decoder recurses once per level: give it room beyond the limit, then measure.
    try:
        with _recursion_room():
            value, _ = _DECODER.raw_decode(text, start)  # what follows the first value is ignored
    except (ValueError, RecursionError):
        raise _Reject(Reason.MALFORMED_JSON, _NOT_OBJECT) from None
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _json_depth(value) > MAX_JSON_DEPTH:
        raise _Reject(Reason.MALFORMED_JSON, _NOT_OBJECT)
    fields: dict[str, Any] = {}
    for key, field_value in value:  # the last of duplicate keys wins
        if key in _READ_FIELDS:
            if len(text) > MAX_STRING_UNITS and _longest_string(field_value) > MAX_STRING_UNITS:
                raise _Reject(Reason.MALFORMED_JSON, _NOT_OBJECT)
            fields[key] = field_value
    with _recursion_room():  # the text of a field nested up to 1000 levels deep is built recursively too
        texts = {key: _field_text(v) for key, v in fields.items()}
    return {key: v for key, v in texts.items() if v is not None}


def _exact(text: str) -> Decimal:
    """The exact value of a number literal; beyond Decimal's exponent range only its class matters."""
    try:
        return Decimal(text)
    except InvalidOperation:
        mantissa, _, exponent = text.lower().partition("e")
        negative = mantissa.lstrip().startswith("-")
        if not any(c in "123456789" for c in mantissa):
            return Decimal(0)
        if exponent.lstrip("+").startswith("-"):
            return Decimal("-1E-999999999999999999" if negative else "1E-999999999999999999")
        return Decimal("-Infinity" if negative else "Infinity")


def _number(value: str) -> Decimal | None:
    """The exact value of a field's text when it is a number (RULES.md section 5), else None."""
    text = value.strip(" \t\r\n")
    return _exact(text) if _NUMBER_TEXT.fullmatch(text) else None


def _bounded_int(value: Decimal) -> int:
    """An integral value, capped so that huge magnitudes keep their sign but stay cheap."""
    if value > _HUGE:
        return int(_HUGE) + 1
    if value < -_HUGE:
        return -int(_HUGE) - 1
    return int(value)


def _utc_text(moment: datetime) -> str:
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}Z"
    )


def _ratio_text(numerator: int, denominator: int, places: int) -> str:
    """numerator / denominator (both >= 0) rounded half-up to exactly `places` decimals."""
    quotient, remainder = divmod(numerator * 10**places, denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    if places == 0:
        return str(quotient)
    digits = str(quotient).rjust(places + 1, "0")
    return f"{digits[:-places]}.{digits[-places:]}"


def _money_text(value: Decimal) -> str:
    exponent = value.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) and exponent < 0 else 2
    return f"{value:.{places}f}"


@dataclass(frozen=True)
class _RateTerms:
    """A catalog rate with everything the per-CDR arithmetic needs, computed once."""

    rate: Rate
    price_text: str
    connect_fee_text: str
    unit_price_text: str
    # charge = (fee_numerator + billable * price_numerator) / denominator, exactly
    fee_numerator: int
    price_numerator: int
    denominator: int


def _terms(rate: Rate) -> _RateTerms:
    price_n, price_d = rate.price.as_integer_ratio()
    fee_n, fee_d = rate.connect_fee.as_integer_ratio()
    return _RateTerms(
        rate=rate,
        price_text=_money_text(rate.price),
        connect_fee_text=_money_text(rate.connect_fee),
        unit_price_text=_ratio_text(price_n, price_d * rate.per, UNIT_PRICE_PLACES),
        fee_numerator=fee_n * price_d * rate.per,
        price_numerator=price_n * fee_d,
        denominator=fee_d * price_d * rate.per,
    )


class _Rater:
    def __init__(self, catalog: Catalog, subscribers: Iterable[Subscriber], now: datetime) -> None:
        self.catalog = catalog
        self.tz = ZoneInfo(catalog.timezone)
        self.home_cc = catalog.home_country_code
        self.home_country = catalog.home_country.upper()
        aware_now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        self.future_limit = aware_now.astimezone(UTC).replace(tzinfo=None) + FUTURE_TOLERANCE
        self.subscribers: dict[str, list[Subscriber]] = {}
        for subscriber in subscribers:
            self.subscribers.setdefault(subscriber.msisdn, []).append(subscriber)
        self.prefixes = {p: zone for zone, prefixes in catalog.zones.items() for p in prefixes}
        self.prefix_lengths = sorted({len(p) for p in self.prefixes}, reverse=True)
        self.countries = {c: zone for zone, countries in catalog.roaming_zones.items() for c in countries}
        self.rates: dict[str, dict[tuple[str, str, str], _RateTerms]] = {
            plan_id: {(r.service, r.zone, r.band): _terms(r) for r in plan.rates}
            for plan_id, plan in catalog.plans.items()
        }
        self.bands = tuple((band.name, band.days, band.start_minute, band.end_minute) for band in catalog.time_bands)

    # -- mediation: parse, detect, normalize, validate, enrich -----------------------------

    def mediate(self, payload: bytes) -> _Cdr | _Rejection:
        context: dict[str, str | None] = {"msisdn": None, "cdr_id": None}
        try:
            return self._mediate(payload, context)
        except _Reject as reject:
            return _Rejection(reject.reason, reject.detail, context["msisdn"], context["cdr_id"])

    def _mediate(self, payload: bytes, context: dict[str, str | None]) -> _Cdr:
        record = _parse_json(payload)  # every field as text; absent and null fields left out
        if "cdr_id" in record or "event_time" in record:
            canonical = True
        elif "timestamp" in record:
            canonical = False
        else:
            raise _Reject(Reason.UNKNOWN_FORMAT, "neither canonical nor legacy")
        if canonical and record.get("cdr_id"):
            context["cdr_id"] = record["cdr_id"]

        record_type = record.get("record_type")
        if record_type is None:
            raise _Reject(Reason.MISSING_FIELD, "record_type: absent")
        if record_type not in _CANONICAL_REQUIRED:
            raise _Reject(Reason.UNKNOWN_RECORD_TYPE, "record_type is not voice, sms or data")

        if canonical:
            required = _CANONICAL_REQUIRED[record_type]
            msisdn_field = "msisdn"
            party_field = "other_party" if record_type != "data" else None
            time_field = "event_time"
        else:
            required = _LEGACY_REQUIRED[record_type]
            msisdn_field, party_field = _LEGACY_PARTIES[record_type]
            time_field = "timestamp"
        context["msisdn"] = self._msisdn(record.get(msisdn_field))

        numbers: dict[str, Decimal] = {}
        for name in required:
            value = record.get(name)
            if value is None:
                raise _Reject(Reason.MISSING_FIELD, f"{name}: absent")
            if name == "cdr_id" and not value:
                raise _Reject(Reason.MISSING_FIELD, "cdr_id: not a non-empty string")
            if name == "direction" and value not in ("MO", "MT"):
                raise _Reject(Reason.MISSING_FIELD, "direction: not MO or MT")
            if name in _NUMBER_FIELDS:
                number = _number(value)
                if number is None:
                    raise _Reject(Reason.MISSING_FIELD, f"{name}: not a number")
                if name in _INTEGER_FIELDS and number != number.to_integral_value():
                    raise _Reject(Reason.MISSING_FIELD, f"{name}: not an integer")
                numbers[name] = number

        msisdn = context["msisdn"]
        if msisdn is None:
            raise _Reject(Reason.INVALID_MSISDN, f"{msisdn_field}: invalid")
        other_party = None
        if party_field is not None:
            other_party = self._msisdn(record[party_field])
            if other_party is None:
                raise _Reject(Reason.INVALID_MSISDN, f"{party_field}: invalid")

        event_time = _parse_timestamp(record[time_field])
        if event_time is None:
            raise _Reject(Reason.INVALID_TIMESTAMP, f"{time_field}: invalid timestamp")

        duration, bytes_up, bytes_down = self._usage(record_type, canonical, numbers)

        cell_id = record.get("cell_id")
        technology = record.get("technology")
        if canonical:
            cdr_id = record["cdr_id"]
            direction = record["direction"] if record_type != "data" else None
            country = record.get("visited_country")
            visited = country.translate(_ASCII_UPPER) if country else None
        else:
            direction = "MO" if record_type != "data" else None
            visited = None
            cdr_id = _legacy_cdr_id(
                record_type, event_time, msisdn, other_party, duration, bytes_down, cell_id, technology
            )
            context["cdr_id"] = cdr_id

        if event_time > self.future_limit:
            raise _Reject(Reason.FUTURE_TIMESTAMP, "event_time more than 1 h after processing time")

        local = event_time.replace(tzinfo=UTC).astimezone(self.tz)
        subscriber = self._subscriber(msisdn, local.date())
        part = _part_fields(record) if canonical else None  # legacy records are always whole
        return _Cdr(
            cdr_id=cdr_id,
            record_type=record_type,
            event_time=event_time,
            msisdn=msisdn,
            other_party=other_party,
            direction=direction,
            duration_sec=duration,
            bytes_up=bytes_up,
            bytes_down=bytes_down,
            cell_id=cell_id,
            technology=technology,
            visited_country=visited,
            source_format="canonical" if canonical else "legacy",
            plan_id=subscriber.plan_id,
            local_weekday=local.weekday(),
            local_minute=local.hour * 60 + local.minute,
            quantity=_quantity(record_type, duration, bytes_up, bytes_down),
            part=part,
        )

    def _msisdn(self, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.translate(_MSISDN_NOISE)
        if text.startswith("+"):
            text = text[1:]
        elif text.startswith("00"):
            text = text[2:]
        elif text.startswith("0"):
            text = self.home_cc + text[1:]
        return text if _E164.fullmatch(text) else None

    def _usage(
        self, record_type: str, canonical: bool, numbers: dict[str, Decimal]
    ) -> tuple[int | None, int | None, int | None]:
        """(duration_sec, bytes_up, bytes_down) after the usage range checks."""
        if record_type == "sms":
            return None, None, None
        if record_type == "voice":
            duration = _bounded_int(numbers["duration_sec"])
            if duration <= 0:
                raise _Reject(Reason.NON_POSITIVE_USAGE, "duration_sec must be positive")
            if duration > MAX_VOICE_SECONDS:
                raise _Reject(Reason.USAGE_OUT_OF_RANGE, "duration_sec over 86400")
            return duration, None, None
        if canonical:
            bytes_up = _bounded_int(numbers["bytes_up"])
            bytes_down = _bounded_int(numbers["bytes_down"])
            session = None
        else:
            bytes_up = 0
            bytes_down = _legacy_bytes(numbers["data_volume_mb"])
            session = _bounded_int(numbers["session_duration_sec"])
        if bytes_up < 0 or bytes_down < 0 or bytes_up + bytes_down <= 0:
            raise _Reject(Reason.NON_POSITIVE_USAGE, "bytes must be positive")
        if session is not None and session < 0:
            raise _Reject(Reason.NON_POSITIVE_USAGE, "session_duration_sec must not be negative")
        if bytes_up + bytes_down > MAX_DATA_BYTES:
            raise _Reject(Reason.USAGE_OUT_OF_RANGE, f"bytes over {MAX_DATA_BYTES}")
        if session is not None and session > MAX_SESSION_SECONDS:
            raise _Reject(Reason.USAGE_OUT_OF_RANGE, "session_duration_sec over 86400")
        return session, bytes_up, bytes_down

    def _subscriber(self, msisdn: str, local_date: date) -> Subscriber:
        for subscriber in self.subscribers.get(msisdn, ()):
            if active_on(subscriber, local_date):
                return subscriber
        raise _Reject(Reason.UNKNOWN_SUBSCRIBER, f"no subscriber {msisdn} active on {local_date.isoformat()}")

    # -- rating -----------------------------------------------------------------------------

    def rate(self, cdr: _Cdr) -> dict[str, Any] | _Rejection:
        plan_rates = self.rates.get(cdr.plan_id)
        if plan_rates is None:
            return self._no_rate(cdr, f"plan {cdr.plan_id} not in catalog {self.catalog.version}")
        zone = self._zone(cdr)
        band = self._band(cdr.local_weekday, cdr.local_minute)
        service = cdr.record_type
        terms = None
        if zone is not None:
            for key in ((service, zone, band), (service, zone, "*"), (service, "*", band), (service, "*", "*")):
                terms = plan_rates.get(key)
                if terms is not None:
                    break
        if terms is None:
            return self._no_rate(cdr, f"no rate in plan {cdr.plan_id} for {service}/{zone or '-'}/{band}")

        quantity = cdr.quantity
        rate = terms.rate
        first, step = rate.first_increment, rate.next_increment
        billable = first if quantity <= first else first + -(-(quantity - first) // step) * step
        charge = _ratio_text(
            terms.fee_numerator + billable * terms.price_numerator,
            terms.denominator,
            self.catalog.rounding_decimals,
        )
        return {
            schemas.FIELD: schemas.RATED_CDR,
            "cdr_id": cdr.cdr_id,
            "record_type": cdr.record_type,
            "event_time": _utc_text(cdr.event_time),
            "msisdn": cdr.msisdn,
            "other_party": cdr.other_party,
            "direction": cdr.direction,
            "duration_sec": cdr.duration_sec,
            "bytes_up": cdr.bytes_up,
            "bytes_down": cdr.bytes_down,
            "quantity": quantity,
            "cell_id": cdr.cell_id,
            "technology": cdr.technology,
            "visited_country": cdr.visited_country,
            "roaming": self._roaming(cdr),
            "source_format": cdr.source_format,
            "plan_id": cdr.plan_id,
            "zone": zone,
            "band": band,
            "billable_units": billable,
            "price": terms.price_text,
            "per": rate.per,
            "unit_price": terms.unit_price_text,
            "connect_fee": terms.connect_fee_text,
            "charge": charge,
            "currency": self.catalog.currency,
            "catalog_version": self.catalog.version,
            **cdr.assembly.fields(),
        }

    def _no_rate(self, cdr: _Cdr, detail: str) -> _Rejection:
        return _Rejection(Reason.NO_RATE, detail, cdr.msisdn, cdr.cdr_id)

    def _roaming(self, cdr: _Cdr) -> bool:
        return cdr.visited_country is not None and cdr.visited_country != self.home_country

    def _zone(self, cdr: _Cdr) -> str | None:
        if self._roaming(cdr):
            return self.countries.get(cdr.visited_country or "") or self.countries.get("*")
        if cdr.record_type == "data":
            return "home"
        if cdr.direction == "MT":
            return "incoming"
        number = cdr.other_party or ""
        for length in self.prefix_lengths:
            zone = self.prefixes.get(number[:length]) if length <= len(number) else None
            if zone is not None:
                return zone
        return None

    def _band(self, weekday: int, minute: int) -> str:
        for name, days, start, end in self.bands:
            if (days is None or weekday in days) and start <= minute < end:
                return name
        raise AssertionError("the catalog guarantees a default band")


def _quantity(record_type: str, duration: int | None, bytes_up: int | None, bytes_down: int | None) -> int:
    if record_type == "voice":
        return duration or 0
    if record_type == "sms":
        return 1
    return (bytes_up or 0) + (bytes_down or 0)


def _part_fields(record: Mapping[str, str]) -> PartFields | None:
    """A canonical record's part fields after the part's own checks, in RULES.md section 18's order
    (`INVALID_PARTIAL`); None for a whole record (none of the three fields present)."""
    if not any(name in record for name in PART_FIELDS):
        return None
    for name in PART_FIELDS:
        if name not in record:
            raise _Reject(Reason.INVALID_PARTIAL, f"{name}: absent")
    session_id = record["session_id"]
    if not session_id:
        raise _Reject(Reason.INVALID_PARTIAL, "session_id: not a non-empty string")
    if len(session_id) > MAX_SESSION_ID_CHARS:
        raise _Reject(Reason.INVALID_PARTIAL, f"session_id: longer than {MAX_SESSION_ID_CHARS} characters")
    sequence = _sequence(record["sequence"])
    if record["partial"] not in PARTIAL_KINDS:
        raise _Reject(Reason.INVALID_PARTIAL, "partial: not intermediate or last")
    return PartFields(session_id, sequence, record["partial"] == "last")


def _sequence(text: str) -> int:
    """A part's sequence: an integer (as the other integer fields, RULES.md section 5) from 1 to MAX_PARTS."""
    number = _number(text)
    if number is None or number != number.to_integral_value():
        raise _Reject(Reason.INVALID_PARTIAL, "sequence: not an integer")
    if number < 1:
        raise _Reject(Reason.INVALID_PARTIAL, "sequence: below 1")
    if number > MAX_PARTS:
        raise _Reject(Reason.INVALID_PARTIAL, f"sequence: above {MAX_PARTS}")
    return int(number)


def _parse_timestamp(value: str) -> datetime | None:
    """The instant as naive UTC, or None when RULES.md section 7 refuses it."""
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    microsecond = int((fraction or "")[:6].ljust(6, "0"))
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), microsecond)
    except ValueError:
        return None
    offset_minutes = 0
    if offset != "Z":
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if minutes > 59 or hours * 60 + minutes > 18 * 60:
            return None
        offset_minutes = (hours * 60 + minutes) * (-1 if offset[0] == "-" else 1)
    try:
        moment = local - timedelta(minutes=offset_minutes)
    except OverflowError:
        return None
    return moment if moment >= EPOCH else None


def _legacy_bytes(megabytes: Decimal) -> int:
    """round_half_up(MB * 1048576) on the exact value; huge magnitudes keep only their sign."""
    if megabytes > _HUGE or megabytes < -_HUGE:
        return _bounded_int(megabytes)
    if megabytes.is_zero() or megabytes.copy_abs() < Decimal("1e-9"):
        return 0
    numerator, denominator = megabytes.as_integer_ratio()
    whole, remainder = divmod(abs(numerator) * BYTES_PER_MB, denominator)
    if 2 * remainder >= denominator:
        whole += 1
    return whole if numerator >= 0 else -whole


def _legacy_cdr_id(
    record_type: str,
    event_time: datetime,
    msisdn: str,
    other_party: str | None,
    duration: int | None,
    bytes_down: int | None,
    cell_id: str | None,
    technology: str | None,
) -> str:
    parts: Sequence[str] = (
        record_type,
        _utc_text(event_time),
        msisdn,
        other_party or "",
        "" if duration is None else str(duration),
        "" if bytes_down is None else str(bytes_down),
        cell_id or "",
        technology or "",
    )
    return "L" + hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:31]


def encode_records(rows: Iterable[Mapping[str, Any]]) -> list[bytes]:
    """Encode dicts as raw records, as a producer would (compact JSON, UTF-8)."""
    return [json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode("utf-8") for row in rows]


__all__ = [
    "Assembled",
    "Result",
    "SessionCounts",
    "encode_records",
    "mediate_and_rate",
    "session_counts",
    "split_records",
]
