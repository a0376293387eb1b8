"""The EVCC session on a hand clock, against a scripted charger: the request order of DIN
and ISO-2 (AC, DC), pacing, the battery's requests, and every way a session ends."""

from __future__ import annotations

import dataclasses

import pytest

from evstack.hlc.evcc import Battery, EvccConfig, EvccSession, codec
from evstack.hlc.evcc import events as ev

from .evcc_charger import ScriptedCharger

LATENCY = 0.02  # the charger's answer time, well inside every timeout


@dataclasses.dataclass
class Run:
    session: EvccSession
    charger: ScriptedCharger
    now: float = 1000.0
    outputs: list[ev.Output] = dataclasses.field(default_factory=list)
    loops_before_stop: int | None = None

    def carry(self, outputs: list[ev.Output]) -> None:
        for output in outputs:
            self.outputs.append(output)
            if isinstance(output, ev.Progress) and output.step == "ChargeLoop":
                loops = sum(
                    isinstance(o, ev.Progress) and o.step == "ChargeLoop" for o in self.outputs
                )
                if self.loops_before_stop is not None and loops >= self.loops_before_stop:
                    self.session.stop_charging()
        for output in outputs:
            if isinstance(output, ev.Send):
                schema = "app" if self.session.protocol is None else self.session.protocol
                answer = self.charger.answer(output.payload, schema)
                if answer is not None:
                    self.now += LATENCY
                    self.carry(self.session.receive(0x8001, answer, self.now))

    def until_end(self, limit: int = 10_000) -> ev.SessionEnded:
        self.carry(self.session.start(self.now))
        for _ in range(limit):
            if self.session.ended:
                break
            deadline = self.session.deadline()
            assert deadline is not None
            self.now = max(self.now, deadline)
            self.carry(self.session.poll(self.now))
        (ended,) = [o for o in self.outputs if isinstance(o, ev.SessionEnded)]
        return ended

    def steps(self) -> list[str]:
        return [
            o.step for o in self.outputs if isinstance(o, ev.Progress) and o.step != "ChargeLoop"
        ]


def run(
    config: EvccConfig,
    charger: ScriptedCharger,
    loops: int | None = 20,
    battery: Battery | None = None,
) -> Run:
    return Run(EvccSession(config, battery or Battery()), charger, loops_before_stop=loops)


DIN_DC = [
    "supportedAppProtocolReq",
    "SessionSetupReq",
    "ServiceDiscoveryReq",
    "ServicePaymentSelectionReq",
    "ContractAuthenticationReq",
    "ChargeParameterDiscoveryReq",
    "CableCheckReq",
    "PreChargeReq",
    "PowerDeliveryReq",
    # The stop command comes with the 20th response's notice, so a 21st request was out.
    *["CurrentDemandReq"] * 21,
    "PowerDeliveryReq",
    "WeldingDetectionReq",
    "SessionStopReq",
]


def test_din_dc_session_end_to_end() -> None:
    r = run(EvccConfig(protocols=("din",)), ScriptedCharger("din"), battery=Battery(soc=0.5))
    ended = r.until_end()
    assert ended.clean, ended.reason
    assert ended.protocol == "din"
    assert r.charger.requests == DIN_DC
    assert r.steps() == ["PowerReady", "DcPowerOn", "Charging", "Stopping"]
    # 20 loops, 0.1 s apart plus latency, at the battery's target: energy and SoC both rose.
    assert ended.energy_wh > 0
    assert r.session.battery.soc > 0.5
    assert r.session.battery.energy_in_wh == pytest.approx(ended.energy_wh)


def test_iso2_dc_uses_its_names_and_the_offered_schedule() -> None:
    r = run(EvccConfig(protocols=("iso2",)), ScriptedCharger("iso2"), loops=3)
    ended = r.until_end()
    assert ended.clean, ended.reason
    assert r.charger.requests[3:5] == ["PaymentServiceSelectionReq", "AuthorizationReq"]
    assert r.charger.requests[-3:] == ["PowerDeliveryReq", "WeldingDetectionReq", "SessionStopReq"]
    assert ended.energy_wh > 0


