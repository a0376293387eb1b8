"""DC charging over DIN 70121, ISO 15118-2 and ISO 15118-20 (TLS 1.3) through the real
broker: EvseManager (charge_mode DC) with our SECC module (Iso15118Charger) in one
namespace of a veth pair, the DcSupplySimulator and its board, and the `iso15118`
package's EVCC in the other namespace as the EV's communication controller. A probe
authorizes (as an EIM app) and drives the EV's pilot and DC contactor, which the peer
cannot. Real time: the peer runs on the wall clock.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from pathlib import Path

import pytest

from evstack.modules.DcSupplySimulator.battery import Battery, BatteryConfig
from evstack.runtime.manager import running
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, RunPlan, module_class_path

from . import hlc_probe
from .netns import Namespace, veth_pair
from .peer import EVCC_SESSION_STOPPED, Cell, run_peer

pytestmark = [pytest.mark.slow, pytest.mark.mosquitto, pytest.mark.timeout(240)]

MOSQUITTO = BrokerSettings(host="127.0.0.1", port=1883)


@pytest.fixture
def mosquitto() -> BrokerSettings:
    try:
        socket.create_connection((MOSQUITTO.host, MOSQUITTO.port), timeout=1).close()
    except OSError:
        pytest.fail("Mosquitto is not running on 127.0.0.1:1883 (run `make mosquitto`)")
    return MOSQUITTO


def peer_tls(peer_pki: Path) -> dict[str, str]:
    """The SECC's TLS 1.3 with the chain of the peer's own PKI, which its EVCC trusts (it
    reads its certificates from the iso15118_2 folder whatever the protocol)."""
    folder = peer_pki / "iso15118_2"
    keys = folder / "private_keys"
    return {
        "tls": "iso20",
        "certificate_chain": str(folder / "certs" / "cpoCertChain.pem"),
        "private_key": str(keys / "seccLeaf.key"),
        "private_key_password": (keys / "seccLeafPassword.txt").read_text().strip(),
    }


# The peer's ISO-20 EV simulator asks for 200 V in its charge loop whatever its battery
# (see test_interop_secc_peer_evcc.py): its cell gets a pack that 200 V charges, and the peer's
# EV waits in precharge until the charger reaches that pack's voltage (at the default 30 % SoC).
LOW_VOLTAGE_PACK = {"empty_voltage_V": 150.0, "full_voltage_V": 195.0, "max_voltage_V": 1000.0}
LOW_VOLTAGE_PACK_V = Battery(
    BatteryConfig(empty_voltage_v=150.0, full_voltage_v=195.0, max_voltage_v=1000.0), 30.0
).open_circuit_voltage_v


def charger(
    tag: str, cs_space: Namespace, tls: dict[str, str], pack: dict[str, float] | None = None
) -> list[ModulePlan]:
    """The charger's modules; its SECC offers ISO 15118-20 (with TLS), -2 and DIN."""
    evse, secc, dc, board, probe = (
        f"{tag}_{name}" for name in ("evse", "secc", "dc", "board", "probe")
    )
    return [
        ModulePlan(
            evse,
            module_class_path("EvseManager"),
            {"charge_mode": "DC", "energy_management": False, "evse_id": "DE*EVS*E1"},
            connections={
                "bsp": [(board, "board_support")],
                "hlc": [(secc, "charger")],
                "powersupply_DC": [(dc, "main")],
                "imd": [(dc, "imd")],
            },
        ),
        ModulePlan(
            secc,
            module_class_path("Iso15118Charger"),
            {"device": "v2g0", "netns": cs_space.name, **tls},
        ),
        ModulePlan(
            dc,
            module_class_path("DcSupplySimulator"),
            {},
            config_implementation={"main": {"max_voltage": 500.0}, "ev": pack or {}},
            connections={"bsp": [(board, "board_support")]},
        ),
        ModulePlan(board, module_class_path("BoardSimulator"), {}),
        ModulePlan(
            probe,
            f"{hlc_probe.__name__}:HlcProbe",
            connections={
                "evse": [(evse, "evse")],
                "hlc": [(secc, "charger")],
                "ev": [(dc, "ev")],
                "meter": [(dc, "powermeter")],
                "pilot": [(board, "ev_board_support")],
            },
        ),
    ]


@pytest.mark.parametrize(
    ("cell", "protocol"), [(Cell.DIN_DC, "din"), (Cell.ISO2_DC, "iso2"), (Cell.ISO20_DC, "iso20")]
)
async def test_dc_session_through_evse_manager_and_the_secc_module(
    cell: Cell, protocol: str, tmp_path: Path, peer_pki: Path, mosquitto: BrokerSettings
) -> None:
    tag = f"hlc{secrets.token_hex(3)}"
    with veth_pair() as (ev_space, cs_space):
        tls = peer_tls(peer_pki) if cell.value.tls else {}
        pack = LOW_VOLTAGE_PACK if cell is Cell.ISO20_DC else None
        plan = RunPlan(charger(tag, cs_space, tls, pack), broker=mosquitto, prefix=f"test-{tag}")
        async with running(plan):
            probe = await hlc_probe.instance(f"{tag}_probe")
            await asyncio.sleep(2.0)  # the SECC's SDP responder up before the peer asks once
            ev_battery_v = LOW_VOLTAGE_PACK_V if pack else None
            with run_peer(
                "evcc", cell, ev_space, tmp_path / "evcc", peer_pki, battery_v=ev_battery_v
            ) as evcc:
                try:
                    await probe.until(lambda: bool(probe.finished), 200)
                    await asyncio.to_thread(evcc.wait_for, EVCC_SESSION_STOPPED, 30)
                finally:
                    log = evcc.text()
    (finished,) = probe.finished
    assert finished.clean, f"{finished.reason}\n{log[-3000:]}"
    assert probe.protocols == [protocol]
    assert probe.targets
    imported = [r.energy_Wh_import.total for r in probe.readings]
    assert max(imported) > 0.0
