"""The remote control block (F): the CSMS starts and stops transactions and unlocks connectors.

RequestStartTransaction (F01, F02) is answered at once: Rejected for an EVSE the station does
not have or one whose EV is already authorized, else Accepted, with the transaction's id when
one runs already (TxStartPoint EVConnected and the EV is plugged in). Then, with
AuthCtrlr.AuthorizeRemoteStart, the token is authorized as a presented card would be (the
authorization cache, or Authorize); once accepted it goes to Auth as this module's
`auth_token_provider` token, for the EVSE named, validated already, carrying the
remoteStartId into the transaction's events. An EVSE with no EV yet gets its transaction now
if TxStartPoint has Authorized, ended after TxCtrlr.EVConnectionTimeOut if no EV comes.

RequestStopTransaction (F03) has the EVSE end its transaction as Remote; a transaction that
EvseManager does not run yet (an EV plugged in, not authorized; a remote start still waiting
for its EV) ends at the station. UnlockConnector (F05): a connector of an authorized
transaction stays locked; evstack's connectors have no lock, so any other is unlocked.
"""

from __future__ import annotations

import logging

import msgspec

from evstack.generated.ocpp.v201.datatypes import IdTokenType
from evstack.generated.ocpp.v201.enums import (
    AuthorizationStatusEnumType,
    RequestStartStopStatusEnumType,
    UnlockStatusEnumType,
)
from evstack.generated.ocpp.v201.messages import (
    RequestStartTransactionRequest,
    RequestStartTransactionResponse,
    RequestStopTransactionRequest,
    RequestStopTransactionResponse,
    UnlockConnectorRequest,
    UnlockConnectorResponse,
)
from evstack.generated.types.authorization import (
    AuthorizationType,
    IdToken,
    ProvidedIdToken,
)
from evstack.generated.types.authorization import IdTokenType as EvseTokenType
from evstack.generated.types.evse_manager import StopTransactionReason

from .authorization import AuthorizationBlock
from .blocks import Block
from .station import Station
from .transactions import TransactionsBlock

__all__ = ["BLOCK", "RemoteBlock"]

log = logging.getLogger(__name__)

Accepted = RequestStartStopStatusEnumType.Accepted
Rejected = RequestStartStopStatusEnumType.Rejected


def provided_token(
    token: IdTokenType, remote_start_id: int, evse_id: int | None, group: IdTokenType | None
) -> ProvidedIdToken:
    """The CSMS's token as Auth takes it: from OCPP, validated, for the EVSE named."""
    return ProvidedIdToken(
        id_token=IdToken(value=token.idToken, type=EvseTokenType(token.type.value)),
        parent_id_token=None
        if group is None
        else IdToken(value=group.idToken, type=EvseTokenType(group.type.value)),
        authorization_type=AuthorizationType.OCPP,
        request_id=remote_start_id,
        connectors=None if evse_id is None else [evse_id],
        prevalidated=True,
    )


class RemoteBlock(Block):
    def __init__(self, station: Station) -> None:
        super().__init__(station)
        station.route("RequestStartTransaction", self._request_start)
        station.route("RequestStopTransaction", self._request_stop)
        station.route("UnlockConnector", self._unlock)

    async def _request_start(
        self, request: RequestStartTransactionRequest
    ) -> RequestStartTransactionResponse:
        station = self.station
        core = TransactionsBlock.of(station).core
        evse_id: int | None = None
        if request.evseId is not msgspec.UNSET:
            evse_id = request.evseId
        elif len(station.evses) == 1:
            evse_id = station.evses[0].id  # the only place it can go
        if evse_id is not None and station.evse(evse_id) is None:
            return RequestStartTransactionResponse(status=Rejected)
        running = None if evse_id is None else core.open_transaction(evse_id)
        if running is not None and running.journaled:
            return RequestStartTransactionResponse(status=Rejected)  # authorized already
        station.start_task(self._start(request, evse_id))
        return RequestStartTransactionResponse(
            status=Accepted,
            transactionId=msgspec.UNSET if running is None else running.transaction_id,
        )

    async def _start(self, request: RequestStartTransactionRequest, evse_id: int | None) -> None:
        """After the response: authorize if asked to, then hand the token to Auth."""
        token = request.idToken
        authorization = AuthorizationBlock.of(self.station)
        if authorization.settings().authorize_remote_start:
            decision = await authorization.decide(token)
            if decision.status is not AuthorizationStatusEnumType.Accepted:
                log.info(
                    "remote start %d: %s is %s",
                    request.remoteStartId,
                    token.idToken,
                    decision.status,
                )
                return
        transactions = TransactionsBlock.of(self.station)
        if evse_id is not None and transactions.core.free(evse_id):
            transactions.core.on_authorized_before_plugin(
                evse_id, token, request.remoteStartId, transactions.now()
            )
        group = None if request.groupIdToken is msgspec.UNSET else request.groupIdToken
        await self.station.provide_token(
            provided_token(token, request.remoteStartId, evse_id, group)
        )

    async def _request_stop(
        self, request: RequestStopTransactionRequest
    ) -> RequestStopTransactionResponse:
        transactions = TransactionsBlock.of(self.station)
        tx = transactions.core.find(request.transactionId)
        if tx is None:
            return RequestStopTransactionResponse(status=Rejected)
        if not tx.journaled:
            transactions.core.end_remotely(tx.evse_id, transactions.now())
            return RequestStopTransactionResponse(status=Accepted)
        stopped = await transactions.stop_transaction(tx.evse_id, StopTransactionReason.Remote)
        return RequestStopTransactionResponse(status=Accepted if stopped else Rejected)

    async def _unlock(self, request: UnlockConnectorRequest) -> UnlockConnectorResponse:
        evse = self.station.evse(request.evseId)
        if evse is None or not 1 <= request.connectorId <= evse.connectors:
            return UnlockConnectorResponse(status=UnlockStatusEnumType.UnknownConnector)
        tx = TransactionsBlock.of(self.station).core.open_transaction(evse.id)
        if tx is not None and tx.journaled:
            return UnlockConnectorResponse(status=UnlockStatusEnumType.OngoingAuthorizedTransaction)
        return UnlockConnectorResponse(status=UnlockStatusEnumType.Unlocked)


BLOCK = RemoteBlock
