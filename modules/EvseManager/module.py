"""EvseManager on the bus: the `Charger` core between the board, Auth and the energy tree.

Everything that reaches the module (board vars and errors, commands from Auth and
operators, grants from the energy manager) becomes an input of the core, queued on
one `Stepper` so the core sees a single ordered stream. What the core answers is
carried out here: board commands, session events with meter readings, the energy
request, metering transactions.
"""

from __future__ import annotations

import datetime
import uuid

from evstack.generated.interfaces.evse_manager import EvseManagerImplBase
from evstack.generated.modules.evse_manager import EvseManagerModuleBase
from evstack.generated.types.authorization import (
    AuthorizationStatus,
    ProvidedIdToken,
    ValidationResult,
)
from evstack.generated.types.board_support_common import BspEvent, ProximityPilot
from evstack.generated.types.evse_board_support import HardwareCapabilities, PowerOnOff
from evstack.generated.types.evse_manager import (
    Connector,
    EnableDisableSource,
    Evse,
    Limits,
    SessionEvent,
    SessionEventEnum,
    SessionFinished,
    SessionStarted,
    StartSessionReason,
    StopTransactionReason,
    StopTransactionRequest,
    TransactionFinished,
    TransactionStarted,
)
from evstack.generated.types.powermeter import Powermeter, TransactionReq
from evstack.generated.types.units import Energy
from evstack.modules.EvseManager.charger import (
    Charger,
    ChargerConfig,
)
from evstack.modules.EvseManager.energy import EnergyLeaf
from evstack.modules.EvseManager.signals import (
    Action,
    AllowPower,
    Authorize,
    CableAmpacity,
    ClearError,
    CpChanged,
    CpState,
    CurrentLimit,
    Enable,
    Fault,
    FaultChanged,
    Input,
    MeasuredCurrent,
    Pause,
    Publish,
    RaiseError,
    RelayChanged,
    Resume,
    SetCpF,
    SetCpX1,
    SetPwm,
    StopReason,
    StopTransaction,
    WithdrawAuthorization,
)
from evstack.modules.EvseManager.signals import (
    SessionEvent as Milestone,
)
from evstack.runtime import ErrorEvent
from evstack.sim.clock import ScaledClock
from evstack.sim.stepper import Stepper
from evstack.sim.tasks import run_alongside

_KNOWN_FAULTS = {fault.value: fault for fault in Fault}
_AMPACITY = {"A_13": 13.0, "A_20": 20.0, "A_32": 32.0, "A_63_3ph_70_1ph": 63.0}


def _rfc3339_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


class EvseApi(EvseManagerImplBase):
    """The commands Auth, energy management and operators use."""

    def __init__(self, module: EvseManager) -> None:
        self.module = module
        self.paused = False

    async def handle_get_evse(self) -> Evse:
        return Evse(
            id=self.module.config.connector_id,
            connectors=[Connector(id=self.module.config.connector_id)],
        )

    async def handle_enable_disable(
        self, connector_id: int, cmd_source: EnableDisableSource
    ) -> bool:
        enabled = str(cmd_source.enable_state) != "Disable"
        self.module.feed(Enable(enabled))
        return enabled

    async def handle_authorize_response(
        self, provided_token: ProvidedIdToken, validation_result: ValidationResult
    ) -> None:
        if validation_result.authorization_status != AuthorizationStatus.Accepted:
            return  # Auth tells the user; nothing changes at the EVSE
        self.module.pending_token = provided_token
        self.module.feed(Authorize(provided_token.id_token.value))

    async def handle_withdraw_authorization(self) -> None:
        self.module.feed(WithdrawAuthorization())

    async def handle_pause_charging(self) -> bool:
        self.paused = True
        self.module.feed(Pause())
        return True

    async def handle_resume_charging(self) -> bool:
        # Judged from the commands, not the core: a pause may still be queued for it.
        was_paused, self.paused = self.paused, False
        self.module.feed(Resume())
        return was_paused

    async def handle_stop_transaction(self, request: StopTransactionRequest) -> bool:
        if not self.module.charger.in_transaction:
            return False
        self.module.feed(StopTransaction(_stop_reason(str(request.reason))))
        return True


def _stop_reason(name: str) -> StopReason:
    try:
        return StopReason(name)
    except ValueError:
        return StopReason.OTHER


