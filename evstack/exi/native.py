"""The C codec (evstack.ext._exi) behind the same JSON form as the Python codec.

C turns bits into a flat event array and back; this module only maps events to the JSON
form, which needs no grammar walk because each key has one meaning within a type.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

from evstack.exi.errors import ExiError, ExiErrorCode
from evstack.exi.tables import ITEMS_KEY, Grammar, Tables

try:
    from evstack.ext import _exi
except ImportError:  # not built (no compiler at install): the Python codec serves alone
    _exi = None  # type: ignore[assignment]

SE, AT, CH, EE = 0, 1, 2, 3
# exi_event as laid out by the C compiler (checked below): kind, neg, name, ref, len, mag
EVENT = struct.Struct("=BBHH2xI4xQ")
_pack = EVENT.pack
_EE_EVENT = _pack(EE, 0, 0, 0, 0, 0)
if _exi is not None:
    _layout = [_exi.ffi.offsetof("exi_event", f) for f in ("neg", "name", "ref", "len", "mag")]
    if _exi.ffi.sizeof("exi_event") != EVENT.size or _layout != [1, 2, 4, 8, 16]:
        # an unexpected ABI: use the Python codec rather than misread events
        _exi = None  # type: ignore[assignment]
MAX_DEPTH = 32
MAX_EVENTS = 1 << 18  # 6 MB of events
Json = Any

_schemas: dict[str, Any] = {}
# The C side writes every byte it reports, so its buffers need no zeroing first.
_uncleared: Any = _exi.ffi.new_allocator(should_clear_after_alloc=False) if _exi else None
_NO_TEXT = object()  # an element without a characters event so far


def available() -> bool:
    return _exi is not None


def _schema(tables: Tables) -> Any:
    found = _schemas.get(tables.schema_set)
    if found is None:
        found = _exi.lib.exi_schema_find(tables.schema_set.encode())
        if found == _exi.ffi.NULL:
            raise ExiError(ExiErrorCode.UNKNOWN_SCHEMA, tables.schema_set)
        _schemas[tables.schema_set] = found
    return found


def decode(tables: Tables, data: bytes) -> dict[str, Json]:
    ffi, lib = _exi.ffi, _exi.lib
    # every event costs at least one bit and every character one byte of input, so these
    # caps follow the input size; the event cap stops there, far above any V2G message
    # (ISO-2 with 1024-entry schedules needs some 20 000), so hostile megabytes cost
    # megabytes, not hundreds of them
    max_events = min(len(data) * 8 + 2, MAX_EVENTS)
    arena_cap = len(data) * 4
    events = _uncleared("exi_event[]", max_events)
    arena = _uncleared("uint8_t[]", max(arena_cap, 1))
    counts = ffi.new("size_t[3]")
    err = lib.exi_decode(
        _schema(tables), data, len(data), events, max_events, counts,
        arena, arena_cap, counts + 1, counts + 2,
    )  # fmt: skip
    if err:
        raise ExiError(ExiErrorCode(err), f"at bit {counts[2]}")
    raw = bytes(ffi.buffer(arena, counts[1]))
    packed = ffi.buffer(events, counts[0] * EVENT.size)
    return _build(tables, EVENT.iter_unpack(packed), raw)


def _build(tables: Tables, events: Iterator[tuple[int, ...]], raw: bytes) -> dict[str, Json]:
    grammars, names = tables.grammars, tables.names
    convert = _converters(tables)
    # one frame per open element: [grammar, fields, text, name]
    _, _, root_name, root_ref, _, _ = next(events)
    stack: list[list[Any]] = [[grammars[root_ref], {}, _NO_TEXT, tables.root_keys[root_name]]]
    for kind, neg, name, ref, length, mag in events:
        if kind == SE:
            stack.append([grammars[ref], {}, _NO_TEXT, names[name]])
        elif kind == EE:
            grammar, fields, text, own_name = stack.pop()
            if grammar.simple:
                value: Json = None if text is _NO_TEXT else text
            else:
                value = fields
                if text is not _NO_TEXT:
                    fields["$"] = text  # None: a value written as no characters at all
            if not stack:
                return {own_name: value}
            parent_grammar, parent_fields = stack[-1][0], stack[-1][1]
            if parent_grammar.ordered:
                parent_fields.setdefault(ITEMS_KEY, []).append({own_name: value})
            elif own_name in parent_grammar.lists:
                parent_fields.setdefault(own_name, []).append(value)
            else:
                parent_fields[own_name] = value
        elif kind == AT:
            stack[-1][1]["@" + names[name]] = convert[ref](neg, mag, length, raw)
        else:
            stack[-1][2] = convert[ref](neg, mag, length, raw)
    raise ExiError(ExiErrorCode.TRUNCATED, "events end inside an element")


Converter = Callable[[int, int, int, bytes], Json]
_converter_cache: dict[str, list[Converter]] = {}


def _converters(tables: Tables) -> list[Converter]:
    """Per datatype: (neg, mag, len, arena) -> JSON value."""
    found = _converter_cache.get(tables.schema_set)
    if found is None:
        found = [_converter(spec) for spec in tables.datatypes]
        _converter_cache[tables.schema_set] = found
    return found


def _converter(spec: dict[str, Any]) -> Converter:
    kind = spec["kind"]
    if kind in ("nbit", "uint", "int"):
        return lambda neg, mag, _len, _raw: -mag if neg else mag
    if kind == "bool":
        return lambda _neg, mag, _len, _raw: bool(mag)
    if kind == "enum":
        values = spec["values"]
        return lambda _neg, mag, _len, _raw: values[mag]
    # neg marks a value written as no characters at all (JSON null, see codec.py)
    if kind == "string":
        return lambda neg, mag, length, raw: None if neg else raw[mag : mag + length].decode()
    return lambda neg, mag, length, raw: None if neg else raw[mag : mag + length].hex()


def encode(tables: Tables, message: dict[str, Json]) -> bytes:
    """Encode through C; keys must follow schema order (as `decode` returns them)."""
    ffi, lib = _exi.ffi, _exi.lib
    if not isinstance(message, dict) or len(message) != 1:
        raise ExiError(ExiErrorCode.INVALID_MESSAGE, "a message is a dict with one root element")
    [(name, value)] = message.items()
    if name not in tables.root_names:
        raise ExiError(
            ExiErrorCode.INVALID_MESSAGE, f"{name!r} is not a root of {tables.schema_set}"
        )
    flat: list[bytes] = []  # one packed exi_event each
    arena = bytearray()
    name_index, grammar = tables.root_names[name]
    if grammar < 0:
        raise ExiError(ExiErrorCode.INVALID_MESSAGE, f"relaxed fragment grammar of {name}")
    _flatten(tables, tables.grammars[grammar], name_index, value, flat, arena, 1)
    events = ffi.from_buffer("exi_event[]", b"".join(flat))
    # an event is at most a 16-bit code plus a value of at most 10 bytes per character
    out_cap = 16 + len(flat) * 12 + len(arena) * 10
    out = _uncleared("uint8_t[]", out_cap)
    counts = ffi.new("size_t[2]")
    err = lib.exi_encode(
        _schema(tables), events, len(flat), bytes(arena), len(arena), out, out_cap,
        counts, counts + 1,
    )  # fmt: skip
    if err:
        raise ExiError(ExiErrorCode(err), f"at event {counts[1]}")
    return bytes(ffi.buffer(out, counts[0]))


def _flatten(
    tables: Tables,
    grammar: Grammar,
    name: int,
    value: Json,
    flat: list[bytes],
    arena: bytearray,
    depth: int,
) -> None:
    if depth > MAX_DEPTH:
        raise ExiError(ExiErrorCode.DEPTH_EXCEEDED, f"nesting deeper than {MAX_DEPTH}")
    flat.append(_pack(SE, 0, name, 0, 0, 0))
    if grammar.simple:
        _put_value(tables.datatypes[grammar.text], CH, 0, value, flat, arena)
    elif not isinstance(value, dict):
        raise ExiError(ExiErrorCode.INVALID_MESSAGE, f"{tables.names[name]}: expected an object")
    else:
        for key, item in value.items():
            if key == "$":
                if grammar.text < 0:
                    raise ExiError(ExiErrorCode.INVALID_MESSAGE, f"{key}: no text here")
                _put_value(tables.datatypes[grammar.text], CH, 0, item, flat, arena)
                continue
            if key == ITEMS_KEY and grammar.ordered:
                if not isinstance(item, list):
                    raise ExiError(ExiErrorCode.INVALID_MESSAGE, f"{key}: expected an array")
                for child in item:
                    if not isinstance(child, dict) or len(child) != 1:
                        raise ExiError(ExiErrorCode.INVALID_MESSAGE, f"{key}: one-key objects")
                    [(child_key, child_value)] = child.items()
                    found = grammar.keys.get(child_key)
                    if found is None or child_key[0] == "@":
                        raise ExiError(ExiErrorCode.INVALID_MESSAGE, f"unknown key {child_key!r}")
                    _flatten(
                        tables, tables.grammars[found[1]], found[0], child_value, flat, arena,
                        depth + 1,
                    )  # fmt: skip
                continue
            found = grammar.keys.get(key)
            if found is None:
                raise ExiError(ExiErrorCode.INVALID_MESSAGE, f"unknown key {key!r}")
            child_name, ref = found
            if key[0] == "@":
                _put_value(tables.datatypes[ref], AT, child_name, item, flat, arena)
            elif key in grammar.lists:
                if not isinstance(item, list):
                    raise ExiError(ExiErrorCode.INVALID_MESSAGE, f"{key}: expected an array")
                for element in item:
                    _flatten(
                        tables, tables.grammars[ref], child_name, element, flat, arena, depth + 1
                    )
            else:
                child = tables.grammars[ref]
                if child.simple:  # the common case, without a call per leaf
                    flat.append(_pack(SE, 0, child_name, 0, 0, 0))
                    _put_value(tables.datatypes[child.text], CH, 0, item, flat, arena)
                    flat.append(_EE_EVENT)
                else:
                    _flatten(tables, child, child_name, item, flat, arena, depth + 1)
    flat.append(_EE_EVENT)


def _put_value(
    spec: dict[str, Any],
    kind: int,
    name: int,
    value: Json,
    flat: list[bytes],
    arena: bytearray,
) -> None:
    vkind = spec["kind"]
    if vkind in ("nbit", "uint", "int"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ExiError(ExiErrorCode.INVALID_MESSAGE, f"expected an integer, got {value!r}")
        if not -(2**63) <= value < 2**64:
            raise ExiError(ExiErrorCode.VALUE_OUT_OF_RANGE, f"{value} outside 64 bits")
        flat.append(_pack(kind, int(value < 0), name, 0, 0, abs(value)))
    elif vkind == "bool":
        if not isinstance(value, bool):
            raise ExiError(ExiErrorCode.INVALID_MESSAGE, f"expected a boolean, got {value!r}")
        flat.append(_pack(kind, 0, name, 0, 0, int(value)))
    elif vkind == "enum":
        try:
            index = spec["values"].index(value)
        except ValueError:
            raise ExiError(
                ExiErrorCode.VALUE_OUT_OF_RANGE, f"{value!r} not in {spec['values']}"
            ) from None
        flat.append(_pack(kind, 0, name, 0, 0, index))
    elif value is None and kind == CH:
        flat.append(_pack(kind, 1, name, 0, 0, 0))  # no characters at all (codec.py)
    else:
        if not isinstance(value, str):
            raise ExiError(ExiErrorCode.INVALID_MESSAGE, f"expected a string, got {value!r}")
        if vkind == "string":
            try:
                data = value.encode("utf-8")
            except UnicodeEncodeError:
                raise ExiError(
                    ExiErrorCode.INVALID_MESSAGE, "string with lone surrogates"
                ) from None
        else:
            try:
                data = bytes.fromhex(value)
            except ValueError:
                raise ExiError(
                    ExiErrorCode.INVALID_MESSAGE, f"expected hex, got {value!r}"
                ) from None
        flat.append(_pack(kind, 0, name, 0, len(data), len(arena)))
        arena += data