def test_iso2_ac_charging_status_loop() -> None:
    r = run(
        EvccConfig(protocols=("iso2", "din"), energy="AC"),
        ScriptedCharger("iso2", max_current=10),
        loops=5,
    )
    ended = r.until_end()
    assert ended.clean, ended.reason
    assert r.charger.requests.count("ChargingStatusReq") == 6  # the 5th's notice stops
    assert "CableCheckReq" not in r.charger.requests
    assert r.charger.requests[-2:] == ["PowerDeliveryReq", "SessionStopReq"]
    # AC draws what the charger allows (10 A of the EV's 16 A) on three phases at 230 V.
    loop = [o for o in r.outputs if isinstance(o, ev.Progress) and o.step == "ChargeLoop"]
    assert {o.current for o in loop} == {10.0}
    assert ended.energy_wh > 0


def test_ac_offers_only_iso2() -> None:
    session = EvccSession(EvccConfig(protocols=("din", "iso2"), energy="AC"), Battery())
    assert session.offered == ("iso2",)
    with pytest.raises(ValueError, match="DC only"):
        EvccConfig(protocols=("din",), energy="AC")


def test_ongoing_answers_are_repeated_at_the_loop_pace() -> None:
    r = run(
        EvccConfig(protocols=("din",), loop_interval=0.5),
        ScriptedCharger("din", ongoing=3),
        loops=1,
    )
    assert r.until_end().clean
    assert r.charger.requests.count("ContractAuthenticationReq") == 4
    assert r.charger.requests.count("CableCheckReq") == 4


def test_battery_full_ends_the_loop_without_a_command() -> None:
    r = run(
        EvccConfig(protocols=("din",)),
        ScriptedCharger("din"),
        loops=None,
        battery=Battery(soc=0.9, target_soc=0.9005, capacity_wh=1000),
    )
    ended = r.until_end()
    assert ended.clean
    assert r.session.battery.full
    demands = r.charger.requests.count("CurrentDemandReq")
    assert 1 <= demands < 100


def test_current_follows_the_taper_and_the_chargers_limit() -> None:
    r = run(
        EvccConfig(protocols=("din",)),
        ScriptedCharger("din", max_current=80),
        loops=3,
        battery=Battery(soc=0.2),
    )
    r.until_end()
    loop = [o for o in r.outputs if isinstance(o, ev.Progress) and o.step == "ChargeLoop"]
    assert all(o.current == 80 for o in loop)  # the charger's limit below the battery's 150 A
    battery = Battery(soc=0.95)
    assert battery.target_current() < Battery(soc=0.5).target_current()


@pytest.mark.parametrize(
    ("silent", "reason"),
    [
        ("CurrentDemandReq", "no response to CurrentDemandReq"),
        ("SessionSetupReq", "no response to SessionSetupReq"),
        ("PowerDeliveryReq", "no response to PowerDeliveryReq"),
    ],
)
def test_a_silent_charger_times_out(silent: str, reason: str) -> None:
    r = run(EvccConfig(protocols=("din",)), ScriptedCharger("din", silent=silent), loops=3)
    start = r.now
    ended = r.until_end()
    assert not ended.clean
    assert reason in ended.reason
    assert any(isinstance(o, ev.Close) for o in r.outputs)
    assert r.now - start < 10


def test_precharge_that_never_meets_the_battery_ends_after_its_time() -> None:
    r = run(EvccConfig(protocols=("din",)), ScriptedCharger("din", precharge_reaches=False))
    ended = r.until_end()
    assert not ended.clean
    assert "precharge not done in time" in ended.reason
    assert "PowerDeliveryReq" not in r.charger.requests  # never powered
    assert r.steps() == ["PowerReady"]  # asked for power, never closed its contactor


