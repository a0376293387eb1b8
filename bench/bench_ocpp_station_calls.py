"""CALL handling at the OCPP 2.0.1 station (modules/Ocpp201, every block wired as the module
wires them, device model in SQLite): a CSMS's GetVariables of 10 variables and a
RequestStartTransaction, from the frame handed to the station until its CALLRESULT is handed
to the socket (parsing, validation, the boot-state check, the block's handler, encoding).

The baseline, in the same run: the same handlers on the `ocpp` package's ChargePoint (v201,
schema validation inline, its faster setting): GetVariables reads the same 10 values from the
same device model and answers them; RequestStartTransaction checks the EVSE and accepts. The
station's RequestStartTransaction does more after its answer (it authorizes the token and
hands it to Auth, in a task of its own); that work competes for the loop and is counted.
Rounds are interleaved (the machine's load drifts). Target: p99 under 5 ms. Wall times and
the thread's CPU times are both given: with more runnable processes than cores the wall
time's tail is the wait for a core (`load1` says how loaded the machine was).

    python bench/bench_ocpp_station_calls.py [--calls N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import ocpp.messages
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call_result
from ocpp.v201.enums import Action
from ocpp_station_kit import build_station

from evstack.generated.ocpp.v201.enums import RegistrationStatusEnumType
from evstack.modules.Ocpp201.device_model import DeviceModel, ref

ROUNDS = 3
WARM_UP = 200
STATION = "CS001"
VARIABLES = [
    ("OCPPCommCtrlr", "HeartbeatInterval"),
    ("OCPPCommCtrlr", "OfflineThreshold"),
    ("OCPPCommCtrlr", "RetryBackOffWaitMinimum"),
    ("OCPPCommCtrlr", "RetryBackOffRandomRange"),
    ("TxCtrlr", "EVConnectionTimeOut"),
    ("TxCtrlr", "TxStartPoint"),
    ("TxCtrlr", "TxStopPoint"),
    ("SampledDataCtrlr", "TxUpdatedInterval"),
    ("AlignedDataCtrlr", "Interval"),
    ("AuthCtrlr", "AuthorizeRemoteStart"),
]
REQUESTS: dict[str, dict[str, Any]] = {
    "GetVariables": {
        "getVariableData": [
            {"component": {"name": c}, "variable": {"name": v}} for c, v in VARIABLES
        ]
    },
    "RequestStartTransaction": {
        "idToken": {"idToken": "AABBCCDD", "type": "ISO14443"},
        "remoteStartId": 7,
        "evseId": 1,
    },
}


class _Captured:
    """Stands for the socket: the time the answer was handed to it."""

    def __init__(self) -> None:
        self.sent: asyncio.Future[float] | None = None

    async def send(self, frame: bytes | str) -> None:
        assert self.sent is not None
        if not self.sent.done():
            self.sent.set_result(time.perf_counter())

    def expect(self) -> asyncio.Future[float]:
        self.sent = asyncio.get_running_loop().create_future()
        return self.sent


async def handling(
    receive: Callable[[bytes], Awaitable[Any]], wire: _Captured, action: str, calls: int
) -> tuple[list[float], list[float]]:
    """Wall times and this thread's CPU times from frame to answer. On a loaded machine the
    wall time's tail is mostly the time the process waited for a core; the CPU time is the
    work itself (only this loop runs in the thread)."""
    payload = REQUESTS[action]
    wall, cpu = [], []
    for i in range(WARM_UP + calls):
        frame = json.dumps([2, f"csms-{i}", action, payload]).encode()
        sent = wire.expect()
        cpu_started = time.thread_time()
        started = time.perf_counter()
        await receive(frame)
        done = await sent
        cpu_done = time.thread_time()
        if i >= WARM_UP:
            wall.append(done - started)
            cpu.append(cpu_done - cpu_started)
        await asyncio.sleep(0)  # let what the handler started after its answer run
    return wall, cpu


def package_station(model: DeviceModel, wire: _Captured) -> ChargePoint:
    class PackageStation(ChargePoint):  # type: ignore[misc]  # the package has no type hints
        @on(Action.get_variables)  # type: ignore[untyped-decorator]
        async def on_get_variables(self, get_variable_data: list[dict[str, Any]]) -> Any:
            results = []
            for item in get_variable_data:
                component, variable = item["component"], item["variable"]
                value = model.get(ref(component["name"], variable["name"]))
                results.append(
                    {
                        "attribute_status": "Accepted" if value is not None else "UnknownVariable",
                        "attribute_value": value or "",
                        "component": component,
                        "variable": variable,
                    }
                )
            return call_result.GetVariables(get_variable_result=results)

        @on(Action.request_start_transaction)  # type: ignore[untyped-decorator]
        async def on_request_start(
            self, id_token: dict[str, Any], remote_start_id: int, **extra: Any
        ) -> Any:
            status = "Accepted" if extra.get("evse_id", 1) == 1 else "Rejected"
            return call_result.RequestStartTransaction(status=status)

    return PackageStation(STATION, wire)


async def measure(folder: Path, calls: int) -> dict[str, list[float]]:
    built = build_station(folder / "station", STATION, "ws://127.0.0.1:9/ocpp")
    station = built.station
    station.registration = RegistrationStatusEnumType.Accepted
    ours_wire = _Captured()
    station.endpoint.attach(ours_wire.send)
    theirs_wire = _Captured()
    package = package_station(station.model, theirs_wire)
    shipped = ocpp.messages.ASYNC_VALIDATION
    ocpp.messages.ASYNC_VALIDATION = False  # validation inline: the package's faster setting
    runs: dict[str, list[float]] = {}
    share = calls // ROUNDS
    try:
        for _ in range(ROUNDS):
            for action in REQUESTS:
                ours, ours_cpu = await handling(station.endpoint.receive, ours_wire, action, share)
                theirs, theirs_cpu = await handling(
                    lambda frame: package.route_message(frame.decode()), theirs_wire, action, share
                )
                runs.setdefault(f"ours_{action}", []).extend(ours)
                runs.setdefault(f"ours_cpu_{action}", []).extend(ours_cpu)
                runs.setdefault(f"ocpp_{action}", []).extend(theirs)
                runs.setdefault(f"ocpp_cpu_{action}", []).extend(theirs_cpu)
    finally:
        ocpp.messages.ASYNC_VALIDATION = shipped
        await built.stop()
    return runs


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49] * 1e3, cuts[98] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    calls = parser.parse_args().calls
    with tempfile.TemporaryDirectory(prefix="bench-ocpp-station-") as folder:
        runs = asyncio.run(measure(Path(folder), calls))
    for action in REQUESTS:
        ours = percentiles(runs[f"ours_{action}"])
        ours_cpu = percentiles(runs[f"ours_cpu_{action}"])
        theirs = percentiles(runs[f"ocpp_{action}"])
        theirs_cpu = percentiles(runs[f"ocpp_cpu_{action}"])
        print(
            f"BENCH ocpp_station_call action={action} calls={calls} "
            f"p50_ms={ours[0]:.3f} p99_ms={ours[1]:.3f} "
            f"cpu_p50_ms={ours_cpu[0]:.3f} cpu_p99_ms={ours_cpu[1]:.3f} "
            f"ocpp_p50_ms={theirs[0]:.3f} ocpp_p99_ms={theirs[1]:.3f} "
            f"ocpp_cpu_p99_ms={theirs_cpu[1]:.3f} "
            f"ratio={ours[0] / theirs[0]:.3f} target_p99_ms=5 "
            f"met={'yes' if ours[1] < 5.0 else 'no'} load1={os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    main()
