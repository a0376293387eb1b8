"""The authorization rules by hand: cache, local rules, offline, master pass, eviction."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field, replace
from pathlib import Path

import msgspec
import pytest

from evstack.generated.ocpp.v201.datatypes import IdTokenInfoType, IdTokenType
from evstack.generated.ocpp.v201.enums import AuthorizationStatusEnumType as S
from evstack.generated.ocpp.v201.enums import IdTokenEnumType
from evstack.modules.Ocpp201.authorization import (
    AuthCache,
    Authorizer,
    AuthSettings,
    Decision,
    validation_result,
)
from evstack.ocpp.v201 import DateTime
from evstack.runtime.state import open_database

pytestmark = pytest.mark.timeout(10)

T0 = 1_780_000_000.0
CARD = IdTokenType(idToken="AABBCCDD", type=IdTokenEnumType.ISO14443)


@dataclass
class Csms:
    """Answers Authorize with the status it is given; None: it cannot be reached."""

    answers: dict[str, IdTokenInfoType | None] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    async def authorize(self, token: IdTokenType) -> IdTokenInfoType | None:
        self.asked.append(token.idToken)
        return self.answers.get(token.idToken, IdTokenInfoType(status=S.Unknown))


def make(tmp_path: Path, settings: AuthSettings) -> tuple[Authorizer, Csms]:
    csms = Csms()
    cache = AuthCache(open_database(tmp_path / "auth.db"))
    return Authorizer(cache, csms.authorize, lambda: settings), csms


def info(status: S, group: str | None = None, expires: float | None = None) -> IdTokenInfoType:
    return IdTokenInfoType(
        status=status,
        groupIdToken=IdTokenType(idToken=group, type=IdTokenEnumType.Central)
        if group
        else msgspec.UNSET,
        cacheExpiryDateTime=DateTime.fromtimestamp(expires, datetime.UTC)
        if expires
        else msgspec.UNSET,
    )


async def test_online_the_csms_decides_and_its_word_is_cached(tmp_path: Path) -> None:
    authorizer, csms = make(tmp_path, AuthSettings())
    csms.answers["AABBCCDD"] = info(S.Accepted)
    assert (await authorizer.decide(CARD, True, T0)).status is S.Accepted
    assert authorizer.cache.get(CARD, T0, 100.0) == info(S.Accepted)
    # LocalPreAuthorize is false: the CSMS is asked again, and says no now.
    csms.answers["AABBCCDD"] = info(S.Blocked)
    assert (await authorizer.decide(CARD, True, T0 + 1)).status is S.Blocked
    assert csms.asked == ["AABBCCDD", "AABBCCDD"]


async def test_local_pre_authorize_takes_a_cached_accepted_token_at_once(tmp_path: Path) -> None:
    authorizer, csms = make(tmp_path, AuthSettings(local_pre_authorize=True))
    authorizer.remember(CARD, info(S.Accepted), T0)
    assert (await authorizer.decide(CARD, True, T0 + 1)).status is S.Accepted
    assert csms.asked == []
    lower = IdTokenType(idToken="aabbccdd", type=IdTokenEnumType.ISO14443)
    assert (await authorizer.decide(lower, True, T0 + 2)).status is S.Accepted  # any case


async def test_a_cached_refusal_is_asked_again_unless_post_authorize_is_off(
    tmp_path: Path,
) -> None:
    authorizer, csms = make(tmp_path, AuthSettings(local_pre_authorize=True))
    authorizer.remember(CARD, info(S.Invalid), T0)
    csms.answers["AABBCCDD"] = info(S.Accepted)
    assert (await authorizer.decide(CARD, True, T0 + 1)).status is S.Accepted  # TC_C_12
    assert csms.asked == ["AABBCCDD"]
    strict = AuthSettings(local_pre_authorize=True, disable_post_authorize=True)
    authorizer, csms = make(tmp_path / "strict", strict)
    authorizer.remember(CARD, info(S.Invalid), T0)
    assert (await authorizer.decide(CARD, True, T0 + 1)).status is S.Invalid  # TC_C_57
    assert csms.asked == []


async def test_disable_remote_authorization_uses_the_cache_only(tmp_path: Path) -> None:
    authorizer, csms = make(tmp_path, AuthSettings(disable_remote_authorization=True))
    assert (await authorizer.decide(CARD, True, T0)).status is S.Unknown  # TC_E_52
    assert csms.asked == []


async def test_offline_rules(tmp_path: Path) -> None:
    settings = AuthSettings(local_authorize_offline=True, offline_tx_for_unknown_id=False)
    authorizer, csms = make(tmp_path, settings)
    assert (await authorizer.decide(CARD, False, T0)).status is S.Unknown
    authorizer.remember(CARD, info(S.Accepted), T0)
    assert (await authorizer.decide(CARD, False, T0 + 1)).status is S.Accepted
    assert csms.asked == []
    authorizer.settings = lambda: replace(settings, local_authorize_offline=False)
    assert (await authorizer.decide(CARD, False, T0 + 2)).status is S.Accepted  # as cached...
    authorizer.remember(CARD, info(S.Blocked), T0)
    assert (await authorizer.decide(CARD, False, T0 + 3)).status is S.Blocked
    unknown = replace(settings, offline_tx_for_unknown_id=True)
    authorizer.settings = lambda: unknown
    stranger = IdTokenType(idToken="11223344", type=IdTokenEnumType.ISO14443)
    assert (await authorizer.decide(stranger, False, T0)).status is S.Accepted  # TC_C_26


async def test_a_csms_that_does_not_answer_counts_as_offline(tmp_path: Path) -> None:
    authorizer, csms = make(tmp_path, AuthSettings(offline_tx_for_unknown_id=True))
    csms.answers["AABBCCDD"] = None
    assert (await authorizer.decide(CARD, True, T0)).status is S.Accepted
    assert csms.asked == ["AABBCCDD"]


async def test_the_cache_forgets_after_its_lifetime_and_the_csms_expiry(tmp_path: Path) -> None:
    settings = AuthSettings(local_pre_authorize=True, cache_lifetime_s=60.0)
    authorizer, csms = make(tmp_path, settings)
    csms.answers["AABBCCDD"] = info(S.Accepted)
    authorizer.remember(CARD, info(S.Accepted), T0)
    assert (await authorizer.decide(CARD, True, T0 + 50)).status is S.Accepted
    assert csms.asked == []
    # Used at T0 + 50: it lives until T0 + 110 (TC_C_46 counts from the last use).
    assert authorizer.cache.get(CARD, T0 + 109, 60.0) is not None
    assert authorizer.cache.get(CARD, T0 + 110, 60.0) is None
    authorizer.remember(CARD, info(S.Accepted, expires=T0 + 10), T0)
    assert authorizer.cache.get(CARD, T0 + 10, 60.0) is None


async def test_the_cache_survives_a_restart_and_clears(tmp_path: Path) -> None:
    db = open_database(tmp_path / "auth.db")
    authorizer = Authorizer(AuthCache(db), Csms().authorize, AuthSettings)
    authorizer.remember(CARD, info(S.Accepted), T0)
    db.close()
    again = AuthCache(open_database(tmp_path / "auth.db"))
    assert again.get(CARD, T0 + 1, 100.0) == info(S.Accepted)
    again.clear()
    assert again.get(CARD, T0 + 1, 100.0) is None


def test_eviction_by_policy(tmp_path: Path) -> None:
    cache = AuthCache(open_database(tmp_path / "auth.db"))
    cards = [IdTokenType(idToken=f"{n:08X}", type=IdTokenEnumType.ISO14443) for n in range(4)]
    for n, card in enumerate(cards):
        cache.put(card, info(S.Accepted), T0 + n)
    cache.used(cards[0], T0 + 10)  # recently used, but once more only
    cache.used(cards[0], T0 + 11)
    full = cache.evict(10**6, "LRU")
    one = full // 4
    assert cache.evict(full - one, "LRU") <= full - one
    assert cache.get(cards[1], T0 + 12, 100.0) is None  # least recently used
    assert cache.get(cards[0], T0 + 12, 100.0) is not None
    cache.evict(full - 2 * one, "LFU")
    assert cache.get(cards[2], T0 + 12, 100.0) is None  # used once, the oldest of those
    assert cache.get(cards[0], T0 + 12, 100.0) is not None  # used thrice


async def test_a_master_pass_starts_nothing(tmp_path: Path) -> None:
    authorizer, csms = make(tmp_path, AuthSettings(master_pass_group_id="POLICE"))
    csms.answers["AABBCCDD"] = info(S.Accepted, group="police")
    decision = await authorizer.decide(CARD, True, T0)
    assert decision.master_pass
    assert decision.status is S.Invalid
    csms.answers["AABBCCDD"] = info(S.Accepted, group="FAMILY")
    assert not (await authorizer.decide(CARD, True, T0)).master_pass


async def test_authorization_disabled_accepts_everything(tmp_path: Path) -> None:
    authorizer, csms = make(tmp_path, AuthSettings(enabled=False))
    assert (await authorizer.decide(CARD, True, T0)).status is S.Accepted
    assert csms.asked == []


def test_validation_results_keep_the_csms_word() -> None:
    result = validation_result(Decision(S.Accepted, info(S.Accepted, "G1", expires=T0)))
    assert result.authorization_status == "Accepted"
    assert result.parent_id_token is not None
    assert result.parent_id_token.value == "G1"
    assert result.expiry_time == "2026-05-28T20:26:40Z"
    assert validation_result(Decision(S.NotAtThisTime)).authorization_status == "NotAtThisTime"
