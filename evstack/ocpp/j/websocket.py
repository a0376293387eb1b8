"""The websocket mechanics of OCPP-J (Part 4, sections 3 and 5): open one connection, serve an
`RpcEndpoint` over it until it ends, keep it alive with pings.

Policy (which profile, when to retry) is `profiles`'s and the loop that joins them is
`client`'s; this module only connects when told and says why a connection failed or ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import ssl
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from evstack.ocpp.j.profiles import NetworkProfile
from evstack.ocpp.j.rpc import NotConnectedError, RpcEndpoint
from evstack.ocpp.j.security import (
    StationCredentials,
    UnusableProfileError,
    authorization,
    check,
    connection_url,
    ssl_context,
)

__all__ = [
    "SUBPROTOCOL",
    "ConnectError",
    "Ended",
    "Failure",
    "TransportSettings",
    "open_connection",
    "serve",
]

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp2.0.1"
_TLS_VERSION_REASONS = {
    "UNSUPPORTED_PROTOCOL",
    "TLSV1_ALERT_PROTOCOL_VERSION",
    "WRONG_SSL_VERSION",
    "NO_PROTOCOLS_AVAILABLE",
}


@dataclass(frozen=True)
class TransportSettings:
    """How the station's websocket behaves (OCPPCommCtrlr.WebSocketPingInterval and limits of
    our own); read at every connection, so a change applies from the next one."""

    ping_interval: float = 0.0  # WebSocketPingInterval, seconds; 0: only answer the CSMS's
    pong_timeout: float = 10.0  # no pong within this after a ping: the connection is dead
    open_timeout: float = 30.0  # TCP, TLS and the HTTP upgrade together
    # Frames up to the endpoint's max_frame_size are handled, larger ones answered with a
    # CALLERROR; past this bound the websocket itself gives up the connection (close 1009)
    # rather than hold an endless frame in memory.
    max_message_size: int = 4 * 1024 * 1024
    compression: bool = True  # RFC 7692, RECOMMENDED on mobile data (3.3)


class Failure(enum.StrEnum):
    """Why a connection attempt failed, for the station's security events and logs."""

    UNUSABLE_PROFILE = "unusable-profile"  # the profile cannot be used with these credentials
    UNREACHABLE = "unreachable"  # DNS, TCP refused or reset, network down
    TIMEOUT = "timeout"
    TLS_CERTIFICATE = "tls-certificate"  # the CSMS's certificate failed: InvalidCsmsCertificate
    TLS_VERSION = "tls-version"  # no TLS 1.2 or newer on offer: InvalidTLSVersion
    TLS = "tls"  # another TLS failure (a station certificate the CSMS refused, say)
    UNAUTHORIZED = "unauthorized"  # HTTP 401 or 403: a wrong password or station id
    REFUSED = "refused"  # another HTTP status (404: the CSMS does not know the station)
    SUBPROTOCOL = "subprotocol"  # the CSMS did not agree to ocpp2.0.1
    HANDSHAKE = "handshake"  # not a websocket upgrade


class ConnectError(Exception):
    def __init__(self, failure: Failure, detail: str) -> None:
        super().__init__(f"{failure.value}: {detail}")
        self.failure = failure
        self.detail = detail


@dataclass(frozen=True)
class Ended:
    """How a connection ended."""

    code: int | None  # the websocket close code, None without a close frame
    reason: str
    pong_timeout: bool = False  # we dropped it: the CSMS did not answer a ping


class _NoRedirects(connect):
    """A station connects where its profile says: a redirect could take the basic auth
    password to another host, or the connection to a weaker scheme."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


async def open_connection(
    station_id: str,
    profile: NetworkProfile,
    credentials: StationCredentials,
    settings: TransportSettings,
) -> ClientConnection:
    """A websocket to `profile`'s CSMS that agreed to ocpp2.0.1; `ConnectError` otherwise."""
    try:
        check(profile.url, profile.security_profile, credentials)
        context = ssl_context(profile.security_profile, credentials)
    except (UnusableProfileError, OSError) as error:  # OSError: a certificate file that won't load
        raise ConnectError(Failure.UNUSABLE_PROFILE, str(error)) from error
    try:
        websocket = await _NoRedirects(
            connection_url(profile.url, station_id),
            subprotocols=[Subprotocol(SUBPROTOCOL)],
            additional_headers=authorization(station_id, profile.security_profile, credentials),
            ssl=context,
            proxy=None,
            open_timeout=settings.open_timeout,
            ping_interval=None,  # ours: see `serve`
            max_size=settings.max_message_size,
            compression="deflate" if settings.compression else None,
        )
    except Exception as error:
        raise ConnectError(_failure(error), str(error) or type(error).__name__) from error
    if websocket.subprotocol != SUBPROTOCOL:
        await websocket.close()
        raise ConnectError(Failure.SUBPROTOCOL, f"the CSMS answered {websocket.subprotocol!r}")
    return websocket


def _failure(error: Exception) -> Failure:
    if isinstance(error, ssl.SSLCertVerificationError):
        return Failure.TLS_CERTIFICATE
    if isinstance(error, ssl.SSLError):
        return Failure.TLS_VERSION if error.reason in _TLS_VERSION_REASONS else Failure.TLS
    if isinstance(error, InvalidStatus):
        status = error.response.status_code
        return Failure.UNAUTHORIZED if status in (401, 403) else Failure.REFUSED
    if isinstance(error, InvalidHandshake):
        return Failure.HANDSHAKE
    if isinstance(error, TimeoutError):
        return Failure.TIMEOUT
    return Failure.UNREACHABLE


async def serve(
    websocket: ClientConnection, endpoint: RpcEndpoint, settings: TransportSettings
) -> Ended:
    """Feed `endpoint` every frame from `websocket` until the connection ends."""

    async def send(frame: bytes) -> None:
        try:
            await websocket.send(frame, text=True)  # OCPP-J frames are text frames
        except ConnectionClosed as closed:
            raise NotConnectedError(str(closed)) from closed

    endpoint.attach(send)
    dead = asyncio.Event()
    keepalive = (
        asyncio.create_task(_keepalive(websocket, settings, dead))
        if settings.ping_interval > 0
        else None
    )
    try:
        while True:
            await endpoint.receive(await websocket.recv(decode=False))
    except ConnectionClosed as closed:
        frame = closed.rcvd or closed.sent
        return Ended(frame.code if frame else None, frame.reason if frame else "", dead.is_set())
    finally:
        endpoint.detach()
        if keepalive is not None:
            keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keepalive
        await websocket.close()


async def _keepalive(
    websocket: ClientConnection, settings: TransportSettings, dead: asyncio.Event
) -> None:
    """Ping every interval; a pong that does not come within the timeout ends the connection
    at once: a dead link answers no closing handshake either."""
    while True:
        await asyncio.sleep(settings.ping_interval)
        try:
            pong = await websocket.ping()
            async with asyncio.timeout(settings.pong_timeout):
                await pong
        except TimeoutError:
            log.warning("no pong within %s s: the connection is dropped", settings.pong_timeout)
            dead.set()
            websocket.transport.abort()
            return
        except ConnectionClosed:
            return
