"""Part 6, L (Firmware management): secure firmware updates from a file server on loopback,
signed with a throwaway manufacturer PKI, against the running station."""

# ruff: noqa: N802 - the tests are named by the OCA's case ids (test_TC_L_01_CS)

from __future__ import annotations

import datetime
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from ocpp.v201 import call

from .conftest import StartCharger
from .csms import Csms
from .file_server import FileServer
from .harness import booted, configure, energy_transfer_started
from .harness import statuses as connector_statuses
from .pki_kit import Signer, corrupt_image, firmware_image, firmware_signer, root

pytestmark = pytest.mark.timeout(60)

MAKER = root("manufacturer root")
SIGNER = firmware_signer(MAKER)
IMAGE = firmware_image("2.0.0")
SPEEDUP = 20.0  # scheduled times a few simulated minutes ahead pass in wall seconds


@pytest.fixture
def files() -> Iterator[FileServer]:
    server = FileServer(files={"/fw/2.0.0.bin": IMAGE, "/fw/broken.bin": corrupt_image("2.0.1")})
    with server.running():
        yield server


def at(offset: datetime.timedelta) -> str:
    moment = datetime.datetime.now(datetime.UTC) + offset
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


HOURS_AGO = datetime.timedelta(hours=-2)


def update(
    files: FileServer,
    request_id: int,
    *,
    path: str = "/fw/2.0.0.bin",
    retrieve: datetime.timedelta = HOURS_AGO,
    install: datetime.timedelta | None = HOURS_AGO,
    signer: Signer | None = SIGNER,
    signature: str | None = None,
    **more: Any,
) -> Any:
    firmware: dict[str, Any] = {"location": f"{files.url}{path}", "retrieveDateTime": at(retrieve)}
    if install is not None:
        firmware["installDateTime"] = at(install)
    if signer is not None:
        firmware["signingCertificate"] = signer.pem
        firmware["signature"] = signature or signer.sign(files.files.get(path, IMAGE))
    return call.UpdateFirmware(request_id=request_id, firmware=firmware, **more)


async def booted_with_maker_root(csms: Csms) -> None:
    """The Booted state, and the manufacturer's root installed (what signing certificates
    must chain to)."""
    await csms.expect("StatusNotification")
    installed = await csms.call(
        call.InstallCertificate(
            certificate_type="ManufacturerRootCertificate", certificate=MAKER.pem
        )
    )
    assert installed.status == "Accepted"


async def statuses(csms: Csms, request_id: int, count: int) -> list[str]:
    found = []
    for _ in range(count):
        notification = await csms.expect("FirmwareStatusNotification")
        assert notification["requestId"] == request_id
        found.append(notification["status"])
    return found


async def rebooted_and_installed(csms: Csms, request_id: int, status: str = "Installed") -> None:
    """Steps 13-20 of TC_L_01: BootNotification(FirmwareUpdate), the connectors' status, and
    the final FirmwareStatusNotification; FirmwareUpdated among the security events."""
    boot = await csms.expect("BootNotification")
    assert boot["reason"] == "FirmwareUpdate"
    await csms.expect("StatusNotification", lambda p: p["connectorStatus"] == "Available")
    final = await csms.expect("FirmwareStatusNotification")
    assert final == {"status": status, "requestId": request_id}
    events = [r.payload["type"] for r in csms.history if r.action == "SecurityEventNotification"]
    assert ("FirmwareUpdated" in events) is (status == "Installed")


async def firmware_version(csms: Csms) -> str:
    read = await csms.call(
        call.GetVariables(
            get_variable_data=[
                {"component": {"name": "Controller"}, "variable": {"name": "FirmwareVersion"}}
            ]
        )
    )
    value: str = read.get_variable_result[0]["attribute_value"]
    return value


async def test_TC_L_01_CS(csms: Csms, charger: Any, files: FileServer) -> None:
    async with charger(csms, speedup=SPEEDUP):
        await booted_with_maker_root(csms)
        assert (await csms.call(update(files, 101))).status == "Accepted"
        assert await statuses(csms, 101, 5) == [
            "Downloading",
            "Downloaded",
            "SignatureVerified",
            "Installing",
            "InstallRebooting",
        ]
        await rebooted_and_installed(csms, 101)
        assert await firmware_version(csms) == "2.0.0"


async def test_TC_L_02_CS(csms: Csms, charger: Any, files: FileServer) -> None:
    """installDateTime 60 simulated seconds ahead: InstallScheduled, then Installing at it."""
    async with charger(csms, speedup=SPEEDUP):
        await booted_with_maker_root(csms)
        answer = await csms.call(update(files, 102, install=datetime.timedelta(seconds=60)))
        assert answer.status == "Accepted"
        assert await statuses(csms, 102, 4) == [
            "Downloading",
            "Downloaded",
            "SignatureVerified",
            "InstallScheduled",
        ]
        assert await statuses(csms, 102, 2) == ["Installing", "InstallRebooting"]
        await rebooted_and_installed(csms, 102)


