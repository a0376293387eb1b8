"""The Auth decision logic, free of I/O so that every rule can be tested on a fake clock.

The module around it feeds in what happens (a token is presented, a validator answered, an EV
plugged in, a transaction started, time passed) and carries out the effects this core returns
(publish a status, ask the validators, authorize or withdraw an EVSE, stop a transaction).
Keeping the effects as data means the rules below never wait on the network, and a test can
check the exact sequence a user would see.

Rules, in EVerest's terms:

- a token that started a running transaction stops it (``UsedToStop``);
- otherwise it is validated, unless its provider marked it ``prevalidated``; the caller asks the
  validators in order and the first ``Accepted`` wins;
- an accepted token goes to a plugged-in, free EVSE chosen by the selection algorithm
  (``FindFirst``: lowest EVSE id; ``PlugEvents``: the EV that has waited longest), or waits for
  the next plug-in for at most ``connection_timeout`` seconds (then ``TimedOut``);
- an unplugged EVSE is never authorized, and unplugging forgets it at once, so a later swipe
  cannot authorize an empty port;
- an authorization that does not turn into a transaction within ``connection_timeout`` is
  withdrawn (``Withdrawn``), as is one withdrawn by request.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Clock = Callable[[], float]
"""A monotonic clock in seconds; wall-clock jumps must never expire an authorization."""


class TokenValidationStatus(enum.StrEnum):
    """What the ``auth`` interface publishes about a token, as EVerest names it."""

    PROCESSING = "Processing"
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    TIMED_OUT = "TimedOut"
    USED_TO_START = "UsedToStart"
    USED_TO_STOP = "UsedToStop"
    WITHDRAWN = "Withdrawn"


class SelectionAlgorithm(enum.StrEnum):
    """How an accepted token picks its EVSE when several are plugged in."""

    FIND_FIRST = "FindFirst"
    PLUG_EVENTS = "PlugEvents"


class WithdrawResult(enum.StrEnum):
    """Outcome of a withdrawal request, as EVerest's ``WithdrawAuthorizationResult``."""

    ACCEPTED = "Accepted"
    AUTHORIZATION_NOT_FOUND = "AuthorizationNotFound"
    EVSE_NOT_FOUND = "EvseNotFound"


@dataclass(frozen=True)
class Token:
    """A presented token, reduced to what the rules look at.

    ``connectors`` limits which EVSE ids the token may authorize (``None`` or empty: any).
    """

    value: str
    connectors: tuple[int, ...] | None = None
    prevalidated: bool = False

    @property
    def key(self) -> str:
        """Id tokens compare case-insensitively (printable ASCII, per OCPP)."""
        return self.value.casefold()


# --- effects the caller carries out -------------------------------------------------------


@dataclass(frozen=True)
class PublishStatus:
    token: Token
    status: TokenValidationStatus


@dataclass(frozen=True)
class ValidateToken:
    """Ask the validators in order; report the outcome with :meth:`AuthCore.on_validated`."""

    token: Token


@dataclass(frozen=True)
class Authorize:
    evse_id: int
    token: Token


@dataclass(frozen=True)
class WithdrawAuthorization:
    evse_id: int


@dataclass(frozen=True)
class StopTransaction:
    """Stop the transaction on ``evse_id``; ``token`` is the card presented to stop it."""

    evse_id: int
    token: Token


Effect = PublishStatus | ValidateToken | Authorize | WithdrawAuthorization | StopTransaction


def _holds(held: Token | None, token: Token) -> bool:
    return held is not None and held.key == token.key


# --- state --------------------------------------------------------------------------------


@dataclass
class _Evse:
    evse_id: int
    enabled: bool = True
    plug_order: int | None = None  # None while unplugged; smaller means plugged in earlier
    authorized: Token | None = None
    authorized_until: float = 0.0
    transaction: Token | None = None

    @property
    def plugged(self) -> bool:
        return self.plug_order is not None

    @property
    def free(self) -> bool:
        return self.enabled and self.authorized is None and self.transaction is None


