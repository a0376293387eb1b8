"""DataTransfer (use case P01) and the customData the CSMS sends along (TC_P_03).

A DataTransfer is for a vendor's own functions. The station serves the vendors it has
extensions for, each a table of message ids; for any other vendorId it answers UnknownVendorId
(P01.FR.05), for an unknown messageId of a known vendor UnknownMessageId (P01.FR.06); the
vendor's handler says Accepted or Rejected. The station itself has no vendor extension yet:
every DataTransfer it gets today is answered UnknownVendorId.

customData (an object any message may carry, with a vendorId and whatever else that vendor
wants) is accepted in every request and kept as it came: the codec decodes it into an open
object that holds its undeclared properties, for the handler of the message to read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from evstack.generated.ocpp.v201.enums import DataTransferStatusEnumType
from evstack.generated.ocpp.v201.messages import DataTransferRequest, DataTransferResponse

from .blocks import Block
from .station import Station

__all__ = ["BLOCK", "DataTransfer", "DataTransferBlock", "VendorHandler"]

Status = DataTransferStatusEnumType

VendorHandler = Callable[[Any], Awaitable[tuple[DataTransferStatusEnumType, Any]]]
"""`handler(data) -> (status, data of the answer or msgspec.UNSET)`."""


class DataTransfer:
    """The vendor extensions' message tables, and the answer to a DataTransferRequest."""

    def __init__(self) -> None:
        self._vendors: dict[str, dict[str, VendorHandler]] = {}

    def register(self, vendor_id: str, message_id: str, handler: VendorHandler) -> None:
        self._vendors.setdefault(vendor_id, {})[message_id] = handler

    async def handle(self, request: DataTransferRequest) -> DataTransferResponse:
        messages = self._vendors.get(request.vendorId)
        if messages is None:
            return DataTransferResponse(status=Status.UnknownVendorId)
        message_id = None if isinstance(request.messageId, msgspec.UnsetType) else request.messageId
        handler = messages.get(message_id or "")
        if handler is None:
            return DataTransferResponse(status=Status.UnknownMessageId)
        status, data = await handler(request.data)
        return DataTransferResponse(status=status, data=data)


class DataTransferBlock(Block):
    """Serves the CSMS's DataTransfer."""

    def __init__(self, station: Station) -> None:
        super().__init__(station)
        self.data_transfer = DataTransfer()
        station.route("DataTransfer", self.data_transfer.handle)


BLOCK = DataTransferBlock
