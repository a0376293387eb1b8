"""The LocalAllowList module: Accepted for the cards on its list, Invalid for every other."""

from __future__ import annotations

from evstack.generated.interfaces.auth_token_validator import AuthTokenValidatorImplBase
from evstack.generated.modules.local_allow_list import LocalAllowListModuleBase
from evstack.generated.types.authorization import (
    AuthorizationStatus,
    ProvidedIdToken,
    ValidationResult,
)
from evstack.modules.LocalAllowList.allow_list import AllowList


class _Validator(AuthTokenValidatorImplBase):
    def __init__(self, allowed: AllowList) -> None:
        self._allowed = allowed

    async def handle_validate_token(self, provided_token: ProvidedIdToken) -> ValidationResult:
        listed = provided_token.id_token.value in self._allowed
        status = AuthorizationStatus.Accepted if listed else AuthorizationStatus.Invalid
        return ValidationResult(authorization_status=status)


class LocalAllowList(LocalAllowListModuleBase):
    def create_main(self, config: object) -> AuthTokenValidatorImplBase:
        # Built here, not in init(): the validator must exist before the runtime serves it.
        return _Validator(AllowList(self.config.tokens))
