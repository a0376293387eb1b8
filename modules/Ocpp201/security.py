"""The station's security rules (use cases A01 to A05) and its security log.

- Security events (Part 2, Appendix 1): each one the station raises is written to the security
  log, a bounded SQLite table in the state folder that GetLog(SecurityLog) uploads, and a
  SecurityEventNotification goes into the outbox, so that it reaches the CSMS however long the
  station is offline. The appendix obliges critical events to be pushed; the use cases want
  some of the others too (InvalidFirmwareSignature, L01.FR.03), so every raised event is.
- A01: a new SecurityCtrlr.BasicAuthPassword is a passwordString of 16 to 40 characters; the
  change is logged (without the password) and the new one is used from the next connection.
- A05: a NetworkConfigurationPriority that would need TLS is refused while no valid CSMS root
  (or, for profile 3, no valid station certificate) is installed (the certificate block vetoes
  it; provisioning refuses a network profile below the station's security profile).
- A02 and A03: the renewal of a station certificate waits CertSigningWaitMinimum for the CSMS's
  CertificateSigned after an accepted SignCertificate, then sends a new CSR, doubling the wait
  each time, at most CertSigningRepeatTimes times.
"""

from __future__ import annotations

import datetime
import enum
import logging
import re
import sqlite3
import weakref
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from evstack.generated.ocpp.v201.enums import AttributeEnumType, BootReasonEnumType
from evstack.generated.ocpp.v201.messages import SecurityEventNotificationRequest
from evstack.generated.ocpp.values import DateTime
from evstack.ocpp.j import ConnectError, Failure, NetworkProfile
from evstack.runtime.state import transaction

from .blocks import Block
from .device_model import InvalidValueError, VariableKey, ref
from .station import Station

__all__ = [
    "BLOCK",
    "CRITICAL",
    "LoggedEvent",
    "Renewal",
    "Security",
    "SecurityEvent",
    "SecurityLog",
    "after_answer",
    "event_for_failure",
    "notification",
    "refuse_priority",
    "valid_password",
]

log = logging.getLogger(__name__)


class SecurityEvent(enum.StrEnum):
    """Part 2, Appendix 1: the security events OCPP names (a station may add its own)."""

    FIRMWARE_UPDATED = "FirmwareUpdated"
    FAILED_TO_AUTHENTICATE_AT_CSMS = "FailedToAuthenticateAtCsms"
    CSMS_FAILED_TO_AUTHENTICATE = "CsmsFailedToAuthenticate"
    SETTING_SYSTEM_TIME = "SettingSystemTime"
    STARTUP_OF_THE_DEVICE = "StartupOfTheDevice"
    RESET_OR_REBOOT = "ResetOrReboot"
    SECURITY_LOG_WAS_CLEARED = "SecurityLogWasCleared"
    RECONFIGURATION_OF_SECURITY_PARAMETERS = "ReconfigurationOfSecurityParameters"
    MEMORY_EXHAUSTION = "MemoryExhaustion"
    INVALID_MESSAGES = "InvalidMessages"
    ATTEMPTED_REPLAY_ATTACKS = "AttemptedReplayAttacks"
    TAMPER_DETECTION_ACTIVATED = "TamperDetectionActivated"
    INVALID_FIRMWARE_SIGNATURE = "InvalidFirmwareSignature"
    INVALID_FIRMWARE_SIGNING_CERTIFICATE = "InvalidFirmwareSigningCertificate"
    INVALID_CSMS_CERTIFICATE = "InvalidCsmsCertificate"
    INVALID_CHARGING_STATION_CERTIFICATE = "InvalidChargingStationCertificate"
    INVALID_TLS_VERSION = "InvalidTLSVersion"
    INVALID_TLS_CIPHER_SUITE = "InvalidTLSCipherSuite"
    MAINTENANCE_LOGIN_ACCEPTED = "MaintenanceLoginAccepted"
    MAINTENANCE_LOGIN_FAILED = "MaintenanceLoginFailed"


E = SecurityEvent
CRITICAL = frozenset(
    {
        E.FIRMWARE_UPDATED,
        E.SETTING_SYSTEM_TIME,
        E.STARTUP_OF_THE_DEVICE,
        E.RESET_OR_REBOOT,
        E.SECURITY_LOG_WAS_CLEARED,
        E.MEMORY_EXHAUSTION,
        E.TAMPER_DETECTION_ACTIVATED,
        E.INVALID_CSMS_CERTIFICATE,
        E.INVALID_CHARGING_STATION_CERTIFICATE,
        E.INVALID_TLS_VERSION,
        E.INVALID_TLS_CIPHER_SUITE,
        E.MAINTENANCE_LOGIN_ACCEPTED,
        E.MAINTENANCE_LOGIN_FAILED,
    }
)
"""The events Appendix 1 marks critical: they SHALL be pushed to the CSMS."""