def test_cable_check_ongoing_for_ever_ends_after_40_s() -> None:
    charger = ScriptedCharger("din", ongoing=10_000)
    charger._ongoing_left["auth"] = 0
    r = run(EvccConfig(protocols=("din",), loop_interval=1.0), charger)
    ended = r.until_end()
    assert "cable check not done in time" in ended.reason
    assert 38 <= r.charger.requests.count("CableCheckReq") <= 41


@pytest.mark.parametrize(
    "response", ["SessionSetupRes", "ChargeParameterDiscoveryRes", "CurrentDemandRes"]
)
def test_a_failed_response_code_ends_the_session(response: str) -> None:
    r = run(EvccConfig(protocols=("din",)), ScriptedCharger("din", fail=response), loops=3)
    ended = r.until_end()
    assert not ended.clean
    assert f"{response}: FAILED" in ended.reason
    assert isinstance(r.outputs[-1], ev.Close)


def test_a_response_out_of_sequence_ends_the_session() -> None:
    session = EvccSession(EvccConfig(protocols=("din",)), Battery())
    charger = ScriptedCharger("din")
    (sap,) = session.start(0.0)
    assert isinstance(sap, ev.Send)
    answer = charger.answer(sap.payload, "app")
    assert answer is not None
    (setup,) = session.receive(0x8001, answer, 0.1)
    assert isinstance(setup, ev.Send)
    # Answer the SessionSetupReq with a SessionStopRes.
    wrong = charger.answer(setup.payload, "din")
    assert wrong is not None
    doc = codec.decode("din", wrong)
    doc["V2G_Message"]["Body"] = {"SessionStopRes": {"ResponseCode": "OK"}}
    outputs = session.receive(0x8001, codec.encode("din", doc), 0.2)
    (ended,) = [o for o in outputs if isinstance(o, ev.SessionEnded)]
    assert "SessionStopRes where SessionSetupRes was due" in ended.reason


def test_malformed_exi_and_wrong_payload_type_end_the_session() -> None:
    session = EvccSession(EvccConfig(protocols=("din",)), Battery())
    session.start(0.0)
    (ended, close) = session.receive(0x8001, b"\x80\xff\xff", 0.1)
    assert isinstance(ended, ev.SessionEnded)
    assert "undecodable app message" in ended.reason
    assert isinstance(close, ev.Close)
    other = EvccSession(EvccConfig(protocols=("din",)), Battery())
    other.start(0.0)
    (ended, _) = other.receive(0x8002, b"\x80", 0.1)
    assert isinstance(ended, ev.SessionEnded)
    assert "payload type 0x8002" in ended.reason


def test_a_lost_connection_reports_the_energy_so_far() -> None:
    charger = ScriptedCharger("din", silent="WeldingDetectionReq")
    r = run(EvccConfig(protocols=("din",)), charger, loops=5)
    r.carry(r.session.start(r.now))
    while charger.requests[-1] != "WeldingDetectionReq":
        r.now = max(r.now, r.session.deadline() or r.now)
        r.carry(r.session.poll(r.now))
    (ended,) = r.session.connection_lost("reset by peer")
    assert isinstance(ended, ev.SessionEnded)
    assert ended.reason == "connection lost: reset by peer"
    assert ended.energy_wh > 0
    assert r.session.deadline() is None


def test_precharge_trusts_the_inlet_over_the_chargers_report() -> None:
    # The charger claims the target voltage, but the EV's inlet reads nothing: no power on.
    r = run(EvccConfig(protocols=("din",)), ScriptedCharger("din"))
    r.session.inlet_voltage = 0.0
    ended = r.until_end()
    assert "precharge not done in time" in ended.reason
    r = run(
        EvccConfig(protocols=("din",)), ScriptedCharger("din", precharge_reaches=False), loops=2
    )
    r.session.inlet_voltage = r.session.battery.target_voltage()
    assert r.until_end().clean
