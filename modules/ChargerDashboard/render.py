"""How the ledger looks on a terminal: the live view, plain event lines and the summary table."""

from __future__ import annotations

from rich import box
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from evstack.generated.types.evse_manager import SessionEvent
from evstack.modules.ChargerDashboard.ledger import Ledger, SessionRecord

__all__ = ["event_line", "live_view", "summary_table", "table_width"]

_STATE_STYLE = {
    "Charging": "bold green",
    "Paused by EV": "yellow",
    "Paused by EVSE": "yellow",
    "Waiting for auth": "cyan",
    "Finished": "blue",
    "Disabled": "red",
    "Plug-in timeout": "red",
}


def live_view(ledger: Ledger, now: float, expected_sessions: int, max_current_a: float) -> Group:
    """Per EVSE: state, drawn and offered current (with a bar) and session energy."""
    # Fits 80 columns: a terminal's default width.
    table = Table(
        title=f"evstack · charger time {_clock(now)}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    table.add_column("EVSE", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("drawn/offered", justify="right", no_wrap=True)
    table.add_column(f"of {max_current_a:g} A", width=12)
    table.add_column("session", justify="right", no_wrap=True)
    for view in ledger.evses.values():
        energy_wh = ledger.session_energy_wh(view.module_id)
        table.add_row(
            view.evse_id or view.module_id,
            Text(view.state, style=_STATE_STYLE.get(view.state, "")),
            f"{view.drawn_a:.1f}/{view.offered_a:.1f} A",
            ProgressBar(total=max_current_a, completed=min(view.drawn_a, max_current_a)),
            "" if energy_wh is None else f"{energy_wh / 1000:.3f} kWh",
        )
    parts: list[RenderableType] = [table]
    sessions = [v for v in ledger.evses.values() if v.hlc is not None and v.hlc.protocol]
    if sessions:
        v2g = Table.grid(padding=(0, 1))
        for view in sessions:
            assert view.hlc is not None
            v2g.add_row(view.evse_id or view.module_id, view.hlc.describe(view))
        parts.append(v2g)
    if expected_sessions:
        done = min(ledger.sessions_ended, expected_sessions)
        progress = Table.grid(padding=(0, 1))
        progress.add_row(
            "sessions done",
            ProgressBar(total=expected_sessions, completed=done, width=40),
            f"{done}/{expected_sessions}",
        )
        parts.append(progress)
    return Group(*parts)


def event_line(ledger: Ledger, evse: str, event: SessionEvent, now: float) -> str:
    """One line per session event, for logs and pipes, where a live view would be noise."""
    view = ledger.evses[evse]
    line = f"[{_clock(now)}] {view.evse_id or evse}: {event.event}"
    if event.transaction_started is not None:
        line += f" (token {event.transaction_started.id_tag.id_token.value})"
    if event.transaction_finished is not None:
        line += f" (reason {event.transaction_finished.reason or 'Other'})"
    if view.hlc is not None and view.hlc.protocol:
        return f"{line}; {view.hlc.describe(view)}; offered {view.offered_a:.1f} A"
    return f"{line}; offered {view.offered_a:.1f} A, drawn {view.drawn_a:.1f} A"


def hlc_line(ledger: Ledger, evse: str, now: float) -> str:
    """One line per change of the V2G exchange in progress; "V2G:" sets it apart from the
    session events' lines (`EVSE: Event; ...`), which scripts read."""
    view = ledger.evses[evse]
    assert view.hlc is not None
    return f"[{_clock(now)}] {view.evse_id or evse} V2G: {view.hlc.describe(view)}"


def summary_table(ledger: Ledger) -> Table:
    """Per finished transaction: energy, duration, peak current and stop reason; then each
    session that ended without a transaction, so that no EVSE drops out of the table."""
    # The demo's rows fit 80 columns, a terminal's default; `table_width` says how wide a
    # console must be for longer ones, so that no cell is cut short.
    table = Table(
        title="Charging sessions",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    for name in ("EVSE", "token", "energy", "duration", "peak current", "stop reason"):
        right = name in ("energy", "duration", "peak current")
        table.add_column(name, justify="right" if right else "left", no_wrap=True)
    for record in ledger.finished:
        table.add_row(
            record.evse_id or record.evse,
            record.id_token,
            _kwh(record),
            "" if record.duration_s is None else _clock(record.duration_s),
            "" if record.peak_current_a is None else f"{record.peak_current_a:.1f} A",
            record.stop_reason or "",
        )
    for _, evse_id, _last_state in ledger.without_transaction:  # the state: in the summary JSON
        table.add_row(evse_id, "", "", "", "", "no transaction", style="red")
    for view in ledger.evses.values():  # a run cut short by its deadline
        if view.in_session:
            if view.transaction is not None:
                running = "transaction running"
            else:
                running = "session open" if view.had_transaction else "no transaction yet"
            table.add_row(view.evse_id or view.module_id, "", "", "", "", running, style="red")
    if not ledger.finished and not ledger.without_transaction and ledger.all_free:
        table.add_row("(none)", "", "", "", "", "")
    return table


def table_width(console: Console, table: Table) -> int:
    """The width `table` needs on `console`, however narrow the console is."""
    return Measurement.get(console, console.options.update_width(10_000), table).maximum


def _kwh(record: SessionRecord) -> str:
    energy_wh = record.energy_wh
    text = "" if energy_wh is None else f"{energy_wh / 1000:.3f} kWh"
    back = record.export_wh
    if back:  # a bidirectional session: the energy the EV gave back too
        text += f" (back {back / 1000:.3f})"
    return text


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:d}:{secs:02d}"