async def test_TC_L_03_CS(csms: Csms, charger: Any, files: FileServer) -> None:
    """retrieveDateTime 60 simulated seconds ahead: DownloadScheduled, then the download."""
    async with charger(csms, speedup=SPEEDUP):
        await booted_with_maker_root(csms)
        answer = await csms.call(update(files, 103, retrieve=datetime.timedelta(seconds=60)))
        assert answer.status == "Accepted"
        assert await statuses(csms, 103, 1) == ["DownloadScheduled"]
        assert files.requests == []
        assert await statuses(csms, 103, 5) == [
            "Downloading",
            "Downloaded",
            "SignatureVerified",
            "Installing",
            "InstallRebooting",
        ]
        await rebooted_and_installed(csms, 103)


async def test_TC_L_05_CS(csms: Csms, charger: Any, files: FileServer) -> None:
    """A signing certificate from a manufacturer the station does not trust: InvalidCertificate,
    nothing downloaded, the security event InvalidFirmwareSigningCertificate."""
    stranger = firmware_signer(root("another manufacturer"))
    async with charger(csms, speedup=SPEEDUP):
        await booted_with_maker_root(csms)
        answer = await csms.call(update(files, 105, signer=stranger))
        assert answer.status in ("InvalidCertificate", "RevokedCertificate")
        event = await csms.expect(
            "SecurityEventNotification",
            lambda p: p["type"] == "InvalidFirmwareSigningCertificate",
        )
        assert event["timestamp"]
    assert files.requests == []


async def test_TC_L_06_CS(csms: Csms, charger: Any, files: FileServer) -> None:
    """A real signature, of another file: Downloading, Downloaded, InvalidSignature and the
    security event InvalidFirmwareSignature."""
    async with charger(csms, speedup=SPEEDUP):
        await booted_with_maker_root(csms)
        wrong = SIGNER.sign(b"some other firmware")
        assert (await csms.call(update(files, 106, signature=wrong))).status == "Accepted"
        assert await statuses(csms, 106, 3) == ["Downloading", "Downloaded", "InvalidSignature"]
        await csms.expect(
            "SecurityEventNotification", lambda p: p["type"] == "InvalidFirmwareSignature"
        )


async def test_TC_L_07_CS(csms: Csms, charger: Any, files: FileServer) -> None:
    """A location that does not exist: Downloading, then DownloadFailed after the retries."""
    async with charger(csms, speedup=SPEEDUP):
        await booted_with_maker_root(csms)
        missing = update(
            files, 107, path="/fw/2.0.0.bin_does_not_exist", retries=1, retry_interval=30
        )
        assert (await csms.call(missing)).status == "Accepted"
        assert await statuses(csms, 107, 2) == ["Downloading", "DownloadFailed"]
    assert len(files.requests) == 2  # the attempt and its one retry


async def test_TC_L_08_CS(csms: Csms, charger: Any, files: FileServer) -> None:
    """An image that is signed but does not verify once installed: DownloadScheduled,
    Downloading, Downloaded, SignatureVerified, Installing, InstallRebooting, the boot, and
    InstallVerificationFailed; the firmware version stays as it was."""
    async with charger(csms, speedup=SPEEDUP):
        await booted_with_maker_root(csms)
        before = await firmware_version(csms)
        broken = update(files, 108, path="/fw/broken.bin", retrieve=datetime.timedelta(seconds=30))
        assert (await csms.call(broken)).status == "Accepted"
        assert await statuses(csms, 108, 6) == [
            "DownloadScheduled",
            "Downloading",
            "Downloaded",
            "SignatureVerified",
            "Installing",
            "InstallRebooting",
        ]
        await rebooted_and_installed(csms, 108, "InstallVerificationFailed")
        assert await firmware_version(csms) == before


async def test_TC_L_10_CS(csms: Csms, charger: Any, files: FileServer) -> None:
    """A second UpdateFirmware while the first downloads: AcceptedCanceled, and the second
    runs its course."""
    files.hold = threading.Event()
    async with charger(csms, speedup=SPEEDUP):
        await booted_with_maker_root(csms)
        assert (await csms.call(update(files, 110))).status == "Accepted"
        assert await statuses(csms, 110, 1) == ["Downloading"]
        assert (await csms.call(update(files, 111))).status == "AcceptedCanceled"
        canceled = len(csms.history)
        assert await statuses(csms, 111, 1) == ["Downloading"]
        files.hold.set()
        assert await statuses(csms, 111, 4) == [
            "Downloaded",
            "SignatureVerified",
            "Installing",
            "InstallRebooting",
        ]
        await rebooted_and_installed(csms, 111)
    later = [r.payload for r in csms.history[canceled:] if r.action == "FirmwareStatusNotification"]
    assert all(payload["requestId"] == 111 for payload in later)


