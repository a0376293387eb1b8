"""The RfidSimulator module: plays its script once, presenting each card as an RFID token."""

from __future__ import annotations

from evstack.generated.interfaces.auth_token_provider import AuthTokenProviderImplBase
from evstack.generated.modules.rfid_simulator import RfidSimulatorModuleBase
from evstack.generated.types.authorization import (
    AuthorizationType,
    IdToken,
    IdTokenType,
    ProvidedIdToken,
)
from evstack.modules.RfidSimulator.script import Sleep, Step, Swipe, parse_script


class _Reader(AuthTokenProviderImplBase):
    """Only publishes: a token provider serves no commands."""


def provided_token(swipe: Swipe) -> ProvidedIdToken:
    return ProvidedIdToken(
        id_token=IdToken(value=swipe.token, type=IdTokenType.ISO14443),
        authorization_type=AuthorizationType.RFID,
        connectors=list(swipe.connectors) or None,
    )


class RfidSimulator(RfidSimulatorModuleBase):
    def create_main(self, config: object) -> AuthTokenProviderImplBase:
        self._reader = _Reader()
        return self._reader

    async def init(self) -> None:
        # Parsed here so that a bad script stops the module at start-up, with its position.
        self._steps: list[Step] = parse_script(self.config.script)

    async def ready(self) -> None:
        self.start_task(self._play())

    async def _play(self) -> None:
        for step in self._steps:
            if isinstance(step, Sleep):
                await self.clock.sleep(step.seconds)
            else:
                self.log.info("card %s presented", step.token)
                await self._reader.publish_provided_token(provided_token(step))
