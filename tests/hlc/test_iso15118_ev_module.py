"""Iso15118Ev over Mosquitto: an EV simulator's probe starts a DIN session, the module finds a
scripted charger by SDP on a veth pair (its own end in a test-made namespace, MQTT on the
host), charges, stops on command, and reports every step; and the ways it cannot start."""

from __future__ import annotations

import secrets
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest

from evstack.exi.sdp import Security
from evstack.exi.v2gtp import PAYLOAD_TYPES
from evstack.hlc.transport import pki, sdp, stream, tls
from evstack.hlc.transport.netif import link_local_address
from evstack.runtime.manager import running
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, RunPlan, module_class_path

from . import ev_probe
from .evcc_charger import ScriptedCharger
from .evcc_charger20 import ScriptedCharger20
from .netns import Namespace, veth_pair

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(60)]

MOSQUITTO = BrokerSettings(host="127.0.0.1", port=1883)


@pytest.fixture
def mosquitto() -> BrokerSettings:
    try:
        socket.create_connection((MOSQUITTO.host, MOSQUITTO.port), timeout=1).close()
    except OSError:
        pytest.fail("Mosquitto is not running on 127.0.0.1:1883 (run `make mosquitto`)")
    return MOSQUITTO


class Charger(Protocol):
    def answer(self, payload: bytes, schema: str) -> bytes | None: ...