@dataclass
class _Waiting:
    """An accepted token with no plugged-in EVSE yet."""

    token: Token
    deadline: float


@dataclass
class AuthCore:
    """Auth state for one charging station; see the module docstring for the rules."""

    evse_ids: Iterable[int]
    clock: Clock
    connection_timeout: float = 30.0
    selection: SelectionAlgorithm = SelectionAlgorithm.FIND_FIRST
    _evses: dict[int, _Evse] = field(init=False)
    _waiting: list[_Waiting] = field(init=False, default_factory=list)
    _validating: dict[str, Token] = field(init=False, default_factory=dict)
    _plug_counter: itertools.count[int] = field(init=False, default_factory=itertools.count)

    def __post_init__(self) -> None:
        self._evses = {evse_id: _Evse(evse_id) for evse_id in sorted(self.evse_ids)}
        if not self._evses:
            raise ValueError("Auth needs at least one EVSE")
        if self.connection_timeout <= 0:
            raise ValueError(f"connection_timeout must be positive, got {self.connection_timeout}")

    # --- tokens ---------------------------------------------------------------------------

    def on_token(self, token: Token) -> list[Effect]:
        """A provider presented ``token``."""
        effects: list[Effect] = [PublishStatus(token, TokenValidationStatus.PROCESSING)]
        running = [e for e in self._evses.values() if _holds(e.transaction, token)]
        if running:
            effects.append(PublishStatus(token, TokenValidationStatus.USED_TO_STOP))
            effects.extend(StopTransaction(e.evse_id, token) for e in running)
            return effects
        if any(_holds(e.authorized, token) for e in self._evses.values()):
            # A second swipe of a card already granted somewhere: one card, one EVSE.
            effects.append(PublishStatus(token, TokenValidationStatus.ACCEPTED))
            return effects
        if not self._candidates(token):
            # Nothing could take it: say so now rather than after a validator round trip.
            effects.append(PublishStatus(token, TokenValidationStatus.REJECTED))
            return effects
        if token.prevalidated:
            return effects + self._accepted(token)
        self._validating[token.key] = token
        effects.append(ValidateToken(token))
        return effects

    def on_validated(self, token: Token, accepted: bool) -> list[Effect]:
        """The validators answered for ``token``: ``accepted`` if any of them said Accepted."""
        if self._validating.pop(token.key, None) is None:
            return []  # withdrawn while the validators were thinking
        if not accepted:
            return [PublishStatus(token, TokenValidationStatus.REJECTED)]
        return self._accepted(token)

    def _accepted(self, token: Token) -> list[Effect]:
        evse = self._select(token)
        if evse is not None:
            return self._authorize(evse, token)
        # Replace an older wait for the same card instead of queueing it twice.
        self._waiting = [w for w in self._waiting if w.token.key != token.key]
        self._waiting.append(_Waiting(token, self.clock() + self.connection_timeout))
        return [PublishStatus(token, TokenValidationStatus.ACCEPTED)]

    def _candidates(self, token: Token) -> list[_Evse]:
        allowed = token.connectors
        return [e for e in self._evses.values() if e.free and (not allowed or e.evse_id in allowed)]

    def _select(self, token: Token) -> _Evse | None:
        plugged = [e for e in self._candidates(token) if e.plugged]
        if not plugged:
            return None
        if self.selection is SelectionAlgorithm.PLUG_EVENTS:
            return min(plugged, key=lambda e: e.plug_order or 0)
        return plugged[0]

    def _authorize(self, evse: _Evse, token: Token) -> list[Effect]:
        evse.authorized = token
        evse.authorized_until = self.clock() + self.connection_timeout
        return [
            Authorize(evse.evse_id, token),
            PublishStatus(token, TokenValidationStatus.ACCEPTED),
        ]

    # --- what the EVSEs report ------------------------------------------------------------

    def on_plug_in(self, evse_id: int) -> list[Effect]:
        """An EV was plugged into ``evse_id`` (EVerest's SessionStarted)."""
        evse = self._evse(evse_id)
        evse.plug_order = next(self._plug_counter)
        if not evse.free:
            return []
        for waiting in self._waiting:
            if not waiting.token.connectors or evse_id in waiting.token.connectors:
                self._waiting.remove(waiting)
                return self._authorize(evse, waiting.token)
        return []

    def on_unplug(self, evse_id: int) -> list[Effect]:
        """The EV left ``evse_id`` (SessionFinished): forget everything about that port."""
        evse = self._evse(evse_id)
        evse.plug_order = None
        evse.transaction = None
        if evse.authorized is None:
            return []
        token, evse.authorized = evse.authorized, None
        return [PublishStatus(token, TokenValidationStatus.WITHDRAWN)]

    def on_transaction_started(self, evse_id: int) -> list[Effect]:
        evse = self._evse(evse_id)
        token, evse.authorized = evse.authorized, None
        if token is None:
            return []  # started without us (e.g. free charging): nothing to report
        evse.transaction = token
        return [PublishStatus(token, TokenValidationStatus.USED_TO_START)]

    def on_transaction_finished(self, evse_id: int) -> list[Effect]:
        self._evse(evse_id).transaction = None
        return []

    def set_enabled(self, evse_id: int, enabled: bool) -> list[Effect]:
        """A disabled or faulted EVSE takes no new authorization and loses a pending one."""
        evse = self._evse(evse_id)
        evse.enabled = enabled
        if enabled or evse.authorized is None:
            return []
        return self._withdraw(evse)

    # --- withdrawal and time ---------------------------------------------------------------

    def withdraw(
        self, evse_id: int | None = None, token: str | None = None
    ) -> tuple[WithdrawResult, list[Effect]]:
        """Withdraw granted authorizations, narrowed by EVSE and/or token like EVerest's command."""
        if evse_id is not None and evse_id not in self._evses:
            return WithdrawResult.EVSE_NOT_FOUND, []
        key = token.casefold() if token is not None else None
        effects: list[Effect] = []
        for evse in self._evses.values():
            if evse.authorized is None or (evse_id is not None and evse.evse_id != evse_id):
                continue
            if key is None or evse.authorized.key == key:
                effects += self._withdraw(evse)
        if evse_id is None:
            for waiting in [w for w in self._waiting if key is None or w.token.key == key]:
                self._waiting.remove(waiting)
                effects.append(PublishStatus(waiting.token, TokenValidationStatus.WITHDRAWN))
            for pending in [t for k, t in self._validating.items() if key is None or k == key]:
                del self._validating[pending.key]
                effects.append(PublishStatus(pending, TokenValidationStatus.WITHDRAWN))
        if not effects:
            return WithdrawResult.AUTHORIZATION_NOT_FOUND, []
        return WithdrawResult.ACCEPTED, effects

    def _withdraw(self, evse: _Evse) -> list[Effect]:
        assert evse.authorized is not None
        token, evse.authorized = evse.authorized, None
        return [
            WithdrawAuthorization(evse.evse_id),
            PublishStatus(token, TokenValidationStatus.WITHDRAWN),
        ]

    def next_deadline(self) -> float | None:
        """When :meth:`tick` next has something to do, so the caller can sleep until then."""
        deadlines = [w.deadline for w in self._waiting]
        deadlines += [e.authorized_until for e in self._evses.values() if e.authorized is not None]
        return min(deadlines, default=None)

    def tick(self) -> list[Effect]:
        """Expire waits and authorizations whose ``connection_timeout`` has passed."""
        now = self.clock()
        effects: list[Effect] = []
        for waiting in [w for w in self._waiting if w.deadline <= now]:
            self._waiting.remove(waiting)
            effects.append(PublishStatus(waiting.token, TokenValidationStatus.TIMED_OUT))
        for evse in self._evses.values():
            if evse.authorized is not None and evse.authorized_until <= now:
                effects += self._withdraw(evse)
        return effects

    def _evse(self, evse_id: int) -> _Evse:
        try:
            return self._evses[evse_id]
        except KeyError:
            raise KeyError(f"unknown EVSE id {evse_id}; known: {sorted(self._evses)}") from None
