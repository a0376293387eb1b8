"""The station's link to its CSMS: `evstack.ocpp.j`'s client, built from the device model and
the network connection profiles, and kept in line with them.

The profiles (SetNetworkProfile's, or at the first start the config's URLs) live in the
station's state folder; NetworkConfigurationPriority, the attempts per slot, the back-off, the
security profile and the password are device model variables. A change of any of them applies
from the next connection attempt; `restart()` drops the connection so that it applies now
(a new password, say). A connection with a higher security profile raises the station's for
good (A05: no downgrade): the new SecurityProfile and priority are stored, the lower slots
deleted.

Every timeout and wait is in the module's simulated seconds: the back-off sleeps on its clock,
and the message timeout and ping interval are scaled to wall time for the websocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from pathlib import Path

from evstack.generated.ocpp.v201.datatypes import NetworkConnectionProfileType
from evstack.generated.ocpp.v201.enums import (
    AttributeEnumType,
    OCPPInterfaceEnumType,
    OCPPTransportEnumType,
    OCPPVersionEnumType,
)
from evstack.ocpp.j import (
    ConnectError,
    ConnectionPolicy,
    Ended,
    LinkObserver,
    NetworkProfile,
    NoUsableProfileError,
    OcppJClient,
    RetryBackOff,
    SecurityProfile,
    StationCredentials,
    TransportSettings,
    Upgrade,
)
from evstack.runtime.state import ModuleState

from .device_model import VariableKey, ref
from .station import Station

__all__ = ["MESSAGE_TIMEOUT", "SECURITY_PROFILE", "CredentialFiles", "Link", "NetworkProfiles"]

log = logging.getLogger(__name__)

PRIORITY = ref("OCPPCommCtrlr", "NetworkConfigurationPriority")
ATTEMPTS = ref("OCPPCommCtrlr", "NetworkProfileConnectionAttempts")
WAIT_MINIMUM = ref("OCPPCommCtrlr", "RetryBackOffWaitMinimum")
RANDOM_RANGE = ref("OCPPCommCtrlr", "RetryBackOffRandomRange")
REPEAT_TIMES = ref("OCPPCommCtrlr", "RetryBackOffRepeatTimes")
PING_INTERVAL = ref("OCPPCommCtrlr", "WebSocketPingInterval")
MESSAGE_TIMEOUT = ref("OCPPCommCtrlr", "MessageTimeout", variable_instance="Default")
ACTIVE_PROFILE = ref("OCPPCommCtrlr", "ActiveNetworkProfile")
SECURITY_PROFILE = ref("SecurityCtrlr", "SecurityProfile")
PASSWORD = ref("SecurityCtrlr", "BasicAuthPassword")
IDENTITY = ref("SecurityCtrlr", "Identity")
_POLICY_KEYS = (PRIORITY, ATTEMPTS, WAIT_MINIMUM, RANDOM_RANGE, REPEAT_TIMES)
_SLOT_PREFIX = "network_profile/"
_LAST_CONNECTED = "last_connected_slot"
_NO_PROFILE_WAIT_S = 60.0  # simulated seconds before a station without a usable profile looks again


class NetworkProfiles:
    """The NetworkConnectionProfiles by configuration slot, kept in the station's state."""

    def __init__(self, state: ModuleState) -> None:
        self._state = state

    def all(self) -> dict[int, NetworkConnectionProfileType]:
        return {
            int(key.removeprefix(_SLOT_PREFIX)): profile
            for key, profile in self._state.items(_SLOT_PREFIX, NetworkConnectionProfileType)
        }

    def get(self, slot: int) -> NetworkConnectionProfileType | None:
        return self._state.get(f"{_SLOT_PREFIX}{slot}", NetworkConnectionProfileType)

    def put(self, slot: int, profile: NetworkConnectionProfileType) -> None:
        self._state.put(f"{_SLOT_PREFIX}{slot}", profile)

    def remove(self, slot: int) -> None:
        self._state.delete(f"{_SLOT_PREFIX}{slot}")

    @staticmethod
    def first(
        url: str, security_profile: int, message_timeout: int
    ) -> NetworkConnectionProfileType:
        """A profile for a CSMS URL from the module's config."""
        return NetworkConnectionProfileType(
            ocppVersion=OCPPVersionEnumType.OCPP20,
            ocppTransport=OCPPTransportEnumType.JSON,
            ocppCsmsUrl=url,
            messageTimeout=message_timeout,
            securityProfile=security_profile,
            ocppInterface=OCPPInterfaceEnumType.Wired0,
        )


@dataclasses.dataclass(frozen=True)
class CredentialFiles:
    """The certificate files of the module's config; None where the config names none."""

    csms_root_certificates: Path | None = None
    station_certificate: Path | None = None
    station_key: Path | None = None


