"""Diagnostics by hand (N01, N09, N10): log uploads with their retries and notifications on
simulated time, the recent-log buffer, customer information in 512-character messages; and
DataTransfer's answers (P01)."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest

from evstack.generated.ocpp.v201.datatypes import IdTokenType, LogParametersType
from evstack.generated.ocpp.v201.enums import (
    CustomerInformationStatusEnumType,
    DataTransferStatusEnumType,
    IdTokenEnumType,
    LogEnumType,
    LogStatusEnumType,
)
from evstack.generated.ocpp.v201.enums import UploadLogStatusEnumType as U
from evstack.generated.ocpp.v201.messages import (
    CustomerInformationRequest,
    DataTransferRequest,
    GetLogRequest,
)
from evstack.generated.ocpp.values import DateTime
from evstack.modules.Ocpp201.data_transfer import DataTransfer
from evstack.modules.Ocpp201.diagnostics import (
    Customer,
    Logs,
    LogsIo,
    RecentLog,
    customer_information,
    customer_notifications,
)
from evstack.modules.Ocpp201.security import SecurityEvent, SecurityLog
from evstack.modules.Ocpp201.transfer import TransferError, TransferFailure
from evstack.ocpp import v201
from evstack.runtime.state import open_database

pytestmark = pytest.mark.timeout(30)

START = DateTime(2026, 1, 1, tzinfo=datetime.UTC)


@dataclass
class FakeStation:
    security: SecurityLog
    now: datetime.datetime = START
    sent: list[tuple[U, int | None, datetime.datetime]] = field(default_factory=list)
    uploads: list[tuple[str, str, bytes]] = field(default_factory=list)
    failures: list[TransferFailure] = field(default_factory=list)  # the next uploads fail so
    recent: RecentLog = field(default_factory=RecentLog)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    hold: asyncio.Event | None = None  # set: an upload waits for it

    def io(self) -> LogsIo:
        return LogsIo(
            station_id="CS001",
            now=lambda: self.now,
            sleep=self._sleep,
            notify=self._notify,
            upload=self._upload,
            diagnostics=self.recent,
            security=self.security,
            spawn=self._spawn,
        )

    async def _sleep(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)
        await asyncio.sleep(0)

    async def _notify(self, status: U, request_id: int | None) -> None:
        self.sent.append((status, request_id, self.now))

    async def _upload(self, url: str, filename: str, content: bytes) -> None:
        if self.hold is not None:
            await self.hold.wait()
        if self.failures:
            raise TransferError(self.failures.pop(0), url)
        self.uploads.append((url, filename, content))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self.tasks.append(task)
        return task

    async def settle(self) -> None:
        for task in list(self.tasks):
            try:
                await task
            except asyncio.CancelledError:
                continue


@pytest.fixture
def station(tmp_path: Path) -> FakeStation:
    return FakeStation(SecurityLog(open_database(tmp_path / "station.db")))


def get_log(
    request_id: int = 5,
    log_type: LogEnumType = LogEnumType.DiagnosticsLog,
    *,
    retries: int | None = None,
    interval: int | None = None,
    oldest: datetime.datetime | None = None,
) -> GetLogRequest:
    return GetLogRequest(
        log=LogParametersType(
            remoteLocation="http://logs.example/upload/",
            oldestTimestamp=msgspec.UNSET if oldest is None else DateTime.from_datetime(oldest),
        ),
        logType=log_type,
        requestId=request_id,
        retries=msgspec.UNSET if retries is None else retries,
        retryInterval=msgspec.UNSET if interval is None else interval,
    )


async def test_a_security_log_is_uploaded_with_its_notifications(station: FakeStation) -> None:
    station.security.append(SecurityEvent.STARTUP_OF_THE_DEVICE, START)
    station.security.append(SecurityEvent.INVALID_TLS_VERSION, START, "slot 1")
    logs = Logs(station.io())
    answer, filename = logs.request(get_log(log_type=LogEnumType.SecurityLog))
    assert (answer, filename) == (
        LogStatusEnumType.Accepted,
        "CS001-SecurityLog-20260101T000000Z.log",
    )
    await station.settle()
    assert [(status, request_id) for status, request_id, _ in station.sent] == [
        (U.Uploading, 5),
        (U.Uploaded, 5),
    ]
    ((url, name, content),) = station.uploads
    assert (url, name) == ("http://logs.example/upload/", filename)
    lines = content.decode().splitlines()
    assert lines[0] == "# CS001 SecurityLog as of 2026-01-01T00:00:00Z: 2 entries"
    assert lines[1:] == [
        "2026-01-01T00:00:00Z StartupOfTheDevice critical",
        "2026-01-01T00:00:00Z InvalidTLSVersion critical slot 1",
    ]
    assert logs.status() == (U.Idle, None)


async def test_a_failing_upload_is_retried_retries_times(station: FakeStation) -> None:
    """TC_N_26: from the first Uploading to the last UploadFailure, retries x retryInterval."""
    station.failures = [TransferFailure.NETWORK] * 4
    logs = Logs(station.io())
    logs.request(get_log(retries=3, interval=20))
    await station.settle()
    assert [(status, at - START) for status, _, at in station.sent] == [
        (status, datetime.timedelta(seconds=seconds))
        for seconds in (0, 20, 40, 60)
        for status in (U.Uploading, U.UploadFailure)
    ]


async def test_a_refused_upload_ends_at_once(station: FakeStation) -> None:
    for failure, status in (
        (TransferFailure.PERMISSION, U.PermissionDenied),
        (TransferFailure.UNSUPPORTED, U.NotSupportedOperation),
    ):
        station.sent.clear()
        station.failures = [failure]
        logs = Logs(station.io())
        logs.request(get_log(retries=3, interval=20))
        await station.settle()
        assert [s for s, _, _ in station.sent] == [U.Uploading, status]


async def test_a_second_request_cancels_the_first_upload(station: FakeStation) -> None:
    station.hold = asyncio.Event()
    logs = Logs(station.io())
    logs.request(get_log(1))
    for _ in range(5):
        await asyncio.sleep(0)
    assert logs.status() == (U.Uploading, 1)
    answer, _ = logs.request(get_log(2))
    assert answer is LogStatusEnumType.AcceptedCanceled
    station.hold.set()
    await station.settle()
    assert [(status, request_id) for status, request_id, _ in station.sent] == [
        (U.Uploading, 1),
        (U.AcceptedCanceled, 1),
        (U.Uploading, 2),
        (U.Uploaded, 2),
    ]
    assert len(station.uploads) == 1


async def test_the_diagnostics_log_is_the_recent_records(station: FakeStation) -> None:
    logger = logging.getLogger("tests.ocpp201.diagnostics")
    logger.addHandler(station.recent)
    try:
        logger.warning("before")
        station.now = datetime.datetime.now(datetime.UTC)
        logger.warning("the board said %s", "hello")
    finally:
        logger.removeHandler(station.recent)
    logs = Logs(station.io())
    logs.request(get_log())
    await station.settle()
    text = station.uploads[0][2].decode()
    assert "WARNING tests.ocpp201.diagnostics: the board said hello" in text
    lines = station.recent.lines(datetime.datetime.now(datetime.UTC), None)
    assert lines == []


# -- customer information --------------------------------------------------------------------


@dataclass
class Cache:
    """A customer data source, as the authorization cache is one."""

    tokens: dict[str, str]

    def about(self, customer: Customer) -> list[str]:
        token = customer.id_token
        known = token is not None and token.idToken in self.tokens
        return [f"cached: {self.tokens[token.idToken]}"] if known and token else []

    def forget(self, customer: Customer) -> list[str]:
        token = customer.id_token
        if token is None or token.idToken not in self.tokens:
            return []
        return [f"{token.idToken}: {self.tokens.pop(token.idToken)}"]


def customer(
    report: bool, clear: bool, token: str | None = "AABBCCDD"
) -> CustomerInformationRequest:
    id_token = (
        msgspec.UNSET
        if token is None
        else IdTokenType(idToken=token, type=IdTokenEnumType.ISO14443)
    )
    return CustomerInformationRequest(requestId=9, report=report, clear=clear, idToken=id_token)


def test_customer_information_reports_then_clears() -> None:
    cache = Cache({"AABBCCDD": "Accepted until 2026-02-01"})
    status, lines = customer_information(customer(report=True, clear=True), [cache])
    assert status is CustomerInformationStatusEnumType.Accepted
    assert lines == ["cached: Accepted until 2026-02-01"]
    assert cache.tokens == {}
    assert customer_information(customer(report=True, clear=False), [cache])[1] == []


def test_clearing_without_a_report_says_what_was_cleared() -> None:
    cache = Cache({"AABBCCDD": "Accepted"})
    assert customer_information(customer(report=False, clear=True), [cache])[1] == [
        "cleared: AABBCCDD: Accepted"
    ]
    assert customer_information(customer(report=False, clear=True), [cache])[1] == [
        "cleared: no data was kept"
    ]


def test_a_request_about_nobody_is_invalid() -> None:
    status, lines = customer_information(customer(True, True, token=None), [Cache({})])
    assert (status, lines) == (CustomerInformationStatusEnumType.Invalid, [])


def test_customer_notifications_hold_512_characters_each() -> None:
    lines = ["a" * 300, "b" * 300, "c" * 1100]
    messages = customer_notifications(9, lines, START)
    assert [len(m.data) for m in messages] == [300, 300, 512, 512, 76]
    assert "".join(m.data for m in messages[2:]) == "c" * 1100
    assert [m.seqNo for m in messages] == [0, 1, 2, 3, 4]
    assert [m.tbc for m in messages] == [True, True, True, True, msgspec.UNSET]
    for message in messages:
        v201.encode(message)
    (empty,) = customer_notifications(9, [], START)
    assert (empty.data, empty.tbc, empty.seqNo) == ("", msgspec.UNSET, 0)


# -- DataTransfer ----------------------------------------------------------------------------


async def test_data_transfer_answers_for_the_vendors_it_knows() -> None:
    transfer = DataTransfer()

    async def echo(data: Any) -> tuple[DataTransferStatusEnumType, Any]:
        return DataTransferStatusEnumType.Accepted, {"echo": data}

    octt = DataTransferRequest(vendorId="org.openchargealliance.octt", messageId="TestMessage")
    assert (await transfer.handle(octt)).status is DataTransferStatusEnumType.UnknownVendorId
    transfer.register("com.example", "Echo", echo)
    unknown = DataTransferRequest(vendorId="com.example", messageId="Other")
    assert (await transfer.handle(unknown)).status is DataTransferStatusEnumType.UnknownMessageId
    known = DataTransferRequest(vendorId="com.example", messageId="Echo", data=[1, 2])
    answer = await transfer.handle(known)
    assert (answer.status, answer.data) == (DataTransferStatusEnumType.Accepted, {"echo": [1, 2]})