_FAILURE_EVENTS = {
    Failure.TLS_CERTIFICATE: E.INVALID_CSMS_CERTIFICATE,
    Failure.TLS_VERSION: E.INVALID_TLS_VERSION,
    Failure.UNAUTHORIZED: E.FAILED_TO_AUTHENTICATE_AT_CSMS,
}
_TECH_INFO = 255  # SecurityEventNotificationRequest.techInfo's maxLength
_TYPE = 50  # and type's


def event_for_failure(failure: Failure) -> SecurityEvent | None:
    """The security event a failed connection attempt is, if any."""
    return _FAILURE_EVENTS.get(failure)


def notification(
    event: str, timestamp: datetime.datetime, tech_info: str | None = None
) -> SecurityEventNotificationRequest:
    """The SecurityEventNotificationRequest of an event (techInfo cut to the schema's 255)."""
    return SecurityEventNotificationRequest(
        type=event[:_TYPE],
        timestamp=DateTime.from_datetime(timestamp),
        techInfo=msgspec.UNSET if not tech_info else tech_info[:_TECH_INFO],
    )


# -- the security log ----------------------------------------------------------------------


@dataclass(frozen=True)
class LoggedEvent:
    seq: int
    timestamp: datetime.datetime
    type: str
    tech_info: str | None
    critical: bool

    def line(self) -> str:
        stamp = DateTime.from_datetime(self.timestamp).rfc3339()
        flag = "critical" if self.critical else "-"
        return f"{stamp} {self.type} {flag} {self.tech_info or ''}".rstrip()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS security_log (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp REAL NOT NULL,
    type      TEXT NOT NULL,
    tech_info TEXT,
    critical  INTEGER NOT NULL
)
"""


class SecurityLog:
    """The security events of the station's life, oldest first, at most `max_entries`
    (the oldest go first when it is full: the log must never stop the station)."""

    def __init__(self, db: sqlite3.Connection, *, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._db = db  # the station's database: its table is `security_log`
        self._db.execute(_SCHEMA)

    def append(
        self, event: str, timestamp: datetime.datetime, tech_info: str | None = None
    ) -> LoggedEvent:
        critical = event in CRITICAL
        with transaction(self._db) as db:
            cursor = db.execute(
                "INSERT INTO security_log (timestamp, type, tech_info, critical)"
                " VALUES (?, ?, ?, ?)",
                (timestamp.timestamp(), event, tech_info, int(critical)),
            )
            seq = cursor.lastrowid
            assert seq is not None
            db.execute("DELETE FROM security_log WHERE seq <= ?", (seq - self.max_entries,))
        return LoggedEvent(seq, timestamp, event, tech_info, critical)

    def entries(
        self,
        oldest: datetime.datetime | None = None,
        latest: datetime.datetime | None = None,
    ) -> list[LoggedEvent]:
        """The events between `oldest` and `latest` (either open), oldest first."""
        low = float("-inf") if oldest is None else oldest.timestamp()
        high = float("inf") if latest is None else latest.timestamp()
        rows = self._db.execute(
            "SELECT seq, timestamp, type, tech_info, critical FROM security_log"
            " WHERE timestamp >= ? AND timestamp <= ? ORDER BY seq",
            (low, high),
        ).fetchall()
        return [
            LoggedEvent(
                seq, datetime.datetime.fromtimestamp(stamp, datetime.UTC), kind, info, bool(flag)
            )
            for seq, stamp, kind, info, flag in rows
        ]


# -- A01: the basic auth password ---------------------------------------------------------

# passwordString: 16 to 40 characters, alphanumerics and the special characters OCPP allows
# in identifierString.
_PASSWORD = re.compile(r"[A-Za-z0-9*\-_=:+|@.]{16,40}")


def valid_password(text: str) -> bool:
    """A01.FR.02-ish: may `text` be SecurityCtrlr.BasicAuthPassword?"""
    return _PASSWORD.fullmatch(text) is not None


# -- A05: what an upgrade needs --------------------------------------------------------------


def refuse_priority(
    profiles: Iterable[int],
    *,
    csms_root: bool,
    station_certificate: bool,
) -> str | None:
    """Why a NetworkConfigurationPriority whose slots have security `profiles` must be refused
    (None: it need not be): TLS needs a valid CSMS root installed (A05.FR.02), security
    profile 3 a valid station certificate too (A05.FR.03)."""
    wanted = set(profiles)
    if wanted & {2, 3} and not csms_root:
        return "no valid CSMSRootCertificate is installed"
    if 3 in wanted and not station_certificate:
        return "no valid ChargingStationCertificate is installed"
    return None


# -- A02 and A03: waiting for the signed certificate ----------------------------------------


class RenewalState(enum.Enum):
    IDLE = "idle"
    REQUESTING = "requesting"  # a SignCertificateRequest is on its way
    WAITING = "waiting"  # accepted: the CSMS's CertificateSigned is due


class Renewal:
    """The timer of one certificate renewal (no I/O: the station sends what it is told)."""

    def __init__(self) -> None:
        self.state = RenewalState.IDLE
        self.deadline: float | None = None
        self.resends = 0

    def start(self) -> None:
        """A CSR goes out (TriggerMessage SignChargingStationCertificate, or an expiring
        certificate): a fresh renewal."""
        self.state, self.deadline, self.resends = RenewalState.REQUESTING, None, 0

    def answered(self, accepted: bool, now: float, wait_minimum: float) -> None:
        """The CSMS answered the SignCertificateRequest (not accepted: the renewal is over)."""
        if not accepted:
            self.state, self.deadline = RenewalState.IDLE, None
            return
        self.state = RenewalState.WAITING
        self.deadline = now + wait_minimum * (1 << self.resends)

    def signed(self) -> None:
        """CertificateSigned was accepted: done."""
        self.state, self.deadline = RenewalState.IDLE, None

    def expired(self, now: float, repeat_times: int) -> bool:
        """At `now`: True when a new CSR is due (the CSMS sent nothing in time and resends are
        left); a renewal that has none left ends."""
        if self.state is not RenewalState.WAITING or self.deadline is None or now < self.deadline:
            return False
        if self.resends >= repeat_times:
            self.state, self.deadline = RenewalState.IDLE, None
            return False
        self.resends += 1
        self.state, self.deadline = RenewalState.REQUESTING, None
        return True


# -- the block ----------------------------------------------------------------------------

PASSWORD = ref("SecurityCtrlr", "BasicAuthPassword")
SECURITY_PROFILE = ref("SecurityCtrlr", "SecurityProfile")
_BLOCKS: weakref.WeakKeyDictionary[Station, Security] = weakref.WeakKeyDictionary()


async def after_answer(station: Station, work: Coroutine[Any, Any, None]) -> None:
    """Run `work` once the CSMS's requests in hand, the one being served included, have been
    answered: what a request starts must not overtake its response on the wire."""
    try:
        await station.endpoint.join()
    except BaseException:
        work.close()  # cancelled before it began
        raise
    await work


class Security(Block):
    """The security log and events, and the basic auth password (see the module's doc)."""

    def __init__(self, station: Station) -> None:
        super().__init__(station)
        _BLOCKS[station] = self
        self.security_log = SecurityLog(station.db)
        self._rebooted: BootReasonEnumType | None = None  # the reason of the last reboot
        self._booted = False
        model = station.model
        model.veto(PASSWORD, self._check_password)
        model.watch(PASSWORD, self._password_changed)
        model.watch(SECURITY_PROFILE, self._profile_changed)
        station.on_registered(self._registered)
        station.on_rebooting(self._rebooting)
        station.on_connect_failed(self._connect_failed)

    @staticmethod
    def of(station: Station) -> Security:
        """The station's security block (the other blocks raise their events through it)."""
        return _BLOCKS[station]

    def raise_event(self, event: SecurityEvent, tech_info: str | None = None) -> None:
        """Log `event` and owe the CSMS its SecurityEventNotification."""
        now = self.station.now()
        logged = self.security_log.append(event, now, tech_info)
        log.info("security event %s: %s", event, tech_info or "")
        self.station.enqueue(notification(logged.type, now, tech_info))

    # -- device model -------------------------------------------------------------------------

    @staticmethod
    def _check_password(value: str) -> None:
        if not valid_password(value):
            raise InvalidValueError(
                "a passwordString has 16 to 40 characters of [A-Za-z0-9*-_=:+|@.]"
            )

    def _password_changed(self, key: VariableKey, attribute: AttributeEnumType, value: str) -> None:
        """A01: logged without the password; the link takes it for the next connection, and
        reconnects once the CSMS has its answer, so the new one is in use at once."""
        self.raise_event(E.RECONFIGURATION_OF_SECURITY_PARAMETERS, "BasicAuthPassword changed")
        link = self.station.link
        if link is not None and self.station.online.is_set():
            self.station.start_task(after_answer(self.station, link.restart()))

    def _profile_changed(self, key: VariableKey, attribute: AttributeEnumType, value: str) -> None:
        self.raise_event(E.RECONFIGURATION_OF_SECURITY_PARAMETERS, f"SecurityProfile {value}")

    # -- the station's life -------------------------------------------------------------------

    def _rebooting(self, reason: BootReasonEnumType) -> None:
        self._rebooted = reason

    def _registered(self) -> None:
        """The Booted state's event, once the CSMS has accepted the boot: StartupOfTheDevice
        for this process's first, ResetOrReboot (and why) for one after a reboot."""
        if self._rebooted is not None:
            self.raise_event(E.RESET_OR_REBOOT, str(self._rebooted))
        elif not self._booted:
            self.raise_event(E.STARTUP_OF_THE_DEVICE)
        self._booted, self._rebooted = True, None

    def _connect_failed(self, profile: NetworkProfile, failure: ConnectError) -> None:
        event = event_for_failure(failure.failure)
        if event is not None:
            self.raise_event(event, f"slot {profile.slot}: {failure.detail}")


BLOCK = Security
