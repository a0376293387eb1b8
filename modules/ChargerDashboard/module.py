"""The ChargerDashboard module: the charger on a terminal, and the end of a scripted run.

It only listens: session events, offered limits and EVSE ids from every EvseManager, and
readings from the meters wired to it. On a terminal it redraws a live view; elsewhere
(CI, pipes, log files) a redrawn view is noise, so it prints one line per session event.
When `finish_after_sessions` sessions have ended it prints the summary table and finishes
the run with it as the result (`ev-manager run --summary-json`): complete, exit code 0, if
every one of them had a transaction; else incomplete, exit code 1, with the sessions that
had none listed. Past `deadline_s` it finishes the run with exit code 1 and whatever it has.
"""

from __future__ import annotations

import asyncio
import functools

from rich.console import Console, Group
from rich.live import Live

from evstack.generated.interfaces.ISO15118_charger import ISO15118ChargerClient
from evstack.generated.modules.charger_dashboard import ChargerDashboardModuleBase
from evstack.generated.types.evse_manager import SessionEvent
from evstack.generated.types.iso15118 import DcEvStatus, DcEvTargetValues, V2gSessionFinished
from evstack.modules.ChargerDashboard.ledger import HlcView, Ledger
from evstack.modules.ChargerDashboard.render import (
    event_line,
    hlc_line,
    live_view,
    summary_table,
    table_width,
)
from evstack.runtime.errors import ConfigurationError
from evstack.runtime.module import ModuleContext

# Redraws per wall second of the live view: smooth enough to watch, cheap on 2 cores.
_REFRESH_HZ = 4
# A current bar's full scale before any EVSE offered more: a common AC maximum.
_MIN_BAR_SCALE_A = 32.0
# Plain output goes to logs and pipes, which have no width: wide enough for the table.
_PLAIN_WIDTH = 120


class ChargerDashboard(ChargerDashboardModuleBase):
    def __init__(self, context: ModuleContext) -> None:
        super().__init__(context)
        self.live: Live | None = None
        self.showing = False  # from ready() on: there is a view to close
        self.finishing = False

    async def init(self) -> None:
        evses = self.r_evse_manager
        meters = self.r_powermeter
        if len(meters) > len(evses):
            raise ConfigurationError(
                f"{self.module_id}: {len(meters)} meters for {len(evses)} EVSEs; "
                "meters are matched to EVSEs by position"
            )
        module_ids = [client.target.module_id for client in evses]
        self.ledger = Ledger.for_evses(module_ids)
        display = self.config.display
        terminal = Console().is_terminal
        self.live_mode = display == "live" or (display == "auto" and terminal)
        self.console = Console(width=None if self.live_mode else _PLAIN_WIDTH)
        for module_id, client in zip(module_ids, evses, strict=True):
            client.subscribe_session_event(functools.partial(self._on_session_event, module_id))
            client.subscribe_limits(functools.partial(self.ledger.on_limits, module_id))
            client.subscribe_evse_id(functools.partial(self.ledger.on_evse_id, module_id))
        for module_id, meter in zip(module_ids, meters, strict=False):
            meter.subscribe_powermeter(functools.partial(self.ledger.on_reading, module_id))
        for module_id, secc in zip(module_ids, self.r_hlc, strict=False):
            self._watch_secc(module_id, secc)

    def _watch_secc(self, module_id: str, secc: ISO15118ChargerClient) -> None:
        view = self.ledger.evses[module_id]
        hlc = view.hlc = HlcView()

        def on_protocol(protocol: str) -> None:
            hlc.protocol = protocol

        def on_message(message: str) -> None:
            hlc.message = message
            if not self.live_mode:
                print(hlc_line(self.ledger, module_id, self.clock.now()), flush=True)

        def on_target(target: DcEvTargetValues) -> None:
            hlc.target_v = target.dc_ev_target_voltage
            hlc.target_a = target.dc_ev_target_current

        def on_status(status: DcEvStatus) -> None:
            hlc.soc = status.dc_ev_ress_soc

        def on_finished(_: V2gSessionFinished) -> None:
            view.hlc = HlcView()  # the next session starts from nothing

        secc.subscribe_selected_protocol(on_protocol)
        secc.subscribe_v2g_message(on_message)
        secc.subscribe_dc_ev_target_voltage_current(on_target)
        secc.subscribe_dc_ev_status(on_status)
        secc.subscribe_session_finished(on_finished)

    async def ready(self) -> None:
        self.showing = True
        if self.live_mode:
            self.live = Live(console=self.console, auto_refresh=False)
            self.live.start()
            self.start_task(self._redraw())
        if self.config.finish_after_sessions and self.config.deadline_s:
            self.start_task(self._enforce_deadline())

    async def shutdown(self) -> None:
        # Stopped by a signal, or after finishing: either way the terminal gets its cursor
        # back and the sessions finished so far are shown.
        self._close_view()

    async def _on_session_event(self, module_id: str, event: SessionEvent) -> None:
        now = self.clock.now()
        self.ledger.on_session_event(module_id, event, now)
        if not self.live_mode:
            print(event_line(self.ledger, module_id, event, now), flush=True)
        expected = self.config.finish_after_sessions
        if expected and self.ledger.sessions_ended >= expected and self.ledger.all_free:
            failed = self.ledger.without_transaction
            for _, evse_id, state in failed:
                self.log.error("%s: a session ended without a transaction (%s)", evse_id, state)
            await self._finish(1 if failed else 0, complete=not failed)

    async def _redraw(self) -> None:
        while self.live is not None:
            self.live.update(self._view(), refresh=True)
            await asyncio.sleep(1 / _REFRESH_HZ)

    def _view(self) -> Group:
        scale = max(
            _MIN_BAR_SCALE_A,
            *(max(v.offered_a, v.drawn_a) for v in self.ledger.evses.values()),
        )
        return live_view(self.ledger, self.clock.now(), self.config.finish_after_sessions, scale)

    async def _enforce_deadline(self) -> None:
        await asyncio.sleep(self.config.deadline_s)
        if not self.finishing:
            self.log.error(
                "%d of %d sessions ended within the %g s deadline",
                self.ledger.sessions_ended,
                self.config.finish_after_sessions,
                self.config.deadline_s,
            )
            await self._finish(1, complete=False)

    async def _finish(self, exit_code: int, *, complete: bool) -> None:
        if self.finishing:
            return
        self.finishing = True
        self._close_view()
        summary = self.ledger.summary(
            complete=complete, expected_sessions=self.config.finish_after_sessions
        )
        await self.finish_run(exit_code, summary)

    def _close_view(self) -> None:
        """Freeze the live view as it is and print the summary table under it, once."""
        if not self.showing:
            return
        self.showing = False
        if self.live is not None:
            self.live.update(self._view(), refresh=True)
            self.live.stop()
            self.live = None
        table = summary_table(self.ledger)
        needed = table_width(self.console, table)
        if needed > self.console.width:
            # A narrow terminal wraps the long rows; a console of its width would cut cells.
            Console(file=self.console.file, width=needed).print(table)
        else:
            self.console.print(table)
