"""Runs the PyPI `iso15118` package's EVCC or SECC for the interop tests.

This script runs under the peer's own virtualenv (`make interop-peer`), never under evstack's:
`python peer_runner.py evcc|secc`, inside a test-made network namespace, configured by the
environment that `tests/hlc/peer.py` sets. It changes two things about the peer, both outside
its protocol logic, and says so on its log:

- Its message timeouts are multiplied by EVSTACK_PEER_TIMEOUT_SCALE. Its codec is EXIficient
  behind py4j; on a loaded two-core machine one encode takes 100s of ms, longer than the 0.25 s
  a CurrentDemandRes may take, so its own EVCC and SECC time each other out.
- Its SECC's simulated power electronics (which always report 1 V and 1 A) follow the EV's
  targets, as a real supply would (negative current too in a bidirectional session), and its
  energy is integrated and printed both ways, so that a session's energy can be checked.
  Precharge current is held at 2 A at most. Its SECC hands this supply the wrong flag in
  ISO-20 DC_BPT charge loops (see send_charging_command); the supply reads the call as the
  interface means it, which changes no message the peer sends or accepts.

And one thing about its EVCC, when EVSTACK_PEER_EV_BATTERY_V is set: its simulated EV ends
its precharge once the charger's present voltage has reached that battery voltage, as a real
EV does before it closes its contactor, instead of after five PreCharge cycles whatever the
voltage. Its messages are unchanged; only when it moves on to PowerDelivery is. Without this
its ISO-20 EV closed its contactor as soon as the loop was quick enough, with the supply still
ramping below the battery, so energy flowed out of the battery first.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import types
from typing import Any

MARK = "EVSTACK-PEER"


def _scale_timeouts(scale: float) -> None:
    from iso15118.shared import comm_session  # type: ignore[import-not-found]

    real = asyncio

    async def wait_for(awaitable: Any, timeout: float | None) -> Any:  # noqa: ASYNC109
        return await real.wait_for(awaitable, None if timeout is None else timeout * scale)

    shim = types.ModuleType("asyncio_scaled")
    shim.__dict__.update(real.__dict__)
    shim.wait_for = wait_for  # type: ignore[attr-defined]
    comm_session.asyncio = shim
    print(f"{MARK} timeouts scaled by {scale}", flush=True)


def _secc_controller() -> Any:
    from iso15118.secc.controller.simulator import (  # type: ignore[import-not-found]
        SimEVSEController,
    )

    class FollowingSupply(SimEVSEController):  # type: ignore[misc]
        """The peer's simulated EVSE with a supply that reaches the EV's targets."""

        def __init__(self) -> None:
            super().__init__()
            self.energy_wh = 0.0  # into the EV
            self.energy_out_wh = 0.0  # back from the EV (bidirectional sessions)
            self.last: float | None = None
            self.dynamic_loops = 0
            # After this many dynamic loops of a BPT session the supply takes energy back,
            # as a charger told so by its grid would (unset: it only charges).
            after = os.environ.get("EVSTACK_PEER_DYNAMIC_DISCHARGE_AFTER")
            self.discharge_after = None if after is None else int(after)

        def _dynamic_target(self, bpt: bool) -> tuple[float, float]:
            """As a charger decides in the dynamic mode: the EV's voltage; its current limit
            within its power limit, none once it takes no more energy; or, told to and with
            the EV's minimum energy request negative (energy to spare), energy back."""
            self.dynamic_loops += 1
            ev_data = self.ev_data_context
            limits = ev_data.session_limits.dc_limits
            volts = max(1.0, float(ev_data.present_voltage or 1))
            after = self.discharge_after
            if bpt and after is not None and self.dynamic_loops > after:
                spare = ev_data.min_energy_request is not None and ev_data.min_energy_request < 0
                back = min(300.0, float(limits.max_discharge_current or 0))
                if limits.max_discharge_power:
                    back = min(back, float(limits.max_discharge_power) / volts)
                return volts, -back if spare else 0.0
            amps = min(300.0, float(limits.max_charge_current or 0))
            if limits.max_charge_power:
                amps = min(amps, float(limits.max_charge_power) / volts)
            if ev_data.max_energy_request is not None and ev_data.max_energy_request <= 0:
                amps = 0.0
            return volts, amps

        async def send_charging_command(
            self,
            ev_target_voltage: float | None,
            ev_target_current: float | None,
            is_precharge: bool = False,
            is_session_bpt: bool = False,
        ) -> None:
            now = time.monotonic()
            context = self.evse_data_context
            if self.last is not None:
                power = float(context.present_voltage) * float(context.present_current)
                energy = power * (now - self.last) / 3600
                if energy >= 0:
                    self.energy_wh += energy
                else:
                    self.energy_out_wh -= energy
            self.last = now
            if ev_target_voltage is None and ev_target_current is None:
                # The ISO-20 dynamic control mode: its charge loop names no target
                # (iso15118_20_states.py:1798-1810) and leaves the power to the controller,
                # whose simulator does nothing (simulator.py:881-888). Its third positional
                # argument there is is_session_bpt (see below): a precharge always has a target.
                bpt = is_precharge or is_session_bpt
                ev_target_voltage, ev_target_current = self._dynamic_target(bpt)
                is_precharge, is_session_bpt = False, bpt
            if ev_target_voltage is not None:
                context.present_voltage = max(1, round(ev_target_voltage))
            if ev_target_current is not None and is_precharge and not 0 <= ev_target_current <= 2:
                # Its ISO-20 DC charge loop passes is_session_bpt positionally into is_precharge
                # (iso15118_20_states.py:1810, `send_charging_command(v, i, is_session_bpt)`,
                # against interface.py:827's order). A precharge never asks for more than 2 A
                # or for negative current (ISO-20's asks for 0), so such a call is the loop of
                # a bidirectional session.
                is_precharge, is_session_bpt = False, True
            if ev_target_current is not None:
                # A bidirectional session may ask for negative current: energy back.
                limit = 2 if is_precharge else 300
                low = -limit if is_session_bpt else 0
                context.present_current = max(low, min(limit, round(ev_target_current)))
            print(
                f"{MARK} supply voltage={context.present_voltage} "
                f"current={context.present_current} energy_wh={self.energy_wh:.4f} "
                f"energy_out_wh={self.energy_out_wh:.4f}",
                flush=True,
            )

        async def session_ended(self, current_state: str, reason: str) -> None:
            await super().session_ended(current_state, reason)
            print(
                f"{MARK} session_ended state={current_state} energy_wh={self.energy_wh:.4f} "
                f"energy_out_wh={self.energy_out_wh:.4f} reason={reason}",
                flush=True,
            )
            self.energy_wh, self.energy_out_wh, self.last = 0.0, 0.0, None

    return FollowingSupply()


