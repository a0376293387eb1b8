"""The Auth rules on a fake monotonic clock."""

from __future__ import annotations

import pytest

from evstack.modules.Auth.auth_core import (
    AuthCore,
    Authorize,
    Effect,
    PublishStatus,
    SelectionAlgorithm,
    StopTransaction,
    Token,
    TokenValidationStatus,
    ValidateToken,
    WithdrawAuthorization,
    WithdrawResult,
)

S = TokenValidationStatus


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(clock: FakeClock, **kwargs: object) -> AuthCore:
    return AuthCore(evse_ids=[1, 2], clock=clock, connection_timeout=30.0, **kwargs)  # type: ignore[arg-type]


def statuses(effects: list[Effect]) -> list[TokenValidationStatus]:
    return [e.status for e in effects if isinstance(e, PublishStatus)]


def authorized(effects: list[Effect]) -> list[int]:
    return [e.evse_id for e in effects if isinstance(e, Authorize)]


CARD = Token("AABBCCDD")


def accept(core: AuthCore, token: Token = CARD) -> list[Effect]:
    effects = core.on_token(token)
    assert ValidateToken(token) in effects
    return effects + core.on_validated(token, accepted=True)


def test_swipe_after_plug_in_authorizes_that_evse(clock: FakeClock) -> None:
    core = make(clock)
    assert core.on_plug_in(2) == []
    effects = accept(core)
    assert statuses(effects) == [S.PROCESSING, S.ACCEPTED]
    assert authorized(effects) == [2]
    assert statuses(core.on_transaction_started(2)) == [S.USED_TO_START]


def test_rejected_token_authorizes_nothing(clock: FakeClock) -> None:
    core = make(clock)
    core.on_plug_in(1)
    effects = core.on_token(CARD) + core.on_validated(CARD, accepted=False)
    assert statuses(effects) == [S.PROCESSING, S.REJECTED]
    assert authorized(effects) == []


def test_prevalidated_token_skips_validators(clock: FakeClock) -> None:
    core = make(clock)
    core.on_plug_in(1)
    token = Token("remote-start", prevalidated=True)
    effects = core.on_token(token)
    assert not any(isinstance(e, ValidateToken) for e in effects)
    assert authorized(effects) == [1]


def test_swipe_before_plug_in_waits_for_the_plug(clock: FakeClock) -> None:
    core = make(clock)
    effects = accept(core)
    assert statuses(effects) == [S.PROCESSING, S.ACCEPTED]
    assert authorized(effects) == []
    clock.now += 29
    assert core.tick() == []
    assert authorized(core.on_plug_in(1)) == [1]


def test_swipe_without_plug_in_times_out(clock: FakeClock) -> None:
    core = make(clock)
    accept(core)
    assert core.next_deadline() == pytest.approx(130.0)
    clock.now += 30
    assert statuses(core.tick()) == [S.TIMED_OUT]
    assert core.on_plug_in(1) == []  # the late plug-in gets nothing


def test_unused_authorization_is_withdrawn_after_timeout(clock: FakeClock) -> None:
    core = make(clock)
    core.on_plug_in(1)
    accept(core)
    clock.now += 30
    effects = core.tick()
    assert WithdrawAuthorization(1) in effects
    assert statuses(effects) == [S.WITHDRAWN]


def test_unplugged_connector_is_never_authorized(clock: FakeClock) -> None:
    core = make(clock)
    core.on_plug_in(1)
    core.on_unplug(1)
    effects = accept(core)
    assert authorized(effects) == []  # waits instead of authorizing the empty port


def test_unplug_withdraws_a_granted_authorization(clock: FakeClock) -> None:
    core = make(clock)
    core.on_plug_in(1)
    accept(core)
    assert statuses(core.on_unplug(1)) == [S.WITHDRAWN]
    assert core.next_deadline() is None


def test_find_first_takes_the_lowest_evse_id(clock: FakeClock) -> None:
    core = make(clock, selection=SelectionAlgorithm.FIND_FIRST)
    core.on_plug_in(2)
    core.on_plug_in(1)
    assert authorized(accept(core)) == [1]


