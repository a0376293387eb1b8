"""The station under test and its CSMS, and the conformance table this suite writes.

`charger(...)` runs the Ocpp201 module through the real runtime on the shared Mosquitto,
wired to EVSE stand-ins (`stand_ins.py`), in this event loop, with its state folder in the
test's tmp_path, so a second `charger(...)` with the same folder is the station after a power
cycle. The `csms` fixture is the scripted CSMS; after each test it must not have seen a
message that fails the OCPP 2.0.1 schemas.

The hooks at the end collect each case's outcome and, after a run of the whole suite, write
docs/ocpp201-conformance.md (under CI=true: fail the run if it differs from the committed one).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from evstack.runtime.manager import running
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, RunPlan

from . import conformance
from .csms import STATION, Csms
from .stand_ins import EvseStandIn, evse_stand_in

MOSQUITTO = BrokerSettings(host="127.0.0.1", port=1883)
SPEEDUP = 10.0  # the station's simulated time against the wall's
PASSWORD = "0123456789abcdef0123"  # a passwordString: 16 to 40 characters


@dataclass
class Charger:
    """A running station and the EVSE stand-ins it is wired to."""

    evses: list[EvseStandIn]
    state_dir: Path
    speedup: float

    def evse(self, evse_id: int) -> EvseStandIn:
        return self.evses[evse_id - 1]

    def wall(self, seconds: float) -> float:
        """Wall seconds for `seconds` of the station's simulated time."""
        return seconds / self.speedup


StartCharger = Callable[..., contextlib.AbstractAsyncContextManager[Charger]]
"""`charger(csms, *, evses=1, speedup=SPEEDUP, **config)`: the station runs in the block."""


@pytest.fixture
def mosquitto() -> BrokerSettings:
    try:
        socket.create_connection((MOSQUITTO.host, MOSQUITTO.port), timeout=1).close()
    except OSError:
        pytest.fail("Mosquitto is not running on 127.0.0.1:1883 (run `make mosquitto`)")
    return MOSQUITTO


@pytest.fixture
async def csms() -> AsyncIterator[Csms]:
    async with Csms(password=PASSWORD) as peer:
        yield peer
    assert not peer.invalid, f"the station sent what the OCPP 2.0.1 schemas refuse: {peer.invalid}"


def station_plan(prefix: str, url: str, evses: int, **config: Any) -> list[ModulePlan]:
    ids = [f"{prefix}-evse{i}" for i in range(1, evses + 1)]
    station = ModulePlan(
        f"{prefix}-ocpp",
        "evstack.modules.Ocpp201.module:Ocpp201",
        config_module={
            "csms_url": url,
            "station_id": STATION,
            "security_profile": 1,
            "basic_auth_password": PASSWORD,
            **config,
        },
        connections={"evse_manager": [(evse, "evse") for evse in ids]},
    )
    stand_ins = [ModulePlan(evse, f"{__package__}.stand_ins:EvseStandIn") for evse in ids]
    return [station, *stand_ins]


@pytest.fixture
def charger(mosquitto: BrokerSettings, tmp_path: Path) -> StartCharger:
    """`async with charger(csms, evses=2, **config) as station:` runs the station; a second
    block in the same test is the same station (its state folder) after a power cycle."""
    prefix = f"test-ocpp-{secrets.token_hex(6)}"

    @contextlib.asynccontextmanager
    async def run(
        csms: Csms, *, evses: int = 1, speedup: float = SPEEDUP, **config: Any
    ) -> AsyncIterator[Charger]:
        plan = RunPlan(
            station_plan(prefix, config.pop("csms_url", csms.url), evses, **config),
            broker=mosquitto,
            speedup=speedup,
            prefix=prefix,
            state_dir=tmp_path / "state",
            command_timeout_s=5.0,
        )
        async with running(plan):
            stand_ins = [await evse_stand_in(f"{prefix}-evse{i}") for i in range(1, evses + 1)]
            yield Charger(stand_ins, tmp_path / "state" / f"{prefix}-ocpp", speedup)

    return run


# -- the conformance table -------------------------------------------------------------------

_OUTCOMES = conformance.Outcomes()
_VERDICT = conformance.Verdict()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _VERDICT.asked_for(config.args, config.rootpath)
    _VERDICT.collected |= {item.nodeid for item in items if _in_suite(item.path)}


def pytest_deselected(items: list[pytest.Item]) -> None:
    if any(_in_suite(item.path) for item in items):
        _VERDICT.deselected = True


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not _in_suite(Path(report.fspath).resolve()):
        return
    name = report.nodeid.rsplit("::", 1)[-1]
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _VERDICT.ran.add(report.nodeid)
        expected = getattr(report, "wasxfail", None)
        _OUTCOMES.add(f"{name} (expected to fail: {expected})" if expected else name, report.passed)
    elif report.when == "teardown" and report.failed:
        _OUTCOMES.add(name, ok=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _VERDICT.judges():
        return
    rows = conformance.verdicts(conformance.cases(), _OUTCOMES, conformance.not_applicable())
    text = conformance.render(rows)
    table = conformance.TABLE
    before = table.read_text() if table.exists() else ""
    if text == before:
        return
    table.write_text(text)
    if os.environ.get("CI") == "true":
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"{table} differs from the run's table: commit the one this run wrote",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _in_suite(path: Path) -> bool:
    return path.resolve().is_relative_to(conformance.HERE)