class EvseManager(EvseManagerModuleBase):
    api: EvseApi
    energy: EnergyLeaf

    def create_evse(self, config: object) -> EvseApi:
        self.api = EvseApi(self)
        return self.api

    def create_energy_grid(self, config: object) -> EnergyLeaf:
        self.energy = EnergyLeaf(self)
        return self.energy

    async def init(self) -> None:
        c = self.config
        self.clock = ScaledClock(c.sim_speedup)
        self.charger = Charger(
            ChargerConfig(max_current_a=c.max_current_A, has_ventilation=c.has_ventilation)
        )
        self.stepper: Stepper[Input, Action] = Stepper(self.charger, self.clock, self._perform)
        self.pending_token: ProvidedIdToken | None = None
        self.session_uuid = ""
        self.transaction_token: ProvidedIdToken | None = None
        self.reading: Powermeter | None = None
        self._announced_limit: float | None = None
        if c.energy_management:
            self.feed(CurrentLimit(0.0))  # nothing until the energy manager grants it

        bsp = self.r_bsp
        bsp.subscribe_event(self._on_bsp_event)
        bsp.subscribe_ac_pp_ampacity(self._on_ampacity)
        bsp.subscribe_capabilities(self._on_capabilities)
        bsp.subscribe_errors(self._on_bsp_error)
        for meter in self.r_powermeter_grid_side:
            meter.subscribe_powermeter(self._on_reading)

    async def ready(self) -> None:
        await self.api.publish_evse_id(self.config.evse_id)
        await self.r_bsp.call_enable(value=True)  # the board answers with where things stand
        run_alongside(self.stepper.run(self.charger.start(self.clock.now())), self.energy.run())
        await self.api.publish_ready(True)

    def feed(self, event: Input) -> None:
        self.stepper.feed(event)

    # --- inputs -------------------------------------------------------------------------

    def _on_bsp_event(self, event: BspEvent) -> None:
        name = str(event.event)
        if name in ("PowerOn", "PowerOff"):
            self.feed(RelayChanged(name == "PowerOn"))
        elif name in CpState.__members__:
            self.feed(CpChanged(CpState(name)))

    def _on_ampacity(self, value: ProximityPilot) -> None:
        self.feed(CableAmpacity(_AMPACITY.get(str(value.ampacity))))

    def _on_capabilities(self, caps: HardwareCapabilities) -> None:
        self.charger.config.max_current_a = min(
            self.config.max_current_A, caps.max_current_A_import
        )

    def _on_bsp_error(self, event: ErrorEvent) -> None:
        fault = _KNOWN_FAULTS.get(event.type)
        if fault is not None:
            self.feed(FaultChanged(fault, event.active))

    def _on_reading(self, reading: Powermeter) -> None:
        self.reading = reading
        amps = reading.current_A
        if amps is not None:
            phases = [a for a in (amps.L1, amps.L2, amps.L3) if a is not None]
            self.feed(MeasuredCurrent(max(phases, default=0.0)))

    # --- actions ------------------------------------------------------------------------

    async def _perform(self, action: Action) -> None:
        bsp = self.r_bsp
        match action:
            case SetPwm(duty_percent=duty):
                await bsp.call_pwm_on(value=duty)
                await self._publish_limits()
            case SetCpX1():
                await bsp.call_cp_state_X1()
                await self._publish_limits()
            case SetCpF():
                await bsp.call_cp_state_F()
                await self._publish_limits()
            case AllowPower(allow=True):
                await bsp.call_allow_power_on(
                    value=PowerOnOff(allow_power_on=True, reason="FullPowerCharging")
                )
            case AllowPower(allow=False):
                await bsp.call_allow_power_on(
                    value=PowerOnOff(allow_power_on=False, reason="PowerOff")
                )
            case Publish():
                await self._publish_session_event(action)
            case RaiseError(error=error):
                await self.api.raise_error(error, "charging is not possible: see the board")
            case ClearError(error=error):
                await self.api.clear_error(error)

    async def _publish_limits(self) -> None:
        amps = self.charger.offered_current
        if amps != self._announced_limit:
            self._announced_limit = amps
            await self.api.publish_limits(
                Limits(
                    uuid=self.module_id,
                    max_current=amps,
                    nr_of_phases_available=self.config.phases,
                )
            )

    def _meter_value(self) -> Powermeter:
        if self.reading is not None:
            return self.reading
        return Powermeter(timestamp=_rfc3339_now(), energy_Wh_import=Energy(total=0.0))

    async def _publish_session_event(self, publish: Publish) -> None:
        milestone = publish.event
        if milestone is Milestone.SESSION_STARTED or not self.session_uuid:
            self.session_uuid = str(uuid.uuid4())
        fields: dict[str, object] = {}
        meter = self._meter_value()
        if milestone is Milestone.SESSION_STARTED:
            reason = StartSessionReason.EVConnected
            fields["session_started"] = SessionStarted(reason=reason, meter_value=meter)
        elif milestone is Milestone.TRANSACTION_STARTED:
            # Authorize reaches the core only from authorize_response, which keeps the token.
            assert self.pending_token is not None
            self.transaction_token = self.pending_token
            fields["transaction_started"] = TransactionStarted(
                id_tag=self.pending_token, meter_value=meter
            )
            await self._meter_transaction(start=True)
        elif milestone is Milestone.TRANSACTION_FINISHED:
            await self._meter_transaction(start=False)
            meter = self._meter_value()
            fields["transaction_finished"] = TransactionFinished(
                meter_value=meter,
                reason=StopTransactionReason(str(publish.stop_reason or StopReason.OTHER)),
                id_tag=self.transaction_token,
            )
            self.transaction_token = None
        elif milestone is Milestone.SESSION_FINISHED:
            fields["session_finished"] = SessionFinished(meter_value=meter)
        event = SessionEvent(
            uuid=self.session_uuid,
            timestamp=_rfc3339_now(),
            connector_id=self.config.connector_id,
            event=SessionEventEnum(milestone.value),
            **fields,  # type: ignore[arg-type]
        )
        await self.api.publish_session_event(event)
        if milestone is Milestone.SESSION_FINISHED:
            self.session_uuid = ""
            self.pending_token = None
        if milestone in (Milestone.SESSION_STARTED, Milestone.TRANSACTION_STARTED):
            # Plug-in and authorization change what this EVSE needs: tell the tree now.
            await self.energy.publish_request(priority=True)

    async def _meter_transaction(self, *, start: bool) -> None:
        for meter in self.r_powermeter_grid_side:
            if start:
                await meter.call_start_transaction(
                    value=TransactionReq(
                        evse_id=self.config.evse_id, transaction_id=self.session_uuid
                    )
                )
            else:
                await meter.call_stop_transaction(transaction_id=self.session_uuid)
