"""What the API knows of each EVSE and simulated EV, kept up to date from their vars.

The module feeds `Live` with what it hears on the bus; `Live` keeps one mutable view per EVSE
and per simulated EV, answers the API's reads from them without a round trip, and tells every
listener of the event stream what changed. Each event is encoded once, whatever the number of
listeners, and a listener that falls behind by a whole queue is dropped rather than slowing
the others or growing without bound.
"""

from __future__ import annotations

import asyncio
import datetime
from dataclasses import dataclass

import msgspec

from evstack.generated.types.board_support_common import BspEvent, BspMeasurement
from evstack.generated.types.charger_api import (
    ChargePointStatus,
    EvseStatus,
    LiveEvent,
    LiveEventKind,
    PilotState,
    SimEvStatus,
)
from evstack.generated.types.evse_manager import (
    EVInfo,
    Limits,
    SessionEvent,
    SessionEventEnum,
    TransactionRecord,
)
from evstack.generated.types.powermeter import Powermeter

# Events a listener may have waiting before it counts as gone (a second of a busy charger).
LISTENER_QUEUE = 256

# The state a session event leaves the EVSE in; events not named leave it as it was.
_STATE_AFTER: dict[SessionEventEnum, ChargePointStatus] = {
    SessionEventEnum.Enabled: ChargePointStatus.Available,
    SessionEventEnum.Disabled: ChargePointStatus.Unavailable,
    SessionEventEnum.SessionStarted: ChargePointStatus.Preparing,
    SessionEventEnum.AuthRequired: ChargePointStatus.Preparing,
    SessionEventEnum.Authorized: ChargePointStatus.Preparing,
    SessionEventEnum.Deauthorized: ChargePointStatus.Preparing,
    SessionEventEnum.TransactionStarted: ChargePointStatus.Preparing,
    SessionEventEnum.PrepareCharging: ChargePointStatus.Preparing,
    SessionEventEnum.SessionResumed: ChargePointStatus.Preparing,
    SessionEventEnum.ChargingStarted: ChargePointStatus.Charging,
    SessionEventEnum.ChargingResumed: ChargePointStatus.Charging,
    SessionEventEnum.ChargingPausedEV: ChargePointStatus.SuspendedEV,
    SessionEventEnum.ChargingPausedEVSE: ChargePointStatus.SuspendedEVSE,
    SessionEventEnum.StoppingCharging: ChargePointStatus.Finishing,
    SessionEventEnum.ChargingFinished: ChargePointStatus.Finishing,
    SessionEventEnum.TransactionFinished: ChargePointStatus.Finishing,
    SessionEventEnum.SessionFinished: ChargePointStatus.Available,
    SessionEventEnum.PluginTimeout: ChargePointStatus.Available,
}
_PILOT_STATES = frozenset(state.value for state in PilotState)


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")


@dataclass(slots=True)
class _EvseView:
    evse: int
    evse_id: str = ""
    connector_id: int | None = None
    ready: bool = False
    state: ChargePointStatus = ChargePointStatus.Available
    session_id: str | None = None
    id_token: str | None = None
    limits: Limits | None = None
    current_limit_a: float | None = None
    reading: Powermeter | None = None
    start_wh: float | None = None  # the meter at the start of the running transaction
    last_energy_wh: float | None = None  # the last transaction's, until the next starts
    pilot: PilotState | None = None
    duty_percent: float | None = None
    contactor_closed: bool | None = None

    def status(self) -> EvseStatus:
        reading = self.reading
        current = reading.current_A if reading else None
        phases = (
            [c for c in (current.L1, current.L2, current.L3) if c is not None] if current else []
        )
        energy = self.last_energy_wh
        if self.start_wh is not None and reading is not None:
            energy = reading.energy_Wh_import.total - self.start_wh
        return EvseStatus(
            evse=self.evse,
            evse_id=self.evse_id,
            connector_id=self.connector_id,
            state=self.state if self.ready else ChargePointStatus.Unavailable,
            ready=self.ready,
            session_id=self.session_id,
            id_token=self.id_token,
            offered_current_A=self.limits.max_current if self.limits else None,
            phases=self.limits.nr_of_phases_available if self.limits else None,
            current_limit_A=self.current_limit_a,
            power_W=reading.power_W.total if reading and reading.power_W else None,
            current_A=max(phases) if phases else None,
            energy_Wh=energy,
            meter_Wh=reading.energy_Wh_import.total if reading else None,
            pilot_state=self.pilot,
            pwm_duty_percent=self.duty_percent,
            contactor_closed=self.contactor_closed,
        )


@dataclass(slots=True)
class _EvView:
    ev: int
    soc_percent: float | None = None
    energy_wh: float | None = None
    script_state: str | None = None

    def status(self) -> SimEvStatus:
        return SimEvStatus(
            ev=self.ev,
            soc_percent=self.soc_percent,
            energy_Wh=self.energy_wh,
            script_state=self.script_state,
        )


