"""A charger to be hurt: config/sil-ac.yaml run by `ev-manager` as its own process.

The charger runs as a user runs it (`ev-manager run`, one process per module, a state folder
that outlives it) on a private Mosquitto the test can restart. The observer (`ChaosProbe`)
runs in the test's own event loop under a second manager, so it sees everything the charger
does and survives whatever is done to it. Time is simulated, `SPEEDUP` times faster than the
wall clock, in every module of both.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import yaml

from evstack.modules.SessionStore.database import SessionDatabase, StoredSession
from evstack.runtime.manager import running
from evstack.runtime.mosquitto import PrivateMosquitto
from evstack.runtime.mqtt import BrokerSettings, MqttConnection
from evstack.runtime.plan import ModulePlan, RunPlan
from evstack.runtime.wire import ModuleReady, Topics

from .probe import ChaosProbe, forget_probe, probe_instance

REPO = Path(__file__).resolve().parents[2]
SIL_AC = REPO / "config" / "sil-ac.yaml"
PREFIX = "chaos"
SPEEDUP = 5.0
# The boards' meters publish a reading every simulated second (BoardSimulator's default).
METER_INTERVAL_S = 1.0
# What flows through one EVSE at most: 32 A on three phases of 230 V.
MAX_POWER_W = 32.0 * 3 * 230.0
ONE_INTERVAL_WH = MAX_POWER_W * METER_INTERVAL_S / 3600.0
EVSES = ("evse_1", "evse_2")
BOARDS = ("board_1", "board_2")


def chaos_config(folder: Path, speedup: float) -> Path:
    """sil-ac.yaml with the scripts taken out: the probe drives the EVs and the cards."""
    config: dict[str, Any] = yaml.safe_load(SIL_AC.read_text())
    for module_id, entry in config["active_modules"].items():
        settings = entry.setdefault("config_module", {})
        if module_id.startswith("ev_"):
            settings.update(plugged_in=False, auto_exec_commands="")
        elif module_id == "rfid_reader":
            settings["script"] = ""
        elif module_id == "dashboard":
            settings.update(finish_after_sessions=0, deadline_s=0)
    config["settings"] = {"mqtt_prefix": PREFIX, "speedup": speedup}
    path = folder / "chaos.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def probe_plan(broker: BrokerSettings) -> RunPlan:
    probe = ModulePlan(
        "probe",
        f"{ChaosProbe.__module__}:ChaosProbe",
        connections={
            "evse": [(evse, "evse") for evse in EVSES],
            "bsp": [(board, "board_support") for board in BOARDS],
            "meter": [(board, "powermeter") for board in BOARDS],
            "ev": [("ev_1", "control"), ("ev_2", "control")],
        },
    )
    return RunPlan([probe], broker=broker, prefix=PREFIX)


class ChargerProcess:
    """`ev-manager run` of the chaos config; every start logs to a file of its own."""

    def __init__(self, folder: Path, config: Path, broker: BrokerSettings) -> None:
        self.folder = folder
        self.state_dir = folder / "state"
        self._config = config
        self._broker = broker
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.folder / f"charger-{self.starts}.log").open("wb")
        self._process = subprocess.Popen(
            [
                sys.executable, "-c", "from evstack.runtime.cli import main; main()",
                "run", str(self._config), "--broker", self._broker.url, "--name", "charger",
                "--state-dir", str(self.state_dir), "--log-level", "WARNING",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        log.close()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Signal ev-manager and wait for it to end; returns its exit code."""
        assert self._process is not None
        self._process.send_signal(sig)
        return await asyncio.to_thread(self._process.wait, 30)

    def log(self) -> str:
        return "\n".join(
            f"--- start {n} ---\n" + (self.folder / f"charger-{n}.log").read_text(errors="replace")
            for n in range(1, self.starts + 1)
        )


