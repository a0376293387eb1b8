"""The station's OCPP-J link: the connection policy driving the websocket mechanics, with one
`RpcEndpoint` for the station's whole life.

    endpoint = RpcEndpoint(codec)
    endpoint.route("GetVariables", handle_get_variables)
    link = OcppJClient("CS001", endpoint, policy, credentials)
    task = asyncio.create_task(link.run())      # connects, serves, reconnects until cancelled
    response = await endpoint.call("BootNotification", request)

The station reads its device model into `policy`, `credentials` and `settings` (each read
again at every attempt) and learns through a `LinkObserver` what to persist and report:
the active profile, a raised security profile, why an attempt failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from evstack.ocpp.j.profiles import ConnectionPolicy, NetworkProfile, Upgrade
from evstack.ocpp.j.rpc import RpcEndpoint
from evstack.ocpp.j.security import StationCredentials, check_station_id
from evstack.ocpp.j.websocket import (
    ConnectError,
    Ended,
    TransportSettings,
    open_connection,
    serve,
)

__all__ = ["LinkObserver", "OcppJClient"]

log = logging.getLogger(__name__)


class LinkObserver:
    """What happens to the link; the station overrides what it needs. Called in the link's
    task, so a slow observer holds up the link: hand long work to a task of its own."""

    def connect_failed(self, profile: NetworkProfile, failure: ConnectError) -> None:
        """An attempt failed (Failure.TLS_CERTIFICATE: SecurityEventNotification
        InvalidCsmsCertificate, TLS_VERSION: InvalidTLSVersion, ...)."""

    def connected(self, profile: NetworkProfile, upgrade: Upgrade | None) -> None:
        """Up on `profile` (OCPPCommCtrlr.ActiveNetworkProfile); `upgrade`: persist it."""

    def disconnected(self, profile: NetworkProfile, ended: Ended) -> None:
        """The connection on `profile` ended; the link is reconnecting."""


class OcppJClient:
    """Keeps the station connected to its CSMS, as its policy says, until cancelled."""

    def __init__(
        self,
        station_id: str,
        endpoint: RpcEndpoint,
        policy: ConnectionPolicy,
        credentials: StationCredentials,
        settings: TransportSettings | None = None,
        *,
        observer: LinkObserver | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        check_station_id(station_id)  # here rather than at every attempt
        self.station_id = station_id
        self.endpoint = endpoint
        self.policy = policy
        self.credentials = credentials
        self.settings = settings or TransportSettings()
        self.observer = observer or LinkObserver()
        self._sleep = sleep  # the back-off's clock, which tests drive

    async def run(self) -> None:
        """Connect, serve, and reconnect whenever the connection fails or ends; until
        cancelled, or `NoUsableProfileError` when the policy has no slot left to try."""
        while True:
            attempt = self.policy.next_attempt()
            if attempt.delay > 0:
                await self._sleep(attempt.delay)
            profile = attempt.profile
            try:
                websocket = await open_connection(
                    self.station_id, profile, self.credentials, self.settings
                )
            except ConnectError as failure:
                log.warning("slot %d, %s: %s", profile.slot, profile.url, failure)
                self.policy.failed()
                self.observer.connect_failed(profile, failure)
                continue
            log.info("connected on slot %d: %s", profile.slot, profile.url)
            self.endpoint.message_timeout = profile.message_timeout
            self.observer.connected(profile, self.policy.connected(profile))
            ended = await serve(websocket, self.endpoint, self.settings)
            log.warning("connection on slot %d ended: %s", profile.slot, ended)
            self.policy.disconnected()
            self.observer.disconnected(profile, ended)
