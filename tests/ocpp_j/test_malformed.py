"""Every malformed frame gets the CALLERROR Part 4 prescribes, and the connection stays up.

A raw websocket CSMS sends each frame of the table to the station over loopback, reads the
answer, then sends a good CALL: its CALLRESULT must be the very next frame (so a frame that
must not be answered was not), on the same connection.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

from evstack.ocpp.errors import ErrorCode
from evstack.ocpp.j.rpc import RpcEndpoint

from .peers import RawCsms, one_slot_policy, running, station, station_endpoint

pytestmark = pytest.mark.timeout(30)

MAX_FRAME = 2048

RPC = ErrorCode.RPC_FRAMEWORK_ERROR
PDU = ErrorCode.PROTOCOL_ERROR
FORMAT = ErrorCode.FORMAT_VIOLATION
TYPE_NUMBER = ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED
ID37 = b"i" * 37
PAD = b"x" * MAX_FRAME

# (name, frame as sent, (message id, code) of the CALLERROR, or None for no answer)
CASES: list[tuple[str, bytes, tuple[str, ErrorCode] | None]] = [
    ("not JSON", b"hello", ("-1", RPC)),
    ("JSON cut off after the id", b'[2, "m1", "ClearCache", {', ("m1", FORMAT)),
    ("an object, not an array", b'{"id": "m2"}', ("-1", RPC)),
    ("an empty array", b"[]", ("-1", RPC)),
    ("a type that is a string", b'["2", "m3", "ClearCache", {}]', ("m3", RPC)),
    ("unknown message type", b'[7, "m4", "ClearCache", {}]', ("m4", TYPE_NUMBER)),
    ("unknown type, no id", b"[5]", ("-1", TYPE_NUMBER)),
    ("a numeric message id", b'[2, 42, "ClearCache", {}]', ("-1", RPC)),
    ("an empty message id", b'[2, "", "ClearCache", {}]', ("-1", RPC)),
    ("a message id of 37 characters", b'[2, "' + ID37 + b'", "ClearCache", {}]', ("-1", RPC)),
    ("a CALL without payload", b'[2, "m5", "ClearCache"]', ("m5", PDU)),
    ("a CALL with an extra element", b'[2, "m6", "ClearCache", {}, {}]', ("m6", PDU)),
    ("a numeric action", b'[2, "m7", 5, {}]', ("m7", PDU)),
    ("an array payload", b'[2, "m8", "ClearCache", []]', ("m8", FORMAT)),
    ("a null payload", b'[2, "m9", "ClearCache", null]', ("m9", FORMAT)),
    ("an unknown action", b'[2, "m10", "FlyToTheMoon", {}]', ("m10", ErrorCode.NOT_IMPLEMENTED)),
    (
        "a known action nobody serves",
        b'[2, "m11", "Reset", {"type": "Immediate"}]',
        ("m11", ErrorCode.NOT_SUPPORTED),
    ),
    (
        "a required field missing",
        b'[2, "m12", "ChangeAvailability", {}]',
        ("m12", ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION),
    ),
    (
        "a field of the wrong type",
        b'[2, "m13", "ChangeAvailability", {"operationalStatus": 5}]',
        ("m13", ErrorCode.TYPE_CONSTRAINT_VIOLATION),
    ),
    (
        "a value outside its enumeration",
        b'[2, "m14", "ChangeAvailability", {"operationalStatus": "Sideways"}]',
        ("m14", ErrorCode.PROPERTY_CONSTRAINT_VIOLATION),
    ),
    (
        "a field the schema does not have",
        b'[2, "m15", "ClearCache", {"colour": "red"}]',
        ("m15", ErrorCode.PROPERTY_CONSTRAINT_VIOLATION),
    ),
    ("an oversized CALL", b'[2, "big", "ClearCache", {"pad": "' + PAD + b'"}]', ("big", FORMAT)),
    ("an oversized frame of nothing", b"x" * (MAX_FRAME + 1), ("-1", FORMAT)),
    ("a CALLRESULT for no CALL", b'[3, "nobody", {}]', None),
    ("a CALLERROR for no CALL", b'[4, "nobody", "InternalError", "", {}]', None),
    ("a malformed CALLRESULT", b'[3, "m16"]', None),
    ("a malformed CALLERROR", b'[4, "m17", "InternalError"]', None),
    ("an oversized CALLRESULT", b'[3, "m18", {"pad": "' + PAD + b'"}]', None),
]


async def exchange(connection: ServerConnection, frame: bytes, probe: int) -> tuple[Any, Any]:
    """Send `frame`, then a good CALL; the station's next frame, and the one after if the
    first was not the probe's answer."""
    await connection.send(frame.decode())  # a text frame, as OCPP-J sends them
    await connection.send(json.dumps([2, f"probe-{probe}", "ClearCache", {}]))
    first = json.loads(await connection.recv())
    if first[:2] == [3, f"probe-{probe}"]:
        return None, first
    return first, json.loads(await connection.recv())


def endpoint() -> RpcEndpoint:
    return station_endpoint(max_frame_size=MAX_FRAME)


@pytest.mark.parametrize(("name", "frame", "answer"), CASES, ids=[case[0] for case in CASES])
async def test_a_malformed_frame_gets_its_callerror(
    name: str, frame: bytes, answer: tuple[str, ErrorCode] | None
) -> None:
    async with RawCsms() as csms:
        client, recorder = station(one_slot_policy(csms.url), endpoint=endpoint())
        async with running(client):
            connection = await csms.accept()
            await recorder.expect("connected", 1)
            got, probe = await exchange(connection, frame, 1)
            if answer is None:
                assert got is None, f"a response was answered: {got}"
            else:
                kind, message_id, code, description, details = got
                assert (kind, message_id, code) == (4, answer[0], answer[1].value)
                assert isinstance(description, str)
                assert len(description) <= 255
                assert isinstance(details, dict)  # the codec may name the JSON path
            assert probe == [3, "probe-1", {"status": "Accepted"}]
            assert recorder.events.empty(), "the connection did not stay up"


async def test_the_whole_table_on_one_connection() -> None:
    async with RawCsms() as csms:
        client, recorder = station(one_slot_policy(csms.url), endpoint=endpoint())
        async with running(client):
            connection = await csms.accept()
            await recorder.expect("connected", 1)
            for probe, (name, frame, answer) in enumerate(CASES):
                got, _ = await exchange(connection, frame, probe)
                assert (got is None) == (answer is None), name
                if answer is not None:
                    assert got[1:3] == [answer[0], answer[1].value], name
            assert csms.connections.empty()
            assert recorder.events.empty()
