"""Auth invariants over random sequences of swipes, plugs, transactions and time."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from evstack.modules.Auth.auth_core import (
    AuthCore,
    Authorize,
    Effect,
    PublishStatus,
    SelectionAlgorithm,
    Token,
    TokenValidationStatus,
    ValidateToken,
    WithdrawAuthorization,
)

EVSES = (1, 2, 3)
CARDS = ("a", "b", "c", "d")

events = st.one_of(
    st.tuples(st.just("swipe"), st.sampled_from(CARDS), st.booleans()),
    st.tuples(st.just("validated"), st.sampled_from(CARDS), st.booleans()),
    st.tuples(st.just("plug"), st.sampled_from(EVSES)),
    st.tuples(st.just("unplug"), st.sampled_from(EVSES)),
    st.tuples(st.just("start"), st.sampled_from(EVSES)),
    st.tuples(st.just("finish"), st.sampled_from(EVSES)),
    st.tuples(st.just("wait"), st.floats(min_value=0, max_value=40)),
    st.tuples(st.just("withdraw"), st.sampled_from((None, *EVSES))),
)


class Model:
    """What the EVSEs would hold if they followed every effect the core asked for."""

    def __init__(self) -> None:
        self.plugged: set[int] = set()
        self.authorized: dict[int, str] = {}
        self.charging: dict[int, str] = {}
        self.validating: set[str] = set()

    def apply(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Authorize):
                assert effect.evse_id in self.plugged, "authorized an unplugged EVSE"
                assert effect.evse_id not in self.authorized, "authorized twice"
                assert effect.evse_id not in self.charging, "authorized a busy EVSE"
                self.authorized[effect.evse_id] = effect.token.key
            elif isinstance(effect, WithdrawAuthorization):
                assert self.authorized.pop(effect.evse_id, None) is not None, "withdrew nothing"
            elif isinstance(effect, ValidateToken):
                self.validating.add(effect.token.key)


@settings(max_examples=400, deadline=None)
@given(st.lists(events, max_size=40), st.sampled_from(list(SelectionAlgorithm)))
def test_auth_invariants(script: list[tuple[object, ...]], selection: SelectionAlgorithm) -> None:
    now = [0.0]
    core = AuthCore(EVSES, clock=lambda: now[0], connection_timeout=30, selection=selection)
    model = Model()
    for event in script:
        match event:
            case ("swipe", str(card), bool(prevalidated)):
                effects = core.on_token(Token(card, prevalidated=prevalidated))
                assert isinstance(effects[0], PublishStatus)
                assert effects[0].status is TokenValidationStatus.PROCESSING
            case ("validated", str(card), bool(accepted)):
                if card not in model.validating:
                    continue  # validators only answer what they were asked
                model.validating.discard(card)
                effects = core.on_validated(Token(card), accepted)
            case ("plug", int(evse)):
                if evse in model.plugged:
                    continue  # a second EV cannot plug into an occupied EVSE
                model.plugged.add(evse)
                effects = core.on_plug_in(evse)
            case ("unplug", int(evse)):
                if evse not in model.plugged:
                    continue
                model.plugged.discard(evse)
                model.charging.pop(evse, None)
                effects = core.on_unplug(evse)
                # The EVSE drops its own authorization when the EV leaves.
                model.authorized.pop(evse, None)
            case ("start", int(evse)):
                if evse not in model.authorized:
                    continue  # an EVSE only starts a transaction when authorized
                model.charging[evse] = model.authorized.pop(evse)
                effects = core.on_transaction_started(evse)
            case ("finish", int(evse)):
                if evse not in model.charging:
                    continue
                del model.charging[evse]
                effects = core.on_transaction_finished(evse)
            case ("wait", float(seconds)):
                now[0] += seconds
                effects = core.tick()
            case ("withdraw", evse):
                effects = core.withdraw(evse_id=evse if isinstance(evse, int) else None)[1]
            case _:
                raise AssertionError(event)
        model.apply(effects)
        # One card, one EVSE: never two authorizations for the same token.
        held = list(model.authorized.values())
        assert len(held) == len(set(held))
        if event[0] == "wait":  # nothing outlives its connection timeout
            deadline = core.next_deadline()
            assert deadline is None or deadline > now[0]
