"""A seeded generator of bad raw CDR payloads (plus some good ones) for `tests/integration/test_fuzz.py`.

`make_corpus(seed, count, canonical, legacy)` returns `count` bad payloads of every kind below, mixed
with a few hundred valid CDRs (the given sample lines, some exact repeats and re-spelled copies that
are duplicates) and a handful of 1-3 MB lines, in a deterministic order (`random.Random(seed)`).
No payload contains `\\n`, so a payload is one line of a JSONL file and one Kafka record.

Kinds (the `kind` of each payload):

* `random_bytes`: random and near-UTF-8 bytes: invalid sequences, NUL, lone surrogates encoded as
  bytes (`ED A0 80`), overlong forms, code points past U+10FFFF, BOMs, UTF-16.
* `truncated`: a prefix of a valid CDR line, sometimes closed again with `}` or `"}`.
* `wrong_type`: one field (any of the 20 mediation reads) with a value of another JSON type:
  numbers as strings, strings as numbers, arrays, objects, null, booleans.
* `huge`: 1e400, 10**60, 1200-digit literals, very long strings and keys, huge durations and
  volumes, extreme dates (year 0, 9999, before 1970, negative epochs).
* `unicode`: astral, RTL, combining, zero-width and non-character code points in a string field,
  written raw or escaped (and lone surrogates, escaped or as raw bytes).
* `msisdn_noise`: subscriber / other-party numbers with control characters or path segments.
* `duplicate_keys`: a key given twice (the last occurrence wins, RULES.md section 2).
* `nested`: JSON nested 2 to 20,000 deep, around Jackson's 1000-level limit too.
* `blank`: empty and whitespace-only lines.
* `megabyte`: 1-3 MB lines (rated, rejected as not JSON, not UTF-8).
* `valid`, `repeat`, `respelled`: sample CDRs, exact repeats, the same event re-serialized.

Every payload is *comparable* (RULES.md section 2): no non-integer JSON number that Java 17 prints
with extra digits, no number literal within 10 digits of Jackson's 1000-digit limit.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from reference.comparable import comparable

# Every field mediation reads (RULES.md sections 3 and 12).
READ_FIELDS = (
    "cdr_id", "record_type", "event_time", "msisdn", "other_party", "direction", "duration_sec",
    "bytes_up", "bytes_down", "cell_id", "technology", "visited_country",
    "timestamp", "caller_id", "callee_id", "sender_id", "receiver_id", "user_id", "data_volume_mb",
    "session_duration_sec",
)
NUMBER_FIELDS = ("duration_sec", "bytes_up", "bytes_down", "data_volume_mb", "session_duration_sec")
MSISDN_FIELDS = ("msisdn", "other_party", "caller_id", "callee_id", "sender_id", "receiver_id", "user_id")
BAD_KINDS = ("random_bytes", "truncated", "wrong_type", "huge", "unicode", "msisdn_noise", "duplicate_keys",
             "nested", "blank")
# Relative weights of the bad kinds.
_WEIGHTS = (12, 10, 20, 12, 15, 10, 8, 5, 3)

# Values of another type than the field expects (any field gets any of them).
WRONG_TYPES: tuple[Any, ...] = (
    "140", " 140 ", "+140", "1.4e2", "140.0", "140.5", "-0", "0x8C", "1_000", "١٤٠", "", "NaN", "Infinity",
    "null", "true", "212612345678", "voice", "MO",
    212612345678, -212612345678, 2.12612345678e11, 0, -1, 1.5, 1e3, -0.0, 140,
    [], [1], ["voice"], [[["x"]]], [None], {}, {"a": 1}, {"msisdn": "212612345678"}, None, True, False,
)
UNICODE_BITS = (
    "😀", "𝕏", "\U0010fffd", "\u202e", "\u200f", "مرحبا", "שלום", "e\u0301", "\u0300", "\u200b", "\u200c",
    "\u200d", "\ufeff", "\u2060", "\uffff", "\ufffe", "２１２", "٢١٢", "\u0085", "\u2028", "Ω", "ß", "İ",
)
MSISDN_NOISE = (
    "\x00", "\x01", "\x07", "\x1b", "\x7f", "\t", "\r", "\n", "\u0085", "\u2028", "/", "\\", "%2F", "..",
)
PATHS = (
    "../../etc/passwd", "{n}/../../x", "/{n}", "{n}%2F..%2F..", "..\\..\\windows\\{n}", "{n}\x00.csv",
    "~/{n}", "file:///etc/{n}", "./{n}", "{n}/", "C:\\{n}", "\\\\server\\{n}",
)
TIMES = (
    "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59-18:00",
    "9999-12-31T23:59:59+18:00", "10000-01-01T00:00:00Z", "-0001-01-01T00:00:00Z", "1969-12-31T23:59:59.999999Z",
    "1970-01-01T00:00:00Z", "1970-01-01T00:00:00+00:01", "1970-01-01T00:00:00-00:01", "2026-02-29T00:00:00Z",
    "2024-02-29T12:00:00Z", "2026-10-05T12:00:00.123456789123456789Z", "2026-10-05T24:00:00Z",
    "2026-10-05T12:00:60Z", "2026-10-05T12:00:00+18:01", "2026-10-05T12:00:00+0100", "2026-10-05 12:00:00Z",
    "2026-10-05T12:00:00", "2026-10-05t12:00:00z", "2099-01-01T00:00:00Z", "2026-10-05T12:00:00Z\n",
    -1, -86400, -62135596800, 0, 1_790_000_000, 1e12, "1790000000",
)
# Literals written into the JSON text as they are (json.dumps cannot write them).
HUGE_LITERALS = ("1e400", "-1e400", "1e-400", "1E+400", "-0.0e-9999", "1" + "0" * 1200, "9" * 1100 + ".5",
                 "123456789012345678901234567890", "1" + "0" * 59, "-1" + "0" * 59)
HUGE_VALUES: tuple[Any, ...] = (
    10**60, -(10**60), 10**18, 2**63, 2**64, -(2**63) - 1, 9223372036854775807, "1e30", "-1e30", "1e15", "86401",
    "86400", 10**20, "107374182400", "107374182401", "99999999999999999999999999999999999.5", "1" + "0" * 1200,
    "0." + "0" * 40 + "1", "1e-400", "0e400", "1e9999999999999999999", "-1e-9999999999999999999", 1e15, 86401.0,
)
_MARK = "\x00LIT{}\x00"


@dataclass(frozen=True)
class Payload:
    kind: str
    value: bytes


class Fuzzer:
    """Bad payloads built on sample CDRs; every choice comes from one `random.Random(seed)`."""

    def __init__(self, seed: int, canonical: Sequence[bytes], legacy: Sequence[bytes]) -> None:
        self.rnd = random.Random(seed)
        self.canonical_lines = list(canonical)
        self.legacy_lines = list(legacy)
        self.canonical = [d for d in map(_object, canonical) if d is not None]
        self.legacy = [d for d in map(_object, legacy) if d is not None]
        self.ids = itertools.count()

    # -- helpers -------------------------------------------------------------------------------

    def base(self) -> dict[str, Any]:
        """A sample record (a copy), canonical ones with a fresh cdr_id so that most mutants are
        rated or rejected on their own rather than being duplicates of each other."""
        if self.rnd.random() < 0.6:
            record = dict(self.rnd.choice(self.canonical))
            record["cdr_id"] = f"fz-{next(self.ids)}"
            return record
        return dict(self.rnd.choice(self.legacy))

    def text(self, record: dict[str, Any] | list[tuple[str, Any]], literals: Sequence[str] = (),
             ascii_only: bool | None = None) -> bytes:
        """Compact or spaced JSON, ASCII-escaped or raw UTF-8; `_MARK`s replaced by `literals`."""
        pairs = list(record.items()) if isinstance(record, dict) else record
        ascii_only = self.rnd.random() < 0.5 if ascii_only is None else ascii_only
        sep = self.rnd.choice([(",", ":"), (", ", ": ")])
        body = sep[0].join(json.dumps(k, ensure_ascii=ascii_only) + sep[1] + json.dumps(v, ensure_ascii=ascii_only)
                           for k, v in pairs)
        text = "{" + body + "}"
        for i, literal in enumerate(literals):
            text = text.replace(json.dumps(_MARK.format(i), ensure_ascii=ascii_only), literal)
        # surrogatepass: a lone surrogate in raw UTF-8 output becomes the (invalid) bytes ED A0 80.
        return text.encode("utf-8", "surrogatepass")

    def field(self, record: dict[str, Any]) -> str:
        """A field to spoil: mostly one the record has, sometimes any field mediation reads."""
        return self.rnd.choice(list(record)) if self.rnd.random() < 0.75 else self.rnd.choice(READ_FIELDS)

    # -- kinds ---------------------------------------------------------------------------------

    def random_bytes(self) -> bytes:
        rnd = self.rnd
        pieces = [b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xc0\x80", b"\xc0\xaf", b"\xe0\x80\x80", b"\xf4\x90\x80\x80",
                  b"\xf8\x88\x80\x80\x80", b"\xe2\x82", b"\x80", b"\xff", b"\xfe", b"\x00", b"\xef\xbb\xbf", b"{",
                  b'"', b"}", b":", "é".encode(), "😀".encode(), b"\r", b"\t", b" "]
        shape = rnd.randrange(5)
        if shape == 0:
            data = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 200)))
        elif shape == 1:
            data = b"".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 40)))
        elif shape == 2:  # a CDR with a few bytes replaced by junk
            line = bytearray(rnd.choice(self.canonical_lines + self.legacy_lines))
            for _ in range(rnd.randint(1, 3)):
                line[rnd.randrange(len(line)):rnd.randrange(len(line) + 1)] = rnd.choice(pieces)
            data = bytes(line)
        elif shape == 3:  # a BOM, UTF-16 or UTF-32 in front of a valid CDR
            line = rnd.choice(self.canonical_lines).decode()
            data = rnd.choice([b"\xef\xbb\xbf" + line.encode(), line.encode("utf-16"), line.encode("utf-16-be"),
                               line.encode("utf-32"), b"\x00" + line.encode(), line.encode() + b"\x00"])
        else:  # a JSON string value holding raw invalid bytes
            junk = b"".join(rnd.choice(pieces[:13]) for _ in range(rnd.randint(1, 4)))
            data = b'{"cdr_id":"fz-' + str(next(self.ids)).encode() + b'","record_type":"sms","msisdn":"' + junk + b'"}'
        return data.replace(b"\n", b"\x0b")

    def truncated(self) -> bytes:
        rnd = self.rnd
        record = self.base()
        if rnd.random() < 0.2:
            record["cell_id"] = "Fès-" + rnd.choice(UNICODE_BITS)  # a cut may split a multi-byte character
        line = self.text(record)
        cut = line[:rnd.randrange(len(line))]
        return cut + rnd.choice([b"", b"", b"", b"}", b'"}', b"]}", b" "])

    def wrong_type(self) -> bytes:
        record = self.base()
        record[self.field(record)] = self.rnd.choice(WRONG_TYPES)
        return self.text(record)

    def huge(self) -> bytes:
        rnd = self.rnd
        record = self.base()
        usage = [n for n in NUMBER_FIELDS if n in record]
        name = rnd.choice(usage) if usage and rnd.random() < 0.6 else self.field(record)
        roll = rnd.random()
        if roll < 0.25:
            record[name] = _MARK.format(0)
            return self.text(record, [rnd.choice(HUGE_LITERALS)])
        if roll < 0.5:
            record[name] = rnd.choice(HUGE_VALUES)
        elif roll < 0.75:
            record[rnd.choice(["event_time", "timestamp", "event_time"])] = rnd.choice(TIMES)
        elif roll < 0.95:  # a very long string (a long cdr_id or cell_id is rated)
            length = rnd.choices([200, 1000, 5000, 20_000, 100_000], [4, 4, 2, 1, 0.2])[0]
            record[name] = rnd.choice(["x", "9", "é", "2126"]) * (length // 4 if name in READ_FIELDS else length)
        else:  # a long key: Jackson refuses names over 50,000 UTF-16 units
            record["k" * rnd.choice([100, 1000, 49_999, 50_000, 50_001, 60_000])] = 1
        return self.text(record)

    def unicode(self) -> bytes:
        rnd = self.rnd
        record = self.base()
        names = [n for n, v in record.items() if isinstance(v, str)] or ["cell_id"]
        for _ in range(rnd.randint(1, 3)):
            name = rnd.choice(names) if rnd.random() < 0.8 else rnd.choice(READ_FIELDS)
            value = str(record.get(name) or "")
            bit = rnd.choice([*UNICODE_BITS, "\ud800", "\udc00", "\udc00\ud800"])
            if rnd.random() < 0.3:
                value = bit * rnd.randint(1, 5)
            else:
                pos = rnd.randrange(len(value) + 1)
                value = value[:pos] + bit + value[pos:]
            record[name] = value
        return self.text(record)

    def msisdn_noise(self) -> bytes:
        rnd = self.rnd
        record = self.base()
        names = [n for n in MSISDN_FIELDS if n in record] or ["msisdn"]
        name = rnd.choice(names)
        number = str(record.get(name) or "212612345678")
        if rnd.random() < 0.5:
            pos = rnd.randrange(len(number) + 1)
            value = number[:pos] + "".join(rnd.choice(MSISDN_NOISE) for _ in range(rnd.randint(1, 3))) + number[pos:]
        else:
            value = rnd.choice(PATHS).format(n=number)
        record[name] = value
        return self.text(record)

    def duplicate_keys(self) -> bytes:
        rnd = self.rnd
        record = self.base()
        pairs = list(record.items())
        for _ in range(rnd.randint(1, 3)):
            name = self.field(record)
            other = rnd.choice([None, rnd.choice(WRONG_TYPES), record.get(name), "bad", f"fz-{next(self.ids)}"])
            pairs.insert(rnd.randrange(len(pairs) + 1), (name, other))
        return self.text(pairs)

    def nested(self) -> bytes:
        rnd = self.rnd
        depth = rnd.choices([2, 10, 100, 998, 999, 1000, 1001, 1002, 2000, 5000, 20_000], [3, 3, 3, 2, 2, 2, 2, 2, 1, 1, 0.3])[0]
        opener, closer = rnd.choice([("[", "]"), ("[", "]"), ('{"a":', "}"), ('[{"a":', "}]")])
        if opener != "[":
            depth = min(depth // len(closer), 2000)
        inner = opener * depth + rnd.choice(["1", '"x"', "null", "[]", "{}"]) + closer * depth
        if rnd.random() < 0.15:  # the whole record
            return inner.encode()
        record = self.base()
        record[self.field(record) if rnd.random() < 0.5 else "extra"] = _MARK.format(0)
        return self.text(record, [inner])

    def blank(self) -> bytes:
        return self.rnd.choice([b"", b"", b" ", b"\t", b"  \t ", b"\r", b"\r\r", b"\x0b", b"\x0c", b"\xc2\xa0",
                                b"\xe3\x80\x80", b" " * 1000, b"\t\r", b"\x00"])

    # -- good payloads -------------------------------------------------------------------------

    def respelled(self, line: bytes) -> bytes:
        """The same record, other key order and spacing: a duplicate of the original."""
        record = _object(line)
        assert record is not None
        pairs = list(record.items())
        self.rnd.shuffle(pairs)
        return self.text(pairs)

    def megabyte_lines(self) -> list[bytes]:
        """Five lines of 1-3 MB: a CDR with a 1.5 MB extra key and one with a 1.35 MB cell_id (both
        rated), 2 MB of `x` (not JSON), 2.5 MB of random bytes (not UTF-8), and a call whose
        `duration_sec` is a 1.3 MB array (not a number)."""
        rnd = self.rnd
        voice = next(r for r in self.canonical if r.get("record_type") == "voice")
        padded = dict(self.canonical[0], cdr_id="fz-mb-padded", padding="A" * 1_500_000)
        wide = dict(self.canonical[1], cdr_id="fz-mb-cell", cell_id="é😀\u202e" * 150_000)
        numbers = dict(voice, cdr_id="fz-mb-array", duration_sec=list(range(200_000)))
        junk = b"\xff" + rnd.randbytes(2_500_000).replace(b"\n", b"\x80")
        return [self.text(padded), self.text(wide, ascii_only=False), b"x" * 2_000_000, junk, self.text(numbers)]


def _object(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def make_corpus(seed: int, count: int, canonical: Sequence[bytes], legacy: Sequence[bytes],
                valid: int = 300) -> list[Payload]:
    """`count` bad payloads, `valid` sample lines (+ repeats and re-spellings) and the megabyte lines,
    shuffled together (deterministic for a seed)."""
    fuzz = Fuzzer(seed, canonical, legacy)
    rnd = fuzz.rnd
    makers: dict[str, Callable[[], bytes]] = {kind: getattr(fuzz, kind) for kind in BAD_KINDS}
    bad: list[Payload] = []
    while len(bad) < count:
        kind = rnd.choices(BAD_KINDS, _WEIGHTS)[0]
        value = makers[kind]()
        if comparable(value):
            bad.append(Payload(kind, value))
    picked = rnd.sample(list(canonical), valid * 2 // 3) + rnd.sample(list(legacy), valid // 3)
    good = [Payload("valid", line + (b"\r" if rnd.random() < 0.05 else b"")) for line in picked]
    corpus = bad + good + [Payload("megabyte", line) for line in fuzz.megabyte_lines()]
    rnd.shuffle(corpus)
    # Later copies of valid lines: exact repeats and re-spelled canonical records.
    for line in rnd.sample(picked, valid // 5):
        corpus.insert(rnd.randrange(len(corpus) + 1), Payload("repeat", line))
    objects = [line for line in picked[: valid * 2 // 3] if _object(line) is not None]
    for line in rnd.sample(objects, valid // 10):
        corpus.insert(rnd.randrange(len(corpus) + 1), Payload("respelled", fuzz.respelled(line)))
    assert not any(b"\n" in p.value for p in corpus)
    return corpus


__all__ = ["BAD_KINDS", "Payload", "make_corpus"]
