"""CALL handling at the station side: a CSMS's ChangeAvailability answered by evstack's OCPP-J
endpoint on the OCPP 2.0.1 codec (`evstack.ocpp.v201`: the request validated as it is decoded,
the response checked before it is sent), against the same handler on the `ocpp` package's
ChargePoint (v201, its schema validation on), in the same run.

The package validates in a thread pool as it ships (`ocpp.messages.ASYNC_VALIDATION`); the
baseline is its faster setting, validation inline, and the shipped one is printed beside it.
Two measurements of each, interleaved in rounds (the machine's load drifts):
- "handling": the frame handed to the station until its CALLRESULT is handed to the socket:
  parsing, validation, dispatch, the handler, encoding. `ratio` is evstack's p50 over the
  package's.
- "loopback": the round trip from a CSMS over a websocket on 127.0.0.1, the CSMS the same
  for both. `ratio_wire` is evstack's p50 over the package's.

    python bench/bench_ocpp_rpc.py [--calls N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import ocpp.messages
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call_result
from ocpp.v201.enums import Action
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from evstack.ocpp import v201
from evstack.ocpp.j import (
    ConnectionPolicy,
    NetworkProfile,
    OcppJClient,
    RpcEndpoint,
    SecurityProfile,
    StationCredentials,
)
from evstack.ocpp.v201 import enums, messages

ROUNDS = 3
WARM_UP = 200
STATION = "CS001"
REQUEST = {"operationalStatus": "Inoperative", "evse": {"id": 1, "connectorId": 1}}


# -- the same handler, twice --------------------------------------------------------------


async def change_availability(
    request: messages.ChangeAvailabilityRequest,
) -> messages.ChangeAvailabilityResponse:
    return messages.ChangeAvailabilityResponse(
        status=enums.ChangeAvailabilityStatusEnumType.Accepted
    )


class PackageStation(ChargePoint):  # type: ignore[misc]  # the ocpp package has no type hints
    @on(Action.change_availability)  # type: ignore[untyped-decorator]
    async def on_change_availability(self, operational_status: str, **extra: Any) -> Any:
        return call_result.ChangeAvailability(status="Accepted")


def our_endpoint() -> RpcEndpoint:
    endpoint = RpcEndpoint(v201)
    endpoint.route("ChangeAvailability", change_availability)
    return endpoint


# -- handling: no socket ------------------------------------------------------------------


class _Captured:
    """Stands for the socket: the time the answer was handed to it."""

    def __init__(self) -> None:
        self.sent: asyncio.Future[float] | None = None

    async def send(self, frame: bytes | str) -> None:
        assert self.sent is not None
        self.sent.set_result(time.perf_counter())

    def expect(self) -> asyncio.Future[float]:
        self.sent = asyncio.get_running_loop().create_future()
        return self.sent


def frames(calls: int) -> list[bytes]:
    """The CSMS's CALLs, warm-up included."""
    return [
        json.dumps([2, f"csms-{i}", "ChangeAvailability", REQUEST]).encode()
        for i in range(WARM_UP + calls)
    ]


async def handling(
    receive: Callable[[bytes], Awaitable[Any]], wire: _Captured, calls: int
) -> list[float]:
    samples = []
    for i, frame in enumerate(frames(calls)):
        sent = wire.expect()
        started = time.perf_counter()
        await receive(frame)
        done = await sent
        if i >= WARM_UP:
            samples.append(done - started)
    return samples


async def handling_ours(calls: int) -> list[float]:
    endpoint, wire = our_endpoint(), _Captured()
    endpoint.attach(wire.send)
    return await handling(endpoint.receive, wire, calls)


async def handling_package(calls: int) -> list[float]:
    wire = _Captured()
    station = PackageStation(STATION, wire)
    return await handling(lambda frame: station.route_message(frame.decode()), wire, calls)


