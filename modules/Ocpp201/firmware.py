"""Secure firmware updates (use case L01): UpdateFirmware, the download, the signature, a
simulated install and the reboot it needs, and every FirmwareStatusNotification on the way.

What the station does with an UpdateFirmwareRequest:

1. Refuse one without a signing certificate or signature (Rejected: a secure update needs both,
   TC_L_18), and one whose signing certificate does not chain to an installed
   ManufacturerRootCertificate or is out of its period (InvalidCertificate, and the security
   event InvalidFirmwareSigningCertificate, L01.FR.02).
2. An update already under way is cancelled while it is still scheduled or downloading
   (AcceptedCanceled, L01.FR.24); from verification on it runs to its end and the new request
   is Rejected.
3. At retrieveDateTime (DownloadScheduled until then), download from `location` over HTTP(S),
   1 + `retries` attempts `retryInterval` apart: Downloading, then Downloaded or, after the last
   failed attempt, DownloadFailed.
4. Verify `signature` (base64; ECDSA or RSA PKCS#1 v1.5/PSS over SHA-256 of the file) with the
   signing certificate's key: SignatureVerified, or InvalidSignature and the security event
   InvalidFirmwareSignature (L01.FR.03).
5. At installDateTime (InstallScheduled until then, or while a transaction runs), once no
   transaction runs (a reboot would cut it short, L01.FR.06): Installing, InstallRebooting, then
   the station reboots (BootNotification with reason FirmwareUpdate). Unless
   ChargingStation.AllowNewSessionsPendingFirmwareUpdate is true, the connectors without a
   transaction are held Unavailable while the install waits (L01.FR.07), from the request on
   when the install is due at once, until the reboot. The pending install is kept in the state
   folder, so a real restart finishes it as well as the simulated reboot.
6. After the reboot, the image is checked and "installed": Installed and the security event
   FirmwareUpdated (critical), or InstallVerificationFailed.

The simulated image is text-headed: `EVSTACK-FIRMWARE 1`, then `version: <v>`, `sha256: <hex of
the payload>`, a blank line and the payload. An image that does not parse, or whose payload does
not match its digest, fails the install's verification. The installed version becomes the
station's firmware version (BootNotification's firmwareVersion).

PublishFirmware (L03, local controllers serving firmware to other stations) is not supported:
the core answers NotSupported for it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import enum
import hashlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from evstack.generated.ocpp.v201.datatypes import StatusInfoType
from evstack.generated.ocpp.v201.enums import (
    BootReasonEnumType,
    FirmwareStatusEnumType,
    InstallCertificateUseEnumType,
    MessageTriggerEnumType,
    UpdateFirmwareStatusEnumType,
)
from evstack.generated.ocpp.v201.messages import (
    FirmwareStatusNotificationRequest,
    UpdateFirmwareRequest,
    UpdateFirmwareResponse,
)
from evstack.generated.types.evse_manager import SessionEvent, SessionEventEnum
from evstack.ocpp.errors import OcppError
from evstack.ocpp.j import CallTimeoutError, NotConnectedError

from .availability import Availability
from .blocks import Block
from .certificate_store import CertificateError, load_certificates, verify_chain, write_atomic
from .certificates import Certificates
from .device_model import ref
from .security import Security, SecurityEvent, after_answer
from .station import Station
from .transfer import Downloaded, TransferError, download

__all__ = [
    "BLOCK",
    "DEFAULT_RETRIES",
    "DEFAULT_RETRY_INTERVAL_S",
    "Firmware",
    "FirmwareImageError",
    "FirmwareUpdater",
    "Io",
    "Pending",
    "Phase",
    "check_signing_certificate",
    "parse_image",
    "verify_signature",
]

log = logging.getLogger(__name__)

Status = FirmwareStatusEnumType
Answer = UpdateFirmwareStatusEnumType

DEFAULT_RETRIES = 2  # when the CSMS leaves it to the station
DEFAULT_RETRY_INTERVAL_S = 60.0
_MAGIC = b"EVSTACK-FIRMWARE 1\n"


# -- what can be checked without I/O --------------------------------------------------------


class FirmwareImageError(ValueError):
    """A file that is not an installable firmware image."""


def parse_image(data: bytes) -> str:
    """The version of a simulated firmware image; FirmwareImageError if it is not one."""
    if not data.startswith(_MAGIC):
        raise FirmwareImageError("not an evstack firmware image")
    head, separator, payload = data[len(_MAGIC) :].partition(b"\n\n")
    if not separator:
        raise FirmwareImageError("the image's header does not end")
    fields = {}
    for line in head.decode("utf-8", "replace").splitlines():
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    version, digest = fields.get("version"), fields.get("sha256")
    if not version or not digest:
        raise FirmwareImageError("the image names no version or digest")
    if hashlib.sha256(payload).hexdigest() != digest.lower():
        raise FirmwareImageError("the image's payload does not match its digest")
    return version


def _read_image(path: Path) -> str:
    return parse_image(path.read_bytes())


def check_signing_certificate(
    pem: str, roots: list[x509.Certificate], now: datetime.datetime
) -> x509.Certificate:
    """The firmware signing certificate of `pem`, if it chains to one of the manufacturer
    `roots` and is within its period; CertificateError otherwise."""
    chain = load_certificates(pem)
    verify_chain(chain, roots, now)
    return chain[0]


def verify_signature(certificate: x509.Certificate, signature: str, sha256: bytes) -> bool:
    """Whether `signature` (base64) signs the file whose SHA-256 is `sha256`."""
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    key = certificate.public_key()
    prehashed = utils.Prehashed(hashes.SHA256())
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(raw, sha256, ec.ECDSA(prehashed))
            return True
        if isinstance(key, rsa.RSAPublicKey):
            try:
                key.verify(raw, sha256, padding.PKCS1v15(), prehashed)
            except InvalidSignature:
                pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO)
                key.verify(raw, sha256, pss, prehashed)
            return True
    except InvalidSignature:
        return False
    return False  # a key type firmware is not signed with


# -- the update ------------------------------------------------------------------------------


class Phase(enum.Enum):
    IDLE = "idle"
    SCHEDULED = "scheduled"  # waiting for retrieveDateTime
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"  # from here on the update runs to its end
    INSTALLING = "installing"


class Pending(msgspec.Struct):
    """An install that waits for the reboot, kept in the state folder."""

    request_id: int
    image: str  # the downloaded file


@dataclass(frozen=True)
class Io:
    """What the updater does outside itself (the station's seam; fakes in tests)."""

    now: Callable[[], datetime.datetime]  # the station's UTC time
    sleep: Callable[[float], Awaitable[None]]  # on the module's clock
    notify: Callable[[Status, int | None], Awaitable[None]]  # a FirmwareStatusNotification
    security_event: Callable[[SecurityEvent, str | None], None]
    download: Callable[[str, Path], Awaitable[Downloaded]]
    manufacturer_roots: Callable[[], list[x509.Certificate]]
    busy: Callable[[], bool]  # a transaction runs
    idle: Callable[[], Awaitable[None]]  # returns once no transaction runs
    hold: Callable[
        [bool], Coroutine[Any, Any, None]
    ]  # hold idle connectors Unavailable (L01.FR.07)
    reboot: Callable[[], Awaitable[None]]  # BootNotification(FirmwareUpdate) follows
    installed: Callable[[str], None]  # the new firmware version
    spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]  # after the answer


