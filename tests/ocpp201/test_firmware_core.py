"""The secure firmware update by hand (L01): images, signatures, signing certificates, and the
updater's course on simulated time, with every FirmwareStatusNotification in order."""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from evstack.generated.ocpp.v201.datatypes import FirmwareType
from evstack.generated.ocpp.v201.enums import FirmwareStatusEnumType as S
from evstack.generated.ocpp.v201.enums import UpdateFirmwareStatusEnumType as A
from evstack.generated.ocpp.v201.messages import UpdateFirmwareRequest
from evstack.generated.ocpp.values import DateTime
from evstack.modules.Ocpp201.certificate_store import CertificateError
from evstack.modules.Ocpp201.firmware import (
    FirmwareImageError,
    FirmwareUpdater,
    Io,
    check_signing_certificate,
    parse_image,
    verify_signature,
)
from evstack.modules.Ocpp201.security import SecurityEvent
from evstack.modules.Ocpp201.transfer import Downloaded, TransferError, TransferFailure

from .pki_kit import NOW, corrupt_image, firmware_image, firmware_signer, name, root

pytestmark = pytest.mark.timeout(30)

HOUR = datetime.timedelta(hours=1)
START = DateTime.from_datetime(NOW)  # OCPP's times have milliseconds at most
MAKER = root("manufacturer root")
SIGNER = firmware_signer(MAKER)
IMAGE = firmware_image("2.0.0")
URL = "http://files.example/fw.bin"


def test_an_image_is_read_and_checked() -> None:
    assert parse_image(IMAGE) == "2.0.0"
    for bad in (b"MZ not ours", corrupt_image("2.0.0"), IMAGE.replace(b"\n\n", b"\n", 1)):
        with pytest.raises(FirmwareImageError):
            parse_image(bad)


def test_an_ecdsa_signature_verifies_over_the_files_digest() -> None:
    digest = hashlib.sha256(IMAGE).digest()
    assert verify_signature(SIGNER.certificate, SIGNER.sign(IMAGE), digest)
    assert not verify_signature(SIGNER.certificate, SIGNER.sign(b"other"), digest)
    assert not verify_signature(SIGNER.certificate, "not base64!", digest)


def test_an_rsa_signature_verifies_with_pkcs1_or_pss() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = MAKER.issue(name("rsa signer"), key.public_key())
    digest = hashlib.sha256(IMAGE).digest()
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.MAX_LENGTH)
    for pad in (padding.PKCS1v15(), pss):
        signature = base64.b64encode(key.sign(IMAGE, pad, hashes.SHA256())).decode()
        assert verify_signature(certificate, signature, digest)


def test_a_signing_certificate_must_chain_to_a_manufacturer_root() -> None:
    assert check_signing_certificate(SIGNER.pem, [MAKER.certificate], NOW) == SIGNER.certificate
    with pytest.raises(CertificateError):
        check_signing_certificate(SIGNER.pem, [root("other").certificate], NOW)
    with pytest.raises(CertificateError):
        check_signing_certificate(SIGNER.pem, [MAKER.certificate], NOW + 400 * 24 * HOUR)


# -- the updater on simulated time -----------------------------------------------------------


def _store(destination: Path, data: bytes) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(data)


@dataclass
class FakeStation:
    """The updater's outside world: a clock that jumps on every sleep, recorded messages."""

    folder: Path
    now: datetime.datetime = START
    files: dict[str, bytes] = field(default_factory=dict)
    sent: list[tuple[S, int | None, datetime.datetime]] = field(default_factory=list)
    events: list[SecurityEvent] = field(default_factory=list)
    roots: list[x509.Certificate] = field(default_factory=lambda: [MAKER.certificate])
    reboots: int = 0
    versions: list[str] = field(default_factory=list)
    idle: asyncio.Event = field(default_factory=asyncio.Event)  # clear: a transaction runs
    held: list[bool] = field(default_factory=list)  # the connectors' hold, as it changed
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    downloading: asyncio.Event | None = None  # set: a download waits for it

    def io(self) -> Io:
        return Io(
            now=lambda: self.now,
            sleep=self._sleep,
            notify=self._notify,
            security_event=lambda event, info: self.events.append(event),
            download=self._download,
            manufacturer_roots=lambda: self.roots,
            busy=lambda: not self.idle.is_set(),
            idle=self._idle,
            hold=self._hold,
            reboot=self._reboot,
            installed=self.versions.append,
            spawn=self._spawn,
        )

    async def _sleep(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)
        await asyncio.sleep(0)

    async def _notify(self, status: S, request_id: int | None) -> None:
        self.sent.append((status, request_id, self.now))

    async def _download(self, url: str, destination: Path) -> Downloaded:
        if self.downloading is not None:
            await self.downloading.wait()
        if url not in self.files:
            raise TransferError(TransferFailure.NOT_FOUND, url)
        _store(destination, self.files[url])
        digest = hashlib.sha256(self.files[url]).digest()
        return Downloaded(destination, len(self.files[url]), digest)

    async def _idle(self) -> None:
        await self.idle.wait()

    async def _hold(self, held: bool) -> None:
        if held != (self.held[-1] if self.held else False):
            self.held.append(held)

    async def _reboot(self) -> None:
        self.reboots += 1

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self.tasks.append(task)
        return task

    async def settle(self) -> None:
        """Until every spawned task is done, those spawned on the way included."""
        while waiting := [task for task in self.tasks if not task.done()]:
            for task in waiting:
                try:
                    await task
                except asyncio.CancelledError:
                    continue

    def statuses(self) -> list[S]:
        return [status for status, _, _ in self.sent]


