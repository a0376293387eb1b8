"""OCPP 2.0.1 payload benchmark: evstack's generated types against jsonschema.

Three typical payloads: a BootNotificationRequest, a TransactionEventRequest with two meter
values of four samples each, and a GetVariablesRequest of ten variables. Ours is
`evstack.ocpp.v201.decode_request` (parse, validate, build the typed message, date-times
checked) and `encode` (write, check by decoding, write again). The baseline is what the `ocpp`
package does to a payload: `json.loads`, then a Draft 4 validator of the OCA's schema file
(without a date-time check, as the package has none), and `json.dumps` plus that validator
on the way out. Both take turns within each round, so they see the same machine.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import jsonschema

from evstack.codegen.ocpp.importer import find_ocpp_dir
from evstack.ocpp.v201 import Record, decode_request, encode

ROUNDS = 7
REPEATS = 400


def _sample(measurand: str, value: float) -> dict[str, Any]:
    return {
        "value": value,
        "measurand": measurand,
        "context": "Sample.Periodic",
        "unitOfMeasure": {"unit": "Wh" if "Energy" in measurand else "W"},
    }


def _meter_value(at: str) -> dict[str, Any]:
    return {
        "timestamp": at,
        "sampledValue": [
            _sample("Energy.Active.Import.Register", 12345.6),
            _sample("Power.Active.Import", 7200.0),
            _sample("Current.Import", 31.5),
            _sample("Voltage", 229.8),
        ],
    }


PAYLOADS: dict[str, dict[str, Any]] = {
    "BootNotification": {
        "reason": "PowerUp",
        "chargingStation": {
            "model": "EVS-22",
            "vendorName": "evstack",
            "serialNumber": "SN-000123",
            "firmwareVersion": "1.4.2",
            "modem": {"iccid": "8931440400000000000", "imsi": "262011234567890"},
        },
    },
    "TransactionEvent": {
        "eventType": "Updated",
        "timestamp": "2026-11-23T21:00:00.250Z",
        "triggerReason": "MeterValuePeriodic",
        "seqNo": 17,
        "transactionInfo": {"transactionId": "tx-7f3a9c", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [_meter_value("2026-11-23T20:59:00Z"), _meter_value("2026-11-23T21:00:00Z")],
    },
    "GetVariables": {
        "getVariableData": [
            {
                "component": {"name": "OCPPCommCtrlr" if i % 2 else "TxCtrlr"},
                "variable": {"name": f"Variable{i}"},
                "attributeType": "Actual",
            }
            for i in range(10)
        ]
    },
}


def _timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    for _ in range(REPEATS):
        run()
    return (time.perf_counter() - started) / REPEATS * 1e6


def main() -> None:
    ocpp_dir = find_ocpp_dir()
    if ocpp_dir is None:
        raise SystemExit("bench_ocpp_types needs the ocpp package's schemas (pip install ocpp)")
    for action, payload in PAYLOADS.items():
        text = json.dumps(payload, separators=(",", ":")).encode()
        path = ocpp_dir / "v201" / "schemas" / f"{action}Request.json"
        validator = jsonschema.Draft4Validator(json.loads(path.read_text(encoding="utf-8-sig")))
        validator.validate(json.loads(text))
        message = decode_request(action, text)

        def theirs_decode(text: bytes = text, validate: Any = validator.validate) -> None:
            validate(json.loads(text))

        def theirs_encode(payload: Any = payload, validate: Any = validator.validate) -> None:
            validate(payload)
            json.dumps(payload).encode()

        def ours_decode(action: str = action, text: bytes = text) -> None:
            decode_request(action, text)

        def ours_encode(message: Record = message) -> None:
            encode(message)

        contenders: dict[str, Callable[[], object]] = {
            "ours_decode": ours_decode,
            "theirs_decode": theirs_decode,
            "ours_encode": ours_encode,
            "theirs_encode": theirs_encode,
        }
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(ROUNDS):
            for name, run in contenders.items():
                times[name].append(_timed(run))
        us = {name: statistics.median(values) for name, values in times.items()}
        print(
            f"BENCH ocpp_types message={action}Request bytes={len(text)} "
            f"decode_us={us['ours_decode']:.2f} jsonschema_decode_us={us['theirs_decode']:.1f} "
            f"encode_us={us['ours_encode']:.2f} jsonschema_encode_us={us['theirs_encode']:.1f} "
            f"ratio={us['theirs_decode'] / us['ours_decode']:.1f} "
            f"encode_ratio={us['theirs_encode'] / us['ours_encode']:.1f}"
        )


if __name__ == "__main__":
    main()