class FirmwareUpdater:
    """L01 for one station: at most one update at a time (see the module's doc)."""

    def __init__(self, folder: Path, io: Io) -> None:
        self.folder = folder
        self.io = io
        self.phase = Phase.IDLE
        self.last: tuple[Status, int | None] = (Status.Idle, None)  # for TriggerMessage
        self._task: asyncio.Task[None] | None = None
        self._pending_file = folder / "pending.json"

    # -- the CSMS's requests ----------------------------------------------------------------

    def request(self, request: UpdateFirmwareRequest) -> tuple[Answer, str | None]:
        """The answer to `request` and why (a reasonCode); an accepted update is spawned."""
        firmware = request.firmware
        if isinstance(firmware.signingCertificate, msgspec.UnsetType) or isinstance(
            firmware.signature, msgspec.UnsetType
        ):
            return Answer.Rejected, "MissingSignature"
        try:
            certificate = check_signing_certificate(
                firmware.signingCertificate, self.io.manufacturer_roots(), self.io.now()
            )
        except CertificateError as error:
            self.io.security_event(SecurityEvent.INVALID_FIRMWARE_SIGNING_CERTIFICATE, str(error))
            return Answer.InvalidCertificate, error.reason
        if self.phase in (Phase.VERIFYING, Phase.INSTALLING) or self._pending_file.exists():
            return Answer.Rejected, "InstallInProgress"
        answer = Answer.Accepted
        if self._task is not None and not self._task.done():
            self._task.cancel()  # L01.FR.24: scheduled or downloading, it gives way
            answer = Answer.AcceptedCanceled
        self.phase = Phase.SCHEDULED
        self._task = self.io.spawn(self._update(request, certificate))
        return answer, None

    def status(self) -> tuple[Status, int | None]:
        """What TriggerMessage(FirmwareStatusNotification) reports: the last status of an
        update under way, else Idle (without a request id, F06.FR.16)."""
        if self.phase is Phase.IDLE and not self._pending_file.exists():
            return Status.Idle, None
        return self.last

    # -- the update's course ----------------------------------------------------------------

    async def _notify(self, status: Status, request_id: int) -> None:
        self.last = (status, request_id)
        await self.io.notify(status, request_id)

    async def _until(self, when: datetime.datetime | None) -> bool:
        """Wait until `when` (station time); False if there was nothing to wait for."""
        if when is None:
            return False
        delay = (when - self.io.now()).total_seconds()
        if delay <= 0:
            return False
        await self.io.sleep(delay)
        return True

    async def _update(self, request: UpdateFirmwareRequest, certificate: x509.Certificate) -> None:
        firmware, request_id = request.firmware, request.requestId
        install_at = (
            None
            if isinstance(firmware.installDateTime, msgspec.UnsetType)
            else firmware.installDateTime
        )
        try:
            # An install due at once will wait for the transactions under way: no new ones
            # (this also lets go a hold an update this one cancelled had taken).
            now = self.io.now()
            due = firmware.retrieveDateTime <= now and (install_at is None or install_at <= now)
            await self.io.hold(due and self.io.busy())
            if firmware.retrieveDateTime > self.io.now():
                await self._notify(Status.DownloadScheduled, request_id)
                await self._until(firmware.retrieveDateTime)
            self.phase = Phase.DOWNLOADING
            downloaded = await self._download(request)
            if downloaded is None:
                await self._notify(Status.DownloadFailed, request_id)
                return
            self.phase = Phase.VERIFYING
            await self._notify(Status.Downloaded, request_id)
            assert isinstance(firmware.signature, str)  # checked by `request`
            if not verify_signature(certificate, firmware.signature, downloaded.sha256):
                await self._notify(Status.InvalidSignature, request_id)
                self.io.security_event(SecurityEvent.INVALID_FIRMWARE_SIGNATURE, firmware.location)
                return
            await self._notify(Status.SignatureVerified, request_id)
            scheduled = install_at is not None and install_at > self.io.now()
            if scheduled or self.io.busy():
                await self._notify(Status.InstallScheduled, request_id)
            if scheduled:
                await self._until(install_at)
            if self.io.busy():
                await self.io.hold(True)
                await self.io.idle()
            self.phase = Phase.INSTALLING
            await self._notify(Status.Installing, request_id)
            pending = Pending(request_id, str(downloaded.path))
            write_atomic(self._pending_file, msgspec.json.encode(pending))
            await self._notify(Status.InstallRebooting, request_id)
            await self.io.reboot()
        finally:
            if self._task is asyncio.current_task() and self.phase is not Phase.INSTALLING:
                self.phase = Phase.IDLE
                self.io.spawn(self.io.hold(False))  # it failed or was cancelled

    async def _download(self, request: UpdateFirmwareRequest) -> Downloaded | None:
        retries = request.retries if isinstance(request.retries, int) else DEFAULT_RETRIES
        interval = (
            request.retryInterval
            if isinstance(request.retryInterval, int)
            else DEFAULT_RETRY_INTERVAL_S
        )
        await self._notify(Status.Downloading, request.requestId)
        for attempt in range(1 + max(0, retries)):
            if attempt:
                await self.io.sleep(interval)
            try:
                return await self.io.download(request.firmware.location, self.folder / "image")
            except TransferError as error:
                log.warning("firmware download %d failed: %s", attempt + 1, error)
        return None

    async def after_boot(self) -> None:
        """The station booted (BootNotification accepted): finish an install that waited for
        it. Installed and FirmwareUpdated, or InstallVerificationFailed."""
        try:
            pending = msgspec.json.decode(self._pending_file.read_bytes(), type=Pending)
        except (OSError, msgspec.DecodeError):
            return
        await self.io.hold(False)  # the connectors are free again after the install's reboot
        try:
            version = await asyncio.to_thread(_read_image, Path(pending.image))
        except (OSError, FirmwareImageError) as error:
            log.error("the firmware image does not verify: %s", error)
            status = Status.InstallVerificationFailed
        else:
            self.io.installed(version)
            self.io.security_event(SecurityEvent.FIRMWARE_UPDATED, f"version {version}")
            status = Status.Installed
        self._pending_file.unlink(missing_ok=True)
        self.phase = Phase.IDLE
        await self._notify(status, pending.request_id)


