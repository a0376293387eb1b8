"""The Auth module: drives :class:`AuthCore` from tokens, validators and EVSE session events.

EVSE ids are the positions of the ``evse_manager`` connections, counted from 1, as in EVerest.
Validators are asked in the order they are connected and the first ``Accepted`` wins; one that
fails (times out, raises) counts as not accepting, so a broken backend cannot block a local
list behind it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable
from typing import Any

from evstack.generated.interfaces.auth import AuthImplBase
from evstack.generated.interfaces.evse_manager import EvseManagerClient
from evstack.generated.modules.auth import AuthModuleBase
from evstack.generated.types.authorization import (
    AuthorizationStatus,
    ProvidedIdToken,
    TokenValidationStatus,
    TokenValidationStatusMessage,
    ValidationResult,
    WithdrawAuthorizationRequest,
    WithdrawAuthorizationResult,
)
from evstack.generated.types.evse_manager import (
    SessionEvent,
    SessionEventEnum,
    StopTransactionReason,
    StopTransactionRequest,
)
from evstack.modules.Auth.auth_core import (
    AuthCore,
    Authorize,
    Effect,
    PublishStatus,
    SelectionAlgorithm,
    StopTransaction,
    Token,
    ValidateToken,
    WithdrawAuthorization,
)
from evstack.runtime import CommandError
from evstack.runtime.tasks import first_completed


class _Main(AuthImplBase):
    def __init__(self, auth: Auth) -> None:
        self._auth = auth

    async def handle_set_connection_timeout(self, connection_timeout: int) -> None:
        self._auth.core.connection_timeout = float(connection_timeout)

    async def handle_withdraw_authorization(
        self, request: WithdrawAuthorizationRequest
    ) -> WithdrawAuthorizationResult:
        token = request.id_token.value if request.id_token is not None else None
        result, effects = self._auth.core.withdraw(request.evse_id, token)
        self._auth.later(effects)
        return WithdrawAuthorizationResult(result.value)


class Auth(AuthModuleBase):
    def create_main(self, config: object) -> AuthImplBase:
        self._main = _Main(self)
        return self._main

    async def init(self) -> None:
        self.core = AuthCore(
            evse_ids=range(1, len(self.r_evse_manager) + 1),
            clock=self.clock.now,
            connection_timeout=float(self.config.connection_timeout),
            selection=SelectionAlgorithm(self.config.selection_algorithm),
        )
        # The wire form of each token and its accepted result, for statuses and authorize_response.
        self._provided: dict[str, ProvidedIdToken] = {}
        self._results: dict[str, ValidationResult] = {}
        self._changed = asyncio.Event()
        # One queue per EVSE, plus one (None) for statuses and validations; see later().
        self._queues: dict[int | None, asyncio.Queue[Effect]] = {
            lane: asyncio.Queue() for lane in (None, *range(1, len(self.r_evse_manager) + 1))
        }
        for queue in self._queues.values():
            self.start_task(self._carry_out_forever(queue))
        for provider in self.r_token_provider:
            provider.subscribe_provided_token(self._on_token)
        for evse_id, evse in enumerate(self.r_evse_manager, start=1):
            evse.subscribe_session_event(functools.partial(self._on_session_event, evse_id))

    async def ready(self) -> None:
        self.start_task(self._expire_forever())

    # --- inputs -----------------------------------------------------------------------------

    def _on_token(self, provided: ProvidedIdToken) -> None:
        token = Token(
            value=provided.id_token.value,
            connectors=tuple(provided.connectors or ()),
            prevalidated=bool(provided.prevalidated),
        )
        self._provided[token.key] = provided
        if token.prevalidated:
            self._results[token.key] = ValidationResult(
                authorization_status=AuthorizationStatus.Accepted
            )
        self.later(self.core.on_token(token))

    def _on_session_event(self, evse_id: int, event: SessionEvent) -> None:
        match event.event:
            case SessionEventEnum.SessionStarted:
                effects = self.core.on_plug_in(evse_id)
            case SessionEventEnum.SessionFinished:
                effects = self.core.on_unplug(evse_id)
            case SessionEventEnum.TransactionStarted:
                effects = self.core.on_transaction_started(evse_id)
            case SessionEventEnum.TransactionFinished:
                effects = self.core.on_transaction_finished(evse_id)
            case SessionEventEnum.Enabled | SessionEventEnum.Disabled:
                enabled = event.event == SessionEventEnum.Enabled
                effects = self.core.set_enabled(evse_id, enabled)
            case _:
                return
        self.later(effects)

    async def _validate(self, token: Token) -> None:
        provided = self._provided[token.key]
        accepted: ValidationResult | None = None
        for validator in self.r_token_validator:
            try:
                result = await validator.call_validate_token(provided)
            except CommandError as error:
                self.log.warning("validator %s failed: %s", validator.target, error)
                continue
            if result.authorization_status == AuthorizationStatus.Accepted:
                accepted = result
                break
        if accepted is not None:
            self._results[token.key] = accepted
        self.later(self.core.on_validated(token, accepted is not None))

    # --- effects ----------------------------------------------------------------------------

    def later(self, effects: list[Effect]) -> None:
        """Queue effects for the workers that carry them out.

        Inputs change the core at once, in the order they arrive, and no input handler ever
        waits on another module. Commands go through one queue per EVSE, so each EVSE gets
        them in order while a hung EVSE holds up nobody but itself; statuses have their own.
        """
        for effect in effects:
            lane = None
            if isinstance(effect, Authorize | WithdrawAuthorization | StopTransaction):
                lane = effect.evse_id
            self._queues[lane].put_nowait(effect)
        self._changed.set()  # deadlines may have moved

    async def _carry_out_forever(self, queue: asyncio.Queue[Effect]) -> None:
        while True:
            await self._carry_out(await queue.get())

    async def _carry_out(self, effect: Effect) -> None:
        match effect:
            case PublishStatus(token=token, status=status):
                message = TokenValidationStatusMessage(
                    token=self._provided[token.key],
                    status=TokenValidationStatus(status.value),
                )
                await self._main.publish_token_validation_status(message)
            case ValidateToken(token=token):
                # Validators may take long (a backend); never hold up other tokens meanwhile.
                self.start_task(self._validate(token))
            case Authorize(evse_id=evse_id, token=token):
                await self._tell_evse(
                    evse_id,
                    self._evse(evse_id).call_authorize_response(
                        self._provided[token.key], self._results[token.key]
                    ),
                )
            case WithdrawAuthorization(evse_id=evse_id):
                await self._tell_evse(evse_id, self._evse(evse_id).call_withdraw_authorization())
            case StopTransaction(evse_id=evse_id, token=token):
                request = StopTransactionRequest(
                    reason=StopTransactionReason.Local, id_tag=self._provided[token.key]
                )
                await self._tell_evse(evse_id, self._evse(evse_id).call_stop_transaction(request))

    def _evse(self, evse_id: int) -> EvseManagerClient:
        return self.r_evse_manager[evse_id - 1]

    async def _tell_evse(self, evse_id: int, call: Awaitable[object]) -> None:
        """An EVSE that cannot be reached must not stop Auth serving the others."""
        try:
            await call
        except CommandError as error:
            self.log.warning("EVSE %d did not take the command: %s", evse_id, error)

    async def _expire_forever(self) -> None:
        while True:
            deadline = self.core.next_deadline()
            self._changed.clear()
            waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._changed.wait())]
            if deadline is not None:
                waiters.append(asyncio.ensure_future(self.clock.sleep(deadline - self.clock.now())))
            await first_completed(*waiters)
            self.later(self.core.tick())
