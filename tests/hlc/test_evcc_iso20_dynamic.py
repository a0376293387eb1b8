"""The EV's side of the ISO 15118-20 control modes: which parameter set it selects and
what it asks for in the dynamic mode (sessions against our SECC: test_evcc_against_secc)."""

from __future__ import annotations

from evstack.hlc.evcc import Battery
from evstack.hlc.evcc.iso20 import dynamic
from evstack.hlc.evcc.iso20.flow import number

Doc = dict[str, object]


def parameter_set(set_id: int, control_mode: int, mobility_needs: int = 1) -> Doc:
    parameters = [
        {"@Name": "ControlMode", "intValue": control_mode},
        {"@Name": "MobilityNeedsMode", "intValue": mobility_needs},
    ]
    return {"ParameterSetID": set_id, "Parameter": parameters}


def test_the_preferred_mode_first_else_the_other() -> None:
    both = [parameter_set(1, 1), parameter_set(2, 2, 2), parameter_set(3, 2, 1)]
    assert dynamic.select(both, "dynamic") == dynamic.Selected(2, 2, 2)
    assert dynamic.select(both, "scheduled") == dynamic.Selected(1, 1, 1)
    assert dynamic.select([parameter_set(1, 1)], "dynamic") == dynamic.Selected(1, 1, 1)
    assert dynamic.select([parameter_set(4, 7)], "dynamic") is None


def test_energy_requests_follow_the_battery() -> None:
    battery = Battery(capacity_wh=50_000, soc=0.5, target_soc=0.8, min_soc=0.2)
    requests = dynamic.energy_requests(battery, bpt=False)
    assert number(requests["EVTargetEnergyRequest"]) == 15_000
    assert number(requests["EVMaximumEnergyRequest"]) == 25_000
    assert number(requests["EVMinimumEnergyRequest"]) == 0
    # Bidirectional: what lies above the minimum SoC may go back.
    spare = dynamic.energy_requests(battery, bpt=True)
    assert number(spare["EVMinimumEnergyRequest"]) == -15_000
    battery.soc = 0.8  # at its target: takes nothing more
    full = dynamic.energy_requests(battery, bpt=False)
    assert number(full["EVMaximumEnergyRequest"]) == 0


def test_the_dc_loop_states_limits_not_a_target() -> None:
    key, control = dynamic.dc_loop(Battery(soc=0.5), bpt=True, departure=None)
    assert key == "BPT_Dynamic_DC_CLReqControlMode"
    assert "EVTargetCurrent" not in control
    assert control["DepartureTime"] == dynamic.DEFAULT_DEPARTURE
    drained = dynamic.dc_loop(Battery(soc=0.2, min_soc=0.2), bpt=True, departure=600)[1]
    assert number(drained["EVMaximumDischargeCurrent"]) == 0  # nothing left to give


def test_mobility_needs_mode_2_the_charger_sets_the_target_soc() -> None:
    battery = Battery(target_soc=1.0, min_soc=0.3)
    dynamic.follow_needs(battery, {"TargetSOC": 70})
    assert battery.target_soc == 0.7
    dynamic.follow_needs(battery, {"TargetSOC": 10})
    assert battery.target_soc == 0.3  # never below the EV's own minimum
