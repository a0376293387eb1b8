"""The offline queue of an OCPP station: how fast it takes and gives back messages, how big a
day offline makes it.

Every message is committed with fsync before it may be sent (a power cut must not lose it), so
the floor is the disk's fsync rate: the baseline, measured in the same run, appends each
message to a plain file and fsyncs it. A day offline is one TransactionEvent (Updated, with a
meter value of five measurands) every 10 s for 24 hours: 8,640 messages per EVSE.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from evstack.ocpp.outbox import Outbox, RetryPolicy
from evstack.runtime.state import open_database

MESSAGES = 2_000
DAY_OFFLINE = 24 * 3600 // 10
# A TransactionEvent (Updated) as a station sends it every 10 s, meter values included.
EVENT = (
    b'{"eventType":"Updated","timestamp":"2026-12-06T12:00:10.000Z",'
    b'"triggerReason":"MeterValuePeriodic","seqNo":%d,'
    b'"transactionInfo":{"transactionId":"3f2c1f6e-9a44-4d2b-8e0c-5a1d8b7e9f10",'
    b'"chargingState":"Charging"},"evse":{"id":1,"connectorId":1},'
    b'"meterValue":[{"timestamp":"2026-12-06T12:00:10.000Z","sampledValue":['
    b'{"value":12345.6,"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh"}},'
    b'{"value":11040.0,"measurand":"Power.Active.Import","unitOfMeasure":{"unit":"W"}},'
    b'{"value":16.0,"measurand":"Current.Import","phase":"L1"},'
    b'{"value":16.0,"measurand":"Current.Import","phase":"L2"},'
    b'{"value":16.0,"measurand":"Current.Import","phase":"L3"}]}]}'
)


def fsync_floor(folder: Path) -> float:
    """Messages a second when each is appended to a file and fsynced."""
    with open(folder / "floor.log", "ab") as log:
        started = time.perf_counter()
        for n in range(MESSAGES):
            log.write(EVENT % n)
            log.flush()
            os.fsync(log.fileno())
        return MESSAGES / (time.perf_counter() - started)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = open_database(folder / "outbox.db")
        box = Outbox(
            db,
            {"TransactionEvent": RetryPolicy(attempts=3, interval_s=10.0)},
            message_timeout_s=30.0,
        )
        started = time.perf_counter()
        for n in range(MESSAGES):
            box.put("TransactionEvent", EVENT % n, transaction_id="t1")
        enqueue_per_s = MESSAGES / (time.perf_counter() - started)
        started = time.perf_counter()
        while (head := box.head()) is not None:
            box.delivered(head.seq)
        drain_per_s = MESSAGES / (time.perf_counter() - started)
        floor_per_s = fsync_floor(folder)
        for n in range(DAY_OFFLINE):
            box.put("TransactionEvent", EVENT % n, transaction_id="t1")
        db.close()
        day_mb = sum(f.stat().st_size for f in folder.glob("outbox.db*")) / 1e6
    print(
        f"BENCH ocpp_outbox messages={MESSAGES} enqueue_per_s={enqueue_per_s:.0f} "
        f"drain_per_s={drain_per_s:.0f} fsync_floor_per_s={floor_per_s:.0f} "
        f"day_offline_messages={DAY_OFFLINE} day_offline_mb={day_mb:.1f} "
        f"ratio={enqueue_per_s / floor_per_s:.2f}"
    )


if __name__ == "__main__":
    main()
