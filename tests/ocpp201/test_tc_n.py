"""Part 6, N (Diagnostics): log uploads to a file server on loopback, and customer
information, against the running station."""

# ruff: noqa: N802 - the tests are named by the OCA's case ids (test_TC_N_25_CS)

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from ocpp.v201 import call

from .csms import Csms
from .file_server import FileServer
from .stand_ins import card

pytestmark = pytest.mark.timeout(60)

TOKEN = {"idToken": "AABBCCDD", "type": "ISO14443"}


@pytest.fixture
def files() -> Iterator[FileServer]:
    server = FileServer()
    with server.running():
        yield server


def get_log(server: FileServer, log_type: str, request_id: int, **more: Any) -> Any:
    return call.GetLog(
        log={"remoteLocation": f"{server.url}/logs/"},
        log_type=log_type,
        request_id=request_id,
        **more,
    )


async def test_TC_N_25_CS(csms: Csms, charger: Any, files: FileServer) -> None:
    """GetLog DiagnosticsLog: Accepted with a file name, Uploading, then Uploaded; the file is
    on the server under that name."""
    async with charger(csms):
        await csms.expect("StatusNotification")
        answer = await csms.call(get_log(files, "DiagnosticsLog", 11))
        assert answer.status == "Accepted"
        assert answer.filename
        uploading = await csms.expect("LogStatusNotification")
        assert uploading == {"status": "Uploading", "requestId": 11}
        uploaded = await csms.expect("LogStatusNotification")
        assert uploaded == {"status": "Uploaded", "requestId": 11}
    (received,) = files.uploads
    assert received.method == "PUT"
    assert received.path == f"/logs/{answer.filename}"
    assert received.body.startswith(b"# CS001 DiagnosticsLog as of ")


async def test_TC_N_26_CS(csms: Csms, charger: Any, files: FileServer) -> None:
    """An upload that keeps failing: retries 3, retryInterval 20 s. Uploading, then
    UploadFailure after each attempt; 3 x 20 s from the first Uploading to the last failure."""
    files.statuses["/logs/"] = 500
    async with charger(csms, speedup=50.0) as station:
        await csms.expect("StatusNotification")
        answer = await csms.call(get_log(files, "DiagnosticsLog", 12, retries=3, retry_interval=20))
        assert answer.status == "Accepted"
        loop = asyncio.get_running_loop()
        assert await csms.expect("LogStatusNotification") == {
            "status": "Uploading",
            "requestId": 12,
        }
        started = loop.time()
        failures = 0
        while failures < 4:  # the first attempt and three retries
            notification = await csms.expect("LogStatusNotification")
            assert notification["requestId"] == 12
            if notification["status"] == "UploadFailure":
                failures += 1
            else:
                assert notification["status"] == "Uploading"
        simulated = (loop.time() - started) * station.speedup
        assert 60 - 10 <= simulated <= 60 + 10, simulated
    assert files.uploads == []
    assert len(files.requests) == 4


async def test_TC_N_35_CS(csms: Csms, charger: Any, files: FileServer) -> None:
    """GetLog SecurityLog: Uploading, Uploaded; the station's security events are in it."""
    async with charger(csms):
        await csms.expect("SecurityEventNotification")  # StartupOfTheDevice: the log has one
        answer = await csms.call(get_log(files, "SecurityLog", 13))
        assert answer.status == "Accepted"
        assert await csms.expect("LogStatusNotification") == {
            "status": "Uploading",
            "requestId": 13,
        }
        assert await csms.expect("LogStatusNotification") == {
            "status": "Uploaded",
            "requestId": 13,
        }
    (received,) = files.uploads
    assert b" StartupOfTheDevice critical" in received.body


async def test_TC_N_36_CS(csms: Csms, charger: Any, files: FileServer) -> None:
    """A second GetLog while the first uploads: AcceptedCanceled, the first's upload is
    cancelled (LogStatusNotification AcceptedCanceled), the second's is uploaded."""
    files.hold = threading.Event()
    async with charger(csms):
        await csms.expect("StatusNotification")
        assert (await csms.call(get_log(files, "SecurityLog", 21))).status == "Accepted"
        assert await csms.expect("LogStatusNotification") == {
            "status": "Uploading",
            "requestId": 21,
        }
        second = await csms.call(get_log(files, "SecurityLog", 22))
        assert second.status == "AcceptedCanceled"
        canceled = await csms.expect("LogStatusNotification")
        assert canceled["status"] == "AcceptedCanceled"
        files.hold.set()
        assert await csms.expect("LogStatusNotification") == {
            "status": "Uploading",
            "requestId": 22,
        }
        assert await csms.expect("LogStatusNotification") == {
            "status": "Uploaded",
            "requestId": 22,
        }


