"""A small CSMS for `make demo CONFIG=sil-ac-ocpp`: it accepts the station, every token and
every message, runs the demo's command, and says at the end what it received.

    python tools/ocpp_demo_csms.py [--port 9210] [--summary-json FILE] -- COMMAND ...

It is a test peer built on the PyPI `ocpp` package (v201, its strict schema validation on), not
part of the station: a message that fails the OCPP 2.0.1 schemas is answered with a CALLERROR
and counted. The summary lists each transaction (EVSE, token, its events, the energy between
its first and last Energy.Active.Import.Register reading, the stop reason, missing seqNos),
the connectors' last status and the other messages by action; the exit code is the
command's, or 1 if the CSMS saw an invalid message, a transaction that did not end, or a
seqNo gap. `serving(record)` runs the same CSMS in a test's event loop (tests/ocpp201/
test_sil.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.v201 import ChargePoint, call_result
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

# The requests a station sends its CSMS (OCPP 2.0.1), answered here.
FROM_STATION = (
    "Authorize",
    "BootNotification",
    "DataTransfer",
    "FirmwareStatusNotification",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "NotifyEvent",
    "NotifyReport",
    "SecurityEventNotification",
    "SignCertificate",
    "StatusNotification",
    "TransactionEvent",
)


def now() -> str:
    moment = datetime.datetime.now(datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Transaction:
    transaction_id: str
    evse: int | None = None
    token: str | None = None
    seq_nos: list[int] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    first_wh: float | None = None
    last_wh: float | None = None
    stopped_reason: str | None = None

    @property
    def energy_wh(self) -> float | None:
        if self.first_wh is None or self.last_wh is None:
            return None
        return self.last_wh - self.first_wh

    @property
    def gaps(self) -> list[int]:
        if not self.seq_nos:
            return []
        seen = set(self.seq_nos)
        return [n for n in range(min(seen), max(seen) + 1) if n not in seen]

    @property
    def ended(self) -> bool:
        return "Ended" in self.events


@dataclass
class Record:
    stations: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    invalid: list[str] = field(default_factory=list)
    transactions: dict[str, Transaction] = field(default_factory=dict)
    connectors: dict[str, str] = field(default_factory=dict)  # "EVSE/connector": last status

    def take(self, action: str, payload: dict[str, Any]) -> None:
        self.counts[action] = self.counts.get(action, 0) + 1
        if action == "TransactionEvent":
            self._transaction_event(payload)
        elif action == "StatusNotification":
            where = f"{payload['evseId']}/{payload['connectorId']}"
            self.connectors[where] = payload["connectorStatus"]

    def _transaction_event(self, payload: dict[str, Any]) -> None:
        info = payload["transactionInfo"]
        tx = self.transactions.setdefault(info["transactionId"], Transaction(info["transactionId"]))
        tx.seq_nos.append(payload["seqNo"])
        tx.events.append(payload["eventType"])
        if "evse" in payload:
            tx.evse = payload["evse"]["id"]
        if "idToken" in payload:
            tx.token = payload["idToken"]["idToken"]
        if "stoppedReason" in info:
            tx.stopped_reason = info["stoppedReason"]
        for meter_value in payload.get("meterValue", []):
            for sampled in meter_value["sampledValue"]:
                wh = _energy_wh(sampled)
                if wh is not None:
                    tx.first_wh = wh if tx.first_wh is None else min(tx.first_wh, wh)
                    tx.last_wh = wh if tx.last_wh is None else max(tx.last_wh, wh)


def _energy_wh(sampled: dict[str, Any]) -> float | None:
    """The value of an Energy.Active.Import.Register total in Wh; None for anything else."""
    measurand = sampled.get("measurand", "Energy.Active.Import.Register")
    if measurand != "Energy.Active.Import.Register" or "phase" in sampled:
        return None
    unit = sampled.get("unitOfMeasure", {})
    scale = 1000.0 if unit.get("unit", "Wh") == "kWh" else 1.0
    return float(sampled["value"]) * scale * 10.0 ** int(unit.get("multiplier", 0))


def answer(action: str, payload: dict[str, Any]) -> Any:
    result = getattr(call_result, action)
    if action == "BootNotification":
        return result(current_time=now(), interval=300, status="Accepted")
    if action == "Heartbeat":
        return result(current_time=now())
    if action == "Authorize" or (action == "TransactionEvent" and "idToken" in payload):
        return result(id_token_info={"status": "Accepted"})
    if action in ("SignCertificate", "DataTransfer"):
        return result(status="Accepted")
    return result()


class DemoPeer(ChargePoint):  # type: ignore[misc]  # the ocpp package has no type hints
    def __init__(self, station_id: str, connection: ServerConnection, record: Record) -> None:
        super().__init__(station_id, connection)
        self.record = record
        for action in FROM_STATION:
            self.route_map[action] = {
                "_on_action": self._handler(action),
                "_skip_schema_validation": False,
            }

    def _handler(self, action: str) -> Any:
        def handle(**_: Any) -> Any:
            return answer(action, self._payload)

        return handle

    async def _handle_call(self, msg: Any) -> Any:
        self._payload: dict[str, Any] = msg.payload
        try:
            response = await super()._handle_call(msg)
        except OCPPError as error:
            self.record.invalid.append(f"{msg.action}: {error}")
            raise
        self.record.take(msg.action, msg.payload)
        return response


@contextlib.asynccontextmanager
async def serving(
    record: Record, port: int = 0, peers: dict[str, DemoPeer] | None = None
) -> AsyncIterator[int]:
    """The CSMS on 127.0.0.1:`port` (0: any free one) while the block runs; yields the port.
    Stations connect to ws://127.0.0.1:<port>/ocpp/<station id>; each connected one is in
    `peers` (if given) by its id, for the caller to send it CALLs (`peer.call`)."""

    async def serve_station(connection: ServerConnection) -> None:
        station_id = connection.request.path.rsplit("/", 1)[-1] if connection.request else "?"
        record.stations.append(station_id)
        peer = DemoPeer(station_id, connection, record)
        if peers is not None:
            peers[station_id] = peer
        try:
            await peer.start()
        except Exception as error:  # the station went away: the demo goes on
            logging.getLogger(__name__).info("%s: %s", station_id, error)
        finally:
            if peers is not None and peers.get(station_id) is peer:
                del peers[station_id]

    subprotocols = [Subprotocol("ocpp2.0.1")]
    async with serve(serve_station, "127.0.0.1", port, subprotocols=subprotocols) as server:
        yield next(iter(server.sockets)).getsockname()[1]


async def run(port: int, command: list[str]) -> tuple[int, Record]:
    record = Record()
    async with serving(record, port):
        process = await asyncio.create_subprocess_exec(*command)
        code = await process.wait()
    return code, record


def render(record: Record) -> str:
    lines = [f"CSMS: stations {', '.join(sorted(set(record.stations))) or 'none'}"]
    lines.append(f"{'transaction':<38} {'EVSE':>4} {'token':<10} {'events':<28} {'energy':>10}")
    for tx in record.transactions.values():
        energy = "" if tx.energy_wh is None else f"{tx.energy_wh / 1000:.3f} kWh"
        events = f"{tx.events[0]}..{tx.events[-1]} ({len(tx.events)})" if tx.events else ""
        line = f"{tx.transaction_id:<38} {tx.evse or '':>4} {tx.token or '':<10} {events:<28}"
        ended = tx.stopped_reason or ("Ended" if tx.ended else "not ended")
        line += f" {energy:>10}  {ended:<14}"
        line += f" seqNo {min(tx.seq_nos)}..{max(tx.seq_nos)}, gaps: {tx.gaps or 'none'}"
        lines.append(line)
    connectors = ", ".join(
        f"{where} {status}" for where, status in sorted(record.connectors.items())
    )
    lines.append(f"connectors: {connectors or 'none reported'}")
    counts = ", ".join(f"{action} {n}" for action, n in sorted(record.counts.items()))
    lines.append(f"messages: {counts}")
    gaps = sum(len(tx.gaps) for tx in record.transactions.values())
    lines.append(f"seqNo gaps: {gaps or 'none'}")
    if record.invalid:
        lines.append(f"invalid messages: {len(record.invalid)}: {record.invalid[:3]}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9210)
    parser.add_argument("--summary-json", help="write the summary to this file as well")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the command to run")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    logging.basicConfig(level=logging.WARNING)
    code, record = asyncio.run(run(args.port, command))
    print(render(record))
    if args.summary_json:
        summary = asdict(record)
        for tx_id, tx in record.transactions.items():
            summary["transactions"][tx_id].update(energy_wh=tx.energy_wh, gaps=tx.gaps)
        with open(args.summary_json, "w") as out:
            json.dump(summary, out, indent=2)
    troubles = record.invalid or any(tx.gaps or not tx.ended for tx in record.transactions.values())
    return code or (1 if troubles else 0)


if __name__ == "__main__":
    sys.exit(main())
