"""The scripted CSMS (csms.py) with what the retry and fault cases need besides: every frame is
served in a task of its own (a request left unanswered, or answered late, holds up nothing),
each request's arrival (time, connection, message id) and the time its answer went are noted,
and chosen actions are answered twice."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection

from .csms import Csms, _Peer


@dataclass(frozen=True)
class Arrival:
    at: float  # time.monotonic() when the request came in
    action: str
    payload: dict[str, Any]
    connection: int  # which connection of the station it came on, from 1
    message_id: str


@dataclass(frozen=True)
class Answer:
    at: float  # time.monotonic() when the CSMS sent it
    error: bool  # a CALLERROR rather than a CALLRESULT


class _TimedPeer(_Peer):
    def __init__(self, csms: TimedCsms, number: int, connection: ServerConnection) -> None:
        super().__init__(csms, number, connection)
        self.timed = csms
        self._actions: dict[str, str] = {}  # message id -> action of the requests served
        self._serving: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        while True:
            message = await self._connection.recv()
            task = asyncio.ensure_future(self.route_message(message))
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)

    async def _handle_call(self, msg: Any) -> Any:
        arrival = Arrival(time.monotonic(), msg.action, msg.payload, self.number, msg.unique_id)
        self.timed.arrivals.append(arrival)
        self._actions[msg.unique_id] = msg.action
        return await super()._handle_call(msg)

    async def _send(self, message: str) -> None:
        await super()._send(message)
        kind, message_id, *_ = json.loads(message)
        if kind in (3, 4):
            self.timed.answers.setdefault(
                (self.number, message_id), Answer(time.monotonic(), kind == 4)
            )
        if kind == 3 and self._actions.get(message_id) in self.timed.twice:
            await super()._send(message)


@dataclass
class TimedCsms(Csms):
    arrivals: list[Arrival] = field(default_factory=list)
    twice: set[str] = field(default_factory=set)  # actions whose every answer goes twice
    # (connection, message id) -> the first answer to that request
    answers: dict[tuple[int, str], Answer] = field(default_factory=dict)

    async def _serve(self, connection: ServerConnection) -> None:
        self._count += 1
        peer = self.peer = _TimedPeer(self, self._count, connection)
        self.connections.put_nowait(self._count)
        try:
            await peer.start()
        except Exception:  # the connection ended
            return

    def times(self, action: str) -> list[float]:
        """When each of the station's `action` requests arrived (monotonic seconds)."""
        return [a.at for a in self.arrivals if a.action == action]


async def silence() -> Any:
    """A responder's answer that never comes."""
    await asyncio.Event().wait()