async def test_log_status_triggered_while_idle_and_while_uploading(
    csms: Csms, charger: Any, files: FileServer
) -> None:
    """F06 / N01: TriggerMessage(LogStatusNotification) says Idle without a request id when
    nothing is uploaded, Uploading with the request's id during an upload."""
    files.hold = threading.Event()
    async with charger(csms):
        await csms.expect("StatusNotification")
        trigger = call.TriggerMessage(requested_message="LogStatusNotification")
        assert (await csms.call(trigger)).status == "Accepted"
        assert await csms.expect("LogStatusNotification") == {"status": "Idle"}
        await csms.call(get_log(files, "DiagnosticsLog", 31))
        await csms.expect("LogStatusNotification")
        assert (await csms.call(trigger)).status == "Accepted"
        assert await csms.expect("LogStatusNotification") == {
            "status": "Uploading",
            "requestId": 31,
        }
        files.hold.set()
        await csms.expect("LogStatusNotification", lambda p: p["status"] == "Uploaded")


# -- customer information ---------------------------------------------------------------------


async def cache_the_token(csms: Csms, station: Any) -> None:
    """A transaction with the card: the CSMS's idTokenInfo in its TransactionEventResponse
    goes into the authorization cache (C10.FR.05)."""
    evse = station.evse(1)
    await evse.start_transaction(card(TOKEN["idToken"]))
    await csms.expect("TransactionEvent", lambda p: p.get("idToken") == TOKEN)
    await evse.unplug()
    await csms.expect("TransactionEvent", lambda p: p["eventType"] == "Ended")


async def notifications(csms: Csms, request_id: int) -> list[dict[str, Any]]:
    """Every NotifyCustomerInformation of a request, up to the one without tbc."""
    parts: list[dict[str, Any]] = []
    while True:
        part = await csms.expect("NotifyCustomerInformation")
        assert part["requestId"] == request_id
        assert part["seqNo"] == len(parts)
        parts.append(part)
        if not part.get("tbc", False):
            return parts


async def test_TC_N_32_CS(csms: Csms, charger: Any) -> None:
    """CustomerInformation clear without report: Accepted, and one NotifyCustomerInformation
    saying what was cleared; the token is no longer in the authorization cache."""
    async with charger(csms) as station:
        await csms.expect("StatusNotification")
        await cache_the_token(csms, station)
        answer = await csms.call(
            call.CustomerInformation(request_id=41, report=False, clear=True, id_token=TOKEN)
        )
        assert answer.status == "Accepted"
        (cleared,) = await notifications(csms, 41)
        assert "AABBCCDD" in cleared["data"]
        assert cleared["data"].startswith("cleared: authorization cache")
        report = call.CustomerInformation(request_id=42, report=True, clear=False, id_token=TOKEN)
        assert (await csms.call(report)).status == "Accepted"
        (after,) = await notifications(csms, 42)
        assert after["data"] == ""


async def test_TC_N_27_CS(csms: Csms, charger: Any) -> None:
    """CustomerInformation report: the cached token's entry is reported."""
    async with charger(csms) as station:
        await csms.expect("StatusNotification")
        await cache_the_token(csms, station)
        report = call.CustomerInformation(request_id=43, report=True, clear=False, id_token=TOKEN)
        assert (await csms.call(report)).status == "Accepted"
        (part,) = await notifications(csms, 43)
        assert part["data"] == "authorization cache: ISO14443 AABBCCDD: Accepted"


async def test_TC_N_28_CS(csms: Csms, charger: Any) -> None:
    """CustomerInformation report about a token the station knows nothing of: one message,
    no data, tbc not true."""
    async with charger(csms):
        await csms.expect("StatusNotification")
        report = call.CustomerInformation(request_id=44, report=True, clear=False, id_token=TOKEN)
        assert (await csms.call(report)).status == "Accepted"
        (part,) = await notifications(csms, 44)
        assert part["data"] == ""


async def test_TC_N_30_CS(csms: Csms, charger: Any) -> None:
    """Clear and report: the data first, then a report finds nothing."""
    async with charger(csms) as station:
        await csms.expect("StatusNotification")
        await cache_the_token(csms, station)
        both = call.CustomerInformation(request_id=45, report=True, clear=True, id_token=TOKEN)
        assert (await csms.call(both)).status == "Accepted"
        (part,) = await notifications(csms, 45)
        assert "AABBCCDD" in part["data"]
        again = call.CustomerInformation(request_id=46, report=True, clear=False, id_token=TOKEN)
        assert (await csms.call(again)).status == "Accepted"
        (empty,) = await notifications(csms, 46)
        assert empty["data"] == ""


async def test_TC_N_31_CS(csms: Csms, charger: Any) -> None:
    """Clear and report with nothing kept: Accepted, one message with no data."""
    async with charger(csms):
        await csms.expect("StatusNotification")
        both = call.CustomerInformation(request_id=47, report=True, clear=True, id_token=TOKEN)
        assert (await csms.call(both)).status == "Accepted"
        (part,) = await notifications(csms, 47)
        assert part["data"] == ""


async def test_customer_information_about_nobody_is_invalid(csms: Csms, charger: Any) -> None:
    async with charger(csms):
        await csms.expect("StatusNotification")
        nobody = call.CustomerInformation(request_id=48, report=True, clear=False)
        assert (await csms.call(nobody)).status == "Invalid"
