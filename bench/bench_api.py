"""The ApiServer module's HTTP API and event stream, against a bare Starlette app.

The charger is config/sil-ac.yaml run by `ev-manager` (a process per module, Mosquitto), its
EVs charging, its API locked with a read token (the check is part of every request), and its
session store seeded with 1,000 sessions. The baseline is a bare Starlette app on the same
uvicorn settings in a process of its own, answering the same paths with the same bytes the API
answered (taken from it first) and broadcasting events of the same size. Both are measured
from this process, in interleaved turns so that both meet the same load:

- GET of all EVSEs, and of a history page (20 sessions): p50 and p99 of one request at a
  time on a kept-alive connection. The API's history page is a command to the session store
  over MQTT and an SQLite query; the baseline's is a constant.
- Live events fanned out to 100 WebSocket clients: from the server's timestamp in the event
  to its arrival at each client, p50 and p99.

    python bench/bench_api.py [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import yaml
from websockets.asyncio.client import connect

from evstack.modules.ApiServer.server import bind
from evstack.modules.ApiServer.tokens import Scope, TokenStore
from evstack.modules.SessionStore.database import SessionDatabase
from evstack.runtime import loop

REPO = Path(__file__).resolve().parents[1]
SIL_AC = REPO / "config" / "sil-ac.yaml"
CLIENTS = 100
ROUNDS = 5
FANOUT_S = 3.0  # seconds of events per turn and server
BASELINE_HZ = 20  # the baseline's events a second, about the charger's at 10x
SESSIONS = 1000


# --- the baseline: a bare Starlette app -------------------------------------------------


def serve_baseline(port_file: Path, bodies_file: Path, event_file: Path) -> None:
    """Serve the captured bodies at their paths and broadcast the captured event's size."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    bodies: dict[str, bytes] = msgspec.json.decode(bodies_file.read_bytes(), type=dict[str, bytes])
    event: dict[str, Any] = msgspec.json.decode(event_file.read_bytes())
    queues: set[asyncio.Queue[bytes]] = set()

    async def answer(request: Request) -> Response:
        return Response(bodies[request.url.path], media_type="application/json")

    async def events(websocket: WebSocket) -> None:
        await websocket.accept()
        queue: asyncio.Queue[bytes] = asyncio.Queue(256)
        queues.add(queue)
        try:
            while True:
                await websocket.send_bytes(await queue.get())
        except Exception:
            queues.discard(queue)

    async def broadcast() -> None:
        while True:
            await asyncio.sleep(1 / BASELINE_HZ)
            event["time"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")
            payload = msgspec.json.encode(event)
            for queue in list(queues):
                if not queue.full():
                    queue.put_nowait(payload)

    routes = [Route(path, answer) for path in bodies]
    app = Starlette(routes=[*routes, WebSocketRoute("/api/v1/events", events)])
    listener = bind("127.0.0.1", 0)  # as the module binds its own
    port_file.write_text(str(listener.getsockname()[1]))
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", access_log=False, log_level="warning")
    )

    async def main() -> None:
        task = asyncio.create_task(broadcast())
        await server.serve(sockets=[listener])
        task.cancel()

    loop.run(main())  # the loop the module runs on (uvloop where there is one)


# --- a minimal HTTP/1.1 client, so that the client costs little and the same for both ----


class Http:
    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.head = f"Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode()

    async def open(self) -> Http:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def get(self, path: str) -> bytes:
        self.writer.write(f"GET {path} HTTP/1.1\r\n".encode() + self.head)
        try:
            header = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            raise RuntimeError(f"port {self.port} closed the connection on GET {path}") from None
        status = header[9:12]
        length = next(
            int(line.split(b":")[1])
            for line in header.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        body = await self.reader.readexactly(length)
        if status != b"200":
            raise RuntimeError(f"GET {path}: {header.decode()} {body.decode()}")
        return body

    def close(self) -> None:
        self.writer.close()


async def latencies(client: Http, path: str, count: int) -> list[float]:
    taken = []
    for _ in range(count):
        start = time.perf_counter()
        await client.get(path)
        taken.append(time.perf_counter() - start)
    return taken


async def fanout(port: int, token: str, seconds: float) -> list[float]:
    """Seconds from each event's timestamp to its arrival, over all clients."""
    delays: list[float] = []
    url = f"ws://127.0.0.1:{port}/api/v1/events?token={token}"
    sockets = [await connect(url, max_queue=None) for _ in range(CLIENTS)]

    async def listen(websocket: Any) -> None:
        async for message in websocket:
            arrived = time.time()
            stamp = msgspec.json.decode(message)["time"]
            delays.append(arrived - datetime.datetime.fromisoformat(stamp).timestamp())

    tasks = [asyncio.create_task(listen(s)) for s in sockets]
    await asyncio.sleep(1.0)  # past the snapshot each client gets first
    delays.clear()
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    for websocket in sockets:
        await websocket.close()
    return delays


def quantiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100)
    return cuts[49] * 1000, cuts[98] * 1000


# --- the charger ----------------------------------------------------------------------