class Listener:
    """One client of the event stream: encoded events, None once it has fallen behind."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(LISTENER_QUEUE)


class Live:
    """The EVSEs (numbered from 1) and simulated EVs, and the listeners to their changes."""

    def __init__(self, evse_count: int, ev_count: int) -> None:
        self.evses = [_EvseView(n) for n in range(1, evse_count + 1)]
        self.evs = [_EvView(n) for n in range(1, ev_count + 1)]
        self.listeners: set[Listener] = set()
        self._encoder = msgspec.json.Encoder()

    # --- reads ----------------------------------------------------------------------------

    def evse_statuses(self) -> list[EvseStatus]:
        return [view.status() for view in self.evses]

    def ev_statuses(self) -> list[SimEvStatus]:
        return [view.status() for view in self.evs]

    # --- the EVSEs' vars ------------------------------------------------------------------

    def on_session_event(self, evse: int, event: SessionEvent) -> None:
        view = self.evses[evse - 1]
        view.state = _STATE_AFTER.get(event.event, view.state)
        if event.event == SessionEventEnum.SessionStarted:
            view.session_id = event.uuid
        elif event.event == SessionEventEnum.SessionFinished:
            view.session_id = view.id_token = None
        elif event.transaction_started is not None:
            view.session_id = event.uuid
            view.id_token = event.transaction_started.id_tag.id_token.value
            view.start_wh = event.transaction_started.meter_value.energy_Wh_import.total
            view.last_energy_wh = None
        elif event.transaction_finished is not None and view.start_wh is not None:
            stop_wh = event.transaction_finished.meter_value.energy_Wh_import.total
            view.last_energy_wh, view.start_wh = stop_wh - view.start_wh, None
        now = now_rfc3339()
        self._emit(LiveEvent(kind=LiveEventKind.session, evse=evse, time=now, session_event=event))
        self._evse_changed(view)

    def on_running_transaction(self, evse: int, record: TransactionRecord) -> None:
        """A transaction that ran before this module started, from the EVSE's journal."""
        view = self.evses[evse - 1]
        if view.session_id is None:
            view.session_id = record.session_uuid
            view.id_token = record.transaction_started.id_tag.id_token.value
            view.start_wh = record.transaction_started.meter_value.energy_Wh_import.total
            self._evse_changed(view)

    def on_limits(self, evse: int, limits: Limits) -> None:
        view = self.evses[evse - 1]
        view.limits = limits
        self._evse_changed(view)

    def on_reading(self, evse: int, reading: Powermeter) -> None:
        view = self.evses[evse - 1]
        view.reading = reading
        self._evse_changed(view)

    def on_evse_id(self, evse: int, evse_id: str) -> None:
        view = self.evses[evse - 1]
        view.evse_id = evse_id
        self._evse_changed(view)

    def on_ready(self, evse: int, ready: bool) -> None:
        view = self.evses[evse - 1]
        view.ready = ready
        self._evse_changed(view)

    def on_connector(self, evse: int, connector_id: int) -> None:
        self.evses[evse - 1].connector_id = connector_id

    def on_current_limit(self, evse: int, amps: float | None) -> None:
        view = self.evses[evse - 1]
        view.current_limit_a = amps
        self._evse_changed(view)

    # --- the simulated line and EVs -------------------------------------------------------

    def on_line_event(self, evse: int, event: BspEvent) -> None:
        view = self.evses[evse - 1]
        if event.event in _PILOT_STATES:
            view.pilot = PilotState(event.event)
        elif event.event in ("PowerOn", "PowerOff"):
            view.contactor_closed = event.event == "PowerOn"
        else:
            return
        self._evse_changed(view)

    def on_line_measurement(self, evse: int, measurement: BspMeasurement) -> None:
        view = self.evses[evse - 1]
        view.duty_percent = measurement.cp_pwm_duty_cycle
        self._evse_changed(view)

    def on_ev_info(self, ev: int, info: EVInfo) -> None:
        view = self.evs[ev - 1]
        view.soc_percent = info.soc
        self._ev_changed(view)

    def on_ev_energy(self, ev: int, energy_wh: float) -> None:
        view = self.evs[ev - 1]
        view.energy_wh = energy_wh
        self._ev_changed(view)

    def on_ev_script_state(self, ev: int, state: str) -> None:
        view = self.evs[ev - 1]
        view.script_state = state
        self._ev_changed(view)

    # --- the event stream -----------------------------------------------------------------

    def snapshot(self) -> list[bytes]:
        """Every EVSE's and EV's status as events: where a new listener starts from."""
        now = now_rfc3339()
        events = [
            LiveEvent(kind=LiveEventKind.evse, evse=v.evse, time=now, status=v.status())
            for v in self.evses
        ]
        events += [
            LiveEvent(kind=LiveEventKind.ev, evse=v.ev, time=now, ev=v.status()) for v in self.evs
        ]
        return [self._encoder.encode(event) for event in events]

    def listen(self) -> Listener:
        listener = Listener()
        self.listeners.add(listener)
        return listener

    def forget(self, listener: Listener) -> None:
        self.listeners.discard(listener)

    def _evse_changed(self, view: _EvseView) -> None:
        if self.listeners:
            status = view.status()
            self._emit(
                LiveEvent(
                    kind=LiveEventKind.evse, evse=view.evse, time=now_rfc3339(), status=status
                )
            )

    def _ev_changed(self, view: _EvView) -> None:
        if self.listeners:
            ev = view.status()
            self._emit(LiveEvent(kind=LiveEventKind.ev, evse=view.ev, time=now_rfc3339(), ev=ev))

    def _emit(self, event: LiveEvent) -> None:
        if not self.listeners:
            return
        payload = self._encoder.encode(event)
        for listener in list(self.listeners):
            try:
                listener.queue.put_nowait(payload)
            except asyncio.QueueFull:
                # Behind by a whole queue: tell it to go (after what it has), forget it.
                self.listeners.discard(listener)
                listener.queue.get_nowait()
                listener.queue.put_nowait(None)
