"""Runs a SeccSession on a V2GTP stream, with the event loop's clock.

The driver is the only place with I/O and time: it feeds each message and each deadline
to the session, sends what it returns, hands events to `on_event`, and closes the stream
when the session says so.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from evstack.hlc.secc import events as ev
from evstack.hlc.secc.session import SeccSession
from evstack.hlc.transport.stream import StreamClosedError, V2gtpStream

EventSink = Callable[[ev.Event], None]
SendSink = Callable[[ev.Send], None]


async def serve(
    stream: V2gtpStream,
    session: SeccSession,
    on_event: EventSink,
    on_send: SendSink | None = None,
) -> None:
    """Serve one connection until the session ends or the connection does; `on_send` sees
    each response as it goes (for displays)."""
    loop = asyncio.get_running_loop()
    receiving: asyncio.Task[tuple[int, bytes]] | None = None
    try:
        while not session.ended:
            if receiving is None:
                receiving = asyncio.ensure_future(stream.receive())
            deadline = session.deadline()
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            done, _ = await asyncio.wait({receiving}, timeout=timeout)
            if receiving in done:
                task, receiving = receiving, None
                try:
                    payload_type, payload = task.result()
                except StreamClosedError as exc:
                    outputs = session.connection_lost(exc.reason)
                else:
                    outputs = session.receive(payload_type, payload, loop.time())
            else:
                outputs = session.poll(loop.time())
            await _carry_out(stream, outputs, on_event, on_send)
    finally:
        if receiving is not None:
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError, StreamClosedError):
                await receiving


async def _carry_out(
    stream: V2gtpStream, outputs: list[ev.Output], on_event: EventSink, on_send: SendSink | None
) -> None:
    for output in outputs:
        if isinstance(output, ev.Send):
            if on_send is not None:
                on_send(output)
            with contextlib.suppress(StreamClosedError):
                await stream.send(output.payload_type, output.payload)
        elif isinstance(output, ev.Close):
            await stream.close(output.reason)
        else:
            on_event(output)
