"""What the dashboard knows about each EVSE and each session, fed by the EVSEs' vars.

Kept apart from rendering and MQTT so that the bookkeeping (energy, durations, peaks,
when the run is done) can be read and tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evstack.generated.types.evse_manager import Limits, SessionEvent, SessionEventEnum
from evstack.generated.types.powermeter import Powermeter
from evstack.generated.types.units import Energy

__all__ = ["EvseView", "Ledger", "SessionRecord"]

# What a driver would call the state an event leaves the EVSE in.
_STATE_AFTER: dict[SessionEventEnum, str] = {
    SessionEventEnum.Enabled: "Available",
    SessionEventEnum.Disabled: "Disabled",
    SessionEventEnum.SessionStarted: "Plugged in",
    SessionEventEnum.AuthRequired: "Waiting for auth",
    SessionEventEnum.Authorized: "Authorized",
    SessionEventEnum.Deauthorized: "Deauthorized",
    SessionEventEnum.TransactionStarted: "Authorized",
    SessionEventEnum.PrepareCharging: "Preparing",
    SessionEventEnum.ChargingStarted: "Charging",
    SessionEventEnum.ChargingResumed: "Charging",
    SessionEventEnum.ChargingPausedEV: "Paused by EV",
    SessionEventEnum.ChargingPausedEVSE: "Paused by EVSE",
    SessionEventEnum.StoppingCharging: "Stopping",
    SessionEventEnum.ChargingFinished: "Finished",
    SessionEventEnum.TransactionFinished: "Finished",
    SessionEventEnum.SessionFinished: "Available",
    SessionEventEnum.PluginTimeout: "Plug-in timeout",
}


@dataclass(slots=True)
class SessionRecord:
    """One transaction: from TransactionStarted to TransactionFinished on one EVSE."""

    evse: str
    evse_id: str
    session_id: str
    id_token: str
    started_at: str
    started_s: float
    start_wh: float
    stopped_at: str | None = None
    stopped_s: float | None = None
    stop_wh: float | None = None
    stop_reason: str | None = None
    # None until a meter reports a current during the transaction.
    peak_current_a: float | None = None
    # Energy back from the EV (bidirectional DC), where the meter counts it.
    start_export_wh: float | None = None
    stop_export_wh: float | None = None

    @property
    def energy_wh(self) -> float | None:
        return None if self.stop_wh is None else self.stop_wh - self.start_wh

    @property
    def export_wh(self) -> float | None:
        if self.start_export_wh is None or self.stop_export_wh is None:
            return None
        return self.stop_export_wh - self.start_export_wh

    @property
    def duration_s(self) -> float | None:
        return None if self.stopped_s is None else self.stopped_s - self.started_s

    def as_json(self) -> dict[str, Any]:
        energy_wh = self.energy_wh
        export_wh = self.export_wh
        duration_s = self.duration_s
        return {
            "evse": self.evse,
            "evse_id": self.evse_id,
            "session_id": self.session_id,
            "id_token": self.id_token,
            "started_at": self.started_at,
            "stopped_at": self.stopped_at,
            # The charger's clock (simulated seconds since the dashboard started): unlike
            # the wall-clock timestamps, these scale with the simulation speed-up.
            "started_s": round(self.started_s, 1),
            "stopped_s": None if self.stopped_s is None else round(self.stopped_s, 1),
            "energy_kWh": None if energy_wh is None else round(energy_wh / 1000, 4),
            "energy_export_kWh": None if export_wh is None else round(export_wh / 1000, 4),
            "duration_s": None if duration_s is None else round(duration_s, 1),
            "peak_current_A": None
            if self.peak_current_a is None
            else round(self.peak_current_a, 2),
            "stop_reason": self.stop_reason,
        }


@dataclass(slots=True)
class EvseView:
    """The latest of everything one EVSE told us."""

    module_id: str
    evse_id: str = ""
    state: str = "Starting"
    offered_a: float = 0.0
    drawn_a: float = 0.0
    meter_wh: float | None = None
    in_session: bool = False
    # Whether the running session started a transaction: one that did not (its token was
    # never accepted, a handler failed) is a failed session, not a done one.
    had_transaction: bool = False
    transaction: SessionRecord | None = None
    present_v: float | None = None  # the meter's voltage (DC: the output's)
    present_a: float = 0.0  # DC: signed, negative while the EV gives energy back
    hlc: HlcView | None = None  # with an SECC wired: the V2G session's side


@dataclass(slots=True)
class HlcView:
    """What the SECC says of the V2G session in progress (ISO15118_charger's vars)."""

    protocol: str = ""
    message: str = ""
    target_v: float | None = None
    target_a: float | None = None
    soc: float | None = None

    def describe(self, view: EvseView) -> str:
        """The protocol, the exchange in progress, the EV's target, the present values, SoC."""
        parts = [f"{self.protocol} {self.message or '-'}".strip()]
        if self.target_v is not None and self.target_a is not None:
            parts.append(f"EV target {self.target_v:.1f} V {self.target_a:.1f} A")
        volts = "" if view.present_v is None else f"{view.present_v:.1f} V "
        parts.append(f"present {volts}{view.present_a:.1f} A")
        if self.soc is not None:
            parts.append(f"SoC {self.soc:.0f} %")
        return ", ".join(parts)


@dataclass(slots=True)
class Ledger:
    """Every EVSE's view, the finished transactions, and the site's peak current.

    `now` arguments are readings of the charger's clock (simulated seconds), so durations
    come out in the charger's time whatever the simulation speed-up.
    """

    evses: dict[str, EvseView]
    finished: list[SessionRecord] = field(default_factory=list)
    # Sessions that ended without a transaction: (EVSE module id, its id, the last state).
    without_transaction: list[tuple[str, str, str]] = field(default_factory=list)
    sessions_ended: int = 0
    peak_site_current_a: float = 0.0

    @classmethod
    def for_evses(cls, module_ids: list[str]) -> Ledger:
        return cls({m: EvseView(m) for m in module_ids})

    @property
    def all_free(self) -> bool:
        return not any(view.in_session for view in self.evses.values())

    def on_session_event(self, evse: str, event: SessionEvent, now: float) -> None:
        view = self.evses[evse]
        before = view.state
        view.state = _STATE_AFTER.get(event.event, view.state)
        if event.event in (SessionEventEnum.TransactionFinished, SessionEventEnum.SessionFinished):
            # The contactor is open: nothing is drawn, whatever the last meter reading (up to
            # an interval old) said. A run that finishes on this event shows it so.
            view.drawn_a = view.present_a = 0.0
        if event.event is SessionEventEnum.SessionStarted:
            view.in_session = True
            view.had_transaction = False
        elif event.event is SessionEventEnum.SessionFinished:
            # Only sessions seen starting count: an EVSE that finishes one of an earlier run
            # at start-up (a power cut) is not a session of this run.
            if view.in_session:
                self.sessions_ended += 1
                if not view.had_transaction:
                    self.without_transaction.append((evse, view.evse_id, before))
            view.in_session = False
        elif event.event is SessionEventEnum.TransactionStarted and event.transaction_started:
            started = event.transaction_started
            view.in_session = True
            view.had_transaction = True
            view.transaction = SessionRecord(
                evse=evse,
                evse_id=view.evse_id,
                session_id=event.uuid,
                id_token=started.id_tag.id_token.value,
                started_at=event.timestamp,
                started_s=now,
                start_wh=started.meter_value.energy_Wh_import.total,
                start_export_wh=_total(started.meter_value.energy_Wh_export),
            )
        elif event.event is SessionEventEnum.TransactionFinished and event.transaction_finished:
            record = view.transaction
            if record is None or record.session_id != event.uuid:
                return  # we started watching mid-transaction: its start is unknown
            finished = event.transaction_finished
            record.stopped_at = event.timestamp
            record.stopped_s = now
            record.stop_wh = finished.meter_value.energy_Wh_import.total
            record.stop_export_wh = _total(finished.meter_value.energy_Wh_export)
            record.stop_reason = str(finished.reason or "Other")
            self.finished.append(record)
            view.transaction = None

    def on_evse_id(self, evse: str, evse_id: str) -> None:
        self.evses[evse].evse_id = evse_id

    def on_limits(self, evse: str, limits: Limits) -> None:
        self.evses[evse].offered_a = limits.max_current

    def on_reading(self, evse: str, reading: Powermeter) -> None:
        view = self.evses[evse]
        view.meter_wh = reading.energy_Wh_import.total
        amps, volts = reading.current_A, reading.voltage_V
        phases = [] if amps is None else [a for a in (amps.L1, amps.L2, amps.L3) if a is not None]
        if amps is not None and amps.DC is not None:
            view.present_a = amps.DC
            view.drawn_a = abs(amps.DC)  # either way: energy back (BPT) is current too
            view.present_v = None if volts is None else volts.DC
        else:
            view.drawn_a = view.present_a = max(phases, default=0.0)
            view.present_v = None if volts is None else volts.L1
        record = view.transaction
        if record is not None:
            record.peak_current_a = max(record.peak_current_a or 0.0, view.drawn_a)
        # Per phase, summed over the EVSEs' latest readings: what the site fuse carried at
        # its worst. This includes the ramps: an EV has seconds to follow a lower offer,
        # and readings of two meters are not taken at the same instant.
        site_a = sum(v.drawn_a for v in self.evses.values())
        self.peak_site_current_a = max(self.peak_site_current_a, site_a)

    def session_energy_wh(self, evse: str) -> float | None:
        """Energy of the running transaction so far, from the latest meter reading."""
        view = self.evses[evse]
        if view.transaction is None or view.meter_wh is None:
            return None
        return view.meter_wh - view.transaction.start_wh

    def summary(self, *, complete: bool, expected_sessions: int) -> dict[str, Any]:
        """The run's result: what `ev-manager run --summary-json` writes."""
        return {
            "complete": complete,
            "expected_sessions": expected_sessions,
            "sessions_ended": self.sessions_ended,
            "peak_site_current_A": round(self.peak_site_current_a, 2),
            "sessions": [record.as_json() for record in self.finished],
            "sessions_without_transaction": [
                {"evse": evse, "evse_id": evse_id, "last_state": state}
                for evse, evse_id, state in self.without_transaction
            ],
        }


def _total(energy: Energy | None) -> float | None:
    return None if energy is None else energy.total
