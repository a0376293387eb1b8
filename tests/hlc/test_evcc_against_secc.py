"""Our EVCC against our SECC (evstack.hlc.secc), in one process on a hand clock: two
implementations written apart, DIN 70121 DC, ISO 15118-2 DC and AC, and ISO 15118-20 DC
(scheduled, and dynamic with DC, DC_BPT and AC_BPT) from SupportedAppProtocol to SessionStop."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from evstack.hlc import secc
from evstack.hlc.evcc import Battery, EvccConfig, EvccSession
from evstack.hlc.evcc import events as ev
from evstack.hlc.secc import events as sev
from evstack.hlc.secc.iso20.dynamic import Offer

LATENCY = 0.005


CASES = {
    "din-dc": (EvccConfig(protocols=("din",)), ("DC_extended",)),
    "iso2-dc": (EvccConfig(protocols=("iso2",)), ("DC_extended",)),
    "iso2-ac": (EvccConfig(protocols=("iso2",), energy="AC"), ("AC_three_phase_core",)),
    "iso20-dc": (EvccConfig(protocols=("iso20",)), ("DC_extended",)),
}


@dataclasses.dataclass
class Run:
    ended: ev.SessionEnded
    charger: secc.SeccSession
    charger_events: list[sev.Output]
    car: EvccSession
    targets: list[sev.EvTarget]


def run(
    config: EvccConfig,
    evse: secc.EvseState,
    secc_config: secc.SeccConfig | None = None,
    on_loop: Callable[[int, EvccSession], None] = lambda loops, car: None,
    *,
    battery: Battery | None = None,
    paused_session: str | None = None,
    resume: str | None = None,
) -> Run:
    """One session; `on_loop` is called after each charge loop the EV reports (the test's
    hand on the charger or the car), and it stops the car after ten unless told otherwise."""
    now = 0.0
    # ISO-20 is offered on TLS connections only; the bytes here are the plaintext inside.
    charger = secc.SeccSession(
        evse, now, secc_config, tls="iso20" in config.protocols, paused_session=paused_session
    )
    car = EvccSession(config, battery or Battery(soc=0.4), resume=resume)
    loops = 0
    ev_out: list[ev.Output] = car.start(now)
    charger_events: list[sev.Output] = []
    ended: ev.SessionEnded | None = None
    for _ in range(10_000):
        for output in ev_out:
            if isinstance(output, ev.Progress) and output.step == "ChargeLoop":
                loops += 1
                on_loop(loops, car)
            elif isinstance(output, ev.SessionEnded):
                ended = output
        sends = [o for o in ev_out if isinstance(o, ev.Send)]
        ev_out = []
        for send in sends:
            now += LATENCY
            replies = charger.receive(send.payload_type, send.payload, now)
            charger_events += replies
            for reply in replies:
                # The charger's side, as EvseManager and the power path would act.
                if isinstance(reply, sev.RequireAuthEim):
                    evse.auth = secc.Authorization.ACCEPTED
                elif isinstance(reply, sev.StartCableCheck):
                    evse.cable_check, evse.isolation = True, secc.IsolationStatus.VALID
                elif isinstance(reply, sev.EvTarget):
                    # A supply in current control: the pack's voltage under that current,
                    # up to the target (a voltage limit).
                    pack = car.battery.ocv() + reply.current * car.battery.resistance_ohm
                    evse.present_voltage = min(reply.voltage, pack)
                    evse.present_current = reply.current
                elif isinstance(reply, sev.PowerDelivery) and not reply.start:
                    evse.present_current, evse.present_voltage = 0.0, 0.0
            for reply in replies:
                if isinstance(reply, sev.Send):
                    now += LATENCY
                    ev_out += car.receive(reply.payload_type, reply.payload, now)
        if car.ended and not ev_out:
            break
        if not sends and not ev_out:
            deadline = car.deadline()
            assert deadline is not None
            now = max(now, deadline)
            ev_out = car.poll(now)
    assert ended is not None
    targets = [e for e in charger_events if isinstance(e, sev.EvTarget)]
    return Run(ended, charger, charger_events, car, targets)


def stop_after(n: int) -> Callable[[int, EvccSession], None]:
    def hand(loops: int, car: EvccSession) -> None:
        if loops == n:
            car.stop_charging()

    return hand


def assert_clean(result: Run) -> None:
    assert result.ended.clean, result.ended.reason
    (charger_end,) = [e for e in result.charger_events if isinstance(e, sev.SessionEnded)]
    assert charger_end.clean, charger_end.reason


@pytest.mark.parametrize("case", list(CASES))
def test_a_session_between_our_evcc_and_our_secc(case: str) -> None:
    config, modes = CASES[case]
    evse = secc.EvseState(power_allowed=True, energy_modes=modes, ac_max_current=16.0)
    result = run(config, evse, on_loop=stop_after(10))
    assert_clean(result)
    assert result.ended.protocol == config.protocols[0]
    assert result.ended.energy_wh > 0
    assert result.car.battery.soc > 0.4
    assert result.charger.record.requests >= 10 + 10


DYNAMIC = secc.SeccConfig(iso20=Offer(("scheduled", "dynamic")))


def test_iso20_dc_dynamic_the_charger_sets_the_current() -> None:
    config = EvccConfig(protocols=("iso20",), control_mode="dynamic")
    evse = secc.EvseState(power_allowed=True, max_power=30_000.0)

    def hand(loops: int, car: EvccSession) -> None:
        if loops == 5:
            evse.dynamic_power = 10_000.0  # the energy manager turns the charger down
        if loops == 10:
            car.stop_charging()

    result = run(config, evse, DYNAMIC, hand)
    assert_clean(result)
    assert result.ended.energy_wh > 0
    assert result.car.battery.soc > 0.4
    # The charger's first charge target: 30 kW at the EV's voltage, within the EV's 150 A;
    # then 10 kW. The voltage is the EV's maximum, a limit (the supply regulates current).
    currents = [t.current for t in result.targets if t.current > secc.timing.PRE_CHARGE_CURRENT]
    assert currents[0] == pytest.approx(30_000 / result.car.battery.ocv(), rel=0.1)
    assert currents[-1] == pytest.approx(10_000 / result.car.battery.ocv(), rel=0.1)
    assert {t.voltage for t in result.targets if t.current in currents} == {420.0}


def test_iso20_dc_bpt_dynamic_the_charger_takes_energy_back() -> None:
    config = EvccConfig(protocols=("iso20",), control_mode="dynamic", bidirectional=True)
    evse = secc.EvseState(
        power_allowed=True, bidirectional=True, max_discharge_current=50, max_discharge_power=9000
    )
    energy_in = 0.0

    def hand(loops: int, car: EvccSession) -> None:
        nonlocal energy_in
        if loops == 6:
            energy_in = car.battery.energy_in_wh
            evse.dynamic_power = -20_000.0  # the grid wants energy: the charger takes it
        if loops == 14:
            car.stop_charging()

    result = run(config, evse, DYNAMIC, hand)
    assert_clean(result)
    battery = result.car.battery
    assert energy_in > 0  # it charged first
    assert battery.energy_out_wh > 0  # then gave energy back, at the charger's word
    backs = [t.current for t in result.targets if t.current < 0]
    assert backs
    assert min(backs) >= -50.0
    assert result.charger.record.protocol == "iso20"


def test_iso20_ac_bpt_dynamic_the_charger_asks_for_power_back() -> None:
    config = EvccConfig(
        protocols=("iso20",), energy="AC", control_mode="dynamic", bidirectional=True
    )
    evse = secc.EvseState(
        power_allowed=True,
        energy_modes=("AC_three_phase_core",),
        ac_max_current=16.0,
        bidirectional=True,
        max_discharge_power=7000.0,
    )
    energy_in = 0.0

    def hand(loops: int, car: EvccSession) -> None:
        nonlocal energy_in
        if loops == 5:
            energy_in = car.battery.energy_in_wh
            evse.dynamic_power = -5000.0
        if loops == 12:
            car.stop_charging()

    result = run(config, evse, DYNAMIC, hand)
    assert_clean(result)
    assert energy_in > 0
    assert result.car.battery.energy_out_wh > 0
    powers = [e.present_active_power for e in result.charger_events if isinstance(e, sev.AcEvPower)]
    assert min(powers) == pytest.approx(-5000.0)


@pytest.mark.parametrize("protocol", ["iso2", "iso20"])
def test_the_ev_pauses_its_session_and_joins_it_again(protocol: str) -> None:
    config = EvccConfig(protocols=(protocol,))
    evse = secc.EvseState(power_allowed=True, energy_modes=("DC_extended",))
    battery = Battery(soc=0.4)

    def pause_after_ten(loops: int, car: EvccSession) -> None:
        if loops == 10:
            assert car.pause_charging()

    first = run(config, evse, on_loop=pause_after_ten, battery=battery)
    assert_clean(first)
    (charger_end,) = [e for e in first.charger_events if isinstance(e, sev.SessionEnded)]
    assert charger_end.paused
    paused_id = first.charger.record.session_id
    assert paused_id is not None
    assert first.car.paused_session is not None
    assert first.car.paused_session.lower() == paused_id.lower()

    evse.auth = secc.Authorization.PENDING
    soc = battery.soc
    again = run(
        config,
        evse,
        on_loop=stop_after(10),
        battery=battery,
        paused_session=paused_id,
        resume=first.car.paused_session,
    )
    assert_clean(again)
    assert again.charger.record.session_id == paused_id  # the same session, joined again
    assert not again.charger.record.paused
    assert again.car.paused_session is None
    assert again.ended.energy_wh > 0
    assert battery.soc > soc


def test_din_has_no_pause() -> None:
    car = EvccSession(EvccConfig(protocols=("din",)), Battery())
    car.protocol = "din"
    assert not car.pause_charging()
    assert not car.stop_requested