@contextlib.contextmanager
def validation_inline(inline: bool) -> Iterator[None]:
    shipped = ocpp.messages.ASYNC_VALIDATION
    ocpp.messages.ASYNC_VALIDATION = not inline
    try:
        yield
    finally:
        ocpp.messages.ASYNC_VALIDATION = shipped


# -- loopback: a CSMS over a websocket on 127.0.0.1 ----------------------------------------


async def loopback(
    start_station: Callable[[str], Coroutine[Any, Any, None]], calls: int
) -> list[float]:
    """Round trips from a CSMS to the station `start_station(url)` connects."""
    connected: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def accept(connection: ServerConnection) -> None:
        connected.put_nowait(connection)
        await connection.wait_closed()

    samples = []
    async with serve(accept, "127.0.0.1", 0, subprotocols=[Subprotocol("ocpp2.0.1")]) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        station = asyncio.create_task(start_station(f"ws://127.0.0.1:{port}/ocpp"))
        connection = await asyncio.wait_for(connected.get(), 10)
        for i, frame in enumerate(frames(calls)):
            started = time.perf_counter()
            await connection.send(frame.decode())
            await connection.recv()
            if i >= WARM_UP:
                samples.append(time.perf_counter() - started)
        station.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await station
    return samples


async def run_ours(url: str) -> None:
    policy = ConnectionPolicy(
        [NetworkProfile(1, url, SecurityProfile.BASIC_AUTH)],
        [1],
        security_profile=SecurityProfile.BASIC_AUTH,
    )
    credentials = StationCredentials(basic_auth_password="0123456789abcdef")
    await OcppJClient(STATION, our_endpoint(), policy, credentials).run()


async def run_package(url: str) -> None:
    async with connect(
        f"{url}/{STATION}", subprotocols=[Subprotocol("ocpp2.0.1")], proxy=None
    ) as websocket:
        await PackageStation(STATION, websocket).start()


# -- the run ------------------------------------------------------------------------------


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49] * 1e6, cuts[98] * 1e6


async def measure(calls: int) -> dict[str, list[float]]:
    runs: dict[str, list[float]] = {
        name: []
        for name in ("ours", "package", "shipped", "ours_wire", "package_wire", "shipped_wire")
    }
    share = calls // ROUNDS
    for _ in range(ROUNDS):
        runs["ours"] += await handling_ours(share)
        runs["ours_wire"] += await loopback(run_ours, share)
        for name, inline in (("package", True), ("shipped", False)):
            with validation_inline(inline):
                runs[name] += await handling_package(share)
                runs[f"{name}_wire"] += await loopback(run_package, share)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=6000)
    calls = parser.parse_args().calls
    runs = asyncio.run(measure(calls))
    figures = {name: percentiles(samples) for name, samples in runs.items()}
    for name, (p50, p99) in figures.items():
        print(f"{name:<14} p50 {p50:8.1f} us  p99 {p99:8.1f} us")
    ours, package, shipped = figures["ours"], figures["package"], figures["shipped"]
    ours_wire, package_wire = figures["ours_wire"], figures["package_wire"]
    print(
        f"BENCH ocpp_rpc action=ChangeAvailability calls={calls} "
        f"p50_us={ours[0]:.1f} p99_us={ours[1]:.1f} "
        f"ocpp_p50_us={package[0]:.1f} ocpp_p99_us={package[1]:.1f} "
        f"ratio={ours[0] / package[0]:.3f} "
        f"ocpp_shipped_p50_us={shipped[0]:.1f} "
        f"wire_p50_us={ours_wire[0]:.1f} wire_p99_us={ours_wire[1]:.1f} "
        f"ocpp_wire_p50_us={package_wire[0]:.1f} ocpp_wire_p99_us={package_wire[1]:.1f} "
        f"ratio_wire={ours_wire[0] / package_wire[0]:.2f} "
        f"ocpp_shipped_wire_p50_us={figures['shipped_wire'][0]:.1f}"
    )


if __name__ == "__main__":
    main()
