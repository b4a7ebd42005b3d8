"""Byte-stable Parquet files: parquet-mr writes two lists of a file's footer in a JVM-dependent
order; `canonicalize_parquet_footer` sorts them in place (a walk of the footer's Thrift compact
encoding), so the same rows give the same bytes on every run."""

from __future__ import annotations

from pathlib import Path

from ..errors import TelecomError

# Thrift compact protocol types, as used by Parquet's footer (FileMetaData).
_STOP, _TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(13)
# FileMetaData.row_groups -> RowGroup.columns -> ColumnChunk.meta_data -> ColumnMetaData fields
# `encodings` (2) and `encoding_stats` (13): parquet-mr writes them in the order of a HashSet of
# enums, which changes from one JVM to the next. Sorting them makes the file byte-stable.
_UNORDERED = {(4, 1, 3, 2), (4, 1, 3, 13)}


def canonicalize_parquet_footer(path: Path) -> None:
    """Sort the footer's unordered lists in place (same elements, same length: offsets stay valid)."""
    data = bytearray(path.read_bytes())
    if data[-4:] != b"PAR1":
        raise TelecomError(f"{path.name}: not a Parquet file")
    size = int.from_bytes(data[-8:-4], "little")
    start = len(data) - 8 - size
    footer = bytearray(data[start:start + size])
    _CompactWalker(footer).struct(())
    data[start:start + size] = footer
    path.write_bytes(bytes(data))


class _CompactWalker:
    """Walks a Thrift compact struct; lists at `_UNORDERED` paths get their elements sorted."""

    def __init__(self, buffer: bytearray) -> None:
        self.buffer = buffer
        self.pos = 0

    def byte(self) -> int:
        value = self.buffer[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    def struct(self, path: tuple[int, ...]) -> None:
        field = 0
        while True:
            header = self.byte()
            kind = header & 0x0F
            if kind == _STOP:
                return
            delta = header >> 4
            if delta:
                field += delta
            else:
                raw = self.varint()
                field = (raw >> 1) ^ -(raw & 1)
            self.value(kind, (*path, field))

    def value(self, kind: int, path: tuple[int, ...]) -> None:
        if kind in (_TRUE, _FALSE):
            return
        if kind == _BYTE:
            self.pos += 1
        elif kind in (_I16, _I32, _I64):
            self.varint()
        elif kind == _DOUBLE:
            self.pos += 8
        elif kind == _BINARY:
            length = self.varint()  # not `self.pos += self.varint()`: varint() moves pos first
            self.pos += length
        elif kind in (_LIST, _SET):
            self.sequence(path)
        elif kind == _MAP:
            count = self.varint()
            if count:
                types = self.byte()
                for _ in range(count):
                    self.value(types >> 4, path)
                    self.value(types & 0x0F, path)
        elif kind == _STRUCT:
            self.struct(path)
        else:
            raise TelecomError(f"unexpected Thrift type {kind} in a Parquet footer")

    def sequence(self, path: tuple[int, ...]) -> None:
        header = self.byte()
        count = header >> 4
        if count == 15:
            count = self.varint()
        kind = header & 0x0F
        spans = []
        for _ in range(count):
            begin = self.pos
            if kind in (_TRUE, _FALSE):
                self.pos += 1  # booleans in a list take one byte each
            else:
                self.value(kind, path)
            spans.append(bytes(self.buffer[begin:self.pos]))
        if path in _UNORDERED and spans:
            first = self.pos - sum(len(span) for span in spans)
            self.buffer[first:self.pos] = b"".join(sorted(spans))
