"""Diagnostics (use cases N01, N09, N10): log files uploaded where the CSMS says, and what the
station knows about a customer, reported and cleared.

GetLog (N01): the DiagnosticsLog is the process's recent log records (a bounded buffer every
logger of the process writes to), the SecurityLog the station's security events; either is
taken as it is when the request comes, between its oldest and latest timestamps, and uploaded
to `log.remoteLocation` (see `transfer`: a PUT, or a form POST) in 1 + `retries` attempts
`retryInterval` apart. LogStatusNotification says Uploading at each attempt, UploadFailure after
each failed one, and Uploaded at the end; PermissionDenied (401, 403) and NotSupportedOperation
(not HTTP(S)) end the upload at once. A second GetLog cancels an upload under way: the first
gets LogStatusNotification AcceptedCanceled and the answer is AcceptedCanceled (N01.FR.12).

CustomerInformation (N09, N10): the station asks every source of customer data it has (the
authorization cache; not the local authorization list, which N10 keeps) about the idToken,
customer certificate or identifier the CSMS names, reports what they hold (`report`) and then
has them forget it (`clear`), in NotifyCustomerInformation messages of at most 512 characters
each. A request that clears
without a report still gets one message, saying what was cleared (TC_N_32); a report that finds
nothing is one message with no data.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import logging
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from evstack.generated.ocpp.v201.datatypes import (
    CertificateHashDataType,
    IdTokenInfoType,
    IdTokenType,
)
from evstack.generated.ocpp.v201.enums import (
    CustomerInformationStatusEnumType,
    LogEnumType,
    LogStatusEnumType,
    MessageTriggerEnumType,
    UploadLogStatusEnumType,
)
from evstack.generated.ocpp.v201.messages import (
    CustomerInformationRequest,
    CustomerInformationResponse,
    GetLogRequest,
    GetLogResponse,
    LogStatusNotificationRequest,
    NotifyCustomerInformationRequest,
)
from evstack.generated.ocpp.values import DateTime
from evstack.ocpp.errors import OcppError
from evstack.ocpp.j import CallTimeoutError, NotConnectedError

from .authorization import AuthorizationBlock
from .blocks import Block
from .certificates import Certificates
from .security import Security, SecurityLog, after_answer
from .station import Station
from .transactions import TransactionsBlock
from .transfer import TransferError, TransferFailure, upload

__all__ = [
    "BLOCK",
    "DEFAULT_RETRIES",
    "DEFAULT_RETRY_INTERVAL_S",
    "AuthorizationCacheData",
    "Customer",
    "CustomerData",
    "Diagnostics",
    "Logs",
    "LogsIo",
    "RecentLog",
    "customer_information",
    "customer_notifications",
    "customer_of",
]

log = logging.getLogger(__name__)

Upload = UploadLogStatusEnumType

DEFAULT_RETRIES = 2  # when the CSMS leaves it to the station
DEFAULT_RETRY_INTERVAL_S = 60.0
_DATA = 512  # NotifyCustomerInformationRequest.data's maxLength
_FINAL = {
    TransferFailure.PERMISSION: Upload.PermissionDenied,
    TransferFailure.UNSUPPORTED: Upload.NotSupportedOperation,
}


class RecentLog(logging.Handler):
    """The last `capacity` log records of the process, for GetLog(DiagnosticsLog)."""

    def __init__(self, capacity: int = 5000, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self._records: collections.deque[tuple[float, str]] = collections.deque(maxlen=capacity)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._records.append((record.created, self.format(record)))
        except Exception:
            self.handleError(record)

    def lines(
        self, oldest: datetime.datetime | None, latest: datetime.datetime | None
    ) -> list[str]:
        low = float("-inf") if oldest is None else oldest.timestamp()
        high = float("inf") if latest is None else latest.timestamp()
        return [
            f"{_stamp(datetime.datetime.fromtimestamp(created, datetime.UTC))} {text}"
            for created, text in list(self._records)
            if low <= created <= high
        ]


def _stamp(moment: datetime.datetime) -> str:
    return DateTime.from_datetime(moment).rfc3339()


def _optional(value: DateTime | msgspec.UnsetType) -> DateTime | None:
    return None if isinstance(value, msgspec.UnsetType) else value


@dataclass(frozen=True)
class LogsIo:
    """What the log uploads do outside themselves (the station's seam; fakes in tests)."""

    station_id: str
    now: Callable[[], datetime.datetime]
    sleep: Callable[[float], Awaitable[None]]
    notify: Callable[[Upload, int | None], Awaitable[None]]  # a LogStatusNotification
    upload: Callable[[str, str, bytes], Awaitable[None]]  # url, file name, content
    diagnostics: RecentLog
    security: SecurityLog
    spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]  # after the answer


