"""The EVCC's ISO 15118-20 DC flow on a hand clock against a scripted charger: the request
order, the schema set and payload type of each message, the headers, the power profile, and
the ways it ends."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import pytest

from evstack.exi.v2gtp import PAYLOAD_TYPES
from evstack.hlc.evcc import Battery, EvccConfig, EvccSession, codec
from evstack.hlc.evcc import events as ev

from .evcc_charger20 import ScriptedCharger20

SCHEMAS = {int(PAYLOAD_TYPES[name]): name for name in ("app", "iso20", "iso20_ac", "iso20_dc")}
LATENCY = 0.02


@dataclasses.dataclass
class Run:
    session: EvccSession
    charger: ScriptedCharger20
    loops: int | None = 5
    now: float = 500.0
    outputs: list[ev.Output] = dataclasses.field(default_factory=list)
    hook: Callable[[ev.Output], None] | None = None  # sees every output, as an EV would

    def carry(self, outputs: list[ev.Output]) -> None:
        for output in outputs:
            self.outputs.append(output)
            if self.hook is not None:
                self.hook(output)
            if isinstance(output, ev.Progress) and output.step == "ChargeLoop":
                done = sum(
                    isinstance(o, ev.Progress) and o.step == "ChargeLoop" for o in self.outputs
                )
                if self.loops is not None and done >= self.loops:
                    self.session.stop_charging()
        for output in outputs:
            if isinstance(output, ev.Send):
                answer = self.charger.answer(output.payload, SCHEMAS[output.payload_type])
                if answer is not None:
                    self.now += LATENCY
                    self.carry(self.session.receive(output.payload_type, answer, self.now))

    def until_end(self) -> ev.SessionEnded:
        self.carry(self.session.start(self.now))
        for _ in range(10_000):
            if self.session.ended:
                break
            deadline = self.session.deadline()
            assert deadline is not None
            self.now = max(self.now, deadline)
            self.carry(self.session.poll(self.now))
        (ended,) = [o for o in self.outputs if isinstance(o, ev.SessionEnded)]
        return ended


def run(charger: ScriptedCharger20 | None = None, loops: int | None = 5) -> Run:
    config = EvccConfig(protocols=("iso20", "iso2"))
    return Run(EvccSession(config, Battery(soc=0.5)), charger or ScriptedCharger20(), loops)


ISO20_DC = [
    "supportedAppProtocolReq",
    "SessionSetupReq",
    "AuthorizationSetupReq",
    "AuthorizationReq",
    "ServiceDiscoveryReq",
    "ServiceDetailReq",
    "ServiceSelectionReq",
    "DC_ChargeParameterDiscoveryReq",
    "ScheduleExchangeReq",
    "DC_CableCheckReq",
    "DC_PreChargeReq",
    "DC_PreChargeReq",  # EVProcessing Finished, once the voltages met
    "PowerDeliveryReq",
    *["DC_ChargeLoopReq"] * 6,  # the stop comes with the 5th response's notice
    "PowerDeliveryReq",
    "DC_WeldingDetectionReq",
    "SessionStopReq",
]


def test_iso20_dc_session_end_to_end() -> None:
    r = run()
    before = int(time.time())
    ended = r.until_end()
    assert ended.clean, ended.reason
    assert ended.protocol == "iso20"
    assert r.charger.requests == ISO20_DC
    dc = {n for n, s in zip(r.charger.requests, r.charger.schemas, strict=True) if s == "iso20_dc"}
    assert dc == {
        "DC_ChargeParameterDiscoveryReq",
        "DC_CableCheckReq",
        "DC_PreChargeReq",
        "DC_ChargeLoopReq",
        "DC_WeldingDetectionReq",
    }
    # The first header carries eight zero bytes, every later one the charger's session id.
    assert r.charger.headers[0]["SessionID"] == "0000000000000000"
    assert {h["SessionID"] for h in r.charger.headers[1:]} == {"a1b2c3d4e5f60718"}
    assert all(h["TimeStamp"] >= before for h in r.charger.headers)
    assert ended.energy_wh > 0
    steps = [o.step for o in r.outputs if isinstance(o, ev.Progress) and o.step != "ChargeLoop"]
    assert steps == ["PowerReady", "DcPowerOn", "Charging", "Stopping"]


def test_the_scheduled_parameter_set_is_selected_and_the_stop_has_no_profile() -> None:
    r = run()
    r.until_end()
    # The charger offered parameter set 3 (scheduled) and schedule tuple 5.
    selection = r.charger.bodies["ServiceSelectionReq"]["SelectedEnergyTransferService"]
    assert selection == {"ServiceID": 2, "ParameterSetID": 3}
    start = r.charger.bodies["PowerDeliveryReq"]  # the last one is the stop
    assert start["ChargeProgress"] == "Stop"
    assert "EVPowerProfile" not in start


def test_ongoing_answers_repeat_at_the_loop_pace() -> None:
    r = run(ScriptedCharger20(ongoing=2))
    assert r.until_end().clean
    for request in ("AuthorizationReq", "ScheduleExchangeReq", "DC_CableCheckReq"):
        assert r.charger.requests.count(request) == 3


def test_the_charger_asking_to_terminate_ends_the_loop() -> None:
    r = run(ScriptedCharger20(terminate_after=3), loops=None)
    ended = r.until_end()
    assert ended.clean
    assert r.charger.requests.count("DC_ChargeLoopReq") == 3
    steps = [o.step for o in r.outputs if isinstance(o, ev.Progress)]
    assert "StopFromCharger" in steps


@pytest.mark.parametrize(
    ("charger", "reason"),
    [
        (ScriptedCharger20(services=("PnC",)), "no EIM"),
        (ScriptedCharger20(control_mode=3), "no DC parameter set to run"),
        (ScriptedCharger20(silent="DC_ChargeLoopReq"), "no response to DC_ChargeLoopReq"),
    ],
)
def test_what_the_ev_cannot_go_on_with(charger: ScriptedCharger20, reason: str) -> None:
    r = run(charger)
    start = r.now
    ended = r.until_end()
    assert not ended.clean
    assert reason in ended.reason
    if charger.silent == "DC_ChargeLoopReq":
        assert r.now - start < 30  # 0.5 s after the request, not 2 s per message
        last = [o for o in r.outputs if isinstance(o, ev.Send)][-1]
        assert last.name == "DC_ChargeLoopReq"


def test_power_delivery_start_has_the_profile() -> None:
    charger = ScriptedCharger20(silent="DC_ChargeLoopReq")
    r = run(charger)
    r.until_end()
    start = charger.bodies["PowerDeliveryReq"]
    assert start["ChargeProgress"] == "Start"
    profile = start["EVPowerProfile"]
    assert profile["Scheduled_EVPPTControlMode"]["SelectedScheduleTupleID"] == 5
    assert profile["EVPowerProfileEntries"]["EVPowerProfileEntry"][0]["Duration"] > 0


def test_iso20_ac_session_draws_the_chargers_target_power() -> None:
    config = EvccConfig(protocols=("iso20",), energy="AC")
    charger = ScriptedCharger20(ac_power=7_000.0)
    r = Run(EvccSession(config, Battery(soc=0.5)), charger, loops=4)
    ended = r.until_end()
    assert ended.clean, ended.reason
    assert charger.requests == [
        "supportedAppProtocolReq",
        "SessionSetupReq",
        "AuthorizationSetupReq",
        "AuthorizationReq",
        "ServiceDiscoveryReq",
        "ServiceDetailReq",
        "ServiceSelectionReq",
        "AC_ChargeParameterDiscoveryReq",
        "ScheduleExchangeReq",
        "PowerDeliveryReq",
        *["AC_ChargeLoopReq"] * 5,
        "PowerDeliveryReq",
        "SessionStopReq",
    ]
    assert set(charger.schemas[7:9]) == {"iso20_ac", "iso20"}
    assert charger.bodies["ServiceDetailReq"]["ServiceID"] == 1
    # The EV's 16 A on three phases would be 11 kW; the charger's 7 kW is the limit.
    assert charger.ac_drawn[-1] == pytest.approx(7_000.0)
    assert ended.energy_wh > 0
    steps = [o.step for o in r.outputs if isinstance(o, ev.Progress) and o.step != "ChargeLoop"]
    assert steps == ["PowerReady", "Charging", "Stopping"]


def test_iso20_offers_the_ac_namespace_for_ac() -> None:
    session = EvccSession(EvccConfig(protocols=("iso20", "din"), energy="AC"), Battery())
    (send,) = session.start(0.0)
    assert isinstance(send, ev.Send)
    assert session.offered == ("iso20",)
    request = codec.decode("app", send.payload)
    offers = request["supportedAppProtocolReq"]["AppProtocol"]
    assert [o["ProtocolNamespace"] for o in offers] == ["urn:iso:std:iso:15118:-20:AC"]


def test_a_bidirectional_ev_gives_energy_back_when_asked() -> None:
    config = EvccConfig(protocols=("iso20",), bidirectional=True)
    charger = ScriptedCharger20(max_discharge_power=3_700.0)
    session = EvccSession(config, Battery(soc=0.5))
    loops: list[ev.Progress] = []

    def ask(output: ev.Output) -> None:
        if isinstance(output, ev.Progress) and output.step == "ChargeLoop":
            loops.append(output)
            if len(loops) == 3:
                session.discharge(True)
            if len(loops) == 6:
                session.stop_charging()

    r = Run(session, charger, loops=None, hook=ask)
    ended = r.until_end()
    assert ended.clean, ended.reason
    assert charger.bodies["ServiceSelectionReq"]["SelectedEnergyTransferService"]["ServiceID"] == 6
    starts = [i for i, name in enumerate(charger.requests) if name == "PowerDeliveryReq"]
    assert len(starts) == 3  # Start (charge), Start (discharge), Stop
    # Charging at the battery's current, then giving back at the charger's 3.7 kW: 10 A at 370 V.
    assert charger.dc_currents[0] > 0
    assert charger.dc_currents[-1] == pytest.approx(-10.0, abs=0.01)
    assert session.battery.energy_in_wh > 0
    assert session.battery.energy_out_wh > 0
    steps = [o.step for o in r.outputs if isinstance(o, ev.Progress) and o.step != "ChargeLoop"]
    assert steps == ["PowerReady", "DcPowerOn", "Charging", "Discharging", "Stopping"]


def test_bidirectional_needs_iso20() -> None:
    with pytest.raises(ValueError, match="ISO-20 only"):
        EvccConfig(protocols=("iso2",), bidirectional=True)


def test_a_bidirectional_ac_ev_gives_power_back_when_asked() -> None:
    config = EvccConfig(protocols=("iso20",), energy="AC", bidirectional=True)
    charger = ScriptedCharger20(ac_power=7_000.0, max_discharge_power=3_000.0)
    session = EvccSession(config, Battery(soc=0.5))
    loops: list[ev.Progress] = []

    def ask(output: ev.Output) -> None:
        if isinstance(output, ev.Progress) and output.step == "ChargeLoop":
            loops.append(output)
            if len(loops) == 2:
                session.discharge(True)
            if len(loops) == 5:
                session.stop_charging()

    ended = Run(session, charger, loops=None, hook=ask).until_end()
    assert ended.clean, ended.reason
    assert charger.bodies["ServiceSelectionReq"]["SelectedEnergyTransferService"]["ServiceID"] == 5
    assert charger.ac_drawn[0] == pytest.approx(7_000.0)
    assert charger.ac_drawn[-1] == pytest.approx(-3_000.0)  # the charger's discharge limit
    assert session.battery.energy_in_wh > 0
    assert session.battery.energy_out_wh > 0