def request(
    request_id: int = 7,
    *,
    location: str = URL,
    retrieve: datetime.datetime = START - 2 * HOUR,
    install: datetime.datetime | None = START - 2 * HOUR,
    signed: bool = True,
    signature: str | None = None,
    retries: int | None = None,
    interval: int | None = None,
) -> UpdateFirmwareRequest:
    firmware = FirmwareType(
        location=location,
        retrieveDateTime=DateTime.from_datetime(retrieve),
        installDateTime=msgspec.UNSET if install is None else DateTime.from_datetime(install),
        signingCertificate=SIGNER.pem if signed else msgspec.UNSET,
        signature=(signature or SIGNER.sign(IMAGE)) if signed else msgspec.UNSET,
    )
    return UpdateFirmwareRequest(
        requestId=request_id,
        firmware=firmware,
        retries=msgspec.UNSET if retries is None else retries,
        retryInterval=msgspec.UNSET if interval is None else interval,
    )


@pytest.fixture
def station(tmp_path: Path) -> FakeStation:
    fake = FakeStation(tmp_path / "firmware", files={URL: IMAGE})
    fake.idle.set()
    return fake


async def test_an_update_runs_its_course_and_finishes_after_the_reboot(
    station: FakeStation,
) -> None:
    updater = FirmwareUpdater(station.folder, station.io())
    assert updater.request(request()) == (A.Accepted, None)
    await station.settle()
    assert station.statuses() == [
        S.Downloading,
        S.Downloaded,
        S.SignatureVerified,
        S.Installing,
        S.InstallRebooting,
    ]
    assert station.reboots == 1
    assert updater.status() == (S.InstallRebooting, 7)
    assert updater.request(request(8)) == (A.Rejected, "InstallInProgress")
    # The station comes back (a new process: the pending install is in the state folder).
    again = FirmwareUpdater(station.folder, station.io())
    await again.after_boot()
    assert station.statuses()[-1] is S.Installed
    assert station.sent[-1][1] == 7
    assert station.events == [SecurityEvent.FIRMWARE_UPDATED]
    assert station.versions == ["2.0.0"]
    assert again.status() == (S.Idle, None)
    await again.after_boot()  # a later boot has nothing to finish
    assert station.statuses()[-1] is S.Installed


async def test_scheduled_download_and_install_wait_for_their_times(station: FakeStation) -> None:
    updater = FirmwareUpdater(station.folder, station.io())
    updater.request(request(retrieve=START + HOUR, install=START + 3 * HOUR))
    await station.settle()
    assert [(status, at - START) for status, _, at in station.sent] == [
        (S.DownloadScheduled, datetime.timedelta(0)),
        (S.Downloading, HOUR),
        (S.Downloaded, HOUR),
        (S.SignatureVerified, HOUR),
        (S.InstallScheduled, HOUR),
        (S.Installing, 3 * HOUR),
        (S.InstallRebooting, 3 * HOUR),
    ]