class Link(LinkObserver):
    """Runs the OCPP-J client for the station, built from its device model."""

    def __init__(
        self,
        station: Station,
        profiles: NetworkProfiles,
        state: ModuleState,
        files: CredentialFiles,
    ) -> None:
        self.station = station
        self.profiles = profiles
        self._state = state
        self.files = files
        model = station.model
        self.client = OcppJClient(
            self._station_id(),
            station.endpoint,
            self._policy(),
            self._credentials(),
            self._settings(),
            observer=self,
            sleep=station.clock.sleep,
        )
        for key in _POLICY_KEYS:
            model.watch(key, self._policy_changed)
        model.watch(PASSWORD, self._credentials_changed)
        model.watch(PING_INTERVAL, self._settings_changed)
        self._task: asyncio.Task[None] | None = None

    def _station_id(self) -> str:
        if self.station.model.spec(IDENTITY) is not None:
            identity = self.station.model.get(IDENTITY)
            if identity:
                return identity
        return self.station.station_id

    # -- from the device model -----------------------------------------------------------

    def network_profiles(self) -> list[NetworkProfile]:
        speedup = self.station.clock.speedup
        usable = []
        for slot, profile in sorted(self.profiles.all().items()):
            try:
                security = SecurityProfile(profile.securityProfile)
            except ValueError:
                log.warning(
                    "slot %d: security profile %s is not supported", slot, profile.securityProfile
                )
                continue
            timeout = profile.messageTimeout / speedup
            usable.append(NetworkProfile(slot, profile.ocppCsmsUrl, security, timeout))
        return usable

    def priority(self) -> list[int]:
        return [int(slot) for slot in self.station.model.get_list(PRIORITY)]

    def _policy(self) -> ConnectionPolicy:
        model = self.station.model
        last = self._state.get(_LAST_CONNECTED, int)
        return ConnectionPolicy(
            self.network_profiles(),
            self.priority(),
            security_profile=SecurityProfile(model.get_int(SECURITY_PROFILE)),
            attempts_per_profile=model.get_int(ATTEMPTS),
            backoff=self._backoff(),
            last_connected=last,
        )

    def _backoff(self) -> RetryBackOff:
        model = self.station.model
        return RetryBackOff(
            wait_minimum=model.get_float(WAIT_MINIMUM),
            random_range=model.get_float(RANDOM_RANGE),
            repeat_times=model.get_int(REPEAT_TIMES),
        )

    def _credentials(self) -> StationCredentials:
        model = self.station.model
        password = model.get(PASSWORD) if model.spec(PASSWORD) is not None else None
        return StationCredentials(
            basic_auth_password=password or None,
            csms_root_certificates=self.files.csms_root_certificates,
            station_certificate=self.files.station_certificate,
            station_key=self.files.station_key,
        )

    def _settings(self) -> TransportSettings:
        speedup = self.station.clock.speedup
        ping = self.station.model.get_float(PING_INTERVAL)
        return TransportSettings(ping_interval=ping / speedup, pong_timeout=10.0 / speedup)

    def _policy_changed(self, key: VariableKey, attribute: AttributeEnumType, value: str) -> None:
        policy = self.client.policy
        policy.attempts_per_profile = max(1, self.station.model.get_int(ATTEMPTS))
        policy.backoff = self._backoff()
        if key == PRIORITY:
            policy.configure(self.network_profiles(), self.priority())

    def profiles_changed(self) -> None:
        """A slot was set or deleted (SetNetworkProfile): the next attempt starts over."""
        self.client.policy.configure(self.network_profiles(), self.priority())

    def _credentials_changed(self, *_: object) -> None:
        self.client.credentials = self._credentials()

    def _settings_changed(self, *_: object) -> None:
        self.client.settings = self._settings()

    def update_credentials(self, files: CredentialFiles) -> None:
        """New certificate files (A02, A03, M05): used from the next connection attempt."""
        self.files = files
        self.client.credentials = self._credentials()

    # -- running ---------------------------------------------------------------------------

    def start(self) -> None:
        self._task = self.station.keep_running(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.station.set_online(False)

    async def restart(self) -> None:
        """Drop the connection (if any) and connect again with the settings of now."""
        await self.stop()
        self.client.policy.configure(self.network_profiles(), self.priority())
        self.start()

    async def _run(self) -> None:
        while True:
            try:
                await self.client.run()
            except NoUsableProfileError as error:
                log.error("%s; looking again in %g s", error, _NO_PROFILE_WAIT_S)
                await self.station.clock.sleep(_NO_PROFILE_WAIT_S)

    # -- LinkObserver ----------------------------------------------------------------------

    def connect_failed(self, profile: NetworkProfile, failure: ConnectError) -> None:
        self.station.start_task(self.station.link_failures.emit(profile, failure))

    def connected(self, profile: NetworkProfile, upgrade: Upgrade | None) -> None:
        self._state.put(_LAST_CONNECTED, profile.slot)
        model = self.station.model
        if model.spec(ACTIVE_PROFILE) is not None:
            model.set(ACTIVE_PROFILE, profile.slot)
        if upgrade is not None:
            self._persist(upgrade)
        self.station.start_task(self.station.set_online(True))

    def disconnected(self, profile: NetworkProfile, ended: Ended) -> None:
        self.station.start_task(self.station.set_online(False))

    def _persist(self, upgrade: Upgrade) -> None:
        log.warning("security profile raised to %d", upgrade.security_profile.value)
        model = self.station.model
        for slot in upgrade.removed:
            self.profiles.remove(slot)
        model.set(SECURITY_PROFILE, upgrade.security_profile.value)
        model.set(PRIORITY, ",".join(str(slot) for slot in upgrade.priority))