class ReadyWatch:
    """Which process and incarnation each module of the charger runs as, by its ready topic."""

    def __init__(self, broker: BrokerSettings) -> None:
        self.ready: dict[str, ModuleReady | None] = {}
        self.changed = asyncio.Event()
        self._topics = Topics(PREFIX)
        self._conn = MqttConnection(broker, "chaos-ready-watch", self._on_message)

    async def start(self) -> None:
        await self._conn.connect()
        await self._conn.subscribe(f"{self._topics.prefix}/modules/+/ready", 1)

    async def close(self) -> None:
        await self._conn.disconnect()

    def _on_message(self, topic: str, payload: bytes) -> None:
        module_id = topic.split("/")[-2]
        self.ready[module_id] = msgspec.json.decode(payload, type=ModuleReady) if payload else None
        self.changed.set()

    async def until(self, condition: Any, within_s: float = 30.0) -> None:
        async with asyncio.timeout(within_s):
            while not condition():
                self.changed.clear()
                await self.changed.wait()

    def instance(self, module_id: str) -> str | None:
        ready = self.ready.get(module_id)
        return None if ready is None else ready.instance

    def pid(self, module_id: str) -> int:
        ready = self.ready.get(module_id)
        assert ready is not None, f"{module_id} is not up"
        return ready.pid

    def all_up(self, module_ids: list[str]) -> bool:
        return all(self.ready.get(m) is not None for m in module_ids)

    def all_down(self, module_ids: list[str]) -> bool:
        return all(self.ready.get(m) is None for m in module_ids)


@dataclass
class Chaos:
    broker: PrivateMosquitto
    settings: BrokerSettings
    charger: ChargerProcess
    probe: ChaosProbe
    ready: ReadyWatch
    module_ids: list[str]
    speedup: float

    @property
    def database(self) -> Path:
        return self.charger.state_dir / "session_store" / "sessions.db"

    async def charger_up(self) -> None:
        await self.ready.until(lambda: self.ready.all_up(self.module_ids))

    async def charger_down(self) -> None:
        await self.ready.until(lambda: self.ready.all_down(self.module_ids))

    async def kill(self, module_id: str) -> str:
        """SIGKILL one module's process; returns the incarnation that was killed."""
        ready = self.ready.ready[module_id]
        assert ready is not None
        os.kill(ready.pid, signal.SIGKILL)
        return ready.instance

    async def both_charging(self, amps: float = 16.0) -> None:
        for index in range(2):
            await self.probe.arrive(index, amps)
        await self.probe.until(lambda: all(p.relay_is("PowerOn") for p in self.probe.points))

    async def charged(self, wh: float) -> None:
        """Wait until both meters counted `wh` more: simulated charging time, not a sleep."""
        points = self.probe.points
        targets = [p.meter_wh() + wh for p in points]
        await self.probe.until(
            lambda: all(p.meter_wh() >= t for p, t in zip(points, targets, strict=True))
        )

    async def both_leave(self) -> None:
        for index in range(2):
            await self.probe.leave(index)
        await self.probe.until(self._all_over)
        # One more reading each: the register after the last transaction ended.
        counts = [len(p.readings) for p in self.probe.points]
        await self.probe.until(
            lambda: all(len(p.readings) > n for p, n in zip(self.probe.points, counts, strict=True))
        )

    def _all_over(self) -> bool:
        return all(
            not p.open_transactions() and p.events()[-1:] == ["SessionFinished"]
            for p in self.probe.points
        )

    async def stored(self, count: int) -> list[StoredSession]:
        """The store's sessions once `count` of them are there and all finished."""
        sessions: list[StoredSession] = []
        for _ in range(400):
            if self.database.exists():
                with SessionDatabase(self.database) as db:
                    sessions = db.sessions()
                if len(sessions) >= count and all(s.finished for s in sessions):
                    return sessions
            await asyncio.sleep(0.05)
        raise AssertionError(f"the store never held {count} finished sessions: {sessions}")


@contextlib.asynccontextmanager
async def chaos_charger(folder: Path, speedup: float = SPEEDUP) -> AsyncIterator[Chaos]:
    """A private Mosquitto, the charger process on it and the probe watching; both EVs idle."""
    config = chaos_config(folder, speedup)
    module_ids = list(yaml.safe_load(config.read_text())["active_modules"])
    forget_probe("probe")
    broker = PrivateMosquitto()
    with broker as settings:
        ready = ReadyWatch(settings)
        await ready.start()
        charger = ChargerProcess(folder, config, settings)
        try:
            async with running(probe_plan(settings), name="probe", wait_ready=False):
                charger.start()
                probe = await asyncio.wait_for(probe_instance("probe"), 30)
                chaos = Chaos(broker, settings, charger, probe, ready, module_ids, speedup)
                await chaos.charger_up()
                yield chaos
                await charger.stop()
        except BaseException:
            print(charger.log())  # shown by pytest when the test fails
            raise
        finally:
            with contextlib.suppress(ProcessLookupError, AssertionError):
                os.kill(charger.pid, signal.SIGKILL)
            await ready.close()


def timestamp(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)