class Logs:
    """N01: one log upload at a time (see the module's doc)."""

    def __init__(self, io: LogsIo) -> None:
        self.io = io
        self.uploading: int | None = None  # the request id of the upload under way
        self._task: asyncio.Task[None] | None = None

    def request(self, request: GetLogRequest) -> tuple[LogStatusEnumType, str]:
        """The answer to `request` and its file name; the upload is spawned."""
        io, parameters = self.io, request.log
        oldest, latest = (
            _optional(parameters.oldestTimestamp),
            _optional(parameters.latestTimestamp),
        )
        if request.logType is LogEnumType.SecurityLog:
            lines = [event.line() for event in io.security.entries(oldest, latest)]
        else:
            lines = io.diagnostics.lines(oldest, latest)
        now = io.now()
        header = f"# {io.station_id} {request.logType} as of {_stamp(now)}: {len(lines)} entries"
        content = "\n".join([header, *lines]).encode() + b"\n"
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        filename = f"{io.station_id}-{request.logType}-{stamp}.log"
        answer = LogStatusEnumType.Accepted
        canceled: int | None = None
        if self._task is not None and not self._task.done():
            self._task.cancel()
            canceled, answer = self.uploading, LogStatusEnumType.AcceptedCanceled
        self.uploading = request.requestId
        self._task = io.spawn(self._run(request, filename, content, canceled))
        return answer, filename

    def status(self) -> tuple[Upload, int | None]:
        """What TriggerMessage(LogStatusNotification) reports: Uploading and the request id
        during an upload, else Idle without one (N01.FR.17, F06)."""
        if self.uploading is not None:
            return Upload.Uploading, self.uploading
        return Upload.Idle, None

    async def _run(
        self, request: GetLogRequest, filename: str, content: bytes, canceled: int | None
    ) -> None:
        try:
            if canceled is not None:
                await self.io.notify(Upload.AcceptedCanceled, canceled)
            await self._upload(request, filename, content)
        finally:
            if self._task is asyncio.current_task():
                self.uploading = None

    async def _upload(self, request: GetLogRequest, filename: str, content: bytes) -> None:
        retries = request.retries if isinstance(request.retries, int) else DEFAULT_RETRIES
        interval = (
            request.retryInterval
            if isinstance(request.retryInterval, int)
            else DEFAULT_RETRY_INTERVAL_S
        )
        request_id, url = request.requestId, request.log.remoteLocation
        for attempt in range(1 + max(0, retries)):
            if attempt:
                await self.io.sleep(interval)
            await self.io.notify(Upload.Uploading, request_id)
            try:
                await self.io.upload(url, filename, content)
            except TransferError as error:
                log.warning("log upload %d to %s failed: %s", attempt + 1, url, error)
                final = _FINAL.get(error.failure)
                await self.io.notify(final or Upload.UploadFailure, request_id)
                if final is not None:
                    return
                continue
            await self.io.notify(Upload.Uploaded, request_id)
            return


# -- customer information --------------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    """Whom a CustomerInformationRequest is about (at least one of the three is set)."""

    id_token: IdTokenType | None = None
    certificate: CertificateHashDataType | None = None
    identifier: str | None = None


class CustomerData(Protocol):
    """A store of data about customers: it says what it holds and forgets it on request."""

    def about(self, customer: Customer) -> list[str]:
        """What is kept about `customer`, human readable, one item per line."""
        ...

    def forget(self, customer: Customer) -> list[str]:
        """Forget `customer`; what was forgotten."""
        ...


def customer_of(request: CustomerInformationRequest) -> Customer | None:
    """Whom `request` is about; None if it names nobody (answered Invalid)."""
    customer = Customer(
        id_token=None if isinstance(request.idToken, msgspec.UnsetType) else request.idToken,
        certificate=(
            None
            if isinstance(request.customerCertificate, msgspec.UnsetType)
            else request.customerCertificate
        ),
        identifier=(
            None
            if isinstance(request.customerIdentifier, msgspec.UnsetType)
            else request.customerIdentifier
        ),
    )
    if customer.id_token is None and customer.certificate is None and customer.identifier is None:
        return None
    return customer


def customer_information(
    request: CustomerInformationRequest, sources: Iterable[CustomerData]
) -> tuple[CustomerInformationStatusEnumType, list[str]]:
    """N09/N10: the answer to `request` and the lines to report (cleared after reading)."""
    customer = customer_of(request)
    if customer is None:
        return CustomerInformationStatusEnumType.Invalid, []
    sources = list(sources)
    lines: list[str] = []
    if request.report:
        lines = [line for source in sources for line in source.about(customer)]
    if request.clear:
        cleared = [line for source in sources for line in source.forget(customer)]
        if not request.report:
            lines = [f"cleared: {line}" for line in cleared] or ["cleared: no data was kept"]
    return CustomerInformationStatusEnumType.Accepted, lines


