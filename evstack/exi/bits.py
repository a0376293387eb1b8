"""Bit-packed EXI streams (EXI 1.0, 7.1): most significant bit first, no alignment."""

from __future__ import annotations

from evstack.exi.errors import ExiError, ExiErrorCode

# An EXI unsigned integer is at most this many 7-bit groups here: 10 groups hold 64 bits,
# and no V2G type is wider; longer runs are hostile and refused early.
MAX_UINT_GROUPS = 10


class BitReader:
    """Reads bits and EXI primitive values; every read is bounds-checked."""

    __slots__ = ("_data", "_end", "_pos")

    def __init__(self, data: bytes, start_byte: int = 0) -> None:
        self._data = data
        self._pos = start_byte * 8
        self._end = len(data) * 8

    @property
    def remaining_bits(self) -> int:
        return self._end - self._pos

    @property
    def bytes_used(self) -> int:
        return (self._pos + 7) // 8

    def read(self, width: int) -> int:
        if width == 0:
            return 0
        pos = self._pos
        if pos + width > self._end:
            raise ExiError(ExiErrorCode.TRUNCATED, f"need {width} bits at bit {pos}")
        first, last = pos >> 3, (pos + width - 1) >> 3
        chunk = int.from_bytes(self._data[first : last + 1], "big")
        tail = (last + 1) * 8 - (pos + width)
        self._pos = pos + width
        return (chunk >> tail) & ((1 << width) - 1)

    def uint(self) -> int:
        value, shift = 0, 0
        for index in range(MAX_UINT_GROUPS):
            group = self.read(8)
            value |= (group & 0x7F) << shift
            if group < 0x80:
                if group == 0 and index > 0:
                    # non-minimal: no encoder writes it, and decode -> encode must be exact
                    raise ExiError(ExiErrorCode.VALUE_OUT_OF_RANGE, "non-minimal integer")
                if value >> 64:
                    break
                return value
            shift += 7
        raise ExiError(ExiErrorCode.VALUE_OUT_OF_RANGE, "unsigned integer longer than 64 bits")

    def padding_is_zero(self) -> bool:
        spare = (-self._pos) % 8
        return spare == 0 or self.read(spare) == 0


class BitWriter:
    """Collects bits; `getvalue` pads the last byte with zero bits."""

    __slots__ = ("_acc", "_bits", "_out")

    def __init__(self) -> None:
        self._out = bytearray()
        self._acc = 0
        self._bits = 0

    def write(self, value: int, width: int) -> None:
        if width == 0:
            return
        self._acc = (self._acc << width) | value
        self._bits += width
        while self._bits >= 8:
            self._bits -= 8
            self._out.append((self._acc >> self._bits) & 0xFF)
        self._acc &= (1 << self._bits) - 1

    @property
    def bits_written(self) -> int:
        return len(self._out) * 8 + self._bits

    def uint(self, value: int) -> None:
        while value >= 0x80:
            self.write((value & 0x7F) | 0x80, 8)
            value >>= 7
        self.write(value, 8)

    def getvalue(self) -> bytes:
        if self._bits:
            return bytes(self._out) + bytes([(self._acc << (8 - self._bits)) & 0xFF])
        return bytes(self._out)