@asynccontextmanager
async def scripted_secc(
    space: Namespace,
    charger: Charger,
    schema: str = "din",
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[None]:
    """A V2G server answering with `charger`, announced by SDP, in `space` on v2g0; `schema`
    is what follows SupportedAppProtocol on payload type 0x8001 (din or iso2)."""
    by_type = {int(PAYLOAD_TYPES[name]): name for name in ("iso20", "iso20_dc")}

    async def serve(connection: stream.V2gtpStream) -> None:
        first = True
        try:
            while True:
                payload_type, payload = await connection.receive()
                current = by_type.get(payload_type, "app" if first else schema)
                first = False
                answer = charger.answer(payload, current)
                if answer is not None:
                    await connection.send(payload_type, answer)
        except stream.StreamClosedError:
            pass

    address = link_local_address("v2g0", space.socket)
    server = await stream.start_server(
        serve, "v2g0", address, ssl_context=ssl_context, socket_factory=space.socket
    )
    offered = {Security.NONE if ssl_context is None else Security.TLS}
    responder = await sdp.SdpResponder.start(
        "v2g0", tcp_port=server.port, offered=offered, socket_factory=space.socket
    )
    try:
        yield
    finally:
        await responder.close()
        await server.close()


@asynccontextmanager
async def ev_stack(broker: BrokerSettings, **config: Any) -> AsyncIterator[ev_probe.EvProbe]:
    tag = f"evcc{secrets.token_hex(3)}"
    plans = [
        ModulePlan(f"{tag}_ev", module_class_path("Iso15118Ev"), config),
        ModulePlan(
            f"{tag}_probe",
            f"{ev_probe.__name__}:EvProbe",
            connections={"ev": [(f"{tag}_ev", "ev")]},
        ),
    ]
    async with running(RunPlan(plans, broker=broker, prefix=f"test-{tag}")):
        yield await ev_probe.instance(f"{tag}_probe")


async def test_a_din_session_from_start_to_stop_over_the_bus(mosquitto: BrokerSettings) -> None:
    charger = ScriptedCharger("din")
    with veth_pair() as (ev_space, cs_space):
        async with (
            scripted_secc(cs_space, charger),
            ev_stack(
                mosquitto, netns=ev_space.name, supported_protocols="din", loop_interval_s=0.05
            ) as probe,
        ):
            assert await probe.ev.call_start_charging(
                EnergyTransferMode="DC_extended", DepartureTime=0, EAmount=0
            )
            # A second start while one runs is refused.
            assert not await probe.ev.call_start_charging(
                EnergyTransferMode="DC_extended", DepartureTime=0, EAmount=0
            )
            await probe.until(lambda: probe.power_ready[-1:] == [True] and probe.dc_power_on == 1)
            await probe.until(lambda: probe.loops() >= 5)
            await probe.ev.call_stop_charging()
            await probe.until(lambda: probe.finished == 1)
            assert probe.power_ready[-1] is False
    final = probe.states[-1]
    assert final.step == "Ended"
    assert final.end_reason == "session stopped"
    assert final.protocol == "din"
    assert final.energy_Wh > 0
    assert charger.requests[-3:] == ["PowerDeliveryReq", "WeldingDetectionReq", "SessionStopReq"]
    charging = [s for s in probe.states if s.step == "ChargeLoop"]
    assert all(s.voltage_V and s.current_A for s in charging)


async def test_ac_over_din_only_is_refused(mosquitto: BrokerSettings) -> None:
    async with ev_stack(mosquitto, supported_protocols="din") as probe:
        assert not await probe.ev.call_start_charging(
            EnergyTransferMode="AC_three_phase_core", DepartureTime=0, EAmount=0
        )
        assert not await probe.ev.call_pause_charging()


async def test_no_charger_on_the_link_ends_the_session_with_the_reason(
    mosquitto: BrokerSettings,
) -> None:
    with veth_pair() as (ev_space, _):
        async with ev_stack(mosquitto, netns=ev_space.name) as probe:
            assert await probe.ev.call_start_charging(
                EnergyTransferMode="DC_extended", DepartureTime=0, EAmount=0
            )
            # SDP gives up after 50 requests 0.25 s apart.
            await probe.until(lambda: probe.finished == 1, within_s=30)
    assert probe.states[-1].step == "Ended"
    assert "no V2G session" in (probe.states[-1].end_reason or "")


async def test_the_ev_simulators_dc_script_runs_a_din_session(mosquitto: BrokerSettings) -> None:
    """EVerest's typical DC script, through EvSimulator, Iso15118Ev and a board."""
    script = (
        "iso_wait_slac_matched;iso_start_v2g_session DC;iso_wait_pwr_ready;iso_dc_power_on;"
        "iso_wait_for_stop 2;iso_wait_v2g_session_stopped;unplug"
    )
    tag = f"evsim{secrets.token_hex(3)}"
    board, car, evcc, probe_id = (f"{tag}_{n}" for n in ("board", "car", "evcc", "probe"))
    charger = ScriptedCharger("din")
    with veth_pair() as (ev_space, cs_space):
        plans = [
            ModulePlan(board, module_class_path("BoardSimulator"), {}),
            ModulePlan(
                evcc,
                module_class_path("Iso15118Ev"),
                {"netns": ev_space.name, "supported_protocols": "din", "loop_interval_s": 0.05},
            ),
            ModulePlan(
                car,
                module_class_path("EvSimulator"),
                {"auto_exec_commands": script},
                connections={"ev_board": [(board, "ev_board_support")], "ev": [(evcc, "ev")]},
            ),
            ModulePlan(
                probe_id, f"{ev_probe.__name__}:EvProbe", connections={"ev": [(evcc, "ev")]}
            ),
        ]
        async with (
            scripted_secc(cs_space, charger),
            running(RunPlan(plans, broker=mosquitto, prefix=f"test-{tag}")),
        ):
            probe = await ev_probe.instance(probe_id)
            await probe.until(lambda: probe.finished == 1, within_s=40)
    assert probe.power_ready == [True, False]
    assert probe.dc_power_on == 1
    assert probe.states[-1].end_reason == "session stopped"
    assert probe.states[-1].energy_Wh > 0
    assert charger.requests[-1] == "SessionStopReq"
    assert charger.requests.count("CurrentDemandReq") > 5


async def test_an_iso20_session_over_tls_13(mosquitto: BrokerSettings, tmp_path: Path) -> None:
    """supported_protocols iso20 with tls: SDP asks for TLS, TLS 1.3 verified against the
    configured V2G root, then ISO-20 DC to SessionStop."""
    files = pki.generate(pki.Profile.ISO20).write(tmp_path)
    server_context = tls.secc_context(pki.Profile.ISO20, files.chain, files.key)
    charger = ScriptedCharger20()
    config = {"supported_protocols": "iso20", "tls": True, "v2g_root": str(files.root)}
    with veth_pair() as (ev_space, cs_space):
        async with (
            scripted_secc(cs_space, charger, ssl_context=server_context),
            ev_stack(mosquitto, netns=ev_space.name, loop_interval_s=0.05, **config) as probe,
        ):
            assert await probe.ev.call_start_charging(
                EnergyTransferMode="DC_extended", DepartureTime=0, EAmount=0
            )
            await probe.until(lambda: probe.loops() >= 3)
            await probe.ev.call_stop_charging()
            await probe.until(lambda: probe.finished == 1)
    assert probe.states[-1].protocol == "iso20"
    assert probe.states[-1].end_reason == "session stopped"
    assert charger.requests[-1] == "SessionStopReq"


async def test_a_bidirectional_ev_gives_back_on_set_discharge(
    mosquitto: BrokerSettings, tmp_path: Path
) -> None:
    files = pki.generate(pki.Profile.ISO20).write(tmp_path)
    server_context = tls.secc_context(pki.Profile.ISO20, files.chain, files.key)
    charger = ScriptedCharger20()
    config = {
        "supported_protocols": "iso20",
        "tls": True,
        "v2g_root": str(files.root),
        "bidirectional": True,
    }
    with veth_pair() as (ev_space, cs_space):
        async with (
            scripted_secc(cs_space, charger, ssl_context=server_context),
            ev_stack(mosquitto, netns=ev_space.name, loop_interval_s=0.05, **config) as probe,
        ):
            assert not await probe.ev.call_set_discharge(discharge=True)  # no session yet
            assert await probe.ev.call_start_charging(
                EnergyTransferMode="DC_extended", DepartureTime=0, EAmount=0
            )
            await probe.until(lambda: probe.loops() >= 2)
            assert await probe.ev.call_set_discharge(discharge=True)
            await probe.until(lambda: any(s.step == "Discharging" for s in probe.states))
            await probe.until(lambda: bool(charger.dc_currents) and charger.dc_currents[-1] < 0)
            await probe.ev.call_stop_charging()
            await probe.until(lambda: probe.finished == 1)
    assert charger.bodies["ServiceSelectionReq"]["SelectedEnergyTransferService"]["ServiceID"] == 6
    assert charger.dc_currents[0] > 0
    assert probe.states[-1].end_reason == "session stopped"


async def test_the_ev_simulators_ac_script_runs_an_iso2_session(mosquitto: BrokerSettings) -> None:
    """AC over ISO 15118-2 through EvSimulator: the script runs to its end, and the charger's
    limit shapes what the EVCC draws (the board has no EVSE side here, so no AC flows)."""
    script = (
        "iso_wait_slac_matched;iso_start_v2g_session AC;iso_wait_pwr_ready;"
        "iso_draw_power_regulated 16,3;iso_wait_for_stop 2;iso_wait_v2g_session_stopped;unplug"
    )
    tag = f"evac{secrets.token_hex(3)}"
    board, car, evcc, probe_id = (f"{tag}_{n}" for n in ("board", "car", "evcc", "probe"))
    charger = ScriptedCharger("iso2", max_current=10.0)
    with veth_pair() as (ev_space, cs_space):
        plans = [
            ModulePlan(board, module_class_path("BoardSimulator"), {}),
            ModulePlan(
                evcc,
                module_class_path("Iso15118Ev"),
                {"netns": ev_space.name, "supported_protocols": "iso2", "loop_interval_s": 0.05},
            ),
            ModulePlan(
                car,
                module_class_path("EvSimulator"),
                {"auto_exec_commands": script},
                connections={"ev_board": [(board, "ev_board_support")], "ev": [(evcc, "ev")]},
            ),
            ModulePlan(
                probe_id, f"{ev_probe.__name__}:EvProbe", connections={"ev": [(evcc, "ev")]}
            ),
        ]
        async with (
            scripted_secc(cs_space, charger, schema="iso2"),
            running(RunPlan(plans, broker=mosquitto, prefix=f"test-{tag}")),
        ):
            probe = await ev_probe.instance(probe_id)
            await probe.until(lambda: probe.finished == 1, within_s=40)
    assert probe.states[-1].end_reason == "session stopped"
    assert probe.states[-1].protocol == "iso2"
    assert "ChargingStatusReq" in charger.requests
    assert charger.requests[-2:] == ["PowerDeliveryReq", "SessionStopReq"]
    # The EV drew the charger's 10 A a phase (the script allows 16).
    charging = [s for s in probe.states if s.step == "ChargeLoop"]
    assert charging
    assert {s.current_A for s in charging} == {10.0}


async def test_a_missing_trust_store_ends_the_session_not_the_module(
    mosquitto: BrokerSettings, tmp_path: Path
) -> None:
    """The V2G root is read when a session starts: missing, that session ends with the reason
    and the module stays up for the next one (a SIL's SECC may make its PKI later)."""
    root = tmp_path / "v2g_root.pem"
    config = {"supported_protocols": "iso20", "tls": True, "v2g_root": str(root)}
    async with ev_stack(mosquitto, **config) as probe:
        assert await probe.ev.call_start_charging(
            EnergyTransferMode="DC_extended", DepartureTime=0, EAmount=0
        )
        await probe.until(lambda: probe.finished == 1)
        assert "no V2G session" in (probe.states[-1].end_reason or "")
        # The module is still there: a second start is taken.
        assert await probe.ev.call_start_charging(
            EnergyTransferMode="DC_extended", DepartureTime=0, EAmount=0
        )
        await probe.until(lambda: probe.finished == 2)
