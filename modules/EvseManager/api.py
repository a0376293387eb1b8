"""The evse_manager commands: what Auth, energy management, operators and stores ask."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evstack.generated.interfaces.evse_manager import EvseManagerImplBase
from evstack.generated.types.authorization import (
    AuthorizationStatus,
    ProvidedIdToken,
    ValidationResult,
)
from evstack.generated.types.evse_manager import (
    Connector,
    EnableDisableSource,
    Evse,
    StopTransactionRequest,
    TransactionRecord,
)
from evstack.modules.EvseManager.signals import (
    Authorize,
    Enable,
    Pause,
    Resume,
    StopReason,
    StopTransaction,
    WithdrawAuthorization,
)

if TYPE_CHECKING:
    from evstack.modules.EvseManager.module import EvseManager


class EvseApi(EvseManagerImplBase):
    """The EVSE's `evse_manager` implementation."""

    def __init__(self, module: EvseManager) -> None:
        self.module = module
        self.paused = False

    async def handle_get_evse(self) -> Evse:
        return Evse(
            id=self.module.config.connector_id,
            connectors=[Connector(id=self.module.config.connector_id)],
        )

    async def handle_enable_disable(
        self, connector_id: int, cmd_source: EnableDisableSource
    ) -> bool:
        enabled = str(cmd_source.enable_state) != "Disable"
        self.module.feed(Enable(enabled))
        return enabled

    async def handle_authorize_response(
        self, provided_token: ProvidedIdToken, validation_result: ValidationResult
    ) -> None:
        if validation_result.authorization_status != AuthorizationStatus.Accepted:
            return  # Auth tells the user; nothing changes at the EVSE
        self.module.sessions.pending_token = provided_token
        self.module.feed(Authorize(provided_token.id_token.value))

    async def handle_withdraw_authorization(self) -> None:
        self.module.feed(WithdrawAuthorization())

    async def handle_pause_charging(self) -> bool:
        self.paused = True
        self.module.feed(Pause())
        return True

    async def handle_resume_charging(self) -> bool:
        # Judged from the commands, not the core: a pause may still be queued for it.
        was_paused, self.paused = self.paused, False
        self.module.feed(Resume())
        return was_paused

    async def handle_stop_transaction(self, request: StopTransactionRequest) -> bool:
        if not self.module.charger.in_transaction:
            return False
        self.module.feed(StopTransaction(_stop_reason(str(request.reason))))
        return True

    async def handle_get_transactions(self) -> list[TransactionRecord]:
        return self.module.sessions.journal.records()


def _stop_reason(name: str) -> StopReason:
    try:
        return StopReason(name)
    except ValueError:
        return StopReason.OTHER