async def _secc() -> None:
    from iso15118.secc import SECCHandler  # type: ignore[import-not-found]
    from iso15118.secc.controller.interface import (  # type: ignore[import-not-found]
        ServiceStatus,
    )
    from iso15118.secc.secc_settings import Config  # type: ignore[import-not-found]
    from iso15118.shared.exificient_exi_codec import (  # type: ignore[import-not-found]
        ExificientEXICodec,
    )

    config = Config()
    config.load_envs()
    controller = _secc_controller()
    await controller.set_status(ServiceStatus.STARTING)
    handler = SECCHandler(exi_codec=ExificientEXICodec(), evse_controller=controller, config=config)
    print(f"{MARK} secc starting", flush=True)
    await handler.start(config.iface)


async def _evcc() -> None:
    from iso15118.evcc import Config, EVCCHandler  # type: ignore[import-not-found]
    from iso15118.evcc.controller.simulator import (  # type: ignore[import-not-found]
        SimEVController,
    )
    from iso15118.evcc.evcc_config import load_from_file  # type: ignore[import-not-found]
    from iso15118.shared.exificient_exi_codec import ExificientEXICodec

    config = Config()
    config.load_envs()
    evcc_config = await load_from_file(config.ev_config_file_path)
    controller = SimEVController(evcc_config)
    battery_v = os.environ.get("EVSTACK_PEER_EV_BATTERY_V")
    if battery_v is not None:
        controller = _matching_precharge(SimEVController, float(battery_v))(evcc_config)
    print(f"{MARK} evcc starting", flush=True)
    await EVCCHandler(
        evcc_config=evcc_config,
        iface=config.iface,
        exi_codec=ExificientEXICodec(),
        ev_controller=controller,
    ).start()


def _matching_precharge(base: Any, battery_v: float) -> Any:
    """The peer's EV controller, precharged only once the charger's output reaches its pack."""

    class MatchingPrecharge(base):  # type: ignore[misc]
        async def is_precharged(self, present_voltage_evse: Any) -> bool:
            reached = float(present_voltage_evse.get_decimal_value()) >= battery_v
            if reached:
                print(f"{MARK} precharged: charger at or above {battery_v} V", flush=True)
            return reached

    return MatchingPrecharge


def main() -> None:
    role = sys.argv[1]
    _scale_timeouts(float(os.environ.get("EVSTACK_PEER_TIMEOUT_SCALE", "1")))
    asyncio.run(_secc() if role == "secc" else _evcc())


if __name__ == "__main__":
    main()