def test_plug_events_takes_the_ev_that_waited_longest(clock: FakeClock) -> None:
    core = make(clock, selection=SelectionAlgorithm.PLUG_EVENTS)
    core.on_plug_in(2)
    core.on_plug_in(1)
    assert authorized(accept(core)) == [2]
    assert authorized(accept(core, Token("second"))) == [1]


def test_token_limited_to_connectors(clock: FakeClock) -> None:
    core = make(clock)
    core.on_plug_in(1)
    token = Token("only-two", connectors=(2,))
    assert authorized(accept(core, token)) == []
    assert authorized(core.on_plug_in(2)) == [2]


def test_same_token_stops_its_transaction(clock: FakeClock) -> None:
    core = make(clock)
    core.on_plug_in(1)
    accept(core)
    core.on_transaction_started(1)
    stopper = Token("aabbccdd")  # ids compare case-insensitively
    effects = core.on_token(stopper)
    assert statuses(effects) == [S.PROCESSING, S.USED_TO_STOP]
    assert StopTransaction(1, stopper) in effects


def test_second_swipe_of_granted_card_does_not_take_another_evse(clock: FakeClock) -> None:
    core = make(clock)
    core.on_plug_in(1)
    core.on_plug_in(2)
    accept(core)
    effects = core.on_token(CARD)
    assert statuses(effects) == [S.PROCESSING, S.ACCEPTED]
    assert authorized(effects) == []


def test_busy_station_rejects_without_asking_validators(clock: FakeClock) -> None:
    core = make(clock)
    for evse_id, card in ((1, "a"), (2, "b")):
        core.on_plug_in(evse_id)
        accept(core, Token(card))
        core.on_transaction_started(evse_id)
    effects = core.on_token(Token("c"))
    assert statuses(effects) == [S.PROCESSING, S.REJECTED]
    assert not any(isinstance(e, ValidateToken) for e in effects)


def test_withdraw_by_evse_and_by_token(clock: FakeClock) -> None:
    core = make(clock)
    core.on_plug_in(1)
    core.on_plug_in(2)
    accept(core, Token("a"))
    accept(core, Token("b"))
    result, effects = core.withdraw(evse_id=1)
    assert result is WithdrawResult.ACCEPTED
    assert effects[0] == WithdrawAuthorization(1)
    result, effects = core.withdraw(token="B")
    assert result is WithdrawResult.ACCEPTED
    assert effects[0] == WithdrawAuthorization(2)
    assert core.withdraw()[0] is WithdrawResult.AUTHORIZATION_NOT_FOUND
    assert core.withdraw(evse_id=9)[0] is WithdrawResult.EVSE_NOT_FOUND


def test_withdraw_all_cancels_waiting_and_validating_tokens(clock: FakeClock) -> None:
    core = make(clock)
    accept(core, Token("waiting"))
    core.on_token(Token("validating"))
    result, effects = core.withdraw()
    assert result is WithdrawResult.ACCEPTED
    assert statuses(effects) == [S.WITHDRAWN, S.WITHDRAWN]
    # The validator's late answer no longer authorizes anything.
    core.on_plug_in(1)
    assert core.on_validated(Token("validating"), accepted=True) == []


def test_disabled_evse_loses_its_authorization_and_takes_no_new_one(clock: FakeClock) -> None:
    core = make(clock)
    core.on_plug_in(1)
    accept(core)
    assert WithdrawAuthorization(1) in core.set_enabled(1, enabled=False)
    assert authorized(accept(core, Token("other"))) == []


def test_finished_transaction_frees_the_evse(clock: FakeClock) -> None:
    core = make(clock)
    core.on_plug_in(1)
    accept(core)
    core.on_transaction_started(1)
    core.on_transaction_finished(1)
    assert authorized(accept(core, Token("next"))) == [1]


def test_bad_configuration_is_refused(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="at least one EVSE"):
        AuthCore(evse_ids=[], clock=clock)
    with pytest.raises(ValueError, match="connection_timeout"):
        AuthCore(evse_ids=[1], clock=clock, connection_timeout=0)
    with pytest.raises(KeyError, match="unknown EVSE id 7"):
        make(clock).on_plug_in(7)
