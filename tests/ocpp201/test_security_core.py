"""The security rules by hand: the security log, the events' notifications, the password's
form, what an upgrade needs (A05), and the wait for a signed certificate (A02)."""

from __future__ import annotations

import datetime
from pathlib import Path

import msgspec
import pytest

from evstack.generated.ocpp.values import DateTime
from evstack.modules.Ocpp201.security import (
    CRITICAL,
    Renewal,
    SecurityEvent,
    SecurityLog,
    event_for_failure,
    notification,
    refuse_priority,
    valid_password,
)
from evstack.ocpp import v201
from evstack.ocpp.j import Failure
from evstack.runtime.state import open_database

pytestmark = pytest.mark.timeout(30)

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
SECOND = datetime.timedelta(seconds=1)


def test_the_security_log_keeps_events_in_order_and_survives_a_restart(tmp_path: Path) -> None:
    db = open_database(tmp_path / "station.db")
    log = SecurityLog(db)
    log.append(SecurityEvent.STARTUP_OF_THE_DEVICE, T0)
    log.append(SecurityEvent.INVALID_FIRMWARE_SIGNATURE, T0 + SECOND, "http://files/fw.bin")
    db.close()
    db = open_database(tmp_path / "station.db")
    log = SecurityLog(db)
    first, second = log.entries()
    assert (first.type, first.critical, first.tech_info) == ("StartupOfTheDevice", True, None)
    assert (second.type, second.critical) == ("InvalidFirmwareSignature", False)
    assert second.line() == "2026-01-01T00:00:01Z InvalidFirmwareSignature - http://files/fw.bin"
    assert [e.seq for e in log.entries(oldest=T0 + SECOND)] == [second.seq]
    assert [e.seq for e in log.entries(latest=T0)] == [first.seq]
    db.close()


def test_the_security_log_drops_the_oldest_when_full(tmp_path: Path) -> None:
    log = SecurityLog(open_database(tmp_path / "log.db"), max_entries=3)
    for second in range(5):
        log.append(SecurityEvent.RESET_OR_REBOOT, T0 + second * SECOND, str(second))
    assert [event.tech_info for event in log.entries()] == ["2", "3", "4"]


def test_the_critical_events_are_appendix_1s() -> None:
    assert SecurityEvent.INVALID_CSMS_CERTIFICATE in CRITICAL
    assert SecurityEvent.FIRMWARE_UPDATED in CRITICAL
    assert SecurityEvent.FAILED_TO_AUTHENTICATE_AT_CSMS not in CRITICAL
    assert SecurityEvent.INVALID_FIRMWARE_SIGNING_CERTIFICATE not in CRITICAL
    assert len(SecurityEvent) == 20


def test_a_notification_fits_the_schema() -> None:
    request = notification(
        "InvalidCsmsCertificate", T0 + 1234 * datetime.timedelta(microseconds=1), "x" * 300
    )
    v201.encode(request)  # checked as the CSMS checks it
    assert request.techInfo == "x" * 255
    assert request.timestamp == DateTime(2026, 1, 1, 0, 0, 0, 1000, tzinfo=datetime.UTC)
    assert notification("StartupOfTheDevice", T0).techInfo is msgspec.UNSET


def test_failures_that_are_security_events() -> None:
    assert event_for_failure(Failure.TLS_CERTIFICATE) is SecurityEvent.INVALID_CSMS_CERTIFICATE
    assert event_for_failure(Failure.TLS_VERSION) is SecurityEvent.INVALID_TLS_VERSION
    assert event_for_failure(Failure.UNAUTHORIZED) is (SecurityEvent.FAILED_TO_AUTHENTICATE_AT_CSMS)
    assert event_for_failure(Failure.UNREACHABLE) is None


@pytest.mark.parametrize(
    ("password", "valid"),
    [
        ("0123456789abcdef", True),  # 16
        ("0123456789abcde", False),  # 15
        ("A" * 40, True),
        ("A" * 41, False),
        ("pass*-_=:+|@.word0123", True),
        ("password with spaces!", False),
        ("pässwordpässword00", False),
    ],
)
def test_a_basic_auth_password_is_a_password_string(password: str, valid: bool) -> None:
    assert valid_password(password) is valid


def test_an_upgrade_needs_what_its_profile_needs() -> None:
    assert refuse_priority([1], csms_root=False, station_certificate=False) is None
    assert refuse_priority([2, 1], csms_root=False, station_certificate=False) == (
        "no valid CSMSRootCertificate is installed"
    )
    assert refuse_priority([2, 1], csms_root=True, station_certificate=False) is None
    assert refuse_priority([3], csms_root=True, station_certificate=False) == (
        "no valid ChargingStationCertificate is installed"
    )
    assert refuse_priority([3], csms_root=True, station_certificate=True) is None


def test_a_renewal_resends_with_a_doubled_wait_then_gives_up() -> None:
    renewal = Renewal()
    renewal.start()
    renewal.answered(True, now=100.0, wait_minimum=10.0)
    assert renewal.deadline == 110.0
    assert not renewal.expired(109.9, repeat_times=2)
    assert renewal.expired(110.0, repeat_times=2)  # first resend
    renewal.answered(True, now=111.0, wait_minimum=10.0)
    assert renewal.deadline == 131.0  # doubled
    assert renewal.expired(131.0, repeat_times=2)  # second resend
    renewal.answered(True, now=132.0, wait_minimum=10.0)
    assert renewal.deadline == 172.0
    assert not renewal.expired(172.0, repeat_times=2)  # none left: it ends
    assert renewal.deadline is None


def test_a_renewal_ends_when_signed_or_refused() -> None:
    renewal = Renewal()
    renewal.start()
    renewal.answered(False, now=0.0, wait_minimum=10.0)
    assert renewal.deadline is None
    renewal.start()
    renewal.answered(True, now=0.0, wait_minimum=10.0)
    renewal.signed()
    assert not renewal.expired(1000.0, repeat_times=5)