async def install_maker_root(csms: Csms) -> None:
    request = call.InstallCertificate(
        certificate_type="ManufacturerRootCertificate", certificate=MAKER.pem
    )
    assert (await csms.call(request)).status == "Accepted"


async def test_TC_L_14_CS(csms: Csms, charger: StartCharger, files: FileServer) -> None:
    """AllowNewSessionsPendingFirmwareUpdate true: the install waits (InstallScheduled) for the
    transaction under way, a second one starts meanwhile, the install follows their end."""
    async with charger(csms, evses=2, speedup=SPEEDUP) as station:
        await booted(csms, 2)
        await install_maker_root(csms)
        await configure(csms, ("ChargingStation", "AllowNewSessionsPendingFirmwareUpdate", "true"))
        await energy_transfer_started(csms, station.evse(1), 1)
        assert (await csms.call(update(files, 114))).status == "Accepted"
        assert await statuses(csms, 114, 4) == [
            "Downloading",
            "Downloaded",
            "SignatureVerified",
            "InstallScheduled",
        ]
        await energy_transfer_started(csms, station.evse(2), 2)  # step 11: not held
        for evse in (1, 2):  # steps 12, 13: ParkingBayUnoccupied
            await station.evse(evse).unplug()
            await csms.expect("TransactionEvent", lambda p: p["eventType"] == "Ended")
        assert await statuses(csms, 114, 2) == ["Installing", "InstallRebooting"]
        await rebooted_and_installed(csms, 114)
    unavailable = [
        r.payload
        for r in csms.history
        if r.action == "StatusNotification" and r.payload["connectorStatus"] == "Unavailable"
    ]
    assert unavailable == []


async def test_TC_L_15_CS(csms: Csms, charger: StartCharger, files: FileServer) -> None:
    """AllowNewSessionsPendingFirmwareUpdate false: the idle connector is Unavailable at once
    (L01.FR.07), the install waits for the transaction's end (InstallScheduled), and after the
    install's reboot every connector is Available again."""
    async with charger(csms, evses=2, speedup=SPEEDUP) as station:
        await booted(csms, 2)
        await install_maker_root(csms)
        await configure(csms, ("ChargingStation", "AllowNewSessionsPendingFirmwareUpdate", "false"))
        await energy_transfer_started(csms, station.evse(1), 1)
        assert (await csms.call(update(files, 115))).status == "Accepted"
        assert await connector_statuses(csms, [(2, 1)]) == {(2, 1): "Unavailable"}  # step 3
        assert await statuses(csms, 115, 4) == [
            "Downloading",
            "Downloaded",
            "SignatureVerified",
            "InstallScheduled",
        ]
        assert station.evse(2).enabled is False  # disabled before the download began
        await station.evse(1).unplug()  # step 13: ParkingBayUnoccupied
        await csms.expect("TransactionEvent", lambda p: p["eventType"] == "Ended")
        assert await statuses(csms, 115, 2) == ["Installing", "InstallRebooting"]
        boot = await csms.expect("BootNotification")
        assert boot["reason"] == "FirmwareUpdate"
        assert await connector_statuses(csms, [(1, 1), (2, 1)]) == {
            (1, 1): "Available",
            (2, 1): "Available",
        }
        final = await csms.expect("FirmwareStatusNotification")
        assert final == {"status": "Installed", "requestId": 115}
        await csms.seen("SecurityEventNotification", 0, lambda p: p["type"] == "FirmwareUpdated")


async def test_TC_L_18_CS(csms: Csms, charger: Any, files: FileServer) -> None:
    """No signing certificate and no signature: not a secure update, Rejected."""
    async with charger(csms, speedup=SPEEDUP):
        await booted_with_maker_root(csms)
        answer = await csms.call(update(files, 118, signer=None))
        assert answer.status in ("Rejected", "InvalidCertificate")
    assert files.requests == []


async def test_firmware_status_triggered_while_idle(csms: Csms, charger: Any) -> None:
    """F06.FR.16: TriggerMessage(FirmwareStatusNotification) with no update: Idle, no id."""
    async with charger(csms):
        await csms.expect("StatusNotification")
        trigger = call.TriggerMessage(requested_message="FirmwareStatusNotification")
        assert (await csms.call(trigger)).status == "Accepted"
        assert await csms.expect("FirmwareStatusNotification") == {"status": "Idle"}