def customer_notifications(
    request_id: int, lines: list[str], generated_at: datetime.datetime
) -> list[NotifyCustomerInformationRequest]:
    """`lines` as NotifyCustomerInformationRequests of at most 512 characters of data each
    (a line longer than that is split), seqNo from 0, tbc on all but the last; one message with
    no data when there are no lines."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        for start in range(0, max(len(line), 1), _DATA):
            piece = line[start : start + _DATA]
            joined = f"{current}\n{piece}" if current else piece
            if len(joined) <= _DATA:
                current = joined
            else:
                chunks.append(current)
                current = piece
    chunks.append(current)
    stamp = DateTime.from_datetime(generated_at)
    return [
        NotifyCustomerInformationRequest(
            data=chunk,
            tbc=True if index < len(chunks) - 1 else msgspec.UNSET,
            seqNo=index,
            generatedAt=stamp,
            requestId=request_id,
        )
        for index, chunk in enumerate(chunks)
    ]


# -- the block ----------------------------------------------------------------------------


class AuthorizationCacheData:
    """The authorization cache as a source of customer data: an idToken's cached entry."""

    def __init__(self, station: Station, authorization: AuthorizationBlock) -> None:
        self.station = station
        self.authorization = authorization

    def about(self, customer: Customer) -> list[str]:
        if customer.id_token is None:
            return []
        now = TransactionsBlock.of(self.station).now()
        lifetime = self.authorization.settings().cache_lifetime_s
        info = self.authorization.cache.get(customer.id_token, now, lifetime)
        return [] if info is None else [_cached(customer.id_token, info)]

    def forget(self, customer: Customer) -> list[str]:
        if customer.id_token is None:
            return []
        info = self.authorization.forget(customer.id_token)
        return [] if info is None else [_cached(customer.id_token, info)]


def _cached(token: IdTokenType, info: IdTokenInfoType) -> str:
    text = f"authorization cache: {token.type} {token.idToken}: {info.status}"
    if not isinstance(info.cacheExpiryDateTime, msgspec.UnsetType):
        text += f" until {info.cacheExpiryDateTime.rfc3339()}"
    if not isinstance(info.groupIdToken, msgspec.UnsetType):
        text += f", group {info.groupIdToken.idToken}"
    return text


_BLOCKS: weakref.WeakKeyDictionary[Station, Diagnostics] = weakref.WeakKeyDictionary()


class Diagnostics(Block):
    """GetLog, TriggerMessage(LogStatusNotification) and CustomerInformation."""

    def __init__(self, station: Station) -> None:
        super().__init__(station)
        _BLOCKS[station] = self
        self.recent = RecentLog()
        logging.getLogger().addHandler(self.recent)
        self.sources: list[CustomerData] = []
        with contextlib.suppress(KeyError):  # without an authorization block, no cache
            self.add_customer_data(AuthorizationCacheData(station, AuthorizationBlock.of(station)))
        security = Security.of(station)
        self.logs = Logs(
            LogsIo(
                station_id=station.station_id,
                now=station.now,
                sleep=station.clock.sleep,
                notify=self._notify,
                upload=self._upload,
                diagnostics=self.recent,
                security=security.security_log,
                spawn=lambda work: station.start_task(after_answer(station, work)),
            )
        )
        station.route("GetLog", self._get_log)
        station.route("CustomerInformation", self._customer_information)
        station.register_trigger(MessageTriggerEnumType.LogStatusNotification, self._trigger)

    @staticmethod
    def of(station: Station) -> Diagnostics:
        return _BLOCKS[station]

    def add_customer_data(self, source: CustomerData) -> None:
        """A store of customer data (the authorization cache, say) CustomerInformation
        reports and clears."""
        self.sources.append(source)

    async def stop(self) -> None:
        logging.getLogger().removeHandler(self.recent)

    async def _get_log(self, request: GetLogRequest) -> GetLogResponse:
        answer, filename = self.logs.request(request)
        return GetLogResponse(status=answer, filename=filename)

    def _trigger(self, evse: int | None, connector: int | None) -> Coroutine[Any, Any, None]:
        status, request_id = self.logs.status()
        return self._notify(status, request_id)

    async def _notify(self, status: Upload, request_id: int | None) -> None:
        request = LogStatusNotificationRequest(
            status=status, requestId=msgspec.UNSET if request_id is None else request_id
        )
        try:
            await self.station.call(request)
        except (NotConnectedError, CallTimeoutError, OcppError) as error:
            log.warning("LogStatusNotification %s not delivered: %s", status, error)

    async def _upload(self, url: str, filename: str, content: bytes) -> None:
        await upload(url, filename, content, tls=Certificates.of(self.station).file_tls)

    async def _customer_information(
        self, request: CustomerInformationRequest
    ) -> CustomerInformationResponse:
        status, lines = customer_information(request, self.sources)
        if status is CustomerInformationStatusEnumType.Accepted:
            notifications = customer_notifications(request.requestId, lines, self.station.now())
            self.station.start_task(after_answer(self.station, self._send(notifications)))
        return CustomerInformationResponse(status=status)

    async def _send(self, notifications: list[NotifyCustomerInformationRequest]) -> None:
        for notification in notifications:
            try:
                await self.station.call(notification)
            except (NotConnectedError, CallTimeoutError, OcppError) as error:
                log.warning("NotifyCustomerInformation not delivered: %s", error)
                return


BLOCK = Diagnostics
