"""Our EVCC against our SECC (evstack.hlc.secc), in one process on a hand clock: two
implementations written apart, DIN 70121 DC, ISO 15118-2 DC and AC, and ISO 15118-20 DC
from SupportedAppProtocol to SessionStop."""

from __future__ import annotations

import pytest

from evstack.hlc import secc
from evstack.hlc.evcc import Battery, EvccConfig, EvccSession
from evstack.hlc.evcc import events as ev
from evstack.hlc.secc import events as sev

LATENCY = 0.005


CASES = {
    "din-dc": (EvccConfig(protocols=("din",)), ("DC_extended",)),
    "iso2-dc": (EvccConfig(protocols=("iso2",)), ("DC_extended",)),
    "iso2-ac": (EvccConfig(protocols=("iso2",), energy="AC"), ("AC_three_phase_core",)),
    "iso20-dc": (EvccConfig(protocols=("iso20",)), ("DC_extended",)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_session_between_our_evcc_and_our_secc(case: str) -> None:
    now = 0.0
    config, modes = CASES[case]
    evse = secc.EvseState(power_allowed=True, energy_modes=modes, ac_max_current=16.0)
    # ISO-20 is offered on TLS connections only; the bytes here are the plaintext inside.
    charger = secc.SeccSession(evse, now, tls="iso20" in config.protocols)
    car = EvccSession(config, Battery(soc=0.4))
    loops = 0
    ev_out: list[ev.Output] = car.start(now)
    charger_events: list[sev.Output] = []
    ended: ev.SessionEnded | None = None
    for _ in range(10_000):
        for output in ev_out:
            if isinstance(output, ev.Progress) and output.step == "ChargeLoop":
                loops += 1
                if loops == 10:
                    car.stop_charging()
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
                    evse.present_voltage, evse.present_current = reply.voltage, reply.current
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
    assert ended.clean, ended.reason
    assert ended.protocol == config.protocols[0]
    assert ended.energy_wh > 0
    assert car.battery.soc > 0.4
    (charger_end,) = [e for e in charger_events if isinstance(e, sev.SessionEnded)]
    assert charger_end.clean, charger_end.reason
    assert charger.record.requests >= 10 + 10
