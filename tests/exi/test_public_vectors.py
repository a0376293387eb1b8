"""Every public vector decodes, and re-encodes to the identical bytes."""

from __future__ import annotations

from evstack.exi import codec, tables


def test_vector_round_trips_byte_exact(vector: tuple[str, str, bytes]) -> None:
    schema, message, data = vector
    grammar = tables.load(schema)
    decoded = codec.decode(grammar, data)
    assert f"'{message}'" in repr(decoded)  # the message element is where it should be
    assert codec.encode(grammar, decoded) == data
