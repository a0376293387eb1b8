"""The outbox's sender: the messages the station owes its CSMS, one at a time, in order.

It sends the head of `evstack.ocpp.outbox.Outbox` once the station is Accepted and online, and
waits for its answer before the next. What happens to the head:

- answered: it leaves the outbox and the block that owed it hears the response;
- CALLERROR, or no answer within the message timeout: a failed transmission, retried after
  `MessageAttemptInterval x transmissions + MessageTimeout`, given up after `MessageAttempts`;
- the connection lost (`NotConnectedError`): not a failed attempt; it goes again, first, when
  the link is back.

Each transmission gets a new message id (the RPC layer's). An answer that comes after the
timeout is dropped by OCPP-J but reported through `on_late_answer`: if it answers the head
before its retry went out, the head counts as delivered rather than being sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from evstack.generated.ocpp.v201.enums import AttributeEnumType, RegistrationStatusEnumType
from evstack.ocpp.errors import OcppError
from evstack.ocpp.j import CallTimeoutError, NotConnectedError
from evstack.ocpp.j.rpc import LateAnswer
from evstack.ocpp.outbox import QueuedMessage, RetryPolicy

from .device_model import VariableKey, ref
from .link import MESSAGE_TIMEOUT
from .station import Station

__all__ = ["ATTEMPTS", "INTERVAL", "OWED_KINDS", "Sender"]

log = logging.getLogger(__name__)

ATTEMPTS = ref("OCPPCommCtrlr", "MessageAttempts", variable_instance="TransactionEvent")
INTERVAL = ref("OCPPCommCtrlr", "MessageAttemptInterval", variable_instance="TransactionEvent")
# The kinds the retry policy applies to: all owed messages follow TransactionEvent's (the
# device model names no other).
OWED_KINDS = ("TransactionEvent", "SecurityEventNotification")


class Sender:
    """Drains the station's outbox; see the module's doc."""

    def __init__(self, station: Station) -> None:
        self.station = station
        self._late: tuple[str, QueuedMessage] | None = None  # (message id, message) timed out
        station.endpoint.on_late_answer = self._on_late_answer
        for key in (ATTEMPTS, INTERVAL, MESSAGE_TIMEOUT):
            station.model.watch(key, self._policy_changed)
        self._apply_policy()

    def _apply_policy(self) -> None:
        model = self.station.model
        policy = RetryPolicy(attempts=model.get_int(ATTEMPTS), interval_s=model.get_float(INTERVAL))
        for kind in OWED_KINDS:
            self.station.outbox.set_policy(kind, policy)
        self.station.outbox.message_timeout_s = model.get_float(MESSAGE_TIMEOUT)

    def _policy_changed(self, key: VariableKey, attribute: AttributeEnumType, value: str) -> None:
        self._apply_policy()

    def _ready(self) -> bool:
        station = self.station
        return (
            station.registration is RegistrationStatusEnumType.Accepted and station.online.is_set()
        )

    async def run(self) -> None:
        station = self.station
        outbox = station.outbox
        changed = station.outbox_changed
        while True:
            changed.clear()
            head = outbox.head()
            if head is None or not self._ready():
                await changed.wait()
                continue
            wait = head.not_before - station.clock.now()
            if wait > 0:
                await self._sleep_or_change(wait)
                continue
            await self._send(head)

    async def _sleep_or_change(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds / self.station.clock.speedup):
                await self.station.outbox_changed.wait()

    async def _send(self, head: QueuedMessage) -> None:
        station = self.station
        self._late = None
        try:
            response = await station.endpoint.call_encoded(head.action, head.payload)
        except NotConnectedError:
            # Not an attempt: the head goes first when the link is back. The link may not have
            # said yet that it is down (a call fails at once then): wait for its word, or for
            # any other change, rather than spin without yielding.
            await station.outbox_changed.wait()
            return
        except CallTimeoutError as timeout:
            self._late = (timeout.message_id, head)
            await self._failed(head, f"no answer in {station.outbox.message_timeout_s:g} s")
            return
        except OcppError as error:
            await self._failed(head, str(error))
            return
        station.outbox.delivered(head.seq)
        station.outbox_changed.set()
        await station.delivered(head, response)

    async def _failed(self, head: QueuedMessage, why: str) -> None:
        log.warning("%s #%d: %s", head.action, head.seq, why)
        # E13: the next transmission is due MessageAttemptInterval x transmissions after this
        # failure (TC_E_50 measures that after a CALLERROR; TC_E_41 adds the timeout waited
        # for, which a timeout's failure comes after). The outbox adds MessageTimeout to the
        # time it is given, so it is given the failure's time less that.
        outbox = self.station.outbox
        failed_at = self.station.clock.now() - outbox.message_timeout_s
        given_up = outbox.failed(head.seq, failed_at)
        self.station.outbox_changed.set()
        if given_up:
            await self.station.given_up(head)

    def _on_late_answer(self, late: LateAnswer) -> None:
        if self._late is None or self._late[0] != late.message_id or late.error is not None:
            return
        message = self._late[1]
        self._late = None
        head = self.station.outbox.head()
        if head is not None and head.seq == message.seq:
            self.station.outbox.delivered(message.seq)
        self.station.start_task(self.station.delivered(message, late.response))
        self.station.outbox_changed.set()