def charger_config(folder: Path) -> Path:
    """sil-ac.yaml for as long as the bench runs: EVs charging, tokens on, any free port."""
    config: dict[str, Any] = yaml.safe_load(SIL_AC.read_text())
    for module_id, entry in config["active_modules"].items():
        settings = entry.setdefault("config_module", {})
        if module_id.startswith("ev_"):
            settings["auto_exec_commands"] = "plugin;iec_wait_pwr_ready;draw_power_regulated 16,3"
        elif module_id == "rfid_reader":
            settings["script"] = "sleep 1; swipe AABBCCDD; sleep 2; swipe 11223344"
        elif module_id == "dashboard":
            settings.update(finish_after_sessions=0, deadline_s=0, display="plain")
        elif module_id == "api":
            settings.update(auth="tokens", port=0)
    config["settings"] = {"broker_url": "mqtt://127.0.0.1:1883", "mqtt_prefix": "bench-api"}
    path = folder / "bench-api.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def seed(state: Path) -> str:
    with SessionDatabase(state / "session_store" / "sessions.db") as database:
        for n in range(SESSIONS):
            day = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(hours=n)
            session = f"seeded-{n:05d}"
            database.session_started(session, 1 + n % 2, "AABBCCDD", day.isoformat(), 1000.0 * n)
            end = (day + datetime.timedelta(minutes=40)).isoformat()
            database.session_finished(session, end, 1000.0 * n + 7400.0, "EVDisconnected")
    return TokenStore(state / "api" / "tokens.json").add("bench", Scope.read)


def wait_for_file(path: Path, process: subprocess.Popen[bytes]) -> str:
    for _ in range(300):
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} ended with {process.returncode}")
        time.sleep(0.1)
    raise RuntimeError(f"no {path}")


async def measure(api_port: int, baseline_port: int, token: str, requests: int) -> None:
    paths = {"evses": "/api/v1/evses", "history": "/api/v1/sessions?offset=0&limit=20"}
    servers = {"api": api_port, "starlette": baseline_port}
    for port in servers.values():  # warm up
        client = await Http(port, token).open()
        for path in paths.values():
            await latencies(client, path, 200)
        client.close()
    taken: dict[tuple[str, str], list[float]] = {(n, p): [] for n in servers for p in paths}
    for _ in range(ROUNDS):  # turns, so that both meet the same load
        for (name, path_name), values in taken.items():
            # A connection per turn: uvicorn closes one left idle for 5 s during the others'.
            client = await Http(servers[name], token).open()
            await client.get(paths[path_name])
            values += await latencies(client, paths[path_name], requests // ROUNDS)
            client.close()
    for path_name in paths:
        api50, api99 = quantiles(taken[("api", path_name)])
        base50, base99 = quantiles(taken[("starlette", path_name)])
        print(
            f"BENCH api_get_{path_name} p50_ms={api50:.3f} p99_ms={api99:.3f} "
            f"starlette_p50_ms={base50:.3f} starlette_p99_ms={base99:.3f} "
            f"requests={len(taken[('api', path_name)])} ratio={api50 / base50:.2f}"
        )

    delays: dict[str, list[float]] = {name: [] for name in servers}
    for _ in range(2):
        for name, port in servers.items():
            delays[name] += await fanout(port, token, FANOUT_S)
    api50, api99 = quantiles(delays["api"])
    base50, base99 = quantiles(delays["starlette"])
    print(
        f"BENCH api_ws_fanout clients={CLIENTS} p50_ms={api50:.3f} p99_ms={api99:.3f} "
        f"starlette_p50_ms={base50:.3f} starlette_p99_ms={base99:.3f} "
        f"deliveries={len(delays['api'])} starlette_deliveries={len(delays['starlette'])} "
        f"ratio={api50 / base50:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="per path and server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as scratch:
        folder = Path(scratch)
        state = folder / "state"
        token = seed(state)
        charger = subprocess.Popen(
            [sys.executable, "-c", "from evstack.runtime.cli import main; main()",
             "run", str(charger_config(folder)),
             "--state-dir", str(state), "--log-level", "ERROR"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        baseline = None
        try:
            api_port = int(wait_for_file(state / "api" / "url", charger).rsplit(":", 1)[1])
            # What the API answers is what the baseline will answer, byte for byte.
            bodies = asyncio.run(capture(api_port, token))
            (folder / "bodies.json").write_bytes(msgspec.json.encode(bodies))
            (folder / "event.json").write_bytes(asyncio.run(one_event(api_port, token)))
            baseline = subprocess.Popen([sys.executable, __file__, "--serve-baseline", str(folder)])
            baseline_port = int(wait_for_file(folder / "port", baseline))
            asyncio.run(measure(api_port, baseline_port, token, args.requests))
        finally:
            for process in (charger, baseline):
                if process is not None:
                    process.terminate()
                    process.wait(30)


async def capture(port: int, token: str) -> dict[str, bytes]:
    client = await Http(port, token).open()
    # The EVs charge before we measure: the EVSE list is a charging charger's.
    for _ in range(100):
        if b'"Charging"' in await client.get("/api/v1/evses"):
            break
        await asyncio.sleep(0.1)
    bodies = {
        "/api/v1/evses": await client.get("/api/v1/evses"),
        "/api/v1/sessions": await client.get("/api/v1/sessions?offset=0&limit=20"),
    }
    client.close()
    return bodies


async def one_event(port: int, token: str) -> bytes:
    async with connect(f"ws://127.0.0.1:{port}/api/v1/events?token={token}") as websocket:
        message = await websocket.recv()
    return message.encode() if isinstance(message, str) else message


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-baseline":
        where = Path(sys.argv[2])
        serve_baseline(where / "port", where / "bodies.json", where / "event.json")
    else:
        main()
