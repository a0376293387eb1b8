"""SessionStore reconciles with the EVSEs' own journals: it closes nothing on a guess.

The store runs under a manager of its own, so it can be stopped and started while the EVSE
stand-ins (tests/energy_auth/e2e_modules.py) go on, as when its process crashes and restarts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from evstack.generated.types.authorization import (
    AuthorizationType,
    IdToken,
    IdTokenType,
    ProvidedIdToken,
)
from evstack.generated.types.evse_manager import StopTransactionReason
from evstack.modules.SessionStore.database import SessionDatabase, StoredSession
from evstack.runtime.manager import Manager, running
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, RunPlan

from .conftest import ours, probe
from .e2e_modules import EvseStandIn, instance

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(60)]

TOKEN = ProvidedIdToken(
    id_token=IdToken(value="AABBCCDD", type=IdTokenType.ISO14443),
    authorization_type=AuthorizationType.RFID,
)


def store(prefix: str, database: Path) -> ModulePlan:
    return ours(
        f"{prefix}-store",
        "SessionStore",
        config_module={"database_path": str(database), "meter_interval": 0.1},
        connections={"evse_manager": [(f"{prefix}-evse1", "evse")]},
    )


@asynccontextmanager
async def evse(prefix: str, broker: BrokerSettings) -> AsyncIterator[EvseStandIn]:
    plan = RunPlan([probe(f"{prefix}-evse1", "EvseStandIn")], broker=broker, prefix=prefix)
    async with running(plan, name="evses"):
        stand_in = await instance(f"{prefix}-evse1")
        assert isinstance(stand_in, EvseStandIn)
        yield stand_in


def store_running(
    prefix: str, broker: BrokerSettings, database: Path
) -> AbstractAsyncContextManager[Manager]:
    plan = RunPlan([store(prefix, database)], broker=broker, prefix=prefix)
    return running(plan, name="store")


async def stored(
    database: Path, condition: Callable[[list[StoredSession]], bool]
) -> list[StoredSession]:
    """The sessions once `condition` holds for them (the store writes on its own time)."""
    for _ in range(200):
        with SessionDatabase(database) as db:
            sessions = db.sessions()
        if condition(sessions):
            return sessions
        await asyncio.sleep(0.05)
    raise AssertionError(f"the store never got there: {sessions}")


async def test_finding_1_a_store_restart_leaves_a_running_session_open(
    mosquitto: BrokerSettings, prefix: str, tmp_path: Path
) -> None:
    database = tmp_path / "sessions.db"
    async with evse(prefix, mosquitto) as stand_in:
        async with store_running(prefix, mosquitto, database):
            await stand_in.plug_in()
            await stand_in.start_transaction(TOKEN)
            await stored(database, lambda s: len(s) == 1)
        stand_in.charge(150.0)
        async with store_running(prefix, mosquitto, database):
            # The store asked the EVSE: still running, so still open, with its newest reading.
            (session,) = await stored(database, lambda s: s[0].last_wh == 1150.0)
            assert not session.finished
            stand_in.charge(188.6)
            await stand_in.finish_transaction(StopTransactionReason.EVDisconnected)
            (session,) = await stored(database, lambda s: s[0].finished)
    assert session.stop_reason == "EVDisconnected"
    assert session.energy_wh == pytest.approx(338.6)


async def test_a_transaction_that_ended_while_the_store_was_down_gets_its_real_end(
    mosquitto: BrokerSettings, prefix: str, tmp_path: Path
) -> None:
    database = tmp_path / "sessions.db"
    async with evse(prefix, mosquitto) as stand_in:
        async with store_running(prefix, mosquitto, database):
            await stand_in.plug_in()
            await stand_in.start_transaction(TOKEN)
            await stored(database, lambda s: len(s) == 1)
        stand_in.charge(93.0)
        await stand_in.finish_transaction(StopTransactionReason.Remote)  # nobody listens
        async with store_running(prefix, mosquitto, database):
            (session,) = await stored(database, lambda s: s[0].finished)
    assert session.stop_reason == "Remote"
    assert session.energy_wh == pytest.approx(93.0)


async def test_a_session_its_evse_no_longer_knows_is_closed_at_its_last_reading(
    mosquitto: BrokerSettings, prefix: str, tmp_path: Path
) -> None:
    database = tmp_path / "sessions.db"
    with SessionDatabase(database) as db:  # left open by a store whose EVSE lost its memory
        db.session_started("gone", 1, "AABBCCDD", "2026-12-06T10:00:00Z", 500.0)
        db.record_readings([("gone", 632.5, "2026-12-06T10:09:00Z")])
    async with (
        evse(prefix, mosquitto),
        store_running(prefix, mosquitto, database),
    ):
        (session,) = await stored(database, lambda s: s[0].finished)
    assert session.stop_reason == "PowerLoss"
    assert session.energy_wh == pytest.approx(132.5)
    assert session.stopped_at == "2026-12-06T10:09:00Z"


async def test_meter_readings_of_running_sessions_are_stored_as_they_come(
    mosquitto: BrokerSettings, prefix: str, tmp_path: Path
) -> None:
    database = tmp_path / "sessions.db"
    async with (
        evse(prefix, mosquitto) as stand_in,
        store_running(prefix, mosquitto, database),
    ):
        await stand_in.plug_in()
        await stand_in.start_transaction(TOKEN)
        for _ in range(3):
            stand_in.charge(10.0)
            await stand_in.publish_reading()
        (session,) = await stored(database, lambda s: bool(s) and s[0].last_wh == 1030.0)
    assert not session.finished
