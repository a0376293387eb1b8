"""Auth over the real broker: RFID reader -> Auth -> allow list -> EVSEs, with sessions stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evstack.generated.types.authorization import TokenValidationStatus
from evstack.modules.SessionStore.database import SessionDatabase, StoredSession
from evstack.runtime.manager import running
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, RunPlan

from .conftest import ours, probe
from .e2e_modules import EvseStandIn, StatusWatcher, instance

pytestmark = pytest.mark.mosquitto

S = TokenValidationStatus
CARD = "AABBCCDD"


def charger(
    prefix: str, script: str, database: Path, *, evse1_hung: bool = False
) -> list[ModulePlan]:
    evses = [(f"{prefix}-evse1", "evse"), (f"{prefix}-evse2", "evse")]
    return [
        ours(
            f"{prefix}-auth",
            "Auth",
            config_module={"connection_timeout": 1, "selection_algorithm": "PlugEvents"},
            connections={
                "token_provider": [(f"{prefix}-rfid", "main")],
                "token_validator": [(f"{prefix}-list", "main")],
                "evse_manager": evses,
            },
        ),
        ours(f"{prefix}-rfid", "RfidSimulator", config_module={"script": script}),
        ours(f"{prefix}-list", "LocalAllowList", config_module={"tokens": f"{CARD}, 11223344"}),
        ours(
            f"{prefix}-store",
            "SessionStore",
            config_module={"database_path": str(database)},
            connections={"evse_manager": evses},
        ),
        probe(f"{prefix}-evse1", "EvseStandIn", config_module={"hung": evse1_hung}),
        probe(f"{prefix}-evse2", "EvseStandIn"),
        probe(
            f"{prefix}-watch", "StatusWatcher", connections={"auth": [(f"{prefix}-auth", "main")]}
        ),
    ]


async def parts(prefix: str) -> tuple[StatusWatcher, EvseStandIn, EvseStandIn]:
    watch = await instance(f"{prefix}-watch")
    evse1, evse2 = await instance(f"{prefix}-evse1"), await instance(f"{prefix}-evse2")
    assert isinstance(watch, StatusWatcher)
    assert isinstance(evse1, EvseStandIn)
    assert isinstance(evse2, EvseStandIn)
    return watch, evse1, evse2


async def next_statuses(
    watch: StatusWatcher, count: int, card: str | None = None
) -> list[tuple[str, S]]:
    """The next ``count`` statuses, of ``card`` only if given."""
    got: list[tuple[str, S]] = []
    while len(got) < count:
        message = await asyncio.wait_for(watch.statuses.get(), timeout=10)
        if card is None or message.token.id_token.value == card:
            got.append((message.token.id_token.value, message.status))
    return got


async def finished_sessions(database: Path) -> list[StoredSession]:
    """The finished sessions, once the store has written at least one."""
    for _ in range(200):
        with SessionDatabase(database) as db:
            if sessions := db.sessions(finished_only=True):
                return sessions
        await asyncio.sleep(0.05)
    raise AssertionError("the store wrote no finished session")


async def test_swipe_starts_and_stops_a_session_that_is_stored(
    mosquitto: BrokerSettings, prefix: str, tmp_path: Path
) -> None:
    database = tmp_path / "sessions.db"
    script = f"sleep 1; swipe {CARD}; sleep 2; swipe {CARD}"
    async with running(RunPlan(charger(prefix, script, database), broker=mosquitto, prefix=prefix)):
        watch, _, evse2 = await parts(prefix)
        await evse2.plug_in()
        assert await next_statuses(watch, 3) == [
            (CARD, S.Processing),
            (CARD, S.Accepted),
            (CARD, S.UsedToStart),
        ]
        assert evse2.authorizations.get_nowait() == CARD
        evse2.charge(7_400.0)
        assert await next_statuses(watch, 2) == [(CARD, S.Processing), (CARD, S.UsedToStop)]
        (session,) = await finished_sessions(database)
        await evse2.unplug()

    # After the charger stopped, the session is still there, whole.
    with SessionDatabase(database) as reopened:
        assert reopened.sessions() == [session]
    assert (session.evse_id, session.id_token, session.stop_reason) == (2, CARD, "Local")
    assert session.energy_wh == pytest.approx(7_400.0)


async def test_swipe_without_plug_in_times_out(
    mosquitto: BrokerSettings, prefix: str, tmp_path: Path
) -> None:
    plan = charger(prefix, f"swipe {CARD}", tmp_path / "sessions.db")
    async with running(RunPlan(plan, broker=mosquitto, prefix=prefix)):
        watch, evse1, _ = await parts(prefix)
        assert await next_statuses(watch, 3) == [
            (CARD, S.Processing),
            (CARD, S.Accepted),
            (CARD, S.TimedOut),
        ]
        await evse1.plug_in()  # too late: the card has to be presented again
        await asyncio.sleep(0.5)
        assert evse1.authorizations.empty()


async def test_unknown_card_is_rejected(
    mosquitto: BrokerSettings, prefix: str, tmp_path: Path
) -> None:
    plan = charger(prefix, "sleep 0.5; swipe DEADBEEF", tmp_path / "sessions.db")
    async with running(RunPlan(plan, broker=mosquitto, prefix=prefix)):
        watch, evse1, _ = await parts(prefix)
        await evse1.plug_in()
        assert await next_statuses(watch, 2) == [
            ("DEADBEEF", S.Processing),
            ("DEADBEEF", S.Rejected),
        ]
        assert evse1.authorizations.empty()


async def test_hung_evse_holds_up_nobody_else(
    mosquitto: BrokerSettings, prefix: str, tmp_path: Path
) -> None:
    script = "sleep 1; swipe AABBCCDD; sleep 1.5; swipe 11223344 2"  # the second for EVSE 2
    plan = charger(prefix, script, tmp_path / "sessions.db", evse1_hung=True)
    async with running(RunPlan(plan, broker=mosquitto, prefix=prefix)):
        watch, evse1, evse2 = await parts(prefix)
        await evse1.plug_in()
        assert await next_statuses(watch, 2) == [(CARD, S.Processing), (CARD, S.Accepted)]
        await evse2.plug_in()  # evse1 never answered its authorization; evse2 must not care
        assert await next_statuses(watch, 3, card="11223344") == [
            ("11223344", S.Processing),
            ("11223344", S.Accepted),
            ("11223344", S.UsedToStart),
        ]
        assert evse2.authorizations.get_nowait() == "11223344"
