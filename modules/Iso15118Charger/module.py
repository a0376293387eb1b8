"""Iso15118Charger on the bus: the SECC session layer (`evstack.hlc.secc`) behind EVerest's
ISO15118_charger interface.

The module answers SDP on its interface and serves one V2G session at a time. What
EvseManager sends (authorization, the cable check's result, present values, limits, its
permission) goes into the SECC's `EvseState`, which every response reads; what the EV
asks for goes out as the interface's vars, in the order the session produced it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
import ssl

from evstack.exi.sdp import Security
from evstack.generated.interfaces.ISO15118_charger import ISO15118ChargerImplBase
from evstack.generated.modules.iso15118_charger import (
    Iso15118ChargerChargerConfig,
    Iso15118ChargerModuleBase,
)
from evstack.generated.types import iso15118 as types
from evstack.generated.types.authorization import AuthorizationStatus
from evstack.hlc.secc import Authorization, EvseState, SeccConfig, SeccSession, driver, sap
from evstack.hlc.secc import events as ev
from evstack.hlc.secc.iso20.dynamic import Offer
from evstack.hlc.transport import pki, tls
from evstack.hlc.transport.netif import link_local_address
from evstack.hlc.transport.sdp import SdpResponder
from evstack.hlc.transport.stream import V2gServer, V2gtpStream, start_server
from evstack.modules.Iso15118Charger.netns import socket_factory

RETRY_S = 1.0  # wait for the interface (a veth a simulation brings up later, a modem)
_PROTOCOLS = {p.name: p for p in sap.KNOWN}
_ISOLATION = {
    "Invalid": ev.IsolationStatus.INVALID,
    "Valid": ev.IsolationStatus.VALID,
    "Warning": ev.IsolationStatus.WARNING,
    "Fault": ev.IsolationStatus.FAULT,
    "No_IMD": ev.IsolationStatus.INVALID,  # DIN and ISO-2 have no such value
}


@dataclasses.dataclass(frozen=True)
class MessageInFlight:
    name: str


class Charger(ISO15118ChargerImplBase):
    def __init__(self, module: Iso15118Charger) -> None:
        self.module = module

    @property
    def evse(self) -> EvseState:
        return self.module.evse

    async def handle_setup(
        self,
        evse_id: types.EVSEID,
        supported_energy_transfer_modes: list[types.EnergyTransferMode],
    ) -> None:
        if evse_id.evse_id_din:
            self.evse.evse_id = evse_id.evse_id_din
        if supported_energy_transfer_modes:
            self.evse.energy_modes = tuple(str(m) for m in supported_energy_transfer_modes)

    async def handle_authorization_response(
        self, authorization_status: AuthorizationStatus
    ) -> None:
        accepted = authorization_status == AuthorizationStatus.Accepted
        self.evse.auth = Authorization.ACCEPTED if accepted else Authorization.REJECTED

    async def handle_set_power_allowed(self, value: bool) -> None:
        self.evse.power_allowed = value

    async def handle_dlink_ready(self, value: bool) -> None:
        if not value:
            await self.module.drop_session("the data link is gone (D-LINK_READY false)")

    async def handle_cable_check_finished(self, status: bool) -> None:
        self.evse.cable_check = status

    async def handle_stop_charging(self, stop: bool) -> None:
        self.evse.stop_requested = stop

    async def handle_update_ac_max_current(self, max_current: float) -> None:
        self.evse.ac_max_current = max_current

    async def handle_update_dc_maximum_limits(
        self, maximum_limits: types.DcEvseMaximumLimits
    ) -> None:
        self.evse.max_current = maximum_limits.evse_maximum_current_limit
        self.evse.max_power = maximum_limits.evse_maximum_power_limit
        self.evse.max_voltage = maximum_limits.evse_maximum_voltage_limit
        back = maximum_limits.evse_maximum_discharge_current_limit or 0.0
        self.evse.bidirectional = back > 0.0  # ISO-20 offers DC_BPT only then
        self.evse.max_discharge_current = back
        self.evse.max_discharge_power = maximum_limits.evse_maximum_discharge_power_limit or 0.0

    async def handle_update_dc_minimum_limits(
        self, minimum_limits: types.DcEvseMinimumLimits
    ) -> None:
        self.evse.min_current = minimum_limits.evse_minimum_current_limit
        self.evse.min_voltage = minimum_limits.evse_minimum_voltage_limit

    async def handle_update_isolation_status(self, isolation_status: types.IsolationStatus) -> None:
        self.evse.isolation = _ISOLATION[str(isolation_status)]

    async def handle_update_dc_present_values(
        self, present_voltage_current: types.DcEvsePresentVoltageCurrent
    ) -> None:
        self.evse.present_voltage = present_voltage_current.evse_present_voltage
        self.evse.present_current = present_voltage_current.evse_present_current or 0.0

    async def handle_send_error(self, error: types.EvseError) -> None:
        self.evse.malfunction = True

    async def handle_reset_error(self) -> None:
        self.evse.malfunction = False


class Iso15118Charger(Iso15118ChargerModuleBase):
    charger: Charger

    def create_charger(self, config: Iso15118ChargerChargerConfig) -> Charger:
        self.charger = Charger(self)
        return self.charger

    async def init(self) -> None:
        c = self.config
        self.evse = EvseState()
        names = [n.strip() for n in c.supported_protocols.split(",") if n.strip()]
        unknown = [n for n in names if n not in _PROTOCOLS]
        if unknown:
            raise ValueError(f"supported_protocols: unknown {unknown} (known: iso20, iso2, din)")
        modes = tuple(m.strip() for m in c.iso20_control_modes.split(",") if m.strip())
        self.secc_config = SeccConfig(
            protocols=tuple(_PROTOCOLS[n] for n in names),
            secc_priority=c.secc_priority,
            iso20=Offer(modes, c.iso20_mobility_needs_mode),  # a bad value fails the start
        )
        self.ssl_context = self._tls_context()
        self._events: asyncio.Queue[ev.Event | MessageInFlight] = asyncio.Queue()
        self._current: tuple[SeccSession, V2gtpStream] | None = None
        self._server: V2gServer | None = None
        self._sdp: SdpResponder | None = None
        self._protocol: str | None = None  # of the session whose events are being published
        self._ac = False  # whether that session transfers AC (its contactor vars are AC's)
        self._message: str | None = None  # the exchange in progress, for displays
        self._paused: str | None = None  # id of a session the EV paused (ISO 15118-2)

    def _tls_context(self) -> ssl.SSLContext | None:
        c = self.config
        if c.tls == "none":
            return None
        profile = pki.Profile.ISO20 if c.tls == "iso20" else pki.Profile.ISO2
        chain, key = pathlib.Path(c.certificate_chain), pathlib.Path(c.private_key)
        if not (c.certificate_chain and c.private_key):
            if not c.test_pki_dir:
                raise ValueError("tls needs certificate_chain and private_key (or test_pki_dir)")
            folder = pathlib.Path(c.test_pki_dir)
            files = pki.PkiFiles(
                folder / "v2g_root.pem", folder / "secc_chain.pem", folder / "secc.key"
            )
            if not (files.root.exists() and files.chain.exists() and files.key.exists()):
                files = pki.generate(profile).write(folder)
                self.log.info("made a test PKI in %s", folder)
            chain, key = files.chain, files.key
        # The standards' protocol versions and suites (evstack.hlc.transport.tls), with the
        # key's password where it has one.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        version = ssl.TLSVersion.TLSv1_3 if profile is pki.Profile.ISO20 else ssl.TLSVersion.TLSv1_2
        context.minimum_version = context.maximum_version = version
        if profile is pki.Profile.ISO2:
            context.set_ciphers(tls.ISO2_CIPHERS)
        context.load_cert_chain(chain, key, password=c.private_key_password or None)
        return context

    async def ready(self) -> None:
        self.start_task(self._publish_events())
        self.start_task(self._listen())

    async def shutdown(self) -> None:
        if self._sdp is not None:
            await self._sdp.close()
        if self._server is not None:
            await self._server.close()

    async def _listen(self) -> None:
        c = self.config
        sockets = socket_factory(c.netns)
        while True:
            try:
                address = link_local_address(c.device, sockets)
                self._server = await start_server(
                    self._serve,
                    c.device,
                    address,
                    ssl_context=self.ssl_context,
                    socket_factory=sockets,
                )
                self._sdp = await SdpResponder.start(
                    c.device,
                    tcp_port=self._server.port,
                    offered={Security.NONE} if self.ssl_context is None else {Security.TLS},
                    address=address,
                    socket_factory=sockets,
                )
            except OSError as exc:
                self.log.warning("cannot serve on %s yet (%s); retrying", c.device, exc)
                if self._server is not None:
                    await self._server.close()
                    self._server = None
                await asyncio.sleep(RETRY_S)
                continue
            self.log.info("SECC on [%s]:%d (%s)", address, self._server.port, c.device)
            return

    async def drop_session(self, reason: str) -> None:
        """End the running session (if any) and close its connection."""
        if self._current is None:
            return
        session, stream = self._current
        for output in session.connection_lost(reason):
            if not isinstance(output, ev.Send | ev.Close):
                self._events.put_nowait(output)
        await stream.close(reason)

    async def _serve(self, stream: V2gtpStream) -> None:
        # One EV per outlet: a new connection replaces a stale one.
        await self.drop_session("replaced by a new connection")
        self._reset_session_state()
        now = asyncio.get_running_loop().time()
        tls = stream.tls_version is not None
        session = SeccSession(
            self.evse, now, self.secc_config, paused_session=self._paused, tls=tls
        )
        self._current = (session, stream)
        try:
            await driver.serve(stream, session, self._events.put_nowait, self._on_send)
        finally:
            record = session.record
            self._paused = record.session_id if record.paused else None
            if self._current is not None and self._current[0] is session:
                self._current = None

    def _on_send(self, response: ev.Send) -> None:
        message = response.name.removesuffix("Res")
        if message != self._message:
            self._message = message
            self._events.put_nowait(MessageInFlight(message))

    def _reset_session_state(self) -> None:
        """What belongs to one session; limits and present values stay."""
        self._message = None
        self.evse.auth = Authorization.PENDING
        self.evse.cable_check = None
        self.evse.stop_requested = False

    async def _publish_events(self) -> None:
        impl = self.charger
        while True:
            event = await self._events.get()
            try:
                await self._publish(impl, event)
            except (OSError, ValueError) as exc:  # the broker away, a value out of its type
                self.log.warning("could not publish %s: %s", event, exc)

    async def _publish(self, impl: Charger, event: ev.Event | MessageInFlight) -> None:
        match event:
            case MessageInFlight(name=name):
                await impl.publish_v2g_message(name)
            case ev.ProtocolNegotiated(protocol=protocol):
                self._protocol = protocol
                await impl.publish_selected_protocol(protocol)
            case ev.SessionStarted(evcc_id=evcc_id):
                await impl.publish_evcc_id(evcc_id)
            case ev.RequireAuthEim():
                await impl.publish_require_auth_eim(None)
            case ev.EvChargeParameters(energy_transfer_mode=mode) if mode.startswith("AC"):
                self._ac = True
            case ev.EvChargeParameters():
                self._ac = False
                limits = types.DcEvMaximumLimits(
                    dc_ev_maximum_current_limit=event.max_current,
                    dc_ev_maximum_power_limit=event.max_power,
                    dc_ev_maximum_voltage_limit=event.max_voltage,
                )
                await impl.publish_dc_ev_maximum_limits(limits)
            case ev.StartCableCheck():
                await impl.publish_start_cable_check(None)
            case ev.StartPreCharge():
                await impl.publish_start_pre_charge(None)
            case ev.EvTarget(voltage=v, current=i):
                target = types.DcEvTargetValues(dc_ev_target_voltage=v, dc_ev_target_current=i)
                await impl.publish_dc_ev_target_voltage_current(target)
            case ev.PowerDelivery(start=True):
                if self._ac:
                    await impl.publish_ac_close_contactor(None)
                else:
                    await impl.publish_v2g_setup_finished(None)
                await impl.publish_current_demand_started(None)
            case ev.PowerDelivery(start=False):
                await impl.publish_current_demand_finished(None)
                if self._ac:
                    await impl.publish_ac_open_contactor(None)
                else:
                    await impl.publish_dc_open_contactor(None)
            case ev.EvStatus():
                status = types.DcEvStatus(
                    dc_ev_ready=event.ready,
                    dc_ev_error_code=types.DcEvErrorCode(event.error_code),
                    dc_ev_ress_soc=event.soc,
                )
                await impl.publish_dc_ev_status(status)
                if event.charging_complete is not None:
                    await impl.publish_dc_charging_complete(event.charging_complete)
            case ev.SessionEnded():
                await impl.publish_session_finished(
                    types.V2gSessionFinished(
                        clean=event.clean,
                        reason=event.reason,
                        response_code=event.response_code,
                        protocol=self._protocol,
                        paused=event.paused,
                    )
                )
                self._protocol = None
