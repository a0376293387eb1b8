"""Schema-informed EXI with the V2G options, interpreted from the derived grammar tables.

V2G options (ISO 15118-2 / DIN 70121 / ISO 15118-20): header byte 0x80, bit-packed,
strict=false, valuePartitionCapacity=0, nothing preserved. strict=false gives every
grammar state an escape to second-level events, so a state with n productions codes its
events in bit_length(n) bits; V2G peers never use those events and this codec refuses them.

The JSON form (also documented in docs/exi.md): an element is a dict keyed by child local
names in schema order, "@name" for attributes and "$" for character data next to
attributes; an element of simple type is its bare value. Names the schema lets repeat are
always arrays. Values: integers as ints, booleans as bools, enumerations and strings as
str, hexBinary/base64Binary as lowercase hex str.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evstack.exi.bits import BitReader, BitWriter
from evstack.exi.errors import ExiError, ExiErrorCode
from evstack.exi.tables import AT, CH, EE, ITEMS_KEY, SE, Grammar, Tables

HEADER = 0x80
MAX_DEPTH = 32  # deeper than any V2G message (ISO-20 needs about 10)
MAX_VALUE_LENGTH = 65535  # characters or bytes, when the schema gives no maxLength
# Unbounded integer types (xs:integer, xs:nonNegativeInteger) hold 64 bits here, as in C and
# libcbv2g: decoding refuses longer ones, so encoding must not write them.
MIN_INTEGER, MAX_INTEGER = -(2**63), 2**64 - 1
EMPTY_VALUE_LEVEL2_WIDTH = 3  # EE, xsi:type, xsi:nil, AT(*), SE(*), CH: codes of 3 bits

Json = Any


def decode(tables: Tables, data: bytes) -> dict[str, Json]:
    """Decode one EXI document (or fragment) into the JSON form; all bytes must be used."""
    if not data or data[0] != HEADER:
        raise ExiError(ExiErrorCode.BAD_HEADER, "expected 0x80 (V2G EXI options, version 1)")
    reader = BitReader(data, start_byte=1)
    roots = tables.roots
    # DocContent: one code per global element plus SE(*); FragmentContent adds ED
    choices = len(roots) + (2 if tables.fragment else 1)
    code = reader.read((choices - 1).bit_length())
    if code >= len(roots):
        raise ExiError(ExiErrorCode.UNSUPPORTED_EVENT, f"document event code {code}")
    name, grammar = roots[code]
    if grammar < 0:
        raise ExiError(ExiErrorCode.UNSUPPORTED_EVENT, f"relaxed fragment grammar of {name}")
    value = _Decoder(tables, reader).element(tables.grammars[grammar], 1)
    if tables.fragment:
        end = reader.read((choices - 1).bit_length())
        if end != len(roots) + 1:
            raise ExiError(ExiErrorCode.UNSUPPORTED_EVENT, "fragment with more than one element")
    if not reader.padding_is_zero():
        raise ExiError(ExiErrorCode.TRAILING_BYTES, "non-zero padding bits")
    if reader.bytes_used != len(data):
        raise ExiError(
            ExiErrorCode.TRAILING_BYTES, f"document ends at byte {reader.bytes_used} of {len(data)}"
        )
    return {name: value}


def encode(tables: Tables, message: Mapping[str, Json]) -> bytes:
    """Encode the JSON form of one document (a dict with exactly one root element)."""
    if not isinstance(message, Mapping) or len(message) != 1:
        raise ExiError(ExiErrorCode.INVALID_MESSAGE, "a message is a dict with one root element")
    [(name, value)] = message.items()
    index = tables.root_index(name)
    if tables.roots[index][1] < 0:
        raise ExiError(ExiErrorCode.INVALID_MESSAGE, f"relaxed fragment grammar of {name}")
    writer = BitWriter()
    writer.write(HEADER, 8)
    choices = len(tables.roots) + (2 if tables.fragment else 1)
    width = (choices - 1).bit_length()
    writer.write(index, width)
    _Encoder(tables, writer).element(tables.grammars[tables.roots[index][1]], value, name, 1)
    if tables.fragment:
        writer.write(len(tables.roots) + 1, width)
    return writer.getvalue()


class _Decoder:
    __slots__ = ("datatypes", "grammars", "reader")

    def __init__(self, tables: Tables, reader: BitReader) -> None:
        self.reader = reader
        self.grammars = tables.grammars
        self.datatypes = tables.datatypes

    def element(self, grammar: Grammar, depth: int) -> Json:
        if depth > MAX_DEPTH:
            raise ExiError(ExiErrorCode.DEPTH_EXCEEDED, f"nesting deeper than {MAX_DEPTH}")
        reader = self.reader
        fields: dict[str, Json] = {}
        text: Json = None
        index, turns = 0, 0
        while True:
            state = grammar.offered(index, turns)
            count = len(state)
            code = reader.read(count.bit_length())
            if code >= count:
                if (
                    code != count  # above the escape: no event at all
                    or not _may_end_empty(self.datatypes, grammar, index)
                    or reader.read(EMPTY_VALUE_LEVEL2_WIDTH)
                ):
                    raise ExiError(
                        ExiErrorCode.UNSUPPORTED_EVENT, f"second-level event in {grammar.label}"
                    )
                if grammar.simple:
                    return None  # no characters at all, apart from "" (zero-length)
                fields["$"] = None
                return fields
            prod = state[code]
            kind = prod.kind
            if kind == SE:
                child = self.element(self.grammars[prod.ref], depth + 1)
                if grammar.ordered:
                    fields.setdefault(ITEMS_KEY, []).append({prod.name: child})
                elif prod.name in grammar.lists:
                    fields.setdefault(prod.name, []).append(child)
                else:
                    fields[prod.name] = child
            elif kind == AT:
                fields[prod.name] = self.value(prod.ref)
            elif kind == CH:
                text = self.value(prod.ref)
            elif kind == EE:
                break
            else:
                raise ExiError(
                    ExiErrorCode.UNSUPPORTED_EVENT, f"wildcard or mixed content in {grammar.label}"
                )
            turns = grammar.count_after(index, turns, prod.next)
            index = prod.next
        if grammar.simple:
            return text
        if text is not None:
            fields["$"] = text
        return fields

    def value(self, datatype: int) -> Json:
        spec = self.datatypes[datatype]
        kind = spec["kind"]
        reader = self.reader
        if kind == "nbit":
            value = reader.read(spec["bits"]) + spec["min"]
            if value > spec["max"]:
                raise ExiError(ExiErrorCode.VALUE_OUT_OF_RANGE, f"{value} > {spec['max']}")
            return value
        if kind == "uint":
            value = reader.uint()
            if value > spec.get("max", value):
                raise ExiError(ExiErrorCode.VALUE_OUT_OF_RANGE, f"{value} > {spec['max']}")
            return value
        if kind == "int":
            negative = reader.read(1)
            magnitude = reader.uint()
            value = -magnitude - 1 if negative else magnitude
            if not spec.get("min", value) <= value <= spec.get("max", value):
                raise ExiError(ExiErrorCode.VALUE_OUT_OF_RANGE, f"{value} outside its type")
            return value
        if kind == "bool":
            return bool(reader.read(1))
        if kind == "enum":
            values = spec["values"]
            index = reader.read((len(values) - 1).bit_length())
            if index >= len(values):
                raise ExiError(ExiErrorCode.VALUE_OUT_OF_RANGE, f"enumeration index {index}")
            return values[index]
        if kind == "string":
            length = reader.uint()
            if length < 2:
                raise ExiError(ExiErrorCode.STRING_TABLE_HIT, "value-table hit with capacity 0")
            length -= 2
            self._check_length(spec, length, 8)
            chars = []
            for _ in range(length):
                char = reader.uint()
                if char > 0x10FFFF or 0xD800 <= char <= 0xDFFF:
                    raise ExiError(ExiErrorCode.VALUE_OUT_OF_RANGE, f"code point {char:#x}")
                chars.append(chr(char))
            return "".join(chars)
        if kind == "binary":
            length = reader.uint()
            self._check_length(spec, length, 8)
            return bytes(reader.read(8) for _ in range(length)).hex()
        raise ExiError(ExiErrorCode.UNSUPPORTED_EVENT, f"datatype {kind}")

    def _check_length(self, spec: dict[str, Any], length: int, min_bits: int) -> None:
        # refuse before allocating: each item needs at least min_bits of input
        limit = spec.get("max_length", MAX_VALUE_LENGTH)
        if length > limit:
            raise ExiError(ExiErrorCode.LENGTH_EXCEEDED, f"length {length} > {limit}")
        if length * min_bits > self.reader.remaining_bits:
            raise ExiError(ExiErrorCode.TRUNCATED, f"length {length} beyond the input")


def _empty_value_type(
    datatypes: tuple[dict[str, Any], ...], grammar: Grammar, state: int
) -> dict[str, Any] | None:
    """The string or binary type of the value a state of simple content still expects.
    An empty value there may come with no characters at all, as EXIficient writes it:
    the element ends with the undeclared EE of the second level (code 0 of 3 bits).
    That form is JSON null; "" is a characters event of length 0 (as libcbv2g writes
    it). Both round-trip."""
    text = None
    for prod in grammar.states[state]:
        if prod.kind not in (AT, CH, EE):
            return None
        if prod.kind == CH:
            text = datatypes[prod.ref]
    return text if text is not None and text["kind"] in ("string", "binary") else None


def _may_end_empty(datatypes: tuple[dict[str, Any], ...], grammar: Grammar, state: int) -> bool:
    """Whether `state` may end at once with an undeclared EE: where an empty value is valid
    (see _empty_value_type); both directions refuse the form elsewhere."""
    spec = _empty_value_type(datatypes, grammar, state)
    return spec is not None and spec.get("min_length", 0) == 0


def _ordered_children(items: Json, path: str) -> list[tuple[str, Json]]:
    if not isinstance(items, list) or not all(isinstance(i, dict) and len(i) == 1 for i in items):
        raise ExiError(
            ExiErrorCode.INVALID_MESSAGE, f"{path}: {ITEMS_KEY} is a list of one-key objects"
        )
    return [next(iter(i.items())) for i in reversed(items)]


class _Encoder:
    __slots__ = ("datatypes", "grammars", "writer")

    def __init__(self, tables: Tables, writer: BitWriter) -> None:
        self.writer = writer
        self.grammars = tables.grammars
        self.datatypes = tables.datatypes

    def element(self, grammar: Grammar, value: Json, path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ExiError(ExiErrorCode.DEPTH_EXCEEDED, f"{path}: nesting deeper than {MAX_DEPTH}")
        pending: dict[str, list[Json]] = {}
        ordered: list[tuple[str, Json]] = []  # children of an ordered grammar, reversed
        if grammar.simple:
            pending["$"] = [value]
        elif not isinstance(value, dict):
            raise ExiError(ExiErrorCode.INVALID_MESSAGE, f"{path}: expected an object")
        else:
            for key, item in value.items():
                if grammar.ordered and key == ITEMS_KEY:
                    ordered = _ordered_children(item, path)
                elif key in grammar.lists:
                    if not isinstance(item, list):
                        raise ExiError(
                            ExiErrorCode.INVALID_MESSAGE, f"{path}.{key}: expected an array"
                        )
                    if item:  # an empty array is no occurrence, as in the C encoder
                        pending[key] = list(reversed(item))
                else:
                    pending[key] = [item]
        writer = self.writer
        index, turns = 0, 0
        while True:
            state = grammar.offered(index, turns)
            chosen = -1
            next_child = ordered[-1][0] if ordered else None
            for code, prod in enumerate(state):
                kind = prod.kind
                if kind == EE:
                    if not pending and not ordered:
                        chosen = code
                        break
                elif kind == CH:
                    if "$" in pending:
                        chosen = code
                        break
                elif (kind == AT and prod.name in pending) or (
                    kind == SE and (prod.name in pending or prod.name == next_child)
                ):
                    chosen = code
                    break
            if chosen < 0:
                expected = [p.name or ("text" if p.kind == CH else "end") for p in state]
                raise ExiError(
                    ExiErrorCode.INVALID_MESSAGE,
                    f"{path}: cannot place {sorted(pending)}; expected one of {expected}",
                )
            prod = state[chosen]
            if (
                prod.kind == CH
                and pending == {"$": [None]}
                and _may_end_empty(self.datatypes, grammar, index)
            ):
                # the empty value as EXIficient writes it: escape, then second-level EE
                writer.write(len(state), len(state).bit_length())
                writer.write(0, EMPTY_VALUE_LEVEL2_WIDTH)
                return
            writer.write(chosen, len(state).bit_length())
            if prod.kind == EE:
                return
            key = prod.name or "$"
            if prod.kind == SE and grammar.ordered:
                item = ordered.pop()[1]
            else:
                items = pending[key]
                item = items.pop()
                if not items:
                    del pending[key]
            if prod.kind == SE:
                self.element(self.grammars[prod.ref], item, f"{path}.{key}", depth + 1)
            else:
                self.value(prod.ref, item, f"{path}.{key}")
            turns = grammar.count_after(index, turns, prod.next)
            index = prod.next

    def value(self, datatype: int, value: Json, path: str) -> None:
        spec = self.datatypes[datatype]
        kind = spec["kind"]
        writer = self.writer
        if kind in ("nbit", "uint", "int"):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ExiError(ExiErrorCode.INVALID_MESSAGE, f"{path}: expected an integer")
            low, high = spec.get("min", MIN_INTEGER), spec.get("max", MAX_INTEGER)
            if not max(low, MIN_INTEGER) <= value <= min(high, MAX_INTEGER):
                raise ExiError(ExiErrorCode.VALUE_OUT_OF_RANGE, f"{path}: {value} outside its type")
            if kind == "nbit":
                writer.write(value - spec["min"], spec["bits"])
            elif kind == "uint":
                writer.uint(value)
            else:
                writer.write(1 if value < 0 else 0, 1)
                writer.uint(-value - 1 if value < 0 else value)
        elif kind == "bool":
            if not isinstance(value, bool):
                raise ExiError(ExiErrorCode.INVALID_MESSAGE, f"{path}: expected a boolean")
            writer.write(int(value), 1)
        elif kind == "enum":
            values = spec["values"]
            if value not in values:
                raise ExiError(
                    ExiErrorCode.VALUE_OUT_OF_RANGE, f"{path}: {value!r} not in {values}"
                )
            writer.write(values.index(value), (len(values) - 1).bit_length())
        elif kind == "string":
            if not isinstance(value, str):
                raise ExiError(ExiErrorCode.INVALID_MESSAGE, f"{path}: expected a string")
            self._check_length(spec, len(value), path)
            writer.uint(len(value) + 2)
            for char in value:
                writer.uint(ord(char))
        elif kind == "binary":
            try:
                raw = bytes.fromhex(value)
            except (TypeError, ValueError):
                raise ExiError(ExiErrorCode.INVALID_MESSAGE, f"{path}: expected hex") from None
            self._check_length(spec, len(raw), path)
            writer.uint(len(raw))
            for byte in raw:
                writer.write(byte, 8)
        else:
            raise ExiError(ExiErrorCode.UNSUPPORTED_EVENT, f"{path}: datatype {kind}")

    @staticmethod
    def _check_length(spec: dict[str, Any], length: int, path: str) -> None:
        limit = spec.get("max_length", MAX_VALUE_LENGTH)
        if length > limit:
            raise ExiError(ExiErrorCode.LENGTH_EXCEEDED, f"{path}: length {length} > {limit}")
