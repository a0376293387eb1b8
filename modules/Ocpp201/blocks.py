"""The station's functional blocks: what one is, and which the module runs.

A block is a subclass of `Block`: its constructor takes the `Station` and wires everything
there (handlers, triggers, device model watchers, EVSE listeners), `start()` runs once the
module is ready (start background work with `station.start_task`), `stop()` when it stops.

The blocks of this folder's core files are listed in `CORE`. The other blocks (transactions,
metering, authorization, remote control, security, certificates, firmware, diagnostics,
DataTransfer) are written alongside; each lives in the file `OPTIONAL` names and exposes its
class as `BLOCK` there:

    # modules/Ocpp201/transactions.py
    class Transactions(Block): ...
    BLOCK = Transactions

The module runs every one whose file exists, in the order listed; a file without `BLOCK`
stops the module with an error saying so.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from .station import Station

__all__ = ["OPTIONAL", "Block", "load_blocks"]

OPTIONAL = (
    "authorization",
    "transactions",
    "metering",
    "remote",
    "security",
    "certificates",
    "firmware",
    "diagnostics",
    "data_transfer",
)


class Block:
    """A functional block of the station (see the module's doc)."""

    def __init__(self, station: Station) -> None:
        self.station = station

    async def start(self) -> None:
        """The module is ready and the link is about to start."""

    async def stop(self) -> None:
        """The module is stopping (3 s in all, for every block): finish what must be finished."""


def optional_blocks(names: Sequence[str] = OPTIONAL) -> list[type[Block]]:
    """The classes of the optional blocks whose files exist, in `names`' order."""
    found = []
    for name in names:
        qualified = f"{__package__}.{name}"
        try:
            module = importlib.import_module(qualified)
        except ModuleNotFoundError as error:
            if error.name == qualified:
                continue  # not written yet
            raise
        block = getattr(module, "BLOCK", None)
        if not (isinstance(block, type) and issubclass(block, Block)):
            raise TypeError(f"{qualified} has no BLOCK = <its Block subclass>")
        found.append(block)
    return found


def load_blocks(station: Station, core: Sequence[type[Block]]) -> list[Block]:
    """Every block, wired to `station`: the core's first, then the optional ones."""
    return [cls(station) for cls in (*core, *optional_blocks())]
