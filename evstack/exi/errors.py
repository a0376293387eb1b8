"""Why a stream was refused. The numeric codes are shared with the C runtime (ext/exi)."""

from __future__ import annotations

import enum


class ExiErrorCode(enum.IntEnum):
    TRUNCATED = 1  # the stream ended inside an event or value
    TRAILING_BYTES = 2  # the document ended before the input did
    BAD_HEADER = 3  # not the V2G EXI header (0x80: no options, version 1)
    UNSUPPORTED_EVENT = 4  # a second-level event (xsi:type, undeclared content, ...)
    VALUE_OUT_OF_RANGE = 5  # integer, enumeration index or boolean outside its type
    LENGTH_EXCEEDED = 6  # a string, binary or array longer than its schema or the cap
    DEPTH_EXCEEDED = 7  # nesting deeper than the limit
    STRING_TABLE_HIT = 8  # a value-table reference, impossible with capacity 0
    INVALID_MESSAGE = 9  # the message to encode does not fit the grammar
    UNKNOWN_SCHEMA = 10
    NO_MEMORY = 11  # a runtime buffer cap was reached


class ExiError(ValueError):
    """A stream cannot be decoded, or a message cannot be encoded; nothing is half-done."""

    def __init__(self, code: ExiErrorCode, detail: str) -> None:
        super().__init__(f"{code.name.lower()}: {detail}")
        self.code = code
        self.detail = detail
