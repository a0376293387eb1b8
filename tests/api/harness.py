"""The SIL charger of config/sil-ac.yaml with its API, run in a thread for the API tests.

The charger runs in-process on the shared Mosquitto (a topic prefix of its own) at a high
simulated speed, on an event loop in a background thread: the tests, schemathesis and the
browser talk to it over HTTP as any client would, from their own threads and loops. Its EVs
wait unplugged and its card reader is silent; the tests drive them through the API. Each EVSE
gets an energy node of its own under the site fuse, so that its current can be limited.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Self

import httpx
import yaml

from evstack.runtime.manager import running
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import from_runtime_config

REPO = Path(__file__).resolve().parents[2]
SIL_AC = REPO / "config" / "sil-ac.yaml"
SPEEDUP = 10.0
MOSQUITTO = BrokerSettings(host="127.0.0.1", port=1883)
START_TIMEOUT_S = 30.0


def api_config(folder: Path, **api: Any) -> Path:
    """sil-ac.yaml for the API tests, with `api` overriding the API module's config."""
    config: dict[str, Any] = yaml.safe_load(SIL_AC.read_text())
    modules: dict[str, Any] = config["active_modules"]
    for module_id, entry in modules.items():
        settings = entry.setdefault("config_module", {})
        if module_id.startswith("ev_"):
            settings.update(plugged_in=False, auto_exec_commands="")
        elif module_id.startswith("board_"):
            settings["sample_rate_Hz"] = 20000.0  # two lines at 10x on two cores, with a browser
        elif module_id == "rfid_reader":
            settings["script"] = ""
        elif module_id == "dashboard":
            settings.update(finish_after_sessions=0, deadline_s=0, display="plain")
    for n in (1, 2):
        modules[f"limit_{n}"] = {
            "module": "EnergyNode",
            "config_module": {"fuse_limit_A": 32},
            "connections": {
                "energy_consumer": [{"module_id": f"evse_{n}", "implementation_id": "energy_grid"}]
            },
        }
    modules["site_fuse"]["connections"]["energy_consumer"] = [
        {"module_id": f"limit_{n}", "implementation_id": "energy_grid"} for n in (1, 2)
    ]
    api_module = modules["api"]
    api_module["connections"]["external_limits"] = [
        {"module_id": f"limit_{n}", "implementation_id": "external_limits"} for n in (1, 2)
    ]
    api_module["config_module"].update(api)
    config["settings"] = {"speedup": SPEEDUP}
    path = folder / "api-sil.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class Charger:
    """A charger running in a thread of its own until `stop()`; `url` is its API."""

    def __init__(self, config: Path, state_dir: Path) -> None:
        plan = from_runtime_config(config)
        self.state_dir = state_dir
        self._plan = dataclasses.replace(
            plan, broker=MOSQUITTO, prefix=f"test-api-{secrets.token_hex(6)}", state_dir=state_dir
        )
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)
        self.url = ""

    def start(self) -> Self:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S) or self._failure is not None:
            raise RuntimeError(f"the charger did not start: {self._failure!r}")
        self.url = (self.state_dir / "api" / "url").read_text().strip()
        return self

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with running(self._plan):
                self._ready.set()
                await self._stop.wait()
        except BaseException as error:
            self._failure = error
            self._ready.set()
            raise

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


def wait_for(check: Any, what: str, timeout_s: float = 20.0) -> Any:
    """Poll `check()` until it returns something truthy; that, or AssertionError at the end."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout_s} s")
        time.sleep(0.05)


def evse(client: httpx.Client, n: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/evses/{n}")
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found