async def test_the_install_waits_for_the_transactions_to_end(station: FakeStation) -> None:
    """L01.FR.06/07: InstallScheduled while a transaction runs, the idle connectors held from
    the request on (the install is due at once), let go after the install's reboot."""
    station.idle.clear()
    updater = FirmwareUpdater(station.folder, station.io())
    updater.request(request())
    for _ in range(20):
        await asyncio.sleep(0)
    assert station.statuses()[-2:] == [S.SignatureVerified, S.InstallScheduled]
    assert station.held == [True]
    station.idle.set()
    await station.settle()
    assert station.statuses()[-2:] == [S.Installing, S.InstallRebooting]
    assert station.held == [True]  # until the reboot
    await FirmwareUpdater(station.folder, station.io()).after_boot()
    assert station.held == [True, False]


async def test_a_scheduled_install_holds_the_connectors_only_when_it_is_due(
    station: FakeStation,
) -> None:
    station.idle.clear()
    updater = FirmwareUpdater(station.folder, station.io())
    updater.request(request(install=START + HOUR))
    for _ in range(20):
        await asyncio.sleep(0)
    assert station.statuses()[-1] is S.InstallScheduled
    assert station.held == [True]  # at the install's time, with the transaction still on
    assert station.now == START + HOUR


async def test_a_failed_update_lets_the_connectors_go(station: FakeStation) -> None:
    station.idle.clear()
    updater = FirmwareUpdater(station.folder, station.io())
    updater.request(request(signature=SIGNER.sign(b"something else")))
    await station.settle()
    assert station.statuses()[-1] is S.InvalidSignature
    assert station.held == [True, False]


async def test_an_invalid_signature_stops_the_update(station: FakeStation) -> None:
    updater = FirmwareUpdater(station.folder, station.io())
    updater.request(request(signature=SIGNER.sign(b"something else")))
    await station.settle()
    assert station.statuses() == [S.Downloading, S.Downloaded, S.InvalidSignature]
    assert station.events == [SecurityEvent.INVALID_FIRMWARE_SIGNATURE]
    assert station.reboots == 0
    assert updater.status() == (S.Idle, None)


async def test_a_failed_download_is_retried_then_reported(station: FakeStation) -> None:
    updater = FirmwareUpdater(station.folder, station.io())
    updater.request(request(location=URL + "_does_not_exist", retries=2, interval=30))
    await station.settle()
    assert [(status, at - START) for status, _, at in station.sent] == [
        (S.Downloading, datetime.timedelta(0)),
        (S.DownloadFailed, datetime.timedelta(seconds=60)),  # three attempts, 30 s apart
    ]


async def test_an_image_that_does_not_verify_fails_after_the_reboot(station: FakeStation) -> None:
    station.files[URL] = corrupt_image("2.0.0")
    updater = FirmwareUpdater(station.folder, station.io())
    signature = SIGNER.sign(station.files[URL])
    updater.request(request(signature=signature))
    await station.settle()
    await updater.after_boot()
    assert station.statuses()[-1] is S.InstallVerificationFailed
    assert station.events == []
    assert station.versions == []


async def test_a_second_update_cancels_a_download_under_way(station: FakeStation) -> None:
    station.downloading = asyncio.Event()
    updater = FirmwareUpdater(station.folder, station.io())
    updater.request(request(1))
    for _ in range(5):
        await asyncio.sleep(0)
    assert station.statuses() == [S.Downloading]
    assert updater.request(request(2)) == (A.AcceptedCanceled, None)
    station.downloading.set()
    await station.settle()
    assert [(status, request_id) for status, request_id, _ in station.sent] == [
        (S.Downloading, 1),
        (S.Downloading, 2),
        (S.Downloaded, 2),
        (S.SignatureVerified, 2),
        (S.Installing, 2),
        (S.InstallRebooting, 2),
    ]


async def test_requests_without_a_trusted_signature_are_refused(station: FakeStation) -> None:
    updater = FirmwareUpdater(station.folder, station.io())
    assert updater.request(request(signed=False)) == (A.Rejected, "MissingSignature")
    station.roots = [root("another maker").certificate]
    answer, reason = updater.request(request())
    assert answer is A.InvalidCertificate
    assert reason == "UntrustedChain"
    assert station.events == [SecurityEvent.INVALID_FIRMWARE_SIGNING_CERTIFICATE]
    assert station.tasks == []


async def test_the_status_a_trigger_reports(station: FakeStation) -> None:
    station.downloading = asyncio.Event()
    updater = FirmwareUpdater(station.folder, station.io())
    assert updater.status() == (S.Idle, None)
    updater.request(request(3))
    for _ in range(5):
        await asyncio.sleep(0)
    assert updater.status() == (S.Downloading, 3)
    station.downloading.set()
    await station.settle()
