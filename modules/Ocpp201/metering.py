"""The meter values block (J): MeterValues on the CSMS's request, and what the EV says of its
state of charge.

Sampled and clock-aligned values are taken by the transactions core (`tx_core`), which puts
those of a running transaction in its TransactionEvents and hands the rest here as
MeterValues: the two must agree on every boundary, so one clock decides both. This block
serves TriggerMessage(MeterValues) (F06: AlignedDataCtrlr's measurands, context Trigger, for
the EVSE named or every EVSE) and feeds the core the SoC the EVSEs report (`ev_info`), which
SoC measurands need. How values are built is `sampling.py`.
"""

from __future__ import annotations

import functools
from collections.abc import Coroutine
from typing import Any

from evstack.generated.ocpp.v201.enums import MessageTriggerEnumType
from evstack.generated.types.evse_manager import EVInfo

from .blocks import Block
from .station import Station
from .transactions import TransactionsBlock

__all__ = ["BLOCK", "MeteringBlock"]


class MeteringBlock(Block):
    def __init__(self, station: Station) -> None:
        super().__init__(station)
        self._transactions = TransactionsBlock.of(station)
        station.register_trigger(MessageTriggerEnumType.MeterValues, self._trigger)
        for evse in station.evses:
            evse.client.subscribe_ev_info(functools.partial(self._on_ev_info, evse.id))

    def _on_ev_info(self, evse_id: int, info: EVInfo) -> None:
        self._transactions.core.on_soc(evse_id, info.soc)

    def _trigger(
        self, evse_id: int | None, connector_id: int | None
    ) -> Coroutine[Any, Any, None] | None:
        transactions = self._transactions
        if evse_id is not None and self.station.evse(evse_id) is None:
            return None
        requests = transactions.core.meter_values(evse_id, transactions.now())
        if not requests:
            return None  # no meter has spoken yet: nothing to send

        async def send() -> None:
            for request in requests:
                await transactions.send_meter_values(request)

        return send()


BLOCK = MeteringBlock
