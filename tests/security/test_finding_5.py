"""Finding 5 of the hardening issue: "Anyone on the broker can run the charger."

With no credentials, a client drove board_2's PWM and power permission directly (30 A with no
authorization), sent a forged authorize_response that started a transaction for a token not
on the allow list, sent 63 A limits that put 64 A through the 32 A fuse, forged a
TransactionFinished, and forged RunFinished to stop the whole charger. Each of those is
replayed here on config/sil-ac.yaml's locked-down bus, embedded and Mosquitto, without an
account and with the accounts of modules that have no business sending them.
"""

from __future__ import annotations

import pytest

from evstack.runtime.errors import BrokerError
from evstack.runtime.mqtt import MqttConnection
from evstack.runtime.wire import Topics

from .conftest import LockedBus, observe_refusal

# Modules of sil-ac.yaml that the config wires to none of the commands forged below.
INTRUDERS = ("rfid_reader", "dashboard", "ev_2", "session_store", "board_1")


def the_attacks(topics: Topics, intruder: str) -> list[tuple[str, bytes]]:
    board_2 = ("board_2", "board_support")
    run_finished = b'{"run_id": "any", "exit_code": 0}'
    return [
        # board_2's PWM and power, in evse_2's name and in its own
        (topics.call(*board_2, "pwm_on", "evse_2"), b'{"id": 1, "args": {"value": 50.0}}'),
        (topics.call(*board_2, "allow_power_on", "evse_2"), b'{"id": 2, "args": {}}'),
        (topics.call(*board_2, "pwm_on", intruder), b'{"id": 3, "args": {"value": 50.0}}'),
        (topics.call(*board_2, "allow_power_on", intruder), b'{"id": 4, "args": {}}'),
        # a transaction for a token not on the allow list
        (
            topics.call("evse_2", "evse", "authorize_response", "auth"),
            b'{"id": 5, "args": {"provided_token": {"id_token": "DEADBEEF"}}}',
        ),
        # 63 A limits under the 32 A fuse
        *(
            (
                topics.call(evse, "energy_grid", "enforce_limits", caller),
                b'{"id": 6, "args": {"value": {"ac_max_current_A": 63}}}',
            )
            for evse in ("evse_1", "evse_2")
            for caller in ("site_fuse", intruder)
        ),
        # a TransactionFinished that did not happen
        (topics.var("evse_1", "evse", "session_event"), b'{"event": "TransactionFinished"}'),
        # the end of the run, in the dashboard's name and in its own
        (topics.finish_run("dashboard"), run_finished),
        (topics.finish_run(intruder), run_finished),
    ]


@pytest.mark.timeout(60)
async def test_finding_5_nobody_but_the_wired_modules_can_run_the_charger(
    sil_bus: LockedBus,
) -> None:
    with pytest.raises(BrokerError, match="refused"):
        await MqttConnection(sil_bus.broker, "anyone", lambda t, p: None).connect()

    for intruder in INTRUDERS:
        forged = the_attacks(sil_bus.topics, intruder)
        if intruder == "dashboard":  # it is in finish_run_by: ending the run is its right
            forged = [m for m in forged if m[0] != sil_bus.topics.finish_run("dashboard")]
        assert await observe_refusal(sil_bus, intruder, forged, qos=1) == [], intruder
