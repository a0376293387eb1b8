"""The SECC session on a real TCP connection (loopback; the link-local path is in the
interop tests): responses go out, a silent connection and garbage are closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from evstack.hlc.secc import EvseState, SeccSession, SessionEnded, driver, events
from evstack.hlc.secc.timing import COMMUNICATION_SETUP_TIMEOUT
from evstack.hlc.transport.stream import StreamClosedError, V2gtpStream

from .din_ev import DIN_NS, EXI, din_request, din_response, sap_request, sap_response

Connect = Callable[[float], Awaitable[tuple[V2gtpStream, list[events.Event], asyncio.Task[None]]]]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Starts an SECC whose session began `age` seconds ago; returns the EV's stream."""
    servers: list[asyncio.Server] = []

    async def start(age: float) -> tuple[V2gtpStream, list[events.Event], asyncio.Task[None]]:
        seen: list[events.Event] = []
        served: asyncio.Future[asyncio.Task[None]] = asyncio.get_running_loop().create_future()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            now = asyncio.get_running_loop().time()
            session = SeccSession(EvseState(power_allowed=True), now - age)
            task = asyncio.ensure_future(
                driver.serve(V2gtpStream(reader, writer), session, seen.append)
            )
            served.set_result(task)
            await task

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return V2gtpStream(reader, writer), seen, await served

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_requests_are_answered_over_tcp(connect: Connect) -> None:
    ev, seen, task = await connect(0.0)
    await ev.send(EXI, sap_request((DIN_NS, 2, 0, 1)))
    _, payload = await ev.receive()
    assert sap_response(payload)["ResponseCode"] == "OK_SuccessfulNegotiation"
    await ev.send(EXI, din_request("SessionSetupReq", "00"))
    sid, name, body = din_response((await ev.receive())[1])
    assert (name, body["ResponseCode"]) == ("SessionSetupRes", "OK_NewSessionEstablished")
    await ev.send(EXI, din_request("SessionStopReq", sid))
    assert din_response((await ev.receive())[1])[1] == "SessionStopRes"
    with pytest.raises(StreamClosedError):
        await ev.receive()
    await task
    assert [e for e in seen if isinstance(e, SessionEnded)] == [
        SessionEnded("the EV stopped the session", True)
    ]


async def test_a_silent_connection_is_closed(connect: Connect) -> None:
    # The session "began" just short of the setup time, so the close comes at once.
    ev, seen, task = await connect(COMMUNICATION_SETUP_TIMEOUT - 0.05)
    with pytest.raises(StreamClosedError):
        await ev.receive()
    await task
    (end,) = [e for e in seen if isinstance(e, SessionEnded)]
    assert "communication setup" in end.reason


async def test_garbage_is_closed_without_an_answer(connect: Connect) -> None:
    ev, seen, task = await connect(0.0)
    await ev.send(EXI, b"\x80\xff\xff\xff")
    with pytest.raises(StreamClosedError):
        await ev.receive()
    await task
    (end,) = [e for e in seen if isinstance(e, SessionEnded)]
    assert "malformed EXI" in end.reason


async def test_the_ev_leaving_ends_the_session(connect: Connect) -> None:
    ev, seen, task = await connect(0.0)
    await ev.close()
    await task
    (end,) = [e for e in seen if isinstance(e, SessionEnded)]
    assert "connection lost" in end.reason