# -- the block ----------------------------------------------------------------------------

FIRMWARE_VERSION = ref("Controller", "FirmwareVersion")
ALLOW_NEW_SESSIONS = ref("ChargingStation", "AllowNewSessionsPendingFirmwareUpdate")


def _info(reason: str | None) -> StatusInfoType | msgspec.UnsetType:
    return msgspec.UNSET if reason is None else StatusInfoType(reasonCode=reason[:20])


def _status(status: Status, request_id: int | None) -> FirmwareStatusNotificationRequest:
    return FirmwareStatusNotificationRequest(
        status=status, requestId=msgspec.UNSET if request_id is None else request_id
    )


class Firmware(Block):
    """UpdateFirmware, TriggerMessage(FirmwareStatusNotification) and the install's reboot."""

    def __init__(self, station: Station) -> None:
        super().__init__(station)
        self._charging: set[int] = set()  # EVSEs with a transaction
        self._idle = asyncio.Event()
        self._idle.set()
        self.updater = FirmwareUpdater(
            station.state_dir / "firmware",
            Io(
                now=station.now,
                sleep=station.clock.sleep,
                notify=self._notify,
                security_event=lambda event, info: Security.of(station).raise_event(event, info),
                download=self._download,
                manufacturer_roots=lambda: Certificates.of(station).store.roots(
                    InstallCertificateUseEnumType.ManufacturerRootCertificate
                ),
                busy=lambda: bool(self._charging),
                idle=self._no_transaction,
                hold=self._hold,
                reboot=self._reboot,
                installed=self._installed,
                spawn=lambda work: station.start_task(after_answer(station, work)),
            ),
        )
        station.route("UpdateFirmware", self._update)
        station.register_trigger(MessageTriggerEnumType.FirmwareStatusNotification, self._trigger)
        station.on_registered(self.updater.after_boot)
        station.on_session_event(self._session_event)

    async def _update(self, request: UpdateFirmwareRequest) -> UpdateFirmwareResponse:
        answer, reason = self.updater.request(request)
        return UpdateFirmwareResponse(status=answer, statusInfo=_info(reason))

    def _trigger(self, evse: int | None, connector: int | None) -> Coroutine[Any, Any, None]:
        return self._send_status()

    async def _notify(self, status: Status, request_id: int | None) -> None:
        """An update's FirmwareStatusNotification is owed, like the security events it goes
        with: through the outbox, it reaches the CSMS after a lost connection or a reboot,
        and in order with them (InvalidSignature before InvalidFirmwareSignature, FirmwareUpdated
        before Installed)."""
        self.station.enqueue(_status(status, request_id))

    async def _send_status(self) -> None:
        """TriggerMessage's answer goes at once (also while Pending, B02)."""
        status, request_id = self.updater.status()
        try:
            await self.station.call(_status(status, request_id))
        except (NotConnectedError, CallTimeoutError, OcppError) as error:
            log.warning("FirmwareStatusNotification %s not delivered: %s", status, error)

    async def _download(self, url: str, destination: Path) -> Downloaded:
        return await download(url, destination, tls=Certificates.of(self.station).file_tls)

    async def _reboot(self) -> None:
        """The install's reboot: a new connection and BootNotification(FirmwareUpdate)."""
        await self.station.reboot(BootReasonEnumType.FirmwareUpdate)

    def _installed(self, version: str) -> None:
        if self.station.model.spec(FIRMWARE_VERSION) is not None:
            self.station.model.set(FIRMWARE_VERSION, version)

    async def _hold(self, held: bool) -> None:
        model = self.station.model
        if (
            held
            and model.spec(ALLOW_NEW_SESSIONS) is not None
            and model.get_bool(ALLOW_NEW_SESSIONS)
        ):
            held = False
        await Availability.of(self.station).hold(held)

    async def _no_transaction(self) -> None:
        await self._idle.wait()

    def _session_event(self, evse_id: int, event: SessionEvent) -> None:
        """Which EVSEs have a transaction: an install waits until none has (L01.FR.06)."""
        if event.event is SessionEventEnum.TransactionStarted:
            self._charging.add(evse_id)
        elif event.event in (
            SessionEventEnum.TransactionFinished,
            SessionEventEnum.SessionFinished,
        ):
            self._charging.discard(evse_id)
        if self._charging:
            self._idle.clear()
        else:
            self._idle.set()


BLOCK = Firmware
