"""The C codec (evstack.ext._exi) behind the same JSON form as the Python codec.

C turns bits into events and events into MessagePack of the JSON form (ext/exi/
exi_msgpack.c), and msgspec turns that into dicts; encoding runs the same way back. The
C bridge needs the JSON keys of every grammar, which `_bridge` hands over once per schema
set, built from the same tables the codecs use.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import msgspec

from evstack.exi.errors import ExiError, ExiErrorCode
from evstack.exi.tables import Tables

try:
    from evstack.ext import _exi
except ImportError:  # not built (no compiler at install): the Python codec serves alone
    _exi = None  # type: ignore[assignment]

MAX_EVENTS = 1 << 18  # 6 MB of events
KEEP_SIZE = 1 << 16  # scratch buffers kept between calls: at most this many items each
NONE = 0xFFFF
MAX_KEYS = 64  # per grammar: the C bridge tracks the keys of a map in a 64-bit set
Json = Any

# uuid as bytes and Decimal as a float: MessagePack types the bridge refuses, so such values
# reach the Python encoder, which explains the mistake, instead of passing as strings
_packer = msgspec.msgpack.Encoder(uuid_format="bytes", decimal_format="number")
_unpack = msgspec.msgpack.decode


def available() -> bool:
    return _exi is not None


@dataclasses.dataclass(frozen=True, slots=True)
class _Bridge:
    schema: Any  # exi_mp_schema *
    owners: tuple[Any, ...]  # the cffi arrays it points into, kept alive with it


_bridges: dict[str, _Bridge] = {}


def _bridge(tables: Tables) -> _Bridge:
    found = _bridges.get(tables.schema_set)
    if found is None:
        found = _bridges[tables.schema_set] = _build_bridge(tables)
    return found


def _build_bridge(tables: Tables) -> _Bridge:
    ffi, lib = _exi.ffi, _exi.lib
    schema = lib.exi_schema_find(tables.schema_set.encode())
    if schema == ffi.NULL:
        raise ExiError(ExiErrorCode.UNKNOWN_SCHEMA, tables.schema_set)
    text = bytearray()
    offsets: dict[str, tuple[int, int]] = {}

    def place(value: str) -> tuple[int, int]:
        if value not in offsets:
            data = value.encode()
            offsets[value] = (len(text), len(data))
            text.extend(data)
        return offsets[value]

    grammars = ffi.new("exi_mp_grammar[]", len(tables.grammars))
    key_rows: list[tuple[str, int, int, bool, bool]] = []
    for index, grammar in enumerate(tables.grammars):
        if len(grammar.keys) > MAX_KEYS:
            raise ExiError(
                ExiErrorCode.UNSUPPORTED_EVENT, f"{grammar.label}: more than {MAX_KEYS} keys"
            )
        row = grammars[index]
        row.first_key, row.n_keys = len(key_rows), len(grammar.keys)
        row.text = grammar.text if grammar.text >= 0 else NONE
        row.simple, row.ordered = grammar.simple, grammar.ordered
        for key, (name, ref) in grammar.keys.items():
            key_rows.append((key, name, ref, key[0] == "@", key in grammar.lists))
    keys = ffi.new("exi_mp_key[]", max(len(key_rows), 1))
    for row, (key, name, ref, attribute, repeated) in zip(keys, key_rows, strict=False):
        row.key, row.key_len = place(key)
        row.name, row.ref, row.attribute, row.list = name, ref, attribute, repeated
    names = ffi.new("exi_mp_text[]", len(tables.names))
    for row, local in zip(names, tables.names, strict=True):
        row.offset, row.len = place(local)
    enum_first = ffi.new("uint32_t[]", max(len(tables.datatypes), 1))
    values: list[str] = []
    for index, spec in enumerate(tables.datatypes):
        enum_first[index] = len(values)
        if spec["kind"] == "enum":
            values.extend(spec["values"])
    enum_values = ffi.new("exi_mp_text[]", max(len(values), 1))
    for row, value in zip(enum_values, values, strict=False):
        row.offset, row.len = place(value)
    roots = ffi.new("exi_mp_key[]", len(tables.roots))
    for row, (key, grammar_index) in zip(roots, tables.roots, strict=True):
        row.key, row.key_len = place(key)
        row.name = tables.root_names[key][0]
        row.ref = grammar_index if grammar_index >= 0 else NONE
    blob = ffi.new("uint8_t[]", bytes(text) or b"\0")
    bridge = ffi.new("exi_mp_schema *")
    bridge.schema, bridge.text, bridge.grammars, bridge.keys = schema, blob, grammars, keys
    bridge.names, bridge.enum_first, bridge.enum_values = names, enum_first, enum_values
    bridge.roots, bridge.n_roots = roots, len(tables.roots)
    owners = (blob, grammars, keys, names, enum_first, enum_values, roots)
    return _Bridge(bridge, owners)


class _Scratch(threading.local):
    """Per-thread buffers, grown on demand and reused: the C side writes every byte it
    reports, so they need no clearing, and nothing handed back points into them."""

    def __init__(self) -> None:
        self.counts: Any = _exi.ffi.new("size_t[3]") if _exi else None
        self._drop()

    def _drop(self) -> None:
        self.sizes = [0, 0, 0]  # events, arena, output
        self.events: Any = None
        self.arena: Any = None
        self.out: Any = None

    def trim(self) -> None:
        """Let go of buffers that a rare large message grew beyond what V2G messages need
        (ISO-2 with its longest schedules: some 20 000 events), rather than keep them."""
        if max(self.sizes) > KEEP_SIZE:
            self._drop()

    def reserve(self, events: int, arena: int, out: int) -> None:
        alloc = _uncleared
        if events > self.sizes[0]:
            self.events, self.sizes[0] = alloc("exi_event[]", events), events
        if arena > self.sizes[1]:
            self.arena, self.sizes[1] = alloc("uint8_t[]", arena), arena
        if out > self.sizes[2]:
            self.out, self.sizes[2] = alloc("uint8_t[]", out), out


_uncleared: Any = _exi.ffi.new_allocator(should_clear_after_alloc=False) if _exi else None
_scratch = _Scratch()


def decode(tables: Tables, data: bytes) -> dict[str, Json]:
    bridge = _bridge(tables).schema
    size = len(data)
    # every event costs at least one bit and every character one byte of input, so these
    # caps follow the input size; the event cap stops there, far above any V2G message
    # (ISO-2 with 1024-entry schedules needs some 20 000), so hostile megabytes cost
    # megabytes, not hundreds of them
    max_events = min(size * 8 + 2, MAX_EVENTS)
    arena_cap = max(size * 4, 1)
    scratch = _scratch
    scratch.reserve(max_events, arena_cap, 64 + size * 16)
    try:
        return _decode(bridge, data, size, max_events, arena_cap, scratch)
    finally:
        scratch.trim()


def _decode(
    bridge: Any, data: bytes, size: int, max_events: int, arena_cap: int, scratch: _Scratch
) -> dict[str, Json]:
    lib, ffi = _exi.lib, _exi.ffi
    counts = scratch.counts
    err = lib.exi_decode(
        bridge.schema, data, size, scratch.events, max_events, counts,
        scratch.arena, arena_cap, counts + 1, counts + 2,
    )  # fmt: skip
    if err:
        raise ExiError(ExiErrorCode(err), f"at bit {counts[2]}")
    while True:
        err = lib.exi_events_to_msgpack(
            bridge, scratch.events, counts[0], scratch.arena, scratch.out, scratch.sizes[2],
            counts + 2,
        )  # fmt: skip
        if err != ExiErrorCode.NO_MEMORY:
            break
        scratch.reserve(0, 0, counts[2])  # it said how much it needs: the second try fits
    if err:
        raise ExiError(ExiErrorCode(err), "events without a JSON form")
    result: dict[str, Json] = _unpack(ffi.buffer(scratch.out, counts[2]))
    return result


def encode(tables: Tables, message: dict[str, Json]) -> bytes:
    """Encode through C; keys must follow schema order (as `decode` returns them)."""
    lib, ffi = _exi.lib, _exi.ffi
    bridge = _bridge(tables).schema
    try:
        packed = _packer.encode(message)
    except (TypeError, ValueError, OverflowError) as exc:
        # not JSON data (bytes are refused below, a set or a huge int here): the Python
        # encoder names the value
        raise ExiError(ExiErrorCode.INVALID_MESSAGE, str(exc)) from None
    size = len(packed)
    # a value costs at least one packed byte and yields at most three events (start,
    # characters, end); values never grow when unpacked
    max_events = size * 3 + 3
    # an event is at most a 16-bit code plus a value of at most 10 bytes per character
    out_cap = 16 + max_events * 12 + size * 10
    scratch = _scratch
    scratch.reserve(max_events, size, out_cap)
    try:
        counts = scratch.counts
        err = lib.exi_msgpack_encode(
            bridge, packed, size, scratch.events, max_events, scratch.arena, size,
            scratch.out, out_cap, counts, counts + 1,
        )  # fmt: skip
        if err:
            raise ExiError(ExiErrorCode(err), f"at event {counts[1]}")
        encoded: bytes = ffi.buffer(scratch.out, counts[0])[:]
        return encoded
    finally:
        scratch.trim()
